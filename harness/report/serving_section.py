"""The "Serving and cost" section of report.md and report.html, from the document's ``measured`` section.

Everything drawn from ``measured`` varies from run to run, so each rendered piece of it sits between
`MEASURED_BEGIN` / `MEASURED_END` markers (HTML comments, invisible in both renderings):
`harness.report.measured.strip_measured_text` removes them and leaves the byte-identical rest. The
suites table gets a serving column only when some suite's serving gates ran (whether they ran is
deterministic; their verdict is inside markers).
"""
from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from harness.report.format import DASH, fmt_count, fmt_num, md_messages, plural
from harness.report.measured import MEASURED_BEGIN, MEASURED_END
from harness.report.svg_serving import cost_bars, latency_cdf, throughput_plot
from harness.results import is_failing
from harness.verdicts import Verdict, combine

__all__ = ["has_serving", "html_run_banner", "html_section", "html_serving_cell", "markdown_failing",
           "markdown_headline", "markdown_run_line", "markdown_section", "markdown_serving_cell", "run_verdict", "wrap"]

_SIDES = ("legacy", "new")
_LAT = ("p50", "p90", "p99", "p99.9", "max")
_LAT_HEADER = ["batch", "side", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "predictions/s",
               "CPU s / 1k", "peak RSS MB", "open-loop p99 ms", "errors", "timeouts"]
_GATE_HEADER = ["suite", "gate", "ratio new / legacy", "interval", "allowed", "verdict", "reason"]
_COST_HEADER = ["suite", "stage", "wall s", "CPU s", "peak RSS MB"]
_PROCESS_HEADER = ["suite", "side", "processes", "peak RSS MB", "RSS after imports MB", "RSS after load MB",
                   "CPU s / process", "imported before load"]
_PROCESS_CAPTION = ("**Serving processes** (each side in fresh child processes of its own, scope: process; "
                    "medians over the processes; after imports: interpreter, runtime and golden batches, before "
                    "the side is loaded; what `cost/peak_rss` compares)")


def wrap(text: str) -> str:
    return f"{MEASURED_BEGIN}{text}{MEASURED_END}"


