"""Input validation shared by the statistics modules.

Validation comes first and fails loudly: every message names the argument, what was found (with the
first offending position) and what was expected. Nothing is silently dropped, clipped or coerced; the
only conversion is to float64 / int64 arrays, which is lossless for the inputs accepted here.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import NO_VALUE, ParityInputError

__all__ = [
    "as_scores",
    "as_binary_labels",
    "as_probabilities",
    "as_weights",
    "as_groups",
    "group_codes",
    "as_nonnegative",
    "check_same_length",
    "check_alpha",
    "check_classes",
    "check_constant_within_groups",
    "input_error",
]


def input_error(name: str, reason: str, *, row: int | None = None, value: Any = NO_VALUE,
                detail: str = "") -> ParityInputError:
    """The error for argument ``name``: "name: reason; row R is V detail", each part also a field.

    Shells rebuild the message from the fields with their own names for the argument and the row
    (see `harness.errors.ParityInputError`), so nothing has to be read back out of the text.
    """
    text = f"{name}: {reason}"
    if row is not None:
        text += f"; row {row}" + ("" if value is NO_VALUE else f" is {_show(value)}")
    if detail:
        text += f" {detail}"
    return ParityInputError(text, argument=name, row=row, value=_plain(value), reason=reason,
                            detail=detail or None)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _as_1d(x: Any, name: str) -> np.ndarray:
    if x is None:
        raise input_error(name, "expected a 1-D array, got None")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise input_error(name, f"cannot be read as a 1-D array ({exc})") from exc
    if arr.ndim != 1:
        raise input_error(name, f"expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise input_error(name, "is empty; expected at least one row")
    return arr


def _show(v: Any) -> str:
    """repr of a value as the user wrote it (2, 1.6, 'a'), not numpy's np.float64(1.6)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def as_scores(x: Any, name: str) -> np.ndarray:
    """1-D, non-empty, real numbers (bool refused: True/False is not a score), finite; float64.

    Bool is refused rather than read as 0.0/1.0: a bool column is a thresholded decision, and comparing
    two of them as scores silently measures something else than the models' scores.
    """
    arr = _as_1d(x, name)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise input_error(name, f"expected real numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        i = _first_bad(bad)
        raise input_error(name, "expected finite numbers (no NaN or inf)", row=i, value=out[i],
                          detail=f"({int(bad.sum())} non-finite value(s) in all)")
    return out


def as_binary_labels(y: Any, name: str = "y_true") -> np.ndarray:
    """1-D labels that are exactly 0 or 1 (bool, int or float 0.0/1.0); returned as float64."""
    arr = _as_1d(y, name)
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise input_error(name, f"expected binary labels 0/1, got dtype {arr.dtype}")
    out = arr.astype(np.float64, copy=False)
    bad = ~((out == 0.0) | (out == 1.0))
    if bad.any():
        i = _first_bad(bad)
        raise input_error(name, "expected binary labels in {0, 1}", row=i, value=arr[i],
                          detail=f"({int(bad.sum())} row(s) outside {{0, 1}})")
    return out


def as_probabilities(p: Any, name: str = "y_prob") -> tuple[np.ndarray, float]:
    """Finite values in [0, 1]; returns (float64 array, eps of the input's float dtype).

    The eps is what scikit-learn's log_loss clips with: the machine epsilon of the input dtype
    (float64 for integer or float64 input, float32's for float32 input).
    """
    arr = _as_1d(p, name)
    eps = float(np.finfo(arr.dtype).eps) if np.issubdtype(arr.dtype, np.floating) else float(np.finfo(np.float64).eps)
    out = as_scores(arr, name)
    bad = (out < 0.0) | (out > 1.0)
    if bad.any():
        i = _first_bad(bad)
        raise input_error(name, "expected probabilities in [0, 1]", row=i, value=out[i],
                          detail=f"({int(bad.sum())} row(s) outside [0, 1])")
    return out, eps


def as_nonnegative(x: Any, name: str) -> np.ndarray:
    out = as_scores(x, name)
    bad = out < 0
    if bad.any():
        i = _first_bad(bad)
        raise input_error(name, "expected non-negative values", row=i, value=out[i])
    return out


def as_weights(w: Any, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """None stays None; otherwise finite, non-negative, length n, not all zero; float64."""
    if w is None:
        return None
    out = as_scores(w, name)
    if out.shape[0] != n:
        raise input_error(name, f"has {out.shape[0]} rows, expected {n} (one weight per row)")
    bad = out < 0
    if bad.any():
        i = _first_bad(bad)
        raise input_error(name, "weights must be non-negative", row=i, value=out[i],
                          detail=f"({int(bad.sum())} negative)")
    if not (out > 0).any():
        raise input_error(name, "all weights are zero; at least one row needs positive weight")
    return out


def as_groups(g: Any, n: int, name: str = "groups") -> np.ndarray:
    """Group ids (any 1-D array of hashable scalars, no NaN/None); returns dense int64 codes 0..G-1.

    Codes follow the sorted order of the distinct group ids, so they do not depend on row order.
    """
    return group_codes(g, n, name)[0]


def group_codes(g: Any, n: int, name: str = "groups") -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct ids) where distinct ids[codes] are the rows' ids (object ids compared as str)."""
    arr = _as_1d(g, name)
    if arr.shape[0] != n:
        raise input_error(name, f"has {arr.shape[0]} rows, expected {n}")
    if arr.dtype == object:
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in arr])
        if missing.any():
            i = _first_bad(missing)
            raise input_error(name, "missing group id (None/NaN)", row=i, value=arr[i])
        try:
            arr = arr.astype(str)
        except Exception as exc:
            raise input_error(name, f"group ids cannot be compared ({exc})") from exc
    elif np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = _first_bad(bad)
            raise input_error(name, "missing/non-finite group id", row=i, value=arr[i])
    if arr.dtype.kind in "iu" and arr.shape[0]:
        lo, hi = arr.min(), arr.max()
        span = int(hi) - int(lo) + 1
        if span <= 4 * arr.shape[0] + 1024:  # ids in a narrow range (dense codes): count, do not sort
            return _dense_codes(arr, lo, span)
    if arr.dtype.kind in "iuUS" and arr.shape[0] > 1:  # not floats: np.unique merges -0.0 and 0.0
        # Rows of a query group usually sit together: then only the runs' ids need sorting.
        change = arr[1:] != arr[:-1]
        if 2 * (int(np.count_nonzero(change)) + 1) <= arr.shape[0]:
            starts = np.concatenate(([0], np.flatnonzero(change) + 1))
            uniques, run_codes = np.unique(arr[starts], return_inverse=True)
            lengths = np.diff(np.append(starts, arr.shape[0]))
            return np.repeat(run_codes.reshape(-1).astype(np.int64, copy=False), lengths), uniques
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64, copy=False).reshape(-1), uniques


