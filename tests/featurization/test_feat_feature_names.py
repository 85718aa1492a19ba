"""`SklearnPipelineSide` and `KerasPreprocessingSide` name their features as ``featurize`` returns them:
the pipeline once fitted (None before: a transformer names its outputs only then), the Keras side from
its preprocessing model's outputs without exporting anything (None for a ``tf.function``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler  # noqa: E402

from harness.protocol import feature_names  # noqa: E402
from legacy_adapter.pipeline import SklearnPipelineSide  # noqa: E402
from new_platform.preprocessing import (KerasPreprocessingSide, feature_matrix,  # noqa: E402
                                        keras_preprocessing_from_column_transformer)


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.lognormal(size=n)
    device = rng.choice(["mobile", "desktop", "tablet"], size=n)
    click = (rng.random(n) < 1 / (1 + np.exp(-np.log(price)))).astype("int64")
    return pd.DataFrame({"price": price, "device": device, "click": click})


def _ct() -> ColumnTransformer:
    return ColumnTransformer([("num", StandardScaler(), ["price"]),
                              ("bins", KBinsDiscretizer(n_bins=3, encode="ordinal", strategy="uniform"), ["price"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["device"])])


def test_pipeline_side_names_its_features_once_fitted():
    train = _frame()
    side = SklearnPipelineSide("sk", _ct(), LogisticRegression(), label="click")
    assert feature_names(side) is None
    side.fit(train)
    assert feature_names(side) == list(side.featurize(train.iloc[:5]).columns)


def test_keras_preprocessing_side_names_its_outputs_without_exporting():
    train = _frame()
    legacy = SklearnPipelineSide("sk", _ct(), LogisticRegression(), label="click").fit(train)
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer)
    model = keras.Model(prep.input, keras.layers.Dense(1, activation="sigmoid")(feature_matrix(prep(prep.input))))
    side = KerasPreprocessingSide("keras", model, prep.name)
    names = feature_names(side)
    assert side._loaded is None  # nothing exported to answer
    assert names == list(side.featurize(train.iloc[:5]).columns) == feature_names(legacy)

    d = keras.Input(shape=(), name="device", dtype="string")
    onehot = keras.Model({"device": d}, {"dev": keras.layers.StringLookup(vocabulary=["a", "b"],
                                                                          output_mode="one_hot")(d)},
                         name="preprocessing")
    wide = KerasPreprocessingSide("k", keras.Model(onehot.input, keras.layers.Dense(1)(onehot(onehot.input)["dev"])),
                                  "preprocessing")
    assert feature_names(wide) == ["dev_0", "dev_1", "dev_2"] == list(wide.featurize(pd.DataFrame({"device": ["a"]})))


def test_tf_function_preprocessing_names_its_features_only_once_run():
    import tensorflow as tf

    @tf.function
    def prep(raw):
        return {"sqrt_price": tf.sqrt(raw["price"])}

    model = keras.Sequential([keras.Input((1,), dtype="float32"), keras.layers.Dense(1)])
    assert feature_names(KerasPreprocessingSide("tf", model, prep, raw_inputs={"price": "float64"})) is None
