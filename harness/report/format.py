"""Number and interval formatting shared by the Markdown, HTML and terminal renderings.

Reports are read by people deciding on a release, so numbers carry enough digits to see a difference
near the margin (4 significant digits), differences carry their sign, and "not computable" (null in the
document) is shown as an em dash rather than hidden.

One way for every number, in every rendering: integers (counts) grouped by thousands from 1,000 up;
floats to 4 significant digits; very small or large floats as ``2.693×10⁻⁷``. That form has no
line-break opportunity inside it (Unicode line breaking allows one after the hyphen of ``2.693e-07``,
which is how a table cell came to show "2.693e-/07"), so a number never wraps mid-token.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["DASH", "error_text", "md_cell", "md_messages", "fmt_ci", "fmt_count", "fmt_diff", "fmt_margin", "fmt_num", "fmt_p", "fmt_rate",
           "fmt_tolerance", "flatten", "margin_abs", "numbers_in_text", "partial_text", "plural", "slice_label"]

DASH = "\u2014"


_SUPERSCRIPT = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")


def _float_text(value: float, spec: str, digits: int) -> str:
    """``format(value, spec)`` (a ``g`` spec), with an exponent written ``×10ⁿ`` and large floats grouped."""
    text = format(value, spec)
    if "e" not in text:
        return text
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    if digits <= exp < 15:  # e.g. 1.235e+04: the rounded number reads better in full, grouped
        rounded = round(value, digits - 1 - exp)
        return format(rounded, ("+" if spec.startswith("+") else "") + ",.0f")
    return f"{mantissa}\u00d710{str(exp).translate(_SUPERSCRIPT)}"


_E_NOTATION = re.compile(r"(?<![\w.])([-+]?\d+(?:\.\d+)?)[eE]([-+]?\d+)\b")


def numbers_in_text(text: str) -> str:
    """Free text from a check (its summary) with ``3.1e-07`` written ``3.1×10⁻⁷``, as fmt_num writes it,
    so a number in a sentence cannot wrap mid-token either."""
    def one(match: re.Match[str]) -> str:
        return f"{match.group(1)}\u00d710{str(int(match.group(2))).translate(_SUPERSCRIPT)}"

    return _E_NOTATION.sub(one, text)


def md_cell(value: Any) -> str:
    """A Markdown table cell: on one line, and unable to open a new column."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_messages(title: str, items: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """report.md's section ``title`` of (suite, check) messages, each in a fence it cannot close; nothing
    when ``items`` is empty."""
    if not items:
        return []
    fence = "~~~~"  # a message may hold backticks; it cannot close this fence
    lines = [f"### {title}", ""]
    for suite, c in items:
        lines += [f"**{md_cell(suite)}** `{md_cell(c['id'])}`: {md_cell(c['verdict'])}", "", fence + "text",
                  *str(c["message"]).replace(fence, "~ ~ ~ ~").splitlines(), fence, ""]
    return lines


def fmt_num(value: Any, *, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return fmt_count(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return _float_text(value, f".{digits}g", digits)
    return str(value)


def fmt_count(value: Any) -> str:
    """A count: grouped by thousands from 1,000 up (5,993 and 22,540 alike); None is a dash."""
    if value is None:
        return DASH
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    return fmt_num(value)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 suite``, ``2 suites`` (never "suite(s)"); the count formatted as every count is."""
    return f"{fmt_count(n)} {word if n == 1 else (words or word + 's')}"


def fmt_diff(value: Any, *, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+,}" if abs(value) >= 1000 else f"{value:+d}"
    if isinstance(value, float) and math.isfinite(value):
        return _float_text(value, f"+.{digits}g", digits)
    return fmt_num(value, digits=digits)


