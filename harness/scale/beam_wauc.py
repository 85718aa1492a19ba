"""Weighted AUC's paired Poisson bootstrap over a range-partitioned sort (no Beam here).

In memory (`harness.stats.bootstrap._AUCKernel`, `harness.stats._poisson.auc_sweep`) replicate b of one
side sweeps its rows in score order with weights ``c_bi w_i`` (``c_bi`` the Poisson count of
(seed, row key, b)): running sums CP (positives) and CN (negatives), and for each run of equal scores
the term ``(CP_e - CP_s) * (CN_s + 0.5 (CN_e - CN_s))`` into U; AUC_b = U / (CP CN). A run never spans two
score ranges, so a range needs only its own rows and, per replicate, the negatives' weight in the lower
ranges: `range_totals` gives each range's per-replicate class totals, `prefix` turns them into those
offsets, `range_sweep` sweeps one range from its offset, and `finish` adds the ranges' U, CP and CN in
range order. The replicates are the in-memory ones up to float rounding (the running sums restart at each
range boundary: ~1e-16 relative), so intervals agree to ~1e-15; within a range rows are swept in (score,
key) order, so the file's row order changes nothing. The point estimate is the same sweep with c = 1.
"""
from __future__ import annotations

import numpy as np

__all__ = ["finish", "prefix", "range_sweep", "range_totals", "sorted_range"]

_BLOCK = 32  # replicates whose counts are drawn at once (32 x range rows)


def sorted_range(keys, y, s, w):
    """One range's rows in (score, key) order, or None when a key repeats (the run reports it)."""
    srt = np.sort(keys)
    if srt.shape[0] > 1 and (srt[1:] == srt[:-1]).any():  # poisson_weights would refuse them
        return None
    order = np.lexsort((keys, s))
    return keys[order], y[order].astype(bool), s[order], w[order]


def _weights(keys, w, seed, b0, b1):
    """(replicates b0..b1-1 and, last, the point: c = 1) x rows: c * w, as the in-memory sweep rounds it."""
    from harness.stats.bootstrap import poisson_weights

    c = poisson_weights(keys, seed, np.arange(b0, b1)).astype(np.float64) if b1 > b0 else np.empty((0, keys.shape[0]))
    return c * w[None, :]


def _blocks(n_boot):
    return [(b0, min(b0 + _BLOCK, n_boot)) for b0 in range(0, n_boot, _BLOCK)]


def range_totals(rows, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot + 1, 2): per replicate (and the point, last) the range's positive and negative weight."""
    keys, y, _, w = rows
    out = np.zeros((n_boot + 1, 2))
    for b0, b1 in _blocks(n_boot) + [(n_boot, n_boot)]:
        wk = _weights(keys, w, seed, b0, b1) if b1 > b0 else w[None, :]
        sl = slice(b0, b1) if b1 > b0 else slice(n_boot, n_boot + 1)
        out[sl, 0] = np.cumsum(np.where(y, wk, 0.0), axis=1)[:, -1]
        out[sl, 1] = np.cumsum(np.where(y, 0.0, wk), axis=1)[:, -1]
    return out


def prefix(totals: dict) -> dict:
    """{range: negatives' weight in the lower ranges, per replicate} from {range: `range_totals`}."""
    run = None
    out = {}
    for g in sorted(totals):
        t = np.asarray(totals[g])
        out[g] = np.zeros(t.shape[0]) if run is None else run
        run = t[:, 1].copy() if run is None else run + t[:, 1]
    return out


def range_sweep(rows, neg_before: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot + 1, 3): per replicate (and the point, last) this range's U, CP and CN."""
    keys, y, s, w = rows
    n = s.shape[0]
    first = np.ones(n, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], n)
    out = np.zeros((n_boot + 1, 3))
    for b0, b1 in _blocks(n_boot) + [(n_boot, n_boot)]:
        wk = _weights(keys, w, seed, b0, b1) if b1 > b0 else w[None, :]
        sl = slice(b0, b1) if b1 > b0 else slice(n_boot, n_boot + 1)
        r = wk.shape[0]
        cp = np.zeros((r, n + 1))
        cn = np.zeros((r, n + 1))
        cp[:, 1:] = np.cumsum(np.where(y, wk, 0.0), axis=1)
        cn[:, 1:] = np.cumsum(np.where(y, 0.0, wk), axis=1)
        cn_s = neg_before[sl, None] + cn[:, starts]
        cn_e = neg_before[sl, None] + cn[:, ends]
        terms = (cp[:, ends] - cp[:, starts]) * (cn_s + 0.5 * (cn_e - cn_s))
        out[sl, 0] = np.cumsum(terms, axis=1)[:, -1] if terms.shape[1] else 0.0
        out[sl, 1] = cp[:, -1]
        out[sl, 2] = cn[:, -1]
    return out


def finish(parts: dict) -> np.ndarray:
    """(n_boot + 1, 3): U, CP, CN of all rows, the ranges' sweeps added in range order."""
    total = None
    for g in sorted(parts):
        p = np.asarray(parts[g])
        total = p.copy() if total is None else total + p
    return total


def aucs(total: np.ndarray) -> np.ndarray:
    """AUC per replicate (and the point, last); NaN where a class has no weight (the caller reports it)."""
    u, cp, cn = total.T
    den = cp * cn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, u / den, np.nan)
