"""compare_stream against compare_scores in memory: any chunking and any row order give the same result.

Exact-sum metrics (logloss, brier, mae, rmse) sum exactly, so streamed runs agree with each other bit
for bit and with the in-memory (pairwise-summed) run to float rounding; the row-keeping metrics (auc,
pr_auc, the bootstrap ones) equal the in-memory run on the key-sorted rows bit for bit.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness import progress
from harness.errors import ParityInputError, ScorerError
from harness.scale import compare_stream
from harness.stats.compare import compare_scores
from scale_docs import assert_close

METRICS = ("auc", "pr_auc", "logloss", "brier", "ece", "calibration_ratio")
MARGINS = {"auc": 0.01, "pr_auc": 0.02, "logloss": 0.01, "brier": 0.005, "ece": 0.02, "calibration_ratio": 0.05}
SUMMED = ("logloss", "brier", "mae", "rmse", "calibration_ratio")  # exact sums or exact replicate sums
N_BOOT = 200


def _data(n=3000, seed=0, score_dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = 1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n))))
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0, 1)
    a = np.round(a, 3)  # ties, within and across chunks
    keys = rng.permutation(n) * 7 + 11
    return keys, y, a.astype(score_dtype), b.astype(score_dtype)


def _write(path, keys, y, a, b, order=None, row_group_size=500):
    o = np.arange(keys.shape[0]) if order is None else order
    pq.write_table(pa.table({"id": keys[o], "y": y[o], "a": a[o], "b": b[o]}), path, row_group_size=row_group_size)
    return path


def _stream(path, chunk_rows, metrics=METRICS, margins=MARGINS, **kw):
    return compare_stream(path, label="y", legacy="a", new="b", key="id", metrics=metrics, margins=margins,
                          n_boot=N_BOOT, seed=5, chunk_rows=chunk_rows, **kw)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data):
    path = _write(tmp_path_factory.mktemp("ref") / "g.parquet", *data)
    return _stream(path, 10**6).to_dict()


CHUNKINGS = [(c, s) for c in (7, 499, 10**6) for s in (None, 1, 2)] + [(1, None), (1, 1)]  # 1: slow, twice


@pytest.mark.parametrize("chunk_rows,shuffle", CHUNKINGS, ids=[f"chunk{c}-order{s}" for c, s in CHUNKINGS])
@pytest.mark.slow
def test_any_chunking_and_row_order_gives_the_same_bits(tmp_path, data, reference, chunk_rows, shuffle):
    order = None if shuffle is None else np.random.default_rng(shuffle).permutation(data[0].shape[0])
    path = _write(tmp_path / "g.parquet", *data, order=order, row_group_size=613)
    assert _stream(path, chunk_rows).to_dict() == reference


def test_equals_compare_scores_in_memory(tmp_path, data):
    keys, y, a, b = data
    path = _write(tmp_path / "g.parquet", *data, order=np.random.default_rng(9).permutation(keys.shape[0]))
    streamed = _stream(path, 257)
    o = np.argsort(keys)
    sorted_run = compare_scores(y[o], a[o], b[o], keys=keys[o], metrics=METRICS, margins=MARGINS, n_boot=N_BOOT,
                                seed=5)
    for s, m in zip(streamed.entries, sorted_run.entries):
        if s.name not in SUMMED:  # rows kept and sorted by key: the in-memory estimator on the same arrays
            assert s == m
    # exact sums vs pairwise sums: float rounding; p-values are ratios of a difference of near-equal
    # metric values, so their relative rounding is larger (the in-memory run disagrees with itself by as
    # much across row orders)
    assert_close(streamed, sorted_run, p_tol=1e-12)
    file_order = compare_scores(y, a, b, keys=keys, metrics=METRICS, margins=MARGINS, n_boot=N_BOOT, seed=5)
    assert_close(streamed, file_order, p_tol=1e-9)


@pytest.mark.slow
def test_regression_metrics(tmp_path):
    rng = np.random.default_rng(4)
    n = 2000
    y = rng.normal(size=n) * 3
    a, b = y + rng.normal(size=n), y + rng.normal(size=n) * 1.02
    keys = np.arange(n)
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"id": keys, "y": y, "a": a, "b": b}), path, row_group_size=300)
    margins = {"rmse": 0.1, "mae": 0.1}
    streamed = [_stream(path, c, metrics=("rmse", "mae"), margins=margins) for c in (1, 13, 10**6)]
    assert streamed[0].to_dict() == streamed[1].to_dict() == streamed[2].to_dict()
    mem = compare_scores(y, a, b, keys=keys, metrics=("rmse", "mae"), margins=margins)
    assert_close(streamed[1], mem, p_tol=1e-12)


def test_float32_sides_are_kept_and_compared_in_their_precision(tmp_path):
    keys, y, a, b = _data(n=1500, seed=2, score_dtype=np.float32)
    path = _write(tmp_path / "f.parquet", keys, y, a, b)
    streamed = _stream(path, 101)
    o = np.argsort(keys)
    mem = compare_scores(y[o], a[o], b[o], keys=keys[o], metrics=METRICS, margins=MARGINS, n_boot=N_BOOT, seed=5)
    assert streamed.entry("auc") == mem.entry("auc")
    assert_close(streamed, mem, p_tol=1e-12)


def test_sums_only_runs_keep_no_scores(tmp_path, data):
    path = _write(tmp_path / "g.parquet", *data)
    r = _stream(path, 333, metrics=("logloss", "brier"), margins={"logloss": 0.01})
    keys, y, a, b = data
    mem = compare_scores(y, a, b, metrics=("logloss", "brier"), margins={"logloss": 0.01})
    assert_close(r, mem, p_tol=1e-12)


def test_progress_counts_rows(tmp_path, data, capsys):
    path = _write(tmp_path / "g.parquet", *data)
    with progress.enabled():
        _stream(path, 1000, metrics=("logloss",), margins=None)
    err = capsys.readouterr().err
    assert "/3000" in err and "rows" in err and "chunk 2" in err  # tqdm redraws on each chunk's description


def _bad_file(tmp_path, data, column, row, value):
    keys, y, a, b = (x.copy() for x in data)
    cols = {"y": y.astype(np.float64), "a": a, "b": b}
    cols[column][row] = value
    return _write(tmp_path / "bad.parquet", keys, cols["y"], cols["a"], cols["b"])


@pytest.mark.parametrize("column,side,value,reason", [
    ("b", "new", np.nan, "finite"),
    ("a", "legacy", 1.5, r"probabilities in \[0, 1\]"),
    ("y", None, 0.5, r"binary labels"),
])
def test_a_bad_value_mid_stream_names_chunk_key_and_side(tmp_path, data, column, side, value, reason):
    row = 2345
    path = _bad_file(tmp_path, data, column, row, value)
    with pytest.raises(ParityInputError, match=reason) as e:
        _stream(path, 500)  # row groups of 500: chunk 4 holds rows 2000-2499
    msg = str(e.value)
    assert f"chunk 4, row {row} (id={int(data[0][row])})" in msg
    assert (f"column {column!r} ({side} side)" if side else f"label column {column!r}") in msg
    assert e.value.row == row and e.value.column == column and e.value.file == str(path)


def test_a_side_that_fails_mid_stream_names_the_chunk_and_its_keys(tmp_path, data):
    path = _write(tmp_path / "g.parquet", *data)
    seen = []

    def new_side(cols):
        seen.append(int(cols["id"][0]))
        if len(seen) == 4:
            raise RuntimeError("model server went away")
        return np.clip(cols["a"] + 0.001, 0, 1)

    with pytest.raises(ScorerError) as e:
        compare_stream(path, label="y", legacy="a", new=new_side, key="id", metrics=("logloss",), chunk_rows=500)
    assert len(seen) == 4  # the stream stopped at the failing chunk
    msg = str(e.value)
    assert "the new side failed on chunk 3 (rows 1500-1999)" in msg
    assert f"id={int(data[0][1500])!r}..{int(data[0][1999])!r}" in msg and "model server went away" in msg


def test_a_side_function_scores_the_stream_as_its_column_would(tmp_path, data, reference):
    path = _write(tmp_path / "g.parquet", *data)
    r = compare_stream(path, label="y", legacy="a", new=lambda cols: cols["b"], key="id", metrics=METRICS,
                       margins=MARGINS, n_boot=N_BOOT, seed=5, chunk_rows=300, side_columns=["b"])
    assert r.to_dict() == reference


def test_a_side_returning_the_wrong_shape_is_refused(tmp_path, data):
    path = _write(tmp_path / "g.parquet", *data)
    with pytest.raises(ScorerError, match=r"the legacy side returned shape \(499,\) for chunk 0 \(rows 0-499\)"):
        compare_stream(path, label="y", legacy=lambda cols: cols["a"][:-1], new="b", key="id", metrics=("logloss",),
                       chunk_rows=500, side_columns=["a"])


def test_refusals(tmp_path, data):
    keys, y, a, b = data
    path = _write(tmp_path / "g.parquet", *data)
    with pytest.raises(ParityInputError, match="equals the legacy scores"):
        compare_stream(path, label="y", legacy="a", new="a", key="id", metrics=("logloss",))
    dup = _write(tmp_path / "d.parquet", np.where(keys == keys[5], keys[6], keys), y, a, b)
    with pytest.raises(ParityInputError, match=r"repeats id=") as e:
        _stream(dup, 100)
    assert e.value.column == "id"
    with pytest.raises(ParityInputError, match=r"computed per query group: pass groups \(--group COL\)"):
        _stream(path, 100, metrics=("ndcg@5",), margins=None)
    with pytest.raises(ParityInputError, match="no column 'score'"):
        compare_stream(path, label="y", legacy="score", new="b", key="id")
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.int64()), "y": pa.array([], pa.int64()),
                             "a": pa.array([], pa.float64()), "b": pa.array([], pa.float64())}), empty)
    with pytest.raises(ParityInputError, match="has no rows"):
        _stream(empty, 100)


def test_a_key_repeated_within_a_chunk_is_named_with_its_chunk_and_rows(tmp_path, data):
    keys, y, a, b = data
    ks = keys.copy()
    ks[[130, 171]] = ks[120]  # rows 120, 130 and 171 of chunk 1 (rows 100-199) share a key
    path = _write(tmp_path / "d.parquet", ks, y, a, b)
    with pytest.raises(ParityInputError) as e:  # the bootstrap's weights are keyed by row: checked chunk by chunk
        _stream(path, 100, metrics=("calibration_ratio",), margins={"calibration_ratio": 0.05})
    assert str(e.value) == (f"{path}: key column 'id' repeats id={ks[120].item()!r} in chunk 1 (rows 100-199), rows "
                            "120 and 130 (2 repeated key(s) in that chunk); each row needs its own key")
    assert (e.value.column, e.value.file) == ("id", str(path))


def test_a_key_repeated_across_a_folders_files_names_both_files_and_their_rows(tmp_path, data):
    keys, y, a, b = data
    folder = tmp_path / "parts"
    folder.mkdir()
    ks = keys.copy()
    ks[700] = ks[40]  # row 40 of the first file, row 100 of the second (rows 600-...)
    _write(folder / "part-0.parquet", ks[:600], y[:600], a[:600], b[:600])
    _write(folder / "part-1.parquet", ks[600:], y[600:], a[600:], b[600:])
    assert np.unique(ks[:600]).size == 600 and np.unique(ks[600:]).size == ks.shape[0] - 600
    with pytest.raises(ParityInputError) as e:  # logloss only: no bootstrap, the keys are checked once, sorted
        _stream(folder, 250, metrics=("logloss",), margins={"logloss": 0.05})
    k = ks[40].item()
    assert str(e.value) == (f"{folder}: key column 'id' repeats id={k!r} at chunk 0, row 40 (id={k!r}) in "
                            f"{folder / 'part-0.parquet'} (its row 40) and chunk 2, row 700 (id={k!r}) in "
                            f"{folder / 'part-1.parquet'} (its row 100) (1 repeated key(s)); each row needs its "
                            "own key")
    assert (e.value.column, e.value.file) == ("id", str(folder))


def test_a_file_of_a_folder_without_a_named_column_is_named_not_read_as_nulls(tmp_path):
    # pyarrow takes a folder's schema from one file and reads a column another file lacks as nulls;
    # the error names the file without the column, not a row of it.
    rng = np.random.default_rng(4)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        n = 200
        cols = {"id": np.arange(n) + 1000 * i, "y": (rng.random(n) < 0.3).astype(np.int64), "a": rng.random(n),
                "b": rng.random(n), "w": rng.random(n) + 0.5}
        if i == 2:
            del cols["w"]
        pq.write_table(pa.table(cols), folder / f"part-{i}.parquet")
    with pytest.raises(ParityInputError, match=r"part-2\.parquet: no column 'w', which the other files of \S+parts "
                                               r"have; its columns: \['id', 'y', 'a', 'b'\]") as info:
        compare_stream(folder, label="y", legacy="a", new="b", key="id", weight="w", metrics=("logloss",),
                       margins={"logloss": 0.05}, n_boot=20)
    assert (info.value.column, info.value.file) == ("w", str(folder / "part-2.parquet"))


def _parts(folder, last):
    """Three files of one folder; ``last(cols)`` changes the third file's columns."""
    rng = np.random.default_rng(6)
    folder.mkdir()
    for i in range(3):
        n = 200
        cols = {"id": pa.array(np.arange(n) + 1000 * i), "y": pa.array((rng.random(n) < 0.3).astype(np.int64)),
                "a": pa.array(rng.random(n)), "b": pa.array(rng.random(n))}
        pq.write_table(pa.table(last(cols) if i == 2 else cols), folder / f"part-{i}.parquet")
    return folder


