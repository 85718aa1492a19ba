"""The failure message of one check, read in a terminal: a small review, not a traceback.

Order (after pytest-regressions): the headline (check, verdict), what was obtained against what was
allowed, the interval, then the check's own review (worst features or rows) and, for an inconclusive
result, why that is not a pass and what would decide it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.format import (
    fmt_ci,
    fmt_count,
    fmt_diff,
    fmt_margin,
    fmt_method,
    fmt_num,
    fmt_p,
    fmt_rate,
    fmt_tolerance,
    slice_label,
)

__all__ = ["review_message"]


def _as_dict(check: Any) -> Mapping[str, Any]:
    return check.to_dict() if hasattr(check, "to_dict") else check


def _metric_lines(d: Mapping[str, Any]) -> list[str]:
    level = d.get("ci_level")
    lines = [
        f"  metric    {d.get('metric')} on {slice_label(d)} (n = {fmt_num(d.get('n'))})",
        f"  obtained  legacy {fmt_num(d.get('legacy'))}, new {fmt_num(d.get('new'))}, "
        f"diff (new - legacy) {fmt_diff(d.get('diff'))}",
        f"  interval  {fmt_ci(d.get('ci'), level)}",
        f"  allowed   {fmt_margin(d)}",
    ]
    p = d.get("p_adjusted", d.get("p_value"))
    if d.get("method") or p is not None:
        adj = f", {d['adjustment']}-adjusted" if d.get("adjustment") else ""
        lines.append(f"  method    {fmt_method(d) if d.get('method') else '?'} (p = {fmt_p(p)}{adj})")
    return lines


def _feature_lines(d: Mapping[str, Any]) -> list[str]:
    lines = [
        f"  feature   {d.get('feature')} ({d.get('type', '?')}): {fmt_num(d.get('n_mismatch'))} of {fmt_num(d.get('n'))} "
        f"rows differ (match rate {fmt_rate(d.get('match_rate'))})",
        f"  worst     max abs err {fmt_num(d.get('max_abs_err'))}, max rel err {fmt_num(d.get('max_rel_err'))}, "
        f"max ULP {fmt_count(d.get('max_ulp'))}",
        f"  allowed   {fmt_tolerance(d.get('tolerance'))}",
    ]
    for ex in (d.get("examples") or [])[:5]:
        lines.append(f"    key {ex.get('key')!r}: legacy {ex.get('legacy')!r}, new {ex.get('new')!r}, raw {ex.get('raw')!r}")
    return lines


def review_message(check: Any, *, known_gap: str | None = None) -> str:
    """The message a failing (or inconclusive) check shows; ``check`` is a CheckResult or its dict."""
    c = _as_dict(check)
    d = c.get("details") or {}
    verdict = c.get("verdict")
    lines = [f"{c.get('id')}: {verdict}" + ("" if c.get("gated", True) else " (not gated)")]
    if known_gap:
        lines.append(f"  known gap: {known_gap}")
    if c.get("summary"):
        lines.append(f"  {c['summary']}")
    body = c.get("message") or ""
    if c.get("kind") == "metric":
        lines += _metric_lines(d)
    elif c.get("kind") == "feature" and not body:
        lines += _feature_lines(d)
    if verdict == "INCONCLUSIVE" and c.get("kind") == "metric" and "review" not in d and "platform" not in str(c.get("id")):
        need = d.get("n_required")
        lines += [
            "  INCONCLUSIVE is not a pass: the golden set is too small to show the difference lies within the margin.",
            f"  rows used {fmt_num(d.get('n'))}"
            + (f"; rows for 80% power if the true difference is 0 (planning) about "
               f"{fmt_num(d['n_required_planning'])}" if d.get("n_required_planning") is not None else "")
            + (f"; rows needed to decide at the observed difference about {fmt_num(need)}" if need is not None else "")
            + (f"; minimum detectable difference {fmt_num(d.get('mdd'))}" if d.get("mdd") is not None else ""),
            "  fix: grow the golden set (or the slice), or state a wider margin with its reason in the suite.",
        ]
    if body:
        lines += ["", body.rstrip()]
    return "\n".join(lines)
