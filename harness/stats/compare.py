"""`compare_scores`: are two score columns on the same rows accuracy-neutral, metric by metric?

For each metric (and each slice value of the chosen columns) the paired difference ``new - legacy`` is
estimated with an interval, compared with the metric's margin (`harness.stats.equivalence`) and the
resulting TOST p-values are Holm-adjusted across every gated metric x slice (`harness.stats.multiple`).

Method per metric (``method="auto"``):

- ``auc`` -> ``delong`` (Sun & Xu's O(n log n) algorithm, `harness.stats.delong.delong_paired`): DeLong's
  variance of the paired difference, no resampling, with its logit-scale interval. ``pr_auc`` ->
  ``delong`` too: DeLong's construction with average precision's leave-one-out components
  (`harness.stats.delong.paired_average_precision`; the percentile bootstrap of the AP difference is
  too narrow). With ``sample_weight``, ``pr_auc`` stays ``delong`` with the weighted leave-one-out
  components (`harness.stats.delong.paired_average_precision_weighted`; the weighted percentile bootstrap
  was too narrow as well), while ``auc`` goes to the paired bootstrap.
- ``logloss``, ``brier``, ``mae`` -> ``paired``: the metric is a (weighted) mean of per-row losses, so
  the difference is the mean of per-row paired differences ``d_i = loss_new_i - loss_legacy_i``
  (`harness.stats.bootstrap.paired_difference_ci`: Student-t interval, n - 1 df; weighted: the
  ratio-estimator linearization). The TOST p-value uses the same t distribution.
- ``rmse`` -> ``delta``: RMSE is the root of a mean, not a mean; the delta method linearizes it, each
  row contributing ``u_i = (e2_new_i - MSE_new)/(2 RMSE_new) - (e2_legacy_i - MSE_legacy)/(2 RMSE_legacy)``
  (``e2`` the squared error); the standard error is that of the (weighted) mean of ``u``,
  ``sqrt(n/(n-1) * sum w_i^2 (u_i - ubar)^2) / sum w_i``, with a normal interval. Chosen over the
  bootstrap because it is exact to first order, costs one pass, and golden sets are large.
- everything else (``ece``, calibration, ``ndcg@k``, ``mrr``) -> ``bootstrap``: the paired
  Poisson bootstrap of `harness.stats.bootstrap` (``n_boot`` replicates, ``seed``): each row's weight
  is keyed by its ``keys`` entry (without ``keys``, by its position), so with keys the replicates do
  not depend on row order or chunking; ranking metrics resample query groups (``groups`` required),
  keyed by the group id.

``method="bootstrap"`` forces the bootstrap for every metric; a mapping ``{metric: method}`` chooses per
metric (``delong`` is for unweighted auc and for pr_auc, weighted or not; ``paired`` needs a per-row metric
other than rmse; ``delta`` is rmse-only). Each method is one estimator function (``_est_<method>``) returning the point
values, the interval at any level and, where the interval is not ``diff -/+ quantile * se``, the
one-sided p-values that agree with it.

Intervals: decisions use the two-sided ``(1 - 2*alpha)`` interval (``ci``, ``ci_level``; its bounds are
the one-sided level-alpha bounds of TOST and non-inferiority). The usual ``(1 - alpha)`` interval is
reported as ``ci_two_sided``. ``p_value`` is the TOST (or non-inferiority) p-value from the same
evidence as the interval, so ``p_value < alpha`` exactly when the interval decides EQUIVALENT: the t
distribution for ``paired``, the normal for ``delta``, DeLong's own one-sided p-values for its
logit-scale interval, and for the percentile bootstrap the inversion of the replicates' quantiles (the
level at which the interval's limit reaches the margin: the replicates' tail share beyond it, up to
interpolation). Holm adjusts these p-values, so its verdicts and the intervals never disagree.
``p_difference`` is the two-sided p-value of "no difference" under the normal approximation, for
context only (it gates nothing).

Margins and gating: a metric gates only when it has a margin; a metric without a margin is reported
(INCONCLUSIVE, ``gated: False``, ``p_value: None``) because no margin means no claim to test. Slices below
``min_slice_size`` rows are reported but not gated. Gated entries with a p-value form the Holm family; an
EQUIVALENT entry whose adjusted p-value exceeds alpha becomes INCONCLUSIVE (``decided_by: "holm"``, a note
with the adjusted p and alpha). For every entry of a family of two or more, ``ci_adjusted`` is the
interval at Holm's level for that entry, ``1 - 2 * alpha * p_value / p_adjusted`` (``ci_adjusted_level``):
the interval that the final verdict corresponds to, so a display never shows an interval inside the
margin next to INCONCLUSIVE without the level that decided. ``n_required`` is sized for that level. The
overall verdict combines the gated entries (`harness.verdicts.combine`; none gated -> INCONCLUSIVE).

What is refused, and what is undefined (no silent pass):

- Scores are real numbers: bool (a thresholded decision, not a score), text and complex are refused,
  as are NaN and inf; probability metrics need [0, 1]. Labels may be bool (0/1).
- ``score_new`` equal to ``score_legacy`` row for row is refused: a column compared with itself proves
  nothing. ``allow_identical=True`` lets two separate systems that really wrote the same scores through
  (`harness.checks.metrics.check_metrics` sets it: a suite's two sides are two programs).
- On all rows, a metric whose label requirement fails (AUC needs both classes, DeLong two of each, PR AUC
  and the calibration ratio a positive, calibration fits both classes, ndcg@K and mrr a relevant row:
  with none every query scores 0 for any order) is bad input and raises, naming ``y_true``; a constant score column with a calibration fit raises naming the side.
- A metric undefined on a slice (one class, too few rows for the bootstrap), or a rank-only metric
  (auc, pr_auc, ndcg@K, mrr) whose two score columns are both constant on the rows (it takes the same
  value for any two constant scores: a zero-width interval that measures nothing) gives an entry with
  ``legacy``/``new`` None, ``decided_by: "undefined"`` and a note naming the slice and why. It is INCONCLUSIVE and
  stays gated whenever the slice would be gated (margin, ``min_slice_size``), so the overall verdict
  cannot be EQUIVALENT; it has no p-value and is outside the Holm family.
- Valid rows too few for the bootstrap (replicates that draw one class only, or no query group:
  `harness.errors.UndefinedReplicatesError`) make the metric undefined on all rows too, in the same way:
  a small golden set is a reason to be INCONCLUSIVE, not bad input, and the other metrics are judged.

Slices: ``slices`` maps a column name to its value per row (or a `SliceCodes`: its distinct values and
a code per row), or a tuple of column names to a tuple of such arrays (a crossed slice: one entry per
combination present). Values are sorted, missing values
(None, NaN) last as a slice of their own. An entry's ``slice`` is ``{"columns": [...], "values": [...]}``,
plus ``column`` and ``value`` for a single-column slice; ids read ``metrics/auc[device=mobile]`` and
``metrics/auc[device=mobile,country=US]``. Metric names are canonical (the registry's: "AUC" -> "auc").
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st
from scipy.optimize import brentq
from scipy.special import ndtr, stdtrit

from harness.errors import ParityInputError, UndefinedReplicatesError
from harness.results import jsonable
from harness.stats import equivalence as eq
from harness.stats._validation import (
    as_binary_labels,
    as_nonnegative,
    as_probabilities,
    as_scores,
    as_weights,
    check_classes,
    check_constant_within_groups,
    group_codes,
    input_error,
)
from harness.stats.metrics import METRICS, MEAN_OF_PER_ROW, MetricDef, _dot, get_metric
from harness.stats.multiple import METHOD as ADJUSTMENT
from harness.stats.multiple import holm_level, holm_verdicts
from harness.stats.ordering import note_subset
from harness.verdicts import Verdict, combine

__all__ = ["compare_scores", "ComparisonResult", "MetricEntry", "DEFAULT_METRICS", "METHODS", "SliceCodes", "entry_id",
           "slice_label", "slice_rows"]

DEFAULT_METRICS = ("auc", "logloss", "brier")
METHODS = ("auto", "delong", "paired", "delta", "bootstrap")
_PAIRED = ("logloss", "brier", "mae")
_DELONG = ("auc", "pr_auc")  # DeLong's construction: AUC's structural components, or AP's leave-one-out ones
# Metrics that only see the order of the scores: two constant columns tie every row, so both sides get
# the same value by construction (AUC 0.5) and a zero-width interval -- a pass that measures nothing.
_RANK_ONLY = ("auc", "pr_auc", "mrr")
_PROBABILITY = ("logloss", "brier", "calibration_ratio", "ece", "calibration_slope", "calibration_intercept")
# Label requirements per metric (positives, negatives, why), checked before any estimator runs so that
# the message names the label column on all rows and a slice's note says why the metric is undefined.
_CLASSES = {
    "pr_auc": (1, 0, "average precision needs at least one positive row", ""),
    "calibration_ratio": (1, 0, "the predicted/observed ratio needs at least one positive row", ""),
    "calibration_slope": (1, 1, "the calibration fit needs both classes", ""),
    "calibration_intercept": (1, 1, "the calibration fit needs both classes", ""),
}
_DELONG_CLASSES = (2, 2, "DeLong needs at least 2 positives and 2 negatives",
                   "(with one class the AUC is not defined, with one row of a class its variance cannot be estimated)")
_AUC_CLASSES = (1, 1, "ROC AUC needs at least one positive and one negative row", "")
_AP_DELONG_CLASSES = (2, 2, "DeLong's construction for average precision needs at least 2 positives and 2 negatives",
                      "(its variance needs two of each)")


def slice_label(sl: Mapping[str, Any] | None) -> str:
    """``device=mobile`` or ``device=mobile,country=US`` (crossed); ``all`` for all rows."""
    if sl is None:
        return "all"
    return ",".join(f"{c}={v}" for c, v in zip(sl["columns"], sl["values"]))


def entry_id(name: str, sl: Mapping[str, Any] | None) -> str:
    """The check id of a metric entry: ``metrics/auc``, ``metrics/auc[device=mobile,country=US]``."""
    return f"metrics/{name}" if sl is None else f"metrics/{name}[{slice_label(sl)}]"


@dataclass(frozen=True, kw_only=True)
class MetricEntry:
    """One metric on all rows or on one slice; see the module docstring for each field's meaning.

    Built once, by keyword, by the gate step; the Holm step returns adjusted copies
    (`dataclasses.replace`), so an entry never changes after it is made.
    """

    name: str
    slice: dict[str, Any] | None
    verdict: Verdict
    gated: bool
    legacy: float | None = None
    new: float | None = None
    diff: float | None = None
    ci: tuple[float, float] | None = None
    ci_level: float
    ci_two_sided: tuple[float, float] | None = None
    ci_two_sided_level: float
    ci_adjusted: tuple[float, float] | None = None
    ci_adjusted_level: float | None = None
    method: str = ""
    se: float | None = None
    df: int | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    adjustment: str | None = None
    p_difference: float | None = None
    margin: dict[str, Any] | None = None
    n: int
    n_groups: int | None = None  # query groups among the n rows, for ranking metrics (None for the others)
    mdd: float | None = None
    n_required: int | None = None  # rows to decide at the observed difference (INCONCLUSIVE entries)
    n_required_planning: int | None = None  # rows for the stated power if the true difference is 0
    decided_by: str = "interval"  # "interval", "holm" (the adjustment changed the verdict), "undefined", "no margin"
    note: str = ""

    @property
    def id(self) -> str:
        return entry_id(self.name, self.slice)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "name": self.name,
            "slice": self.slice,
            "verdict": self.verdict,
            "gated": self.gated,
            "legacy": self.legacy,
            "new": self.new,
            "diff": self.diff,
            "ci": list(self.ci) if self.ci is not None else None,
            "ci_level": self.ci_level,
            "ci_two_sided": list(self.ci_two_sided) if self.ci_two_sided is not None else None,
            "ci_two_sided_level": self.ci_two_sided_level,
            "ci_adjusted": list(self.ci_adjusted) if self.ci_adjusted is not None else None,
            "ci_adjusted_level": self.ci_adjusted_level,
            "method": self.method,
            "se": self.se,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "adjustment": self.adjustment,
            "p_difference": self.p_difference,
            "margin": self.margin,
            "n": self.n,
            "n_groups": self.n_groups,
            "mdd": self.mdd,
            "n_required": self.n_required,
            "n_required_planning": self.n_required_planning,
            "decided_by": self.decided_by,
            "note": self.note,
        })

    def summary(self) -> str:
        if self.diff is None:
            return f"{self.name}: not computable ({self.note})"
        m = self.margin["absolute_value"] if self.margin else None
        mtxt = f" margin +/-{m:.4g}" if m is not None else " no margin"
        ci, lvl = (self.ci_adjusted, self.ci_adjusted_level) if self.decided_by == "holm" else (self.ci, self.ci_level)
        text = (f"{self.name}: legacy {self.legacy:.6g} new {self.new:.6g} diff {self.diff:+.4g} "
                f"{lvl:.1%} CI [{ci[0]:+.4g}, {ci[1]:+.4g}]{mtxt} -> {self.verdict}")
        if self.decided_by == "holm":
            text += f" (Holm-adjusted p {self.p_adjusted:.3g} > alpha)"
        return text


@dataclass(frozen=True)
class ComparisonResult:
    """Every metric entry (all rows first, then slices), with the run's settings and overall verdict."""

    entries: list[MetricEntry]
    n_rows: int
    seed: int
    alpha: float
    n_boot: int
    min_slice_size: int
    adjustment: str = ADJUSTMENT
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return combine(e.verdict for e in self.entries if e.gated)

    def entry(self, name: str, *, column: str | Sequence[str] | None = None, value: Any = None) -> MetricEntry:
        """The entry of ``name`` on all rows, or on ``column=value`` (a tuple of columns and of values
        for a crossed slice)."""
        for e in self.entries:
            if e.name != name:
                continue
            if column is None and e.slice is None:
                return e
            if column is not None and e.slice is not None:
                cols = [column] if isinstance(column, str) else list(column)
                vals = [value] if isinstance(column, str) else list(value)
                if e.slice["columns"] == cols and e.slice["values"] == vals:
                    return e
        raise KeyError(f"no entry for metric {name!r} slice {column}={value!r}; have {[e.id for e in self.entries]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "n_rows": int(self.n_rows),
            "seed": int(self.seed),
            "alpha": float(self.alpha),
            "n_boot": int(self.n_boot),
            "min_slice_size": int(self.min_slice_size),
            "adjustment": self.adjustment,
            "notes": list(self.notes),
            "metrics": [e.to_dict() for e in self.entries],
        }


