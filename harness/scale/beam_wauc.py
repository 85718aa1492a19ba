"""Weighted AUC's paired Poisson bootstrap over a range-partitioned sort (no Beam here).

In memory (`harness.stats.bootstrap._AUCKernel`, `harness.stats._poisson.auc_sweep`) replicate b of one
side sweeps its rows in score order with weights ``c_bi w_i`` (``c_bi`` the Poisson count of
(seed, row key, b)): running sums CP (positives) and CN (negatives), and for each run of equal scores
the term ``(CP_e - CP_s) * (CN_s + 0.5 (CN_e - CN_s))`` into U; AUC_b = U / (CP CN). A run never spans two
score ranges, and a range's terms only see the lower ranges through CN_s, which is their negatives'
weight plus the range's own running sum; so each range is swept on its own (`range_sweep`: the same
`auc_sweep`, compiled when numba is there, from zero) and `finish` adds the ranges in score order, the
lower ranges' negatives entering as ``CP_range * CN_below`` (the sum of ``P_run * CN_below`` over its
runs). The replicates are the in-memory ones up to float rounding (~1e-16 relative: the sums regroup at
range borders), so intervals agree to ~1e-15; within a range rows are swept in (score, key) order, so
the file's row order changes nothing. The point estimate is the same sweep with c = 1.
"""
from __future__ import annotations

import numpy as np

__all__ = ["aucs", "finish", "range_sweep", "sorted_range"]

_BATCH = 256  # replicates per pass over a range's rows (as the in-memory bootstrap batches them)


def sorted_range(keys, y, s, w):
    """One range's rows in (score, key) order, or None when a key repeats (the run reports it)."""
    srt = np.sort(keys)
    if srt.shape[0] > 1 and (srt[1:] == srt[:-1]).any():  # the Poisson words are keyed by row: hash_keys refuses them
        return None
    order = np.lexsort((keys, s))
    return keys[order], y[order].astype(bool), s[order], w[order]


def range_sweep(rows, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot + 1, 3): per replicate (and the point, last) U, CP and CN of this range alone."""
    from harness.stats import _poisson
    from harness.stats.bootstrap import _seed_base, hash_keys

    keys, y, s, w = rows
    out = np.empty((n_boot + 1, 3))
    lo, hi = _poisson.split(_seed_base(hash_keys(keys), seed))
    sweep = _poisson.Sweep(lo, hi, np.arange(s.shape[0]), s, y, w)
    for b0 in range(0, n_boot, _BATCH):
        b1 = min(b0 + _BATCH, n_boot)
        out[b0:b1] = _poisson.auc_sweep(sweep, b0, b1)
    cp = _running(np.where(y, w, 0.0))
    cn = _running(np.where(y, 0.0, w))
    first = np.ones(s.shape[0], dtype=bool)
    first[1:] = s[1:] != s[:-1]
    st = np.flatnonzero(first)
    en = np.append(st[1:], s.shape[0])
    out[n_boot] = (_running((cp[en] - cp[st]) * (cn[st] + 0.5 * (cn[en] - cn[st])))[-1], cp[-1], cn[-1])
    return out


def _running(x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.shape[0] + 1)
    out[1:] = x
    return np.cumsum(out, out=out)


def finish(parts: dict) -> np.ndarray:
    """(n_boot + 1, 3): U, CP, CN of all rows from the ranges' own sweeps, added in score order."""
    total = None
    for g in sorted(parts):
        u, cp, cn = np.asarray(parts[g]).T
        if total is None:
            total = np.stack([u, cp, cn], axis=1)
            continue
        total[:, 0] += u + cp * total[:, 2]  # each positive here sees the lower ranges' negatives
        total[:, 1] += cp
        total[:, 2] += cn
    return total


def aucs(total: np.ndarray) -> np.ndarray:
    """AUC per replicate (and the point, last); NaN where a class has no weight (the caller reports it)."""
    u, cp, cn = total.T
    den = cp * cn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, u / den, np.nan)
