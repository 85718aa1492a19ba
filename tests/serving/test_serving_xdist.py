"""Serving and cost gates under pytest-xdist (`-n 2`): each suite's items stay on one worker (the plugin's
scheduler, `xdist_group`), the worker measures its suites and hands the measurements to the controller,
and the controller's report equals a serial run's outside the measured section, byte for byte.

Two user-like suites in a tmp folder (conftest.py's GATED_SUITE), sides that sleep per call (numpy scores,
no TensorFlow): sleeps dominate the latencies, so the ratio is what the sleeps make it on a loaded machine
too (equal sleeps -> about 1x, well inside the margin; a 10x sleep -> about 10x, far outside it).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from harness.report import dumps_report, validate_report, verify_report
from harness.report.measured import strip_measured_text, without_measured

pytest.importorskip("hdrh")
pytest.importorskip("xdist")

GATES = ["serving/p99@1", "cost/time_per_1k@32"]  # what tests/serving/conftest.py GATED_SUITE declares
DELAY_S = 0.02  # per call: ~10 requests per 0.2 s round
# GATED_SUITE's 1.5x margin, widened: a batch-1 p99 over ~10 requests is their slowest, and on the loaded
# 2-core box equal sleeps of 20 ms gave p99 ratios up to 1.63 in some rounds (an INCONCLUSIVE [0.99, 1.63]
# once); a 10x stall measures 7.9x to 9.7x, far outside 3x either way.
MARGIN = 3.0


def _write_suite(gated_suite, folder, name, *, legacy_delay, new_delay):
    path = gated_suite(folder, name, legacy_delay=legacy_delay, new_delay=new_delay)
    text, n = re.subn(r"max_ratio=1\.5\b", f"max_ratio={MARGIN}", path.read_text())
    assert n == len(GATES), "GATED_SUITE's gates changed: update this test's GATES and MARGIN"
    path.write_text(text, encoding="utf-8")
    return path


def _pytest(cwd, golden, report, *args):
    env = dict(os.environ, PARITY_GOLDEN_DIR=str(golden), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PARITY_BASELINE_DIR", None)
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "suites",
           "--parity-report", report, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a two-worker xdist session and a serial one, each measuring two suites' serving gates
@pytest.mark.parametrize(("new_delays", "rc", "failing"), [
    pytest.param({"gated_a": DELAY_S, "gated_b": DELAY_S}, 0, {}, id="equal-sides"),
    pytest.param({"gated_a": DELAY_S, "gated_b": 10 * DELAY_S}, 1, {"gated_b": GATES}, id="10x-stall"),
])
def test_serving_gates_under_xdist_report_as_a_serial_run(serve_golden, gated_suite, tmp_path, new_delays, rc,
                                                          failing):
    for name, new_delay in new_delays.items():
        _write_suite(gated_suite, tmp_path / "suites", name, legacy_delay=DELAY_S, new_delay=new_delay)
    parallel = _pytest(tmp_path, serve_golden, "xdist", "-p", "xdist", "-n", "2")
    assert parallel.returncode == rc, parallel.stdout + parallel.stderr
    assert "bringing up nodes" in parallel.stdout + parallel.stderr  # xdist ran it
    serial = _pytest(tmp_path, serve_golden, "serial", "-p", "no:xdist")
    assert serial.returncode == rc, serial.stdout + serial.stderr

    for run in (parallel, serial):  # every gate is an item with its outcome, whichever process ran it
        for suite in new_delays:
            for gate in GATES:
                outcome = "FAILED" if gate in failing.get(suite, ()) else "PASSED"
                assert f"{outcome} suites/test_{suite}.py::{gate}" in run.stdout, run.stdout

    docs = {}
    for name in ("xdist", "serial"):
        doc = json.loads((tmp_path / name / "report.json").read_text())
        validate_report(doc)
        verify_report(doc)
        docs[name] = doc
        measured = doc["measured"]
        assert [s["suite"] for s in measured["suites"]] == sorted(new_delays)
        for entry in measured["suites"]:
            assert [c["id"] for c in entry["checks"]] == GATES
            want = "NOT_EQUIVALENT" if entry["suite"] in failing else "EQUIVALENT"
            assert [c["verdict"] for c in entry["checks"]] == [want, want], entry["checks"]
            assert set(entry["serving"]["batch_sizes"]) == {"1", "32"}
            assert all(set(per) == {"legacy", "new"} for per in entry["serving"]["batch_sizes"].values())
            assert {"serving:legacy", "serving:new"} <= set(entry["cost"])
        assert measured["verdict"] == ("NOT_EQUIVALENT" if failing else "EQUIVALENT")
        assert doc["verdict"] == "EQUIVALENT"  # the accuracy verdict: identical scores on both sides

    assert dumps_report(without_measured(docs["xdist"])) == dumps_report(without_measured(docs["serial"]))
    for name in ("report.md", "report.html"):
        a, b = ((tmp_path / d / name).read_text() for d in ("xdist", "serial"))
        assert strip_measured_text(a) == strip_measured_text(b), f"{name} differs between the xdist and serial run"


@pytest.mark.slow  # a two-worker xdist session and a serial one (nothing is measured: the gates cannot run)
def test_a_gate_that_cannot_be_measured_under_xdist_exits_2_as_a_serial_run(serve_golden, gated_suite, tmp_path):
    # gated_a's gates need more rows than the split has (an error, stage serving); gated_b has no gates.
    too_big = gated_suite(tmp_path / "suites", "gated_a")
    too_big.write_text(re.sub(r"batch_size=\d+", "batch_size=100000", too_big.read_text()), encoding="utf-8")
    no_gates = gated_suite(tmp_path / "suites", "gated_b")
    no_gates.write_text(re.sub(r",\s*serving=\[.*\]\)", ")", no_gates.read_text(), flags=re.S), encoding="utf-8")
    assert "serving=" not in no_gates.read_text()
    runs = {name: _pytest(tmp_path, serve_golden, name, *args)
            for name, args in (("xdist", ("-p", "xdist", "-n", "2")), ("serial", ("-p", "no:xdist")))}
    for run in runs.values():
        assert run.returncode == 2, run.stdout + run.stderr
        for gate in ("serving/p99@100000", "cost/time_per_1k@100000"):
            assert f"FAILED suites/test_gated_a.py::{gate}" in run.stdout, run.stdout
    docs = {name: json.loads((tmp_path / name / "report.json").read_text()) for name in runs}
    for doc in docs.values():
        validate_report(doc)
        assert doc["measured"]["counts"]["errors"] == 2
        assert [s["suite"] for s in doc["measured"]["suites"]] == ["gated_a", "gated_b"]
        checks = doc["measured"]["suites"][0]["checks"]
        assert {c["details"]["error"]["stage"] for c in checks} == {"serving"}
        assert "needs at least 100000 golden rows" in checks[0]["details"]["error"]["message"]
    assert dumps_report(without_measured(docs["xdist"])) == dumps_report(without_measured(docs["serial"]))
