"""Feature parity: does the TF featurization compute the same values as the legacy one, row by row?

Categorical and id features must match exactly (an id off by one is a different embedding row).
Numeric features are compared by ULP distance and absolute error: both stacks evaluate the same
formula, so they may legitimately differ in the last bit or two when a transcendental function (log1p)
comes from a different math library, but never by more than the suite's stated bound.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.checks._format import table
from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.verdicts import Verdict

__all__ = ["check_feature", "check_features", "ulp_distance"]

_MAG = np.uint64(0x7FFFFFFFFFFFFFFF)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of representable float64 values between ``a`` and ``b`` (uint64; exact, no overflow).

    +0 and -0 are 0 apart; NaN vs NaN is 0 (both missing); NaN vs a number is the maximum uint64.
    Written by hand because numpy has no ULP distance; computed on the IEEE bit patterns with unsigned
    arithmetic so that distances across zero or to infinity do not overflow.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    ua, ub = a.view(np.uint64), b.view(np.uint64)
    ma, mb = ua & _MAG, ub & _MAG
    neg_a, neg_b = (ua >> np.uint64(63)).astype(bool), (ub >> np.uint64(63)).astype(bool)
    same_sign = (neg_a == neg_b) | (ma == 0) | (mb == 0)
    with np.errstate(over="ignore"):
        dist = np.where(same_sign & (neg_a == neg_b), np.maximum(ma, mb) - np.minimum(ma, mb), ma + mb)
        # One side is zero and signs differ: distance is the other magnitude.
        dist = np.where(same_sign & (neg_a != neg_b), np.maximum(ma, mb), dist)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist = np.where(nan_a & nan_b, np.uint64(0), dist)
    dist = np.where(nan_a ^ nan_b, np.iinfo(np.uint64).max, dist)
    return dist.astype(np.uint64)


def _as_float(values: Any, side: str, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiub":
        raise ParityInputError(f"feature {name!r}: {side} values must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def check_feature(
    name: str,
    legacy: Any,
    new: Any,
    *,
    keys: Any,
    categorical: bool,
    raw: pd.DataFrame | None = None,
    max_ulp: int = 0,
    atol: float = 0.0,
    n_examples: int = 5,
) -> CheckResult:
    """Compare one feature's values from both sides, positionally aligned with ``keys``.

    A numeric row mismatches when its ULP distance exceeds ``max_ulp`` *and* its absolute error exceeds
    ``atol`` (so a value near zero, where ULPs are tiny, can be judged by ``atol``).
    """
    legacy_arr, new_arr, keys = np.asarray(legacy), np.asarray(new), np.asarray(keys)
    if not (len(legacy_arr) == len(new_arr) == len(keys)):
        raise ParityInputError(
            f"feature {name!r}: lengths differ (legacy {len(legacy_arr)}, new {len(new_arr)}, keys {len(keys)})"
        )
    n = len(keys)
    details: dict[str, Any] = {"feature": name, "type": "categorical" if categorical else "numeric", "n": n}
    if categorical:
        if legacy_arr.dtype.kind in "fiub" and new_arr.dtype.kind in "fiub":
            la, na = legacy_arr.astype(np.float64), new_arr.astype(np.float64)
            mismatch = ~((la == na) | (np.isnan(la) & np.isnan(na)))
        else:
            mismatch = np.asarray(pd.Series(legacy_arr, dtype=object).to_numpy() != pd.Series(new_arr, dtype=object).to_numpy())
        details.update(max_abs_err=None, max_rel_err=None, max_ulp=None, tolerance={"exact": True})
    else:
        la, na = _as_float(legacy_arr, "legacy", name), _as_float(new_arr, "new", name)
        ulps = ulp_distance(la, na)
        with np.errstate(invalid="ignore", over="ignore"):
            abs_err = np.abs(la - na)
            both_inf_equal = np.isinf(la) & (la == na)
            abs_err = np.where(both_inf_equal | (np.isnan(la) & np.isnan(na)), 0.0, abs_err)
            abs_err = np.where(np.isnan(la) ^ np.isnan(na), np.inf, abs_err)
            rel_err = abs_err / np.maximum(np.abs(la), np.finfo(np.float64).tiny)
        mismatch = (ulps > np.uint64(max_ulp)) & ~(abs_err <= atol)
        details.update(
            max_abs_err=float(abs_err.max()) if n else 0.0,
            max_rel_err=float(np.nanmax(rel_err)) if n else 0.0,
            max_ulp=int(ulps.max()) if n else 0,
            tolerance={"max_ulp": int(max_ulp), "atol": float(atol)},
        )
    n_mismatch = int(mismatch.sum())
    details["n_mismatch"] = n_mismatch
    details["match_rate"] = 1.0 - n_mismatch / n if n else 1.0
    idx = np.flatnonzero(mismatch)[:n_examples]
    examples = []
    for i in idx:
        row: dict[str, Any] = {"key": keys[i].item() if hasattr(keys[i], "item") else keys[i]}
        if raw is not None:
            row["raw"] = {c: _plain(raw.iloc[i][c]) for c in raw.columns}
        row["legacy"] = _plain(legacy_arr[i])
        row["new"] = _plain(new_arr[i])
        examples.append(row)
    details["examples"] = examples
    verdict = Verdict.EQUIVALENT if n_mismatch == 0 and n > 0 else Verdict.NOT_EQUIVALENT
    tol = "exact match" if categorical else f"<= {max_ulp} ULP or |err| <= {atol:g}"
    summary = f"{name}: {n - n_mismatch}/{n} rows match ({tol})"
    message = ""
    if n == 0:
        message = f"feature {name!r}: no rows to compare"
    elif n_mismatch:
        lines = [
            f"feature {name!r} out of parity: {n_mismatch} of {n} rows differ ({n_mismatch / n:.4%}); tolerance: {tol}.",
            "Fix: make the TF featurization compute this feature exactly as the legacy one (boundaries, vocabulary, hash, dtype).",
        ]
        if not categorical:
            lines.append(
                f"max |err| {details['max_abs_err']:.6g}, max rel err {details['max_rel_err']:.6g}, max ULP distance {details['max_ulp']}"
            )
        lines.append("first mismatching rows:")
        lines.append(table([{"key": e["key"], "legacy": e["legacy"], "new": e["new"], "raw": _raw_text(e.get("raw"))} for e in examples], ["key", "legacy", "new", "raw"]))
        message = "\n".join(lines)
    return CheckResult(id=f"features/{name}", kind="feature", verdict=verdict, summary=summary, message=message, details=details)


def check_features(
    legacy: pd.DataFrame,
    new: pd.DataFrame,
    *,
    keys: Any,
    features: Sequence[str],
    categorical: Sequence[str] = (),
    raw: pd.DataFrame | None = None,
    max_ulp: int = 0,
    atol: float = 0.0,
) -> list[CheckResult]:
    """One `CheckResult` per feature; a feature missing on either side is a failing check naming it."""
    results = []
    cat = set(categorical)
    for name in features:
        missing = [side for side, frame in (("legacy", legacy), ("new", new)) if name not in frame.columns]
        if missing:
            results.append(
                CheckResult(
                    id=f"features/{name}",
                    kind="feature",
                    verdict=Verdict.NOT_EQUIVALENT,
                    summary=f"{name}: missing on the {' and '.join(missing)} side",
                    message=(
                        f"feature {name!r} is not produced by the {' and '.join(missing)} featurizer; "
                        f"legacy has {sorted(legacy.columns)}, new has {sorted(new.columns)}."
                    ),
                    details={"feature": name, "type": "categorical" if name in cat else "numeric", "n": 0,
                             "n_mismatch": 0, "match_rate": 0.0, "missing_on": missing, "examples": []},
                )
            )
            continue
        results.append(
            check_feature(
                name, legacy[name].to_numpy(), new[name].to_numpy(), keys=keys, categorical=name in cat,
                raw=raw, max_ulp=max_ulp, atol=atol,
            )
        )
    return results


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA:
        return None
    return value


def _raw_text(raw: dict[str, Any] | None) -> str:
    if not raw:
        return ""
    return ", ".join(f"{k}={v!r}" for k, v in raw.items())