# ---------------------------------------------------------------------------------------------
# validate: every argument checked, converted once, named in the error (fields for the shells)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Slice:
    """One slice (a value of a column, or a combination of values of crossed columns) and its rows."""

    columns: tuple[str, ...]
    values: tuple[Any, ...]
    rows: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if len(self.columns) == 1:  # the single-column form the report has always carried
            d = {"column": self.columns[0], "value": self.values[0]}
        return {**d, "columns": list(self.columns), "values": list(self.values)}


@dataclass(frozen=True)
class _Inputs:
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    w: np.ndarray | None
    groups: np.ndarray | None
    keys: np.ndarray | None
    defs: tuple[MetricDef, ...]
    margins: dict[str, eq.Margin]
    methods: dict[str, str]
    informative: frozenset[str]
    slices: tuple[_Slice, ...]
    alpha: float
    power: float
    n_boot: int
    seed: int
    min_slice_size: int


def _validate_options(alpha, n_boot, seed, min_slice_size, power) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ParityInputError(f"alpha must be in (0, 0.5) (the decision interval is 1 - 2*alpha), got {alpha!r}",
                               argument="alpha", value=alpha, reason="expected a number in (0, 0.5)")
    for name, v, lo in (("n_boot", n_boot, 2), ("seed", seed, 0), ("min_slice_size", min_slice_size, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ParityInputError(f"{name} must be an integer >= {lo}, got {v!r}", argument=name, value=v,
                                   reason=f"expected an integer >= {lo}")
    if not 0 < power < 1:
        raise ParityInputError(f"power must be in (0, 1), got {power!r}", argument="power", value=power,
                               reason="expected a number in (0, 1)")


def _metric_defs(metrics: Sequence[str] | str) -> tuple[MetricDef, ...]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    defs = tuple(get_metric(m) for m in names)
    if not defs:
        raise ParityInputError("metrics is empty; name at least one metric, e.g. ('auc', 'logloss')",
                               argument="metrics")
    seen = [d.name for d in defs]
    dup = sorted({x for x in seen if seen.count(x) > 1})
    if dup:
        raise ParityInputError(f"metrics lists {dup} more than once", argument="metrics", value=dup)
    return defs


def _margins(defs: Sequence[MetricDef], margins: Mapping[str, Any] | None) -> dict[str, eq.Margin]:
    names = {d.name for d in defs}
    canonical: dict[str, Any] = {}
    for key, spec in (margins or {}).items():  # "AUC" and "auc" name the same metric
        name = key.strip().lower() if isinstance(key, str) else key
        if name in canonical:
            raise ParityInputError(f"margins name metric {name!r} twice", argument="margins", value=name)
        canonical[name] = spec
    unknown = sorted(set(canonical) - names, key=str)
    if unknown:
        raise ParityInputError(f"margins given for metric(s) {unknown} that are not being compared; "
                               f"metrics: {sorted(names)}", argument="margins", value=unknown)
    return {d.name: eq.as_margin(d.name, canonical[d.name], higher_is_better=d.higher_is_better)
            for d in defs if d.name in canonical}


def _choose(m: MetricDef, requested: str, weighted: bool) -> str:
    if requested == "auto":
        if m.name in _DELONG:
            return "bootstrap" if weighted and m.name == "auc" else "delong"
        if m.name in _PAIRED:
            return "paired"
        if m.name == "rmse":
            return "delta"
        return "bootstrap"
    if requested == "delong" and (m.name not in _DELONG or (weighted and m.name == "auc")):
        raise ParityInputError(f"method 'delong' applies to unweighted auc and pr_auc only (and to weighted pr_auc), "
                               f"not to {m.name!r}"
                               + (" with sample_weight" if weighted else ""), argument="method", value=requested)
    if requested == "paired" and (m.per_row is None or m.name == "rmse"):
        raise ParityInputError(f"method 'paired' needs a metric that is a mean of per-row losses "
                               f"({', '.join(_PAIRED)}), not {m.name!r}", argument="method", value=requested)
    if requested == "delta" and m.name != "rmse":
        raise ParityInputError(f"method 'delta' applies to rmse only, not to {m.name!r}", argument="method",
                               value=requested)
    return requested


def _methods(defs: Sequence[MetricDef], method: str | Mapping[str, str], weighted: bool) -> dict[str, str]:
    if isinstance(method, str):
        if method not in ("auto", "bootstrap"):
            raise ParityInputError(f"method must be 'auto', 'bootstrap' or a mapping metric -> method, got {method!r}",
                                   argument="method", value=method)
        return {d.name: _choose(d, method, weighted) for d in defs}
    unknown = sorted(set(method) - {d.name for d in defs})
    bad = {k: v for k, v in method.items() if v not in METHODS}
    if unknown or bad:
        raise ParityInputError(f"method mapping: unknown metric(s) {unknown} or method(s) {bad}; methods: {METHODS}",
                               argument="method")
    return {d.name: _choose(d, method.get(d.name, "auto"), weighted) for d in defs}


def _labels(y_true: Any, defs: Sequence[MetricDef]) -> np.ndarray:
    tasks = {d.task for d in defs}
    if "binary" in tasks:
        return as_binary_labels(y_true, "y_true")
    if "ranking" in tasks:
        return as_nonnegative(y_true, "y_true")
    return as_scores(y_true, "y_true")


def _scores(x: Any, name: str, n: int, defs: Sequence[MetricDef]) -> np.ndarray:
    """A score column: real numbers (bool refused), finite, one per row; probabilities when a metric needs them."""
    if any(d.name in _PROBABILITY for d in defs):
        out = as_probabilities(x, name)[0]
    else:
        out = as_scores(x, name)
    if out.shape[0] != n:
        raise input_error(name, f"must be 1-D with one value per row ({n} rows in y_true), got shape {out.shape}")
    return out


def _not_identical(a: np.ndarray, b: np.ndarray, allow_identical: bool) -> None:
    if not allow_identical and np.array_equal(a, b):
        raise input_error("score_new", "equals the legacy scores row for row: comparing a column with itself "
                          "proves nothing about a migration (allow_identical=True lets two separate systems that "
                          "really wrote the same scores through)")


def _side_checks(a: np.ndarray, b: np.ndarray, defs: Sequence[MetricDef]) -> None:
    """Inputs a metric cannot use on all rows, named before any estimator runs."""
    for d in defs:
        if d.name in ("calibration_slope", "calibration_intercept"):
            for name, s in (("score_legacy", a), ("score_new", b)):
                if s.min() == s.max():
                    raise input_error(name, f"every row scores {s[0]!r}; the {d.name.replace('_', ' ')} of a "
                                      "constant score is not identifiable")


def _ranking(defs, groups, w, n) -> np.ndarray | None:
    needs = [d.name for d in defs if d.needs_groups]
    if not needs:
        return None if groups is None else np.asarray(groups)
    if groups is None:
        raise ParityInputError(f"metric {needs[0]!r} is computed per query group: pass groups (--group COL)",
                               argument="groups", reason=f"metric {needs[0]!r} is computed per query group")
    codes, _ = group_codes(groups, n, "groups")
    if w is not None:
        check_constant_within_groups(w, codes)
    return np.asarray(groups)


def _keys(keys: Any, n: int) -> np.ndarray | None:
    if keys is None:
        return None
    k = np.asarray(keys)
    if k.ndim != 1 or k.shape[0] != n:
        raise input_error("keys", f"expected one key per row ({n}), got shape {k.shape}")
    return k


def _is_missing(v: Any) -> bool:
    # pandas' NA and NaT (object columns of pandas frames) without importing pandas into the stats core
    return v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType")


@dataclass(frozen=True)
class SliceCodes:
    """A slice column given as its distinct values and one code per row into them (-1: missing), as
    pandas' ``factorize`` returns them: the slices are then found by sorting the few distinct values,
    not by hashing a Python object per row (for a string column, ~16% of a suite's checks after
    scoring on ``ctr_logreg``, BENCHMARKS.md). The slices are the same as for the values themselves."""

    values: Sequence[Any]
    codes: Any


def _given_codes(column: str, given: SliceCodes, n: int) -> tuple[list[Any], np.ndarray]:
    """`_value_codes` of a column given as `SliceCodes`."""
    codes = np.asarray(given.codes)
    distinct = list(given.values)
    if codes.ndim != 1 or codes.shape[0] != n or codes.dtype.kind not in "iu":
        raise ParityInputError(f"slice column {column!r}: codes must be one integer per row ({n}), got "
                               f"{codes.dtype} of shape {codes.shape}", argument="slices", column=str(column),
                               reason=f"codes must be one integer per row ({n})")
    if n and (codes.min() < -1 or codes.max() >= len(distinct)):
        bad = int(np.flatnonzero((codes < -1) | (codes >= len(distinct)))[0])
        raise ParityInputError(f"slice column {column!r}: row {bad} has code {int(codes[bad])}; expected -1 "
                               f"(missing) to {len(distinct) - 1}", argument="slices", column=str(column), row=bad,
                               reason=f"codes must be -1 (missing) to {len(distinct) - 1}")
    occurs = np.bincount(codes[codes >= 0], minlength=len(distinct)) > 0
    missing = [_is_missing(v) for v in distinct]
    uniq = _sorted_distinct(column, [v for v, m, o in zip(distinct, missing, occurs) if o and not m])
    rank = {v: i for i, v in enumerate(uniq)}
    # code -1 (missing) reads the last entry
    remap = np.array([len(uniq) if m or not o else rank[v] for v, m, o in zip(distinct, missing, occurs)]
                     + [len(uniq)], dtype=np.int64)
    has_missing = bool((codes < 0).any()) or any(m and o for m, o in zip(missing, occurs))
    return (uniq + [None] if has_missing else uniq), remap[codes]


def _value_codes(column: str, values: Any, n: int) -> tuple[list[Any], np.ndarray]:
    """(distinct values in sorted order, missing last as None; code per row) of one slice column."""
    if isinstance(values, SliceCodes):
        return _given_codes(column, values, n)
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ParityInputError(f"slice column {column!r} must be one value per row ({n}), got shape {arr.shape}",
                               argument="slices", column=str(column), reason=f"must be one value per row ({n})")
    if arr.dtype == object:
        fast = _object_codes(column, arr)
        if fast is not None:
            return fast
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
    elif arr.dtype == object:
        missing = np.fromiter((_is_missing(v) for v in arr), bool, count=n)
    else:
        missing = np.zeros(n, dtype=bool)
    codes = np.empty(n, dtype=np.int64)
    present = np.flatnonzero(~missing)
    uniq_list: list[Any] = []
    if present.size:
        try:
            uniq, inv = np.unique(arr[present], return_inverse=True)
        except TypeError:
            raise ParityInputError(f"slice column {column!r} mixes value types that cannot be ordered "
                                   "(e.g. strings and numbers); give it one type", argument="slices",
                                   column=str(column), reason="mixes value types that cannot be ordered") from None
        codes[present] = inv.reshape(-1)
        uniq_list = uniq.tolist()
    if missing.any():
        codes[missing] = len(uniq_list)
        uniq_list.append(None)
    return uniq_list, codes


def _sorted_distinct(column: str, values: list[Any]) -> list[Any]:
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # one element at a time: tuples stay values, not a second axis
        arr[i] = v
    try:
        return np.unique(arr).tolist()
    except TypeError:
        raise ParityInputError(f"slice column {column!r} mixes value types that cannot be ordered "
                               "(e.g. strings and numbers); give it one type", argument="slices",
                               column=str(column), reason="mixes value types that cannot be ordered") from None


def _object_codes(column: str, arr: np.ndarray) -> tuple[list[Any], np.ndarray] | None:
    """`_value_codes` of an object column by one pass of dict lookups, then a sort of the distinct
    values only: sorting n Python objects costs n log n Python comparisons, and a slice column has
    few distinct values. None when a value is unhashable (the caller sorts the rows instead)."""
    values = arr.tolist()
    try:
        distinct = list(dict.fromkeys(values))  # first-seen order; equal values (1 and 1.0) share an entry
    except TypeError:
        return None
    first = {v: i for i, v in enumerate(distinct)}
    # map() over the dict's own lookup runs at C speed: no Python frame per row
    seen = np.fromiter(map(first.__getitem__, values), np.int64, count=arr.shape[0])
    return _given_codes(column, SliceCodes(distinct, seen), arr.shape[0])


def slice_rows(slices: Mapping[Any, Any] | None, n: int) -> tuple[_Slice, ...]:
    """The slices of ``slices`` (as `compare_scores` takes them) over ``n`` rows, each with its rows.

    Each key is a column name (values: one per row) or a tuple of names (values: a tuple of such arrays,
    crossed; only combinations present give a slice). Slices come in key order; values in sorted order
    with missing (None, NaN) last, crossed ones lexicographically in their columns' orders.
    """
    out: list[_Slice] = []
    for key, values in (slices or {}).items():
        if isinstance(key, tuple):
            columns = tuple(str(c) for c in key)
            if not columns or not isinstance(values, (tuple, list)) or len(values) != len(columns):
                raise ParityInputError(f"crossed slice {key!r} needs one array per column ({len(key)}), got "
                                       f"{type(values).__name__}", argument="slices", column=",".join(columns))
            arrays = list(values)
        else:
            columns, arrays = (str(key),), [values]
        parts = [_value_codes(c, v, n) for c, v in zip(columns, arrays)]
        # one combined code per row, lexicographic in the columns' sorted orders
        combined = np.zeros(n, dtype=np.int64)
        for uniq, codes in parts:
            combined = combined * len(uniq) + codes
        if len(parts) == 1:  # every value of one column occurs: np.unique would give arange and the codes
            present, inv = np.arange(len(parts[0][0]), dtype=np.int64), combined
        else:
            present, inv = np.unique(combined, return_inverse=True)
        # the same stable order; as 16-bit codes (a slice column has few values) it is a radix sort
        order = np.argsort(inv.astype(np.int16) if present.size < 2**15 else inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(present.size + 1))
        for j, code in enumerate(present.tolist()):
            vals = []
            for uniq, _ in reversed(parts):
                code, r = divmod(code, len(uniq))
                vals.append(uniq[r])
            out.append(_Slice(columns, tuple(reversed(vals)), order[bounds[j]:bounds[j + 1]]))
    return tuple(out)


def _validate(y_true, score_legacy, score_new, *, metrics, margins, alpha, sample_weight, groups, keys, n_boot,
              seed, slices, min_slice_size, method, power, ungated, allow_identical) -> _Inputs:
    _validate_options(alpha, n_boot, seed, min_slice_size, power)
    defs = _metric_defs(metrics)
    margin_of = _margins(defs, margins)
    informative = frozenset(get_metric(u).name for u in ([ungated] if isinstance(ungated, str) else ungated))
    stray = sorted(informative - {d.name for d in defs})
    if stray:
        raise ParityInputError(f"ungated names metric(s) {stray} that are not being compared", argument="ungated",
                               value=stray)
    y = _labels(y_true, defs)
    n = int(y.shape[0])
    a = _scores(score_legacy, "score_legacy", n, defs)
    b = _scores(score_new, "score_new", n, defs)
    _not_identical(a, b, allow_identical)
    w = as_weights(sample_weight, n)
    g = _ranking(defs, groups, w, n)
    methods = _methods(defs, method, w is not None)
    _side_checks(a, b, defs)
    return _Inputs(y, a, b, w, g, _keys(keys, n), defs, margin_of, methods, informative, slice_rows(slices, n),
                   float(alpha), float(power), int(n_boot), int(seed), int(min_slice_size))


# ---------------------------------------------------------------------------------------------
# estimate: one function per method (the seam where a better estimator drops in)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Estimate:
    legacy: float
    new: float
    diff: float
    se: float
    ci: tuple[float, float]  # 1 - 2 alpha
    ci_two_sided: tuple[float, float]  # 1 - alpha
    method: str
    interval_at: Callable[[float], tuple[float, float]]  # two-sided (1 - a) interval for any a
    df: int | None = None  # Student-t degrees of freedom of the interval, None for normal ones
    # One-sided p-value of H0 "diff <= delta" ("greater") or "diff >= delta" ("less") that agrees with
    # interval_at; None: the interval is diff -/+ quantile * se, and the normal / t formula is exact.
    p_beyond: Callable[[float, str], float] | None = None
    unbounded: str = ""  # why the decision interval is unbounded (too few bootstrap replicates), if it is
    resampled: bool = False  # a bootstrap: p-values come from the replicates (p_beyond), not from se


def _too_few_replicates(n_replicates: int, alpha: float) -> str:
    """Why a bootstrap's decision interval (1 - 2 alpha) is unbounded, or "" when its tails are resolved
    (`harness.stats.bootstrap.resolvable`)."""
    from harness.stats.bootstrap import resolvable

    if resolvable(alpha, n_replicates):
        return ""
    need = math.ceil(1.0 / alpha - 1.0 - 1e-9)
    return (f"{n_replicates} bootstrap replicates cannot resolve the {1 - 2 * alpha:.0%} interval's {alpha:g} tails "
            f"(the most extreme of B replicates stands for 1/(B+1)); use at least {need}, and enough that "
            f"1/(B+1) stays below alpha over the number of gated cells for Holm (the default is 1000)")


@dataclass(frozen=True)
class _Undefined:
    """The metric has no value (or no interval) on these rows; ``why`` says so in the user's words."""

    why: str


def _mean_se(u: np.ndarray, w: np.ndarray | None) -> float:
    """Standard error of the (weighted) mean of u; m = rows with positive weight (as paired_difference_ci)."""
    ww = np.ones(u.shape[0]) if w is None else w
    m = int(np.count_nonzero(ww > 0))
    if m < 2:
        return math.nan
    sw = ww.sum()
    ubar = float(_dot(ww, u) / sw)  # _dot: no BLAS threads spinning for one dot product
    return math.sqrt(m / (m - 1) * float(_dot(ww * ww, (u - ubar) ** 2))) / sw


def _est_delong(m: MetricDef, y, a, b, w, groups, keys, alpha, n_boot, seed) -> _Estimate:
    from harness.stats.delong import delong_paired, paired_average_precision, paired_average_precision_weighted

    if w is not None:  # only pr_auc reaches here with weights (_choose)
        r = paired_average_precision_weighted(y, a, b, sample_weight=w, alpha=alpha)
    else:
        r = (delong_paired if m.name == "auc" else paired_average_precision)(y, a, b, alpha=alpha)
    return _Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * alpha)), tuple(r.ci_at(alpha)), r.method,
                     r.ci_at, p_beyond=r.p_value_beyond)


