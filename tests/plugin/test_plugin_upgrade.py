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
    assert missing.rc == 1, missing.text
    assert "no baseline for suite 'tiny'" in missing.text and "--parity-update-baseline" in missing.text

    recorded = project.run(*only_gate, "--parity-update-baseline", "--parity-reason", "initial baseline")
    assert recorded.rc == 0, recorded.text
    assert (tmp_path / "baselines" / "tiny" / "baseline.json").is_file()  # $PARITY_BASELINE_DIR
    assert "initial baseline" in (tmp_path / "baselines" / "tiny" / "history.jsonl").read_text()

    same = project.run(*only_gate, "--parity-report", "rep")
    assert same.rc == 0, same.text

    # --parity-baseline-dir wins over the environment: an empty folder there means no baseline.
    elsewhere = project.run(*only_gate, "--parity-baseline-dir", "other")
    assert elsewhere.rc == 1 and "no baseline for suite 'tiny'" in elsewhere.text, elsewhere.text

    drifted = project.run(*only_gate, "--parity-report", "rep", env={"PROBE_DRIFT": "1e-3"})
    assert drifted.rc == 1, drifted.text
    assert "upgrade/baseline: NOT_EQUIVALENT" in drifted.text and "scores" in drifted.text
    doc = json.loads((project.path / "rep" / "report.json").read_text())
    (suite,) = doc["suites"]
    assert suite["checks"][-1]["id"] == "upgrade/baseline" and suite["checks"][-1]["verdict"] == "NOT_EQUIVALENT"
    outcomes = {(f["probe"], f["output"]): f["outcome"] for f in suite["upgrade"]["findings"]}
    assert outcomes == {("scores", "scores"): "CHANGED"}
    assert "Upgrade findings" in (project.path / "rep" / "report.md").read_text()
