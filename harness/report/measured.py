"""The report's ``measured`` section: what a run measured on its machine, outside the byte-identity
contract.

Everything else in report.json is byte-identical for the same inputs, between runs and between the two
shells. Cost per stage (wall, CPU seconds, peak memory per stage and side) and the serving measurements
(latency quantiles and CDF points per side and batch size, throughput, CPU per 1k predictions, RSS, cold
start, artifact size, errors and timeouts) vary from run to run, and so do the verdicts of the serving
and cost gates judged on them. They all live here, in one top-level section, so that a comparison of two
reports drops one key (`without_measured`; `strip_measured_text` for report.md / report.html, whose
measured parts sit between `MEASURED_BEGIN` and `MEASURED_END` markers)::

    "measured": {"note": ..., "verdict": "EQUIVALENT" | ... | null, "counts": {...},
                 "suites": [{"suite", "verdict", "cost": {stage: {...}}, "serving": {...} | null,
                             "checks": [serving/cost check rows], "known_gaps": {id: reason} (if any)}]}

``measured.verdict`` is the serving verdict: the gated serving/cost checks combined (null when none ran),
less the gates the suite names in ``known_gaps`` (listed per suite, with their reasons, as for accuracy).
It is not part of the report's ``verdict`` -- an accuracy verdict must not flip with machine noise -- and
the shells' exit status combines the two (`harness.session.Final.exit_status`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from harness.results import is_failing, jsonable
from harness.verdicts import Verdict, combine

__all__ = ["MEASURED_BEGIN", "MEASURED_END", "NOTE", "build_measured", "measured_counts", "serving_verdict",
           "strip_measured_text", "without_measured"]

NOTE = ("measured on the machine that ran the suites: varies from run to run, so it is outside the report's "
        "byte-identity contract (everything else is byte-identical for the same inputs)")
MEASURED_BEGIN = "<!-- parity:measured:begin -->"
MEASURED_END = "<!-- parity:measured:end -->"
_BLOCK = re.compile(re.escape(MEASURED_BEGIN) + r".*?" + re.escape(MEASURED_END), re.S)


def serving_verdict(checks: list[Mapping[str, Any]], known_gaps: Mapping[str, str] | None = None) -> str | None:
    """The gated serving/cost checks combined, less the suite's known gaps (as for its accuracy checks);
    None when no such gate ran."""
    gated = [Verdict(c["verdict"]) for c in checks if c["gated"] and c["id"] not in (known_gaps or {})]
    return combine(gated).value if gated else None


def measured_counts(suites: list[Mapping[str, Any]]) -> dict[str, int]:
    checks = [(c, s.get("known_gaps") or {}) for s in suites for c in s["checks"]]
    return {"checks": len(checks), "failing": sum(is_failing(c, gaps) for c, gaps in checks),
            "inconclusive": sum(c["gated"] and c["verdict"] == Verdict.INCONCLUSIVE.value for c, _ in checks),
            "errors": sum(isinstance(c.get("details"), Mapping) and "error" in c["details"] for c, _ in checks)}


def build_measured(per_suite: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The section from ``suite -> {"cost", "serving", "checks"}`` (`harness.session.measured_of`);
    None when nothing was measured (then the key is null)."""
    if not per_suite:
        return None
    suites = []
    for name in sorted(per_suite):
        entry = per_suite[name]
        checks = [dict(jsonable(c)) for c in entry.get("checks", [])]
        gaps = {c["id"]: entry["known_gaps"][c["id"]] for c in checks if c["id"] in (entry.get("known_gaps") or {})}
        suites.append({"suite": name, "verdict": serving_verdict(checks, gaps), "cost": jsonable(entry.get("cost") or {}),
                       "serving": jsonable(entry.get("serving")), "checks": checks,
                       **({"known_gaps": dict(sorted(gaps.items()))} if gaps else {})})
    verdicts = [Verdict(s["verdict"]) for s in suites if s["verdict"] is not None]
    return {"note": NOTE, "verdict": combine(verdicts).value if verdicts else None,
            "counts": measured_counts(suites), "suites": suites}


def without_measured(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` less its measured section: the part that is byte-identical between runs."""
    return {k: v for k, v in doc.items() if k != "measured"}


def strip_measured_text(text: str) -> str:
    """report.md or report.html less its measured blocks (each replaced by the bare markers)."""
    return _BLOCK.sub(MEASURED_BEGIN + MEASURED_END, text)


# -- re-deriving the serving gates' verdicts (for verify.py) ---------------------------------------------
# Restated from the documented rule (harness.serving.gates), not imported, so that the verifier does not
# share a bug with the code it checks; tests compare it with scipy's quantile_test.

def _binom_cdf(k: int, n: int) -> float:
    return sum(math.comb(n, i) for i in range(0, k + 1)) / 2 ** n


def median_interval(ratios: list[float], level: float) -> tuple[float, float]:
    """The distribution-free (order-statistic) interval of the median at ``level`` (two-sided): NaN
    bounds when the rounds are too few for one."""
    x, n = sorted(ratios), len(ratios)
    q = (1 - level) / 2
    low = next(k for k in range(n + 1) if _binom_cdf(k, n) >= q) - 1 if n else -1
    high = next((k for k in range(n + 1) if 1 - _binom_cdf(k, n) <= q), n)
    return (x[low] if low >= 0 else math.nan), (x[high] if high < n else math.nan)


def derive_gate(details: Mapping[str, Any]) -> tuple[str, float, float, float] | None:
    """(verdict, ratio, lo, hi) of a serving/cost check from its per-round values and its margin; None
    when the details lack them."""
    legacy, new, max_ratio = details.get("legacy"), details.get("new"), details.get("max_ratio")
    level = details.get("level")
    if not isinstance(legacy, list) or not isinstance(new, list) or len(legacy) != len(new) \
            or not isinstance(max_ratio, (int, float)) or not isinstance(level, (int, float)):
        return None

    def num(v: Any) -> float:
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan

    pairs = [(num(a), num(b)) for a, b in zip(legacy, new)]
    ratios = [b / a for a, b in pairs if math.isfinite(a) and math.isfinite(b) and a > 0 and b >= 0]
    if details.get("metric") == "artifact_size":
        r = ratios[0] if ratios else math.nan
        lo = hi = r
    else:
        r = float(sorted(ratios)[len(ratios) // 2]) if len(ratios) % 2 else (
            (sorted(ratios)[len(ratios) // 2 - 1] + sorted(ratios)[len(ratios) // 2]) / 2 if ratios else math.nan)
        lo, hi = median_interval(ratios, float(level)) if ratios else (math.nan, math.nan)
    if math.isfinite(hi) and hi <= max_ratio:
        verdict = Verdict.EQUIVALENT.value
    elif math.isfinite(lo) and lo > max_ratio:
        verdict = Verdict.NOT_EQUIVALENT.value
    else:
        verdict = Verdict.INCONCLUSIVE.value
    return verdict, r, lo, hi