def _est_paired(m: MetricDef, y, a, b, w, groups, keys, alpha, n_boot, seed) -> _Estimate:
    from harness.stats.bootstrap import paired_difference_ci

    rows_a, rows_b = m.per_row(y, a), m.per_row(y, b)
    r = paired_difference_ci(rows_a, rows_b, sample_weight=w, alpha=2 * alpha)
    # Point values bit-identical to what a metric check reports: the metric itself, or for the built-in
    # means of per-row losses the same np.average of the same rows (without computing the rows again).
    if m is METRICS.get(m.name) and m.name in MEAN_OF_PER_ROW:
        legacy, new = float(np.average(rows_a, weights=w)), float(np.average(rows_b, weights=w))
    else:
        legacy, new = m.fn(y, a, sample_weight=w), m.fn(y, b, sample_weight=w)
    return _Estimate(legacy, new, new - legacy, r.se, tuple(r.ci), tuple(r.ci_at(alpha)), r.method, r.ci_at,
                     df=r.df)


def _est_delta(m: MetricDef, y, a, b, w, groups, keys, alpha, n_boot, seed) -> _Estimate:
    ea, eb = m.per_row(y, a), m.per_row(y, b)  # squared errors
    if w is not None and not (w > 0).any():  # a slice with no weight (np.average would divide by zero)
        raise input_error("sample_weight", "all weights are zero; at least one row needs positive weight")
    mse_a, mse_b = float(np.average(ea, weights=w)), float(np.average(eb, weights=w))
    legacy, new = m.fn(y, a, sample_weight=w), m.fn(y, b, sample_weight=w)
    if mse_a <= 0 or mse_b <= 0:
        se = math.nan  # a perfect side: the square root is not differentiable at 0
    else:
        u = (eb - mse_b) / (2 * math.sqrt(mse_b)) - (ea - mse_a) / (2 * math.sqrt(mse_a))
        se = _mean_se(u, w)
    m_rows = int(y.shape[0]) if w is None else int(np.count_nonzero(w > 0))
    return delta_estimate(legacy, new, se, m_rows, alpha)


