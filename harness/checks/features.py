"""Feature parity: does the TF featurization compute the same values as the legacy one, row by row?

Categorical and id features must match exactly (an id off by one is a different embedding row).
Numeric features are compared by ULP distance and absolute error: both stacks evaluate the same
formula, so they may legitimately differ in the last bit or two when a transcendental function (log1p)
comes from a different math library, but never by more than the suite's stated bound. When either
side hands over a float32 (or float16) column, ULPs are counted in that narrower dtype: one float32 ULP
is 2**29 float64 ULPs, so a float64 bound would call every correctly rounded float32 value broken.

Two featurizations may encode the same information differently (one-hot columns on one side, an index
on the other; another column name). A suite declares that pairing as a feature map (`OneHot`,
`Rename`): the mapped side's columns are converted into the compared feature before the check, and the
result records where the values came from.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.checks._format import table
from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.ulp import ulp_distance
from harness.verdicts import Verdict

__all__ = ["OneHot", "Rename", "apply_feature_map", "check_feature", "check_features", "onehot_to_index",
           "ulp_distance", "ulp_dtype"]

def ulp_dtype(legacy: Any, new: Any) -> np.dtype:
    """The dtype numeric features are compared in: the narrowest float dtype either side computed in
    (integers and booleans count as exact), float64 when neither is a narrower float."""
    dtypes = [np.asarray(side).dtype for side in (legacy, new)]
    narrow = [d for d in dtypes if d.kind == "f" and d.itemsize < 8]
    return min(narrow, key=lambda d: d.itemsize) if narrow else np.dtype(np.float64)


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
    mapped: dict[str, Any] | None = None,
) -> CheckResult:
    """Compare one feature's values from both sides, positionally aligned with ``keys``.

    A numeric row mismatches when its ULP distance exceeds ``max_ulp`` *and* its absolute error exceeds
    ``atol`` (so a value near zero, where ULPs are tiny, can be judged by ``atol``). ULPs are counted in
    `ulp_dtype` of the two columns (float32 when either side is float32); ``details["ulp_dtype"]`` says
    which. ``mapped`` (from `apply_feature_map`) records which side's columns were converted into it.
    """
    legacy_arr, new_arr, keys = np.asarray(legacy), np.asarray(new), np.asarray(keys)
    if not (len(legacy_arr) == len(new_arr) == len(keys)):
        raise ParityInputError(
            f"feature {name!r}: lengths differ (legacy {len(legacy_arr)}, new {len(new_arr)}, keys {len(keys)})"
        )
    n = len(keys)
    details: dict[str, Any] = {"feature": name, "type": "categorical" if categorical else "numeric", "n": n}
    if mapped is not None:
        details["mapped"] = mapped
    unit = ""
    if categorical:
        if legacy_arr.dtype.kind in "fiub" and new_arr.dtype.kind in "fiub":
            la, na = legacy_arr.astype(np.float64), new_arr.astype(np.float64)
            mismatch = ~((la == na) | (np.isnan(la) & np.isnan(na)))
        else:
            mismatch = np.asarray(pd.Series(legacy_arr, dtype=object).to_numpy() != pd.Series(new_arr, dtype=object).to_numpy())
        details.update(max_abs_err=None, max_rel_err=None, max_ulp=None, tolerance={"exact": True})
    else:
        la, na = _as_float(legacy_arr, "legacy", name), _as_float(new_arr, "new", name)
        dtype = ulp_dtype(legacy_arr, new_arr)
        ulps = ulp_distance(la, na, dtype=dtype)
        details["ulp_dtype"] = dtype.name
        unit = f" {dtype.name}" if dtype != np.float64 else ""
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
    tol = "exact match" if categorical else f"<= {max_ulp}{unit} ULP or |err| <= {atol:g}"
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
                f"max |err| {details['max_abs_err']:.6g}, max rel err {details['max_rel_err']:.6g}, "
                f"max ULP distance {details['max_ulp']} (in {details['ulp_dtype']} ULPs)"
            )
        lines.append("first mismatching rows:")
        lines.append(table([{"key": e["key"], "legacy": e["legacy"], "new": e["new"], "raw": _raw_text(e.get("raw"))} for e in examples], ["key", "legacy", "new", "raw"]))
        message = "\n".join(lines)
    return CheckResult(id=f"features/{name}", kind="feature", verdict=verdict, summary=summary, message=message, details=details)


Side = Literal["legacy", "new"]


@dataclass(frozen=True)
class OneHot:
    """Read one side's one-hot ``columns`` as the index feature ``feature`` (compared with the other
    side's ``feature``, e.g. OneHotEncoder's ``device_a, device_b`` vs a StringLookup index ``device``).

    A row whose hot column is ``columns[j]`` becomes ``first_index + j`` (``first_index=1`` when the
    other side keeps index 0 for out-of-vocabulary values); a row with no hot column (OneHotEncoder's
    ``handle_unknown="ignore"``) becomes ``none``; a row with several hot columns or a NaN becomes
    ``invalid``. "Hot" is any non-zero value, so FeatureHasher's ``-1`` counts too.
    """

    feature: str
    columns: Sequence[str]
    side: Side
    first_index: int = 0
    none: int = -1
    invalid: int = -2

    def convert(self, frame: pd.DataFrame) -> np.ndarray:
        return onehot_to_index(frame, self.columns, first_index=self.first_index, none=self.none,
                               invalid=self.invalid, who=repr(self))

    def describe(self) -> dict[str, Any]:
        return {"side": self.side, "encoding": "one_hot", "columns": list(self.columns),
                "first_index": self.first_index, "none": self.none, "invalid": self.invalid}


@dataclass(frozen=True)
class Rename:
    """Compare one side's ``column`` as ``feature`` (a ColumnTransformer's ``num__price`` vs ``price``)."""

    feature: str
    column: str
    side: Side

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def convert(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.column].to_numpy()

    def describe(self) -> dict[str, Any]:
        return {"side": self.side, "encoding": "rename", "columns": [self.column]}


def onehot_to_index(frame: pd.DataFrame, columns: Sequence[str], *, first_index: int = 0, none: int = -1,
                    invalid: int = -2, who: str = "onehot_to_index") -> np.ndarray:
    """The index of the hot column of each row (int64): ``first_index + j`` for ``columns[j]``, ``none``
    when no column is hot, ``invalid`` when several are or a cell is NaN."""
    bad = [c for c in columns if frame[c].dtype.kind not in "fiub"]
    if bad:
        raise ParityInputError(f"{who}: one-hot column(s) {bad} are not numeric "
                               f"(dtypes {[str(frame[c].dtype) for c in bad]})")
    values = frame[list(columns)].to_numpy(dtype=np.float64)
    hot = values != 0
    n_hot = hot.sum(axis=1)
    index = np.where(n_hot == 1, first_index + hot.argmax(axis=1), none)
    index = np.where((n_hot > 1) | np.isnan(values).any(axis=1), invalid, index)
    return index.astype(np.int64)


def apply_feature_map(legacy: pd.DataFrame, new: pd.DataFrame, feature_map: Sequence[OneHot | Rename], *,
                      features: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list]]:
    """Both feature frames with every mapped feature added (converted from its side's columns), and
    per feature what it was converted from (for the check's ``details["mapped"]``).

    A declaration that cannot apply is a `ParityInputError` naming it: a side other than legacy/new, a
    feature not in ``features`` (when given), source columns the declared side's featurizer does not
    produce (then neither side produces the mapped feature), or a feature name the side already has.
    """
    frames = {"legacy": legacy.copy(), "new": new.copy()}
    origin: dict[str, list] = {}
    for entry in feature_map:
        if not isinstance(entry, (OneHot, Rename)):
            raise ParityInputError(f"feature_map: entries must be OneHot(...) or Rename(...), got {entry!r}")
        if entry.side not in frames:
            raise ParityInputError(f"feature_map {entry!r}: side must be 'legacy' or 'new', got {entry.side!r}")
        if features and entry.feature not in features:
            raise ParityInputError(f"feature_map {entry!r}: feature {entry.feature!r} is not among the compared "
                                   f"features {list(features)}")
        if not entry.columns or len(set(entry.columns)) != len(entry.columns):
            raise ParityInputError(f"feature_map {entry!r}: columns must be a non-empty list without repeats")
        frame = frames[entry.side]
        missing = [c for c in entry.columns if c not in frame.columns]
        if missing:
            raise ParityInputError(
                f"feature_map {entry!r}: the {entry.side} featurizer produces no column(s) {missing}, so "
                f"feature {entry.feature!r} is produced by neither side; {entry.side} has {sorted(frame.columns)}")
        if entry.feature in frame.columns:
            raise ParityInputError(f"feature_map {entry!r}: the {entry.side} featurizer already has a column "
                                   f"{entry.feature!r}; map to a name it does not produce")
        frames[entry.side] = frame.assign(**{entry.feature: entry.convert(frame)})
        origin.setdefault(entry.feature, []).append(entry.describe())
    return frames["legacy"], frames["new"], origin


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
    feature_map: Sequence[OneHot | Rename] = (),
) -> list[CheckResult]:
    """One `CheckResult` per feature; a feature missing on either side is a failing check naming it.

    ``feature_map`` declares features one side encodes differently (`OneHot`, `Rename`); they are
    converted by `apply_feature_map` before comparison (a mapped index is compared exactly: list it in
    ``categorical``).
    """
    origin: dict[str, list] = {}
    if feature_map:
        legacy, new, origin = apply_feature_map(legacy, new, feature_map, features=features)
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
                raw=raw, max_ulp=max_ulp, atol=atol, mapped=({"from": origin[name]} if name in origin else None),
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
