"""report.html: the release review as one self-contained page, rendered from the report document only.

Self-contained means it opens offline and years later: inline CSS, inline SVG drawn in Python
(`harness.report.svg`), no fonts, images or scripts from anywhere, enforced by a Content-Security-Policy
that forbids every fetch. The only script is a few lines that record, on <body>, whether the page loaded
without a JavaScript error and how many plots it holds (the browser test reads both). All text from the
document goes through html.escape. Plots draw from aggregated data, so the size does not grow with rows.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report.format import (
    DASH,
    alignment_caveat,
    error_text,
    finding_label,
    finding_paths,
    finding_size_text,
    flatten,
    fmt_ci,
    fmt_count,
    fmt_diff,
    fmt_margin,
    fmt_method,
    fmt_num,
    fmt_p,
    fmt_rate,
    fmt_tolerance,
    margin_abs,
    numbers_in_text,
    partial_text,
    plural,
    slice_label,
)
from harness.report.svg import calibration_plot, diff_plot, forest_plot, heatmap, histogram_overlay
from harness.report.serving_section import has_serving, html_run_banner, html_section, html_serving_cell
from harness.report.verify import is_error, is_review_item, verify_report
from harness.results import is_failing

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1f2328;max-width:1300px}
h1{font-size:22px;margin:0 0 8px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%} svg.plot{max-width:100%;height:auto}
.scroll>svg#forest-plot{min-width:720px}
.v-EQUIVALENT{color:#1a7f37;font-weight:600} .v-NOT_EQUIVALENT{color:#cf222e;font-weight:600}
.v-INCONCLUSIVE{color:#9a6700;font-weight:600}
#verdict,#run-verdict{font-size:20px;padding:10px 14px;border-radius:6px;border:2px solid #d0d7de;display:inline-block}
#run-verdict{display:block;width:fit-content;margin-bottom:8px}
#verdict.v-EQUIVALENT,#run-verdict.v-EQUIVALENT{border-color:#1a7f37}
#verdict.v-NOT_EQUIVALENT,#run-verdict.v-NOT_EQUIVALENT{border-color:#cf222e}
#verdict.v-INCONCLUSIVE,#run-verdict.v-INCONCLUSIVE{border-color:#9a6700}
#verdict.provisional{border-color:#9a6700;border-style:dashed;background:#fff8c5}
#provenance{margin:6px 0 0}
#sample-warning,#selection-warning,.warning{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;margin:10px 0;
font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#57606a}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:420px}
.fingerprints{display:flex;gap:16px;flex-wrap:wrap} .fingerprints>div{flex:1;min-width:360px}
tr.differs td{background:#fff1e5} .muted{color:#57606a}
"""

