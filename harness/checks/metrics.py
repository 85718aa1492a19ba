"""Metric parity: each suite metric (and slice) compared with its margin, as `CheckResult` objects.

A thin shell over `harness.stats.compare.compare_scores`, which does the statistics (method per metric,
intervals, TOST / non-inferiority, Holm across metrics x slices); this module turns the suite's
`MetricGate` declarations into margins, converts the comparison into check results
(`comparison_checks`) and writes the review-style failure messages. `plan_metric_ids` gives the ids
`check_metrics` will produce, from the same code, so a suite's plan and its results cannot disagree;
`validate_metric_names` checks a suite's metric names before anything runs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.stats.compare import ComparisonResult, MetricEntry, compare_scores, entry_id, slice_label, slice_rows
from harness.stats.equivalence import Margin
from harness.stats.metrics import METRICS, get_metric
from harness.suite import MetricGate
from harness.verdicts import Verdict

__all__ = ["check_metrics", "comparison_checks", "plan_metric_ids", "validate_metric_names"]

# The metric details a check carries (ARCHITECTURE.md "metric"; harness/report/schema.json), in this order.
_DETAILS = ("legacy", "new", "diff", "ci", "ci_level", "method", "p_value", "p_adjusted", "adjustment", "margin",
            "slice", "n", "mdd", "n_required", "n_required_planning", "ci_two_sided", "se", "p_difference", "note", "n_groups",
            "ci_adjusted", "ci_adjusted_level", "decided_by")


def comparison_checks(result: ComparisonResult, gates: Sequence[MetricGate] = (), *,
                      weights: str | None = None) -> list[CheckResult]:
    """One `CheckResult` of kind "metric" per entry (ids like ``metrics/auc[device=mobile]``).

    Entries that fail or are not gated get the review-style message; a gate's ``reason`` is quoted.
    ``weights`` names the column whose values weighted the metrics (None: unweighted); it is in every
    check's details, so that a reader knows which column a weighted metric was weighted by.
    """
    gate_of = {get_metric(g.metric).name: g for g in gates}
    checks = []
    for e in result.entries:
        d = e.to_dict()
        message = "" if (e.verdict is Verdict.EQUIVALENT and e.gated) else _message(e, gate_of.get(e.name), weights)
        checks.append(CheckResult(id=e.id, kind="metric", verdict=e.verdict, gated=e.gated, summary=e.summary(),
                                  message=message, details={"metric": e.name, **{k: d[k] for k in _DETAILS},
                                                            "weights": weights}))
    return checks


def _message(e: MetricEntry, gate: MetricGate | None, weights: str | None = None) -> str:
    where = "" if e.slice is None else f" on slice {slice_label(e.slice)}"
    reason = [f"  Margin rationale: {gate.reason}"] if gate is not None and gate.reason else []
    if e.diff is None:
        gate = "gated: the suite cannot pass" if e.gated else "not gated"
        return "\n".join([f"{e.id}: {e.verdict} ({gate}): {e.note}."] + reason)
    m = e.margin or {}
    what = {"equivalence": "equivalence (TOST)", "non_inferiority": "non-inferiority"}.get(m.get("test"), m.get("test"))
    absolute = m.get("absolute_value")
    lo, hi = e.ci
    lines = [
        f"{e.name}{where}: {e.verdict} under {what} with margin +/-"
        f"{absolute if absolute is not None else float('nan'):.4g}"
        + (f" ({m['value']:.2%} of legacy)" if m.get("kind") == "relative" else ""),
        f"  legacy {e.legacy:.6g}, new {e.new:.6g}, diff (new - legacy) {e.diff:+.4g}",
        f"  {e.ci_level:.0%} interval [{lo:+.4g}, {hi:+.4g}] by {e.method}"
        + (f", weighted by column {weights!r}" if weights else "") + "; "
        f"p = {_p(e.p_value)}, {e.adjustment or 'unadjusted'}-adjusted p = {_p(e.p_adjusted)}, n = {e.n}",
    ]
    if e.decided_by == "holm":
        lo2, hi2 = e.ci_adjusted
        lines.append(f"  The {e.ci_level:.0%} interval lies inside the margin, but the claim does not survive the Holm "
                     f"adjustment: adjusted p = {_p(e.p_adjusted)} > alpha. At the adjusted level the interval is "
                     f"[{lo2:+.4g}, {hi2:+.4g}] ({e.ci_adjusted_level:.1%}).")
        if e.n_required:
            lines.append(f"  Rows needed to decide at the adjusted level (80% power): about {e.n_required}.")
    elif e.verdict is Verdict.INCONCLUSIVE and e.margin is not None:
        lines.append("  The interval straddles the margin: this golden set is too small to decide.")
        if e.mdd is not None:
            lines.append(f"  Minimum detectable difference at this size: {e.mdd:.4g}.")
        if e.n_required_planning:
            lines.append(f"  Rows for 80% power if the true difference is 0 (planning): about {e.n_required_planning}.")
        if e.n_required:
            lines.append(f"  Rows to decide at the observed difference (80% power): about {e.n_required}.")
    elif e.verdict is Verdict.NOT_EQUIVALENT:
        lines.append("  The whole interval lies beyond the margin: the new model's metric differs by more than allowed.")
    if e.note:
        lines.append(f"  Note: {e.note}")
    return "\n".join(lines + reason)


def _p(p: Any) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def check_metrics(
    y_true: Any,
    score_legacy: Any,
    score_new: Any,
    *,
    gates: Sequence[MetricGate],
    sample_weight: Any = None,
    groups: Any = None,
    keys: Any = None,
    slices: Mapping[Any, Any] | None = None,
    min_slice_size: int = 1000,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    weight_column: str | None = None,
) -> list[CheckResult]:
    """The suite's metric checks: one per gate on all rows, then per slice value (see `compare_scores`).

    ``weight_column`` names the column ``sample_weight`` holds (the checks' ``weights`` detail; with
    ``sample_weight`` and no name, "sample_weight").

    ``slices`` maps a column to its values per row, or a tuple of columns to a tuple of arrays (crossed).
    Identical scores from the two sides are allowed here: in a suite they are two programs' outputs
    (a bit-exact port), not one column passed twice.
    """
    names = validate_metric_names([g.metric for g in gates], has_groups=groups is not None)
    margins = {}
    for name, gate in zip(names, gates):
        definition = get_metric(name)
        margins[name] = Margin(name, gate.margin, kind=gate.kind, higher_is_better=definition.higher_is_better,
                               test=gate.test)
    result = compare_scores(
        y_true, score_legacy, score_new, metrics=names, margins=margins, alpha=alpha,
        sample_weight=sample_weight, groups=groups, keys=keys, n_boot=n_boot, seed=seed, slices=slices or None,
        min_slice_size=min_slice_size, ungated=[n for n, g in zip(names, gates) if not g.gated],
        allow_identical=True,
    )
    weights = None if sample_weight is None else (weight_column or "sample_weight")
    return comparison_checks(result, gates, weights=weights)


def validate_metric_names(names: Iterable[str], *, has_groups: bool | None = None) -> list[str]:
    """Canonical metric names ("AUC" -> "auc", "NDCG@5" -> "ndcg@5"), in order.

    Raises `ParityInputError` naming an unknown metric and the choices, a metric named twice, or (when
    ``has_groups`` is False) a ranking metric (ndcg@K, mrr), which needs a query-group column.
    """
    out: list[str] = []
    for name in names:
        try:
            d = get_metric(name)
        except ParityInputError:
            choices = ", ".join(sorted(METRICS)) + " (ndcg@K for any K >= 1)"
            raise ParityInputError(f"unknown metric {name!r}; choices: {choices}", argument="metrics", value=name,
                                   reason=f"unknown metric; choices: {choices}") from None
        if d.name in out:
            raise ParityInputError(f"metric {name!r} is named twice (as {d.name!r})", argument="metrics", value=name,
                                   reason="named twice")
        if d.needs_groups and has_groups is False:
            raise ParityInputError(f"metric {name!r} is computed per query group and needs a group column "
                                   "(a dataset column with role 'group', or --group COL)", argument="metrics",
                                   value=name, reason="a ranking metric needs a group column")
        out.append(d.name)
    return out


def plan_metric_ids(gates: Sequence[MetricGate], slice_values: Mapping[Any, Sequence[Any]] | None = None) -> list[str]:
    """Exactly the ids `check_metrics` produces, in its order, for data whose slice columns hold these values.

    ``slice_values`` maps each slice column to its distinct values (None for a missing value, which is a
    slice of its own), or a tuple of columns to the value tuples present (a crossed slice). Values are
    ordered here as `compare_scores` orders them, so the order they are given in does not matter.
    """
    names = validate_metric_names([g.metric for g in gates])
    ids = [entry_id(n, None) for n in names]
    for key, values in (slice_values or {}).items():
        values = list(values)
        if not values:
            continue
        if isinstance(key, tuple):
            arrays = tuple(np.array([v[i] for v in values], dtype=object) for i in range(len(key)))
        else:
            arrays = np.array(values, dtype=object)
        for sl in slice_rows({key: arrays}, len(values)):
            ids += [entry_id(n, sl.to_dict()) for n in names]
    return ids
