"""Serving and cost gates as ids of a suite run (`harness.session`), in both shells: planned from the suite's
declaration, run after the accuracy checks, reported in the report's measured section with a verdict of
their own, skipped (and listed as not run) with --no-serving. Every side is a numpy function on
127.0.0.1's own process: no network, no TensorFlow. The only timing claim is the verdict on an injected
10x stall (a sleep in the new side's predict)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.options import RunOptions
from harness.protocol import ModelPair
from harness.report import dumps_report, validate_report, verify_report
from harness.report.measured import without_measured
from harness.serving import CostGate, ServingGate
from harness.session import EXIT_ERROR, EXIT_FAIL, EXIT_OK, Session
from harness.suite import MetricGate, Suite

pytest.importorskip("hdrh")


class Side:
    def __init__(self, name: str, delay_s: float = 0.0) -> None:
        self.name, self.delay_s = name, delay_s

    def featurize(self, batch):
        return None

    def predict(self, batch):
        if self.delay_s:
            time.sleep(self.delay_s)
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {}


def _suite(serving, *, legacy_delay=0.0, new_delay=0.0, name="gated") -> Suite:
    return Suite(name=name, description="tiny pair", dataset="servetiny", label="click",
                 pair=lambda ds: ModelPair(Side("legacy", legacy_delay), Side("new", new_delay)),
                 metrics=[MetricGate("auc", 0.05)], serving=serving)


P99 = ServingGate("p99", batch_size=1, max_ratio=1.5, reason="the online path's tail budget")


def _run(suite: Suite, **options):
    session = Session(RunOptions(**options))
    ids = session.collect(suite, where="test_gated.py")
    outcomes = {i: session.outcome(suite.name, i) for i in ids}
    final = session.finish()
    return session, ids, outcomes, final


def test_gate_ids_are_planned_after_the_suite_s_other_ids(serve_golden):
    gates = [P99, CostGate("cpu_per_1k", batch_size=32, max_ratio=1.2, reason="fleet CPU"),
             CostGate("peak_rss", max_ratio=2.0, reason="memory per replica")]
    ids = Session().collect(_suite(gates), where="test_gated.py")
    assert ids == ["alignment/keys", "predictions/scores", "metrics/auc",
                   "serving/p99@1", "cost/cpu_per_1k@32", "cost/peak_rss"]


@pytest.mark.slow
def test_a_10x_stall_in_the_new_side_is_not_equivalent_on_p99_and_leaves_the_accuracy_verdict(serve_golden):
    session, ids, outcomes, final = _run(_suite([P99], legacy_delay=0.025, new_delay=0.25))
    assert outcomes["serving/p99@1"].check.verdict.value == "NOT_EQUIVALENT"
    assert not outcomes["serving/p99@1"].passed
    assert "serving/p99@1: new / legacy p99 at batch 1 exceeds 1.5x" in outcomes["serving/p99@1"].text
    doc = session.report(final)
    validate_report(doc)
    verify_report(doc)
    assert doc["verdict"] == "EQUIVALENT"  # accuracy: the same scores; noise cannot move it
    assert [c["id"] for c in doc["suites"][0]["checks"]] == ["alignment/keys", "predictions/scores", "metrics/auc"]
    measured = doc["measured"]
    assert measured["verdict"] == "NOT_EQUIVALENT"
    assert measured["counts"] == {"checks": 1, "failing": 1, "inconclusive": 0, "errors": 0}
    entry = measured["suites"][0]
    assert entry["suite"] == "gated" and [c["id"] for c in entry["checks"]] == ["serving/p99@1"]
    assert final.exit_status == EXIT_FAIL  # the serving gate fails the session
    per = entry["serving"]["batch_sizes"]["1"]
    assert set(per) == {"legacy", "new"} and per["new"]["cdf_closed_ms"][-1][1] == 1.0
    assert {"load", "train", "predict:legacy", "predict:new", "evaluate", "serving:legacy",
            "serving:new"} <= set(entry["cost"])


@pytest.mark.slow
def test_the_report_is_byte_identical_between_runs_except_its_measured_section(serve_golden):
    suite = _suite([P99, CostGate("time_per_1k", batch_size=32, max_ratio=100.0, reason="loose")])
    docs = []
    for _ in range(2):
        session, _, _, final = _run(suite)
        docs.append(session.report(final))
    a, b = docs
    assert dumps_report(without_measured(a)) == dumps_report(without_measured(b))
    assert a["measured"] != b["measured"]  # measured: latencies and CPU seconds never repeat to the bit
    assert a["measured"]["suites"][0]["cost"]["evaluate"] != b["measured"]["suites"][0]["cost"]["evaluate"]


def test_no_serving_skips_the_gates_lists_them_as_not_run_and_never_passes_them(serve_golden):
    gates = [P99, CostGate("cpu_per_1k", batch_size=32, max_ratio=1.2, reason="fleet CPU")]
    session, ids, outcomes, final = _run(_suite(gates, new_delay=0.05), no_serving=True)
    for i in ("serving/p99@1", "cost/cpu_per_1k@32"):
        assert outcomes[i].skipped and "--no-serving" in outcomes[i].skipped and not outcomes[i].passed
    doc = session.report(final)
    validate_report(doc)
    assert doc["selection"]["partial"] is True
    assert doc["selection"]["not_run"] == {"gated": ["serving/p99@1", "cost/cpu_per_1k@32"]}
    assert doc["selection"]["no_serving"] is True  # the reader is told why, not "selected by node id"
    from harness.report.format import partial_text

    assert "serving and cost gates skipped on request" in partial_text(doc["selection"])
    assert "node id" not in partial_text(doc["selection"])
    assert doc["measured"]["verdict"] is None and doc["measured"]["suites"][0]["checks"] == []
    assert "serving:new" not in doc["measured"]["suites"][0]["cost"]
    assert final.exit_status == EXIT_OK  # the accuracy checks that ran pass; the verdict reads partial


def test_a_gate_the_rows_cannot_serve_is_an_error_that_could_not_judge(serve_golden):
    too_big = ServingGate("p99", batch_size=100_000, max_ratio=1.5, reason="more rows than the split has")
    session, _, outcomes, final = _run(_suite([too_big]))
    check = outcomes["serving/p99@100000"].check
    assert check.details["error"]["stage"] == "serving" and check.verdict.value == "NOT_EQUIVALENT"
    assert "batch size 100000 needs at least 100000 golden rows" in outcomes["serving/p99@100000"].text
    doc = session.report(final)
    validate_report(doc)
    verify_report(doc)
    assert doc["measured"]["counts"]["errors"] == 1
    assert final.exit_status == EXIT_ERROR


def test_serving_gates_on_a_suite_without_a_pair_are_a_declaration_error():
    from harness.upgrade import ProbeSet

    suite = Suite(name="probes", description="", probes=ProbeSet("probes"), serving=[P99])
    with pytest.raises(ParityInputError, match=r"declares serving gates \['serving/p99@1'\] but no dataset"):
        Session().collect(suite, where="test_probes.py")


# -- both shells, in a subprocess --------------------------------------------------------------------------

def _env(golden):
    env = dict(os.environ, PARITY_GOLDEN_DIR=str(golden))
    env.pop("PARITY_BASELINE_DIR", None)
    return env


def _pytest(cwd, golden, *args):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites", *args], cwd=cwd,
                          env=_env(golden), capture_output=True, text=True, timeout=300)


def _parity_run(cwd, golden, *args):
    cmd = [sys.executable, "-c", "import sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))",
           "run", "--suites-dir", "suites", "--no-progress", *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(golden), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_collect_only_lists_each_gate_as_an_item(serve_golden, tmp_path, gated_suite):
    gated_suite(tmp_path / "suites")
    r = _pytest(tmp_path, serve_golden, "--collect-only", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    for item in ("suites/test_gated.py::metrics/auc", "suites/test_gated.py::serving/p99@1",
                 "suites/test_gated.py::cost/time_per_1k@32"):
        assert item in r.stdout, r.stdout


@pytest.mark.slow
def test_both_shells_skip_with_no_serving_and_write_the_same_report(serve_golden, tmp_path, gated_suite):
    gated_suite(tmp_path / "suites", new_delay=0.05)
    pyt = _pytest(tmp_path, serve_golden, "-rs", "--parity-no-serving", "--parity-report", "pyt")
    cli = _parity_run(tmp_path, serve_golden, "--no-serving", "--report", "cli")
    assert pyt.returncode == cli.returncode == 0, pyt.stdout + cli.stdout + cli.stderr
    assert "2 skipped" in pyt.stdout and "serving and cost gates skipped (--parity-no-serving)" in pyt.stdout
    assert "serving and cost gates skipped (--no-serving)" in cli.stdout
    docs = [json.loads((tmp_path / d / "report.json").read_text()) for d in ("pyt", "cli")]
    assert dumps_report(without_measured(docs[0])) == dumps_report(without_measured(docs[1]))
    assert docs[0]["selection"]["not_run"] == {"gated": ["serving/p99@1", "cost/time_per_1k@32"]}
    assert "Partial run" in (tmp_path / "pyt" / "report.md").read_text()


@pytest.mark.slow
def test_pytest_fails_the_stalled_gate_as_an_item_and_prints_the_serving_table(serve_golden, tmp_path, gated_suite):
    gated_suite(tmp_path / "suites", legacy_delay=0.025, new_delay=0.25)
    r = _pytest(tmp_path, serve_golden, "--parity-report", "rep")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED suites/test_gated.py::serving/p99@1" in r.stdout, r.stdout
    assert "SERVING GATE" in r.stdout and "NOT_EQUIVALENT" in r.stdout
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["verdict"] == "EQUIVALENT" and doc["measured"]["suites"][0]["checks"][0]["verdict"] == "NOT_EQUIVALENT"
