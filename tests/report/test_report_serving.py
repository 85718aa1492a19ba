"""The report's measured section: schema, verification of the serving gates' verdicts (against scipy's
order-statistic interval, not the harness's own), and the "Serving and cost" section of report.md and
report.html. The measurements come from the real bench over no-op in-process targets (milliseconds)."""
from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.report import build_report, render_html, render_markdown, validate_report, verify_report
from harness.report.measured import MEASURED_BEGIN, MEASURED_END, median_interval, strip_measured_text, without_measured
from harness.serving.bench import BenchConfig, SideBench
from harness.serving.cost import ProcessMeter
from harness.serving.gates import CostGate, ServingGate, judge
from harness.serving.suite_run import measured_serving

pytest.importorskip("hdrh")

GATES = (ServingGate("p99", batch_size=1, max_ratio=1.5, reason="tail budget"),
         CostGate("time_per_1k", batch_size=32, max_ratio=100.0, reason="loose"))


def _noop(name: str) -> SideBench:
    return SideBench(kind="in_process", describe=name, make_target=lambda b: (lambda i: b), meter=ProcessMeter())


@pytest.fixture(scope="module")
def bench():
    from harness.serving.bench import run_bench

    cfg = BenchConfig(batch_sizes=(1, 32), duration_s=0.02, repeats=5, warmup_requests=1, max_requests=200)
    doc, checks = run_bench({"legacy": _noop("legacy"), "new": _noop("new")}, cfg, gates=GATES)
    return doc, checks


COST = {"load": {"wall_s": 0.5, "cpu_s": 0.4, "peak_rss_mb": 300.0, "peak_rss_scope": "stage"},
        "predict:legacy": {"wall_s": 1.25, "cpu_s": 1.0}, "predict:new": {"wall_s": 0.75, "cpu_s": 0.5},
        "evaluate": {"wall_s": 2.0, "cpu_s": 1.5, "peak_rss_mb": 310.0, "peak_rss_scope": "stage"}}


def _doc(make_result, bench, checks=None):
    doc, computed = bench
    serving = measured_serving(doc)
    cost = {**COST, **serving["stage_cost"]}
    rows = [c.to_dict() for c in (computed if checks is None else checks)]
    return build_report([make_result("ctr_logreg")], measured={"ctr_logreg": {"cost": cost, "serving": serving,
                                                                               "checks": rows}})


def test_a_measured_document_is_schema_valid_consistent_and_last(make_result, bench):
    doc = _doc(make_result, bench)
    validate_report(doc)
    verify_report(doc)
    assert list(doc)[-1] == "measured"
    m = doc["measured"]
    assert [s["suite"] for s in m["suites"]] == ["ctr_logreg"]
    assert [c["id"] for c in m["suites"][0]["checks"]] == ["serving/p99@1", "cost/time_per_1k@32"]
    assert m["counts"]["checks"] == 2 and m["verdict"] == m["suites"][0]["verdict"]
    assert doc["verdict"] == build_report([make_result("ctr_logreg")])["verdict"]  # accuracy alone decides it
    assert without_measured(doc) == {k: v for k, v in build_report([make_result("ctr_logreg")]).items()
                                     if k != "measured"}


def test_the_schema_refuses_a_serving_check_without_its_rounds(make_result, bench):
    doc = _doc(make_result, bench)
    del doc["measured"]["suites"][0]["checks"][0]["details"]["legacy"]
    with pytest.raises(ParityInputError, match=r"measured\.suites\[0\]\.checks\[0\]"):
        validate_report(doc)


@pytest.mark.parametrize("n", range(1, 31))
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.025])
def test_the_verifier_s_median_interval_is_scipy_s(n, alpha):
    from scipy.stats import quantile_test

    x = np.random.default_rng(n).lognormal(size=n).tolist()
    lo, hi = median_interval(x, 1 - 2 * alpha)
    ci = quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(1 - 2 * alpha)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), nan_ok=True)


def _gate_check(legacy, new, max_ratio=1.5):
    return judge(ServingGate("p99", batch_size=1, max_ratio=max_ratio, reason="tail budget"), legacy, new)


