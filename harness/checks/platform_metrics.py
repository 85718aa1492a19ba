"""Platform metrics against the exact ones: what the teams read (Keras, TFMA-like, scikit-learn) vs the truth.

Dashboards and training logs show Keras's `AUC(num_thresholds=200)`, `model.evaluate()`'s loss or a
TFMA-style bucketed AUC, not the harness's exact metrics. Those estimates have biases of their own
(thresholds, buckets, float32, epsilon clipping, how a batch mean treats weights), and a bias as large
as a gate's margin makes a dashboard disagree with the gate on which model is better. So a suite
declares the implementations its teams read (`PlatformMetric`, built by `keras_auc`,
`keras_binary_crossentropy`, `histogram_auc`, `sklearn_metric`), and `check_platform_metrics`
computes each on the suite's own labels and scores and gates its gap to the exact metric against a
stated fraction of that metric's margin. `platform_metric_probe` records the same values and gaps as
an upgrade-gate evaluation probe, so an upgrade that moves a platform metric is a CHANGED finding.

Keras/TensorFlow and scikit-learn are imported inside the functions that use them, never at import.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.stats._validation import as_binary_labels, as_probabilities, as_weights, check_same_length
from harness.stats.metrics import get_metric
from harness.verdicts import Verdict

__all__ = [
    "PlatformMetric", "check_platform_declared", "check_platform_metrics", "histogram_auc", "histogram_auc_value",
    "keras_auc", "keras_binary_crossentropy", "margins_from_metric_checks", "plan_platform_ids",
    "platform_metric_probe", "sklearn_metric",
]

Compute = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]


@dataclass(frozen=True)
class PlatformMetric:
    """One metric implementation a team reads, and how far it may sit from the exact metric.

    ``metric`` names the exact harness metric it estimates (``"auc"``, ``"logloss"``, ...);
    ``max_gap_fraction`` is the allowed |value - exact| as a fraction of that metric's margin;
    ``packages`` are the distributions whose upgrade can move it (for the upgrade gate's attribution).
    """

    name: str
    implementation: str
    settings: Mapping[str, Any]
    metric: str
    max_gap_fraction: float
    reason: str = ""
    compute: Compute | None = field(default=None, compare=False, repr=False)
    packages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or self.name != self.name.strip():
            raise ParityInputError(f"PlatformMetric(name): expected a non-empty name without '/' or surrounding "
                                   f"spaces, got {self.name!r}", argument="name", value=self.name)
        object.__setattr__(self, "metric", get_metric(self.metric).name)
        f = self.max_gap_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f < 0:
            raise ParityInputError(f"PlatformMetric {self.name!r}: max_gap_fraction must be a finite number >= 0 "
                                   f"(a fraction of the metric's margin, e.g. 0.5), got {f!r}",
                                   argument="max_gap_fraction", value=f)
        if self.compute is None or not callable(self.compute):
            raise ParityInputError(f"PlatformMetric {self.name!r}: compute must be a callable "
                                   "(y_true, y_score, sample_weight) -> float", argument="compute")
        object.__setattr__(self, "settings", dict(self.settings))
        object.__setattr__(self, "packages", tuple(self.packages))

    @property
    def label(self) -> str:
        """The implementation with its settings, as a reader would write the call."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{self.implementation}({args})"

    def value(self, y_true: np.ndarray, y_score: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return float(self.compute(y_true, y_score, sample_weight))


# ----------------------------------------------------------------------------------------------
# implementations
# ----------------------------------------------------------------------------------------------

def _keras_stateful(factory: Callable[[], Any]) -> Compute:
    def compute(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> float:
        import keras

        m = factory()
        m.update_state(y.astype("float32"), s.astype("float32"), sample_weight=w)
        return float(keras.ops.convert_to_numpy(m.result()))
    return compute


def keras_auc(num_thresholds: int = 200, summation_method: str = "interpolation", curve: str = "ROC", *,
              name: str | None = None, max_gap_fraction: float = 0.5, reason: str = "") -> PlatformMetric:
    """``keras.metrics.AUC`` with these settings (the default is what training logs show).

    It counts the confusion matrix at ``num_thresholds`` evenly spaced thresholds and integrates by
    ``summation_method`` ("interpolation": trapezoids; "minoring"/"majoring": left/right Riemann sums,
    a lower/upper bound); scores are cast to float32. ``curve="PR"`` estimates ``pr_auc``.
    """
    if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds < 2:
        raise ParityInputError(f"keras_auc: num_thresholds must be an integer >= 2, got {num_thresholds!r}",
                               argument="num_thresholds", value=num_thresholds)
    if summation_method not in ("interpolation", "minoring", "majoring"):
        raise ParityInputError(f"keras_auc: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                               f"got {summation_method!r}", argument="summation_method", value=summation_method)
    if curve not in ("ROC", "PR"):
        raise ParityInputError(f"keras_auc: curve must be 'ROC' or 'PR', got {curve!r}", argument="curve", value=curve)

    def factory() -> Any:
        import keras
        return keras.metrics.AUC(num_thresholds=num_thresholds, summation_method=summation_method, curve=curve)

    default_name = "keras_auc" if curve == "ROC" else "keras_pr_auc"
    if (num_thresholds, summation_method) != (200, "interpolation"):
        default_name += f"_{num_thresholds}_{summation_method}"
    return PlatformMetric(name or default_name, "keras.metrics.AUC",
                          {"num_thresholds": num_thresholds, "summation_method": summation_method, "curve": curve},
                          "auc" if curve == "ROC" else "pr_auc", max_gap_fraction, reason, _keras_stateful(factory),
                          ("keras", "tensorflow", "numpy"))


def keras_binary_crossentropy(batch_size: int = 32, *, name: str = "keras_evaluate_loss",
                              max_gap_fraction: float = 0.5, reason: str = "") -> PlatformMetric:
    """The loss ``model.evaluate(x, y, sample_weight=w, batch_size=batch_size)`` reports for a sigmoid model
    compiled with ``loss="binary_crossentropy"``: computed by a real ``evaluate`` on an identity model
    whose output is the score, so it includes everything evaluate does (float32, Keras's epsilon clip
    of 1e-7, the per-batch "sum over batch size" reduction that divides weighted losses by the row count
    rather than the weight sum, and the mean over batches weighted by batch size)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParityInputError(f"keras_binary_crossentropy: batch_size must be an integer >= 1, got {batch_size!r}",
                               argument="batch_size", value=batch_size)

    def compute(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> float:
        import keras

        model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
        model.compile(loss="binary_crossentropy")
        out = model.evaluate(s.astype("float32").reshape(-1, 1), y.astype("float32").reshape(-1, 1),
                             sample_weight=None if w is None else w.astype("float32"), batch_size=batch_size,
                             verbose=0, return_dict=True)
        return float(out["loss"])

    return PlatformMetric(name, "keras.Model.evaluate", {"loss": "binary_crossentropy", "batch_size": batch_size},
                          "logloss", max_gap_fraction, reason, compute, ("keras", "tensorflow", "numpy"))


def histogram_auc_value(y_true: Any, y_score: Any, *, n_buckets: int = 10000, sample_weight: Any = None) -> float:
    """ROC AUC from a histogram of scores in ``n_buckets`` equal-width buckets over [0, 1] (TFMA-like).

    Bucket b holds scores in [b / n, (b + 1) / n); a score of exactly 1 goes in the last bucket. Pairs
    in the same bucket count one half, as ties do in the exact AUC: bucketing turns every within-bucket
    ordering into a tie, which is this estimate's bias. Written here in numpy because that bias is what
    it must reproduce; tested against a pairwise reference.
    """
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, int) or n_buckets < 1:
        raise ParityInputError(f"histogram_auc: n_buckets must be an integer >= 1, got {n_buckets!r}",
                               argument="n_buckets", value=n_buckets)
    y = as_binary_labels(y_true, "y_true")
    s, _ = as_probabilities(y_score, "y_score")
    check_same_length(y_true=y, y_score=s)
    w = np.ones(len(y)) if sample_weight is None else as_weights(sample_weight, len(y), "sample_weight")
    bucket = np.minimum((s * n_buckets).astype(np.int64), n_buckets - 1)
    pos = np.bincount(bucket, weights=w * (y == 1), minlength=n_buckets)
    neg = np.bincount(bucket, weights=w * (y == 0), minlength=n_buckets)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        raise ParityInputError("histogram_auc: y_true has one class only (with positive weight); ROC AUC is not "
                               "defined in that case", argument="y_true")
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (total_pos * total_neg))


def histogram_auc(n_buckets: int = 10000, *, name: str | None = None, max_gap_fraction: float = 0.5,
                  reason: str = "") -> PlatformMetric:
    """A bucketed ROC AUC like TFMA's (`histogram_auc_value`), with ``n_buckets`` equal-width buckets."""
    histogram_auc_value([0, 1], [0.0, 1.0], n_buckets=n_buckets)  # validates n_buckets now, not at run time

    def compute(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> float:
        return histogram_auc_value(y, s, n_buckets=n_buckets, sample_weight=w)

    return PlatformMetric(name or f"histogram_auc_{n_buckets}", "histogram_auc",
                          {"n_buckets": n_buckets}, "auc", max_gap_fraction, reason, compute, ("numpy",))


_SKLEARN = {"roc_auc_score": "auc", "average_precision_score": "pr_auc", "log_loss": "logloss",
            "brier_score_loss": "brier"}


def sklearn_metric(function: str = "roc_auc_score", *, name: str | None = None, max_gap_fraction: float = 0.5,
                   reason: str = "") -> PlatformMetric:
    """A ``sklearn.metrics`` function on (y_true, y_score, sample_weight=...), with the exact metric it estimates."""
    if function not in _SKLEARN:
        raise ParityInputError(f"sklearn_metric: unsupported function {function!r}; choices: {sorted(_SKLEARN)}",
                               argument="function", value=function)

    def compute(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> float:
        import sklearn.metrics

        return float(getattr(sklearn.metrics, function)(y, s, sample_weight=w))

    return PlatformMetric(name or f"sklearn_{function}", f"sklearn.metrics.{function}", {}, _SKLEARN[function],
                          max_gap_fraction, reason, compute, ("scikit-learn", "numpy", "scipy"))


# ----------------------------------------------------------------------------------------------
# the check and the probe
# ----------------------------------------------------------------------------------------------

def _validate(metrics: Sequence[PlatformMetric], margins: Mapping[str, float] | None) -> dict[str, float]:
    if isinstance(metrics, PlatformMetric) or not all(isinstance(m, PlatformMetric) for m in metrics):
        raise ParityInputError("metrics: expected a sequence of PlatformMetric (keras_auc(), histogram_auc(), ...), "
                               f"got {metrics!r}", argument="metrics")
    names = [m.name for m in metrics]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParityInputError(f"metrics: platform metric names must be unique; named twice: {twice}",
                               argument="metrics", value=twice)
    if margins is None:
        return {}
    out = {}
    for key, value in margins.items():
        canonical = get_metric(key).name
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ParityInputError(f"margins[{key!r}]: expected a positive finite absolute margin, got {value!r}",
                                   argument="margins", value=value)
        out[canonical] = float(value)
    missing = sorted({m.metric for m in metrics} - set(out))
    if missing:
        raise ParityInputError(f"margins: no margin for {missing}, which platform metrics "
                               f"{[m.name for m in metrics if m.metric in missing]} estimate; the allowed gap is a "
                               "fraction of that metric's margin", argument="margins", value=missing)
    return out


def _inputs(labels: Any, scores: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = as_binary_labels(labels, "labels")
    s, _ = as_probabilities(scores, "new_scores")
    check_same_length(labels=y, new_scores=s)
    w = None if sample_weight is None else as_weights(sample_weight, len(y), "sample_weight")
    return y, s, w


def _exact(metric: str, y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> float:
    return float(get_metric(metric).fn(y, s, sample_weight=w))


def check_platform_metrics(labels: Any, new_scores: Any, *, metrics: Sequence[PlatformMetric],
                           margins: Mapping[str, float], sample_weight: Any = None) -> list[CheckResult]:
    """One check ``platform/<name>`` (kind "metric") per platform metric, on the suite's labels and new scores.

    ``margins`` maps each exact metric the platform metrics estimate to its absolute margin (the
    suite's gate margin). The verdict is EQUIVALENT when |value - exact| <= max_gap_fraction x margin,
    else NOT_EQUIVALENT. There is no interval: both numbers are computed on the same rows, so the gap
    is a deterministic property of the implementation on this data, not an estimate with sampling
    noise. The details carry implementation, settings, value, exact, gap, allowed; ``legacy``/``new``/
    ``diff``/``ci`` repeat exact/value/gap/[gap, gap] so the report schema's metric rows hold.
    """
    margin_of = _validate(metrics, margins)
    y, s, w = _inputs(labels, new_scores, sample_weight)
    checks = []
    for pm in metrics:
        exact = _exact(pm.metric, y, s, w)
        value = pm.value(y, s, w)
        gap = value - exact
        allowed = pm.max_gap_fraction * margin_of[pm.metric]
        ok = math.isfinite(gap) and abs(gap) <= allowed
        verdict = Verdict.EQUIVALENT if ok else Verdict.NOT_EQUIVALENT
        summary = (f"{pm.label}: {value:.6g} vs exact {pm.metric} {exact:.6g}, gap {gap:+.3g}, allowed +/-{allowed:.3g} "
                   f"({pm.max_gap_fraction:g} x margin {margin_of[pm.metric]:g})")
        message = "" if ok else "\n".join(
            [f"platform/{pm.name}: NOT_EQUIVALENT: {pm.label} reads {value:.6g} where the exact {pm.metric} is "
             f"{exact:.6g}",
             f"  gap (value - exact) {gap:+.4g} exceeds the allowed +/-{allowed:.4g} ({pm.max_gap_fraction:g} of the "
             f"{pm.metric} margin {margin_of[pm.metric]:g}) on n = {len(y)} rows",
             "  Dashboards and logs that show this implementation can disagree with the gate; change its settings "
             "(more thresholds or buckets) or read the exact metric."]
            + ([f"  Rationale: {pm.reason}"] if pm.reason else []))
        details = {"metric": pm.metric, "implementation": pm.implementation, "settings": dict(pm.settings),
                   "value": value, "exact": exact, "gap": gap, "allowed": allowed,
                   "max_gap_fraction": pm.max_gap_fraction, "verdict": verdict.value,
                   "margin": {"value": margin_of[pm.metric], "kind": "absolute", "absolute_value": margin_of[pm.metric],
                              "higher_is_better": get_metric(pm.metric).higher_is_better, "test": "equivalence"},
                   "n": len(y), "weighted": w is not None, "method": "deterministic (same rows; no interval)",
                   "legacy": exact, "new": value, "diff": gap, "ci": [gap, gap], "reason": pm.reason}
        checks.append(CheckResult(id=f"platform/{pm.name}", kind="metric", verdict=verdict, summary=summary,
                                  message=message, details=details))
    return checks


def plan_platform_ids(metrics: Sequence[PlatformMetric]) -> list[str]:
    """The ids `check_platform_metrics` produces, for a suite's plan."""
    _validate(metrics, None)
    return [f"platform/{m.name}" for m in metrics]


def check_platform_declared(metrics: Sequence[PlatformMetric], gates: Sequence[Any], *, where: str = "suite") -> None:
    """A suite's ``platform_metrics`` before anything runs: PlatformMetric entries, unique names, and a
    ``MetricGate`` for every exact metric they estimate (its margin is what the gap is a fraction of)."""
    _validate(metrics, None)
    gated = {get_metric(g.metric).name for g in gates}
    missing = [m.name for m in metrics if m.metric not in gated]
    if missing:
        raise ParityInputError(f"{where}: platform_metrics {missing} estimate metrics without a MetricGate "
                               f"({sorted({m.metric for m in metrics if m.name in missing})}); declare the gate, "
                               "whose margin the allowed gap is a fraction of", argument="platform_metrics",
                               value=missing)


def margins_from_metric_checks(checks: Sequence[CheckResult]) -> dict[str, float]:
    """``{metric: absolute margin}`` from a run's unsliced metric checks (``metrics/<name>``), so a
    relative gate contributes the absolute margin it was judged with."""
    out = {}
    for c in checks:
        metric = c.details.get("metric") if c.kind == "metric" else None
        margin = c.details.get("margin") if metric else None
        if c.id == f"metrics/{metric}" and isinstance(margin, Mapping) and margin.get("absolute_value"):
            out[metric] = float(margin["absolute_value"])
    return out


def platform_metric_probe(probes: Any, name: str, labels_fn: Callable[[], Any], scores_fn: Callable[[], Any],
                          metrics: Sequence[PlatformMetric], *, sample_weight_fn: Callable[[], Any] | None = None,
                          **options: Any) -> None:
    """Register an evaluation probe ``name`` on ``probes`` (a `ProbeSet`) that records, per platform metric,
    ``<metric name>/value``, ``<metric name>/exact`` and ``<metric name>/gap`` on the suite's data.

    ``labels_fn``/``scores_fn`` (and ``sample_weight_fn``) are called when the probe runs, so the data
    loads lazily. The packages that can explain a change are those of the implementations (plus numpy
    and scipy for the exact metrics) unless ``packages=`` is given; other options go to
    ``ProbeSet.evaluation``.
    """
    _validate(metrics, None)
    metrics = list(metrics)
    if "packages" not in options:
        packages: list[str] = []
        for p in [pkg for m in metrics for pkg in m.packages] + ["numpy", "scipy"]:
            if p not in packages:
                packages.append(p)
        options["packages"] = packages

    def probe() -> dict[str, Any]:
        y, s, w = _inputs(labels_fn(), scores_fn(), None if sample_weight_fn is None else sample_weight_fn())
        out: dict[str, Any] = {}
        for pm in metrics:
            exact = _exact(pm.metric, y, s, w)
            value = pm.value(y, s, w)
            out[f"{pm.name}/value"] = value
            out[f"{pm.name}/exact"] = exact
            out[f"{pm.name}/gap"] = value - exact
        return out

    probe.__doc__ = "Platform metrics vs exact on the suite's data: " + ", ".join(m.label for m in metrics)
    probes.evaluation(name, **options)(probe)