# Records load success and the plot count on <body>; window.onerror catches any script error.
_SCRIPT = """
window.__parityErrors=[];
window.addEventListener('error',function(e){window.__parityErrors.push(String(e.message));});
document.addEventListener('DOMContentLoaded',function(){
  var b=document.body;
  b.setAttribute('data-plots',String(document.querySelectorAll('svg[data-plot]').length));
  b.setAttribute('data-loaded',window.__parityErrors.length?'error':'ok');
});
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _verdict(verdict: Any, *, note: str = "") -> str:
    text = _e(verdict) + (f' <span class="muted">({_e(note)})</span>' if note else "")
    return f'<span class="v-{_e(verdict)}">{text}</span>'


def _check_verdict(check: Mapping[str, Any], gaps: Mapping[str, str]) -> str:
    note = "known gap" if check["id"] in gaps else ("not gated" if not check["gated"] else "")
    if is_error(check):
        note = f"{note}, error" if note else "error"
    return _verdict(check["verdict"], note=note)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, table_id: str = "", numeric: Sequence[int] = ()) -> str:
    """``rows`` hold already-escaped HTML; columns listed in ``numeric`` are right-aligned and never wrap.

    Wrapped in a scrolling box, so a wide table on a narrow screen scrolls instead of squeezing its cells.
    """
    attr = f' id="{_e(table_id)}"' if table_id else ""
    out = [f'<div class="scroll"><table{attr}><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in header)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _forest_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    many = len(doc["suites"]) > 1
    for s in doc["suites"]:
        for c in s["checks"]:
            if c["kind"] != "metric" or is_error(c) or is_review_item(c):  # an error has no interval to draw
                continue
            d = c["details"]
            margin = d.get("margin") or {}
            label = f"{d.get('metric', c['id'])} [{slice_label(d)}]"
            rows.append({
                "check_id": f"{s['suite']}::{c['id']}", "label": f"{s['suite']}: {label}" if many else label,
                "diff": d.get("diff"), "ci": d.get("ci"), "margin": margin_abs(d), "test": margin.get("test"),
                "higher_is_better": margin.get("higher_is_better"), "verdict": c["verdict"],
            })
    return rows


def _metric_row(s: Mapping[str, Any], c: Mapping[str, Any]) -> list[str]:
    d = c["details"]
    p = d.get("p_adjusted", d.get("p_value"))
    return [
        _e(d.get("metric", c["id"])), _e(slice_label(d)), _e(fmt_num(d.get("legacy"))), _e(fmt_num(d.get("new"))),
        _e(fmt_diff(d.get("diff"))), _e(fmt_ci(d.get("ci"), d.get("ci_level"))), _e(fmt_margin(d)),
        _e(fmt_method(d)), _e(fmt_p(p) + (f" ({d['adjustment']})" if d.get("adjustment") else "")),
        _e(fmt_count(d.get("n"))), _e(fmt_num(d.get("mdd"))), _e(fmt_count(d.get("n_required"))),
        _check_verdict(c, s["known_gaps"]),
    ]


_METRIC_HEADER = ["metric", "slice", "legacy", "new", "diff (new − legacy)", "CI", "margin", "method", "p (adjusted)",
                  "n", "MDD", "n required", "verdict"]


def _plots(s: Mapping[str, Any], slug: str) -> str:
    plots = s.get("plots") or {}
    figs = []
    atol = _prediction_atol(s)
    specs = (
        ("hexbin", heatmap, "Legacy vs new scores (2-D histogram, log colour scale); a cell beside the diagonal "
         "can hold rows whose scores differ slightly but straddle a bin edge: the plot of new \u2212 legacy says "
         "by how much"),
        ("diff_by_score", lambda data, **kw: diff_plot(data, atol=atol, **kw),
         "new \u2212 legacy against the legacy score, per bin of equal rows"
         + (f" (shaded: the gate's tolerance \u00b1{fmt_num(atol)})" if atol else "")),
        ("score_hist", histogram_overlay, "Score distributions, both sides"),
        ("calibration", calibration_plot, "Calibration: observed rate per score bin"),
    )
    for key, draw, caption in specs:
        if plots.get(key):
            svg = draw(plots[key], plot_id=f"{key.replace('_', '-')}-{slug}", title=f"{caption} \u2014 {s['suite']}")
            figs.append(f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>")
        else:
            figs.append(f'<p class="muted" data-plot-missing="{_e(key)}">No {_e(key)} data in this suite\'s result.</p>')
    return '<div class="plots">' + "\n".join(figs) + "</div>"


def _prediction_atol(s: Mapping[str, Any]) -> float | None:
    """The prediction gate's ``atol`` (the band the new − legacy plot shades), if the suite has one."""
    for c in s["checks"]:
        tol = (c.get("details") or {}).get("tolerance") if c["kind"] == "prediction" else None
        if isinstance(tol, Mapping) and isinstance(tol.get("atol"), (int, float)) and not isinstance(tol["atol"], bool):
            return float(tol["atol"])
    return None


