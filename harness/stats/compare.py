"""`compare_scores`: are two score columns on the same rows accuracy-neutral, metric by metric?

For each metric (and each slice value of the chosen columns) the paired difference ``new - legacy`` is
estimated with an interval, compared with the metric's margin (`harness.stats.equivalence`) and the
resulting TOST p-values are Holm-adjusted across every gated metric x slice (`harness.stats.multiple`).

Method per metric (``method="auto"``):

- ``auc`` -> DeLong (Sun & Xu's O(n log n) algorithm): exact variance of the paired difference, no
  resampling. DeLong has no weighted form, so with ``sample_weight`` AUC goes to the paired bootstrap.
- ``logloss``, ``brier``, ``mae`` -> ``paired``: the metric is a (weighted) mean of per-row losses, so
  the difference is the mean of per-row paired differences ``d_i = loss_new_i - loss_legacy_i``
  (`harness.stats.bootstrap.paired_difference_ci`: Student-t interval, n - 1 df; weighted: the
  ratio-estimator linearization). The TOST p-value uses the same t distribution.
- ``rmse`` -> ``delta``: RMSE is the root of a mean, not a mean; the delta method linearizes it, each
  row contributing ``u_i = (e2_new_i - MSE_new)/(2 RMSE_new) - (e2_legacy_i - MSE_legacy)/(2 RMSE_legacy)``
  (``e2`` the squared error); the standard error is that of the (weighted) mean of ``u``,
  ``sqrt(n/(n-1) * sum w_i^2 (u_i - ubar)^2) / sum w_i``, with a normal interval. Chosen over the
  bootstrap because it is exact to first order, costs one pass, and golden sets are large.
- everything else (``pr_auc``, ``ece``, calibration, ``ndcg@k``, ``mrr``) -> ``bootstrap``: the paired
  bootstrap of `harness.stats.bootstrap` (``n_boot`` replicates, ``seed``); ranking metrics resample
  query groups (``groups`` required), and with ``keys`` the Poisson scheme makes replicates independent of
  row order.

``method="bootstrap"`` forces the bootstrap for every metric; a mapping ``{metric: method}`` chooses per
metric (``delong`` is AUC-only and unweighted; ``paired`` needs a per-row metric other than rmse; ``delta``
is rmse-only).

Intervals: decisions use the two-sided ``(1 - 2*alpha)`` interval (``ci``, ``ci_level``; its bounds are
the one-sided level-alpha bounds of TOST and non-inferiority). The usual ``(1 - alpha)`` interval is
reported as ``ci_two_sided``. ``p_value`` is the TOST (or non-inferiority) p-value under the normal
approximation with the method's standard error (Student-t for ``paired``; for the bootstrap the standard
deviation of the replicates, so it can disagree with the percentile interval in the third digit); ``p_difference`` is the two-sided p-value of "no
difference", for context only (it gates nothing).

Margins and gating: a metric gates only when it has a margin; a metric without a margin is reported
(INCONCLUSIVE, ``gated: False``, ``p_value: None``) because no margin means no claim to test. Slices below
``min_slice_size`` rows are reported but not gated, and slices where a metric is undefined (one class
only) are reported with ``legacy``/``new`` None and a note. Gated entries form the Holm family; an
EQUIVALENT entry whose adjusted p-value exceeds alpha becomes INCONCLUSIVE. The overall verdict combines
the gated entries (`harness.verdicts.combine`; none gated -> INCONCLUSIVE).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st
from scipy.special import ndtr, ndtri

from harness.errors import ParityInputError
from harness.results import CheckResult, jsonable
from harness.stats import equivalence as eq
from harness.stats._validation import group_codes
from harness.stats.metrics import MetricDef, get_metric
from harness.stats.multiple import METHOD as ADJUSTMENT
from harness.stats.multiple import holm_verdicts
from harness.verdicts import Verdict, combine

__all__ = ["compare_scores", "ComparisonResult", "MetricEntry", "DEFAULT_METRICS", "METHODS"]

DEFAULT_METRICS = ("auc", "logloss", "brier")
METHODS = ("auto", "delong", "paired", "delta", "bootstrap")
_PAIRED = ("logloss", "brier", "mae")


@dataclass
class MetricEntry:
    """One metric on all rows or on one slice; see the module docstring for each field's meaning."""

    name: str
    slice: dict[str, Any] | None
    verdict: Verdict
    gated: bool
    legacy: float | None
    new: float | None
    diff: float | None
    ci: tuple[float, float] | None
    ci_level: float
    ci_two_sided: tuple[float, float] | None
    ci_two_sided_level: float
    method: str
    se: float | None
    p_value: float | None
    p_adjusted: float | None
    adjustment: str | None
    p_difference: float | None
    margin: dict[str, Any] | None
    n: int
    mdd: float | None
    n_required: int | None
    note: str = ""
    n_groups: int | None = None  # query groups among the n rows, for ranking metrics (None for the others)

    @property
    def id(self) -> str:
        if self.slice is None:
            return f"metrics/{self.name}"
        return f"metrics/{self.name}[{self.slice['column']}={self.slice['value']}]"

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
            "note": self.note,
        })

    def summary(self) -> str:
        if self.diff is None:
            return f"{self.name}: not computable ({self.note})"
        m = self.margin["absolute_value"] if self.margin else None
        mtxt = f" margin +/-{m:.4g}" if m is not None else " no margin"
        return (f"{self.name}: legacy {self.legacy:.6g} new {self.new:.6g} diff {self.diff:+.4g} "
                f"{self.ci_level:.0%} CI [{self.ci[0]:+.4g}, {self.ci[1]:+.4g}]{mtxt} -> {self.verdict}")


