"""Dictionary codes for a categorical column read in chunks (slice columns of a streamed run).

A slice column's values are kept as one int32 code per row instead of Python objects (a string column
read through pyarrow is an object array: ~60 bytes a row); codes are global across chunks (first seen,
first coded), and `decode` rebuilds the values for `harness.stats.compare.slice_rows`, which orders the
slices exactly as the in-memory run does. A missing value (null, NaN) is one value of its own, None.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ValueCodes"]


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
        return None if isinstance(v, float) and v != v else v
    return None if type(v).__name__ in ("NAType", "NaTType") else v


class ValueCodes:
    """``encode(values) -> int32 codes``, chunk by chunk; ``value(code)``; ``decode(codes) -> values``."""

    def __init__(self, column: str) -> None:
        self.column = column
        self._code: dict[Any, int] = {}
        self._values: list[Any] = []
        self._numeric = True

    def encode(self, values: np.ndarray) -> np.ndarray:
        import pandas as pd

        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf":
            self._numeric = False
        local, uniques = pd.factorize(arr, use_na_sentinel=False)  # C speed; few distinct values
        remap = np.empty(len(uniques), dtype=np.int32)
        for i, u in enumerate(np.asarray(uniques, dtype=object).tolist()):
            v = _plain(u)
            code = self._code.get(v)
            if code is None:
                code = self._code[v] = len(self._values)
                self._values.append(v)
            remap[i] = code
        return remap[local]

    def __len__(self) -> int:
        """How many distinct values (codes 0..len-1) have been seen."""
        return len(self._values)

    def value(self, code: int) -> Any:
        return self._values[code]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The rows' values: a float/int array for a numeric column (missing as NaN), else objects (None)."""
        if self._numeric:
            if any(v is None for v in self._values):
                table = np.array([np.nan if v is None else v for v in self._values], dtype=np.float64)
            else:
                table = np.array(self._values)
        else:
            table = np.empty(len(self._values), dtype=object)
            table[:] = self._values
        return table[codes]