@pytest.mark.parametrize("legacy, new, verdict", [
    ([10.0] * 5, [11.0, 12.0, 12.5, 11.5, 13.0], "EQUIVALENT"),
    ([10.0] * 5, [20.0, 21.0, 19.0, 18.0, 25.0], "NOT_EQUIVALENT"),
    ([10.0] * 5, [10.0, 20.0, 12.0, 18.0, 14.0], "INCONCLUSIVE"),
    ([10.0] * 4, [11.0] * 4, "INCONCLUSIVE"),  # 4 rounds: too few for a 90 % interval
])
def test_a_stored_serving_verdict_that_its_rounds_contradict_is_refused(make_result, bench, legacy, new, verdict):
    check = _gate_check(legacy, new)
    assert check.verdict.value == verdict  # the harness's rule and the verifier's agree on these
    doc = _doc(make_result, bench, checks=[check])
    verify_report(doc)
    for other in {"EQUIVALENT", "NOT_EQUIVALENT", "INCONCLUSIVE"} - {verdict}:
        bad = copy.deepcopy(doc)
        row = bad["measured"]["suites"][0]["checks"][0]
        row["verdict"] = other
        bad["measured"]["suites"][0]["verdict"] = other
        bad["measured"]["verdict"] = other
        bad["measured"]["counts"]["failing"] = int(other != "EQUIVALENT")
        bad["measured"]["counts"]["inconclusive"] = int(other == "INCONCLUSIVE")
        with pytest.raises(ParityInputError, match=rf"serving gate 'serving/p99@1': stored {other}, but its rounds "
                                                   rf"give {verdict}"):
            verify_report(bad)


def test_a_serving_verdict_or_count_that_its_gates_contradict_is_refused(make_result, bench):
    doc = _doc(make_result, bench, checks=[_gate_check([10.0] * 5, [20.0, 21.0, 19.0, 18.0, 25.0])])
    bad = copy.deepcopy(doc)
    bad["measured"]["verdict"] = "EQUIVALENT"
    with pytest.raises(ParityInputError, match="measured.verdict: stored EQUIVALENT, but its suites give NOT_EQ"):
        verify_report(bad)
    bad = copy.deepcopy(doc)
    bad["measured"]["counts"]["failing"] = 0
    with pytest.raises(ParityInputError, match="measured.counts.failing: stored 0, but the checks give 1"):
        verify_report(bad)


def test_markdown_has_the_serving_column_gates_latency_and_cost_tables(make_result, bench):
    doc = _doc(make_result, bench)
    md = render_markdown(doc)
    assert "### Serving and cost" in md
    assert "| suite | verdict | serving | checks |" in md
    assert "| suite | gate | ratio new / legacy | interval | allowed | verdict | reason |" in md
    assert "| ctr_logreg | serving/p99@1 |" in md and "| ctr_logreg | cost/time_per_1k@32 |" in md
    assert "| batch | side | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | predictions/s |" in md
    for stage, wall in (("load", "0.5"), ("predict:legacy", "1.25"), ("evaluate", "2")):
        assert f"| ctr_logreg | {stage} | {wall} |" in md
    assert "| ctr_logreg | serving:legacy |" in md and "| ctr_logreg | serving:new |" in md
    assert md.count(MEASURED_BEGIN) == md.count(MEASURED_END) >= 3


def test_an_in_process_side_s_peak_rss_is_said_to_be_the_shared_process_s(make_result, bench):
    # Both sides run in the benchmark's process: one process's high-water mark, not each side's.
    md = render_markdown(_doc(make_result, bench))
    rows = [line for line in md.splitlines() if line.startswith(("| 1 | ", "| 32 | "))]
    assert len(rows) == 4 and all(" (shared process) |" in line for line in rows), rows
    assert "(shared process)" in render_html(_doc(make_result, bench))


def test_html_draws_a_latency_cdf_per_batch_size_throughput_and_cost_bars(make_result, bench):
    doc = _doc(make_result, bench)
    html = render_html(doc)
    section = html[html.index('<section id="serving">'):]
    assert len(re.findall(r'<svg id="serving-0-cdf-(1|32)" data-plot="latency_cdf"', section)) == 2
    assert 'data-plot="throughput"' in section and 'data-plot="cost_bars"' in section
    assert "latency, ms (log scale)" in section  # the CDF's x axis is logarithmic
    assert '<table id="cost-per-stage">' in section and '<table id="serving-gates">' in section
    overview = html[html.index('<table id="suites">'):html.index("</table>", html.index('<table id="suites">'))]
    assert "<th>serving</th>" in overview
    assert "<script src" not in html  # still self-contained


