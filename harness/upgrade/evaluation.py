"""Evaluation probes' inputs and runners: fixed (labels, scores, weights) through every metric implementation.

Upgrades change metric implementations at their edges (ties, 0/1 scores, clipping, degenerate
inputs) long before they change them in the middle, so the cases are mostly edges. An implementation
that raises is recorded as the string ``"error: <ExceptionType>"`` (message left out: wording changes
are not behaviour changes), so "raised before, returns now" is a finding too.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EvalCase", "evaluation_cases", "harness_metric_outputs", "keras_metric_outputs", "sklearn_metric_outputs"]


@dataclass(frozen=True)
class EvalCase:
    name: str
    y_true: np.ndarray
    y_score: np.ndarray
    sample_weight: np.ndarray | None = None


def evaluation_cases(seed: int = 0) -> dict[str, EvalCase]:
    """The fixed evaluation inputs, by name; deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    n = 2000
    y = (rng.random(n) < 0.3).astype(np.int64)
    logits = rng.normal(size=n) + 1.2 * y
    smooth = 1.0 / (1.0 + np.exp(-logits))
    ties = np.round(smooth, 1)  # 11 distinct values: many ties, inside and across classes
    extremes = smooth.copy()
    extremes[:50] = 0.0  # 0/1 scores: log loss clipping decides the value
    extremes[50:100] = 1.0
    weights = rng.gamma(2.0, 0.5, size=n)
    cases = [
        EvalCase("smooth", y, smooth),
        EvalCase("smooth_weighted", y, smooth, weights),
        EvalCase("ties", y, ties),
        EvalCase("ties_weighted", y, ties, weights),
        EvalCase("extremes", y, extremes),
        EvalCase("extremes_weighted", y, extremes, weights),
        EvalCase("all_tied", y, np.full(n, 0.37)),
        EvalCase("perfect", y, y.astype(np.float64)),
        EvalCase("inverted", y, 1.0 - y.astype(np.float64)),
        EvalCase("tiny", np.array([0, 1, 1], dtype=np.int64), np.array([0.2, 0.2, 0.9])),
        EvalCase("tiny_weighted", np.array([0, 1, 0, 1], dtype=np.int64), np.array([0.1, 0.4, 0.4, 0.8]),
                 np.array([1.0, 0.5, 2.0, 1.0])),
        EvalCase("one_class", np.ones(5, dtype=np.int64), np.array([0.1, 0.5, 0.5, 0.7, 0.9])),
    ]
    return {c.name: c for c in cases}


def _run(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate cases warn by design; the value is what we record
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - recording that it raises is the point
            return f"error: {type(exc).__name__}"
    return np.asarray(value, dtype=np.float64)


def _outputs(cases: Mapping[str, EvalCase], metrics: Mapping[str, Callable[[EvalCase], Any]]) -> dict[str, Any]:
    return {f"{metric}/{case.name}": _run(lambda f=fn, c=case: f(c)) for case in cases.values() for metric, fn in metrics.items()}


def sklearn_metric_outputs(cases: Mapping[str, EvalCase], *, metrics: Iterable[str] = (
        "roc_auc_score", "log_loss", "average_precision_score", "brier_score_loss")) -> dict[str, Any]:
    """``{"<metric>/<case>": value}`` for scikit-learn's metric functions named in ``metrics``."""
    import sklearn.metrics as skm

    chosen = {name: (lambda c, f=getattr(skm, name): f(c.y_true, c.y_score, sample_weight=c.sample_weight)) for name in metrics}
    return _outputs(cases, chosen)


def harness_metric_outputs(cases: Mapping[str, EvalCase], *, metrics: Iterable[str] | None = None) -> dict[str, Any]:
    """The harness's own metrics (``harness.stats.metrics``) on the cases; all of ``METRICS`` by default."""
    from harness.stats import metrics as hm

    if metrics is None:  # every binary metric that takes (y_true, y_score[, sample_weight]) alone
        metrics = sorted(n for n, d in hm.METRICS.items()
                         if getattr(d, "task", "binary") == "binary" and not getattr(d, "needs_groups", False))
    names = list(metrics)
    get = getattr(hm, "get_metric", None) or (lambda name: getattr(hm, name))

    def call(fn: Callable[..., Any], c: EvalCase) -> Any:
        if c.sample_weight is None:
            return fn(c.y_true, c.y_score)
        return fn(c.y_true, c.y_score, sample_weight=c.sample_weight)

    chosen = {}
    for name in names:
        metric = get(name)
        fn = getattr(metric, "fn", None) or getattr(metric, "func", None) or metric
        chosen[f"harness.{name}"] = lambda c, f=fn: call(f, c)
    return _outputs(cases, chosen)


def keras_metric_outputs(cases: Mapping[str, EvalCase], *, num_thresholds: int = 200) -> dict[str, Any]:
    """Keras's AUC (ROC and PR), binary cross-entropy and MSE (Brier) on the cases (imports Keras)."""
    import keras

    def stateful(factory: Callable[[], Any]) -> Callable[[EvalCase], Any]:
        def run(c: EvalCase) -> Any:
            m = factory()
            m.update_state(c.y_true.astype("float32"), c.y_score.astype("float32"), sample_weight=c.sample_weight)
            return float(keras.ops.convert_to_numpy(m.result()))
        return run

    chosen = {
        "keras.AUC_ROC": stateful(lambda: keras.metrics.AUC(num_thresholds=num_thresholds, curve="ROC")),
        "keras.AUC_PR": stateful(lambda: keras.metrics.AUC(num_thresholds=num_thresholds, curve="PR")),
        "keras.BinaryCrossentropy": stateful(lambda: keras.metrics.BinaryCrossentropy()),
        "keras.MeanSquaredError": stateful(lambda: keras.metrics.MeanSquaredError()),
    }
    return _outputs(cases, chosen)
