"""Aggregated plot data for the report: size independent of the number of rows.

The renderers draw from these summaries only (2-D histogram, score histograms, calibration bins), so a
report on ten million rows is as small as one on ten thousand.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_data"]


def _edges(*arrays: np.ndarray, bins: int) -> np.ndarray:
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    if lo >= 0.0 and hi <= 1.0:  # probabilities: a fixed [0, 1] axis compares across runs
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def _calibration(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int) -> dict[str, list[float]]:
    # Quantile bins of the model's own scores, so every point rests on about the same weight of data.
    order = np.argsort(p, kind="stable")
    ws = w[order]
    cw = np.cumsum(ws)
    # A row belongs to the bin that holds the midpoint of its weight.
    bin_of = np.minimum(((cw - 0.5 * ws) / cw[-1] * bins).astype(np.int64), bins - 1)
    wsum = np.bincount(bin_of, weights=w[order], minlength=bins)
    keep = wsum > 0
    mean_pred = np.bincount(bin_of, weights=(w * p)[order], minlength=bins)[keep] / wsum[keep]
    obs = np.bincount(bin_of, weights=(w * y)[order], minlength=bins)[keep] / wsum[keep]
    count = np.bincount(bin_of, minlength=bins)[keep]
    return {"mean_pred": mean_pred.tolist(), "obs_rate": obs.tolist(), "count": count.tolist()}


def plot_data(
    legacy: np.ndarray,
    new: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    hex_bins: int = 40,
    hist_bins: int = 50,
    calibration_bins: int = 10,
) -> dict[str, Any]:
    legacy = np.asarray(legacy, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    finite = np.isfinite(legacy) & np.isfinite(new)
    legacy, new = legacy[finite], new[finite]
    if len(legacy) == 0:
        return {}
    edges2 = _edges(legacy, new, bins=hex_bins)
    counts, _, _ = np.histogram2d(legacy, new, bins=[edges2, edges2])
    edges1 = _edges(legacy, new, bins=hist_bins)
    out: dict[str, Any] = {
        "hexbin": {"x_edges": edges2.tolist(), "y_edges": edges2.tolist(), "counts": counts.astype(np.int64).tolist()},
        "score_hist": {
            "edges": edges1.tolist(),
            "legacy": np.histogram(legacy, bins=edges1)[0].tolist(),
            "new": np.histogram(new, bins=edges1)[0].tolist(),
        },
    }
    if labels is not None:
        y = np.asarray(labels, dtype=np.float64)[finite]
        w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)[finite]
        if np.all((legacy >= 0) & (legacy <= 1)) and np.all((new >= 0) & (new <= 1)):
            out["calibration"] = {
                "legacy": _calibration(y, legacy, w, calibration_bins),
                "new": _calibration(y, new, w, calibration_bins),
            }
    return out