def delta_estimate(legacy: float, new: float, se: float, m_rows: int, alpha: float) -> _Estimate:
    """RMSE's delta-method estimate: Student's t with m - 1 df (m rows with positive weight), as the
    paired per-row differences (`paired_difference_ci`) use for the mean of the same squared errors:
    a normal quantile let 3 rows decide a margin that Brier (RMSE squared, for 0/1 labels) could not.
    Shared by the streamed comparison (`harness.scale.streamed`)."""
    if m_rows < 2:  # as the paired per-row differences: no variance from one row (a slice: undefined there)
        raise ParityInputError(f"rmse: need at least 2 rows with positive weight for a delta-method interval, "
                               f"got {m_rows}", argument="y_true")
    diff, df = new - legacy, m_rows - 1

    def interval_at(level: float) -> tuple[float, float]:
        if not math.isfinite(se):  # a perfect side: the root is not differentiable at 0
            return (math.nan, math.nan)
        h = float(stdtrit(df, 1 - level / 2)) * se
        return (diff - h, diff + h)

    return _Estimate(legacy, new, diff, se, interval_at(2 * alpha), interval_at(alpha),
                     f"delta method (t interval, {df} df)", interval_at, df=df)


def _est_bootstrap(m: MetricDef, y, a, b, w, groups, keys, alpha, n_boot, seed, *, done=None) -> _Estimate:
    from harness.stats.bootstrap import paired_bootstrap

    # Rows are keyed by `keys` (replicates then independent of row order and partitioning), else by
    # position; ranking metrics key their Poisson weights by the group id, so they never take row keys.
    if done is None:
        r = paired_bootstrap(m.name, y, a, b, sample_weight=w, groups=groups if m.needs_groups else None,
                             keys=None if m.needs_groups else keys, n_boot=n_boot, alpha=2 * alpha, seed=seed)
    elif isinstance(done, ParityInputError):
        raise done
    else:
        r = done

    def interval_at(level: float) -> tuple[float, float]:
        return tuple(map(float, r.ci_at(level)))

    return resampled_estimate(float(r.legacy), float(r.new), float(r.diff), float(r.se), tuple(map(float, r.ci)),
                              interval_at, alpha, str(r.method), len(r.replicates))


