"""The shipped suite, end to end, as `parity run` runs it: real legacy and TF models on ads_ctr.

This is the main job's path (golden data -> both stacks trained -> SavedModel served -> checks ->
report) exercised on every CI run, so a change anywhere in it that breaks parity fails here.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tf]

REPO = Path(__file__).resolve().parents[2]


def test_ctr_logreg_suite_is_equivalent_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "ctr_logreg", "--report", str(tmp_path), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "report.json").read_text())
    (suite,) = doc["suites"]
    checks = {c["id"]: c for c in suite["checks"]}
    assert suite["verdict"] == "EQUIVALENT"
    assert sum(c["kind"] == "feature" for c in checks.values()) == 15
    assert all(c["verdict"] == "EQUIVALENT" for c in checks.values())
    predictions = checks["predictions/scores"]["details"]
    assert predictions["n"] == suite["dataset"]["rows"] > 70_000
    assert predictions["max_abs_diff"] <= checks["predictions/scores"]["details"]["tolerance"]["atol"] == 5e-5
    assert checks["metrics/auc"]["details"]["method"].startswith("DeLong")
    assert {"metrics/auc[device=mobile]", "metrics/auc[device=tablet]"} <= set(checks)
    assert (tmp_path / "report.html").stat().st_size > 0
    assert (tmp_path / "report.md").read_text().startswith("**Parity: EQUIVALENT**")
