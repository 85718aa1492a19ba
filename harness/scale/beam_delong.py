"""Paired DeLong from mergeable partial sums: the steps the Beam runner's CombineFns run (no Beam here).

DeLong's structural components are ratios of integers: with rows sorted by score and grouped into runs
of equal score, a positive's ``V10 = (2 * negatives below + negatives in its run) / (2 * n_neg)`` and a
negative's ``V01 = (2 * positives above + positives in its run) / (2 * n_pos)``. `integer_components`
gives those numerators ``k`` for one score range (prefix counts carried in, as
`harness.scale.range_auc.range_components`), so a range needs nothing but its own rows and two counts.

The variance needs, per row, both sides' components, which come from two different sorts; the rows are
joined by key in `n_buckets` hash buckets of keys (`key_buckets`), and each bucket reduces to exact
integer power sums per class (`ClassMoments`: counts, sums, squares and the cross product of the two
sides' ``k``, third and fourth powers of their difference), merged by addition. `delong_from_moments`
turns the merged sums into `harness.stats.delong.DeLongResult` with rational arithmetic rounded once.

Exactness: the AUCs are the one sort's bits (the numerator is the same integer sum, halved). The
variances, covariance and degrees of freedom are the exact values rounded once, where
`delong_paired`'s float sums round at every step, so they agree to a few ulps (tests: <= 1e-12
relative), not bit for bit; verdicts agree unless an interval limit lies within that of the margin.
Integer sums stay exact in int64 for fewer than 2**30 rows (`MAX_ROWS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from fractions import Fraction

import numpy as np

from harness.errors import ParityInputError
from harness.scale.range_auc import score_runs
from harness.stats import delong as _delong

__all__ = ["MAX_ROWS", "ClassMoments", "delong_from_moments", "integer_components", "join_bucket", "key_buckets"]

MAX_ROWS = 1 << 30  # component numerators < 2**31, so every product below fits int64 exactly
_LOW31 = (1 << 31) - 1


def integer_components(y: np.ndarray, s: np.ndarray, neg_before: int, pos_after: int) -> np.ndarray:
    """Per row of one score range, in its given order: ``2 n_neg V10`` (positive) or ``2 n_pos V01``
    (negative) as int64; ``neg_before`` / ``pos_after`` count the negatives in lower and the positives in
    higher ranges."""
    if s.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    order, ys, run, pos_run, neg_run = score_runs(y, s)
    pos_run, neg_run = pos_run.astype(np.int64), neg_run.astype(np.int64)  # exact: counts below 2**53
    neg_below = neg_before + (np.cumsum(neg_run) - neg_run)
    pos_above = pos_after + (pos_run.sum() - np.cumsum(pos_run))
    k = np.empty(s.shape[0], dtype=np.int64)
    k[order] = np.where(ys, (2 * neg_below + neg_run)[run], (2 * pos_above + pos_run)[run])
    return k


def key_buckets(keys: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket per row from a hash of its key that every process computes alike (pandas' fixed-key
    SipHash; Python's ``hash`` of a string differs between processes)."""
    import pandas as pd

    return (pd.util.hash_array(np.asarray(keys)) % np.uint64(n_buckets)).astype(np.int64)


def _isum(x: np.ndarray) -> int:
    """Exact sum of an int64 array (fewer than 2**31 entries): 32-bit halves summed apart."""
    return (int(np.sum(x >> 32)) << 32) + int(np.sum(x & 0xFFFFFFFF))


def _isum_prod(x: np.ndarray, y: np.ndarray) -> int:
    """Exact sum of ``x * y`` for |x| < 2**62 and |y| < 2**31: x split at bit 31 keeps each product in int64."""
    return (_isum((x >> 31) * y) << 31) + _isum((x & _LOW31) * y)


