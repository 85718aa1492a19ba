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


@pytest.mark.parametrize("cut, fields", [(2, 5), (-1, 8)], ids=["short-row", "long-row"])
def test_a_csv_row_with_too_few_or_too_many_fields_is_refused_naming_it(tmp_path, capsys, cut, fields):
    """pandas pads a short row with missing values silently (a cut-off line became a slice value '' and
    turned a numeric slice column into strings); both short and long rows are refused, by row and line."""
    path = tmp_path / "scores.csv"
    lines = _frame(n=300).to_csv(index=False).splitlines()
    row = lines[1 + 120].split(",")
    lines[1 + 120] = ",".join(row[:-cut] if cut > 0 else row + ["extra"])
    path.write_text("\n".join(lines[:60] + [""] + lines[60:]) + "\n")  # a blank line is skipped, as pandas does
    code, _, err = _run(["compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--metrics", "auc", "--margin", "auc=0.05", "--slice", "device"], capsys)
    assert code == 2
    assert f"{path}: row 120 (line 123) has {fields} field(s), the header 7" in err, err
    assert "Traceback" not in err


def test_a_folder_is_not_called_missing(tmp_path, capsys):
    code, _, err = _run(["compare", str(tmp_path), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--metrics", "auc", "--margin", "auc=0.05"], capsys)
    assert code == 2 and "is a folder, not a file" in err and "no such file" not in err


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


def test_the_verdict_line_says_which_column_weighted_the_metrics(parquet, capsys):
    args = ["compare", str(parquet), *BASE, "--key", "row_id", "--metrics", "auc", "--margin", "auc=0.01"]
    code, weighted, _ = _run([*args, "--weight", "w"], capsys)
    overall = [line for line in weighted.splitlines() if line.startswith("overall:")]
    assert code == 0 and len(overall) == 1 and "rows, weighted by column 'w', alpha" in overall[0], weighted
    code, plain, _ = _run(args, capsys)
    assert code == 0 and "weighted by" not in plain


@pytest.mark.parametrize(
    "mutate, args, fragment",
    [
        (None, ["--label", "nope"], "column 'nope' (--label) not found"),
        (lambda f: f.assign(new=f.new.where(f.index != 12)), [], "column 'new' (--new) has 1 missing or non-finite value(s), first at row 12 (row_id=84)"),
        (lambda f: f.assign(click=f.click.where(f.index != 3, 2)), [], "must be 0/1 for auc; row 3 (row_id=21) is 2"),
        (None, ["--margin", "auc=abc"], "--margin: margin piece 'auc=abc': 'abc' is not a number"),
        (None, ["--metrics", "auc,f1"], "unknown metric 'f1'"),
        (lambda f: f.assign(row_id=0), [], "(--key) repeats 0 at row 1 (first at row 0)"),
        (lambda f: f.assign(legacy="x"), [], "column 'legacy' (--legacy) must be numeric"),
        (None, ["--margin", "pr_auc=0.1"], "not being compared"),
        (None, ["--metrics", "ndcg@5"], "metric 'ndcg@5' is computed per query group and needs --group COL (the"),
        (None, ["--runner", "beam"], "--runner only used with --stream"),
        (None, ["--chunk-rows", "100"], "--chunk-rows only used with --stream"),
        (None, ["--alpha", "0.7"], "--alpha 0.7: expected a number in (0, 0.5)"),
        (None, ["--bootstrap", "1"], "--bootstrap 1: expected an integer >= 2"),
    ],
    ids=["missing-column", "nan-score", "non-binary-label", "bad-margin", "unknown-metric", "duplicate-key",
         "text-score", "margin-for-absent-metric", "ranking-without-group", "runner-without-stream",
         "chunk-rows-without-stream", "alpha", "bootstrap"],
)
def test_bad_input_exit_2_names_it(tmp_path, capsys, mutate, args, fragment):
    frame = _frame(n=300)
    if mutate is not None:
        frame = mutate(frame)
    path = tmp_path / "in.parquet"
    frame.to_parquet(path)
    argv = ["compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "new", "--key", "row_id"]
    if "--metrics" not in args:  # a repeated --metrics adds to the list
        argv += ["--metrics", "auc"]
    code, _, err = _run(argv + args, capsys)
    assert code == 2
    assert fragment in err, err
    assert err.count("group") <= 2 and "role 'group'" not in err, err  # the hint once, in the CLI's words


def test_missing_file_and_unknown_type(tmp_path, capsys):
    code, _, err = _run(["compare", str(tmp_path / "none.parquet"), "--label", "a", "--legacy", "b", "--new", "c"],
                        capsys)
    assert code == 2 and "none.parquet: no such file" in err
    txt = tmp_path / "scores.txt"
    txt.write_text("a,b\n")
    code, _, err = _run(["compare", str(txt), "--label", "a", "--legacy", "b", "--new", "c"], capsys)
    assert code == 2 and "unknown file type '.txt'" in err


@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------------------
# input errors name the user's column, flag, row and value (not the statistics layer's argument names)
# ---------------------------------------------------------------------------------------------------

ROWS_NOTE = "[row numbers: 0-based data rows in file order, header not counted]"
BASE = ["--label", "click", "--legacy", "legacy", "--new", "new"]


def _write_csv(tmp_path, frame, name="in.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _with(frame, col, row, value):
    frame = frame.copy()
    if isinstance(value, str):
        frame[col] = frame[col].astype(object)
    frame.loc[row, col] = value
    return frame


@pytest.mark.parametrize(
    "col, row, value, metrics, extra, fragment",
    [
        # logloss takes the paired per-row path (no side in the library's message), ece the bootstrap
        ("legacy", 4321, 1.5, "logloss", [],
         "p.csv: column 'legacy' (--legacy): expected probabilities in [0, 1]; row 4321 is 1.5"),
        ("new", 17, -0.25, "brier", [],
         "p.csv: column 'new' (--new): expected probabilities in [0, 1]; row 17 is -0.25"),
        ("new", 4000, 2.0, "ece", ["--bootstrap", "20"],
         "p.csv: column 'new' (--new): expected probabilities in [0, 1]; row 4000 is 2.0"),
        ("legacy", 4321, 1.5, "logloss", ["--key", "row_id"],
         "p.csv: column 'legacy' (--legacy): expected probabilities in [0, 1]; row 4321 (row_id=30247) is 1.5"),
    ],
    ids=["legacy-paired", "new-paired", "new-bootstrap", "with-key"],
)
def test_probability_out_of_range_names_column_flag_row(tmp_path, capsys, col, row, value, metrics, extra,
                                                         fragment):
    path = _write_csv(tmp_path, _with(_frame(n=5000), col, row, value), "p.csv")
    code, _, err = _run(["compare", str(path), *BASE, "--metrics", metrics, *extra], capsys)
    assert code == 2
    assert fragment in err, err
    assert ROWS_NOTE in err, err
    for internal in ("y_prob", "y_true", "score_legacy", "score_new", "sample_weight", "(columns:"):
        assert internal not in err, err


def test_label_and_group_errors_from_the_statistics_layer_name_the_columns(tmp_path, capsys):
    frame = _frame(n=600)
    path = _write_csv(tmp_path, frame.assign(click=0))  # one class only: DeLong cannot run
    code, _, err = _run(["compare", str(path), *BASE, "--metrics", "auc"], capsys)
    assert code == 2
    assert "in.csv: column 'click' (--label): DeLong needs at least 2 positives and 2 negatives " \
           "(got 0 positive, 600 negative)" in err, err
    assert "y_true" not in err

    frame = frame.assign(q=np.arange(600) // 6, w=1.0)
    frame.loc[7, "w"] = 2.0  # ranking weights are per group: row 7 differs from its group's first row (6)
    path = _write_csv(tmp_path, frame)
    code, _, err = _run(["compare", str(path), *BASE, "--group", "q", "--weight", "w", "--metrics", "mrr",
                         "--bootstrap", "20"], capsys)
    assert code == 2
    assert "in.csv: column 'w' (--weight): ranking weights are per query group and must be constant within a " \
           "group; row 7 is 2.0 but its group's first row has 1.0" in err, err
    assert "sample_weight" not in err and ROWS_NOTE in err

    frame = _frame(n=600).assign(q=np.arange(600) // 6)
    frame.loc[5, "click"] = -1
    path = _write_csv(tmp_path, frame)
    code, _, err = _run(["compare", str(path), *BASE, "--group", "q", "--metrics", "ndcg@5", "--bootstrap", "20"],
                        capsys)
    assert code == 2
    assert "in.csv: column 'click' (--label): expected non-negative values; row 5 is -1.0" in err, err


@pytest.mark.parametrize(
    "col, flag, row, value",
    [("new", "--new", 999, "abc"), ("legacy", "--legacy", 3, "0,5")],
)
def test_text_in_a_score_column_names_the_first_offending_row(tmp_path, capsys, col, flag, row, value):
    path = _write_csv(tmp_path, _with(_frame(n=5000), col, row, value))
    code, _, err = _run(["compare", str(path), *BASE, "--metrics", "logloss"], capsys)
    assert code == 2
    assert f"in.csv: column {col!r} ({flag}) must be numeric" in err, err
    assert f"row {row} is {value!r} (1 value(s) that are not numbers)" in err, err
    assert ROWS_NOTE in err


def test_yes_no_label_names_the_first_offending_row(tmp_path, capsys):
    frame = _frame(n=500)
    frame["click"] = np.where(frame.click == 1, "yes", "no")
    path = _write_csv(tmp_path, frame)
    code, _, err = _run(["compare", str(path), *BASE, "--metrics", "auc"], capsys)
    assert code == 2
    assert "in.csv: column 'click' (--label) must be numeric" in err, err
    assert f"row 0 is {frame.click.iloc[0]!r} (500 value(s) that are not numbers)" in err, err


@pytest.mark.parametrize(
    "weights, fragment",
    [
        (lambda w: w.where(w.index != 55, -1.0),
         "in.csv: column 'w' (--weight): weights must be non-negative; row 55 is -1.0 (1 negative)"),
        (lambda w: w * 0.0, "in.csv: column 'w' (--weight): all 300 weights are zero; at least one row needs "
                            "positive weight"),
    ],
    ids=["negative", "all-zero"],
)
def test_bad_weights_are_reported_before_any_metric_runs(tmp_path, capsys, monkeypatch, weights, fragment):
    import harness.stats.compare as stats_compare

    def must_not_run(*a, **k):
        raise AssertionError("compare_scores ran before the weights were checked")

    monkeypatch.setattr(stats_compare, "compare_scores", must_not_run)
    frame = _frame(n=300)
    path = _write_csv(tmp_path, frame.assign(w=weights(frame.w)))
    code, _, err = _run(["compare", str(path), *BASE, "--weight", "w", "--metrics", "auc"], capsys)
    assert code == 2
    assert fragment in err, err
    assert "metric" not in err and "sample_weight" not in err


# ---------------------------------------------------------------------------------------------------
# --json -, the printed table, the docs
# ---------------------------------------------------------------------------------------------------

def test_json_dash_is_stdout_and_the_table_goes_to_stderr(parquet, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = _run(["compare", str(parquet), *BASE, "--metrics", "auc", "--margin", "auc=0.01",
                              "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(stdout)  # stdout is the JSON document and nothing else
    assert doc["verdict"] == "EQUIVALENT" and doc["metrics"][0]["name"] == "auc"
    assert "overall: EQUIVALENT" in err and "METRIC" in err
    assert not (tmp_path / "-").exists()


def test_help_documents_json_dash(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert "'-' writes it to stdout" in " ".join(out.split())


def _table(stdout):
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("METRIC"))
    header = lines[head]
    starts = [header.index(h) for h in header.split()]
    rows = []
    for line in lines[head + 1:]:
        if not line or line.startswith(("overall:", "note:", "metrics/")):
            break
        rows.append({h: line[s:e].strip() for h, s, e in zip(header.split(), starts, starts[1:] + [None])})
    return rows


def test_underflowing_p_holm_is_not_printed_as_zero(parquet, tmp_path, capsys):
    out = tmp_path / "p.json"
    code, stdout, err = _run(["compare", str(parquet), *BASE, "--metrics", "logloss,brier",
                              "--margin", "logloss=0.5,brier=0.001", "--json", str(out)], capsys)
    assert code == 0, err
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics[0]["p_adjusted"] == 0.0  # the TOST p-value underflows
    assert 0 < metrics[1]["p_adjusted"] < 1e-10
    rows = {r["METRIC"]: r for r in _table(stdout)}
    assert rows["logloss"]["P_HOLM"] == "<1e-300"
    assert rows["brier"]["P_HOLM"] == format(metrics[1]["p_adjusted"], ".3g")
    assert "e-" in rows["brier"]["P_HOLM"]


def test_ranking_metrics_print_and_report_query_groups(tmp_path, capsys):
    frame = _frame(n=4000).assign(q=np.arange(4000) // 10)
    frame["device"] = np.where(frame.q % 4 == 0, "tablet", "phone")  # 100 / 300 groups
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    out = tmp_path / "r.json"
    code, stdout, err = _run(["compare", str(path), *BASE, "--group", "q", "--metrics", "ndcg@5,auc",
                              "--bootstrap", "20", "--slice", "device", "--min-slice-size", "10",
                              "--json", str(out)], capsys)
    assert code == 1, err
    metrics = {(m["name"], None if m["slice"] is None else m["slice"]["value"]): m
               for m in json.loads(out.read_text())["metrics"]}
    assert metrics[("ndcg@5", None)]["n_groups"] == 400 and metrics[("ndcg@5", None)]["n"] == 4000
    assert metrics[("ndcg@5", "tablet")]["n_groups"] == 100 and metrics[("ndcg@5", "phone")]["n_groups"] == 300
    assert metrics[("auc", None)]["n_groups"] is None
    rows = {(r["METRIC"], r["SLICE"]): r for r in _table(stdout)}
    assert rows[("ndcg@5", "all")]["N"] == "4000" and rows[("ndcg@5", "all")]["GROUPS"] == "400"
    assert rows[("ndcg@5", "device=tablet")]["GROUPS"] == "100"
    assert rows[("auc", "all")]["GROUPS"] == "-"


def test_readme_compare_synopsis_matches_the_parser():
    from pathlib import Path

    from harness.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `parity compare FILE"))
    sub = next(a for a in build_parser()._subparsers._group_actions if a.dest == "command").choices["compare"]
    flags = [a.option_strings[-1] for a in sub._actions if a.option_strings and a.option_strings[-1] != "--help"]
    for flag in flags:
        assert f"{flag} " in row or f"{flag}]" in row, flag
    assert "[--slice COL[,COL...]]" in row and "[--min-slice-size N]" in row
    section = readme[readme.index("`parity compare` picks a method"):]
    section = " ".join(section[:section.index("\n## ")].split())
    for fragment in ("with `--weight` AUC uses the paired bootstrap", "10 equal-mass (quantile) bins",
                     "query groups with no relevant item count as 0", "`N` column counts rows",
                     "`--json -` writes the JSON document to stdout", "0-based data rows"):
        assert fragment in section, fragment


def test_statistics_errors_are_rebuilt_from_fields_not_from_their_text(tmp_path, capsys, monkeypatch):
    """The CLI names the column, flag, row (with its key) and value from the error's fields; the core's
    message text (here deliberately misleading) is never read."""
    import harness.stats.compare as stats_compare
    from harness.errors import ParityInputError

    def fails(*a, **k):
        raise ParityInputError("y_prob: row 99 is 7 (misleading text)", argument="score_new", row=3, value=1.5,
                               reason="expected probabilities in [0, 1]", detail="(2 row(s) outside [0, 1])")

    monkeypatch.setattr(stats_compare, "compare_scores", fails)
    path = _write_csv(tmp_path, _frame(n=300))
    code, _, err = _run(["compare", str(path), *BASE, "--key", "row_id", "--metrics", "logloss"], capsys)
    assert code == 2
    assert ("in.csv: column 'new' (--new): expected probabilities in [0, 1]; row 3 (row_id=21) is 1.5 "
            "(2 row(s) outside [0, 1])") in err, err
    assert "misleading" not in err and "row 99" not in err and ROWS_NOTE in err


def test_an_error_without_fields_is_shown_as_written(tmp_path, capsys, monkeypatch):
    import harness.stats.compare as stats_compare
    from harness.errors import ParityInputError

    def fails(*a, **k):
        raise ParityInputError("3 of 20 bootstrap replicates left 'ece' undefined")

    monkeypatch.setattr(stats_compare, "compare_scores", fails)
    path = _write_csv(tmp_path, _frame(n=300))
    code, _, err = _run(["compare", str(path), *BASE, "--metrics", "ece"], capsys)
    assert code == 2 and "in.csv: 3 of 20 bootstrap replicates left 'ece' undefined" in err, err


def test_repeated_list_flags_add_up_instead_of_keeping_the_last(parquet, tmp_path, capsys):
    """--metrics, --margin and --non-inferiority may be repeated like --slice: every value counts (a
    repeated flag used to keep only its last value, so earlier margins were dropped without a word)."""
    base = ["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new", "--seed", "5"]
    out_joined, out_repeated = tmp_path / "joined.json", tmp_path / "repeated.json"
    code, _, _ = _run(base + ["--metrics", "auc,logloss", "--margin", "auc=0.01,logloss=2%",
                              "--non-inferiority", "auc", "--json", str(out_joined)], capsys)
    assert code == 0
    code, _, _ = _run(base + ["--metrics", "auc", "--metrics", "logloss", "--margin", "auc=0.01",
                              "--margin", "logloss=2%", "--non-inferiority", "auc", "--json", str(out_repeated)], capsys)
    assert code == 0
    repeated = json.loads(out_repeated.read_text())
    assert [m["name"] for m in repeated["metrics"]] == ["auc", "logloss"]
    assert all(m["gated"] and m["margin"] is not None for m in repeated["metrics"])
    assert repeated == json.loads(out_joined.read_text())
    code, _, err = _run(base + ["--metrics", "auc", "--margin", "auc=0.01", "--margin", "auc=0.02"], capsys)
    assert code == 2 and "given twice" in err


def test_a_reader_that_stops_early_loses_neither_the_json_nor_the_exit_code(parquet, tmp_path):
    """`parity compare ... --json OUT | head -1`: the JSON is written before the table, and a reader
    that has gone ends the printing, not the command (it was an internal error, exit 2, and no JSON)."""
    import os

    out, err = tmp_path / "o.json", tmp_path / "err.txt"
    r, w = os.pipe()
    os.close(r)  # nobody reads stdout
    try:
        with err.open("w") as err_file:
            proc = subprocess.run([sys.executable, "-c", "import sys\nfrom harness.cli import main\nsys.exit(main())",
                                   "compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "bad",
                                   "--metrics", "auc", "--margin", "auc=0.005", "--json", str(out)],
                                  stdout=w, stderr=err_file, timeout=120)
    finally:
        os.close(w)
    said = err.read_text()
    assert proc.returncode == 1, said  # the verdict's code: NOT_EQUIVALENT
    assert "Traceback" not in said and "internal error" not in said and "BrokenPipe" not in said
    assert json.loads(out.read_text())["verdict"] == "NOT_EQUIVALENT"


@pytest.mark.parametrize("dest, says", [("{tmp}", "is a folder"), ("{tmp}/no/such/o.json", "does not exist")])
def test_a_json_destination_that_cannot_be_written_is_refused_first(parquet, tmp_path, capsys, monkeypatch, dest, says):
    import harness.stats.compare as sc

    monkeypatch.setattr(sc, "compare_scores", lambda *a, **k: pytest.fail("computed before the --json check"))
    code, _, err = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--metrics", "auc", "--margin", "auc=0.01", "--json", dest.format(tmp=tmp_path)], capsys)
    assert code == 2 and says in err and "--json" in err


@pytest.mark.parametrize("extra, says", [
    (["--slice", "device+device"], "--slice device+device: a crossed slice names column 'device' twice"),
    (["--non-inferiority", "auc=0.002"], "--non-inferiority 'auc=0.002': name the metric only"),
    (["--non-inferiority", "aucc"], "--non-inferiority: metric: unknown metric 'aucc'"),
], ids=["crossed-slice-twice", "non-inferiority-with-a-value", "non-inferiority-unknown"])
def test_flag_mistakes_name_the_flag(parquet, capsys, extra, says):
    code, _, err = _run(["compare", str(parquet), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--metrics", "auc", "--margin", "auc=0.01", *extra], capsys)
    assert code == 2 and says in err, err


def test_constant_scores_are_named_as_numbers_not_numpy_reprs(tmp_path, capsys):
    path = tmp_path / "const.parquet"
    frame = _frame(n=500)
    frame["legacy"], frame["new"] = 0.3, 0.4
    frame.to_parquet(path)
    code, out, _ = _run(["compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "new",
                         "--metrics", "auc", "--margin", "auc=0.01"], capsys)
    assert code == 1 and "(legacy 0.3, new 0.4)" in out and "np.float64" not in out
