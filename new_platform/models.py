"""Keras 3 models on the TF features (``new_platform.featurizer.TFFeaturizer`` output).

* `keras_logistic_regression`: the legacy logistic regression as a Keras model, in float64. Per id
  feature an ``Embedding(cardinality, 1)`` — a one-hot row times a weight vector is a lookup — plus a
  ``Dense(1)`` over the standardized numerics, summed with one bias, then a sigmoid. Its variables map
  one to one onto sklearn's ``coef_``/``intercept_`` (see ``LegacyLogisticRegression.coefficients``).
  float64 because both sides must reach the same optimum of the same objective to ~1e-7; float32
  logits alone would round at ~1e-7 relative.
* `wide_and_deep`: the wide part (the same linear terms, the category x device cross included, as that
  cross is one of the id features) plus a deep part (embeddings + numerics -> MLP), logits summed.

Every model has a layer named ``"logit"`` (the pre-sigmoid output) so training can optimise the
numerically stable ``sigmoid_cross_entropy_with_logits``; the model output is the probability, shape (n,).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from harness.errors import ParityInputError
from harness.featurization.spec import FeatureSpec
from harness.featurization.standardization import Standardization

__all__ = [
    "LOGIT_LAYER",
    "Standardize",
    "default_embedding_dim",
    "keras_logistic_regression",
    "logit_model",
    "lr_variables",
    "wide_and_deep",
]

LOGIT_LAYER = "logit"


@keras.saving.register_keras_serializable(package="parity")
class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` with fixed constants: the same two IEEE operations as the legacy side's numpy,
    so the standardized values agree bit for bit (keras' Normalization divides by sqrt(variance), which
    does not round-trip std exactly)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], **kwargs: Any):
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def call(self, x):
        mean = keras.ops.convert_to_tensor(np.asarray(self.mean), dtype=self.compute_dtype)
        std = keras.ops.convert_to_tensor(np.asarray(self.std), dtype=self.compute_dtype)
        return (keras.ops.cast(x, self.compute_dtype) - mean) / std

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def _check_seed_and_units(who: str, seed: Any, hidden_units: Sequence[Any]) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParityInputError(f"{who}: seed must be an int, got {seed!r}")
    if not hidden_units or any(isinstance(u, bool) or not isinstance(u, (int, np.integer)) or u < 1
                               for u in hidden_units):
        raise ParityInputError(f"{who}: hidden_units must be positive ints, got {hidden_units!r}")


def _standardization(standardization: Any, spec: FeatureSpec) -> Standardization:
    if isinstance(standardization, Mapping):
        standardization = Standardization.from_dict(standardization)
    if not isinstance(standardization, Standardization):
        raise ParityInputError(
            f"standardization must be a Standardization or its to_dict(), got {type(standardization).__name__}"
        )
    if tuple(standardization.features) != tuple(spec.numeric_features):
        raise ParityInputError(
            f"standardization covers {list(standardization.features)} but the spec's numeric features are "
            f"{list(spec.numeric_features)}"
        )
    if not standardization.features:
        raise ParityInputError("the spec has no numeric feature; these models expect at least one")
    return standardization


def _inputs(spec: FeatureSpec) -> dict[str, Any]:
    inputs = {}
    for name in spec.feature_names:
        dtype = "float64" if name in spec.numeric_features else "int64"
        inputs[name] = keras.Input(shape=(), dtype=dtype, name=name)
    return inputs


def _numeric_block(inputs: Mapping[str, Any], spec: FeatureSpec, std: Standardization):
    stacked = keras.ops.stack([inputs[name] for name in spec.numeric_features], axis=-1)
    return Standardize(std.mean, std.std, dtype="float64", name="standardize")(stacked)


def _wide_logit(inputs: Mapping[str, Any], spec: FeatureSpec, numeric, *, dtype: str, prefix: str):
    terms = [
        keras.layers.Embedding(spec.cardinality(name), 1, embeddings_initializer="zeros", dtype=dtype,
                               name=f"{prefix}{name}")(inputs[name])
        for name in spec.categorical_features
    ]
    # The bias lives here: one intercept, unpenalized, like sklearn's intercept_.
    terms.append(keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros", dtype=dtype,
                                    name=f"{prefix}numeric")(numeric))
    return keras.layers.Add(dtype=dtype, name=f"{prefix}sum")(terms)


def _head(logit_2d, *, dtype: str):
    logit = keras.layers.Reshape((), dtype=dtype, name=LOGIT_LAYER)(logit_2d)
    return keras.layers.Activation("sigmoid", dtype=dtype, name="probability")(logit)


def keras_logistic_regression(spec: FeatureSpec, standardization: Any, *, name: str = "keras_logreg") -> keras.Model:
    """The legacy LR as a float64 Keras model over ``spec.feature_names`` (dict inputs); zero-initialised
    (the objective is convex, so the start does not matter, and zeros make it reproducible by construction)."""
    if not isinstance(spec, FeatureSpec):
        raise ParityInputError(f"keras_logistic_regression: spec must be a FeatureSpec, got {type(spec).__name__}")
    std = _standardization(standardization, spec)
    inputs = _inputs(spec)
    numeric = _numeric_block(inputs, spec, std)
    logit = _wide_logit(inputs, spec, numeric, dtype="float64", prefix="lr_")
    return keras.Model(inputs=inputs, outputs=_head(logit, dtype="float64"), name=name)


def default_embedding_dim(cardinality: int) -> int:
    """The usual rule of thumb ~6 * cardinality^(1/4), between 2 and 16."""
    return int(min(16, max(2, round(6 * cardinality ** 0.25))))


def wide_and_deep(spec: FeatureSpec, standardization: Any, *, hidden_units: Sequence[int] = (64, 32),
                  embedding_dims: Mapping[str, int] | int | None = None, seed: int = 0,
                  name: str = "wide_and_deep") -> keras.Model:
    """Wide (linear terms incl. the cross) + deep (embeddings and numerics -> ReLU MLP) in float32, with
    every initializer seeded from ``seed`` (the model is reproducible without global seeding too)."""
    if not isinstance(spec, FeatureSpec):
        raise ParityInputError(f"wide_and_deep: spec must be a FeatureSpec, got {type(spec).__name__}")
    _check_seed_and_units("wide_and_deep", seed, hidden_units)
    std = _standardization(standardization, spec)
    inputs = _inputs(spec)
    numeric = _numeric_block(inputs, spec, std)
    wide = _wide_logit(inputs, spec, numeric, dtype="float32", prefix="wide_")

    def dim(feature: str) -> int:
        if isinstance(embedding_dims, int):
            return embedding_dims
        if isinstance(embedding_dims, Mapping) and feature in embedding_dims:
            return int(embedding_dims[feature])
        return default_embedding_dim(spec.cardinality(feature))

    seeds = iter(range(int(seed) * 1000, int(seed) * 1000 + 1000))
    deep_parts = [keras.layers.Flatten(name=f"deep_flat_{f}")(
        keras.layers.Embedding(spec.cardinality(f), dim(f), name=f"deep_{f}",
                               embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=next(seeds)))(
            inputs[f]))
        for f in spec.categorical_features]
    deep_parts.append(keras.layers.Activation("linear", dtype="float32", name="deep_numeric")(numeric))
    x = keras.layers.Concatenate(name="deep_concat")(deep_parts)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(int(units), activation="relu", name=f"deep_dense_{i}",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
    deep = keras.layers.Dense(1, name="deep_out", kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
    logit = keras.layers.Add(name="wide_deep_sum")([wide, deep])
    return keras.Model(inputs=inputs, outputs=_head(logit, dtype="float32"), name=name)


def logit_model(model: keras.Model) -> keras.Model:
    """The same model (shared variables) with the pre-sigmoid logit as output."""
    try:
        layer = model.get_layer(LOGIT_LAYER)
    except ValueError:
        raise ParityInputError(f"model {model.name!r} has no layer named {LOGIT_LAYER!r}; build it with this module") from None
    return keras.Model(inputs=model.inputs, outputs=layer.output, name=f"{model.name}_logit")


def lr_variables(model: keras.Model, spec: FeatureSpec) -> dict[str, Any]:
    """The LR's weights in the layout of ``LegacyLogisticRegression.coefficients()`` (numpy float64)."""
    out: dict[str, Any] = {"categorical": {}}
    for name in spec.categorical_features:
        out["categorical"][name] = np.asarray(model.get_layer(f"lr_{name}").embeddings.numpy(), dtype=np.float64).ravel()
    dense = model.get_layer("lr_numeric")
    out["numeric"] = np.asarray(dense.kernel.numpy(), dtype=np.float64).ravel()
    out["intercept"] = float(np.asarray(dense.bias.numpy()).ravel()[0])
    return out

