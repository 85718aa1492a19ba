"""Raw input validation shared by both featurizers: ``clean_raw`` turns a frame's raw columns into
checked numpy arrays (and, on request, Arrow string arrays), or refuses with ``ParityInputError``
naming the column and row. Nothing is dropped, clipped or coerced.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import ParityInputError
from harness.featurization.spec import FLOAT_COLUMNS, RAW_COLUMNS, STRING_COLUMNS, _bad
from harness.featurization.strings import as_arrow_strings, first_unencodable

__all__ = ["clean_raw"]


def _arrow_backed(series: pd.Series) -> bool:
    """A pandas string column already stored as Arrow strings (every value a str or missing, valid UTF-8)."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage in ("pyarrow", "pyarrow_numpy")  # pandas 2.2 names the NaN variant pyarrow_numpy
    return isinstance(dtype, pd.ArrowDtype) and (pa.types.is_string(dtype.pyarrow_dtype)
                                                 or pa.types.is_large_string(dtype.pyarrow_dtype))


def _string_column(frame: pd.DataFrame, col: str, *, arrow: bool):
    series = frame[col]
    if _arrow_backed(series):
        # Arrow holds only str (valid UTF-8) or missing: nothing to check; only the missing become "".
        strings = as_arrow_strings(pc.fill_null(pa.array(series.array), ""))
        return strings if arrow else strings.to_numpy(zero_copy_only=False)
    values = series.to_numpy(dtype=object, na_value=None)
    missing = pd.isna(values)
    present = values[~missing]
    # Fast path, one C pass: every present value is a str. The loop below only runs to name a bad row.
    if present.size and pd.api.types.infer_dtype(present, skipna=False) != "string":
        for i, v in enumerate(values):
            if not (missing[i] or isinstance(v, str)):
                raise ParityInputError(
                    f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is a {type(v).__name__}; expected "
                    "a string or a missing value (None/NaN); numbers are not turned into strings"
                )
    out = np.where(missing, "", values).astype(object)
    # UTF-8 is what both sides hash; a lone surrogate has no UTF-8 form. Arrow's conversion encodes every
    # value in C and refuses such a string; the loop only runs then, to name the row.
    try:
        strings = as_arrow_strings(out)
    except UnicodeEncodeError:
        i, v, reason = first_unencodable(out)
        raise ParityInputError(
            f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is not encodable as UTF-8 ({reason})"
        ) from None
    return strings if arrow else out


def _float_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ParityInputError(f"column {col!r} has dtype bool; expected a float column (missing = NaN)")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = series.to_numpy(dtype=object, na_value=None)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        else:
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is a {type(v).__name__}; expected a "
                "number or a missing value (None/NaN)"
            )
    return out


def _int_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    series = frame[col]
    if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(series.dtype):
        # Whole floats (a CSV round trip makes 3 into 3.0) are the same integer, so they are accepted;
        # fractional, missing or out-of-range values are refused, never rounded.
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~(np.isfinite(x) & (x == np.floor(x)) & (x >= -(2.0**63)) & (x < 2.0**63))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {x[i]!r} is not a whole number; expected an "
                f"integer rank (positions are never imputed or rounded; {int(bad.sum())} such row(s))"
            )
        return x.astype(np.int64)
    values = series.to_numpy(dtype=object, na_value=None)
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        ok = isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
        if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
            ok = True  # a whole float is the same integer (see the float-dtype branch above)
        if ok and not -(2**63) <= int(v) < 2**63:
            ok = False
        if not ok:
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is not an int64; expected an integer "
                "rank (positions are never imputed or rounded)"
            )
        out[i] = int(v)
    return out


def clean_raw(
    frame: pd.DataFrame, *, columns: tuple[str, ...] = RAW_COLUMNS, arrow_strings: bool = False
) -> dict[str, Any]:
    """Validated raw columns as numpy arrays: strings (object, missing -> ""), float64 (missing -> NaN,
    imputed later), position int64. Raises ``ParityInputError`` naming the column and row.

    ``arrow_strings=True`` gives the string columns as Arrow ``large_string`` arrays instead, for
    vectorized string kernels (``pyarrow.compute``) that compare and transform the bytes exactly."""
    if not isinstance(frame, pd.DataFrame):
        raise _bad("frame", type(frame).__name__, "a pandas DataFrame with the raw columns")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParityInputError(
            f"frame is missing raw column(s) {missing}; the featurizer needs {list(columns)} (got {list(frame.columns)})"
        )
    if frame.columns.duplicated().any():
        raise ParityInputError(f"frame has duplicated column names {sorted(set(frame.columns[frame.columns.duplicated()]))}")
    out: dict[str, Any] = {}
    for col in columns:
        if col in STRING_COLUMNS:
            out[col] = _string_column(frame, col, arrow=arrow_strings)
        elif col in FLOAT_COLUMNS:
            out[col] = _float_column(frame, col)
        else:
            out[col] = _int_column(frame, col)
    return out


