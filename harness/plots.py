"""Aggregated plot data for the report: size independent of the number of rows.

The renderers draw from these summaries only (2-D histogram, score histograms, calibration bins, the
difference new - legacy by score), so a report on ten million rows is as small as one on ten thousand.

Axes follow the data: the bins span the scores' own range, because a click-through model's scores sit
mostly below 0.2 and a fixed [0, 1] axis drew them all into a few bins at the left edge. The 2-D
histogram uses one set of edges for both axes (log-spaced, like the score histogram's, when the scores
span two decades or more), so a row with the same score on both sides is always
counted on the diagonal, even when that score lies exactly on a bin edge.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.stats.ordering import sort_order, stable_argsort

__all__ = ["plot_data"]


def _edges(*arrays: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins from the pooled minimum to the pooled maximum (numpy puts the maximum itself in
    the last bin, so every row is counted)."""
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    if hi <= lo:  # every score equal: a small window around it, so the one bin has a width to draw
        pad = 0.05 * max(abs(lo), 1.0)
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, bins + 1)


def _hist_edges(*arrays: np.ndarray, bins: int) -> tuple[np.ndarray, str]:
    """Bins for the score histograms (1-D and 2-D): log-spaced when every score is positive and they span two decades
    or more (click-through scores from 0.0005 to 0.7 would otherwise be one spike at the left), else the
    equal-width bins of `_edges`. Returns the edges and the axis they are meant for."""
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    if lo > 0 and hi / lo >= 100:
        edges = np.geomspace(lo, hi, bins + 1)
        edges[0], edges[-1] = lo, hi  # exactly the data's ends, so no row falls outside by rounding
        return edges, "log"
    return _edges(*arrays, bins=bins), "linear"


def _histogram(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(x, bins=edges)[0]`` for finite x, from x's shared sort order (`sort_order`: the
    metric checks sort the same score column): numpy's histogram with explicit edges sorts x itself,
    in blocks, and then counts exactly this way (left-closed bins, the last one closed on the right)."""
    xs = x[sort_order(x)]
    cum = np.concatenate((xs.searchsorted(edges[:-1], "left"), xs.searchsorted(edges[-1:], "right")))
    return np.diff(cum)


def _diff_by_score(score: np.ndarray, diff: np.ndarray, bins: int) -> dict[str, list]:
    """Quantiles of ``diff`` per bin of ``score``, the bins holding about equal numbers of rows.

    Edges are quantiles of ``score`` by the inverted CDF, so each is a score that occurs, and every bin
    holds at least the row at its left edge; tied scores merge bins rather than leave one empty.
    """
    order = sort_order(score)  # shared: the metric checks sort the same column
    ss = score[order]
    edges = np.unique(np.quantile(ss, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf"))
    if len(edges) == 1:
        edges = np.repeat(edges, 2)
    n_bins = len(edges) - 1
    # Bin j holds the scores in [edges[j], edges[j+1]), the last bin also the maximum (right-closed, as
    # numpy's histograms): in score order, the positions between where edges[j] and edges[j+1] would
    # go. A bin's quantiles and extremes do not depend on the order of its rows.
    bounds = np.concatenate(([0], ss.searchsorted(edges[1:-1], "left"), [ss.shape[0]]))
    count = np.diff(bounds)
    out: dict[str, list] = {"edges": edges.tolist(), "count": count.tolist(), "min": [], "p01": [], "median": [],
                            "p99": [], "max": []}
    for group in np.split(diff[order], bounds[1:-1]):
        if len(group) == 0:
            for key in ("min", "p01", "median", "p99", "max"):
                out[key].append(None)
            continue
        p01, median, p99 = np.quantile(group, [0.01, 0.5, 0.99])
        out["min"].append(float(group.min()))
        out["p01"].append(float(p01))
        out["median"].append(float(median))
        out["p99"].append(float(p99))
        out["max"].append(float(group.max()))
    return out


def _calibration(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int) -> dict[str, list[float]]:
    # Quantile bins of the model's own scores, so every point rests on about the same weight of data.
    order = stable_argsort(p)
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
    diff_bins: int = 20,
) -> dict[str, Any]:
    """``{"hexbin", "score_hist", "diff_by_score"[, "calibration"]}`` over the rows where both scores are
    finite (non-finite scores fail the prediction check, which names them); {} when there are none."""
    legacy = np.asarray(legacy, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    finite = np.isfinite(legacy) & np.isfinite(new)
    legacy, new = legacy[finite], new[finite]
    if len(legacy) == 0:
        return {}
    edges2, hex_axis = _hist_edges(legacy, new, bins=hex_bins)
    counts, _, _ = np.histogram2d(legacy, new, bins=[edges2, edges2])
    edges1, hist_axis = _hist_edges(legacy, new, bins=hist_bins)
    out: dict[str, Any] = {
        "hexbin": {"axis": hex_axis, "x_edges": edges2.tolist(), "y_edges": edges2.tolist(),
                   "counts": counts.astype(np.int64).tolist()},
        "score_hist": {
            "axis": hist_axis,
            "edges": edges1.tolist(),
            "legacy": _histogram(legacy, edges1).tolist(),
            "new": _histogram(new, edges1).tolist(),
        },
        "diff_by_score": _diff_by_score(legacy, new - legacy, diff_bins),
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
