"""`SklearnPipelineSide`: a legacy side from any scikit-learn `Pipeline` or `ColumnTransformer`.

The features are the transformer's own named outputs (``get_feature_names_out``), so no featurizer
is written twice: what the harness compares is what scikit-learn computes. Sparse outputs (one-hot
encoders, hashers) are densified per batch, which the runner keeps bounded by the suite's batch size.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError

__all__ = ["SklearnPipelineSide"]


class SklearnPipelineSide:
    """``pipeline`` is either a `Pipeline` whose last step is the estimator (the steps before it are
    the featurization), or a transformer (e.g. a `ColumnTransformer`) with ``estimator`` given apart.

    ``featurize(batch)`` is the featurization's output as a DataFrame named by ``get_feature_names_out``
    (dtypes as scikit-learn returns them); ``predict(batch)`` scores the raw batch through the whole
    pipeline: P(positive class) when ``proba`` (last column of ``predict_proba``), else ``predict``.
    ``inputs`` are the raw columns handed to the pipeline (default: every column but ``label``), so a
    ``remainder="passthrough"`` cannot pick up the label. ``fit(train)`` refits it all (needs ``label``).
    """

    def __init__(self, name: str, pipeline: Any, estimator: Any | None = None, *, label: str | None = None,
                 proba: bool = True, inputs: Sequence[str] | None = None):
        from sklearn.pipeline import Pipeline

        who = f"SklearnPipelineSide({name!r})"
        if estimator is None:
            if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
                raise ParityInputError(
                    f"{who}: pipeline must be a Pipeline of featurization steps ending in an estimator, or a "
                    f"transformer with estimator=... given apart; got {type(pipeline).__name__}")
            self.featurizer, self.estimator, self.pipeline = pipeline[:-1], pipeline[-1], pipeline
        else:
            if not hasattr(pipeline, "transform"):
                raise ParityInputError(f"{who}: pipeline must have transform() when estimator is given, "
                                       f"got {type(pipeline).__name__}")
            self.featurizer, self.estimator = pipeline, estimator
            self.pipeline = Pipeline([("features", pipeline), ("model", estimator)])
        from legacy_adapter.adapters import check_scoring_method

        check_scoring_method(who, self.estimator, proba)
        if inputs is not None and (isinstance(inputs, str) or not all(isinstance(c, str) for c in inputs)):
            raise ParityInputError(f"{who}: inputs must be a list of column names, got {inputs!r}")
        self.name, self.label, self.proba, self.who = name, label, proba, who
        self.inputs = list(inputs) if inputs is not None else None

    def _x(self, batch: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(batch, pd.DataFrame):
            raise ParityInputError(f"{self.who}: batch must be a pandas DataFrame, got {type(batch).__name__}")
        if self.inputs is None:
            return batch.drop(columns=[self.label]) if self.label in batch.columns else batch
        missing = [c for c in self.inputs if c not in batch.columns]
        if missing:
            raise ParityInputError(f"{self.who}: the batch has no column(s) {missing}; it has {sorted(batch.columns)}")
        return batch[self.inputs]

    def feature_names(self) -> list[str] | None:
        """``get_feature_names_out()`` of the featurization; None while it is not fitted (a transformer
        names its outputs once fitted: the runner then checks the suite's features right after fit)."""
        from sklearn.exceptions import NotFittedError

        try:
            names = [str(n) for n in self.featurizer.get_feature_names_out()]
        except NotFittedError:
            return None
        except (AttributeError, NotImplementedError, ValueError) as exc:
            raise ParityInputError(
                f"{self.who}: the featurization cannot name its outputs (get_feature_names_out: {exc}); every "
                "step must support it (wrap a FeatureHasher or FunctionTransformer so that it names its columns, "
                "e.g. FunctionTransformer(feature_names_out=...))") from exc
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ParityInputError(f"{self.who}: the featurization names several outputs {repeated}; "
                                   "feature names must be unique")
        return names

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = self.featurizer.transform(self._x(batch))  # an unfitted featurizer raises here
        names = self.feature_names()
        if isinstance(out, pd.DataFrame):  # set_output(transform="pandas")
            return out.set_axis(names, axis=1).reset_index(drop=True)
        if hasattr(out, "toarray"):  # scipy.sparse
            out = out.toarray()
        out = np.asarray(out)
        if out.ndim != 2 or out.shape != (len(batch), len(names)):
            raise ParityInputError(f"{self.who}: the featurization returned shape {out.shape} for {len(batch)} rows "
                                   f"and {len(names)} named outputs")
        return pd.DataFrame(out, columns=names)

    def fit(self, train: pd.DataFrame) -> SklearnPipelineSide:
        if self.label is None:
            raise ParityInputError(f"{self.who}: fit needs label=... (the label column)")
        if self.label not in train.columns:
            raise ParityInputError(f"{self.who}: training frame has no label column {self.label!r}")
        self.pipeline.fit(self._x(train), train[self.label].to_numpy())
        return self

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        x = self._x(batch)
        if self.proba:
            return np.asarray(self.pipeline.predict_proba(x)[:, -1], dtype=np.float64)
        return np.asarray(self.pipeline.predict(x), dtype=np.float64)

    def config(self) -> dict[str, Any]:
        from harness.results import jsonable

        params = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                  for k, v in self.pipeline.get_params(deep=True).items()}
        return jsonable({"kind": "sklearn_pipeline", "steps": [type(s).__qualname__ for _, s in self.pipeline.steps],
                         "params": params, "proba": self.proba, "inputs": self.inputs})
