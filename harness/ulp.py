"""The number of representable floats between two values, element by element: the one ULP count the
feature checks (`harness.checks.features`) and the upgrade gate (`harness.upgrade.findings`) share.
numpy only (no pandas): the upgrade gate's probes run in throwaway venvs that hold only the packages
under test."""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import ParityInputError

__all__ = ["ulp_distance"]

_UINT = {np.dtype(np.float64): np.uint64, np.dtype(np.float32): np.uint32, np.dtype(np.float16): np.uint16}


def ulp_distance(a: np.ndarray, b: np.ndarray, *, dtype: Any = np.float64) -> np.ndarray:
    """Number of representable ``dtype`` values between ``a`` and ``b`` (uint64; exact, no overflow).

    ``dtype`` is float64 (default), float32 or float16; both inputs are first rounded to it (so a float64
    value and its correctly rounded float32 are 0 float32 ULPs apart).
    +0 and -0 are 0 apart; NaN vs NaN is 0 (both missing); NaN vs a number is the maximum uint64.
    Written by hand because numpy has no ULP distance; computed on the IEEE bit patterns with unsigned
    arithmetic so that distances across zero or to infinity do not overflow.
    """
    dtype = np.dtype(dtype)
    if dtype not in _UINT:
        raise ParityInputError(f"ulp_distance: dtype must be float64, float32 or float16, got {dtype}")
    uint = _UINT[dtype]
    with np.errstate(over="ignore"):  # a float64 beyond float32's range rounds to inf, as a float32 cast does
        a = np.ascontiguousarray(a, dtype=dtype)
        b = np.ascontiguousarray(b, dtype=dtype)
    bits = np.uint64(8 * dtype.itemsize - 1)
    ua, ub = a.view(uint).astype(np.uint64), b.view(uint).astype(np.uint64)
    mag = (np.uint64(1) << bits) - np.uint64(1)
    ma, mb = ua & mag, ub & mag
    neg_a, neg_b = (ua >> bits).astype(bool), (ub >> bits).astype(bool)
    same_sign = (neg_a == neg_b) | (ma == 0) | (mb == 0)
    with np.errstate(over="ignore"):
        dist = np.where(same_sign & (neg_a == neg_b), np.maximum(ma, mb) - np.minimum(ma, mb), ma + mb)
        # One side is zero and signs differ: distance is the other magnitude.
        dist = np.where(same_sign & (neg_a != neg_b), np.maximum(ma, mb), dist)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist = np.where(nan_a & nan_b, np.uint64(0), dist)
    dist = np.where(nan_a ^ nan_b, np.iinfo(np.uint64).max, dist)
    return dist.astype(np.uint64)