def resampled_estimate(legacy: float, new: float, diff: float, se: float, ci: tuple[float, float],
                       interval_at: Callable[[float], tuple[float, float]], alpha: float, method: str,
                       n_replicates: int) -> _Estimate:
    """A percentile-bootstrap estimate: p-values by inverting its intervals, never below 1/(B+1), and
    the note for a decision interval too few replicates leave unbounded. Shared by the streamed and
    Beam comparisons (`harness.scale.replicates.bootstrap_estimate`)."""
    return _Estimate(legacy, new, diff, se, ci, interval_at(alpha), method, interval_at,
                     p_beyond=lambda delta, alternative: _p_by_inversion(interval_at, delta, alternative,
                                                                         n_replicates=n_replicates),
                     unbounded=_too_few_replicates(n_replicates, alpha), resampled=True)


def _p_by_inversion(interval_at: Callable[[float], tuple[float, float]], delta: float, alternative: str, *,
                    n_replicates: int) -> float:
    """The one-sided p-value that agrees with a bootstrap's percentile interval family: for "greater"
    (H0: diff <= delta) the smallest a whose one-sided level-a lower limit (of the 1 - 2a interval)
    clears delta; "less" mirrors it.

    So p < alpha exactly when the decision interval clears delta, and Holm's adjusted p-values decide
    with the same evidence as the interval (the replicates' own quantiles, not a normal approximation
    from their standard deviation). The smallest p is 1/(B + 1) for B replicates: below it the interval
    is unbounded (`harness.stats.bootstrap.resolvable`), so a p-value of 0 is never claimed.
    """
    side, beyond = (0, lambda x: x > delta) if alternative == "greater" else (1, lambda x: x < delta)
    lo_a, hi_a = 1.0 / (n_replicates + 1), 0.5 - 1e-12

    def limit(level: float, which: int) -> float:
        return interval_at(2 * level)[which] - delta

    if beyond(interval_at(2 * lo_a)[side]):
        return lo_a
    if beyond(interval_at(2 * hi_a)[side]):
        return float(brentq(limit, lo_a, hi_a, args=(side,), xtol=1e-15, rtol=1e-12))
    # the estimate itself is not beyond delta: p >= 1/2, read off the other limit
    other = 1 - side
    if not beyond(interval_at(2 * lo_a)[other]):
        return 1.0
    if not beyond(interval_at(2 * hi_a)[other]):
        return 0.5
    return 1.0 - float(brentq(limit, lo_a, hi_a, args=(other,), xtol=1e-15, rtol=1e-12))


