"""The README's "Writing a suite" code runs as written: the example suite (a scikit-learn LR ported
to Keras on breast_cancer) goes from a missing baseline, through `parity baseline record`, to a green
pytest run with a report; the "your own data" snippet writes a dataset that loads and verifies."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


def _section_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Writing a suite\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.tf
def test_readme_suite_runs_records_and_passes(tmp_path):
    suite_code = _section_blocks()[0]
    first_line = suite_code.splitlines()[0]
    assert first_line.startswith("# my_suites/test_"), first_line
    (tmp_path / "my_suites").mkdir()
    (tmp_path / "my_suites" / first_line.split("/", 1)[1].split(":")[0]).write_text(suite_code)
    pytest_cmd = [sys.executable, "-m", "pytest", "my_suites", "-p", "no:cacheprovider", "-q",
                  "--parity-report", "rep"]

    first = _run(pytest_cmd, tmp_path)
    assert first.returncode == 2, first.stdout + first.stderr  # NO_BASELINE: no judgement yet
    assert "no baseline for suite 'bc_logreg'" in first.stdout
    assert "parity baseline record --suite bc_logreg" in first.stdout  # the command that records it

    parity = str(Path(sys.executable).with_name("parity"))
    rec = _run([parity, "baseline", "record", "--suite", "bc_logreg", "--suites-dir", "my_suites",
                "--reason", "first baseline"], tmp_path)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert (tmp_path / "my_suites" / "baselines" / "bc_logreg" / "baseline.json").is_file()  # next to the suite

    # From another folder, pytest finds the baseline next to the suite file.
    (tmp_path / "elsewhere").mkdir()
    second = _run([sys.executable, "-m", "pytest", "../my_suites", "-p", "no:cacheprovider", "-q",
                   "--parity-report", "../rep"], tmp_path / "elsewhere")
    assert second.returncode == 0, second.stdout + second.stderr
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    (suite,) = doc["suites"]
    assert suite["verdict"] == "EQUIVALENT"
    ids = {c["id"]: c["verdict"] for c in suite["checks"]}
    assert ids["predictions/scores"] == "EQUIVALENT" and ids["upgrade/baseline"] == "EQUIVALENT"
    assert {"metrics/auc", "metrics/logloss"} <= set(ids)


def test_readme_own_data_snippet_writes_a_verified_dataset(tmp_path):
    snippet = _section_blocks()[1]
    proc = _run([sys.executable, "-c", snippet], tmp_path)
    assert proc.returncode == 0, proc.stderr
    from harness.golden import load_dataset

    ds = load_dataset("my_data", root=tmp_path / "my_golden")
    assert ds.key == "row_id" and set(ds.splits) == {"train", "eval"}
    assert len(ds.frame("train")) + len(ds.frame("eval")) == 2000


@pytest.mark.tf
def test_readme_retrained_pair_on_own_data_runs_as_written_and_is_equivalent(tmp_path):
    blocks = _section_blocks()
    data_code, suite_code = blocks[2], blocks[3]
    first_line = suite_code.splitlines()[0]
    assert first_line.startswith("# my_suites/test_"), first_line
    assert _run([sys.executable, "-c", data_code], tmp_path).returncode == 0
    (tmp_path / "my_suites").mkdir()
    (tmp_path / "my_suites" / first_line.split("/", 1)[1].split(":")[0]).write_text(suite_code)
    env = dict(_env(), PARITY_GOLDEN_DIR=str(tmp_path / "my_golden"))
    parity = str(Path(sys.executable).with_name("parity"))
    proc = subprocess.run([parity, "run", "--suites-dir", "my_suites", "--no-progress", "--json", "-"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (suite,) = json.loads(proc.stdout)["suites"]
    checks = {c["id"]: c for c in suite["checks"]}
    assert suite["verdict"] == "EQUIVALENT" and suite["known_gaps"] == {}
    assert checks["predictions/scores"]["gated"] is False  # retrained: reported, not gated
    assert {"predictions/distribution/ks", "predictions/spearman", "predictions/flips@0.5",
            "metrics/auc[device=mobile]"} <= set(checks)
    assert all(checks[f"features/{f}"]["verdict"] == "EQUIVALENT" for f in
               ["num__price", "num__age_days", "bins__price", "cat__device_mobile"])
