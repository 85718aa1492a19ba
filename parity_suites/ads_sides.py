"""The trained sides of the ads suites (ctr_hgb_widedeep, ads_ranking, bid_regression), each through the
side cache (`harness.cache.cached_side`): trained once per key, reloaded after.

A side's key: this file and every project module its training runs (`CODE`), the train split's sha256, its
configuration below, and the versions of the packages that compute it. Two suites that ask for the same
side with the same configuration (the click ranking suite and the click suite) share one entry, so a
``pytest parity_suites`` run trains it once.

Artifacts: scikit-learn models through skops with an explicit list of allowed types (nothing is
unpickled), TF models as the exported SavedModel the suite scores through (`new_platform.export`), so the
new side is always served through its signature, trained now or reloaded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.cache import cached_side, data_key, module_files

DATASET = "ads_ctr_large"
# Hash spaces as in the ctr_logreg suite (27k shops seen in train), keeping the models small.
SPEC_OPTIONS = {"shop_buckets": 4096, "cross_buckets": 1024, "query_buckets": 1024}

# Both click models, configured once; a side's key holds its configuration, so an edit here retrains it.
HGB_CLICK = {"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
             "l2_regularization": 0.0, "random_state": 0}
WIDE_DEEP_CLICK = {"hidden_units": [32, 16], "embedding_dims": 4, "epochs": 1, "batch_size": 1024,
                   "learning_rate": 0.003, "seed": 0}
HGB_BID = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "random_state": 0}
KERAS_BID = {"hidden_units": [32, 16], "embedding_dim": 4, "epochs": 2, "batch_size": 1024, "learning_rate": 0.003,
             "seed": 0}

SKLEARN_PACKAGES = ["scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "skops"]
TF_PACKAGES = ["tensorflow", "keras", "numpy", "pandas", "pyarrow"]
_FEATURIZATION = ["harness.featurization.spec", "harness.featurization.fit", "harness.featurization.standardization"]
CODE_LEGACY = [Path(__file__), *module_files(*_FEATURIZATION, "legacy_adapter.featurizer", "legacy_adapter.models",
                                             "legacy_adapter.artifacts")]
CODE_NEW = [Path(__file__), *module_files(*_FEATURIZATION, "new_platform.featurizer", "new_platform.models",
                                          "new_platform.training", "new_platform.retrained", "new_platform.export",
                                          "new_platform.serving")]

# skops: what a fitted HistGradientBoostingRegressor holds beyond skops' default-trusted types (checked
# with skops.io.get_untrusted_types on scikit-learn 1.9 / skops 0.16): scikit-learn's own classes only.
HGB_REGRESSOR_TRUSTED = (
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.utils.validation.check_array",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfSquaredError",
    "_loss.CyHalfSquaredError",
    "sklearn.compose._column_transformer._RemainderColsList",
)


def spec_for(dataset: Any) -> Any:
    from harness.featurization.fit import fit_spec

    return fit_spec(dataset.frame("train"), **SPEC_OPTIONS)


def _train_key(dataset: Any) -> dict[str, str]:
    return data_key(dataset, ["train"])


# --- clicks -------------------------------------------------------------------------------------------

def legacy_click_side(dataset: Any) -> Any:
    """LegacyHistGradientBoosting on the legacy (pandas) features, fitted on the train split."""
    from legacy_adapter.artifacts import load_hgb_skops, save_hgb_skops
    from legacy_adapter.models import LegacyHistGradientBoosting

    def build(folder: Path) -> None:
        model = LegacyHistGradientBoosting(spec_for(dataset), label="click", name="legacy_hgb", **HGB_CLICK)
        save_hgb_skops(model.fit(dataset.frame("train")), folder / "hgb.skops")

    def load(folder: Path) -> Any:
        return load_hgb_skops(folder / "hgb.skops")

    return cached_side("legacy_hgb_click", build, load, code=CODE_LEGACY, data=_train_key(dataset),
                       config={"dataset": dataset.name, "spec": SPEC_OPTIONS, "model": HGB_CLICK},
                       packages=SKLEARN_PACKAGES)


def _keras_side(dataset: Any, side: str, cfg: dict[str, Any], train: Any, *, name: str) -> Any:
    """A Keras side on the TF features: seeded (``cfg["seed"]``), built and fitted by ``train(spec, frame,
    features, standardization) -> (model, metadata)`` on the train split, exported with that metadata and
    served through the SavedModel, trained now or reloaded."""
    from new_platform.serving import ServingSide

    spec = spec_for(dataset)

    def build(folder: Path) -> None:
        from harness.featurization.standardization import Standardization
        from new_platform.export import export_model
        from new_platform.featurizer import TFFeaturizer
        from new_platform.training import set_determinism

        frame = dataset.frame("train")
        featurizer = TFFeaturizer(spec)
        features = featurizer.transform(frame)
        set_determinism(cfg["seed"])
        model, metadata = train(spec, frame, features, Standardization.fit(features, spec.numeric_features))
        export_model(featurizer, model, folder / "saved_model", metadata=metadata)

    def load(folder: Path) -> Any:
        return ServingSide(folder / "saved_model", spec, name=name)

    return cached_side(side, build, load, code=CODE_NEW, data=_train_key(dataset),
                       config={"dataset": dataset.name, "spec": SPEC_OPTIONS, "model": cfg}, packages=TF_PACKAGES)


def _fit_wide_deep_click(spec: Any, train: Any, features: Any, standardization: Any) -> tuple[Any, dict[str, Any]]:
    import numpy as np

    from new_platform.models import wide_and_deep
    from new_platform.retrained import match_base_rate, prior_bias
    from new_platform.training import fit_wide_and_deep

    cfg = WIDE_DEEP_CLICK
    model = wide_and_deep(spec, standardization, hidden_units=tuple(cfg["hidden_units"]),
                          embedding_dims=cfg["embedding_dims"], seed=cfg["seed"])
    rate = float(train["click"].mean())
    prior_bias(model, "wide_numeric", float(np.log(rate / (1 - rate))))
    record = fit_wide_and_deep(model, features, train["click"].to_numpy(), spec=spec, epochs=cfg["epochs"],
                               batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"], seed=cfg["seed"])
    shift = match_base_rate(model, features, train["click"].to_numpy(), spec=spec, layer="wide_device_id",
                            by="device_id")
    return model, {"training": record.to_dict(), "base_rate_logit_shift": shift}


def new_click_side(dataset: Any) -> Any:
    """Keras wide & deep on the TF features (prior bias; after training, the logit shifted so the mean
    prediction on train equals the train click rate), exported; served through the SavedModel."""
    return _keras_side(dataset, "keras_wide_deep_click", WIDE_DEEP_CLICK, _fit_wide_deep_click,
                       name="keras_wide_deep_savedmodel")


# --- bids ---------------------------------------------------------------------------------------------

class LegacyBidRegressor:
    """The legacy bid model: HistGradientBoostingRegressor (squared error) on the legacy features, ids of at
    most 255 values categorical (HGB's limit), as a `harness.protocol.ModelSide`."""

    def __init__(self, spec: Any, estimator: Any = None, *, params: dict[str, Any] | None = None,
                 name: str = "legacy_hgb_bid"):
        from legacy_adapter.featurizer import LegacyFeaturizer
        from legacy_adapter.models import HGB_MAX_CATEGORICAL_CARDINALITY

        self.spec, self.estimator, self.name = spec, estimator, name
        self.params = dict(params or HGB_BID)
        self.featurizer = LegacyFeaturizer(spec)
        self.categorical = [c for c in spec.categorical_features
                            if spec.cardinality(c) <= HGB_MAX_CATEGORICAL_CARDINALITY]

    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names)

    def featurize(self, batch: Any) -> Any:
        return self.featurizer.transform(batch)

    def _matrix(self, features: Any) -> Any:
        import numpy as np

        return np.column_stack([features[n].to_numpy(dtype=np.float64) for n in self.spec.feature_names])

    def fit(self, train: Any) -> LegacyBidRegressor:
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingRegressor

        mask = np.array([n in self.categorical for n in self.spec.feature_names])
        self.estimator = HistGradientBoostingRegressor(categorical_features=mask, early_stopping=False, **self.params)
        self.estimator.fit(self._matrix(self.featurize(train)), train["bid"].to_numpy(dtype=np.float64))
        return self

    def predict(self, batch: Any) -> Any:
        import numpy as np

        return np.asarray(self.estimator.predict(self._matrix(self.featurize(batch))), dtype=np.float64)

    def config(self) -> dict[str, Any]:
        from harness.featurization.standardization import spec_summary
        from harness.results import jsonable

        params = self.estimator.get_params()
        params["categorical_features"] = list(self.categorical)
        return jsonable({"kind": "sklearn.HistGradientBoostingRegressor", "params": params,
                         "spec": spec_summary(self.spec)})


