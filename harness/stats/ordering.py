"""Sort orders of score arrays, exactly as numpy's, in less time.

`stable_argsort(x)` is ``np.argsort(x, kind="stable")``, element for element (tested on ties, NaN,
signed zeros and every dtype the harness sorts), in less time (benchmarks/bench_ordering.py):
numpy's stable sort of floats is a timsort/mergesort, its default introsort is vectorized but orders
tied values arbitrarily. This sorts with the introsort and then puts each run of tied values back
in index order, which is what makes a sort stable: one integer sort of the tied rows only.

`stable_argsort_descending(x)` is ``np.argsort(-x, kind="stable")`` for floats, from the same
ascending sort reversed (the top-k rows per query group of the prediction check).

`average_ranks(x)` is ``scipy.stats.rankdata(x)`` (method "average") for finite 1-D input: average
ranks do not depend on how ties are ordered, so the introsort serves as it is. `spearman_rho(a, b)`
is ``scipy.stats.spearmanr(a, b).statistic`` from those ranks, computed as scipy computes it
(``np.corrcoef`` of the two rank columns), at about a third of its cost.

`sort_order(x)` is ``np.argsort(x)``; inside a `shared_orders()` block, an array whose contents were
sorted before in the block (compared element for element, so no array's later change can be missed)
gets that order again. The checks after scoring sort the same two score columns for DeLong's
components, Spearman's ranks and the calibration bins (`harness.runner` opens the block), and each of
those uses the order only up to ties, so the results are the same either way. A slice's score
column, declared with `note_subset(child, parent, rows)`, gets its order from its parent's: the
parent's order filtered to the slice's rows, one O(n) pass instead of a sort (an ascending order of
the child, ties in the parent's order).
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["average_ranks", "note_subset", "shared_orders", "sort_order", "spearman_rho", "stable_argsort",
           "stable_argsort_descending"]


class _Memo:
    """One `shared_orders` block: orders computed (saved contents, order) and subsets declared
    (parent, rows)."""

    def __init__(self) -> None:
        self.orders: list[tuple[np.ndarray, np.ndarray]] = []
        self.subsets: list[tuple[np.ndarray, np.ndarray]] = []


_SHARED: contextvars.ContextVar[_Memo | None] = contextvars.ContextVar("parity_shared_orders", default=None)
_SHARED_MIN = 4096  # below this a sort costs less than looking one up
_SHARED_MAX = 32  # orders kept per block: bounds the lookups' comparisons


@contextmanager
def shared_orders() -> Iterator[None]:
    """`sort_order` reuses an order within this block (and in threads given a copy of its context)."""
    token = _SHARED.set(_Memo())
    try:
        yield
    finally:
        _SHARED.reset(token)


def sort_order(x: np.ndarray) -> np.ndarray:
    """``np.argsort(x)`` (numpy's default sort: tied values in no particular order), read-only; inside
    `shared_orders`, computed once per distinct contents of ``x`` (module docstring)."""
    memo = _SHARED.get()
    if memo is None or x.ndim != 1 or x.shape[0] < _SHARED_MIN:
        return np.argsort(x)
    for saved, order in list(memo.orders):  # a copy: another thread may append meanwhile
        if saved.dtype == x.dtype and saved.shape == x.shape and np.array_equal(saved, x):
            return order
    order = None
    for parent, rows in list(memo.subsets):
        # parent is held, not copied: a subset is x when parent still gives x's contents at rows
        if rows.shape == x.shape and parent.dtype == x.dtype and np.array_equal(parent[rows], x):
            # x is parent[rows]: the parent's ascending order, kept where it visits the slice's rows
            # and renumbered to the slice's positions, is an ascending order of x
            at = np.full(parent.shape[0], -1, dtype=np.intp)
            at[rows] = np.arange(rows.shape[0])
            visits = at[sort_order(parent)]
            order = visits[visits >= 0]
            if order.shape[0] != x.shape[0]:  # rows not distinct after all: sort
                order = None
            break
    if order is None:
        order = np.argsort(x)
    order.flags.writeable = False
    if len(memo.orders) < _SHARED_MAX:
        memo.orders.append((x.copy(), order))
    return order


def note_subset(child: np.ndarray, parent: np.ndarray, rows: np.ndarray) -> None:
    """Inside `shared_orders`: ``child`` is ``parent[rows]`` (``rows`` distinct row indices), so a
    later `sort_order` of child's contents filters parent's order instead of sorting (module
    docstring). Outside a block, or for short or non-1-D arrays, nothing is noted."""
    memo = _SHARED.get()
    if (memo is None or child.ndim != 1 or parent.ndim != 1 or child.shape[0] < _SHARED_MIN
            or rows.shape != child.shape or len(memo.subsets) >= _SHARED_MAX):
        return
    memo.subsets.append((parent, np.asarray(rows)))


def _tied_with_next(sorted_x: np.ndarray) -> np.ndarray:
    """tie[i]: sorted_x[i] and sorted_x[i + 1] are equal for sorting purposes (NaNs equal one another,
    and -0.0 equals 0.0, as in numpy's comparisons)."""
    tie = sorted_x[1:] == sorted_x[:-1]
    if sorted_x.dtype.kind in "fc":
        nan = np.isnan(sorted_x)
        tie |= nan[1:] & nan[:-1]
    return tie


def stable_argsort(x: np.ndarray) -> np.ndarray:
    """``np.argsort(x, kind="stable")`` for a 1-D numeric array (module docstring)."""
    x = np.asarray(x)
    if x.ndim != 1 or x.dtype.kind not in "fiub" or x.shape[0] < 2:
        return np.argsort(x, kind="stable")
    if x.dtype.itemsize <= 2 and x.dtype.kind in "iub":  # numpy's radix sort: already the fastest
        return np.argsort(x, kind="stable")
    order = sort_order(x)
    return _ties_in_row_order(x, order.copy() if not order.flags.writeable else order)  # shared: a copy


def stable_argsort_descending(x: np.ndarray) -> np.ndarray:
    """``np.argsort(-x, kind="stable")`` (largest first, tied values in row order) for a 1-D float
    array: the ascending `sort_order` of x reversed (negation is exact, so it orders -x), then tied
    values put back in row order, as in `stable_argsort`; so a score column that the checks sort
    anyway is not sorted again. NaN (which numpy puts last in both orders) goes to numpy."""
    x = np.asarray(x)
    if x.ndim != 1 or x.dtype.kind != "f" or x.shape[0] < 2 or not np.isfinite(x).all():
        return np.argsort(-x, kind="stable")
    return _ties_in_row_order(x, sort_order(x)[::-1].copy())


def _ties_in_row_order(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``order`` (a writeable sort order of x, ascending or descending, tied values in any order) with
    each run of tied values in ascending row order: what makes the sort stable."""
    n = x.shape[0]
    tie = _tied_with_next(x[order])
    if not tie.any():
        return order
    # The positions in runs of tied values, each run's rows put in ascending order: one sort of the
    # integer keys run * n + row (runs ascend along the positions, so each run stays where it is).
    in_run = np.zeros(n, dtype=bool)
    in_run[:-1] |= tie
    in_run[1:] |= tie
    at = np.flatnonzero(in_run)
    run = np.cumsum(np.concatenate(([True], ~tie)), dtype=np.int64)[at]  # run id of each tied position
    key = run * n + order[at]  # < n**2: exact in int64 for n < 3e9
    key.sort()
    order[at] = key % n
    return order


def average_ranks(x: np.ndarray) -> np.ndarray:
    """scipy.stats.rankdata(x) (average ranks, 1-based, float64) for a finite 1-D array."""
    x = np.asarray(x)
    n = x.shape[0]
    order = sort_order(x)
    xs = x[order]
    first = np.empty(n, dtype=bool)
    first[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    ranks = np.empty(n)
    if first.all():  # no ties: rank i + 1 at sorted position i, which is what the formula below gives
        ranks[order] = np.arange(1.0, n + 1.0)
        return ranks
    bounds = np.append(np.flatnonzero(first), n)  # each run's start, and n
    dense = np.cumsum(first, dtype=np.intp)  # 1-based run id per sorted position
    ranks[order] = 0.5 * (bounds[dense] + bounds[dense - 1] + 1)
    return ranks


def spearman_rho(a: np.ndarray, b: np.ndarray) -> float:
    """scipy.stats.spearmanr(a, b).statistic for finite 1-D arrays of equal length >= 2; a constant
    input goes to scipy itself (NaN, with scipy's ConstantInputWarning)."""
    a, b = np.asarray(a), np.asarray(b)
    if (a[0] == a).all() or (b[0] == b).all():
        from scipy.stats import spearmanr

        return float(spearmanr(a, b).statistic)
    ranked = np.column_stack((average_ranks(a), average_ranks(b)))
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])