def _features(s: Mapping[str, Any], slug: str) -> str:
    rows = []
    for c in s["checks"]:
        if c["kind"] != "feature" or is_error(c):
            continue
        d = c["details"]
        tol = d.get("tolerance")
        rows.append([
            _e(d.get("feature", c["id"])), _e(d.get("type", DASH)), _e(fmt_count(d.get("n"))),
            _e(fmt_count(d.get("n_mismatch"))), _e(fmt_rate(d.get("match_rate"))),
            _e(fmt_num(d.get("max_abs_err"))), _e(fmt_num(d.get("max_rel_err"))), _e(fmt_count(d.get("max_ulp"))),
            _e(fmt_tolerance(tol)), _check_verdict(c, s["known_gaps"]),
        ])
    if not rows:
        return '<p class="muted">No feature checks.</p>'
    header = ["feature", "type", "n", "mismatches", "match rate", "max abs err", "max rel err", "max ULP", "tolerance",
              "verdict"]
    return _table(header, rows, table_id=f"features-{slug}", numeric=(2, 3, 4, 5, 6, 7))


def _slices(s: Mapping[str, Any], slug: str) -> str:
    checks = [c for c in s["checks"] if c["kind"] == "metric" and (c["details"].get("slice")) and not is_error(c)
              and not is_review_item(c)]
    if not checks:
        return '<p class="muted">No slices.</p>'
    checks.sort(key=lambda c: (slice_label(c["details"]), str(c["details"].get("metric"))))
    return _table(_METRIC_HEADER, [_metric_row(s, c) for c in checks], table_id=f"slices-{slug}",
                  numeric=(2, 3, 4, 9, 10, 11))


def _alignment_caveat(s: Mapping[str, Any]) -> str:
    text = alignment_caveat(s)
    return f'<p class="warning">{_e(text)}</p>' if text else ""


def _other_checks(s: Mapping[str, Any]) -> str:
    rows = [[_e(c["id"]), _e(c["kind"]), _check_verdict(c, s["known_gaps"]),
             _e(numbers_in_text(c.get("summary") or DASH)), _e(fmt_tolerance((c.get("details") or {}).get("tolerance")))]
            for c in s["checks"] if (c["kind"] not in ("metric", "feature") or is_review_item(c)) and not is_error(c)]
    return _table(["check", "kind", "verdict", "result", "tolerance"], rows) if rows else ""


def _errors(s: Mapping[str, Any], slug: str) -> str:
    rows = [[_e(c["id"]), _e(c["kind"]), _e(c["details"]["error"].get("stage", DASH)),
             _check_verdict(c, s["known_gaps"]), _e(error_text(c["details"]["error"]))]
            for c in s["checks"] if is_error(c)]
    if not rows:
        return ""
    return ("<h3>Errors: checks that could not be computed</h3>\n"
            + _table(["check", "kind", "stage", "verdict", "error"], rows, table_id=f"errors-{slug}"))


def _messages(s: Mapping[str, Any]) -> str:
    """Each not-EQUIVALENT check's message: the failing ones under "Failure details" (the one meaning of
    failing, `harness.results.is_failing`), the others (not gated, or a known gap) apart, so that a
    check that fails nothing is not listed as a failure."""
    bad = [c for c in s["checks"] if c["verdict"] != "EQUIVALENT" and c.get("message")]
    failing = [c for c in bad if is_failing(c, s["known_gaps"])]
    other = [c for c in bad if not is_failing(c, s["known_gaps"])]
    parts = []
    for title, checks in (("Failure details", failing),
                          ("Not EQUIVALENT, not failing (not gated, or a known gap)", other)):
        if checks:
            parts.append(f"<h3>{_e(title)}</h3>")
        for c in checks:
            parts.append(f'<details data-check="{_e(c["id"])}"><summary>{_e(c["id"])}: {_e(c["verdict"])}</summary>'
                         f"<pre>{_e(c['message'])}</pre></details>")
    return "\n".join(parts)


