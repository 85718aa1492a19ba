"""`parity compare` end to end on small Parquet/CSV files: exit codes, JSON document, input errors."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from harness.cli import main


def _frame(n=4000, seed=0, noise=0.02):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    legacy = 1 / (1 + np.exp(-(s - 1.5)))
    new = 1 / (1 + np.exp(-(s - 1.5 + rng.normal(0, noise, n))))
    bad = 1 / (1 + np.exp(-(s - 1.5 + rng.normal(0, 1.5, n))))
    device = rng.choice(["mobile", "desktop"], size=n)
    return pd.DataFrame({"row_id": np.arange(n) * 7, "click": y, "legacy": legacy, "new": new, "bad": bad,
                         "device": device, "w": rng.uniform(0.5, 2, n)})


@pytest.fixture
def parquet(tmp_path):
    path = tmp_path / "scores.parquet"
    _frame().to_parquet(path)
    return path


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_equivalent_exit_0_and_json(parquet, tmp_path, capsys):
    out = tmp_path / "out.json"
    code, stdout, _ = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                            "--metrics", "auc,logloss", "--margin", "auc=0.01,logloss=2%", "--seed", "5",
                            "--slice", "device", "--min-slice-size", "100", "--json", str(out)], capsys)
    assert code == 0, stdout
    assert "overall: EQUIVALENT" in stdout and "device=mobile" in stdout
    doc = json.loads(out.read_text())
    assert doc["n_rows"] == 4000 and doc["seed"] == 5 and doc["verdict"] == "EQUIVALENT"
    auc = doc["metrics"][0]
    frame = pd.read_parquet(parquet)
    assert auc["name"] == "auc" and auc["slice"] is None
    assert auc["legacy"] == pytest.approx(roc_auc_score(frame.click, frame.legacy), abs=1e-12)
    assert auc["diff"] == pytest.approx(auc["new"] - auc["legacy"], abs=1e-15)
    for k in ("ci", "method", "p_value", "margin", "verdict"):
        assert k in auc
    assert doc["metrics"][1]["margin"]["kind"] == "relative"
    assert len(doc["metrics"]) == 2 + 2 * 2  # all rows + two device slices


def test_csv_and_not_equivalent_exit_1(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    _frame().to_csv(path, index=False)
    code, stdout, _ = _run(["compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "bad",
                            "--metrics", "auc", "--margin", "auc=0.005"], capsys)
    assert code == 1 and "NOT_EQUIVALENT" in stdout


def test_no_margin_exits_1_with_a_note(parquet, capsys):
    code, stdout, _ = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new"], capsys)
    assert code == 1 and "no margins given" in stdout


def test_weight_key_and_bootstrap_options(parquet, tmp_path, capsys):
    out = tmp_path / "o.json"
    code, _, err = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--weight", "w", "--key", "row_id", "--metrics", "auc", "--margin", "auc=0.01",
                         "--bootstrap", "60", "--json", str(out)], capsys)
    assert code == 0, err
    m = json.loads(out.read_text())["metrics"][0]
    assert "Poisson bootstrap" in m["method"] and "60 replicates" in m["method"]


@pytest.mark.parametrize(
    "mutate, args, fragment",
    [
        (None, ["--label", "nope"], "column 'nope' (--label) not found"),
        (lambda f: f.assign(new=f.new.where(f.index != 12)), [], "column 'new' (--new) has 1 missing or non-finite value(s), first at row 12 (row_id=84)"),
        (lambda f: f.assign(click=f.click.where(f.index != 3, 2)), [], "must be 0/1 for auc; row 3 (row_id=21) is 2"),
        (None, ["--margin", "auc=abc"], "'abc' is not a number"),
        (None, ["--metrics", "auc,f1"], "unknown metric 'f1'"),
        (lambda f: f.assign(row_id=0), [], "(--key) repeats 0 at row 1"),
        (lambda f: f.assign(legacy="x"), [], "column 'legacy' (--legacy) must be numeric"),
        (None, ["--margin", "pr_auc=0.1"], "not being compared"),
        (None, ["--metrics", "ndcg@5"], "pass groups (--group COL)"),
        (None, ["--alpha", "0.7"], "--alpha 0.7: expected a number in (0, 0.5)"),
        (None, ["--bootstrap", "1"], "--bootstrap 1: expected an integer >= 2"),
    ],
    ids=["missing-column", "nan-score", "non-binary-label", "bad-margin", "unknown-metric", "duplicate-key",
         "text-score", "margin-for-absent-metric", "ranking-without-group", "alpha", "bootstrap"],
)
def test_bad_input_exit_2_names_it(tmp_path, capsys, mutate, args, fragment):
    frame = _frame(n=300)
    if mutate is not None:
        frame = mutate(frame)
    path = tmp_path / "in.parquet"
    frame.to_parquet(path)
    argv = ["compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "new", "--key", "row_id",
            "--metrics", "auc"]
    # later options override earlier ones
    code, _, err = _run(argv + args, capsys)
    assert code == 2
    assert fragment in err, err


def test_missing_file_and_unknown_type(tmp_path, capsys):
    code, _, err = _run(["compare", str(tmp_path / "none.parquet"), "--label", "a", "--legacy", "b", "--new", "c"],
                        capsys)
    assert code == 2 and "none.parquet: no such file" in err
    txt = tmp_path / "scores.txt"
    txt.write_text("a,b\n")
    code, _, err = _run(["compare", str(txt), "--label", "a", "--legacy", "b", "--new", "c"], capsys)
    assert code == 2 and "unknown file type '.txt'" in err


def test_real_process_exit_code(parquet):
    # the installed entry point, through a real process (no shell)
    proc = subprocess.run([sys.executable, "-m", "harness", "compare", str(parquet), "--label", "click",
                           "--legacy", "legacy", "--new", "bad", "--metrics", "auc", "--margin", "auc=0.005"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "NOT_EQUIVALENT" in proc.stdout


def test_non_inferiority_flag(parquet, tmp_path, capsys):
    out = tmp_path / "ni.json"
    code, stdout, _ = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                            "--metrics", "auc,logloss", "--margin", "auc=0.01,logloss=2%",
                            "--non-inferiority", "auc", "--json", str(out)], capsys)
    assert code == 0 and "(NI)" in stdout
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics[0]["margin"]["test"] == "non_inferiority" and metrics[1]["margin"]["test"] == "equivalence"
    code, _, err = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--non-inferiority", "brier"], capsys)
    assert code == 2 and "needs a margin" in err
