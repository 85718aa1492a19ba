"""Seeded, deterministic training of the Keras models, with a record the upgrade gate can keep.

Logistic regression: full batch, L-BFGS (scipy) driven by TensorFlow's loss and gradient. Parity with
the legacy model requires both to sit at the *same optimum* of the *same* convex objective::

    mean(logloss) + ||w||^2 / (2 * C * n)        (intercept unpenalized)

which is sklearn's ``C * sum(logloss) + ||w||^2 / 2`` divided by ``C * n``. Adam or SGD would stop at a
point that depends on the learning rate, the batch order and the epoch count; the distance to the
optimum (optimisation noise, ~1e-3 in probability) would dwarf the ~1e-6 parity tolerance and make the
comparison test the optimiser instead of the platform. A quasi-Newton method on the full batch with a
tight gradient tolerance converges to the optimum itself, so both sides agree up to that tolerance. We
use scipy's L-BFGS-B with the same options sklearn's lbfgs solver uses (maxls=50, ftol=64*eps, gtol=tol).

Wide & deep: Adam with a fixed seed, a fixed number of epochs and a per-epoch permutation drawn from
``numpy.random.default_rng(seed)``; no parity with the legacy model is claimed, only reproducibility.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError
from harness.progress import bar as progress_bar

__all__ = [
    "TrainingRecord",
    "features_to_arrays",
    "fit_logistic_regression",
    "fit_wide_and_deep",
    "set_determinism",
    "train_ctr_logreg",
    "train_ctr_wide_and_deep",
]


@dataclass
class TrainingRecord:
    """What happened during training: the loss after each iteration (LR) or epoch (wide&deep)."""

    method: str
    seed: int
    iterations: int
    converged: bool
    loss: list[float] = field(default_factory=list)
    message: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.loss[-1] if self.loss else math.nan

    def to_dict(self) -> dict[str, Any]:
        from harness.results import jsonable

        return jsonable(asdict(self))


def set_determinism(seed: int) -> None:
    """Seed Python, numpy, TF and Keras, and make TF ops deterministic (process-wide, as TF allows)."""
    import keras
    import tensorflow as tf

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParityInputError(f"seed must be an int, got {seed!r}")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def features_to_arrays(features: Any, spec: Any) -> dict[str, np.ndarray]:
    """Model inputs from a feature DataFrame or a dict of arrays/tensors: int64 ids, float64 numerics."""
    if isinstance(features, pd.DataFrame):
        get = lambda name: features[name].to_numpy()  # noqa: E731
    elif isinstance(features, Mapping):
        get = lambda name: np.asarray(features[name])  # noqa: E731
    else:
        raise ParityInputError(f"features must be a DataFrame or a dict of arrays, got {type(features).__name__}")
    out = {}
    for name in spec.feature_names:
        try:
            values = get(name)
        except KeyError:
            raise ParityInputError(f"features lack {name!r}; the model needs {list(spec.feature_names)}") from None
        want = np.float64 if name in spec.numeric_features else np.int64
        kind_ok = np.issubdtype(values.dtype, np.floating) if want is np.float64 else np.issubdtype(values.dtype, np.integer)
        if not kind_ok:
            raise ParityInputError(f"feature {name!r} has dtype {values.dtype}; expected {np.dtype(want).name}")
        out[name] = values.astype(want, copy=False)
    return out


def _labels(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ParityInputError(f"labels must be 1-D with one entry per row ({n}), got shape {y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1} or len(values) != 2:
        raise ParityInputError(f"labels must be binary 0/1 with both classes present, found {sorted(values)[:10]}")
    return y.astype(np.float64)


def _check_finite(arrays: Mapping[str, np.ndarray]) -> None:
    for name, values in arrays.items():
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ParityInputError(f"training feature {name!r} is not finite at row {row} ({values[row]!r})")


def fit_logistic_regression(model: Any, features: Any, y: Any, *, spec: Any, C: float = 1.0, tol: float = 1e-10,
                            max_iter: int = 10_000, seed: int = 0) -> TrainingRecord:
    """Fit ``new_platform.models.keras_logistic_regression`` in place (see the module doc for why L-BFGS).

    ``tol`` is the projected-gradient tolerance on the mean-scaled objective, as sklearn's ``tol`` for lbfgs.
    """
    import scipy.optimize
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    from new_platform.models import logit_model

    if not (isinstance(C, (int, float)) and math.isfinite(C) and C > 0):
        raise ParityInputError(f"C must be a finite float > 0, got {C!r}")
    set_determinism(seed)
    arrays = features_to_arrays(features, spec)
    _check_finite(arrays)
    n = len(next(iter(arrays.values())))
    labels = tf.constant(_labels(y, n))
    inputs = {k: tf.constant(v) for k, v in arrays.items()}
    logits_of = logit_model(model)
    variables = list(model.trainable_variables)
    try:
        bias = model.get_layer("lr_numeric").bias
    except ValueError:
        raise ParityInputError(
            f"model {getattr(model, 'name', model)!r} has no 'lr_numeric' layer; build it with "
            "new_platform.models.keras_logistic_regression"
        ) from None
    penalized = [v is not bias for v in variables]
    l2 = 1.0 / (2.0 * float(C) * n)
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    splits = np.cumsum([0] + sizes)

    # One graph call per evaluation: the flat parameter vector goes in, is split and assigned inside the
    # graph, loss and flat gradient come out. (Assigning 13 variables eagerly cost more than the
    # evaluation itself: ~28 ms vs ~22-48 ms per call at 20k rows.)
    @tf.function(input_signature=[tf.TensorSpec([int(splits[-1])], tf.float64)])
    def loss_and_gradient(x):
        for v, part, shape in zip(variables, tf.split(x, sizes), shapes):
            v.assign(tf.reshape(part, shape))
        with tf.GradientTape() as tape:
            logits = logits_of(inputs, training=False)
            data = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
            penalty = tf.add_n([tf.reduce_sum(tf.square(v)) for v, p in zip(variables, penalized) if p])
            loss = data + l2 * penalty
        grads = tape.gradient(loss, variables)
        return loss, tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], axis=0)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = loss_and_gradient(tf.constant(x, dtype=tf.float64))
        return float(loss.numpy()), np.asarray(grad.numpy(), dtype=np.float64)

    losses: list[float] = []
    x0 = np.concatenate([np.asarray(v.numpy(), dtype=np.float64).ravel() for v in variables])
    options = {"maxiter": int(max_iter), "maxls": 50, "gtol": float(tol), "ftol": 64 * np.finfo(float).eps}

    bar = progress_bar("training Keras LR (L-BFGS)", unit="iteration")

    def callback(intermediate_result):  # scipy passes the OptimizeResult when the parameter has this name
        losses.append(float(intermediate_result.fun))
        bar.update(1)

    # One BLAS thread: scipy's L-BFGS-B update is a handful of BLAS-1 calls on ~1e5 floats, and threaded
    # BLAS competing with TF's own pool made each update ~0.15 s instead of milliseconds (measured, 2 cores).
    with threadpool_limits(limits=1), bar:
        result = scipy.optimize.minimize(fun, x0, method="L-BFGS-B", jac=True, options=options, callback=callback)
    loss_and_gradient(tf.constant(result.x, dtype=tf.float64))  # leave the model at the optimum
    return TrainingRecord(method="L-BFGS-B (full batch)", seed=int(seed), iterations=int(result.nit),
                          converged=bool(result.success), loss=losses, message=str(result.message),
                          options={"C": float(C), **options, "n_rows": n})


def adam_epochs(model: Any, arrays: Mapping[str, np.ndarray], labels: np.ndarray, loss: Any, *, epochs: int,
                batch_size: int, learning_rate: float, seed: int, bar: Any = None) -> list[float]:
    """Fit ``model`` in place: ``epochs`` passes of mini-batch Adam in a seeded order; the mean loss per epoch.

    A plain training step instead of model.fit (which rebuilt its input pipeline each epoch), traced
    once: the optimizer's slots are built before tracing and the batch dimension is left open, so the
    short last batch does not retrace (measured: 22 s + 8 s of tracing before, 7 s after).
    """
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)
    signature = [{k: tf.TensorSpec([None], tf.as_dtype(v.dtype)) for k, v in arrays.items()},
                 tf.TensorSpec([None], tf.float32)]

    @tf.function(input_signature=signature)
    def step(x, target):
        with tf.GradientTape() as tape:
            value = loss(target, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return value

    n = len(labels)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        # Our own seeded permutation: the batch order is reproducible and independent of Keras internals.
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            total += float(step({k: tf.constant(v[idx]) for k, v in arrays.items()}, tf.constant(labels[idx]))) * len(idx)
        losses.append(total / n)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return losses


def fit_wide_and_deep(model: Any, features: Any, y: Any, *, spec: Any, epochs: int = 3, batch_size: int = 1024,
                      learning_rate: float = 1e-3, seed: int = 0) -> TrainingRecord:
    """Fit ``new_platform.models.wide_and_deep`` in place with Adam, deterministically."""
    import keras

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ParityInputError(f"epochs must be an int >= 1, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParityInputError(f"batch_size must be an int >= 1, got {batch_size!r}")
    set_determinism(seed)
    arrays = features_to_arrays(features, spec)
    _check_finite(arrays)
    n = len(next(iter(arrays.values())))
    labels = _labels(y, n).astype(np.float32)
    losses = adam_epochs(model, arrays, labels, keras.losses.BinaryCrossentropy(), epochs=epochs,
                         batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         bar=progress_bar("training wide & deep (Adam)", total=epochs, unit="epoch"))
    return TrainingRecord(method="Adam (mini-batch)", seed=int(seed), iterations=epochs,
                          converged=bool(np.isfinite(losses).all()), loss=losses,
                          message=f"{epochs} epoch(s) of {math.ceil(n / batch_size)} batches",
                          options={"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                                   "n_rows": n})


def _train_features(train_frame: pd.DataFrame, spec: Any, label: str):
    from new_platform.featurizer import TFFeaturizer

    if not isinstance(train_frame, pd.DataFrame):
        raise ParityInputError(f"train_frame must be a pandas DataFrame, got {type(train_frame).__name__}")
    if label not in train_frame.columns:
        raise ParityInputError(f"train_frame has no label column {label!r}; columns are {list(train_frame.columns)}")
    featurizer = TFFeaturizer(spec)
    # The new platform trains on its own (TF) features; the parity suite checks they equal the legacy ones.
    return featurizer, featurizer.transform(train_frame), train_frame[label].to_numpy()


def train_ctr_logreg(train_frame: pd.DataFrame, spec: Any, *, workdir: str | Any, C: float = 1.0, seed: int = 0,
                     standardization: Any = None, tol: float = 1e-10, max_iter: int = 10_000,
                     label: str = "click", name: str = "tf_logreg", batch_size: int = 65536):
    """Featurize with ``TFFeaturizer``, fit the Keras LR, export it to ``workdir/<name>``, and return
    ``(ServingSide, TrainingRecord)``. ``standardization`` defaults to the one fitted on these features
    (pass the legacy model's to share it explicitly)."""
    from pathlib import Path

    from harness.featurization.standardization import Standardization
    from new_platform.export import export_model
    from new_platform.models import keras_logistic_regression
    from new_platform.serving import ServingSide

    featurizer, features, y = _train_features(train_frame, spec, label)
    if standardization is None:
        standardization = Standardization.fit(features, spec.numeric_features)
    model = keras_logistic_regression(spec, standardization)
    record = fit_logistic_regression(model, features, y, spec=spec, C=C, tol=tol, max_iter=max_iter, seed=seed)
    path = export_model(featurizer, model, Path(workdir) / name, metadata={"training": record.to_dict()},
                        overwrite=True)
    return ServingSide(path, spec, name=name, batch_size=batch_size), record


def train_ctr_wide_and_deep(train_frame: pd.DataFrame, spec: Any, *, workdir: str | Any, seed: int = 0,
                            epochs: int = 3, batch_size: int = 1024, learning_rate: float = 1e-3,
                            hidden_units: tuple[int, ...] = (64, 32), label: str = "click",
                            name: str = "tf_wide_and_deep"):
    """The same for ``wide_and_deep``: returns ``(ServingSide, TrainingRecord)``."""
    from pathlib import Path

    from harness.featurization.standardization import Standardization
    from new_platform.export import export_model
    from new_platform.models import wide_and_deep
    from new_platform.serving import ServingSide

    featurizer, features, y = _train_features(train_frame, spec, label)
    standardization = Standardization.fit(features, spec.numeric_features)
    set_determinism(seed)
    model = wide_and_deep(spec, standardization, hidden_units=hidden_units, seed=seed)
    record = fit_wide_and_deep(model, features, y, spec=spec, epochs=epochs, batch_size=batch_size,
                               learning_rate=learning_rate, seed=seed)
    path = export_model(featurizer, model, Path(workdir) / name, metadata={"training": record.to_dict()},
                        overwrite=True)
    return ServingSide(path, spec, name=name), record
