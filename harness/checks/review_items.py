"""Review items: findings a passing gate does not show, reported so that a person looks before launch.

"Too good" (`TooGood`, `too_good_items`): under non-inferiority a metric passes however much better the new
side is. In a migration whose goal is neutral accuracy a large gain is itself a finding: it usually means
the data changed, not the model (a label leak, a feature computed after the label, another train/eval
split, another golden set). For each metric with a stated bound the item ``review/too_good/<metric>``
reads the (1-2a) interval of the improvement the metric check already computed (``improvement = new -
legacy`` where higher is better, ``legacy - new`` where lower is):

- NOT_EQUIVALENT ("too good") when the whole interval lies above the bound: the gain is shown to exceed
  it, with error at most a when the true gain is the bound itself;
- EQUIVALENT when the whole interval lies at or below the bound;
- INCONCLUSIVE when it straddles the bound (the point estimate may be beyond it; the golden set cannot tell).

Why the interval, not the point estimate: a gated item must not fail launches at random, and the point
estimate exceeds a bound the true gain equals half of the time; the lower bound keeps that rate at a. An
INCONCLUSIVE item still asks for a look (and fails the gate when gated), so a large but noisy gain is not
waved through either. Items are reported, not gated, unless the suite says ``gated=True``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.stats.metrics import get_metric
from harness.verdicts import Verdict

__all__ = ["TooGood", "too_good_items"]


@dataclass(frozen=True)
class TooGood:
    """The largest improvement believable per metric, for metrics gated by non-inferiority.

    ``bounds``: metric -> bound, in metric units (``kind="absolute"``) or as a fraction of |legacy|
    (``kind="relative"``). ``gated``: whether a "too good" item fails the run (default: reported only).
    """

    bounds: Mapping[str, float]
    reason: str = ""
    kind: str = "absolute"
    gated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.bounds, Mapping) or not self.bounds:
            raise ParityInputError(f"TooGood: bounds must map metric names to bounds, got {self.bounds!r}",
                                   argument="bounds")
        canonical: dict[str, float] = {}
        for name, bound in self.bounds.items():
            try:
                metric = get_metric(name)
            except ParityInputError as exc:
                raise exc.with_fields(f"TooGood: bounds[{name!r}]: {exc}", argument="bounds", value=name) from None
            if metric.ideal is not None:
                raise ParityInputError(f"TooGood: {metric.name} has an ideal value ({metric.ideal:g}), not a "
                                       f"direction, so no gain can be 'too good'", argument="bounds", value=name)
            ok = isinstance(bound, (int, float)) and not isinstance(bound, bool) and math.isfinite(bound) and bound > 0
            if not ok:
                raise ParityInputError(f"TooGood: bounds[{name!r}] must be a finite number > 0, got {bound!r}",
                                       argument="bounds", value=bound)
            if metric.name in canonical:
                raise ParityInputError(f"TooGood: {metric.name} is named twice in bounds", argument="bounds")
            canonical[metric.name] = float(bound)
        object.__setattr__(self, "bounds", canonical)
        if self.kind not in ("absolute", "relative"):
            raise ParityInputError(f"TooGood: kind must be 'absolute' or 'relative', got {self.kind!r}",
                                   argument="kind", value=self.kind)
        if not isinstance(self.gated, bool):
            raise ParityInputError(f"TooGood: gated must be True or False, got {self.gated!r}", argument="gated")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ParityInputError(f"TooGood: reason must say why these bounds (a non-empty string), got "
                                   f"{self.reason!r}", argument="reason")

    def check_ids(self) -> list[str]:
        """The ids `too_good_items` returns, in its order (for ``Suite.plan``)."""
        return [f"review/too_good/{m}" for m in self.bounds]

    def check_declared(self, metric_gates: Sequence[Any]) -> None:
        """Raise if a bound names a metric the suite does not gate by non-inferiority (``metric_gates``: the
        suite's `harness.suite.MetricGate` objects), so a suite file fails when declared, not after scoring."""
        tests = {get_metric(g.metric).name: g.test for g in metric_gates}
        for m in self.bounds:
            if m not in tests:
                raise ParityInputError(f"too_good names {m!r}, which has no MetricGate (metrics: {sorted(tests)}); "
                                       f"declare one with test='non_inferiority' or drop it", argument="too_good",
                                       value=m)
            if tests[m] != "non_inferiority":
                raise ParityInputError(f"too_good names {m!r}, whose MetricGate uses {tests[m]}: a gain beyond the "
                                       f"margin already fails it; too_good is for non-inferiority metrics",
                                       argument="too_good", value=m)


def _metric_check(checks: Sequence[CheckResult], metric: str) -> CheckResult:
    for c in checks:
        overall = c.id.startswith("metrics/") and c.details.get("slice") is None and "[" not in c.id
        if c.kind == "metric" and overall and (c.details.get("metric") == metric or c.id == f"metrics/{metric}"):
            return c
    have = sorted(c.id for c in checks if c.kind == "metric" and "[" not in c.id)
    raise ParityInputError(f"too_good names {metric!r}, but there is no check metrics/{metric} (metric checks: "
                           f"{have}); declare a MetricGate for it or drop it from too_good", argument="bounds",
                           value=metric)


def _item(check: CheckResult, metric: str, too_good: TooGood) -> CheckResult:
    d = check.details
    item_id = f"review/too_good/{metric}"
    if "error" in d:
        return CheckResult(item_id, "metric", Verdict.INCONCLUSIVE, gated=too_good.gated,
                           summary=f"not computable: {check.id} errored",
                           message=f"{item_id}: {check.id} has no result ({d['error'].get('message', '')}), so its "
                                   f"gain cannot be read.",
                           details={"metric": metric, "legacy": None, "new": None, "diff": None, "ci": None,
                                    "review": {"type": "too_good", "metric_check": check.id, "note": "metric errored"}})
    margin = d.get("margin") or {}
    if margin.get("test") != "non_inferiority":
        raise ParityInputError(f"too_good names {metric!r}, which is gated by {margin.get('test') or 'no test'}: a "
                               f"gain beyond the margin already fails equivalence; too_good is for non-inferiority "
                               f"metrics",
                               argument="bounds", value=metric)
    hib = bool(margin.get("higher_is_better", get_metric(metric).higher_is_better))
    bound = too_good.bounds[metric]
    legacy = d.get("legacy")
    absolute = bound if too_good.kind == "absolute" else (bound * abs(legacy) if legacy is not None else None)
    ci = d.get("ci")
    level = d.get("ci_level")
    review: dict[str, Any] = {"type": "too_good", "metric_check": check.id, "bound": bound, "bound_kind": too_good.kind,
                              "bound_absolute": absolute, "higher_is_better": hib, "reason": too_good.reason}
    details = {"metric": metric, "legacy": legacy, "new": d.get("new"), "diff": d.get("diff"), "ci": ci,
               "ci_level": level, "method": d.get("method"), "n": d.get("n"), "slice": None, "review": review}
    if d.get("diff") is None or ci is None or None in ci or not absolute:
        review.update(improvement=None, improvement_ci=None)
        why = "the legacy value is 0, so a relative bound is 0" if absolute == 0 else "the metric has no interval"
        return CheckResult(item_id, "metric", Verdict.INCONCLUSIVE, gated=too_good.gated,
                           summary=f"not computable: {why} ({check.id})",
                           message=f"{item_id}: {why}; whether {metric} improved beyond {bound:g} cannot be read.",
                           details=details)
    gain = d["diff"] if hib else -d["diff"]
    lo, hi = (ci[0], ci[1]) if hib else (-ci[1], -ci[0])
    review.update(improvement=gain, improvement_ci=[lo, hi])
    if lo > absolute:
        verdict = Verdict.NOT_EQUIVALENT
    elif hi <= absolute:
        verdict = Verdict.EQUIVALENT
    else:
        verdict = Verdict.INCONCLUSIVE
    pct = f"{level:.0%} " if isinstance(level, float) else ""
    bound_text = f"{absolute:.4g}" + (f" ({bound:.2%} of legacy)" if too_good.kind == "relative" else "")
    word = {Verdict.NOT_EQUIVALENT: "too good", Verdict.INCONCLUSIVE: "possibly too good",
            Verdict.EQUIVALENT: "within the bound"}[verdict]
    summary = (f"{word}: {metric} improved by {gain:+.4g} ({pct}interval [{lo:+.4g}, {hi:+.4g}]); a gain beyond "
               f"{bound_text} is a finding")
    message = ""
    if verdict is not Verdict.EQUIVALENT:
        lines = [f"{item_id}: {metric} is better on the new side by {gain:+.4g} (legacy {legacy:.6g}, new "
                 f"{d['new']:.6g}; {pct}interval of the gain [{lo:+.4g}, {hi:+.4g}] by {d.get('method')}), "
                 + ("beyond" if verdict is Verdict.NOT_EQUIVALENT else "possibly beyond")
                 + f" the stated bound {bound_text}.",
                 f"  {check.id} passes non-inferiority, but this migration aims for neutral accuracy: a gain this "
                 f"size usually means the data changed, not the model. Look for a label leak (a feature computed "
                 f"after the label), another train/eval split or another golden set before taking it as a win."]
        if verdict is Verdict.INCONCLUSIVE:
            lines.append("  The interval straddles the bound: the golden set cannot tell whether the gain exceeds it.")
        lines.append(f"  Bound rationale: {too_good.reason}")
        message = "\n".join(lines)
    return CheckResult(item_id, "metric", verdict, gated=too_good.gated, summary=summary, message=message,
                       details=details)


def too_good_items(metric_checks: Sequence[CheckResult], too_good: TooGood) -> list[CheckResult]:
    """One ``review/too_good/<metric>`` item per metric in ``too_good.bounds``, read from that metric's
    overall check (``metrics/<metric>``, not its slices) among ``metric_checks``."""
    if not isinstance(too_good, TooGood):
        raise ParityInputError(f"too_good must be a TooGood, got {type(too_good).__name__}", argument="too_good")
    return [_item(_metric_check(metric_checks, m), m, too_good) for m in too_good.bounds]
