"""Metric parity: each suite metric (and slice) compared with its margin, as `CheckResult` objects.

A thin shell over `harness.stats.compare.compare_scores`, which does the statistics (method per metric,
intervals, TOST / non-inferiority, Holm across metrics x slices); this module turns the suite's
`MetricGate` declarations into margins and writes the review-style failure messages.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.results import CheckResult
from harness.stats.compare import compare_scores
from harness.stats.equivalence import Margin
from harness.stats.metrics import get_metric
from harness.suite import MetricGate
from harness.verdicts import Verdict

__all__ = ["check_metrics"]


def _message(check: CheckResult, gate: MetricGate) -> str:
    d = check.details
    where = f" on slice {d['slice']['column']}={d['slice']['value']!r}" if d.get("slice") else ""
    if d.get("diff") is None:
        return f"{check.id}: the metric is not computable{where} ({d.get('note')})."
    m = d["margin"] or {}
    lo, hi = d["ci"]
    what = {"equivalence": "equivalence (TOST)", "non_inferiority": "non-inferiority"}.get(m.get("test"), m.get("test"))
    lines = [
        f"{d['metric']}{where}: {check.verdict} under {what} with margin +/-{m.get('absolute_value', float('nan')):.4g}"
        + (f" ({m['value']:.2%} of legacy)" if m.get("kind") == "relative" else ""),
        f"  legacy {d['legacy']:.6g}, new {d['new']:.6g}, diff (new - legacy) {d['diff']:+.4g}",
        f"  {d['ci_level']:.0%} interval [{lo:+.4g}, {hi:+.4g}] by {d['method']}; "
        f"p = {_p(d['p_value'])}, {d.get('adjustment') or 'unadjusted'}-adjusted p = {_p(d['p_adjusted'])}, n = {d['n']}",
    ]
    if check.verdict is Verdict.INCONCLUSIVE:
        lines.append("  The interval straddles the margin: this golden set is too small to decide.")
        if d.get("mdd") is not None:
            lines.append(f"  Minimum detectable difference at this size: {d['mdd']:.4g}.")
        if d.get("n_required"):
            lines.append(f"  Rows needed to decide (80% power): about {d['n_required']}.")
    elif check.verdict is Verdict.NOT_EQUIVALENT:
        lines.append("  The whole interval lies beyond the margin: the new model's metric differs by more than allowed.")
    if gate.reason:
        lines.append(f"  Margin rationale: {gate.reason}")
    return "\n".join(lines)


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
    slices: Mapping[str, Any] | None = None,
    min_slice_size: int = 1000,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[CheckResult]:
    margins = {}
    for gate in gates:
        definition = get_metric(gate.metric)
        margins[definition.name] = Margin(definition.name, gate.margin, kind=gate.kind,
                                          higher_is_better=definition.higher_is_better, test=gate.test)
    result = compare_scores(
        y_true, score_legacy, score_new, metrics=[g.metric for g in gates], margins=margins, alpha=alpha,
        sample_weight=sample_weight, groups=groups, keys=keys, n_boot=n_boot, seed=seed, slices=slices or None,
        min_slice_size=min_slice_size, ungated=[g.metric for g in gates if not g.gated],
    )
    gate_of = {get_metric(g.metric).name: g for g in gates}
    checks = []
    for check in result.to_checks():
        gate = gate_of[check.details["metric"]]
        if check.verdict is not Verdict.EQUIVALENT or not check.gated:
            check.message = _message(check, gate)
        checks.append(check)
    return checks