@dataclass
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

    def entry(self, name: str, *, column: str | None = None, value: Any = None) -> MetricEntry:
        for e in self.entries:
            if e.name != name:
                continue
            if column is None and e.slice is None:
                return e
            if column is not None and e.slice is not None and e.slice["column"] == column and e.slice["value"] == value:
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

    def to_checks(self) -> list[CheckResult]:
        """One `CheckResult` of kind "metric" per entry (ids like ``metrics/auc[device=mobile]``)."""
        out = []
        for e in self.entries:
            d = e.to_dict()
            details = {k: d[k] for k in ("legacy", "new", "diff", "ci", "ci_level", "method", "p_value",
                                         "p_adjusted", "adjustment", "margin", "slice", "n", "mdd", "n_required")}
            details = {"metric": e.name, **details, "ci_two_sided": d["ci_two_sided"], "se": d["se"],
                       "p_difference": d["p_difference"], "note": d["note"]}
            out.append(CheckResult(id=e.id, kind="metric", verdict=e.verdict, gated=e.gated,
                                   summary=e.summary(), details=details))
        return out


# ---------------------------------------------------------------------------------------------
# estimation per metric
# ---------------------------------------------------------------------------------------------

@dataclass
class _Estimate:
    legacy: float
    new: float
    diff: float
    se: float
    ci: tuple[float, float]  # 1 - 2 alpha
    ci_two_sided: tuple[float, float]  # 1 - alpha
    method: str
    df: int | None = None  # Student-t degrees of freedom of the interval, None for normal ones


def _normal(diff: float, se: float, alpha: float) -> tuple[float, float]:
    h = float(ndtri(1 - alpha / 2)) * se
    return (diff - h, diff + h)


def _mean_se(u: np.ndarray, w: np.ndarray | None) -> float:
    """Standard error of the (weighted) mean of u; m = rows with positive weight (as paired_difference_ci)."""
    ww = np.ones(u.shape[0]) if w is None else w
    m = int(np.count_nonzero(ww > 0))
    if m < 2:
        return math.nan
    sw = ww.sum()
    ubar = float(np.dot(ww, u) / sw)
    return math.sqrt(m / (m - 1) * float(np.dot(ww * ww, (u - ubar) ** 2))) / sw


def _by_normal(legacy: float, new: float, se: float, alpha: float, method: str) -> _Estimate:
    diff = new - legacy
    return _Estimate(legacy, new, diff, se, _normal(diff, se, 2 * alpha), _normal(diff, se, alpha), method)


