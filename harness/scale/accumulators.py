"""Mergeable per-check state for streamed comparisons: ``add(chunk arrays)``, ``merge(other)``, ``result()``.

Sums are exact (`harness.scale._exact.ExactSum`: the integer-scaled sum of the doubles), so a state
built from any chunking or row order, or merged from partial states in any order, is the same, and the
moments derived from it (mean, centred second moments) are computed in rational arithmetic and rounded
once. The in-memory estimators sum with numpy's pairwise summation, so the two agree to a few ulps
(the tests assert <= 1e-12), not bit for bit.

The rank metrics (AUC, average precision) and the bootstrap metrics need every row; `CompactRows` keeps
each row's key, label (int8 for 0/1 labels) and both scores in the sides' own precision (float32 stays
float32: the upcast to float64 is exact), and hands them back sorted by key, so the in-memory estimator
run on them gives the same bits whatever order the rows came in.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.stats import t as student_t

from harness.errors import ParityInputError
from harness.scale._exact import ExactSum
from harness.stats.bootstrap import PairedDifferenceResult
from harness.stats.metrics import MetricDef

__all__ = ["CompactRows", "DeltaRMSE", "KeyedColumns", "PairedMean", "SortedRows"]


def _sums(n: int) -> list[ExactSum]:
    return [ExactSum() for _ in range(n)]


def _merged(a: list[ExactSum], b: list[ExactSum]) -> list[ExactSum]:
    return [x.merge(y) for x, y in zip(a, b)]


def _too_few(m: int) -> ParityInputError:
    # paired_difference_ci's own words, so a slice's note reads as the in-memory run's
    return ParityInputError(f"loss_legacy: need at least 2 rows with positive weight for a paired interval, got {m}")


class PairedMean:
    """A (weighted) mean-of-per-row-losses metric (logloss, brier, mae) as exact sums; the result is
    `paired_difference_ci`'s t interval.

    Unweighted: n and the sums of each side's loss, of d = loss_new - loss_legacy and of d**2.
    Weighted (``weighted=True``, ``add(..., w)``): m (rows with positive weight) and the sums of w,
    w * loss per side, w * d, w**2, w**2 * d and w**2 * d**2, from which the linearized variance
    ``sum w**2 (d - dbar)**2`` expands exactly (each product is rounded once per row, as in memory).
    """

    def __init__(self, metric: MetricDef, *, weighted: bool = False) -> None:
        if metric.per_row is None:
            raise ValueError(f"{metric.name} is not a mean of per-row losses")
        self.metric = metric
        self.weighted = weighted
        self.n = 0
        self.m = 0
        self._s = _sums(7 if weighted else 4)

    def add(self, y: np.ndarray, a: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> None:
        la, lb = self.metric.per_row(y, a), self.metric.per_row(y, b)
        d = lb - la
        if self.weighted:
            w2 = w * w
            parts = (w, w * la, w * lb, w * d, w2, w2 * d, w2 * (d * d))
            self.m += int(np.count_nonzero(w > 0))
        else:
            parts = (la, lb, d, d * d)
        for s, v in zip(self._s, parts):
            s.add(v)
        self.n += int(y.shape[0])

    def merge(self, other: PairedMean) -> PairedMean:
        out = PairedMean(self.metric, weighted=self.weighted)
        out.n, out.m, out._s = self.n + other.n, self.m + other.m, _merged(self._s, other._s)
        return out

    def result(self, alpha: float) -> PairedDifferenceResult:
        """As `harness.stats.bootstrap.paired_difference_ci(loss_legacy, loss_new, sample_weight=w, alpha=alpha)`."""
        if self.weighted:
            m = self.m
            if m < 2:
                raise _too_few(m)
            sw, sa, sb, sd, sw2, sw2d, sw2dd = (s.fraction() for s in self._s)
            dbar_q = sd / sw
            ss = sw2dd - 2 * dbar_q * sw2d + dbar_q * dbar_q * sw2  # sum w**2 (d - dbar)**2, exact
            legacy, new, dbar = float(sa / sw), float(sb / sw), float(dbar_q)
            se = math.sqrt(m / (m - 1) * float(ss)) / float(sw)
        else:
            m = self.n
            if m < 2:
                raise _too_few(m)
            sa, sb, sd, sdd = (s.fraction() for s in self._s)
            ss = sdd - sd * sd / m  # sum (d - mean d)**2, exact
            legacy, new, dbar = float(sa / m), float(sb / m), float(sd / m)
            se = math.sqrt(m / (m - 1) * float(ss)) / m
        df = m - 1
        if se > 0:
            h = float(student_t.ppf(1 - alpha / 2, df)) * se
            p = float(2 * student_t.sf(abs(dbar) / se, df))
        else:
            h, p = 0.0, (1.0 if dbar == 0 else 0.0)
        return PairedDifferenceResult(legacy=legacy, new=new, diff=dbar, ci=(dbar - h, dbar + h),
                                      alpha=alpha, se=se, n=m, df=df, p_value=p,
                                      method=f"paired per-row differences (t interval, {df} df)")


@dataclass(frozen=True)
class DeltaResult:
    legacy: float  # RMSE of each side
    new: float
    mse_legacy: float
    mse_new: float
    se: float  # NaN when a side is perfect (the root is not differentiable at 0)


class DeltaRMSE:
    """RMSE's delta method from exact sums of the squared errors e_a, e_b and their squares and cross
    product (weighted: each times w, or w**2 for the variance terms, plus w, w**2 and the count of rows
    with positive weight): the per-row contribution u is linear in (e_a, e_b), so its centred
    (weighted) sum of squares follows from them."""

    def __init__(self, metric: MetricDef, *, weighted: bool = False) -> None:
        self.metric = metric
        self.weighted = weighted
        self.n = 0
        self.m = 0
        self._s = _sums(9 if weighted else 5)

    def add(self, y: np.ndarray, a: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> None:
        ea, eb = self.metric.per_row(y, a), self.metric.per_row(y, b)
        if self.weighted:
            w2 = w * w
            parts = (w, w * ea, w * eb, w2 * (ea * ea), w2 * (eb * eb), w2 * (ea * eb), w2 * ea, w2 * eb, w2)
            self.m += int(np.count_nonzero(w > 0))
        else:
            parts = (ea, eb, ea * ea, eb * eb, ea * eb)
        for s, v in zip(self._s, parts):
            s.add(v)
        self.n += int(y.shape[0])

    def merge(self, other: DeltaRMSE) -> DeltaRMSE:
        out = DeltaRMSE(self.metric, weighted=self.weighted)
        out.n, out.m, out._s = self.n + other.n, self.m + other.m, _merged(self._s, other._s)
        return out

    def result(self) -> DeltaResult:
        if self.weighted:
            return self._weighted_result()
        n = self.n
        sa, sb, saa, sbb, sab = (s.fraction() for s in self._s)
        mse_a, mse_b = float(sa / n), float(sb / n)
        legacy, new = math.sqrt(mse_a), math.sqrt(mse_b)
        if mse_a <= 0 or mse_b <= 0 or n < 2:
            return DeltaResult(legacy, new, mse_a, mse_b, math.nan)
        # u_i = alpha_ e_b,i - beta_ e_a,i + const, with the in-memory run's coefficients
        al, be = Fraction(1 / (2 * math.sqrt(mse_b))), Fraction(1 / (2 * math.sqrt(mse_a)))
        caa, cbb, cab = saa - sa * sa / n, sbb - sb * sb / n, sab - sa * sb / n
        ss = al * al * cbb + be * be * caa - 2 * al * be * cab
        se = math.sqrt(n / (n - 1) * float(ss)) / n
        return DeltaResult(legacy, new, mse_a, mse_b, se)

    def _weighted_result(self) -> DeltaResult:
        sw, sa, sb, s2aa, s2bb, s2ab, s2a, s2b, sw2 = (s.fraction() for s in self._s)
        if sw == 0:
            return DeltaResult(math.nan, math.nan, math.nan, math.nan, math.nan)
        mse_a, mse_b = float(sa / sw), float(sb / sw)
        legacy, new = math.sqrt(mse_a), math.sqrt(mse_b)
        m = self.m
        if mse_a <= 0 or mse_b <= 0 or m < 2:
            return DeltaResult(legacy, new, mse_a, mse_b, math.nan)
        al, be = Fraction(1 / (2 * math.sqrt(mse_b))), Fraction(1 / (2 * math.sqrt(mse_a)))
        # u'_i = al e_b,i - be e_a,i (the constant cancels in the centring); ubar the w-weighted mean
        ubar = (al * sb - be * sa) / sw
        s2uu = al * al * s2bb + be * be * s2aa - 2 * al * be * s2ab
        s2u = al * s2b - be * s2a
        ss = s2uu - 2 * ubar * s2u + ubar * ubar * sw2
        se = math.sqrt(m / (m - 1) * float(ss)) / float(sw)
        return DeltaResult(legacy, new, mse_a, mse_b, se)


@dataclass(frozen=True)
class SortedRows:
    keys: np.ndarray
    y: np.ndarray  # float64, as the in-memory validation returns labels
    a: np.ndarray  # float64 (an exact upcast of the kept precision)
    b: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # weight, group, slice codes: same order


class CompactRows:
    """Every row's key, label and both scores, kept compactly, plus any named extra columns (weights in
    their own precision, group ids, slice value codes); ``result()`` sorts them all by key."""

    def __init__(self, extra: Sequence[str] = (), capacity: int | None = None) -> None:
        self._names = tuple(extra)
        self._cols: list[list[np.ndarray]] = [[] for _ in range(4 + len(self._names))]
        # With the row count known up front, each column is one buffer filled in place: per-chunk parts
        # held until one concatenation interleave with every chunk's freed temporaries (the 1e7 stream's
        # RSS stood ~900 MB above its live arrays) and need a second copy while concatenated.
        self._capacity = None if capacity is None else int(capacity)
        self._bufs: list[np.ndarray | None] = [None] * len(self._cols)
        self._filled = 0

    @staticmethod
    def _label(y: np.ndarray) -> np.ndarray:
        yi = y.astype(np.int8)
        return yi if np.array_equal(yi, y) else y  # 0/1 labels in one byte; others as given

    @staticmethod
    def _score(raw: np.ndarray, validated: np.ndarray) -> np.ndarray:
        # the side's own precision when it round-trips exactly (float32 scores), else the float64 value
        return raw if raw.dtype == np.float32 else validated

    def add(self, keys: np.ndarray, y: np.ndarray, a_raw: np.ndarray, a: np.ndarray, b_raw: np.ndarray,
            b: np.ndarray, **extra: np.ndarray) -> None:
        if set(extra) != set(self._names):
            raise ValueError(f"CompactRows keeps {self._names}, got {sorted(extra)}")
        vals = (np.asarray(keys), self._label(y), self._score(a_raw, a), self._score(b_raw, b),
                *(extra[k] for k in self._names))
        if self._capacity is None:
            for col, v in zip(self._cols, vals):
                col.append(v)
            return
        m = int(vals[0].shape[0])
        start, end = self._filled, self._filled + m
        for i, v in enumerate(vals):
            buf = self._bufs[i]
            if buf is None or buf.shape[0] < end or buf.dtype != np.result_type(buf.dtype, v.dtype):
                # first chunk, more rows than announced, or a chunk in a wider type (a non-0/1 label):
                # a new buffer of the common type; the values already in are exact in it
                dtype = v.dtype if buf is None else np.result_type(buf.dtype, v.dtype)
                grown = np.empty(max(self._capacity, end), dtype=dtype)
                if buf is not None:
                    grown[:start] = buf[:start]
                self._bufs[i] = buf = grown
            buf[start:end] = v
        self._filled = end

    def _parts(self) -> list[list[np.ndarray]]:
        if self._capacity is None:
            return self._cols
        return [[] if b is None else [b[:self._filled]] for b in self._bufs]

    def merge(self, other: CompactRows) -> CompactRows:
        out = CompactRows(self._names)
        out._cols = [x + y for x, y in zip(self._parts(), other._parts())]
        return out

    @property
    def n(self) -> int:
        return sum(k.shape[0] for k in self._parts()[0])

    def result(self) -> SortedRows:
        """The rows sorted by key; each column's parts are released once it is concatenated, so the peak
        is the kept rows plus one column and the sort order."""
        cols = self._parts()
        self._bufs, self._filled = [None] * len(self._cols), 0
        keys = _take_all(cols[0])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        y, a, b = (_take_all(col)[order].astype(np.float64, copy=False) for col in cols[1:4])
        extra = {k: _take_all(col)[order] for k, col in zip(self._names, cols[4:])}
        self._cols = [[] for _ in self._cols]
        return SortedRows(keys, y, a, b, extra)


class KeyedColumns:
    """Keys and named per-row columns (slice codes) without scores, for runs whose metrics are all sums;
    ``result()`` returns (sorted keys, {name: column in key order})."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._names = tuple(names)
        self._cols: list[list[np.ndarray]] = [[] for _ in range(1 + len(self._names))]

    def add(self, keys: np.ndarray, **cols: np.ndarray) -> None:
        for part, v in zip(self._cols, (np.asarray(keys), *(cols[k] for k in self._names))):
            part.append(v)

    def result(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        keys = _take_all(self._cols[0])
        if not self._names:  # nothing to carry: a sort of the keys alone (for the repeated-key check)
            return np.sort(keys), {}
        order = np.argsort(keys, kind="stable")
        return keys[order], {k: _take_all(c)[order] for k, c in zip(self._names, self._cols[1:])}


def _take_all(parts: list[np.ndarray]) -> np.ndarray:
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    parts.clear()
    return out