_ESTIMATORS: dict[str, Callable[..., _Estimate]] = {
    "delong": _est_delong, "paired": _est_paired, "delta": _est_delta, "bootstrap": _est_bootstrap,
}


def _classes_needed(d: MetricDef, how: str) -> tuple[int, int, str, str] | None:
    if d.name == "auc":
        return _DELONG_CLASSES if how == "delong" else _AUC_CLASSES
    if d.name == "pr_auc" and how == "delong":
        return _AP_DELONG_CLASSES
    return _CLASSES.get(d.name)


def relevance_error(d: MetricDef, n_relevant: int, n_rows: int, *, weighted: bool) -> ParityInputError | None:
    """A ranking metric on rows none of which is relevant (relevance > 0): every query group then scores
    0 whatever the order, so the metric cannot tell two models apart (a broken label, or a slice of
    queries nobody clicked). The error names ``y_true``; None when some row is relevant, or when no row
    has positive weight (the weights' own error says so)."""
    if d.task != "ranking" or n_relevant > 0 or n_rows == 0:
        return None
    return input_error("y_true", f"{d.name} needs a relevant row (relevance > 0); got {n_rows} rows, none "
                       "relevant: every query group scores 0 for any order",
                       detail="among the rows with positive weight" if weighted else "")


def _definedness(inp: _Inputs, d: MetricDef, rows: np.ndarray | None) -> str | None:
    """Why ``d`` says nothing on these rows (None: it can be estimated); raises on all rows (bad input)."""
    y = inp.y if rows is None else inp.y[rows]
    if inp.w is not None:  # a row with zero weight is not in the metric: count the classes it sees
        y = y[(inp.w if rows is None else inp.w[rows]) > 0]
    need = _classes_needed(d, inp.methods[d.name])
    try:
        if need is not None:
            detail = _join(need[3], "among the rows with positive weight" if inp.w is not None else "")
            check_classes(y, "y_true", min_pos=need[0], min_neg=need[1], why=need[2], detail=detail)
        exc = relevance_error(d, int(np.count_nonzero(y > 0)), int(y.shape[0]), weighted=inp.w is not None)
        if exc is not None:
            raise exc
    except ParityInputError as exc:
        if rows is None:
            raise
        return exc.reason + (f" {exc.detail}" if exc.detail else "")
    a = inp.a if rows is None else inp.a[rows]
    b = inp.b if rows is None else inp.b[rows]
    if (d.name in _RANK_ONLY or d.task == "ranking") and a.min() == a.max() and b.min() == b.max():
        return (f"both score columns are constant on these rows (legacy {float(a[0])!r}, new {float(b[0])!r}): "
                f"{d.name} takes the same value for any two constant scores, so it cannot tell the models apart")
    return None


def _estimate(inp: _Inputs, d: MetricDef, rows: np.ndarray | None,
              shared: dict[tuple[str, int | None], Any] | None = None) -> _Estimate | _Undefined:
    why = _definedness(inp, d, rows)
    if why is not None:
        return _Undefined(why)

    def sub(arr):
        return arr if (arr is None or rows is None) else arr[rows]

    extra: dict[str, Any] = {}
    if shared is not None and inp.methods[d.name] == "bootstrap":
        extra["done"] = _shared_bootstrap(inp, d, rows, shared)
    a, b = sub(inp.a), sub(inp.b)
    if rows is not None and inp.methods[d.name] == "delong":  # DeLong sorts each side: filter the all-rows orders
        note_subset(a, inp.a, rows)
        note_subset(b, inp.b, rows)
    try:
        return _ESTIMATORS[inp.methods[d.name]](d, sub(inp.y), a, b, sub(inp.w), sub(inp.groups),
                                                sub(inp.keys), inp.alpha, inp.n_boot, inp.seed, **extra)
    except ParityInputError as exc:  # all rows: bad input; a slice: the metric is undefined there
        if rows is None and not isinstance(exc, UndefinedReplicatesError):  # too few rows: undefined anywhere
            raise
        return _Undefined(str(exc))