@pytest.mark.parametrize("change, kind", [
    (lambda c: {**c, "b": pa.array([repr(v) for v in c["b"].to_pylist()])}, "string"),  # text that parses as numbers
    (lambda c: {**c, "b": pa.array(np.asarray(c["b"]) > 0.5)}, "bool"),
], ids=["text-scores", "bool-scores"])
def test_a_file_of_a_folder_whose_column_has_another_type_is_refused_not_cast(tmp_path, change, kind):
    folder = _parts(tmp_path / "parts", change)
    with pytest.raises(ParityInputError, match=rf"part-2\.parquet: column 'b' is {kind}, but double in \S+part-0\.parquet; "
                                               r"store it with one type in every file") as info:
        compare_stream(folder, label="y", legacy="a", new="b", key="id", metrics=("brier",), margins={"brier": 0.05},
                       n_boot=20)
    assert (info.value.column, info.value.file) == ("b", str(folder / "part-2.parquet"))


def test_files_of_a_folder_may_differ_in_integer_width(tmp_path):
    folder = _parts(tmp_path / "parts", lambda c: {**c, "id": pa.array(np.asarray(c["id"]), type=pa.int32())})
    r = compare_stream(folder, label="y", legacy="a", new="b", key="id", metrics=("brier",), margins={"brier": 0.05},
                       n_boot=20)
    assert r.n_rows == 600


def test_a_null_in_a_file_of_a_folder_names_that_file_and_its_row(tmp_path):
    def with_null(c):
        b = c["b"].to_pylist()
        b[5] = None
        return {**c, "b": pa.array(b, type=pa.float64())}

    folder = _parts(tmp_path / "parts", with_null)
    with pytest.raises(ParityInputError, match=r"column 'b' is null at chunk \d+, row 405 \(id=2005\) in "
                                               r"\S+part-2\.parquet \(its row 5\)"):
        compare_stream(folder, label="y", legacy="a", new="b", key="id", metrics=("brier",), margins={"brier": 0.05},
                       n_boot=20, chunk_rows=64)