def _est_delong(y, a, b, alpha) -> _Estimate:
    from harness.stats.delong import delong_paired

    r = delong_paired(y, a, b, alpha=alpha)
    return _Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * alpha)), tuple(r.ci_at(alpha)), r.method)


def _est_paired(m: MetricDef, y, a, b, w, alpha) -> _Estimate:
    from harness.stats.bootstrap import paired_difference_ci

    r = paired_difference_ci(m.per_row(y, a), m.per_row(y, b), sample_weight=w, alpha=2 * alpha)
    # point values from the metric itself (bit-identical to what a metric check reports)
    legacy, new = m.fn(y, a, sample_weight=w), m.fn(y, b, sample_weight=w)
    return _Estimate(legacy, new, new - legacy, r.se, tuple(r.ci), tuple(r.ci_at(alpha)), r.method, df=r.df)


def _est_delta(m: MetricDef, y, a, b, w, alpha) -> _Estimate:
    ea, eb = m.per_row(y, a), m.per_row(y, b)  # squared errors
    mse_a, mse_b = float(np.average(ea, weights=w)), float(np.average(eb, weights=w))
    legacy, new = m.fn(y, a, sample_weight=w), m.fn(y, b, sample_weight=w)
    if mse_a <= 0 or mse_b <= 0:
        se = math.nan  # a perfect side: the square root is not differentiable at 0
    else:
        u = (eb - mse_b) / (2 * math.sqrt(mse_b)) - (ea - mse_a) / (2 * math.sqrt(mse_a))
        se = _mean_se(u, w)
    return _by_normal(legacy, new, se, alpha, "delta method (normal)")


def _est_bootstrap(m: MetricDef, y, a, b, w, groups, keys, alpha, n_boot, seed) -> _Estimate:
    from harness.stats.bootstrap import paired_bootstrap

    # With row keys the Poisson scheme makes the replicates independent of row order and partitioning;
    # ranking metrics key their Poisson weights by the group id, so they never take row keys.
    scheme = "poisson" if keys is not None else "multinomial"
    r = paired_bootstrap(m.name, y, a, b, sample_weight=w, groups=groups if m.needs_groups else None,
                         keys=None if m.needs_groups else keys, n_boot=n_boot, alpha=2 * alpha, seed=seed,
                         scheme=scheme)
    return _Estimate(float(r.legacy), float(r.new), float(r.diff), float(r.se), tuple(map(float, r.ci)),
                     tuple(map(float, r.ci_at(alpha))), str(r.method))


def _choose(m: MetricDef, requested: str, weighted: bool) -> str:
    if requested == "auto":
        if m.name == "auc":
            return "bootstrap" if weighted else "delong"
        if m.name in _PAIRED:
            return "paired"
        if m.name == "rmse":
            return "delta"
        return "bootstrap"
    if requested == "delong" and (m.name != "auc" or weighted):
        raise ParityInputError(f"method 'delong' applies to unweighted auc only, not to {m.name!r}"
                               + (" with sample_weight" if weighted else ""))
    if requested == "paired" and (m.per_row is None or m.name == "rmse"):
        raise ParityInputError(f"method 'paired' needs a metric that is a mean of per-row losses "
                               f"({', '.join(_PAIRED)}), not {m.name!r}")
    if requested == "delta" and m.name != "rmse":
        raise ParityInputError(f"method 'delta' applies to rmse only, not to {m.name!r}")
    return requested


def _estimate(m: MetricDef, how: str, y, a, b, w, groups, keys, alpha, n_boot, seed) -> _Estimate:
    if how == "delong":
        return _est_delong(y, a, b, alpha)
    if how == "paired":
        return _est_paired(m, y, a, b, w, alpha)
    if how == "delta":
        return _est_delta(m, y, a, b, w, alpha)
    return _est_bootstrap(m, y, a, b, w, groups, keys, alpha, n_boot, seed)