def _estimate_and_gate(inp: _Inputs, cells: list[tuple[MetricDef, _Slice | None]]
                       ) -> tuple[list[_Estimate | _Undefined], list[MetricEntry]]:
    """`_estimate` of every cell and its `_gate` entry, in cell order; the first estimate error in that
    order is raised, then the first gate error.

    Cells are independent computations, so they run on two worker threads (numpy's sorts and the
    compiled bootstrap loops release the GIL), each gated where it was estimated (DeLong's p-values
    are root searches), the all-rows cells of shared bootstraps first: each of those computes, in one
    pass, what its slices' cells then read (`_shared_bootstrap`), so those slices wait for it. Each
    cell computes exactly what it computes alone, so the estimates and entries are the same, bit for
    bit, whichever thread finishes first (tested against the serial order)."""
    shared: dict[tuple[str, int | None], Any] = {}  # bootstraps computed for several cells in one pass
    early = {d.name for d in inp.defs if inp.methods[d.name] == "bootstrap" and not d.needs_groups
             and _definedness(inp, d, None) is None}  # exactly the ones the all-rows cell starts

    def estimate(d: MetricDef, sl: _Slice | None) -> tuple[Any, Any]:
        try:
            est = _estimate(inp, d, None if sl is None else sl.rows, shared)
        except ParityInputError as exc:
            return exc, None
        try:
            return est, _gate(inp, d, sl, est)
        except Exception as exc:  # noqa: BLE001  (raised below, after every estimate error)
            return est, exc

    later = [i for i, (d, sl) in enumerate(cells) if sl is not None and d.name in early]
    now = sorted(set(range(len(cells))) - set(later), key=lambda i: cells[i][0].name not in early or
                 cells[i][1] is not None)  # the shared bootstraps start first
    out: list[Any] = [None] * len(cells)
    from harness._threads import allowed, submit

    if len(now) < 2 or allowed() < 2:
        for i in now:
            out[i] = estimate(*cells[i])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="parity-cells") as pool:
            for i, done in [(i, submit(pool, estimate, *cells[i])) for i in now]:
                out[i] = done.result()
    for i in later:
        out[i] = estimate(*cells[i])
    for position in (0, 1):
        for got in out:
            if isinstance(got[position], Exception):
                raise got[position]
    return [est for est, _ in out], [entry for _, entry in out]


def _shared_bootstrap(inp: _Inputs, d: MetricDef, rows: np.ndarray | None,
                      shared: dict[tuple[str, int | None], Any]) -> Any:
    """This cell's bootstrap (a result, or the error it raised), computed on the first request for
    ``d`` together with every slice where ``d`` is defined (`paired_bootstrap_subsets`: one pass
    over the rows serves all rows and a slice column's values); None when not shared."""
    from harness.stats.bootstrap import paired_bootstrap_subsets

    key = (d.name, None if rows is None else id(rows))
    if key not in shared:
        if rows is not None or d.needs_groups:
            return None
        cells: list[np.ndarray | None] = [None] + [sl.rows for sl in inp.slices
                                                   if _definedness(inp, d, sl.rows) is None]
        results = paired_bootstrap_subsets(d.name, inp.y, inp.a, inp.b, cells, sample_weight=inp.w, keys=inp.keys,
                                           n_boot=inp.n_boot, alpha=2 * inp.alpha, seed=inp.seed)
        for r, res in zip(cells, results):
            shared[(d.name, None if r is None else id(r))] = res
    return shared.get(key)


# ---------------------------------------------------------------------------------------------
# gate: one entry per metric x slice, with its verdict against the margin
# ---------------------------------------------------------------------------------------------

def _p_difference(est: _Estimate) -> float | None:
    if est.resampled and est.p_beyond is not None:  # from the replicates' quantiles: never below 1/(B+1)
        return float(min(1.0, 2 * min(est.p_beyond(0.0, "greater"), est.p_beyond(0.0, "less"))))
    if not math.isfinite(est.se):
        return None
    if est.se == 0:
        return 1.0 if est.diff == 0 else 0.0
    if est.df is None:
        return float(2 * ndtr(-abs(est.diff) / est.se))
    return float(2 * _st.t.sf(abs(est.diff) / est.se, est.df))


def _n_groups(inp: _Inputs, d: MetricDef, rows: np.ndarray | None) -> int | None:
    if not d.needs_groups or inp.groups is None:
        return None
    g = inp.groups if rows is None else inp.groups[rows]
    return int(group_codes(g, g.shape[0])[1].size)


def _gate(inp: _Inputs, d: MetricDef, sl: _Slice | None, est: _Estimate | _Undefined) -> MetricEntry:
    rows = None if sl is None else sl.rows
    n = int(inp.y.shape[0]) if sl is None else int(sl.rows.size)
    margin = inp.margins.get(d.name)
    small = sl is not None and n < inp.min_slice_size
    base: dict[str, Any] = dict(name=d.name, slice=None if sl is None else sl.to_dict(), n=n,
                                n_groups=_n_groups(inp, d, rows), ci_level=1 - 2 * inp.alpha,
                                ci_two_sided_level=1 - inp.alpha)
    gated = margin is not None and not small and d.name not in inp.informative
    why_not = ("no margin: reported, not gated" if margin is None else
               f"slice below min_slice_size={inp.min_slice_size}: reported, not gated" if small else
               "informative: not gated" if not gated else "")
    where = "all rows" if sl is None else f"slice {slice_label(sl.to_dict())}"
    if isinstance(est, _Undefined):
        return MetricEntry(**base, verdict=Verdict.INCONCLUSIVE, gated=gated, decided_by="undefined",
                           margin=None if margin is None else margin.to_dict(),
                           note=_join(f"{d.name} not computable on {where}: {est.why}", why_not))
    se_ok = math.isfinite(est.se)
    numbers = dict(legacy=est.legacy, new=est.new, diff=est.diff, ci=est.ci, ci_two_sided=est.ci_two_sided,
                   method=est.method, se=est.se if se_ok else None, df=est.df, p_difference=_p_difference(est),
                   mdd=eq.minimum_detectable_difference(est.se, alpha=inp.alpha, power=inp.power) if se_ok else None)
    if margin is None:
        return MetricEntry(**base, **numbers, verdict=Verdict.INCONCLUSIVE, gated=False, decided_by="no margin",
                           note=why_not)
    mdict = margin.to_dict(est.legacy)
    m_abs = mdict["absolute_value"]
    if m_abs is None or not se_ok or not all(math.isfinite(c) for c in est.ci):
        why = ("relative margin of a zero legacy metric" if m_abs is None else
               est.unbounded or "standard error not computable")
        return MetricEntry(**base, **numbers, verdict=Verdict.INCONCLUSIVE, gated=gated, margin=mdict,
                           decided_by="undefined", note=_join(f"{d.name} on {where}: {why}", why_not))
    verdict = eq.decide(est.diff, est.ci[0], est.ci[1], m_abs, test=margin.test,
                        higher_is_better=margin.higher_is_better)
    p = _tost_p(est, m_abs, margin)
    return MetricEntry(**base, **numbers, verdict=verdict, gated=gated, margin=mdict, p_value=p, note=why_not)


