"""Adapters: score files and external scorer programs, including every way they go wrong."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError, ScorerError
from harness.protocol import ModelSide
from legacy_adapter.adapters import ExternalScorerSide, ScoreFileSide, SklearnSide

PROGRAM = str(Path(__file__).with_name("models_scorer_program.py"))


def _batch(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "row_id": np.arange(100, 100 + n, dtype=np.int64),
        "position": rng.integers(1, 30, n).astype(np.int64),
        "price": rng.lognormal(3, 1, n),
        "query": ["red shoes", "", "ça va, \"quoted\"", "line\nbreak"] * (n // 4),
    })


def _formula(batch: pd.DataFrame) -> np.ndarray:
    # The program's formula, written out again here rather than imported from it.
    return np.array([1 / (1 + math.exp(-(p / 100 - k / 10))) for p, k in zip(batch["price"], batch["position"])])


# ----------------------------------------------------------------------------------------- score files

@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_returns_requested_keys_keeps_duplicates_and_leaves_out_missing(tmp_path, suffix):
    scores = pd.DataFrame({"row_id": [1, 2, 2, 3, 9], "score": [0.1, 0.2, 0.25, 0.3, 0.9]})
    path = tmp_path / f"scores{suffix}"
    scores.to_csv(path, index=False) if suffix == ".csv" else scores.to_parquet(path, index=False)
    side = ScoreFileSide(path, key="row_id")
    assert isinstance(side, ModelSide)
    assert side.featurize(pd.DataFrame({"row_id": [1]})) is None
    got = side.predict(pd.DataFrame({"row_id": [1, 2, 3, 4]}))
    assert got.index.name == "row_id"
    assert got.dtype == np.float64
    assert list(got.index) == [1, 2, 2, 3]          # 4 missing, 9 not requested, duplicate 2 kept
    assert list(got.to_numpy()) == [0.1, 0.2, 0.25, 0.3]
    cfg = side.config()
    assert cfg["rows"] == 5 and len(cfg["sha256"]) == 64


def test_score_file_csv_floats_round_trip_exactly(tmp_path):
    values = np.random.default_rng(1).random(50)
    pd.DataFrame({"row_id": np.arange(50), "score": values}).to_csv(tmp_path / "s.csv", index=False)
    got = ScoreFileSide(tmp_path / "s.csv", key="row_id").predict(pd.DataFrame({"row_id": np.arange(50)}))
    np.testing.assert_array_equal(got.to_numpy(), values)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        pytest.param("row_id,prob\n1,0.5\n", {}, r"missing column\(s\) \['score'\]; found \['row_id', 'prob'\]",
                     id="missing-score-column"),
        pytest.param("id,score\n1,0.5\n", {}, r"missing column\(s\) \['row_id'\]", id="missing-key-column"),
        pytest.param("row_id,score\n1,0.5\n2,high\n3,x\n", {},
                     r"column 'score' must be numeric; row 1 \(line 3\) holds 'high' \(2 unparsable", id="non-numeric"),
        pytest.param("row_id,score\n1,0.5\n2,\n", {}, r"finite numbers; row 1 \(line 3\) holds an empty cell",
                     id="empty-score"),
        pytest.param("row_id,score\n1,nan\n", {}, r"finite numbers; row 0 \(line 2\) holds 'nan'", id="nan-score"),
        pytest.param("row_id,score\n1,0.5\n,0.1\n", {}, r"key column 'row_id' is empty at row 1 \(line 3\)",
                     id="empty-key"),
    ],
)
def test_score_file_bad_csv_is_refused_naming_file_column_row(tmp_path, content, kwargs, message):
    path = _write(tmp_path / "scores.csv", content)
    with pytest.raises(ParityInputError, match=message) as info:
        ScoreFileSide(path, key="row_id", **kwargs)
    assert str(path) in str(info.value)


def test_score_file_refuses_parquet_with_text_scores_and_inf(tmp_path):
    pd.DataFrame({"row_id": [1, 2], "score": ["0.1", "0.2"]}).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(ParityInputError, match=r"'score' must be numeric, found dtype"):
        ScoreFileSide(tmp_path / "a.parquet", key="row_id")
    pd.DataFrame({"row_id": [1, 2], "score": [0.1, np.inf]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(ParityInputError, match=r"row 1 holds inf"):
        ScoreFileSide(tmp_path / "b.parquet", key="row_id")


def test_a_missing_relative_score_file_names_the_folder_it_was_looked_for_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParityInputError, match=r"score file '\.\./scores\.csv' does not exist or is not a file \(a "
                       r"relative path is read from the current directory: .*Path\(__file__\)\.parent") as info:
        ScoreFileSide("../scores.csv", key="row_id")
    assert repr(str(tmp_path / "../scores.csv")) in str(info.value)
    with pytest.raises(ParityInputError, match=r"does not exist or is not a file$"):  # absolute: said as given
        ScoreFileSide(tmp_path / "nope.csv", key="row_id")


def test_score_file_missing_unknown_format_corrupt_and_key_kind_mismatch(tmp_path):
    with pytest.raises(ParityInputError, match="does not exist"):
        ScoreFileSide(tmp_path / "nope.csv", key="row_id")
    with pytest.raises(ParityInputError, match=r"unknown format '.txt'"):
        ScoreFileSide(_write(tmp_path / "s.txt", "row_id,score\n"), key="row_id")
    with pytest.raises(ParityInputError, match="cannot be read as parquet"):
        ScoreFileSide(_write(tmp_path / "s.parquet", "not parquet"), key="row_id")
    side = ScoreFileSide(_write(tmp_path / "k.csv", "row_id,score\nr1,0.5\n"), key="row_id")
    with pytest.raises(ParityInputError, match=r"key column 'row_id' at row 0 \(line 2\) holds 'r1', which is not an "
                       r"integer, as the batch's key column 'row_id' \(int64\) is"):
        side.predict(pd.DataFrame({"row_id": np.array([1], dtype=np.int64)}))
    # keys that went through float: the first one that is not an integer literal is named, with its line
    side = ScoreFileSide(_write(tmp_path / "f.csv", "row_id,score\n7,0.5\n8.0,0.5\n9,0.1\n"), key="row_id")
    with pytest.raises(ParityInputError, match=r"at row 1 \(line 3\) holds '8\.0', which is not an integer.*write "
                       r"integer keys without a decimal point") as info:
        side.predict(pd.DataFrame({"row_id": np.array([7, 8], dtype=np.int64)}))
    assert (info.value.column, info.value.row, info.value.value) == ("row_id", 1, "8.0")
    side = ScoreFileSide(_write(tmp_path / "i.csv", "row_id,score\n7,0.5\n"), key="row_id")
    with pytest.raises(ParityInputError, match=r"key column 'row_id' holds integers \(at row 0 \(line 2\): 7\), but "
                       r"the batch's key column 'row_id' \(\w+\) holds text \(e\.g\. 'a7'\)"):
        side.predict(pd.DataFrame({"row_id": np.array(["a7"], dtype=object)}))
    with pytest.raises(ParityInputError, match=r"batch has no key column 'row_id'"):
        side.predict(pd.DataFrame({"id": [1]}))


# ------------------------------------------------------------------------------------ external scorer

def _scorer(mode: str, fmt: str = "csv", **kwargs) -> ExternalScorerSide:
    return ExternalScorerSide([sys.executable, PROGRAM, mode, "{input}", "{output}"], key="row_id",
                              input_format=fmt, **kwargs)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_external_scorer_scores_every_row(fmt):
    batch = _batch()
    side = _scorer("ok", fmt)
    assert isinstance(side, ModelSide)
    got = side.predict(batch)
    assert list(got.index) == list(batch["row_id"])
    np.testing.assert_allclose(got.to_numpy(), _formula(batch), rtol=0, atol=1e-15)


def test_external_scorer_keys_left_out_stay_missing():
    batch = _batch()
    got = _scorer("drop_first").predict(batch)
    assert list(got.index) == list(batch["row_id"].iloc[1:])


def test_external_scorer_crash_reports_exit_code_and_stderr_tail():
    with pytest.raises(ScorerError, match=r"exited with code 3") as info:
        _scorer("crash").predict(_batch())
    assert "RuntimeError: legacy model file is corrupt" in str(info.value)


@pytest.mark.parametrize("mode", ["crash", "no_output"])
def test_external_scorer_errors_are_the_same_text_on_every_call(mode):
    # Each call scores in a fresh temp folder; the error names its files by the suite's placeholders,
    # so the report of one failure is the same bytes run after run (and names no vanished folder).
    texts = []
    for _ in range(2):
        with pytest.raises(ScorerError) as info:
            _scorer(mode).predict(_batch())
        texts.append(str(info.value))
    assert texts[0] == texts[1]
    assert "parity-scorer-" not in texts[0] and "{output}" in texts[0]
    if mode == "crash":
        assert "'{input}', '{output}']" in texts[0] and "(read {input})" in texts[0]


def test_external_scorer_timeout_is_killed_and_reported():
    with pytest.raises(ScorerError, match=r"timed out after 1.5 s and was killed"):
        _scorer("hang", timeout=1.5).predict(_batch())


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        pytest.param("garbage", r"column 'score' must be numeric; row 1 \(line 3\) holds 'not-a-number'", id="garbage"),
        pytest.param("nan", r"finite numbers; row 2 \(line 4\) holds an empty cell", id="nan"),
        pytest.param("no_score_column", r"missing column\(s\) \['score'\]; found \['row_id', 'prob'\]", id="no-column"),
        pytest.param("no_output", r"exited 0 but wrote no output file", id="no-output"),
    ],
)
def test_external_scorer_malformed_output(mode, message):
    with pytest.raises(ScorerError, match=message):
        _scorer(mode).predict(_batch())


def test_external_scorer_nan_in_parquet_output():
    with pytest.raises(ScorerError, match=r"finite numbers; row 2 holds nan"):
        _scorer("nan", "parquet").predict(_batch())


def test_external_scorer_program_that_cannot_start():
    side = ExternalScorerSide(["/nonexistent/scorer", "{input}", "{output}"], key="row_id")
    with pytest.raises(ScorerError, match=r"cannot start '/nonexistent/scorer'"):
        side.predict(_batch())


@pytest.mark.parametrize(
    ("argv", "kwargs", "message"),
    [
        pytest.param("python score.py {input} {output}", {}, r"list of strings \(no shell\)", id="string-argv"),
        pytest.param([], {}, "non-empty list", id="empty"),
        pytest.param(["prog", "{input}"], {}, r"no \{output\} placeholder", id="no-output-placeholder"),
        pytest.param(["prog", "{input}", "{output}"], {"input_format": "json"}, "input_format must be one of",
                     id="format"),
        pytest.param(["prog", "{input}", "{output}"], {"timeout": 0}, "positive number of seconds", id="timeout"),
    ],
)
def test_external_scorer_bad_arguments(argv, kwargs, message):
    with pytest.raises(ParityInputError, match=message):
        ExternalScorerSide(argv, key="row_id", **kwargs)


# ------------------------------------------------------------------------------------------- sklearn

class _Identity:
    def transform(self, frame):
        return frame[["price", "position"]]


def test_sklearn_side_matches_the_estimator_it_wraps():
    from sklearn.linear_model import LogisticRegression

    batch = _batch(40)
    batch["click"] = (batch["price"] > batch["price"].median()).astype(int)
    side = SklearnSide("lr", LogisticRegression(), _Identity(), label="click").fit(batch)
    reference = LogisticRegression().fit(batch[["price", "position"]], batch["click"])
    np.testing.assert_array_equal(side.predict(batch), reference.predict_proba(batch[["price", "position"]])[:, 1])
    assert side.config()["params"]["C"] == 1.0
    with pytest.raises(ParityInputError, match="has no predict_proba"):
        SklearnSide("x", object(), _Identity())


def test_score_file_keys_are_never_rounded_or_left_empty(tmp_path):
    big = 2**63 + 5  # beyond int64: must stay text (and then fail to align), never become a rounded float
    path = _write(tmp_path / "big.csv", f"row_id,score\n{big},0.5\n")
    side = ScoreFileSide(path, key="row_id")
    with pytest.raises(ParityInputError, match=rf"holds '{big}', which is an integer beyond int64's range"):
        side.predict(pd.DataFrame({"row_id": np.array([1], dtype=np.int64)}))
    exact = 2**62 + 1  # not representable as a float64: parsed exactly
    got = ScoreFileSide(_write(tmp_path / "ok.csv", f"row_id,score\n{exact},0.5\n"), key="row_id").predict(
        pd.DataFrame({"row_id": np.array([exact], dtype=np.int64)}))
    assert list(got.index) == [exact]
    nullable = pd.DataFrame({"row_id": pd.array([1, None], dtype="Int64"), "score": [0.1, 0.2]})
    nullable.to_parquet(tmp_path / "n.parquet")
    with pytest.raises(ParityInputError, match=r"key column 'row_id' is empty at row 1"):
        ScoreFileSide(tmp_path / "n.parquet", key="row_id")
