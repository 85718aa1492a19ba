"""Exact sums of float64 values, independent of order and of how the rows are split into chunks.

Every finite double is an integer multiple of 2**-1074, so a sum of doubles is an integer once scaled;
`ExactSum` keeps that integer (a Python int), so adding chunks in any order or merging partial sums
gives the same number, and `fraction()` is the exact rational sum (rounded once by `value()`). This is
the "exact summation" the streamed accumulators use instead of math.fsum, whose partials cannot be
merged across chunks.

Vectorised: np.frexp splits each value into a 53-bit integer mantissa and an exponent; mantissas are
split into 27- and 26-bit halves and summed per exponent with np.bincount, whose float64 sums stay exact
(each half < 2**27, at most 2**25 rows per call, so every partial sum is below 2**52).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["ExactSum", "MAX_ROWS_PER_ADD"]

MAX_ROWS_PER_ADD = 1 << 25
_SCALE = 1074 + 53  # shift that makes every mantissa * 2**(exponent - 53) a non-negative power-of-two multiple
_EMIN = -1073  # frexp exponent of the smallest subnormal
_LO_BITS = 26


class ExactSum:
    """The exact sum of every float64 value added (``add``), mergeable (``merge``)."""

    __slots__ = ("_total",)

    def __init__(self) -> None:
        self._total = 0  # sum * 2**_SCALE, an exact integer

    def add(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        for start in range(0, x.shape[0], MAX_ROWS_PER_ADD):
            self._add(x[start:start + MAX_ROWS_PER_ADD])

    def _add(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        if not np.isfinite(x).all():
            raise ValueError("ExactSum: values must be finite")
        m, e = np.frexp(x)  # zeros give (0, 0): a zero mantissa adds nothing in any bin
        mant = np.ldexp(m, 53).astype(np.int64)  # exact: |m| < 1 carries 53 significant bits
        hi = (mant >> _LO_BITS).astype(np.float64)  # arithmetic shift: hi * 2**26 + lo == mant, 0 <= lo < 2**26
        mant &= (1 << _LO_BITS) - 1
        lo = mant.astype(np.float64)
        off = e - _EMIN  # >= 0 for every finite double
        s_hi = np.bincount(off, weights=hi)
        s_lo = np.bincount(off, weights=lo)
        total = 0
        for j in np.flatnonzero((s_hi != 0) | (s_lo != 0)).tolist():
            part = (int(s_hi[j]) << _LO_BITS) + int(s_lo[j])
            total += part << (j + _EMIN - 53 + _SCALE)
        self._total += total

    def merge(self, other: ExactSum) -> ExactSum:
        out = ExactSum()
        out._total = self._total + other._total
        return out

    def fraction(self) -> Fraction:
        return Fraction(self._total, 1 << _SCALE)

    def value(self) -> float:
        """The exact sum rounded once to the nearest double."""
        return float(self.fraction())
