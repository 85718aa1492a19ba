"""The upgrade-gate item: no baseline -> fails saying how to record; record with a reason; unchanged
behaviour passes; changed behaviour fails naming the probe output; the report carries the findings."""
from __future__ import annotations

import json

import pytest

PROBES = '''
import os

import numpy as np

from harness.upgrade import ProbeSet

probes = ProbeSet("tiny")


@probes.inference("scores")
def scores():
    # PROBE_DRIFT stands in for a library upgrade that moves the outputs.
    return {"scores": np.linspace(0.0, 1.0, 11) + float(os.environ.get("PROBE_DRIFT", "0"))}
'''


@pytest.mark.slow  # four pytest processes, each fingerprinting the environment
def test_upgrade_gate_lifecycle(project, tmp_path):
    project.write("test_tiny.py", project.suite_source(extra=PROBES, probes="probes"))
    only_gate = ("-k", "upgrade")

    missing = project.run(*only_gate)
    assert missing.rc == 2, missing.text  # NO_BASELINE: no judgement, not a behaviour change
    assert "no baseline for suite 'tiny'" in missing.text and "--parity-update-baseline" in missing.text

    recorded = project.run(*only_gate, "--parity-update-baseline", "--parity-reason", "initial baseline")
    assert recorded.rc == 0, recorded.text
    assert (tmp_path / "baselines" / "tiny" / "baseline.json").is_file()  # $PARITY_BASELINE_DIR
    assert "initial baseline" in (tmp_path / "baselines" / "tiny" / "history.jsonl").read_text()

    same = project.run(*only_gate, "--parity-report", "rep")
    assert same.rc == 0, same.text

    # --parity-baseline-dir wins over the environment: an empty folder there means no baseline.
    elsewhere = project.run(*only_gate, "--parity-baseline-dir", "other")
    assert elsewhere.rc == 2 and "no baseline for suite 'tiny'" in elsewhere.text, elsewhere.text

    drifted = project.run(*only_gate, "--parity-report", "rep", env={"PROBE_DRIFT": "1e-3"})
    assert drifted.rc == 1, drifted.text
    assert "upgrade/baseline: NOT_EQUIVALENT" in drifted.text and "scores" in drifted.text
    doc = json.loads((project.path / "rep" / "report.json").read_text())
    (suite,) = doc["suites"]
    assert suite["checks"][-1]["id"] == "upgrade/baseline" and suite["checks"][-1]["verdict"] == "NOT_EQUIVALENT"
    outcomes = {(f["probe"], f["output"]): f["outcome"] for f in suite["upgrade"]["findings"]}
    assert outcomes == {("scores", "scores"): "CHANGED"}
    assert "Upgrade findings" in (project.path / "rep" / "report.md").read_text()


def _report(project, folder):
    import jsonschema

    from harness.report import schema

    doc = json.loads((project.path / folder / "report.json").read_text())
    jsonschema.Draft202012Validator(schema()).validate(doc)
    return doc, (project.path / folder / "report.md").read_text()


@pytest.mark.slow  # two pytest processes with the real runner
def test_an_upgrade_gate_that_errors_is_in_the_report_and_fails_it(project, tmp_path):
    # The suite's own checks all pass (no shift); only the gate errors. pytest fails, so must the report.
    project.write("test_tiny.py", project.suite_source(extra=PROBES, probes="probes"))

    missing = project.run("--parity-report", "rep")
    assert missing.rc == 2, missing.text
    assert "FAILED test_tiny.py::upgrade/baseline" in missing.out and "3 passed" in missing.out
    doc, md = _report(project, "rep")
    assert doc["verdict"] == "NOT_EQUIVALENT"
    assert doc["counts"]["failing"] == 1 and doc["counts"]["errors"] == 1
    (suite,) = doc["suites"]
    assert suite["verdict"] == "NOT_EQUIVALENT" and suite["upgrade"] is None
    gate = suite["checks"][-1]
    assert (gate["id"], gate["kind"], gate["verdict"], gate["gated"]) == (
        "upgrade/baseline", "upgrade", "NOT_EQUIVALENT", True)
    assert gate["details"]["error"]["stage"] == "no_baseline"  # its own state, not a behaviour change
    assert gate["details"]["error"]["type"] == "NoBaselineError"
    assert "no baseline for suite 'tiny'" in gate["details"]["error"]["message"]
    assert "parity baseline record --suite tiny" in gate["details"]["error"]["message"]
    assert md.startswith("**Parity: NOT_EQUIVALENT** \u2014 1 suite, 4 checks, 1 failing (1 error)")
    assert "no baseline for suite 'tiny'" in md.split("### Errors", 1)[1]

    # A corrupt baseline is an error too, not a pass.
    (tmp_path / "baselines" / "tiny").mkdir(parents=True)
    (tmp_path / "baselines" / "tiny" / "baseline.json").write_text("{not json")
    corrupt = project.run("--parity-report", "rep2")
    assert corrupt.rc == 2, corrupt.text  # unreadable: no judgement
    doc, _ = _report(project, "rep2")
    assert doc["verdict"] == "NOT_EQUIVALENT"
    gate = doc["suites"][0]["checks"][-1]
    assert gate["id"] == "upgrade/baseline" and gate["verdict"] == "NOT_EQUIVALENT"
    assert gate["details"]["error"]["stage"] == "upgrade_gate"
    assert "baseline.json" in gate["details"]["error"]["message"]