def _tost_p(est: _Estimate, m_abs: float, margin: eq.Margin) -> float:
    """TOST (or non-inferiority) p-value from the same evidence as the decision interval."""
    if est.p_beyond is None:
        return eq.tost_p_value(est.diff, est.se, m_abs, test=margin.test, higher_is_better=margin.higher_is_better,
                               df=est.df)
    p_low, p_high = est.p_beyond(-m_abs, "greater"), est.p_beyond(m_abs, "less")  # H0: <= -m, H0: >= +m
    if margin.test == "equivalence":
        return max(p_low, p_high)
    return p_low if margin.higher_is_better else p_high


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# adjust: Holm across every gated entry with a p-value
# ---------------------------------------------------------------------------------------------

def _adjust(inp: _Inputs, entries: list[MetricEntry], estimates: list[_Estimate | _Undefined]) -> list[MetricEntry]:
    family = [e.p_value if e.gated else None for e in entries]
    p_adj, verdicts = holm_verdicts(family, [e.verdict for e in entries], alpha=inp.alpha)
    k = sum(p is not None for p in family)
    out = []
    for e, est, pa, v in zip(entries, estimates, p_adj, verdicts):
        if pa is None:
            out.append(dataclasses.replace(e, n_required=_n_required(inp, e, inp.alpha),
                                           n_required_planning=_n_required_planning(inp, e, inp.alpha)))
            continue
        # Holm's decision for this entry is the TOST at level alpha * p / p_adjusted: show that interval
        level = holm_level(e.p_value, pa, inp.alpha, k)
        changes: dict[str, Any] = dict(p_adjusted=pa, adjustment=ADJUSTMENT)
        if k > 1 and level < inp.alpha:
            changes.update(ci_adjusted=tuple(map(float, est.interval_at(2 * level))), ci_adjusted_level=1 - 2 * level)
        if v is not e.verdict:
            changes.update(verdict=v, decided_by="holm", note=_join(
                e.note, f"the {e.ci_level:.0%} interval lies inside the margin, but the Holm-adjusted p = {pa:.3g} > "
                f"alpha = {inp.alpha:g} across {k} gated claims"))
        adjusted = dataclasses.replace(e, **changes)
        out.append(dataclasses.replace(adjusted, n_required=_n_required(inp, adjusted, level),
                                       n_required_planning=_n_required_planning(inp, adjusted, level)))
    return out


def _n_required(inp: _Inputs, e: MetricEntry, level: float) -> int | None:
    """Rows that would decide an INCONCLUSIVE entry at the level its decision used (Holm's, if adjusted)."""
    margin = inp.margins.get(e.name)
    if margin is None or e.verdict is not Verdict.INCONCLUSIVE or e.se is None or e.diff is None or e.margin is None:
        return None
    m_abs = e.margin["absolute_value"]
    if m_abs is None or e.se <= 0:
        return None
    need = eq.n_required(e.diff, e.se, e.n, m_abs, alpha=level, power=inp.power, test=margin.test,
                         higher_is_better=margin.higher_is_better)
    # The normal-quantile projection can fall below n when the t interval of a few rows is what made it
    # INCONCLUSIVE (3 rows "decided by about 2"): undecided at n rows needs more than n.
    return None if need is None else max(int(need), e.n + 1)


def _n_required_planning(inp: _Inputs, e: MetricEntry, level: float) -> int | None:
    """Rows for the stated power if the true difference is 0 (the planning number), for every gated
    entry with a margin and a standard error."""
    margin = inp.margins.get(e.name)
    if margin is None or e.se is None or e.margin is None or e.margin["absolute_value"] is None or e.se <= 0:
        return None
    return eq.n_required_planning(e.se, e.n, e.margin["absolute_value"], alpha=level, power=inp.power,
                                  test=margin.test)


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------

def _capped_log_losses(inp: _Inputs) -> list[str]:
    """A note for each side with scores of exactly 0 for a positive or 1 for a negative: their log loss
    (infinite) is capped at -log(eps) by the clipping scikit-learn also applies (`metrics.log_loss`),
    so the metric stays finite; said, not done silently."""
    if not any(d.name == "logloss" for d in inp.defs):
        return []
    out = []
    for side, p in (("legacy", inp.a), ("new", inp.b)):
        wrong = ((p == 0) & (inp.y == 1)) | ((p == 1) & (inp.y == 0))
        if wrong.any():
            first = int(np.flatnonzero(wrong)[0])
            out.append(f"logloss: {int(wrong.sum())} {side} score(s) are exactly 0 for a positive or 1 for a "
                       f"negative (first at row {first}); each such row's log loss is capped at -log(eps) by "
                       "clipping to [eps, 1 - eps] (eps: the scores' float epsilon), as scikit-learn's log_loss does")
    return out


def compare_scores(y_true: Any, score_legacy: Any, score_new: Any, *, metrics: Sequence[str] = DEFAULT_METRICS,
                   margins: Mapping[str, Any] | None = None, alpha: float = 0.05, sample_weight: Any = None,
                   groups: Any = None, keys: Any = None, n_boot: int = 1000, seed: int = 0,
                   slices: Mapping[Any, Any] | None = None, min_slice_size: int = 1000,
                   method: str | Mapping[str, str] = "auto", power: float = 0.8,
                   ungated: Sequence[str] = (), allow_identical: bool = False) -> ComparisonResult:
    """Compare two models' scores on the same rows, metric by metric, with three-way verdicts.

    ``margins`` maps a metric name to a `Margin`, an absolute number, or ``(value, "absolute"|"relative")``
    (as `equivalence.parse_margins` returns); the direction comes from the metric's definition unless a
    full `Margin` is given. ``slices`` maps a column name to one categorical value per row (or a
    `SliceCodes`), or a tuple of
    column names to a tuple of such arrays (a crossed slice: one entry per combination present, id
    ``metrics/auc[device=mobile,country=US]``). ``power`` sets the target of ``mdd`` and ``n_required``.
    Metrics named in ``ungated`` keep their margin and verdict but are informative only: not gated and
    outside the Holm family. ``score_new`` equal to ``score_legacy`` row for row is refused (a column
    compared with itself proves nothing) unless ``allow_identical=True``. See the module docstring for
    methods, intervals, gating and what counts as undefined.

    Four steps, each a function: validate (every argument, once) -> estimate (one estimator per method)
    -> gate (one `MetricEntry` per metric x slice) -> adjust (Holm); each metric x slice cell is
    estimated and gated on a worker thread (`_estimate_and_gate`), the cells in their fixed order.
    """
    inp = _validate(y_true, score_legacy, score_new, metrics=metrics, margins=margins, alpha=alpha,
                    sample_weight=sample_weight, groups=groups, keys=keys, n_boot=n_boot, seed=seed, slices=slices,
                    min_slice_size=min_slice_size, method=method, power=power, ungated=ungated,
                    allow_identical=allow_identical)
    cells = [(d, None) for d in inp.defs] + [(d, sl) for sl in inp.slices for d in inp.defs]
    estimates, entries = _estimate_and_gate(inp, cells)
    entries = _adjust(inp, entries, estimates)
    notes = [] if inp.margins else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    notes += _capped_log_losses(inp)
    return ComparisonResult(entries, n_rows=int(inp.y.shape[0]), seed=inp.seed, alpha=inp.alpha, n_boot=inp.n_boot,
                            min_slice_size=inp.min_slice_size, notes=notes)