def _entry(m: MetricDef, est: _Estimate | None, margin: eq.Margin | None, *, n: int, alpha: float,
           power: float, slice_: dict[str, Any] | None, gated: bool, note: str) -> MetricEntry:
    lvl, lvl2 = 1 - 2 * alpha, 1 - alpha
    if est is None:
        return MetricEntry(m.name, slice_, Verdict.INCONCLUSIVE, False, None, None, None, None, lvl, None, lvl2,
                           "", None, None, None, None, None, margin.to_dict() if margin else None, n, None, None,
                           note)
    se_ok = math.isfinite(est.se)
    p_diff = None
    if se_ok:
        if est.se == 0:
            p_diff = 1.0 if est.diff == 0 else 0.0
        elif est.df is None:
            p_diff = float(2 * ndtr(-abs(est.diff) / est.se))
        else:
            p_diff = float(2 * _st.t.sf(abs(est.diff) / est.se, est.df))
    mdd = eq.minimum_detectable_difference(est.se, alpha=alpha, power=power) if se_ok else None
    if margin is None:
        return MetricEntry(m.name, slice_, Verdict.INCONCLUSIVE, False, est.legacy, est.new, est.diff, est.ci, lvl,
                           est.ci_two_sided, lvl2, est.method, est.se if se_ok else None, None, None, None, p_diff,
                           None, n, mdd, None, note or "no margin: reported, not gated")
    mdict = margin.to_dict(est.legacy)
    m_abs = mdict["absolute_value"]
    if m_abs is None or not se_ok or not all(math.isfinite(c) for c in est.ci):
        why = "relative margin of a zero legacy metric" if m_abs is None else "standard error not computable"
        return MetricEntry(m.name, slice_, Verdict.INCONCLUSIVE, gated, est.legacy, est.new, est.diff, est.ci, lvl,
                           est.ci_two_sided, lvl2, est.method, est.se if se_ok else None, None, None, None, p_diff,
                           mdict, n, mdd, None, (note + "; " if note else "") + why)
    verdict = eq.decide(est.diff, est.ci[0], est.ci[1], m_abs, test=margin.test,
                        higher_is_better=margin.higher_is_better)
    p = eq.tost_p_value(est.diff, est.se, m_abs, test=margin.test, higher_is_better=margin.higher_is_better,
                        df=est.df)
    return MetricEntry(m.name, slice_, verdict, gated, est.legacy, est.new, est.diff, est.ci, lvl, est.ci_two_sided,
                       lvl2, est.method, est.se, p, None, None, p_diff, mdict, n, mdd, None, note)


def _n_required(e: MetricEntry, margin: eq.Margin, alpha: float, power: float) -> int | None:
    if e.verdict is not Verdict.INCONCLUSIVE or e.se is None or e.diff is None or e.margin is None:
        return None
    m_abs = e.margin["absolute_value"]
    if m_abs is None or e.se <= 0:
        return None
    if e.p_value and e.p_adjusted and e.p_adjusted > e.p_value:
        # Holm multiplied this p-value by k (its adjusted/raw ratio): deciding needs p <= alpha / k
        alpha = alpha * e.p_value / e.p_adjusted
    return eq.n_required(e.diff, e.se, e.n, m_abs, alpha=alpha, power=power, test=margin.test,
                         higher_is_better=margin.higher_is_better)


# ---------------------------------------------------------------------------------------------
# slices
# ---------------------------------------------------------------------------------------------

