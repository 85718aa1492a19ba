"""Re-derive a report's verdicts from its checks, so a document that contradicts itself never renders.

A report.json is a file: it can be hand-edited, truncated and repaired, or written by a buggy version.
Its stored verdicts (the report's, each suite's) and counts are therefore re-derived from the checks
and compared, a metric that is not EQUIVALENT must be what its interval (or Holm) gives, and a check
that claims EQUIVALENT must be supported by its own numbers (every check,
gated or not, known gap or not: the report shows each one's verdict, so none may contradict its row). Any contradiction is a `ParityInputError` (exit 2 in `parity report`)
naming the suite and check: we refuse rather than re-derive and render, because a document that
disagrees with itself cannot tell us which half is true.

The check rules are the documented decision rules, restated here rather than imported so the verifier
does not share a bug with the code it checks (tests compare them with `harness.stats.equivalence`):
- metric, equivalence: EQUIVALENT needs ``-m < ci_low`` and ``ci_high < m``; non-inferiority: the
  worse-side bound inside the margin (``ci_low > -m`` when higher is better, ``ci_high < m`` otherwise);
  and, for a member of the Holm family (``p_adjusted`` stored), ``p_adjusted <= alpha`` with alpha
  ``(1 - ci_level) / 2``;
- feature: no mismatching row, and at least one row;
- alignment: no missing, duplicated or unexpected key, and at least one aligned row;
- prediction: every score finite, and the share of rows beyond ``atol`` at most ``max_share``;
- a review item (a metric-kind check with ``details.review``, e.g. ``review/too_good/auc``): for
  ``too_good``, EQUIVALENT needs the gain's interval to end at or below the stated bound; a review type
  this version does not know is not second-guessed;
- any check with ``details.error``: never EQUIVALENT;
- a metric not EQUIVALENT: decided by its interval (``decided_by: "interval"``), the interval's three-way
  verdict (NOT_EQUIVALENT when it lies wholly beyond the margin, touching counted as beyond); decided by
  Holm, an interval inside the margin with the adjusted p-value above alpha; and any metric's ``diff``
  is its ``new - legacy``;
- a serving or cost gate (the ``measured`` section): its verdict is re-derived whole from its per-round
  values and margin (median of the per-round ratios new / legacy, its order-statistic interval at the
  stored level; EQUIVALENT when the interval ends at or below ``max_ratio``, NOT_EQUIVALENT when it starts
  above, else INCONCLUSIVE), and each suite's serving verdict, the section's verdict and its counts from
  those checks (`harness.report.measured`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import ParityInputError
from harness.report.format import fmt_ci, fmt_num, margin_abs
from harness.results import is_failing
from harness.verdicts import Verdict, combine

__all__ = ["derive_counts", "is_error", "is_review_item", "report_problems", "verify_report"]

_EQ = Verdict.EQUIVALENT.value
_MAX_LISTED = 10


def is_error(check: Mapping[str, Any]) -> bool:
    """Whether ``check`` (a check of the document) records an error instead of a computed result.

    A check that could not be computed -- its suite crashed, the upgrade gate raised (no or a corrupt
    baseline), a planned check was not produced -- is reported as NOT_EQUIVALENT, gated, with
    ``details.error = {"stage", "type", "message"}``: pytest failed it, so the report must not pass it.
    """
    details = check.get("details")
    return isinstance(details, Mapping) and "error" in details


def is_review_item(check: Mapping[str, Any]) -> bool:
    """A review item (``details.review``, e.g. "too good" under non-inferiority): metric-kind, but not a
    metric difference against a margin, so it is listed with the other checks, not in the metric table."""
    details = check.get("details")
    return isinstance(details, Mapping) and isinstance(details.get("review"), Mapping)


def _review_unsupported(d: Mapping[str, Any]) -> str | None:
    review = d["review"]
    if review.get("type") != "too_good":
        return None
    ci, bound = review.get("improvement_ci") or [None, None], _number(review.get("bound_absolute"))
    hi = _number(ci[1]) if len(ci) == 2 else None
    if hi is None or bound is None:
        return "it has no interval of the gain or no bound to be within"
    return None if hi <= bound else f"the gain's interval {fmt_ci(ci)} reaches beyond the bound {fmt_num(bound)}"


def _decides(check: Mapping[str, Any], gaps: Mapping[str, str]) -> bool:
    return bool(check["gated"]) and check["id"] not in gaps


def derive_counts(suites: list[Mapping[str, Any]]) -> dict[str, int]:
    """The report's ``counts`` from its suites' checks (see schema.json for each key's meaning)."""
    checks = [(c, s["known_gaps"]) for s in suites for c in s["checks"]]
    return {
        "suites": len(suites),
        "checks": len(checks),
        "failing": sum(is_failing(c, gaps) for c, gaps in checks),  # the one meaning of "failing"
        "inconclusive": sum(_decides(c, gaps) and c["verdict"] == Verdict.INCONCLUSIVE.value for c, gaps in checks),
        "known_gaps": sum(c["id"] in gaps for c, gaps in checks),
        "errors": sum(is_error(c) for c, _ in checks),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval_rule(d: Mapping[str, Any]) -> tuple[str, str] | None:
    """The three-way verdict of a metric's interval against its margin under its test (the documented
    rule: EQUIVALENT inside, NOT_EQUIVALENT when it lies wholly on the wrong side, touching counted as
    outside) and the text of what EQUIVALENT needs; None when it has no interval or margin."""
    ci, m = d.get("ci"), margin_abs(d)
    if m is None or not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return None
    lo, hi = _number(ci[0]), _number(ci[1])
    if lo is None or hi is None:
        return None
    margin = d.get("margin") or {}
    if margin.get("test") == "non_inferiority":
        if margin.get("higher_is_better", True) is not False:
            inside, beyond, rule = lo > -m, hi <= -m, f"lower bound > -{fmt_num(m)}"
        else:
            inside, beyond, rule = hi < m, lo >= m, f"upper bound < {fmt_num(m)}"
    else:
        inside, beyond, rule = (-m < lo and hi < m), (lo >= m or hi <= -m), f"inside \u00b1{fmt_num(m)}"
    verdict = _EQ if inside else Verdict.NOT_EQUIVALENT.value if beyond else Verdict.INCONCLUSIVE.value
    return verdict, rule


def _metric_unsupported(d: Mapping[str, Any]) -> str | None:
    """EQUIVALENT needs the interval inside the margin and, for a member of a Holm family, the adjusted
    p-value at or below alpha (``(1 - ci_level) / 2``: the interval is the TOST's 1 - 2 alpha one), as
    Holm decides it (an EQUIVALENT whose adjusted p exceeds alpha is INCONCLUSIVE)."""
    decided = _interval_rule(d)
    if decided is None:
        return "it has no interval or no margin to be equivalent within"
    verdict, rule = decided
    if verdict != _EQ:
        return f"its interval {fmt_ci(d['ci'])} is not {rule}"
    if d.get("adjustment") is not None or d.get("p_adjusted") is not None:
        p_adj, level = _number(d.get("p_adjusted")), _number(d.get("ci_level"))
        if p_adj is None or level is None or not 0 < level < 1:
            return f"it is {d.get('adjustment') or 'adjusted'} but has no adjusted p-value or interval level"
        alpha = (1.0 - level) / 2.0
        if p_adj > alpha * (1 + 1e-9):  # the level is stored rounded through 1 - 2 alpha
            return f"its {d.get('adjustment') or 'adjusted'} p-value {fmt_num(p_adj)} exceeds alpha = {fmt_num(alpha)}"
    return None


def _feature_unsupported(d: Mapping[str, Any]) -> str | None:
    if (d.get("n_mismatch") or 0) > 0:
        return f"{fmt_num(d['n_mismatch'])} of {fmt_num(d.get('n'))} rows mismatch"
    if d.get("n") == 0:
        return "it compared no rows"
    return None


def _alignment_unsupported(d: Mapping[str, Any]) -> str | None:
    bad = {k: v for k, v in d.items() if k.split("_in_")[0] in ("missing", "duplicated", "unexpected")
           and isinstance(v, int) and v > 0}
    if bad:
        return ", ".join(f"{k.replace('_', ' ')} {fmt_num(v)}" for k, v in bad.items())
    if d.get("n_aligned") == 0:
        return "no row was aligned"
    return None


def _prediction_unsupported(d: Mapping[str, Any]) -> str | None:
    if any((d.get("non_finite") or {}).values()):
        return "some scores are not finite"
    if d.get("n") == 0:
        return "it compared no rows"
    share, allowed = _number(d.get("share_beyond_tol")), _number((d.get("tolerance") or {}).get("max_share"))
    if share is not None and allowed is not None and share > allowed:
        return f"a share {fmt_num(share)} of rows is beyond the tolerance (allowed {fmt_num(allowed)})"
    return None


_RULES = {"metric": _metric_unsupported, "feature": _feature_unsupported, "alignment": _alignment_unsupported,
          "prediction": _prediction_unsupported}


def _metric_not_passing_problem(check: Mapping[str, Any]) -> str | None:
    """A metric stored NOT_EQUIVALENT or INCONCLUSIVE must be what its own numbers give: decided by the
    interval (``decided_by: "interval"``), the interval's three-way verdict; turned INCONCLUSIVE by Holm
    (``"holm"``), an interval inside the margin and an adjusted p-value above alpha. Other deciders
    (undefined, no margin) are never EQUIVALENT, which `_check_problem` checks."""
    d = check.get("details")
    if not isinstance(d, Mapping) or is_error(check) or is_review_item(check):
        return None
    by, stored = d.get("decided_by"), check["verdict"]
    derived = (_interval_rule(d) or (None, ""))[0]
    if by == "interval" and derived is not None and derived != stored:
        return f"stored {stored}, but its interval {fmt_ci(d['ci'])} against \u00b1{fmt_num(margin_abs(d))} gives {derived}"
    if by == "holm":
        if stored != Verdict.INCONCLUSIVE.value or derived != _EQ or _metric_unsupported(d) is None:
            return (f"stored {stored} decided by Holm, but Holm only turns an interval inside the margin "
                    "INCONCLUSIVE when the adjusted p-value exceeds alpha")
    return None


def _values_problem(check: Mapping[str, Any]) -> str | None:
    """A metric's stored values must agree with each other: ``diff`` is ``new - legacy``."""
    d = check.get("details")
    if check["kind"] != "metric" or not isinstance(d, Mapping) or is_review_item(check):
        return None
    legacy, new, diff = (_number(d.get(k)) for k in ("legacy", "new", "diff"))
    if None in (legacy, new, diff):
        return None
    if abs((new - legacy) - diff) > 1e-9 * max(1.0, abs(legacy), abs(new)):
        return (f"its values disagree: new {fmt_num(new)} - legacy {fmt_num(legacy)} is not the stored "
                f"diff {fmt_num(diff)}")
    return None


def _check_problem(check: Mapping[str, Any]) -> str | None:
    values = _values_problem(check)
    if values:
        return values
    if check["verdict"] != _EQ:
        if check["kind"] == "metric":
            return _metric_not_passing_problem(check)
        return None
    if is_error(check):
        return "it records an error instead of a result"
    rule = _review_unsupported if is_review_item(check) else _RULES.get(check["kind"])
    details = check.get("details")
    return rule(details) if rule and isinstance(details, Mapping) else None


def report_problems(doc: Mapping[str, Any]) -> list[str]:
    """Every contradiction between ``doc``'s stored verdicts/counts and its checks (empty: consistent)."""
    problems = []
    for s in doc["suites"]:
        gaps = s["known_gaps"]
        for c in s["checks"]:
            reason = _check_problem(c)
            if reason:
                said = reason if c["verdict"] != _EQ or reason.startswith("its values") else \
                    f"stored EQUIVALENT, but {reason}"
                problems.append(f"suite {s['suite']!r}, check {c['id']!r}: {said}")
        derived = combine(Verdict(c["verdict"]) for c in s["checks"] if _decides(c, gaps)).value
        if s["verdict"] != derived:
            deciding = [c["id"] for c in s["checks"] if _decides(c, gaps) and c["verdict"] != _EQ]
            why = f" (not equivalent: {', '.join(deciding)})" if deciding else (
                " (no gated check)" if not any(_decides(c, gaps) for c in s["checks"]) else "")
            problems.append(f"suite {s['suite']!r}: stored verdict {s['verdict']}, but its gated checks give "
                            f"{derived}{why}")
    derived = combine(Verdict(s["verdict"]) for s in doc["suites"]).value
    if doc["verdict"] != derived:
        problems.append(f"report verdict: stored {doc['verdict']}, but its suites give {derived}")
    problems += _count_problems("counts", doc["counts"], derive_counts(doc["suites"]))
    if doc.get("measured"):
        problems += _measured_problems(doc["measured"])
    return problems


def _measured_problems(measured: Mapping[str, Any]) -> list[str]:
    from harness.report.measured import derive_gate, measured_counts, serving_verdict

    problems = []
    for s in measured["suites"]:
        for c in s["checks"]:
            where = f"measured: suite {s['suite']!r}, serving gate {c['id']!r}"
            if is_error(c):
                if c["verdict"] == _EQ:
                    problems.append(f"{where}: stored EQUIVALENT, but it records an error instead of a result")
                continue
            derived = derive_gate(c["details"])
            if derived is None:
                problems.append(f"{where}: its details lack the per-round values and margin it was judged on")
            elif derived[0] != c["verdict"]:
                verdict, ratio, lo, hi = (v if isinstance(v, str) or v == v else None for v in derived)
                problems.append(f"{where}: stored {c['verdict']}, but its rounds give {verdict} (ratio "
                                f"{fmt_num(ratio)}, interval [{fmt_num(lo)}, {fmt_num(hi)}], allowed <= "
                                f"{fmt_num(c['details']['max_ratio'])})")
        if s["verdict"] != serving_verdict(s["checks"], s.get("known_gaps")):
            problems.append(f"measured: suite {s['suite']!r}: stored serving verdict {s['verdict']}, but its "
                            f"gates give {serving_verdict(s['checks'], s.get('known_gaps'))}")
    verdicts = [Verdict(s["verdict"]) for s in measured["suites"] if s["verdict"] is not None]
    derived = combine(verdicts).value if verdicts else None
    if measured["verdict"] != derived:
        problems.append(f"measured.verdict: stored {measured['verdict']}, but its suites give {derived}")
    return problems + _count_problems("measured.counts", measured["counts"], measured_counts(measured["suites"]))


def _count_problems(where: str, stored: Mapping[str, Any], derived: Mapping[str, Any]) -> list[str]:
    return [f"{where}.{key}: stored {value}, but the checks give {derived[key]}"
            for key, value in stored.items() if key in derived and value != derived[key]]


def verify_report(doc: Mapping[str, Any], *, source: str = "report") -> None:
    """Raise `ParityInputError` listing where ``doc`` (schema-valid) contradicts its own checks."""
    problems = report_problems(doc)
    if problems:
        listed = problems[:_MAX_LISTED]
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise ParityInputError(
            f"{source}: its stored verdicts contradict its own checks, so it is not rendered (a report that "
            "disagrees with itself cannot be trusted either way; re-run the suites to get a sound one):\n  "
            + "\n  ".join(listed) + more
        )