def fmt_rate(value: Any) -> str:
    """A share (0..1) as a percentage with as many decimals as it takes not to read as 0% or 100%
    when it is neither: 1 - 3/40000 is 99.9925%, not "1" or "100%"."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return DASH if value is None else str(value)
    pct = float(value) * 100.0
    if not math.isfinite(pct):
        return str(value)
    if pct in (0.0, 100.0):
        return f"{pct:.0f}%"
    gap = min(abs(pct), abs(100.0 - pct))
    decimals = 2 if gap >= 1.0 else min(12, math.ceil(-math.log10(gap)) + 1)
    return f"{pct:.{decimals}f}%"


def fmt_tolerance(tolerance: Any) -> str:
    """A check's ``details.tolerance`` in words: ``≤ 2 ULP or |err| ≤ 0``, ``exact match``,
    ``|diff| ≤ 1×10⁻⁶ on all but 0% of rows`` (keys it does not know are listed as ``key value``)."""
    if not tolerance:
        return DASH
    if not isinstance(tolerance, Mapping):
        return fmt_num(tolerance)
    tol = dict(tolerance)
    parts = []
    if tol.pop("exact", False):
        parts.append("exact match")
    if "max_ulp" in tol and "atol" in tol and "max_share" not in tol:
        parts.append(f"\u2264 {fmt_count(tol.pop('max_ulp'))} ULP or |err| \u2264 {fmt_num(tol.pop('atol'))}")
    elif "atol" in tol and "max_share" in tol:
        parts.append(f"|diff| \u2264 {fmt_num(tol.pop('atol'))} on all but {fmt_rate(tol.pop('max_share'))} of rows")
    for key in ("max_ulp", "atol", "rtol"):
        if key in tol:
            value = tol.pop(key)
            parts.append(f"\u2264 {fmt_count(value)} ULP" if key == "max_ulp" else f"{key} {fmt_num(value)}")
    parts += [f"{key} {fmt_num(value) if not isinstance(value, (Mapping, list)) else value}" for key, value in tol.items()]
    return ", ".join(parts) or DASH


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


def alignment_caveat(suite: Mapping[str, Any]) -> str | None:
    """What a suite's metrics are computed on when its ``alignment/keys`` check failed (None: it passed):
    the rows both sides scored once, which a metric's own row count does not say is fewer than the split."""
    check = next((c for c in suite.get("checks", ()) if c.get("id") == "alignment/keys"), None)
    d = (check or {}).get("details") or {}
    if check is None or check.get("verdict") == "EQUIVALENT" or "n_aligned" not in d:
        return None
    problems = [f"{k.replace('_', ' ')} {fmt_count(v)}" for k, v in d.items()
                if k.split("_in_")[0] in ("missing", "duplicated", "unexpected") and v]
    return (f"The metrics of suite {suite.get('suite')!r} are computed on the {fmt_count(d['n_aligned'])} of "
            f"{fmt_count(d.get('n_reference'))} rows both sides scored once: alignment/keys failed "
            f"({', '.join(problems)}). A query group that lost rows is ranked on the rows left, which is "
            "another metric.")


def fmt_method(details: Mapping[str, Any]) -> str:
    """A metric check's method, with the column that weighted it (``weights``; absent or null: unweighted)."""
    method = details.get("method") or DASH
    return f"{method}; weighted by column {details['weights']!r}" if details.get("weights") else method


def slice_label(details: Mapping[str, Any]) -> str:
    s = details.get("slice")
    if not s:
        return "all rows"
    if "columns" in s:  # a crossed slice: every column with its value
        return ", ".join(f"{c}={v}" for c, v in zip(s.get("columns") or [], s.get("values") or []))
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
        parts.append(f"max |diff| {fmt_num(size['max_abs_diff'])}, {fmt_count(size.get('n_diff'))} of "
                     f"{fmt_count(size.get('n'))} differ")
    elif "n_changes" in size:
        parts.append(plural(size["n_changes"], "config change") if isinstance(size["n_changes"], int)
                     else f"{size['n_changes']} config changes")
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
    if selection.get("no_serving"):
        how.append("serving and cost gates skipped on request (no-serving)")
    why = "; ".join(how) or "selected by node id, or the session stopped early"
    return f"{selection.get('ran')} of {selection.get('planned')} planned checks ran ({why})"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping (a fingerprint) as ``{"packages.numpy": "2.4.0", ...}``, in its own key order."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}
