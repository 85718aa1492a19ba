"""The session report (serial and under xdist) and collection cost, with the real runner on tiny data."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "harness" / "report" / "schema.json").read_text())

HEAVY_PROBE = '''
import sys


def pytest_collection_finish(session):
    heavy = sorted(m for m in ("tensorflow", "keras", "sklearn", "torch") if m in sys.modules)
    print("HEAVY_MODULES_AT_COLLECTION", heavy)
'''


@pytest.mark.slow
def test_collection_reads_slices_without_importing_tensorflow(project):
    project.write("conftest.py", HEAVY_PROBE)
    project.write("test_tiny.py", project.suite_source(slices=["device"], metrics='[MetricGate("auc", 0.01)]'))
    r = project.run("--collect-only")
    assert r.rc == 0, r.text
    assert "HEAVY_MODULES_AT_COLLECTION []" in r.out, r.out
    # Slice values come from the golden Parquet (the tiny dataset has exactly these three devices).
    for value in ("desktop", "mobile", "tablet"):
        assert f"test_tiny.py::metrics/auc[device={value}]" in r.out
    # alignment/keys + features/x2 + predictions/scores + metrics/auc + metrics/auc for 3 devices = 7
    assert "7 tests collected" in r.out


@pytest.mark.slow  # a serial and a two-worker xdist session
def test_report_serial_equals_xdist_and_matches_schema(project, tmp_path):
    # tiny_a runs the statistics too (DeLong, bootstrap, Holm over slices): the report must not depend on
    # which process computed them.
    project.write("test_tiny.py", project.suite_source(
        name="tiny_a", slices=["device"], metrics='[MetricGate("auc", 0.02), MetricGate("logloss", 0.05, kind="relative")]'))
    project.write("test_other.py", project.suite_source(name="tiny_b", shift=1e-3))
    args = ("--parity-sample", "300", "--parity-seed", "3")
    serial = project.run(*args, "--parity-report", str(tmp_path / "serial"))
    assert serial.rc == 1, serial.text  # tiny_b's shifted side fails its feature and prediction checks
    parallel = project.run(*args, "--parity-report", str(tmp_path / "xdist"), "-p", "xdist", "-n", "2")
    assert parallel.rc == 1, parallel.text
    assert "bringing up nodes" in parallel.text  # xdist ran it (which worker gets which suite varies)

    # Byte-identical except the measured section (cost per stage: it measures the machine).
    from harness.report.measured import strip_measured_text, without_measured

    for name in ("report.json", "report.md", "report.html"):
        a, b = (tmp_path / "serial" / name).read_text(), (tmp_path / "xdist" / name).read_text()
        if name == "report.json":
            a, b = (json.dumps(without_measured(json.loads(t))) for t in (a, b))
        assert strip_measured_text(a) == strip_measured_text(b), f"{name} differs between the serial and the xdist run"

    doc = json.loads((tmp_path / "serial" / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [s["suite"] for s in doc["suites"]] == ["tiny_a", "tiny_b"]
    assert doc["verdict"] == "NOT_EQUIVALENT"
    assert doc["sample"] == {"rows": 300, "seed": 3}
    assert doc["selection"] is None  # every planned check ran
    verdicts = {c["id"]: c["verdict"] for c in doc["suites"][1]["checks"]}
    assert verdicts == {"alignment/keys": "EQUIVALENT", "features/x2": "NOT_EQUIVALENT",
                        "predictions/scores": "NOT_EQUIVALENT"}
    md = (tmp_path / "serial" / "report.md").read_text()
    # tiny_a: 3 + 2 metrics x (overall + 3 devices) = 11 checks; tiny_b: 3 checks.
    assert md.startswith("**Parity: NOT_EQUIVALENT** \u2014 2 suites, 14 checks, 2 failing")
    assert len(doc["suites"][0]["checks"]) == 11 and doc["suites"][0]["verdict"] == "EQUIVALENT"
    assert "Sampled run:** 300 rows" in md
    html = (tmp_path / "serial" / "report.html").read_text()
    assert html.count('data-plot="hexbin"') == 2 and html.count('data-plot="score_hist"') == 2
    # The terminal summary lists both suites with their verdicts.
    assert "parity verdicts" in serial.out
    assert any(line.split()[:2] == ["tiny_b", "NOT_EQUIVALENT"] for line in serial.out.splitlines())


@pytest.mark.slow  # two-worker xdist sessions
def test_plain_n_runs_each_suite_once(project, tmp_path):
    """`-n 2` alone (xdist's `load`) must not spread a suite's checks over both workers, each of which
    would build the pair and run the whole suite again: the plugin schedules them as `loadgroup`."""
    builds = tmp_path / "builds.txt"
    project.write("test_tiny.py", project.suite_source(
        name="tiny_a", slices=["device"], metrics='[MetricGate("auc", 0.05)]',
        extra=f"""
        import os
        def _count(dataset):
            with open({str(builds)!r}, "a") as fh:
                fh.write(str(os.getpid()) + " ")
        """).replace("    return ModelPair(Side(\"legacy\"), Side(\"new\", NEW_SHIFT))",
                     "    _count(dataset)\n    return ModelPair(Side(\"legacy\"), Side(\"new\", NEW_SHIFT))"))
    project.write("test_plain.py", "\n".join(f"def test_plain_{i}():\n    assert True\n" for i in range(6)))
    r = project.run("--parity-sample", "300", "-p", "xdist", "-n", "2")
    assert r.rc == 0, r.text
    assert "13 passed" in r.text  # 7 checks of the suite + 6 plain tests, all run
    assert len(builds.read_text().split()) == 1, builds.read_text()