def _upgrade(s: Mapping[str, Any], slug: str) -> str:
    up = s.get("upgrade")
    if not up:
        return ""
    findings = up.get("findings") or []
    parts = ["<h3>Upgrade findings</h3>"]
    pkgs = up.get("changed_packages") or {}
    if pkgs:
        parts.append("<p>Changed packages: " + ", ".join(
            f"<code>{_e(name)}</code> {_e(_pkg_versions(v))}" for name, v in pkgs.items()) + "</p>")
    if up.get("reason"):
        parts.append(f"<p>Baseline {_e(up.get('action', 'updated'))}: {_e(up['reason'])}</p>")
    for note in up.get("notes") or []:
        parts.append(f'<p class="muted">note: {_e(note)}</p>')
    if not findings:
        parts.append('<p>No probe output differs from the baseline.</p>')
    rows = []
    for f in findings:
        paths = finding_paths(f)
        path_rows = "".join(
            f"<tr><td><code>{_e(p.get('path', '') if isinstance(p, Mapping) else p)}</code></td>"
            f"<td>{_e(_json(p.get('old'))) if isinstance(p, Mapping) else ''}</td>"
            f"<td>{_e(_json(p.get('new'))) if isinstance(p, Mapping) else ''}</td></tr>"
            for p in paths
        )
        path_html = (f"<table><thead><tr><th>path</th><th>old</th><th>new</th></tr></thead><tbody>{path_rows}"
                     "</tbody></table>") if paths else DASH
        packages = ", ".join(_e(_pkg(p)) for p in f.get("packages") or []) or DASH
        extra = {k: v for k, v in f.items() if k not in _FINDING_KEYS}
        accepted = f.get("accepted")
        rows.append([
            _e(finding_label(f)), _e(f.get("category") or DASH),
            f'<span class="outcome v-{"NOT_EQUIVALENT" if f.get("outcome") == "CHANGED" else "EQUIVALENT"}">'
            f'{_e(f.get("outcome", DASH))}</span>',
            _e(DASH if accepted is None else ("yes" if accepted else "no")),
            _e(finding_size_text(f)), path_html, packages, _e(f.get("explanation") or ""),
            f"<code>{_e(_json(extra))}</code>" if extra else "",
        ])
    if rows:
        parts.append(_table(["probe/output", "category", "outcome", "accepted", "size", "deepdiff paths", "packages", "explanation",
                             "other"], rows,
                            table_id=f"upgrade-{slug}"))
    return "\n".join(parts)


_FINDING_KEYS = ("probe", "output", "category", "outcome", "summary", "size", "paths", "packages", "accepted",
                 "explanation")


def _pkg_versions(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0] if v[0] is not None else 'absent'} \u2192 {v[1] if v[1] is not None else 'absent'}"
    return str(v)


def _pkg(p: Any) -> str:
    if isinstance(p, Mapping):
        if "old" in p or "new" in p:
            return f"{p.get('name', '?')} {p.get('old')}\u2192{p.get('new')}"
        return str(p.get("name", p))
    return str(p)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=False)


