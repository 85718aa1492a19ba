"""Keras models for the retrained-pair suites, and the deterministic training loop they share.

* `prior_bias`: set a model's output bias to the label prior (the log-odds of the click rate, or the mean
  bid) before training. Adam from a zero bias spends its first epoch moving a 4 % click rate's logit from 0
  to -3.1, and a short schedule then ends miscalibrated (measured on ads_ctr: calibration ratio 1.10 after
  3 epochs from zero, 0.99 after 2 from the prior).
* `match_base_rate`: after training, shift a click model's logit (per device, through the wide part's
  device weights) so its mean predicted probability on the *train* split equals the train click rate of
  each device: the intercept correction ads pipelines apply after a short Adam schedule, which otherwise
  ends several percent off (measured on ads_ctr_large: calibration ratio 0.91 overall after 2 epochs;
  0.96 on tablet after 1). Only train rows are used; nothing of eval leaks in.
* `deep_regressor`: embeddings of the id features and the standardized numerics -> ReLU MLP -> one linear
  output, in float32, every initializer seeded (the bid model).
* `fit_keras`: seeded mini-batch Adam on any loss, written like
  `new_platform.training.fit_wide_and_deep` (one traced step, our own seeded permutation per epoch, TF op
  determinism on), for labels that are not 0/1.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ParityInputError

__all__ = ["deep_regressor", "fit_keras", "match_base_rate", "prior_bias"]


def prior_bias(model: Any, layer: str, value: float) -> None:
    """Assign ``value`` to the (single-unit) bias of ``model``'s layer ``layer``."""
    bias = model.get_layer(layer).bias
    if tuple(bias.shape) != (1,):
        raise ParityInputError(f"prior_bias: layer {layer!r} has a bias of shape {tuple(bias.shape)}, expected (1,)")
    if not math.isfinite(value):
        raise ParityInputError(f"prior_bias: value must be finite, got {value!r}")
    bias.assign(np.asarray([value], dtype=bias.dtype))


def _shift(logits: np.ndarray, rate: float) -> float:
    import scipy.optimize
    import scipy.special

    return float(scipy.optimize.brentq(lambda b: scipy.special.expit(logits + b).mean() - rate, -20.0, 20.0,
                                       xtol=1e-12))


def match_base_rate(model: Any, features: Any, y: Any, *, spec: Any, layer: str, by: str | None = None,
                    batch_size: int = 65536) -> dict[str, float]:
    """Shift the logit so that ``mean(sigmoid(logit)) == mean(y)`` over these (training) rows; returns the
    shifts. Without ``by``, one shift added to ``layer``'s (single-unit) bias. With ``by`` (an id feature),
    one shift per id, added to that id's row of ``layer`` (its ``Embedding(cardinality, 1)`` in the wide
    part): per-device calibration, since a short schedule calibrates the rare devices worst. Each shift
    solves its equation by Brent's method on the monotone mean."""
    from new_platform.models import logit_model
    from new_platform.training import features_to_arrays

    arrays = features_to_arrays(features, spec)
    labels = np.asarray(y, dtype=np.float64)
    logits_of = logit_model(model)
    n = labels.size
    logits = np.concatenate([np.asarray(logits_of({k: v[i:i + batch_size] for k, v in arrays.items()}, training=False),
                                        dtype=np.float64).ravel() for i in range(0, n, batch_size)])
    groups = {"all": np.ones(n, dtype=bool)} if by is None else {
        str(int(v)): arrays[by] == v for v in np.unique(arrays[by])}
    shifts = {}
    for name, rows in groups.items():
        rate = float(labels[rows].mean())
        if not 0.0 < rate < 1.0:
            raise ParityInputError(f"match_base_rate: {by or 'the rows'}={name} has a positive rate of {rate!r}; "
                                   "both classes are needed to solve for a shift")
        shifts[name] = _shift(logits[rows], rate)
    if by is None:
        bias = model.get_layer(layer).bias
        if tuple(bias.shape) != (1,):
            raise ParityInputError(f"match_base_rate: layer {layer!r} has a bias of shape {tuple(bias.shape)}")
        bias.assign(bias.numpy() + np.asarray([shifts["all"]], dtype=bias.dtype))
    else:
        table = model.get_layer(layer).embeddings
        values = np.array(table.numpy())
        if values.ndim != 2 or values.shape[1] != 1:
            raise ParityInputError(f"match_base_rate: layer {layer!r} is not an Embedding(cardinality, 1)")
        for name, shift in shifts.items():
            values[int(name), 0] += shift
        table.assign(values)
    return shifts


def deep_regressor(spec: Any, standardization: Any, *, hidden_units: Sequence[int] = (32, 16), embedding_dim: int = 4,
                   seed: int = 0, name: str = "deep_regressor") -> Any:
    """An MLP regressor over every feature of ``spec`` (dict inputs, as `new_platform.export` serves them):
    the output layer is ``"output"`` (linear, one unit) and the model returns shape (n,)."""
    import keras

    from new_platform.models import _check_seed_and_units, _inputs, _numeric_block, _standardization

    _check_seed_and_units("deep_regressor", seed, hidden_units)
    std = _standardization(standardization, spec)
    inputs = _inputs(spec)
    seeds = iter(range(int(seed) * 1000, int(seed) * 1000 + 1000))
    parts = [keras.layers.Flatten(name=f"flat_{f}")(
        keras.layers.Embedding(spec.cardinality(f), int(embedding_dim), name=f"emb_{f}",
                               embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=next(seeds)))(
            inputs[f]))
        for f in spec.categorical_features]
    parts.append(keras.layers.Activation("linear", dtype="float32", name="numeric")(_numeric_block(inputs, spec, std)))
    x = keras.layers.Concatenate(name="concat")(parts)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(int(units), activation="relu", name=f"dense_{i}",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
    out = keras.layers.Dense(1, name="output", kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
    return keras.Model(inputs=inputs, outputs=keras.layers.Reshape((), name="value")(out), name=name)


def fit_keras(model: Any, features: Any, y: Any, *, spec: Any, loss: Any, epochs: int, batch_size: int,
              learning_rate: float, seed: int = 0) -> Any:
    """Fit ``model`` in place with Adam on ``loss`` (a Keras loss); returns a `TrainingRecord`."""
    from new_platform.training import TrainingRecord, _check_finite, adam_epochs, features_to_arrays, set_determinism

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ParityInputError(f"fit_keras: epochs must be an int >= 1, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParityInputError(f"fit_keras: batch_size must be an int >= 1, got {batch_size!r}")
    set_determinism(seed)
    arrays = features_to_arrays(features, spec)
    _check_finite(arrays)
    n = len(next(iter(arrays.values())))
    labels = np.asarray(y, dtype=np.float32)
    if labels.shape != (n,) or not np.isfinite(labels).all():
        raise ParityInputError(f"fit_keras: labels must be {n} finite numbers (one per row), got shape {labels.shape}")
    losses = adam_epochs(model, arrays, labels, loss, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, seed=seed)
    return TrainingRecord(method="Adam (mini-batch)", seed=int(seed), iterations=epochs,
                          converged=bool(np.isfinite(losses).all()), loss=losses,
                          message=f"{epochs} epoch(s) of {math.ceil(n / batch_size)} batches",
                          options={"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                                   "loss": type(loss).__name__, "n_rows": n})
