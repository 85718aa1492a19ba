"""The legacy models: scikit-learn on the legacy features, wrapped as `harness.protocol.ModelSide`s.

* `LegacyLogisticRegression`: L2 logistic regression (lbfgs, tight tolerance) on a sparse design matrix:
  the one-hot of every id feature (its full cardinality, so the Keras side's Embedding(cardinality, 1)
  holds exactly the same weights) followed by the numeric features standardized with the training
  means/stds. The standardization is stored in the model and exposed (`standardization`) for the
  Keras side, which must apply the very same affine map (`Standardization` and `spec_summary` live in
  `harness.featurization.standardization`, shared by both platforms, and are re-exported here).
* `LegacyHistGradientBoosting`: HistGradientBoostingClassifier on the featurized frame, ids with at
  most 255 values declared categorical (HGB's limit), the high-cardinality hashes kept ordinal.

scikit-learn is imported inside the methods: importing this module stays cheap.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError
from harness.featurization.spec import FeatureSpec
from harness.featurization.standardization import Standardization, spec_summary
from harness.results import jsonable
from legacy_adapter.featurizer import LegacyFeaturizer

__all__ = [
    "Standardization",
    "LegacyLogisticRegression",
    "LegacyHistGradientBoosting",
    "design_matrix",
    "spec_summary",
    "HGB_MAX_CATEGORICAL_CARDINALITY",
]

# HistGradientBoosting bins categorical values into at most max_bins (255) bins.
HGB_MAX_CATEGORICAL_CARDINALITY = 255


def _ids(features: pd.DataFrame, name: str, cardinality: int) -> np.ndarray:
    ids = features[name].to_numpy()
    if not np.issubdtype(ids.dtype, np.integer):
        raise ParityInputError(f"feature {name!r} must hold integer ids, got dtype {ids.dtype}")
    bad = np.flatnonzero((ids < 0) | (ids >= cardinality))
    if bad.size:
        raise ParityInputError(
            f"feature {name!r}: id {int(ids[bad[0]])} at row {int(bad[0])} is outside [0, {cardinality}) "
            "(the spec's cardinality); the featurizer and the spec disagree"
        )
    return ids.astype(np.int64)


def design_matrix(features: pd.DataFrame, spec: FeatureSpec, standardization: Standardization):
    """The LR design matrix (scipy.sparse CSR, float64): one-hot blocks of the categorical features in
    ``spec.categorical_features`` order, each ``spec.cardinality(name)`` wide, then the standardized
    numeric features in ``standardization.features`` order."""
    import scipy.sparse as sp

    n = len(features)
    cats = list(spec.categorical_features)
    offsets = np.cumsum([0] + [spec.cardinality(c) for c in cats])
    n_num = len(standardization.features)
    width = len(cats) + n_num
    cols = np.empty((n, width), dtype=np.int64)
    data = np.empty((n, width), dtype=np.float64)
    for j, name in enumerate(cats):
        cols[:, j] = offsets[j] + _ids(features, name, spec.cardinality(name))
        data[:, j] = 1.0
    cols[:, len(cats):] = offsets[-1] + np.arange(n_num)
    numeric = standardization.apply(features)
    bad = np.argwhere(~np.isfinite(numeric))
    if bad.size:
        # scikit-learn would refuse with "Input X contains infinity" and no hint of which feature or row.
        row, j = (int(v) for v in bad[0])
        name = standardization.features[j]
        raise ParityInputError(
            f"feature {name!r} is {float(features[name].iloc[row])!r} at row {row} ({len(bad)} non-finite value(s) in all); "
            "the logistic regression scores finite features only"
        )
    data[:, len(cats):] = numeric
    indptr = np.arange(0, n * width + 1, width, dtype=np.int64)
    return sp.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(n, int(offsets[-1]) + n_num))


def _label(frame: pd.DataFrame, label: str, who: str) -> np.ndarray:
    if label not in frame.columns:
        raise ParityInputError(f"{who}: training frame has no label column {label!r}; columns are {list(frame.columns)}")
    y = frame[label].to_numpy()
    values = set(np.unique(y).tolist()) if len(y) else set()
    if not values <= {0, 1} or len(values) != 2:
        raise ParityInputError(
            f"{who}: label {label!r} must be binary 0/1 with both classes present, found values {sorted(values)[:10]}"
        )
    return y.astype(np.int64)


class LegacyLogisticRegression:
    """The legacy CTR logistic regression as a `ModelSide` (``name``, ``fit``, ``featurize``, ``predict``,
    ``config``). sklearn minimizes ``C * sum(logloss) + ||w||^2 / 2`` with an unpenalized intercept."""

    def __init__(self, spec: FeatureSpec, *, C: float = 1.0, max_iter: int = 10_000, tol: float = 1e-10,
                 label: str = "click", name: str = "legacy_logreg"):
        if not isinstance(spec, FeatureSpec):
            raise ParityInputError(f"LegacyLogisticRegression: spec must be a FeatureSpec, got {type(spec).__name__}")
        if not (isinstance(C, (int, float)) and math.isfinite(C) and C > 0):
            raise ParityInputError(f"LegacyLogisticRegression: C must be a finite float > 0, got {C!r}")
        self.spec = spec
        self.featurizer = LegacyFeaturizer(spec)
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.label = label
        self.name = name
        self.standardization: Standardization | None = None
        self.estimator = None
        self.training_record: dict[str, Any] = {}

    def _new_estimator(self):
        from sklearn.linear_model import LogisticRegression

        # lbfgs with a tight tol: the Keras side reaches the same optimum of the same convex objective
        # only if both really get there (see new_platform.training).
        return LogisticRegression(C=self.C, solver="lbfgs", tol=self.tol, max_iter=self.max_iter)

    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names)

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(batch)

    def fit(self, train: pd.DataFrame) -> LegacyLogisticRegression:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        y = _label(train, self.label, "LegacyLogisticRegression.fit")
        features = self.featurize(train)
        self.standardization = Standardization.fit(features, self.spec.numeric_features)
        X = design_matrix(features, self.spec, self.standardization)
        estimator = self._new_estimator()
        # One thread: each lbfgs iteration is a few sparse products of ~n*15 entries, so OpenMP start-up and
        # spin-waiting dominate. Measured on the shared 2-core CI box (30k rows, 410 iterations): 76 s with
        # the default thread pools vs ~8 s with one thread. One thread also fixes the summation order.
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(X, y)
        n_iter = int(np.max(estimator.n_iter_))
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.estimator = estimator
        self.training_record = {"iterations": n_iter, "converged": converged, "n_rows": int(len(y)),
                                "solver": "lbfgs", "tol": self.tol}
        return self

    def _fitted(self):
        if self.estimator is None or self.standardization is None:
            raise ParityInputError(f"{self.name}: the model is not fitted; call fit(train) or load an export first")
        return self.estimator

    def decision_function(self, batch: pd.DataFrame) -> np.ndarray:
        estimator = self._fitted()
        return estimator.decision_function(design_matrix(self.featurize(batch), self.spec, self.standardization))

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        estimator = self._fitted()
        X = design_matrix(self.featurize(batch), self.spec, self.standardization)
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)

    def coefficients(self) -> dict[str, Any]:
        """The weights per feature: ``{"categorical": {name: array(cardinality)}, "numeric": array,
        "intercept": float}`` — the layout of the Keras logistic regression's variables."""
        estimator = self._fitted()
        coef = np.asarray(estimator.coef_, dtype=np.float64).ravel()
        out: dict[str, Any] = {"categorical": {}}
        start = 0
        for name in self.spec.categorical_features:
            width = self.spec.cardinality(name)
            out["categorical"][name] = coef[start:start + width]
            start += width
        out["numeric"] = coef[start:]
        out["intercept"] = float(np.asarray(estimator.intercept_).ravel()[0])
        return out

    @classmethod
    def from_coefficients(cls, spec: FeatureSpec, *, coef: np.ndarray, intercept: float,
                          standardization: Standardization, params: Mapping[str, Any] | None = None,
                          name: str = "legacy_logreg") -> LegacyLogisticRegression:
        """A working predictor from exported weights (see `legacy_adapter.artifacts`), with sklearn's own
        prediction code path, so predictions equal the original's bit for bit."""
        params = dict(params or {})
        model = cls(spec, C=params.get("C", 1.0), max_iter=params.get("max_iter", 10_000),
                    tol=params.get("tol", 1e-10), name=name)
        width = sum(spec.cardinality(c) for c in spec.categorical_features) + len(standardization.features)
        coef = np.asarray(coef, dtype=np.float64).reshape(1, -1)
        if coef.shape[1] != width:
            raise ParityInputError(
                f"from_coefficients: coef has {coef.shape[1]} entries but the spec and standardization need {width}"
            )
        estimator = model._new_estimator()
        estimator.coef_ = coef
        estimator.intercept_ = np.array([float(intercept)])
        estimator.classes_ = np.array([0, 1])
        estimator.n_features_in_ = width
        estimator.n_iter_ = np.array([0], dtype=np.int32)
        model.estimator = estimator
        model.standardization = standardization
        return model

    def config(self) -> dict[str, Any]:
        params = self._new_estimator().get_params() if self.estimator is None else self.estimator.get_params()
        return jsonable({"kind": "sklearn.LogisticRegression", "params": params, "spec": spec_summary(self.spec),
                         "standardization": None if self.standardization is None else self.standardization.to_dict()})


