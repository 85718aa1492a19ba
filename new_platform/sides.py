"""`KerasSide`: any Keras model over numeric columns of the raw batch, as a `harness.protocol.ModelSide`.

For migrations whose featurization is "take these numeric columns" (or already happened upstream):
the new side is then just the Keras model. Suites with real featurization use `ServingSide` over an
exported SavedModel instead, so that the featurization is part of what is compared.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError, ScorerError
from harness.featurization.columns import Columns

__all__ = ["KerasSide"]


def one_score_per_row(y: np.ndarray, output_index: int | None, who: str) -> np.ndarray:
    """A model's batch output as one float64 score per row: output ``output_index`` of a multi-output model,
    which must then name one."""
    if y.ndim == 2 and y.shape[1] > 1:
        if output_index is None:
            raise ScorerError(f"{who}: the model has {y.shape[1]} outputs per row; choose one with output_index=")
        y = y[:, output_index]
    return y.reshape(-1).astype(np.float64)


class KerasSide:
    """Scores ``model(batch[columns])`` in chunks of ``batch_size`` rows, without training mode.

    ``dtype`` is the dtype the inputs are cast to (the model's compute dtype, usually float32); the
    scores come back as float64, one per row, positionally aligned with the batch. A model with one
    output unit gives its value; with several units, ``output_index`` picks one (e.g. 1 for
    P(positive) of a two-unit softmax). TensorFlow picks its kernels by batch shape, so another
    ``batch_size`` can move a float32 score by an ULP; the same settings give the same bits.
    """

    def __init__(self, name: str, model: Any, columns: Sequence[str], *, dtype: str = "float32",
                 batch_size: int = 65536, output_index: int | None = None):
        self._columns = Columns(columns, who=f"KerasSide({name!r})")  # checks the names; featurizes
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParityInputError(f"KerasSide({name!r}): batch_size must be an int >= 1, got {batch_size!r}")
        if dtype not in ("float16", "float32", "float64"):
            raise ParityInputError(f"KerasSide({name!r}): dtype must be float16, float32 or float64, got {dtype!r}")
        self.name, self.model, self.columns = name, model, list(columns)
        self.dtype, self.batch_size, self.output_index = dtype, batch_size, output_index

    def feature_names(self) -> list[str]:
        return list(self.columns)

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        # float64 first (exact for every numeric column below 2**53), then the model's dtype
        return self._columns.transform(batch).astype(self.dtype)

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        x = self.featurize(batch).to_numpy()
        out = []
        for start in range(0, x.shape[0], self.batch_size):
            y = np.asarray(self.model(x[start: start + self.batch_size], training=False))
            out.append(one_score_per_row(y, self.output_index, f"KerasSide({self.name!r})"))
        scores = np.concatenate(out) if out else np.empty(0)
        if scores.shape[0] != x.shape[0]:
            raise ScorerError(f"KerasSide({self.name!r}): {scores.shape[0]} scores for {x.shape[0]} rows")
        return scores

    def config(self) -> dict[str, Any]:
        from harness.results import jsonable

        return {"side": "KerasSide", "columns": self.columns, "dtype": self.dtype,
                "model": jsonable(self.model.get_config())}