@dataclass
class ClassMoments:
    """Exact power sums of one class's joined components: ``ka`` (legacy), ``kb`` (new), ``d = kb - ka``."""

    m: int = 0
    sa: int = 0
    sb: int = 0
    saa: int = 0
    sbb: int = 0
    sab: int = 0
    d3: int = 0
    d4: int = 0

    @classmethod
    def of(cls, ka: np.ndarray, kb: np.ndarray) -> "ClassMoments":
        d = kb - ka
        d2 = d * d
        hi, lo = d2 >> 31, d2 & _LOW31  # d**4 = hi**2 2**62 + 2 hi lo 2**31 + lo**2
        d4 = (_isum(hi * hi) << 62) + (_isum(hi * lo) << 32) + _isum(lo * lo)
        return cls(int(ka.shape[0]), _isum(ka), _isum(kb), _isum_prod(ka, ka), _isum_prod(kb, kb),
                   _isum_prod(ka, kb), _isum_prod(d2, d), d4)

    def merge(self, other: "ClassMoments") -> "ClassMoments":
        return ClassMoments(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_list(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]

    @property
    def d1(self) -> int:
        return self.sb - self.sa

    @property
    def d2(self) -> int:
        return self.saa - 2 * self.sab + self.sbb


def join_bucket(legacy: tuple[np.ndarray, np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray, np.ndarray]
                ) -> tuple[ClassMoments, ClassMoments, list]:
    """One key bucket's rows of both sides, each ``(keys, y, k)`` in any order: (positives' moments,
    negatives' moments, ``[smallest repeated key or None, count of repeats]``)."""
    (ka_keys, ya, ka), (kb_keys, _, kb) = legacy, new
    oa, ob = np.argsort(ka_keys, kind="stable"), np.argsort(kb_keys, kind="stable")
    keys, y = ka_keys[oa], ya[oa]
    a, b = ka[oa], kb[ob]
    if keys.shape[0] != kb_keys.shape[0] or not np.array_equal(keys, kb_keys[ob]):
        raise ParityInputError("the two sides' rows do not match by key inside the Beam pipeline")
    rep = np.flatnonzero(keys[1:] == keys[:-1])
    dup = [keys[rep[0]].item() if rep.size else None, int(rep.size)]
    return ClassMoments.of(a[y], b[y]), ClassMoments.of(a[~y], b[~y]), dup


def _var(s1: int, s2: int, m: int) -> Fraction:
    """Sample variance (ddof=1) of integers from their sum and sum of squares."""
    return Fraction(s2 * m - s1 * s1, m * (m - 1))


def _cov(sx: int, sy: int, sxy: int, m: int) -> Fraction:
    return Fraction(sxy * m - sx * sy, m * (m - 1))


def _df_term(c: ClassMoments, scale: int) -> tuple[float, float] | None:
    """(var(u)/m, var(u)^2/m^2/nu) of one class's u = d / scale, as `intervals.effective_df`'s terms."""
    m = c.m
    if m < 2:
        return None
    v = float(_var(c.d1, c.d2, m) / (scale * scale)) / m
    if v <= 0:
        return None
    mu = Fraction(c.d1, m)
    m2 = Fraction(c.d2, m) - mu * mu
    if m2 <= 0:
        return v, 0.0
    m4 = Fraction(c.d4, m) - 4 * mu * Fraction(c.d3, m) + 6 * mu * mu * Fraction(c.d2, m) - 3 * mu ** 4
    kurt = float(m4 / (m2 * m2))
    nu = 2.0 / (2.0 / (m - 1) + (kurt - 3.0) / m)
    return v, (v * v / nu if math.isfinite(nu) else 0.0)


def delong_from_moments(pos: ClassMoments, neg: ClassMoments, *, alpha: float) -> _delong.DeLongResult:
    """`delong_paired(y, legacy, new, alpha=alpha)` from the merged sums of every row (module docstring)."""
    n_pos, n_neg = pos.m, neg.m
    if n_pos < 2 or n_neg < 2:
        raise ParityInputError(
            f"y_true: DeLong needs at least 2 positives and 2 negatives (got {n_pos} positive, {n_neg} negative)")
    c10, c01 = 2 * n_neg, 2 * n_pos  # V10 = k / c10 per positive, V01 = k / c01 per negative
    pairs = float(n_pos) * float(n_neg)
    auc_a = float(float(Fraction(pos.sa, 2)) / pairs)  # the one sort's float numerator, which is exact
    auc_b = float(float(Fraction(pos.sb, 2)) / pairs)

    def both(f10: Fraction, f01: Fraction) -> float:
        return float(f10 / (c10 * c10)) / n_pos + float(f01 / (c01 * c01)) / n_neg

    var = both(_var(pos.d1, pos.d2, n_pos), _var(neg.d1, neg.d2, n_neg))
    var_a = both(_var(pos.sa, pos.saa, n_pos), _var(neg.sa, neg.saa, n_neg))
    var_b = both(_var(pos.sb, pos.sbb, n_pos), _var(neg.sb, neg.sbb, n_neg))
    cov = both(_cov(pos.sa, pos.sb, pos.sab, n_pos), _cov(neg.sa, neg.sb, neg.sab, n_neg))
    se = math.sqrt(max(var, 0.0))
    diff = auc_b - auc_a
    z, p = _delong.z_test(diff, se)
    terms = [t for t in (_df_term(pos, c10), _df_term(neg, c01)) if t is not None]
    num, den = sum(t[0] for t in terms), sum(t[1] for t in terms)
    df = math.inf if num == 0 or den == 0 else num * num / den
    r = _delong.DeLongResult(auc_a=auc_a, auc_b=auc_b, diff=float(diff), se=se, z=float(z), p_value=p,
                             ci=(0.0, 0.0), alpha=alpha, n_pos=n_pos, n_neg=n_neg, var_a=var_a, var_b=var_b,
                             cov=cov, df=df, method=_delong.METHOD)
    return replace(r, ci=r.ci_at(alpha))
