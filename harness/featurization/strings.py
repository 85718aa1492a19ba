"""Exact, vectorized string handling: Arrow string arrays, factorization, validation.

pandas' object hashtable compares strings as C strings in the versions we support at the low end
(pandas 2.2.0: ``pd.factorize(["", "\\x00", "a", "a\\x00b"])`` gives codes ``[0, 0, 1, 1]``), so two
distinct values that differ after a NUL byte collapse into one — and get the same hash bucket or
vocabulary id. numpy's fixed-width ``U`` dtype drops trailing NULs too. Arrow strings carry their
length and Arrow's kernels (``dictionary_encode``, ``index_in``, ...) compare the bytes, so every string
grouping both featurizers need goes through Arrow, in C, the same on every pandas version.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["STRING_TYPE", "as_arrow_strings", "factorize_exact", "first_unencodable"]

# 64-bit offsets: a column of more than 2 GiB of text stays one array.
STRING_TYPE = pa.large_string()


def first_unencodable(values: Sequence[Any]) -> tuple[int, str, str] | None:
    """``(row, value, reason)`` of the first ``str`` without a UTF-8 form (a lone surrogate), else None.

    The slow loop that names the row; it only runs after the vectorized conversion refused the column.
    """
    for i, v in enumerate(values):
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                return i, v, exc.reason
    return None


def as_arrow_strings(values: Any) -> pa.Array:
    """``values`` (str items, no missing ones) as one Arrow ``large_string`` array, converted in C.

    Raises ``UnicodeEncodeError`` for a str with no UTF-8 form and ``pyarrow.ArrowException`` (or
    ``TypeError``) for a non-str item; callers validate first and use ``first_unencodable`` to name the row.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == STRING_TYPE else values.cast(STRING_TYPE)
    return pa.array(values, type=STRING_TYPE)


def factorize_exact(values: Any) -> tuple[np.ndarray, list[Any]]:
    """Each value's index into the distinct values (first-seen order, as int64), and those values.

    Strings compare exactly (NUL bytes included; see the module docstring). The distinct values come back
    as ``str``; use ``pyarrow.compute.dictionary_encode`` directly to keep them in Arrow.
    """
    encoded = pc.dictionary_encode(as_arrow_strings(values))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary.to_pylist()
