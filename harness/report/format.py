"""Number and interval formatting shared by the Markdown, HTML and terminal renderings.

Reports are read by people deciding on a release, so numbers carry enough digits to see a difference
near the margin (4 significant digits), differences carry their sign, and "not computable" (null in the
document) is shown as an em dash rather than hidden.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["DASH", "error_text", "fmt_ci", "fmt_diff", "fmt_margin", "fmt_num", "fmt_p", "margin_abs", "partial_text",
           "slice_label"]

DASH = "\u2014"


def fmt_num(value: Any, *, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def fmt_diff(value: Any, *, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:+.{digits}g}"
    return fmt_num(value, digits=digits)


def fmt_ci(ci: Any, level: Any = None) -> str:
    if not ci or len(ci) != 2:
        return DASH
    text = f"[{fmt_diff(ci[0])}, {fmt_diff(ci[1])}]"
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        text += f" ({level * 100:.4g}%)"
    return text


def fmt_p(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, (int, float)) and value < 1e-4:
        return "<0.0001"
    return fmt_num(value, digits=3)


def margin_abs(details: Mapping[str, Any]) -> float | None:
    """The margin in the metric's own unit: stated, or relative margin times |legacy value|."""
    margin = details.get("margin") or {}
    if margin.get("absolute_value") is not None:
        return float(margin["absolute_value"])
    value = margin.get("value")
    if value is None:
        return None
    if margin.get("kind", "absolute") == "relative":
        legacy = details.get("legacy")
        return None if legacy is None else float(value) * abs(float(legacy))
    return float(value)


def fmt_margin(details: Mapping[str, Any]) -> str:
    """E.g. "±0.005 (equivalence)", "±1% rel = ±0.0072", "diff ≥ -0.005 (non-inferiority)"."""
    margin = details.get("margin")
    if not margin:
        return DASH
    value, kind = margin.get("value"), margin.get("kind", "absolute")
    absolute = margin_abs(details)
    if margin.get("test") == "non_inferiority":
        worse_is_lower = margin.get("higher_is_better", True) is not False
        bound = fmt_diff(-absolute if worse_is_lower else absolute) if absolute is not None else DASH
        text = f"diff {'≥' if worse_is_lower else '≤'} {bound} (non-inferiority)"
    else:
        text = f"±{fmt_num(absolute)} (equivalence)" if absolute is not None else DASH
    if kind == "relative" and value is not None:
        text += f"; {fmt_num(value * 100)}% of legacy"
    return text


def slice_label(details: Mapping[str, Any]) -> str:
    s = details.get("slice")
    if not s:
        return "all rows"
    return f"{s.get('column')}={s.get('value')}"


def finding_label(finding: Mapping[str, Any]) -> str:
    """``probe/output`` (upgrade findings name the probe and which of its outputs moved)."""
    probe, output = finding.get("probe", DASH), finding.get("output")
    return f"{probe}/{output}" if output else str(probe)


def finding_paths(finding: Mapping[str, Any]) -> list[Any]:
    """The deepdiff paths of a finding: ``paths`` if given, else ``size.changes`` (harness.upgrade.findings)."""
    if finding.get("paths"):
        return list(finding["paths"])
    size = finding.get("size")
    if isinstance(size, Mapping) and isinstance(size.get("changes"), list):
        return list(size["changes"])
    return []


def finding_size_text(finding: Mapping[str, Any]) -> str:
    """A one-line size: the finding's summary if it has one, else the key numbers of ``size``."""
    if finding.get("summary"):
        return str(finding["summary"])
    size = finding.get("size")
    if not isinstance(size, Mapping):
        return fmt_num(size) if size is not None else DASH
    parts = []
    if "delta" in size:
        parts.append(f"{fmt_num(size.get('old'))} \u2192 {fmt_num(size.get('new'))} (\u0394 {fmt_diff(size['delta'])})")
    elif size.get("max_abs_diff") is not None:
        parts.append(f"max |diff| {fmt_num(size['max_abs_diff'])}, {size.get('n_diff')}/{size.get('n')} differ")
    elif "n_changes" in size:
        parts.append(f"{size['n_changes']} config change(s)")
    if size.get("max_ulp") is not None:
        parts.append(f"max {fmt_num(size['max_ulp'])} ULP")
    for key in ("error", "change", "reason", "note"):
        if size.get(key):
            parts.append(str(size[key]))
    return "; ".join(parts) or DASH


def error_text(error: Mapping[str, Any]) -> str:
    """``Type: message`` of a check's ``details.error`` (the whole message; tables keep it on one line)."""
    kind, message = error.get("type") or "Error", error.get("message") or ""
    return f"{kind}: {message}" if message else str(kind)


def partial_text(selection: Mapping[str, Any]) -> str:
    """E.g. "3 of 9 planned checks ran (-k 'auc'; 6 deselected)"."""
    how = []
    if selection.get("keyword"):
        how.append(f"-k '{selection['keyword']}'")
    if selection.get("markexpr"):
        how.append(f"-m '{selection['markexpr']}'")
    if selection.get("deselected"):
        how.append(f"{selection['deselected']} deselected")
    why = "; ".join(how) or "selected by node id, or the session stopped early"
    return f"{selection.get('ran')} of {selection.get('planned')} planned checks ran ({why})"
