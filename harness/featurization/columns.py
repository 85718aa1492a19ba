"""``Columns``: the identity featurizer (plain numeric columns, as they are), for sides of either
platform whose featurization is "take these columns" (``legacy_adapter.adapters.SklearnSide``,
``new_platform.sides.KerasSide``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.errors import ParityInputError

__all__ = ["Columns"]


class Columns:
    """The identity featurizer: ``transform(frame)`` is ``frame[columns]`` as float64, in that order.
    A missing or non-numeric column is an error naming it (nothing is coerced); ``who`` starts the
    messages (the side using it)."""

    def __init__(self, columns: Sequence[str], *, who: str = "Columns"):
        if not columns or not all(isinstance(c, str) for c in columns):
            raise ParityInputError(f"{who}: columns must be a non-empty list of column names, got {columns!r}")
        self.columns = list(columns)
        self.who = who

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ParityInputError(f"{self.who}: the batch has no column(s) {missing}; "
                                   f"it has {sorted(map(str, frame.columns))}")
        bad = [c for c in self.columns if frame[c].dtype.kind not in "fiub"]
        if bad:
            raise ParityInputError(f"{self.who}: column(s) {bad} are not numeric "
                                   f"(dtypes {[str(frame[c].dtype) for c in bad]})")
        return frame[self.columns].astype(np.float64)