class LegacyHistGradientBoosting:
    """HistGradientBoostingClassifier on the legacy features, as a `ModelSide`."""

    def __init__(self, spec: FeatureSpec, *, random_state: int = 0, max_iter: int = 200, learning_rate: float = 0.1,
                 max_leaf_nodes: int = 31, min_samples_leaf: int = 20, l2_regularization: float = 0.0,
                 early_stopping: bool = False, label: str = "click", name: str = "legacy_hgb"):
        if not isinstance(spec, FeatureSpec):
            raise ParityInputError(f"LegacyHistGradientBoosting: spec must be a FeatureSpec, got {type(spec).__name__}")
        if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
            raise ParityInputError(
                f"LegacyHistGradientBoosting: random_state must be an int (every random choice takes a seed), "
                f"got {random_state!r}"
            )
        self.spec = spec
        self.featurizer = LegacyFeaturizer(spec)
        self.label = label
        self.name = name
        self.categorical = [c for c in spec.categorical_features
                            if spec.cardinality(c) <= HGB_MAX_CATEGORICAL_CARDINALITY]
        self.params = {"random_state": int(random_state), "max_iter": int(max_iter), "learning_rate": float(learning_rate),
                       "max_leaf_nodes": int(max_leaf_nodes), "min_samples_leaf": int(min_samples_leaf),
                       "l2_regularization": float(l2_regularization), "early_stopping": bool(early_stopping)}
        self.estimator = None

    def _new_estimator(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        names = list(self.spec.feature_names)
        mask = np.array([n in self.categorical for n in names])
        return HistGradientBoostingClassifier(categorical_features=mask, **self.params)

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        # A plain float64 array in spec order: the estimator never depends on pandas dtype inference.
        return np.column_stack([features[n].to_numpy(dtype=np.float64) for n in self.spec.feature_names])

    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names)

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(batch)

    def fit(self, train: pd.DataFrame) -> LegacyHistGradientBoosting:
        y = _label(train, self.label, "LegacyHistGradientBoosting.fit")
        self.estimator = self._new_estimator().fit(self._matrix(self.featurize(train)), y)
        return self

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        if self.estimator is None:
            raise ParityInputError(f"{self.name}: the model is not fitted; call fit(train) or load a saved model first")
        return np.asarray(self.estimator.predict_proba(self._matrix(self.featurize(batch)))[:, 1], dtype=np.float64)

    def config(self) -> dict[str, Any]:
        estimator = self.estimator if self.estimator is not None else self._new_estimator()
        params = estimator.get_params()
        params["categorical_features"] = list(self.categorical)
        return jsonable({"kind": "sklearn.HistGradientBoostingClassifier", "params": params,
                         "spec": spec_summary(self.spec)})
