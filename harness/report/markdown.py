"""report.md: the release review as a pull-request comment, rendered from the report document only.

Order matters in a PR comment: the verdict is the first line, a sampled run says so right under it,
then the metric differences (what a reviewer decides on), alignment and predictions, features (those out
of parity open, the rest collapsed), upgrade findings, and what changed in the environment since the
baseline. Every check of the document is in it exactly once; of the fingerprints only the entries that
differ are shown (both are in report.json).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    md_cell,
    md_messages,
    numbers_in_text,
    partial_text,
    plural,
    slice_label,
)
from harness.report.serving_section import (
    has_serving,
    markdown_failing,
    markdown_headline,
    markdown_run_line,
    markdown_section,
    markdown_serving_cell,
)
from harness.report.verify import is_error, is_review_item, verify_report
from harness.results import is_failing

__all__ = ["render_markdown"]


_cell = md_cell  # a table cell must stay on one line and must not open a new column


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _verdict_cell(check: Mapping[str, Any], gaps: Mapping[str, str]) -> str:
    verdict = check["verdict"]
    if check["id"] in gaps:
        return f"{verdict} (known gap" + (", error)" if is_error(check) else ")")
    if not check["gated"]:
        return f"{verdict} (not gated)"
    if is_error(check):
        return f"**{verdict}** (error)"
    return f"**{verdict}**" if verdict != "EQUIVALENT" else verdict


def _partial(doc: Mapping[str, Any]) -> bool:
    return bool((doc.get("selection") or {}).get("partial"))


def _headline(doc: Mapping[str, Any]) -> list[str]:
    c = doc["counts"]
    line = (
        f"**Parity: {doc['verdict']}{' (partial run)' if _partial(doc) else ''}** \u2014 "
        f"{plural(c['suites'], 'suite')}, {plural(c['checks'], 'check')}, {fmt_count(c['failing'])} failing"
    )
    notes = ([plural(c["errors"], "error")] if c.get("errors") else []) + (
        [f"{fmt_count(c['inconclusive'])} inconclusive"] if c.get("inconclusive") else [])
    if notes:
        line += f" ({', '.join(notes)})"
    if c.get("known_gaps"):
        line += f", {plural(c['known_gaps'], 'known gap')}"
    lines = [line, ""]
    if doc.get("sample"):
        s = doc["sample"]
        lines += [
            f"> [!WARNING]\n> **Sampled run:** {fmt_num(s.get('rows'))} rows per suite (seed {s.get('seed')}), "
            "not the whole golden set. Not a release verdict.",
            "",
        ]
    if _partial(doc):
        sel = doc["selection"]
        not_run = "; ".join(f"`{suite}`: " + ", ".join(ids) for suite, ids in (sel.get("not_run") or {}).items())
        lines += [
            f"> [!WARNING]\n> **Partial run:** {_cell(partial_text(sel))}. Not a release verdict.",
            *([f"> not run: {_cell(not_run)}"] if not_run else []),
            "",
        ]
    return lines


def _suites_table(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for s in doc["suites"]:
        gaps = s["known_gaps"]
        failing = sum(is_failing(c, gaps) for c in s["checks"])  # the one meaning of failing
        covered = sum(c["id"] in gaps for c in s["checks"])  # as counts.known_gaps: checks a gap covers
        ds = s.get("dataset") or {}
        dataset = " ".join(str(x) for x in (ds.get("name"), ds.get("version") and f"v{ds.get('version')}",
                                            ds.get("split") and f"({ds.get('split')})") if x)
        verdict = f"**{s['verdict']}**" + (" (error)" if any(is_error(c) for c in s["checks"]) else "")
        rows.append([s["suite"], verdict, fmt_count(len(s["checks"])), fmt_count(failing), fmt_count(covered),
                     dataset or DASH, fmt_count(ds.get("rows"))])
    header = ["suite", "verdict", "checks", "failing", "known gaps", "dataset", "rows"]
    if has_serving(doc):  # the serving verdict beside the accuracy verdict (measured: inside markers)
        header.insert(2, "serving")
        for row, s in zip(rows, doc["suites"]):
            row.insert(2, markdown_serving_cell(doc, s["suite"]))
    return _table(header, rows)


def _metrics(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for s in doc["suites"]:
        for c in s["checks"]:
            if c["kind"] != "metric" or is_error(c) or is_review_item(c):  # errors: listed under Errors
                continue
            d = c["details"]
            p = d.get("p_adjusted", d.get("p_value"))
            holm = d.get("decided_by") == "holm"  # the verdict is Holm's: show the interval at its level
            ci = fmt_ci(d["ci_adjusted"], d.get("ci_adjusted_level")) if holm and d.get("ci_adjusted") else \
                fmt_ci(d.get("ci"), d.get("ci_level"))
            rows.append([
                s["suite"], d.get("metric", c["id"]), slice_label(d), fmt_num(d.get("legacy")), fmt_num(d.get("new")),
                fmt_diff(d.get("diff")), ci, fmt_margin(d),
                fmt_method(d), fmt_p(p) + (f" ({d['adjustment']})" if d.get("adjustment") else ""),
                fmt_count(d.get("n")), _verdict_cell(c, s["known_gaps"]) + (" (Holm)" if holm else ""),
            ])
    if not rows:
        return ["### Metric differences", "", "No metric checks in this run.", ""]
    header = ["suite", "metric", "slice", "legacy", "new", "diff (new \u2212 legacy)", "CI", "margin", "method",
              "p (adjusted)", "n", "verdict"]
    caveats = [f"> [!WARNING]\n> {text}" for text in map(alignment_caveat, doc["suites"]) if text]
    return ["### Metric differences", "", *[line for c in caveats for line in (c, "")], *_table(header, rows), ""]


def _feature_row(s: Mapping[str, Any], c: Mapping[str, Any]) -> list[str]:
    d = c["details"]
    return [
        s["suite"], d.get("feature", c["id"]), d.get("type", DASH),
        f"{fmt_count(d.get('n_mismatch'))} / {fmt_count(d.get('n'))}", fmt_rate(d.get("match_rate")),
        fmt_num(d.get("max_abs_err")), fmt_count(d.get("max_ulp")), fmt_tolerance(d.get("tolerance")),
        _verdict_cell(c, s["known_gaps"]),
    ]


_FEATURE_HEADER = ["suite", "feature", "type", "mismatches", "match rate", "max abs err", "max ULP", "tolerance",
                   "verdict"]


def _features(doc: Mapping[str, Any]) -> list[str]:
    all_features = [(s, c) for s in doc["suites"] for c in s["checks"] if c["kind"] == "feature" and not is_error(c)]
    bad = [(s, c) for s, c in all_features if c["verdict"] != "EQUIVALENT"]
    good = [(s, c) for s, c in all_features if c["verdict"] == "EQUIVALENT"]
    lines = ["### Features", ""]
    if not all_features:
        return lines + ["No feature checks in this run.", ""]
    if bad:
        lines += [f"{len(bad)} of {len(all_features)} features out of parity:", "",
                  *_table(_FEATURE_HEADER, [_feature_row(s, c) for s, c in bad]), ""]
    if good:
        # Collapsed: a PR comment on hundreds of passing features must still open on what failed.
        summary = (f"All {len(good)} features at parity" if not bad else
                   f"{plural(len(good), 'feature')} at parity")
        lines += [f"<details><summary>{summary}</summary>", "",
                  *_table(_FEATURE_HEADER, [_feature_row(s, c) for s, c in good]), "", "</details>", ""]
    return lines


def _scores(doc: Mapping[str, Any]) -> list[str]:
    """Every check that is neither a metric nor a feature (alignment, predictions, distributions, the
    upgrade gate), passing or not: the reader sees the keys aligned and the scores compared."""
    rows = [
        [s["suite"], c["id"], _verdict_cell(c, s["known_gaps"]), numbers_in_text(c.get("summary") or DASH),
         fmt_tolerance((c.get("details") or {}).get("tolerance"))]
        for s in doc["suites"]
        for c in s["checks"]
        if (c["kind"] not in ("metric", "feature") or is_review_item(c)) and not is_error(c)
    ]
    if not rows:
        return []
    return ["### Alignment, predictions and other checks", "",
            *_table(["suite", "check", "verdict", "result", "tolerance"], rows), ""]


def _errors(doc: Mapping[str, Any]) -> list[str]:
    rows = [[s["suite"], c["id"], c["details"]["error"].get("stage", DASH), error_text(c["details"]["error"])]
            for s in doc["suites"] for c in s["checks"] if is_error(c)]
    if not rows:
        return []
    return ["### Errors", "", "Checks that could not be computed; each one fails the run (unless a known gap).", "",
            *_table(["suite", "check", "stage", "error"], rows), ""]


def _failing_details(doc: Mapping[str, Any]) -> list[str]:
    """Each failing check's own message (what failed, by how much, the margin's reason, what to do), as
    the shells print it: a reviewer reading report.md alone sees why and what next."""
    items = [(s["suite"], c) for s in doc["suites"] for c in s["checks"]
             if is_failing(c, s["known_gaps"]) and c.get("message") and not is_error(c)]
    return md_messages("Failing checks: why, and what to do", items)


def _known_gaps(doc: Mapping[str, Any]) -> list[str]:
    items = [(s["suite"], cid, reason) for s in doc["suites"] for cid, reason in s["known_gaps"].items()]
    if not items:
        return []
    return ["### Known gaps (accepted, shown as xfail)", "", *[f"- `{s}` `{cid}`: {_cell(r)}" for s, cid, r in items], ""]


def _upgrade(doc: Mapping[str, Any]) -> list[str]:
    suites = [s for s in doc["suites"] if s.get("upgrade")]
    if not suites:
        return []
    lines = ["### Upgrade findings", ""]
    for s in suites:
        findings = s["upgrade"].get("findings") or []
        pkgs = s["upgrade"].get("changed_packages") or {}
        if pkgs:
            lines += [f"`{s['suite']}` changed packages: " + ", ".join(
                f"{name} {_versions(v)}" for name, v in pkgs.items()), ""]
        if s["upgrade"].get("reason"):
            lines += [f"`{s['suite']}` baseline {s['upgrade'].get('action', 'updated')}: {s['upgrade']['reason']}", ""]
        for note in s["upgrade"].get("notes") or []:
            lines += [f"> note: {_cell(note)}", ""]
        if not findings:
            lines += [f"`{s['suite']}`: no probe output differs from the baseline.", ""]
            continue
        rows = []
        for f in findings:
            paths = finding_paths(f)
            accepted = f.get("accepted")
            rows.append([
                s["suite"], finding_label(f), f.get("category") or DASH,
                f"**{f.get('outcome')}**" if f.get("outcome") == "CHANGED" else f.get("outcome", DASH),
                DASH if accepted is None else ("yes" if accepted else "no"),
                finding_size_text(f),
                "; ".join(_path_text(p) for p in paths[:5]) + (f"; \u2026 {len(paths) - 5} more" if len(paths) > 5 else ""),
                ", ".join(_package_text(p) for p in f.get("packages") or []) or DASH,
                f.get("explanation") or "",
            ])
        lines += _table(["suite", "probe/output", "category", "outcome", "accepted", "size", "deepdiff paths", "packages",
                         "explanation"], rows) + [""]
    return lines


def _path_text(path: Any) -> str:
    if isinstance(path, Mapping):
        text = str(path.get("path", ""))
        if "old" in path or "new" in path:
            text += f": {_short(path.get('old'))} \u2192 {_short(path.get('new'))}"
        return text
    return str(path)


def _versions(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0] if v[0] is not None else 'absent'} \u2192 {v[1] if v[1] is not None else 'absent'}"
    return str(v)


def _package_text(pkg: Any) -> str:
    if isinstance(pkg, Mapping):
        name = pkg.get("name", "?")
        if "old" in pkg or "new" in pkg:
            return f"{name} {pkg.get('old')}\u2192{pkg.get('new')}"
        return str(name)
    return str(pkg)


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


_ABSENT = "(absent)"


def _fingerprints(doc: Mapping[str, Any]) -> list[str]:
    """Per suite with a baseline: the fingerprint entries that differ from it (both whole fingerprints
    stay in report.json). Without a baseline there is nothing to compare, so nothing is shown."""
    lines = []
    for s in doc["suites"]:
        up = s.get("upgrade") or {}
        if up.get("baseline_fingerprint") is None:
            continue
        current = up.get("current_fingerprint") if up.get("current_fingerprint") is not None else s.get("fingerprint")
        old, new = flatten(up["baseline_fingerprint"]), flatten(current or {})
        keys = list(old) + [k for k in new if k not in old]
        rows = [[f"`{k}`", _json_cell(old.get(k, _ABSENT)), _json_cell(new.get(k, _ABSENT))]
                for k in keys if old.get(k, _ABSENT) != new.get(k, _ABSENT)]
        lines += [f"### Environment changes since the baseline \u2014 {s['suite']}", ""]
        if rows:
            lines += [f"{len(rows)} of {len(keys)} fingerprint entries differ:", "",
                      *_table(["entry", "baseline", "current"], rows), ""]
        else:
            lines += [f"All {len(keys)} fingerprint entries are as in the baseline.", ""]
    return lines


def _json_cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _footer(doc: Mapping[str, Any]) -> str:
    tool = doc.get("tool") or {}
    src = doc.get("suites_source") or {}
    if src.get("commit"):
        suites = f"suites at commit `{src['commit']}`" + {True: " **with uncommitted changes**", False: "",
                                                         None: " (uncommitted changes unknown)"}[src.get("dirty")]
    else:
        suites = "suites' commit not recorded"
    return (f"<sub>{tool.get('name', 'parity-harness')} {tool.get('version', DASH)}; {suites}; report schema "
            f"{doc.get('schema_version')}</sub>")


def _side_cache(doc: Mapping[str, Any]) -> list[str]:
    """Which trained sides a run reused from the cache (harness.cache) and which it trained."""
    rows = [(s["suite"], e.get("side", ""), "reused" if e.get("reused") else "trained", e.get("reason", ""))
            for s in doc["suites"] for e in s.get("side_cache") or ()]
    if not rows:
        return []
    return ["### Trained sides", ""] + _table(["suite", "side", "this run", "why"], rows) + [""]


def render_markdown(doc: Mapping[str, Any]) -> str:
    """report.md for ``doc``; refuses (`ParityInputError`) a document whose verdicts contradict its checks."""
    verify_report(doc)
    lines = markdown_run_line(doc)  # the run's verdict first where serving gates ran (measured)
    lines += _headline(doc)
    lines += markdown_headline(doc)
    lines += _suites_table(doc) + [""]
    lines += _errors(doc)
    lines += _metrics(doc)
    lines += _scores(doc)
    lines += _features(doc)
    lines += _failing_details(doc)
    lines += markdown_failing(doc)
    lines += _known_gaps(doc)
    lines += _upgrade(doc)
    lines += _side_cache(doc)
    lines += markdown_section(doc)
    lines += _fingerprints(doc)
    lines.append(_footer(doc))
    return "\n".join(lines).rstrip("\n") + "\n"