def legacy_bid_side(dataset: Any) -> Any:
    spec = spec_for(dataset)

    def build(folder: Path) -> None:
        import skops.io

        model = LegacyBidRegressor(spec).fit(dataset.frame("train"))
        skops.io.dump({"estimator": model.estimator, "spec": json.dumps(spec.to_dict())}, str(folder / "hgb_bid.skops"))

    def load(folder: Path) -> Any:
        import skops.io

        from harness.errors import ParityInputError

        path = str(folder / "hgb_bid.skops")
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = sorted(set(untrusted) - set(HGB_REGRESSOR_TRUSTED))
        if refused:
            raise ParityInputError(f"{path}: types outside the trusted list {refused}; not loaded")
        doc = skops.io.load(path, trusted=sorted(set(untrusted)))
        if json.loads(doc["spec"]) != spec.to_dict():
            raise ParityInputError(f"{path}: the stored spec differs from this dataset's")
        return LegacyBidRegressor(spec, doc["estimator"])

    return cached_side("legacy_hgb_bid", build, load, code=CODE_LEGACY, data=_train_key(dataset),
                       config={"dataset": dataset.name, "spec": SPEC_OPTIONS, "model": HGB_BID},
                       packages=SKLEARN_PACKAGES)


def _fit_bid(spec: Any, train: Any, features: Any, standardization: Any) -> tuple[Any, dict[str, Any]]:
    import keras

    from new_platform.retrained import deep_regressor, fit_keras, prior_bias

    cfg = KERAS_BID
    model = deep_regressor(spec, standardization, hidden_units=tuple(cfg["hidden_units"]),
                           embedding_dim=cfg["embedding_dim"], seed=cfg["seed"])
    prior_bias(model, "output", float(train["bid"].mean()))
    record = fit_keras(model, features, train["bid"].to_numpy(), spec=spec, loss=keras.losses.MeanSquaredError(),
                       epochs=cfg["epochs"], batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
                       seed=cfg["seed"])
    return model, {"training": record.to_dict()}


def new_bid_side(dataset: Any) -> Any:
    """Keras MLP regressor (squared error, prior bias = the mean bid), exported and served."""
    return _keras_side(dataset, "keras_bid", KERAS_BID, _fit_bid, name="keras_bid_savedmodel")