def _dense_codes(arr: np.ndarray, lo: Any, span: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(arr, return_inverse=True) for integers within [lo, lo + span), in O(n + span): which
    values occur, their sorted list, and each row's index in it. Written here because np.unique sorts
    the rows (n log n): ~80 ms for a 1.3M-row query-group column, asked for by every ranking cell."""
    # arr - lo is in [0, span) but wraps in a narrow signed dtype (int8: 89 - (-59)); as the unsigned
    # integer of the same width it is exact
    offset = (arr - lo).view(f"u{arr.dtype.itemsize}").astype(np.intp)
    present = np.zeros(span, dtype=bool)
    present[offset] = True
    values = np.flatnonzero(present)
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[offset], (values.astype(arr.dtype) + lo).astype(arr.dtype, copy=False)


def check_same_length(**arrays: np.ndarray) -> int:
    """All arrays have the same length; returns it. Names in the message are the keyword names."""
    lengths = {k: int(v.shape[0]) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ParityInputError(f"length mismatch: {desc}; every array needs one entry per row",
                               argument=list(lengths)[-1], reason="length mismatch")
    return next(iter(lengths.values()))


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise input_error(name, f"expected a number in (0, 1), got {alpha!r}") from exc
    if not (0.0 < a < 1.0):
        raise input_error(name, f"expected a number in (0, 1), got {alpha!r}")
    return a


def check_classes(y: np.ndarray, name: str, *, min_pos: int, min_neg: int, why: str, detail: str = "") -> None:
    """Binary labels ``y`` (0.0/1.0) hold at least ``min_pos`` positives and ``min_neg`` negatives.

    The message is "<name>: <why> (got P positive, N negative) <detail>", worded as the metric's own
    (e.g. "DeLong needs at least 2 positives and 2 negatives").
    """
    n_pos = int(np.count_nonzero(y == 1.0))
    n_neg = int(y.shape[0]) - n_pos
    if n_pos < min_pos or n_neg < min_neg:
        raise input_error(name, f"{why} (got {n_pos} positive, {n_neg} negative)", detail=detail)


def check_constant_within_groups(w: np.ndarray, codes: np.ndarray, name: str = "sample_weight") -> None:
    """Per-group weights (ranking metrics): every row of a group carries its group's first weight."""
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    first_pos = np.searchsorted(sc, sc, side="left")
    first = w[order][first_pos]
    bad = w[order] != first
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        row = int(order[j])
        raise input_error(name, "ranking weights are per query group and must be constant within a group",
                          row=row, value=w[row], detail=f"but its group's first row has {_show(first[j])}")
