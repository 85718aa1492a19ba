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
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.stats import t as student_t

from harness.errors import ParityInputError
from harness.scale._exact import ExactSum
from harness.stats.bootstrap import PairedDifferenceResult
from harness.stats.metrics import MetricDef

__all__ = ["CompactRows", "DeltaRMSE", "PairedMean", "SortedRows"]


def _sums(n: int) -> list[ExactSum]:
    return [ExactSum() for _ in range(n)]


def _merged(a: list[ExactSum], b: list[ExactSum]) -> list[ExactSum]:
    return [x.merge(y) for x, y in zip(a, b)]


class PairedMean:
    """A mean-of-per-row-losses metric (logloss, brier, mae): n and the exact sums of each side's loss,
    of d = loss_new - loss_legacy and of d**2; the result is `paired_difference_ci`'s t interval."""

    def __init__(self, metric: MetricDef) -> None:
        if metric.per_row is None:
            raise ValueError(f"{metric.name} is not a mean of per-row losses")
        self.metric = metric
        self.n = 0
        self._s = _sums(4)  # loss_legacy, loss_new, d, d**2

    def add(self, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        la, lb = self.metric.per_row(y, a), self.metric.per_row(y, b)
        d = lb - la
        for s, v in zip(self._s, (la, lb, d, d * d)):
            s.add(v)
        self.n += int(y.shape[0])

    def merge(self, other: PairedMean) -> PairedMean:
        out = PairedMean(self.metric)
        out.n, out._s = self.n + other.n, _merged(self._s, other._s)
        return out

    def result(self, alpha: float) -> PairedDifferenceResult:
        """As `harness.stats.bootstrap.paired_difference_ci(loss_legacy, loss_new, alpha=alpha)` (unweighted)."""
        n = self.n
        if n < 2:
            raise ParityInputError(f"{self.metric.name}: need at least 2 rows for a paired interval, got {n}")
        sa, sb, sd, sdd = (s.fraction() for s in self._s)
        dbar = float(sd / n)
        ss = sdd - sd * sd / n  # sum (d - mean d)**2, exact
        se = math.sqrt(n / (n - 1) * float(ss)) / n
        df = n - 1
        if se > 0:
            h = float(student_t.ppf(1 - alpha / 2, df)) * se
            p = float(2 * student_t.sf(abs(dbar) / se, df))
        else:
            h, p = 0.0, (1.0 if dbar == 0 else 0.0)
        return PairedDifferenceResult(legacy=float(sa / n), new=float(sb / n), diff=dbar, ci=(dbar - h, dbar + h),
                                      alpha=alpha, se=se, n=n, df=df, p_value=p,
                                      method=f"paired per-row differences (t interval, {df} df)")


@dataclass(frozen=True)
class DeltaResult:
    legacy: float  # RMSE of each side
    new: float
    mse_legacy: float
    mse_new: float
    se: float  # NaN when a side is perfect (the root is not differentiable at 0)


class DeltaRMSE:
    """RMSE's delta method from exact sums of e_a, e_b (squared errors), e_a**2, e_b**2 and e_a * e_b:
    the per-row contribution u is linear in (e_a, e_b), so its centred sum of squares follows from them."""

    def __init__(self, metric: MetricDef) -> None:
        self.metric = metric
        self.n = 0
        self._s = _sums(5)

    def add(self, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        ea, eb = self.metric.per_row(y, a), self.metric.per_row(y, b)
        for s, v in zip(self._s, (ea, eb, ea * ea, eb * eb, ea * eb)):
            s.add(v)
        self.n += int(y.shape[0])

    def merge(self, other: DeltaRMSE) -> DeltaRMSE:
        out = DeltaRMSE(self.metric)
        out.n, out._s = self.n + other.n, _merged(self._s, other._s)
        return out

    def result(self) -> DeltaResult:
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


@dataclass(frozen=True)
class SortedRows:
    keys: np.ndarray
    y: np.ndarray  # float64, as the in-memory validation returns labels
    a: np.ndarray  # float64 (an exact upcast of the kept precision)
    b: np.ndarray


class CompactRows:
    """Every row's key, label and both scores, kept compactly; ``result()`` sorts them by key."""

    def __init__(self) -> None:
        self._cols: list[list[np.ndarray]] = [[], [], [], []]  # keys, labels, legacy, new

    @staticmethod
    def _label(y: np.ndarray) -> np.ndarray:
        yi = y.astype(np.int8)
        return yi if np.array_equal(yi, y) else y  # 0/1 labels in one byte; others as given

    @staticmethod
    def _score(raw: np.ndarray, validated: np.ndarray) -> np.ndarray:
        # the side's own precision when it round-trips exactly (float32 scores), else the float64 value
        return raw if raw.dtype == np.float32 else validated

    def add(self, keys: np.ndarray, y: np.ndarray, a_raw: np.ndarray, a: np.ndarray, b_raw: np.ndarray,
            b: np.ndarray) -> None:
        for col, v in zip(self._cols, (np.asarray(keys), self._label(y), self._score(a_raw, a), self._score(b_raw, b))):
            col.append(v)

    def merge(self, other: CompactRows) -> CompactRows:
        out = CompactRows()
        out._cols = [x + y for x, y in zip(self._cols, other._cols)]
        return out

    @property
    def n(self) -> int:
        return sum(k.shape[0] for k in self._cols[0])

    def result(self) -> SortedRows:
        """The rows sorted by key; each column's parts are released once it is concatenated, so the peak
        is the kept rows plus one column and the sort order."""
        keys = _take_all(self._cols[0])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        y, a, b = (_take_all(col)[order].astype(np.float64, copy=False) for col in self._cols[1:])
        self._cols = [[], [], [], []]
        return SortedRows(keys, y, a, b)


def _take_all(parts: list[np.ndarray]) -> np.ndarray:
    out = np.concatenate(parts)
    parts.clear()
    return out