def test_only_the_measured_parts_differ_between_two_measurements(make_result, bench):
    doc = _doc(make_result, bench)
    other = copy.deepcopy(doc)
    for stage in other["measured"]["suites"][0]["cost"].values():
        stage["wall_s"] = stage["wall_s"] * 3 + 1
    md, md2 = render_markdown(doc), render_markdown(other)
    html, html2 = render_html(doc), render_html(other)
    assert md != md2 and html != html2
    assert strip_measured_text(md) == strip_measured_text(md2)
    assert strip_measured_text(html) == strip_measured_text(html2)
    assert json.dumps(without_measured(doc)) == json.dumps(without_measured(other))


def test_a_document_without_measurements_renders_as_before(make_result):
    doc = build_report([make_result("ctr_logreg")])
    assert doc["measured"] is None
    assert "Serving and cost" not in render_markdown(doc) and 'id="serving"' not in render_html(doc)
    assert MEASURED_BEGIN not in render_markdown(doc)


_SLOW = ([10.0] * 5, [20.0, 21.0, 19.0, 18.0, 25.0])  # new / legacy p99 about 2x: NOT_EQUIVALENT at 1.5x
_FAST = ([10.0] * 5, [11.0, 12.0, 12.5, 11.5, 13.0])  # about 1.15x: EQUIVALENT


def test_a_failing_serving_gate_heads_both_renderings_and_its_message_is_in_them(make_result, bench):
    # Seen: a run that exited 1 on serving/p99@1 whose report opened on a green "Parity: EQUIVALENT" and
    # held the gate's "to fix" nowhere. The run's verdict now comes first, the gate's message with it.
    slow = _gate_check(*_SLOW)
    doc = _doc(make_result, bench, checks=[slow])
    assert doc["verdict"] == "EQUIVALENT" and doc["measured"]["verdict"] == "NOT_EQUIVALENT"
    md = render_markdown(doc)
    first = md.splitlines()[0]
    assert first == (f"{MEASURED_BEGIN}**Run: NOT_EQUIVALENT \u2014 accuracy checks EQUIVALENT, serving and cost gates "
                     f"NOT_EQUIVALENT (1 of 1 gate failing: serving/p99@1); the exit status counts both**{MEASURED_END}")
    failing = md[md.index("### Failing serving and cost gates: why, and what to do"):]
    assert slow.message.splitlines()[0] in failing and "to fix:" in failing
    html = render_html(doc)
    run, parity = html.index('<div id="run-verdict" class="v-NOT_EQUIVALENT"'), html.index('<div id="verdict"')
    assert run < parity
    section = html[html.index('<section id="serving">'):]
    details = section[section.index("<h3>Failure details</h3>"):]
    assert 'data-check="serving/p99@1"' in details and "to fix:" in details
    assert '<span class="v-NOT_EQUIVALENT">NOT_EQUIVALENT</span></td>' in section  # the gates table's verdict
    # what a failing gate adds is measured: the rest is the passing run's, byte for byte
    passing = _doc(make_result, bench, checks=[_gate_check(*_FAST)])
    md_pass, html_pass = render_markdown(passing), render_html(passing)
    assert md_pass.splitlines()[0].startswith(f"{MEASURED_BEGIN}**Run: EQUIVALENT \u2014 accuracy checks EQUIVALENT, "
                                              "serving and cost gates EQUIVALENT (0 of 1 gate failing)")
    assert "Failing serving and cost gates" not in md_pass and "Failure details" not in html_pass
    assert strip_measured_text(md) == strip_measured_text(md_pass)
    assert strip_measured_text(html) == strip_measured_text(html_pass)


def test_a_serving_gate_under_a_known_gap_does_not_fail_the_run_and_is_counted(make_result, bench):
    doc, computed = bench
    serving = measured_serving(doc)
    row = _gate_check(*_SLOW).to_dict()
    report = build_report([make_result("ctr_logreg")], measured={"ctr_logreg": {
        "cost": {**COST, **serving["stage_cost"]}, "serving": serving, "checks": [row],
        "known_gaps": {"serving/p99@1": "the new server is tuned next quarter"}}})
    verify_report(report)
    md = render_markdown(report)
    assert md.splitlines()[0].startswith(f"{MEASURED_BEGIN}**Run: EQUIVALENT \u2014 accuracy checks EQUIVALENT, "
                                         "serving and cost gates not judged (each a known gap or not gated) (0 of "
                                         "1 gate failing)")
    assert "1 gate, 0 failing, 1 known gap (measured" in md
    assert "Failing serving and cost gates" not in md
    assert "1 known gap</p>" in render_html(report)