def _fingerprints(s: Mapping[str, Any], slug: str) -> str:
    up = s.get("upgrade") or {}
    baseline = up.get("baseline_fingerprint")
    current = up.get("current_fingerprint") if up.get("current_fingerprint") is not None else s.get("fingerprint")
    if not baseline and not current:
        return ""
    parts = ["<h3>Fingerprints</h3>"]
    if baseline is not None:
        # Side by side, one row per leaf, differing rows highlighted: what changed in the environment.
        fb, fc = flatten(baseline), flatten(current or {})
        keys = list(fb) + [k for k in fc if k not in fb]
        rows = []
        for k in keys:
            differs = fb.get(k, _MISSING) != fc.get(k, _MISSING)
            cls = ' class="differs"' if differs else ""
            rows.append(f'<tr{cls}><td><code>{_e(k)}</code></td>'
                        f"<td>{_e(_json(fb.get(k, DASH)))}</td><td>{_e(_json(fc.get(k, DASH)))}</td></tr>")
        parts.append(f'<table id="fingerprints-{_e(slug)}"><thead><tr><th>key</th><th>baseline</th><th>current</th>'
                     f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    else:
        # no baseline to compare with: the environment for the record, folded (a page of JSON otherwise)
        parts.append(f'<div class="fingerprints" id="fingerprints-{_e(slug)}"><details><summary>current environment '
                     f"(packages, CPU, BLAS, settings)</summary>"
                     f"<pre>{_e(json.dumps(current, indent=2, ensure_ascii=False))}</pre></details></div>")
    return "\n".join(parts)


_MISSING = object()


def _suite(s: Mapping[str, Any], index: int) -> str:
    slug = f"s{index}-{_slug(s['suite'])}"
    ds = s.get("dataset") or {}
    metric_checks = [c for c in s["checks"]
                     if c["kind"] == "metric" and not c["details"].get("slice") and not is_error(c)
                     and not is_review_item(c)]
    parts = [
        f'<section class="suite" id="suite-{_e(slug)}" data-suite="{_e(s["suite"])}" data-verdict="{_e(s["verdict"])}">',
        f"<h2>{_e(s['suite'])}: {_verdict(s['verdict'])}</h2>",
        f"<p>{_e(s.get('description') or '')}</p>",
        f'<p class="muted">dataset {_e(ds.get("name", DASH))} v{_e(ds.get("version", DASH))}, split '
        f'{_e(ds.get("split", DASH))}, {_e(fmt_num(ds.get("rows")))} rows; seed {_e(s.get("seed"))}'
        + (f'; <strong>sampled: {_e(fmt_num(s["sample"].get("rows")))} rows, seed {_e(s["sample"].get("seed"))}</strong>'
           if s.get("sample") else "") + "</p>",
        _errors(s, slug),
        "<h3>Metrics</h3>",
        _alignment_caveat(s),
        _table(_METRIC_HEADER, [_metric_row(s, c) for c in metric_checks], table_id=f"metrics-{slug}",
               numeric=(2, 3, 4, 9, 10, 11)) if metric_checks else '<p class="muted">No metric checks.</p>',
        "<h3>Predictions</h3>",
        _plots(s, slug),
        "<h3>Features</h3>",
        _features(s, slug),
        "<h3>Slices</h3>",
        _slices(s, slug),
        "<h3>Alignment, predictions and other checks</h3>",
        _other_checks(s),
    ]
    if s["known_gaps"]:
        parts.append("<h3>Known gaps (accepted)</h3><ul>" + "".join(
            f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in s["known_gaps"].items()) + "</ul>")
    parts += [_messages(s), _upgrade(s, slug), _fingerprints(s, slug), "</section>"]
    return "\n".join(p for p in parts if p)


def _provenance(doc: Mapping[str, Any]) -> str:
    """``parity-harness 0.1.0; suites at commit 1a2b3c4d5e6f (uncommitted changes); report schema 2.0``."""
    tool = doc.get("tool") or {}
    src = doc.get("suites_source") or {}
    if src.get("commit"):
        suites = f"suites at commit <code>{_e(src['commit'])}</code>" + {
            True: " <strong>with uncommitted changes</strong>", False: "", None: " (uncommitted changes unknown)"
        }[src.get("dirty")]
    else:
        suites = "suites' commit not recorded"
    return (f'<p id="provenance" class="muted">{_e(tool.get("name", "parity-harness"))} '
            f'{_e(tool.get("version", DASH))}; {suites}; report schema {_e(doc.get("schema_version"))}</p>')


def _banner(doc: Mapping[str, Any], shown: str, provisional: bool) -> str:
    # A sampled or partial run is not a release verdict: its pass is never drawn green.
    c = doc["counts"]
    verdict = doc["verdict"]
    cls = "provisional" if provisional and verdict == "EQUIVALENT" else f"v-{_e(verdict)}"
    notes = ([plural(c["errors"], "error")] if c.get("errors") else []) + (
        [f"{fmt_count(c['inconclusive'])} inconclusive"] if c.get("inconclusive") else [])
    text = (f"Parity: {shown} \u2014 {plural(c['suites'], 'suite')}, {plural(c['checks'], 'check')}, "
            f"{fmt_count(c['failing'])} failing" + (f" ({', '.join(notes)})" if notes else "")
            + (f", {plural(c['known_gaps'], 'known gap')}" if c.get("known_gaps") else ""))
    return (f'<div id="verdict" class="{cls}" data-verdict="{_e(verdict)}"'
            + (' data-partial="true"' if (doc.get("selection") or {}).get("partial") else "")
            + (' data-provisional="true"' if provisional else "") + f">{_e(text)}</div>")


def render_html(doc: Mapping[str, Any]) -> str:
    """The page for ``doc``; refuses (`ParityInputError`) a document whose verdicts contradict its checks."""
    verify_report(doc)
    selection = doc.get("selection") or {}
    partial = bool(selection.get("partial"))
    shown = f"{doc['verdict']} (partial run)" if partial else str(doc["verdict"])
    provisional = partial or bool(doc.get("sample"))
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Parity report: {_e(shown)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_SCRIPT}</script>",
        "</head><body>",
        "<h1>Parity report</h1>",
        html_run_banner(doc),  # the run's verdict first where serving gates ran (measured)
        _banner(doc, shown, provisional),
        _provenance(doc),
    ]
    if doc.get("sample"):
        sm = doc["sample"]
        head.append(f'<div id="sample-warning">Sampled run: {_e(fmt_num(sm.get("rows")))} rows per suite (seed '
                    f'{_e(sm.get("seed"))}), not the whole golden set. Not a release verdict.</div>')
    if partial:
        not_run = "".join(f"<li><code>{_e(suite)}</code>: " + ", ".join(f"<code>{_e(i)}</code>" for i in ids) + "</li>"
                          for suite, ids in (selection.get("not_run") or {}).items())
        head.append(f'<div id="selection-warning">Partial run: {_e(partial_text(selection))}. Not a release verdict.'
                    + (f"<details><summary>Checks not run</summary><ul>{not_run}</ul></details>" if not_run else "")
                    + "</div>")
    served = has_serving(doc)  # the serving verdict beside the accuracy verdict (measured: inside markers)
    overview = _table(
        ["suite", "verdict"] + (["serving"] if served else []) + ["checks", "failing", "known gaps", "dataset", "rows"],
        [[f'<a href="#suite-s{i}-{_e(_slug(s["suite"]))}">{_e(s["suite"])}</a>', _verdict(s["verdict"])]
         + ([html_serving_cell(doc, s["suite"])] if served else [])
         + [_e(fmt_count(len(s["checks"]))),
            _e(fmt_count(sum(is_failing(c, s["known_gaps"]) for c in s["checks"]))),
            _e(fmt_count(sum(c["id"] in s["known_gaps"] for c in s["checks"]))),
            _e((s.get("dataset") or {}).get("name", DASH)), _e(fmt_count((s.get("dataset") or {}).get("rows")))]
         for i, s in enumerate(doc["suites"])],
        table_id="suites",
    )
    body = [
        "<h2>Suites</h2>", overview,
        "<h2>Metric differences</h2>",
        '<p class="muted">Each row: the difference new \u2212 legacy and its interval, divided by that metric\'s margin; '
        "the shaded region is what the margin allows. Green: equivalent, red: not equivalent, amber: inconclusive.</p>",
        # Scrolls sideways on a phone rather than shrinking its labels below reading size.
        '<div class="scroll">' + forest_plot(_forest_rows(doc), plot_id="forest-plot") + "</div>",
        *[_suite(s, i) for i, s in enumerate(doc["suites"])],
        html_section(doc),
        _provenance(doc).replace('id="provenance" ', ""),
        "</body></html>",
    ]
    return "\n".join(head + body) + "\n"
