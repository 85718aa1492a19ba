"""No silent pass: every input that used to end in EQUIVALENT (exit 0) without evidence now fails loudly.

Each class of issue 12 is a row of a table with a readable id, run through the entry point where it
was found (`parity compare`, `compare_scores`, `check_metrics`). The expectation is stated as the exit
code (0 pass, 1 parity failure / inconclusive gate, 2 could not judge) plus fragments the user must see:
the column, the flag, the slice, the reason. Expected numbers come from scikit-learn or from the
definition of the test (a margin set so that the TOST p-value is a chosen number), never from the code
under test.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.checks.metrics import check_metrics
from harness.cli import main
from harness.errors import ParityInputError
from harness.stats.compare import compare_scores
from harness.stats.delong import delong_paired
from harness.suite import MetricGate
from harness.verdicts import Verdict


def _frame(n=3000, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    legacy = 1 / (1 + np.exp(-(s - 1.0)))
    new = 1 / (1 + np.exp(-(s - 1.0 + rng.normal(0, noise, n))))
    device = np.where(np.arange(n) % 3 == 0, "tablet", "mobile")
    return pd.DataFrame({"row_id": np.arange(n), "y": y, "p_old": legacy, "p_new": new, "device": device})


BASE = ["--label", "y", "--legacy", "p_old", "--new", "p_new"]


# ---------------------------------------------------------------------------------------------------
# the CLI table: one row per class of silent pass
# ---------------------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    write: Callable[[Path], Path]  # writes the input file into a folder, returns its path
    argv: list[str]  # after "compare FILE" unless "{file}" appears in it (then FILE goes there)
    code: int
    fragments: list[str] = field(default_factory=list)  # in stdout + stderr
    absent: list[str] = field(default_factory=list)


def _parquet(frame: pd.DataFrame) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "in.parquet"
        frame.to_parquet(path)
        return path
    return write


def _csv_text(text: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "in.csv"
        path.write_text(text)
        return path
    return write


def _csv(frame: pd.DataFrame) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "in.csv"
        frame.to_csv(path, index=False)
        return path
    return write


def _one_class_slice() -> pd.DataFrame:
    f = _frame()
    f.loc[f.device == "tablet", "y"] = 0  # 1000 rows, no positive: AUC undefined on a slice that is gated
    return f


def _constant() -> pd.DataFrame:
    return _frame().assign(p_old=0.3, p_new=0.3 + 1e-9)


def _csv_with_country(na_cell: str) -> str:
    """Country "NA" (Namibia) on some rows, an empty cell on others; scores differ only on the empty rows."""
    f = _frame(n=2400)
    country = np.where(np.arange(2400) % 4 == 0, "NA", np.where(np.arange(2400) % 4 == 1, na_cell, "US"))
    f["country"] = country
    return f.to_csv(index=False)


CLI_CASES = [
    Case("same-column-twice", _parquet(_frame()), ["--label", "y", "--legacy", "p_old", "--new", "p_old",
                                                   "--margin", "auc=0.01"], 2,
         ["--legacy and --new both name column 'p_old'", "proves nothing"]),
    Case("equal-columns-row-for-row", _parquet(_frame().assign(p_new=lambda f: f.p_old)), [*BASE, "--margin", "auc=0.01"],
         2, ["column 'p_new' (--new) equals column 'p_old' (--legacy) row for row", "--allow-identical"]),
    Case("equal-columns-allowed-deliberately", _parquet(_frame().assign(p_new=lambda f: f.p_old)),
         [*BASE, "--margin", "auc=0.01", "--metrics", "auc", "--allow-identical"], 0, ["overall: EQUIVALENT"]),
    Case("constant-score-columns", _parquet(_constant()), [*BASE, "--metrics", "auc", "--margin", "auc=0.01"], 1,
         ["INCONCLUSIVE (undefined)", "both score columns are constant", "overall: INCONCLUSIVE"]),
    Case("one-class-in-a-gated-slice", _parquet(_one_class_slice()),
         [*BASE, "--metrics", "auc", "--margin", "auc=0.05", "--slice", "device", "--min-slice-size", "500"], 1,
         ["metrics/auc[device=tablet]: INCONCLUSIVE (gated)", "not computable on slice device=tablet",
          "(got 0 positive, 1000 negative)", "overall: INCONCLUSIVE"], ["overall: EQUIVALENT"]),
    Case("csv-NA-is-a-country-not-a-missing-value", _csv_text(_csv_with_country("")),
         [*BASE, "--metrics", "auc", "--slice", "country", "--min-slice-size", "10"], 1,
         ["country=NA ", "country= ", "country=US"], ["country=None"]),
    Case("csv-empty-cell-missing-only-when-named", _csv_text(_csv_with_country("")),
         [*BASE, "--metrics", "auc", "--slice", "country", "--min-slice-size", "10", "--na-values", ""], 1,
         ["country=NA ", "country=None", "country=US"]),
    Case("csv-null-kept-as-written", _csv_text(_csv_with_country("null")),
         [*BASE, "--metrics", "auc", "--slice", "country", "--min-slice-size", "10"], 1,
         ["country=null", "country=NA "], ["country=None"]),
    Case("csv-empty-score-cell-is-not-a-number", _csv_text("y,p_old,p_new\n0,0.1,0.2\n1,0.8,\n0,0.3,0.3\n1,0.6,0.7\n"),
         [*BASE, "--metrics", "auc"], 2, ["column 'p_new' (--new) must be numeric", "row 1 is ''",
                                          "(an empty CSV cell is read as text: --na-values '' reads it as missing)"]),
    Case("csv-empty-score-cell-named-missing", _csv_text("y,p_old,p_new\n0,0.1,0.2\n1,0.8,\n0,0.3,0.3\n1,0.6,0.7\n"),
         [*BASE, "--metrics", "auc", "--na-values", ""], 2,
         ["column 'p_new' (--new) has 1 missing or non-finite value(s), first at row 1"]),
    Case("na-values-on-parquet", _parquet(_frame()), [*BASE, "--na-values", "NA"], 2,
         ["--na-values applies to CSV files only"]),
    Case("duplicate-csv-header", _csv_text("y,p_old,p_new,p_new\n0,0.1,0.2,0.9\n1,0.8,0.7,0.1\n"), BASE, 2,
         ["names column(s) ['p_new'] more than once"]),
    Case("bool-score-column-parquet", _parquet(_frame().assign(p_new=lambda f: f.p_new > 0.5)),
         [*BASE, "--metrics", "auc", "--margin", "auc=0.5"], 2, ["column 'p_new' (--new) holds True/False"]),
    Case("bool-score-column-csv", _csv(_frame().assign(p_old=lambda f: f.p_old > 0.5)),
         [*BASE, "--metrics", "auc", "--margin", "auc=0.5"], 2, ["column 'p_old' (--legacy) holds True/False"]),
    Case("bool-label-is-a-label", _parquet(_frame().assign(y=lambda f: f.y == 1)),
         [*BASE, "--metrics", "auc", "--margin", "auc=0.02"], 0, ["overall: EQUIVALENT"]),
    Case("slice-before-file-does-not-swallow-it", _parquet(_frame()),
         ["--slice", "device", "{file}", *BASE, "--metrics", "auc", "--margin", "auc=0.02", "--min-slice-size", "10"],
         0, ["device=mobile", "device=tablet", "overall: EQUIVALENT"]),
    Case("slice-comma-list-and-crossed", _parquet(_frame().assign(half=lambda f: np.where(f.row_id < 1500, "a", "b"))),
         [*BASE, "--metrics", "auc", "--slice", "device,half", "--slice", "device+half", "--min-slice-size", "10"], 1,
         ["device=mobile ", "half=a ", "device=mobile,half=a", "device=tablet,half=b"]),
    Case("unknown-slice-column", _parquet(_frame()), [*BASE, "--slice", "devcie"], 2,
         ["column 'devcie' (--slice devcie) not found"]),
]


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_no_silent_pass(case, tmp_path, capsys):
    path = case.write(tmp_path)
    argv = [str(path) if a == "{file}" else a for a in case.argv]
    if "{file}" not in case.argv:
        argv = [str(path), *argv]
    code, text = _run(["compare", *argv, "--bootstrap", "20"], capsys)
    assert code == case.code, text
    for fragment in case.fragments:
        assert fragment in text, (fragment, text)
    for fragment in case.absent:
        assert fragment not in text, (fragment, text)
    assert "Traceback" not in text


# ---------------------------------------------------------------------------------------------------
# the library entry points refuse the same inputs alike
# ---------------------------------------------------------------------------------------------------

def _arrays(n=3000):
    f = _frame(n)
    return f.y.to_numpy(float), f.p_old.to_numpy(), f.p_new.to_numpy(), f.device.to_numpy(object)


def _compare(y, a, b, **kw):
    return compare_scores(y, a, b, metrics=["auc"], margins={"auc": 0.02}, **kw)


def _check(y, a, b, **kw):
    return check_metrics(y, a, b, gates=[MetricGate("auc", 0.02)], **kw)


LIB_REFUSED = [
    ("compare-bool-score", _compare, lambda y, a, b: (y, a > 0.5, b), "score_legacy",
     "expected real numbers, got dtype bool"),
    ("check-bool-score", _check, lambda y, a, b: (y, a, b > 0.5), "score_new", "expected real numbers, got dtype bool"),
    ("compare-text-score", _compare, lambda y, a, b: (y, a.astype(str), b), "score_legacy", "expected real numbers"),
    ("check-text-score", _check, lambda y, a, b: (y, a, b.astype(str)), "score_new", "expected real numbers"),
    ("compare-identical", _compare, lambda y, a, b: (y, a, a.copy()), "score_new", "comparing a column with itself"),
    ("compare-nan-score", _compare, lambda y, a, b: (y, a, np.where(np.arange(a.size) == 5, np.nan, b)), "score_new",
     "expected finite numbers"),
]


@pytest.mark.parametrize("fn, make, argument, fragment", [c[1:] for c in LIB_REFUSED], ids=[c[0] for c in LIB_REFUSED])
def test_library_entry_points_refuse_alike(fn, make, argument, fragment):
    y, a, b, _ = _arrays()
    with pytest.raises(ParityInputError, match=re.escape(fragment)) as info:
        fn(*make(y, a, b))
    assert info.value.argument == argument  # a structured field the shells use, not the text


def test_identical_scores_from_two_sides_of_a_suite_are_a_result_not_a_mistake():
    # In a suite the two sides are two programs; a bit-exact port gives equal scores and should pass.
    y, a, _, _ = _arrays()
    (check,) = _check(y, a, a.copy())
    assert check.verdict is Verdict.EQUIVALENT


LIB_INCONCLUSIVE = [
    ("constant-both-sides", lambda y, a, b, d: (y, np.full_like(a, 0.4), np.full_like(b, 0.6)), {},
     "metrics/auc", "both score columns are constant"),
    ("one-class-gated-slice", lambda y, a, b, d: (np.where(d == "tablet", 0.0, y), a, b),
     {"min_slice_size": 500}, "metrics/auc[device=tablet]", "(got 0 positive, 1000 negative)"),
    ("constant-in-a-gated-slice", lambda y, a, b, d: (y, np.where(d == "tablet", 0.5, a), np.where(d == "tablet", 0.5, b)),
     {"min_slice_size": 500, "allow_identical": True}, "metrics/auc[device=tablet]", "both score columns are constant"),
]


@pytest.mark.parametrize("make, kw, entry, fragment", [c[1:] for c in LIB_INCONCLUSIVE],
                         ids=[c[0] for c in LIB_INCONCLUSIVE])
def test_undefined_metric_where_it_is_gated_is_inconclusive_and_named(make, kw, entry, fragment):
    y, a, b, d = _arrays()
    y, a, b = make(y, a, b, d)
    r = _compare(y, a, b, slices={"device": d}, **kw)
    e = next(e for e in r.entries if e.id == entry)
    assert e.gated and e.verdict is Verdict.INCONCLUSIVE and fragment in e.note
    assert e.decided_by == "undefined" and e.p_value is None
    if e.slice is not None:
        assert "slice device=tablet" in e.note
    assert r.verdict is Verdict.INCONCLUSIVE  # the overall verdict is not EQUIVALENT
    checks = _check(y, a, b, slices={"device": d}, **{k: v for k, v in kw.items() if k != "allow_identical"})
    c = next(c for c in checks if c.id == entry)
    assert c.gated and c.verdict is Verdict.INCONCLUSIVE and fragment in c.message


# ---------------------------------------------------------------------------------------------------
# when Holm decides, the console says so, and the interval shown is the one the decision used
# ---------------------------------------------------------------------------------------------------

def _table(text):
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("METRIC"))
    header = lines[head]
    names = header.split()
    starts = [header.index(h) for h in names]
    rows = []
    for line in lines[head + 1:]:
        if not line or line.startswith(("overall:", "note:", "metrics/")):
            break
        rows.append({h: line[s:e].strip() for h, s, e in zip(names, starts, starts[1:] + [None])})
    return rows


def test_holm_decided_verdict_is_said_with_its_p_alpha_and_interval(tmp_path, capsys):
    f = _frame(n=5000, noise=0.2)
    path = tmp_path / "h.parquet"
    f.to_parquet(path)
    y, a, b = f.y.to_numpy(float), f.p_old.to_numpy(), f.p_new.to_numpy()
    r0 = compare_scores(y, a, b, metrics=["auc", "brier"])
    margins = {}
    for name in ("auc", "brier"):  # each TOST p-value is 0.035: inside the 90% interval, 2 x 0.035 > 0.05
        e = r0.entry(name)
        lo, hi = delong_paired(y, a, b).ci_at(0.07)  # AUC: the limits of DeLong's own 93% interval
        t = stats.t.ppf(1 - 0.035, y.size - 1)  # brier: the paired t test's
        margins[name] = float(max(-lo, hi) if name == "auc" else abs(e.diff) + t * e.se)
    out = tmp_path / "h.json"
    code, text = _run(["compare", str(path), *BASE, "--metrics", "auc,brier",
                       "--margin", ",".join(f"{k}={v!r}" for k, v in margins.items()), "--json", str(out)], capsys)
    assert code == 1, text
    doc = {m["name"]: m for m in json.loads(out.read_text())["metrics"]}
    rows = {r["METRIC"]: r for r in _table(text)}
    for name, m in margins.items():
        e = doc[name]
        assert e["p_adjusted"] == pytest.approx(0.07, rel=1e-6) and e["decided_by"] == "holm"
        assert rows[name]["VERDICT"] == "INCONCLUSIVE (Holm)"
        assert f"{'metrics/' + name}: INCONCLUSIVE by the Holm adjustment" in text
        assert "Holm-adjusted p = 0.07 > alpha = 0.05" in text
        # the unadjusted 90% interval is inside the margin (what the old console showed next to INCONCLUSIVE) ...
        assert -m < e["ci"][0] and e["ci"][1] < m
        # ... the table shows the interval at Holm's level alpha * p / p_adj = 0.025 (a 95% interval), and it
        # straddles the margin, as the verdict says
        assert e["ci_adjusted_level"] == pytest.approx(0.95, rel=1e-9)
        lo, hi = (float(x) for x in rows[name]["CI"].strip("[]").split(","))
        assert (lo, hi) == pytest.approx(tuple(e["ci_adjusted"]), rel=1e-3)
        assert not (-m < e["ci_adjusted"][0] and e["ci_adjusted"][1] < m)
        assert rows[name]["LEVEL"] == "0.95"


# ---------------------------------------------------------------------------------------------------
# ranking metrics on rows no one found relevant: 0 for any order, so no evidence either way
# ---------------------------------------------------------------------------------------------------

def _ranked(seed=0, n_queries=400, size=6):
    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(n_queries), size)
    device = np.array(["desktop", "mobile", "tablet"])[q % 3]  # a query-level slice
    y = rng.integers(0, 4, size=q.size).astype(np.float64)
    a = rng.random(q.size)
    return y, a, a + rng.normal(scale=0.05, size=q.size), q, device


@pytest.mark.parametrize("metric", ["ndcg@5", "mrr"])
def test_a_ranking_slice_with_no_relevant_row_is_inconclusive_not_a_zero_width_pass(metric):
    from sklearn.metrics import ndcg_score

    y, a, b, q, device = _ranked()
    y[device == "tablet"] = 0.0  # a label pipeline that lost one device's clicks
    tablet = np.flatnonzero(device == "tablet")
    # Why it must not pass: scikit-learn scores such a query 0 whatever the order, so any two models tie.
    first = tablet[:6]
    assert ndcg_score([y[first]], [a[first]], k=5) == ndcg_score([y[first]], [-a[first]], k=5) == 0.0
    r = compare_scores(y, a, b, metrics=(metric,), margins={metric: 0.05}, groups=q, slices={"device": device},
                       min_slice_size=100, n_boot=50)
    e = r.entry(metric, column="device", value="tablet")
    assert (e.verdict, e.decided_by, e.gated, e.diff) == (Verdict.INCONCLUSIVE, "undefined", True, None)
    assert f"needs a relevant row (relevance > 0); got {tablet.size} rows, none relevant" in e.note
    assert r.entry(metric, column="device", value="mobile").diff is not None
    assert r.verdict is Verdict.INCONCLUSIVE


def test_ranking_metrics_with_no_relevant_row_at_all_are_refused_naming_the_labels():
    y, a, b, q, _ = _ranked()
    with pytest.raises(ParityInputError, match=r"y_true: ndcg@5 needs a relevant row \(relevance > 0\); got 2400 rows, "
                                               r"none relevant") as info:
        compare_scores(np.zeros_like(y), a, b, metrics=("ndcg@5",), margins={"ndcg@5": 0.05}, groups=q, n_boot=50)
    assert info.value.argument == "y_true"
    w = np.where(q < 200, 0.0, 1.0)  # the relevant rows all weigh 0: the weighted metric sees none
    y2 = np.where(q < 200, np.maximum(y, 1.0), 0.0)
    with pytest.raises(ParityInputError, match=r"none relevant: .* among the rows with positive weight"):
        compare_scores(y2, a, b, metrics=("mrr",), margins={"mrr": 0.05}, groups=q, sample_weight=w, n_boot=50)
