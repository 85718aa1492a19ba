"""Exact AUC and DeLong's structural components computed score range by score range.

The one-sort algorithm (`harness.stats.delong.structural_components`) sorts all rows by score; a
distributed runner cannot. Here the score axis is cut at boundaries (quantiles of a sample, from a first
pass), every row is routed to its range, and each range is sorted on its own. A positive's V10 needs
the negatives below its score: those in lower ranges (a prefix count over the ranges' class counts,
carried across ranges) plus those below it within its range. Rows with equal scores always fall in the
same range (``searchsorted(..., side="right")``), so ties never straddle a boundary and the half-counts
of ties are those of the one sort.

Exactness: counts are integers, the components are the same expressions of the same integers, and the
AUC numerator is a sum of integers and halves (exact in float64 below 2**52), so the components are
bit-identical to the one sort's and `range_partitioned_auc` equals `delong_paired` bit for bit.

The steps are separate functions so that a CombineFn can run them: `range_of` (route), `class_counts`
(per range, merged by addition), `prefix_counts` (once, over the merged counts), `range_components`
(per range, independently).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from harness.stats import delong as _delong
from harness.stats._validation import as_binary_labels, as_scores, check_alpha, check_same_length

__all__ = ["RangeComponents", "boundaries_from_sample", "class_counts", "prefix_counts", "range_components",
           "range_of", "range_partitioned_auc", "range_partitioned_components"]


def boundaries_from_sample(sample: np.ndarray, n_ranges: int) -> np.ndarray:
    """Up to ``n_ranges - 1`` increasing cut points: the sample's quantiles at i / n_ranges."""
    if n_ranges < 1:
        raise ValueError(f"n_ranges must be >= 1, got {n_ranges}")
    if n_ranges == 1 or sample.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(np.asarray(sample, dtype=np.float64), np.arange(1, n_ranges) / n_ranges))


def range_of(scores: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """Range index per row, 0 .. len(boundaries); equal scores get the same range."""
    return np.searchsorted(boundaries, scores, side="right")


def class_counts(y: np.ndarray, ranges: np.ndarray, n_ranges: int) -> np.ndarray:
    """(n_ranges, 2) int64: negatives and positives per range (mergeable by addition)."""
    rows = np.bincount(ranges, minlength=n_ranges)
    pos = np.bincount(ranges[y], minlength=n_ranges)
    return np.stack([rows - pos, pos], axis=1).astype(np.int64)


def prefix_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(negatives in lower ranges, positives in higher ranges) per range."""
    neg, pos = counts[:, 0], counts[:, 1]
    neg_before = np.cumsum(neg) - neg
    pos_after = pos.sum() - np.cumsum(pos)
    return neg_before, pos_after


class RangeComponents(NamedTuple):
    auc_numerator: float  # sum over this range's positives of (negatives below + half the tied negatives)
    values: np.ndarray  # per row of the range, in its given order: V10 for a positive, V01 for a negative


def score_runs(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """One range's rows sorted by score: (order, labels in that order, run index per sorted row, positives
    and negatives per run of equal score, as exact float counts). Shared with the Beam runner's DeLong."""
    order = np.argsort(s)
    ss, ys = s[order], y[order]
    new_run = np.empty(ss.shape[0], dtype=bool)
    new_run[0] = True
    np.not_equal(ss[1:], ss[:-1], out=new_run[1:])
    run = np.cumsum(new_run) - 1
    pos_run = np.bincount(run, weights=ys)
    return order, ys, run, pos_run, np.bincount(run) - pos_run


def range_components(y: np.ndarray, s: np.ndarray, neg_before: int, pos_after: int, n_pos: int,
                     n_neg: int) -> RangeComponents:
    """One range's share: its rows sorted by score, runs of equal score, counts offset by the prefix."""
    if s.shape[0] == 0:
        return RangeComponents(0.0, np.empty(0))
    order, ys, run, pos_run, neg_run = score_runs(y, s)
    neg_below = neg_before + (np.cumsum(neg_run) - neg_run)
    pos_above = pos_after + (pos_run.sum() - np.cumsum(pos_run))
    v10_run = (neg_below + 0.5 * neg_run) / n_neg
    v01_run = (pos_above + 0.5 * pos_run) / n_pos
    vals = np.empty(s.shape[0])
    vals[order] = np.where(ys, v10_run[run], v01_run[run])
    return RangeComponents(float(np.dot(pos_run, neg_below + 0.5 * neg_run)), vals)


def range_partitioned_components(y: np.ndarray, s: np.ndarray, *, n_ranges: int = 16, sample_size: int = 65536,
                                 seed: int = 0) -> tuple[float, np.ndarray, np.ndarray]:
    """As `structural_components(y, s)`: (AUC, V10 per positive, V01 per negative) in the rows' order.

    ``y`` bool, ``s`` float64 (trusted, as the one-sort function); boundaries from a seeded sample.
    """
    n = s.shape[0]
    rng = np.random.default_rng(seed)
    sample = s if n <= sample_size else s[rng.choice(n, size=sample_size, replace=False)]
    bounds = boundaries_from_sample(sample, n_ranges)
    r = range_of(s, bounds)
    k = bounds.shape[0] + 1
    counts = class_counts(y, r, k)
    neg_before, pos_after = prefix_counts(counts)
    n_neg, n_pos = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    vals = np.empty(n)
    numerator = 0.0
    order = np.argsort(r, kind="stable")
    edges = np.searchsorted(r[order], np.arange(k + 1))
    for j in range(k):
        idx = order[edges[j]:edges[j + 1]]
        part = range_components(y[idx], s[idx], int(neg_before[j]), int(pos_after[j]), n_pos, n_neg)
        vals[idx] = part.values
        numerator += part.auc_numerator  # integers and halves: exact, in any order
    auc = float(numerator / (float(n_pos) * float(n_neg)))
    return auc, vals[y], vals[~y]


def range_partitioned_auc(y_true, score_a, score_b, *, alpha: float = 0.05, n_ranges: int = 16,
                          sample_size: int = 65536, seed: int = 0) -> _delong.DeLongResult:
    """`delong_paired(y_true, score_a, score_b, alpha=alpha)` with range-partitioned components."""
    alpha = check_alpha(alpha)
    y = as_binary_labels(y_true, "y_true")
    a, b = as_scores(score_a, "score_a"), as_scores(score_b, "score_b")
    check_same_length(y_true=y, score_a=a, score_b=b)
    yb, arrs, n_pos, n_neg = _delong._inputs(y, {"score_a": a, "score_b": b})

    def components(yy, ss):
        return range_partitioned_components(yy, ss, n_ranges=n_ranges, sample_size=sample_size, seed=seed)

    return _delong._paired(components, yb, arrs["score_a"], arrs["score_b"], n_pos, n_neg, alpha, _delong.METHOD)