def _slice_codes(column: str, values: Any, n: int) -> list[tuple[Any, np.ndarray]]:
    """(value, row indices) per distinct value, in sorted value order; missing values are their own slice."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ParityInputError(f"slice column {column!r} must be one value per row ({n}), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
    elif arr.dtype == object:
        missing = np.fromiter((v is None or (isinstance(v, float) and v != v) for v in arr), bool, count=n)
    else:
        missing = np.zeros(n, dtype=bool)
    present = np.flatnonzero(~missing)
    out: list[tuple[Any, np.ndarray]] = []
    if present.size:
        try:
            uniq, inv = np.unique(arr[present], return_inverse=True)
        except TypeError:
            raise ParityInputError(f"slice column {column!r} mixes value types that cannot be ordered "
                                   "(e.g. strings and numbers); give it one type") from None
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(uniq.size + 1))
        for j, v in enumerate(uniq.tolist()):
            out.append((v, present[order[bounds[j]:bounds[j + 1]]]))
    if missing.any():
        out.append((None, np.flatnonzero(missing)))
    return out


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------

def _validate_options(alpha, n_boot, seed, min_slice_size, power) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ParityInputError(f"alpha must be in (0, 0.5) (the decision interval is 1 - 2*alpha), got {alpha!r}")
    for name, v, lo in (("n_boot", n_boot, 2), ("seed", seed, 0), ("min_slice_size", min_slice_size, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ParityInputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not 0 < power < 1:
        raise ParityInputError(f"power must be in (0, 1), got {power!r}")


def _margins(metric_defs: list[MetricDef], margins: Mapping[str, Any] | None) -> dict[str, eq.Margin]:
    names = {d.name for d in metric_defs}
    canonical: dict[str, Any] = {}
    for key, spec in (margins or {}).items():  # "AUC" and "auc" name the same metric
        name = key.strip().lower() if isinstance(key, str) else key
        if name in canonical:
            raise ParityInputError(f"margins name metric {name!r} twice")
        canonical[name] = spec
    margins = canonical
    unknown = sorted(set(margins) - names)
    if unknown:
        raise ParityInputError(f"margins given for metric(s) {unknown} that are not being compared; "
                               f"metrics: {sorted(names)}")
    return {d.name: eq.as_margin(d.name, margins[d.name], higher_is_better=d.higher_is_better)
            for d in metric_defs if d.name in margins}


def compare_scores(y_true: Any, score_legacy: Any, score_new: Any, *, metrics: Sequence[str] = DEFAULT_METRICS,
                   margins: Mapping[str, Any] | None = None, alpha: float = 0.05, sample_weight: Any = None,
                   groups: Any = None, keys: Any = None, n_boot: int = 1000, seed: int = 0,
                   slices: Mapping[str, Any] | None = None, min_slice_size: int = 1000,
                   method: str | Mapping[str, str] = "auto", power: float = 0.8,
                   ungated: Sequence[str] = ()) -> ComparisonResult:
    """Compare two models' scores on the same rows, metric by metric, with three-way verdicts.

    ``margins`` maps a metric name to a `Margin`, an absolute number, or ``(value, "absolute"|"relative")``
    (as `equivalence.parse_margins` returns); the direction comes from the metric's definition unless a
    full `Margin` is given. ``slices`` maps a column name to one categorical value per row. ``power`` sets
    the target of ``mdd`` and ``n_required``. Metrics named in ``ungated`` keep their margin and verdict
    but are informative only: not gated and outside the Holm family. See the module docstring for methods,
    intervals and gating.
    """
    _validate_options(alpha, n_boot, seed, min_slice_size, power)
    if isinstance(metrics, str):
        metrics = [metrics]
    defs = [get_metric(m) for m in metrics]
    if not defs:
        raise ParityInputError("metrics is empty; name at least one metric, e.g. ('auc', 'logloss')")
    dup = sorted({d.name for d in defs if [x.name for x in defs].count(d.name) > 1})
    if dup:
        raise ParityInputError(f"metrics lists {dup} more than once")
    margin_of = _margins(defs, margins)
    if isinstance(ungated, str):
        ungated = [ungated]
    informative = {get_metric(u).name for u in ungated}
    stray = sorted(informative - {d.name for d in defs})
    if stray:
        raise ParityInputError(f"ungated names metric(s) {stray} that are not being compared")

    a = np.asarray(score_legacy)
    b = np.asarray(score_new)
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ParityInputError(f"y_true must be 1-D (one label per row), got shape {y.shape}")
    n = int(y.shape[0])
    for name, arr in (("score_legacy", a), ("score_new", b)):
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ParityInputError(f"{name} must be 1-D with one value per row ({n} rows in y_true), got shape {arr.shape}")
    if n < 1:
        raise ParityInputError("y_true is empty")
    for name, arr in (("score_legacy", a), ("score_new", b)):
        if arr.dtype.kind in "fc":
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise ParityInputError(f"{name}: row {int(bad[0])} is {arr[bad[0]].item()!r} ({bad.size} non-finite in all); "
                                       "scores must be finite")
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if w is not None and (w.ndim != 1 or w.shape[0] != n):
        raise ParityInputError(f"sample_weight must have one value per row ({n}), got shape {w.shape}")
    g = None if groups is None else np.asarray(groups)
    k = None if keys is None else np.asarray(keys)
    if isinstance(method, str):
        if method not in ("auto", "bootstrap"):
            raise ParityInputError(f"method must be 'auto', 'bootstrap' or a mapping metric -> method, got {method!r}")
        how_of = {d.name: _choose(d, method, w is not None) for d in defs}
    else:
        unknown = sorted(set(method) - {d.name for d in defs})
        bad = {k_: v for k_, v in method.items() if v not in METHODS}
        if unknown or bad:
            raise ParityInputError(f"method mapping: unknown metric(s) {unknown} or method(s) {bad}; "
                                   f"methods: {METHODS}")
        how_of = {d.name: _choose(d, method.get(d.name, "auto"), w is not None) for d in defs}
    for d in defs:
        if d.needs_groups and g is None:
            raise ParityInputError(f"metric {d.name!r} is computed per query group: pass groups (--group COL)")

    def sub(arr, idx):
        return None if arr is None else arr[idx]

    def n_groups(d: MetricDef, gg) -> int | None:  # what a ranking metric averages over
        if not d.needs_groups or gg is None:
            return None
        try:
            return int(group_codes(gg, gg.shape[0])[1].size)
        except ParityInputError:  # the metric itself reports the bad group ids
            return None

    entries: list[MetricEntry] = []
    margin_list: list[eq.Margin | None] = []
    for d in defs:  # all rows: undefined metrics here are bad input and raise
        est = _estimate(d, how_of[d.name], y, a, b, w, g, k, alpha, n_boot, seed)
        mg = margin_of.get(d.name)
        entries.append(_entry(d, est, mg, n=n, alpha=alpha, power=power, slice_=None,
                              gated=mg is not None and d.name not in informative,
                              note="informative: not gated" if d.name in informative else ""))
        entries[-1].n_groups = n_groups(d, g)
        margin_list.append(mg)

    for column, values in (slices or {}).items():
        for value, idx in _slice_codes(column, values, n):
            sl = {"column": str(column), "value": value}
            small = idx.size < min_slice_size
            for d in defs:
                mg = margin_of.get(d.name)
                note = f"slice below min_slice_size={min_slice_size}: reported, not gated" if small else (
                    "informative: not gated" if d.name in informative else "")
                try:
                    est = _estimate(d, how_of[d.name], y[idx], a[idx], b[idx], sub(w, idx), sub(g, idx),
                                    sub(k, idx), alpha, n_boot, seed)
                except ParityInputError as exc:  # e.g. one class only in this slice
                    entries.append(_entry(d, None, mg, n=int(idx.size), alpha=alpha, power=power, slice_=sl,
                                          gated=False, note=f"not computable on this slice: {exc}"))
                    entries[-1].n_groups = n_groups(d, sub(g, idx))
                    margin_list.append(mg)
                    continue
                entries.append(_entry(d, est, mg, n=int(idx.size), alpha=alpha, power=power, slice_=sl,
                                      gated=mg is not None and not small and d.name not in informative, note=note))
                entries[-1].n_groups = n_groups(d, sub(g, idx))
                margin_list.append(mg)

    p_family = [e.p_value if e.gated else None for e in entries]
    p_adj, verdicts = holm_verdicts(p_family, [e.verdict for e in entries], alpha=alpha)
    for e, pa, v, mg in zip(entries, p_adj, verdicts, margin_list):
        if pa is not None:
            e.p_adjusted, e.adjustment = pa, ADJUSTMENT
            if v is not e.verdict:
                e.note = (e.note + "; " if e.note else "") + (
                    f"interval inside the margin but Holm-adjusted p = {pa:.3g} > alpha = {alpha}")
                e.verdict = v
        if mg is not None:
            e.n_required = _n_required(e, mg, alpha, power)
    notes = []
    if not margin_of:
        notes.append("no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE")
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=int(min_slice_size), notes=notes)