def _suites(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((doc.get("measured") or {}).get("suites") or [])


def has_serving(doc: Mapping[str, Any]) -> bool:
    """Whether any suite's serving gates ran (the suites table then gets a serving column)."""
    return any(s["checks"] for s in _suites(doc))


def run_verdict(doc: Mapping[str, Any]) -> str | None:
    """The whole run's verdict: the accuracy verdict and the serving verdict combined, as the exit status
    counts them; None when no serving gate ran (the parity verdict is then the run's)."""
    if not has_serving(doc):
        return None
    served = doc["measured"].get("verdict")
    return combine([Verdict(doc["verdict"])] + ([Verdict(served)] if served else [])).value


def _failing(doc: Mapping[str, Any], *, with_message: bool = False) -> list[tuple[str, Mapping[str, Any]]]:
    """(suite, check) of every failing serving/cost gate (`is_failing`, the suite's known gaps apart);
    ``with_message``: only those that carry a message."""
    return [(s["suite"], c) for s in _suites(doc) for c in s["checks"]
            if is_failing(c, s.get("known_gaps") or {}) and (c.get("message") or not with_message)]


def _known_gap_count(doc: Mapping[str, Any]) -> int:
    return sum(c["id"] in (s.get("known_gaps") or {}) for s in _suites(doc) for c in s["checks"])


def _run_text(doc: Mapping[str, Any]) -> str:
    m, run = doc["measured"], run_verdict(doc)
    failing = _failing(doc)
    served = m.get("verdict") or "not judged (each a known gap or not gated)"
    text = (f"Run: {run} — accuracy checks {doc['verdict']}, serving and cost gates {served}"
            f" ({fmt_count(len(failing))} of {plural(m['counts']['checks'], 'gate')} failing")
    if failing:
        text += ": " + ", ".join(c["id"] if len({s for s, _ in failing}) == 1 else f"{s} {c['id']}" for s, c in failing)
    return text + "); the exit status counts both"


def markdown_run_line(doc: Mapping[str, Any]) -> list[str]:
    """The run's verdict above the parity headline (measured: inside markers), so that a pass of the
    accuracy checks does not read as the run's pass when a serving or cost gate fails; nothing when no
    serving gate ran."""
    return [wrap(f"**{_run_text(doc)}**"), ""] if has_serving(doc) else []


def html_run_banner(doc: Mapping[str, Any]) -> str:
    """`markdown_run_line` for report.html: a banner coloured by the run's verdict, above the parity one."""
    if not has_serving(doc):
        return ""
    run = run_verdict(doc)
    return wrap(f'<div id="run-verdict" class="v-{_e(run)}" data-verdict="{_e(run)}">{_e(_run_text(doc))}</div>')


def markdown_failing(doc: Mapping[str, Any]) -> list[str]:
    """Each failing serving/cost gate's message (what failed, by how much, what to do), as the shells
    print it (measured: inside markers, empty when none fails); nothing when no serving gate ran."""
    if not has_serving(doc):
        return []
    lines = md_messages("Failing serving and cost gates: why, and what to do", _failing(doc, with_message=True))
    if not lines:  # the markers still: whether a gate fails is measured, the text around it is not
        return [wrap(""), ""]
    return [wrap("\n" + "\n".join(lines) + "\n"), ""]  # markers on lines of their own: the heading renders


def _html_failing(doc: Mapping[str, Any]) -> str:
    failing = _failing(doc, with_message=True)
    if not failing:
        return ""
    return "<h3>Failure details</h3>" + "".join(
        f'<details open data-check="{_e(c["id"])}"><summary>{_e(suite)} {_e(c["id"])}: {_html_verdict(c["verdict"])}'
        f"</summary><pre>{_e(c['message'])}</pre></details>" for suite, c in failing)


def _entry(doc: Mapping[str, Any], suite: str) -> Mapping[str, Any] | None:
    return next((s for s in _suites(doc) if s["suite"] == suite), None)


def _latency_rows(serving: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    # An in-process side is measured in the benchmark's own process: its peak RSS holds both sides and the
    # load generator, so the figure is said to be the shared process's, not the side's.
    shared = {s for s, info in (serving.get("sides") or {}).items() if (info or {}).get("kind") == "in_process"}
    for b, per_side in sorted(serving["batch_sizes"].items(), key=lambda kv: int(kv[0])):
        for side in _SIDES:
            e = per_side.get(side) or {}
            m = e.get("median") or {}
            rss = fmt_num(m.get("peak_rss"))
            rows.append([b, side, *[fmt_num(m.get(k)) for k in _LAT], fmt_num(m.get("predictions_per_s")),
                         fmt_num(m.get("cpu_per_1k")),
                         rss + " (shared process)" if side in shared and m.get("peak_rss") is not None else rss,
                         fmt_num((e.get("open_ms") or {}).get("p99")), fmt_count(e.get("errors")),
                         fmt_count(e.get("timeouts"))])
    return rows


def _gate_row(suite: str, c: Mapping[str, Any], known_gaps: Mapping[str, str] | None = None) -> list[str]:
    d = c.get("details") or {}
    gap = (known_gaps or {}).get(c["id"])
    if gap is not None:  # the suite's stated reason, as its accuracy checks show theirs
        c = {**c, "verdict": f"{c['verdict']} (known gap: {gap})"}
    if "error" in d:
        return [suite, c["id"], DASH, DASH, DASH, c["verdict"] + " (error)", c["summary"]]
    level = d.get("level")
    interval = f"[{fmt_num(d.get('lo'))}, {fmt_num(d.get('hi'))}]" + (
        f" ({fmt_num(100 * level)}%)" if isinstance(level, (int, float)) and level < 1 else " (exact)")
    return [suite, c["id"], fmt_num(d.get("ratio")), interval, f"\u2264 {fmt_num(d.get('max_ratio'))}x",
            c["verdict"] + ("" if c["gated"] else " (not gated)"), d.get("reason") or ""]


def _cost_rows(s: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for stage, f in (s.get("cost") or {}).items():
        scope = f.get("peak_rss_scope")
        rss = fmt_num(f.get("peak_rss_mb")) + (f" ({scope})" if scope and f.get("peak_rss_mb") is not None else "")
        rows.append([s["suite"], stage, fmt_num(f.get("wall_s")), fmt_num(f.get("cpu_s")),
                     rss if f.get("peak_rss_mb") is not None else DASH])
    return rows


def _process_rows(s: Mapping[str, Any]) -> list[list[str]]:
    """Per side its own serving processes' memory (medians), or why they could not be measured."""
    procs = (s.get("serving") or {}).get("processes")
    if not procs:
        return []
    if "error" in procs:
        return [[s["suite"], DASH, "0", DASH, DASH, DASH, DASH, "not measured: " + procs["error"]]]
    rows = []
    for side in _SIDES:
        e = procs["sides"][side]
        m = e["median"]
        rows.append([s["suite"], side, fmt_count(len(e["runs"])), fmt_num(m["peak_rss_mb"]) + " (process)",
                     fmt_num(m["rss_after_imports_mb"]), fmt_num(m["rss_after_load_mb"]), fmt_num(m["cpu_s"]),
                     ", ".join(_packages(e["runtime_modules"]))])
    return rows


def _packages(modules: list[str]) -> list[str]:
    """Top-level packages of the modules a serving process imported first (report.json keeps the modules)."""
    return list(dict.fromkeys(m.split(".")[0] for m in modules if not m.startswith("_")))


def _config_text(serving: Mapping[str, Any]) -> str:
    cfg = serving.get("config") or {}
    sides = serving.get("sides") or {}
    kinds = ", ".join(f"{s}: {(sides.get(s) or {}).get('kind', DASH)}" for s in _SIDES)
    open_loop = " + open loop" if cfg.get("open_loop", True) else " (no open loop: see parity serve-bench)"
    return (f"{plural(cfg.get('repeats', 0), 'interleaved round')} (ABBA) of {fmt_num(cfg.get('duration_s'))} s "
            f"closed loop ({plural(cfg.get('concurrency', 1), 'client')}){open_loop} per side and batch size; "
            f"{kinds}")


# -- Markdown ---------------------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(cell(c) for c in r) + " |" for r in rows]


def markdown_headline(doc: Mapping[str, Any]) -> list[str]:
    """The serving verdict under the parity headline (measured: inside markers); nothing when no serving
    gate ran."""
    m = doc.get("measured") or {}
    if not has_serving(doc):
        return []
    c = m["counts"]
    gaps = _known_gap_count(doc)
    return [wrap(f"**Serving and cost gates: {m['verdict']}** \u2014 {plural(c['checks'], 'gate')}, "
                 f"{fmt_count(c['failing'])} failing" + (f", {plural(gaps, 'known gap')}" if gaps else "")
                 + " (measured: not part of the parity verdict above; the exit status counts both)"), ""]


def markdown_serving_cell(doc: Mapping[str, Any], suite: str) -> str:
    e = _entry(doc, suite)
    if not e or not e["checks"]:
        return DASH
    return wrap(f"**{e['verdict']}**" if e["verdict"] != "EQUIVALENT" else str(e["verdict"]))


def markdown_section(doc: Mapping[str, Any]) -> list[str]:
    """"### Serving and cost": per suite the latency table, the gates, each side's own serving processes
    (when a peak-RSS gate ran), the cost per stage (tables only: the pictures are in report.html)."""
    suites = _suites(doc)
    if not suites:
        return []
    lines = ["### Serving and cost", "", "_Measured on the machine that ran the suites: varies from run to run "
             "(the report's `measured` section). Latency: closed loop, medians over rounds; report.html draws "
             "the CDFs, throughput and cost._", ""]
    gates = [_gate_row(s["suite"], c, s.get("known_gaps")) for s in suites for c in s["checks"]]
    body: list[str] = []
    if gates:
        body += ["**Serving and cost gates** (median of per-round ratios new / legacy, order-statistic interval)",
                 "", *_md_table(_GATE_HEADER, gates), ""]
    for s in suites:
        if s.get("serving"):
            body += [f"**{s['suite']}**: {_config_text(s['serving'])}", "",
                     *_md_table(_LAT_HEADER, _latency_rows(s["serving"])), ""]
    processes = [r for s in suites for r in _process_rows(s)]
    if processes:
        body += [_PROCESS_CAPTION, "", *_md_table(_PROCESS_HEADER, processes), ""]
    cost = [r for s in suites for r in _cost_rows(s)]
    if cost:
        body += ["**Cost per stage**", "", *_md_table(_COST_HEADER, cost), ""]
    return lines + [MEASURED_BEGIN, "", *body, MEASURED_END, ""]


# -- HTML -------------------------------------------------------------------------------------------------

def _e(v: Any) -> str:
    return escape(str(v), quote=True)


def _html_table(header: list[str], rows: list[list[str]], *, table_id: str, numeric: tuple[int, ...] = (),
                verdict_col: int | None = None) -> str:
    """A table of plain-text cells; column ``verdict_col`` (a verdict, perhaps with a note) coloured as
    verdicts are elsewhere in the report."""
    def cell(i: int, c: Any) -> str:
        if i == verdict_col:
            return f'<td><span class="v-{_e(str(c).split(" ")[0])}">{_e(c)}</span></td>'
        return f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"

    out = [f'<div class="scroll"><table id="{_e(table_id)}"><thead><tr>'
           + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>")
    return "\n".join(out + ["</tbody></table></div>"])


def _html_verdict(verdict: Any) -> str:
    return f'<span class="v-{_e(verdict)}">{_e(verdict)}</span>'


def html_serving_cell(doc: Mapping[str, Any], suite: str) -> str:
    e = _entry(doc, suite)
    if not e or not e["checks"]:
        return _e(DASH)
    return wrap(_html_verdict(e["verdict"]) if e["verdict"] else _e(DASH))


def html_section(doc: Mapping[str, Any]) -> str:
    """<h2>Serving and cost</h2>: the serving verdict, the gates, per suite the latency CDF per batch size
    (log axis), throughput against batch size and the latency table, then the cost per stage (table and
    bars)."""
    suites = _suites(doc)
    if not suites:
        return ""
    m = doc["measured"]
    parts = ['<section id="serving"><h2>Serving and cost</h2>',
             '<p class="muted">Measured on the machine that ran the suites: varies from run to run (the report\'s '
             "<code>measured</code> section, outside its byte-identity contract). The serving verdict is not part "
             "of the parity verdict; the exit status counts both.</p>", MEASURED_BEGIN]
    if has_serving(doc):
        gaps = _known_gap_count(doc)
        parts.append(f'<p id="serving-verdict" data-verdict="{_e(m["verdict"])}">Serving and cost gates: '
                     f'{_html_verdict(m["verdict"])} \u2014 {_e(plural(m["counts"]["checks"], "gate"))}, '
                     f'{_e(fmt_count(m["counts"]["failing"]))} failing'
                     + (f', {_e(plural(gaps, "known gap"))}' if gaps else "") + '</p>')
        parts.append(_html_table(_GATE_HEADER, [_gate_row(s["suite"], c, s.get("known_gaps")) for s in suites for c in s["checks"]],
                                 table_id="serving-gates", numeric=(2, 3, 4), verdict_col=5))
        parts.append(_html_failing(doc))
    for i, s in enumerate(suites):
        serving = s.get("serving")
        if not serving:
            continue
        slug = f"serving-{i}"
        plots = [f'<figure>{latency_cdf(per, plot_id=f"{slug}-cdf-{b}", title=f"Latency CDF, batch {b}")}'
                 f"<figcaption>{_e(s['suite'])}: latency at batch {_e(b)}, both sides</figcaption></figure>"
                 for b, per in sorted(serving["batch_sizes"].items(), key=lambda kv: int(kv[0]))]
        plots.append(f'<figure>{throughput_plot(serving["batch_sizes"], plot_id=f"{slug}-throughput")}'
                     f"<figcaption>{_e(s['suite'])}: predictions per second against batch size</figcaption></figure>")
        parts += [f"<h3>{_e(s['suite'])}</h3>", f'<p class="muted">{_e(_config_text(serving))}</p>',
                  '<div class="plots">' + "".join(plots) + "</div>",
                  _html_table(_LAT_HEADER, _latency_rows(serving), table_id=f"{slug}-latency",
                              numeric=tuple(range(2, 13)))]
    processes = [r for s in suites for r in _process_rows(s)]
    if processes:
        parts += ["<h3>Serving processes</h3>", f'<p class="muted">{_e(_PROCESS_CAPTION.replace("**", ""))}</p>',
                  _html_table(_PROCESS_HEADER, processes, table_id="serving-processes", numeric=(2, 3, 4, 5, 6))]
    cost = [r for s in suites for r in _cost_rows(s)]
    if cost:
        parts += ["<h3>Cost per stage</h3>", _html_table(_COST_HEADER, cost, table_id="cost-per-stage",
                                                         numeric=(2, 3, 4))]
        bars = ["<figure>" + cost_bars(s["cost"], plot_id=f"cost-{i}", title="CPU s per stage: " + s["suite"])
                + "</figure>" for i, s in enumerate(suites) if s.get("cost")]
        parts.append('<div class="plots">' + "".join(bars) + "</div>")
    parts += [MEASURED_END, "</section>"]
    return "\n".join(parts)
