"""compare_beam on the DirectRunner (in process and multi-process) equals compare_stream: the same
exact sums, the same AUC bits, DeLong's variance from merged power sums within 1e-12.

Skipped when Apache Beam is not installed (an optional extra), except where PARITY_REQUIRE_BEAM=1 (CI's
Beam venv), where a missing Beam fails."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import ParityInputError
from scale_docs import assert_same as _assert_same
from harness.scale import compare_stream
from harness.scale.beam import beam_available

pytestmark = pytest.mark.skipif(not beam_available() and os.environ.get("PARITY_REQUIRE_BEAM") != "1",
                                reason="apache_beam is not installed (optional extra: pip install -e '.[beam]'); "
                                "the Beam runner is not tested here")

METRICS = ("auc", "logloss", "brier")
MARGINS = {"auc": 0.01, "logloss": 0.01, "brier": 0.005}
MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _write(path, n, seed=7, row_group_size=700, decimals=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), decimals)  # ties
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0, 1).astype(np.float32)  # a TF side's precision
    pq.write_table(pa.table({"id": rng.permutation(n) * 7 - n, "y": y, "a": a, "b": b}), path,
                   row_group_size=row_group_size)
    return path


@pytest.fixture
def golden(tmp_path):
    return _write(tmp_path / "g.parquet", 5000)


def _ref(path, **kw):
    return compare_stream(path, label="y", legacy="a", new="b", key="id", **kw)


@pytest.mark.parametrize("n_ranges,n_buckets", [(1, 1), (9, 4), (16, 16)])
def test_beam_equals_compare_stream(golden, n_ranges, n_buckets):
    from harness.scale.beam import compare_beam

    r = compare_beam(golden, label="y", legacy="a", new="b", key="id", metrics=METRICS, margins=MARGINS,
                     n_ranges=n_ranges, n_buckets=n_buckets)
    s = _ref(golden, metrics=METRICS, margins=MARGINS)
    auc_b, auc_s = r.entries[0], s.entries[0]
    assert (auc_b.legacy, auc_b.new, auc_b.diff) == (auc_s.legacy, auc_s.new, auc_s.diff)  # the same bits
    _assert_same(r.to_dict(), s.to_dict())


def test_beam_multi_process_equals_compare_stream(tmp_path):
    from harness.scale.beam import compare_beam

    path = tmp_path / "ds"
    path.mkdir()
    for i in range(3):  # a folder of files, as compare_stream reads it
        _write(path / f"part-{i}.parquet", 3000, seed=i, row_group_size=1000)
        t = pq.read_table(path / f"part-{i}.parquet")
        pq.write_table(t.set_column(0, "id", pa.array(t.column("id").to_numpy() * 3 + i)), path / f"part-{i}.parquet",
                       row_group_size=1000)
    margins = {"auc": 0.01, "logloss": 0.01, "brier": 0.005, "rmse": 0.01, "mae": 0.01}
    metrics = ("auc", "logloss", "brier", "rmse", "mae")
    r = compare_beam(path, label="y", legacy="a", new="b", key="id", metrics=metrics, margins=margins, n_ranges=5,
                     n_buckets=3, pipeline_options=MULTI)
    _assert_same(r.to_dict(), _ref(path, metrics=metrics, margins=margins).to_dict())


def test_beam_names_the_file_of_a_folder_that_lacks_a_column(tmp_path):
    from harness.scale.beam import compare_beam

    path = tmp_path / "ds"
    path.mkdir()
    for i in range(2):
        _write(path / f"part-{i}.parquet", 300, seed=i)
    t = pq.read_table(path / "part-1.parquet")
    pq.write_table(t.set_column(0, "id", pa.array(t.column("id").to_numpy() + 10**6)).drop(["b"]),
                   path / "part-1.parquet")
    with pytest.raises(ParityInputError, match=r"part-1\.parquet: no column 'b', which the other files of"):
        compare_beam(path, label="y", legacy="a", new="b", key="id", metrics=("logloss",))


def test_beam_refuses_what_it_does_not_run(golden):
    from harness.scale.beam import compare_beam

    with pytest.raises(ParityInputError, match="not on the Beam runner"):
        compare_beam(golden, label="y", legacy="a", new="b", key="id", metrics=("ece",))


@pytest.mark.parametrize("metrics", [("auc",), ("logloss",)])
def test_repeated_keys_are_refused_as_compare_stream_refuses_them(tmp_path, metrics):
    from harness.scale.beam import compare_beam

    path = _write(tmp_path / "g.parquet", 600)
    t = pq.read_table(path)
    ids = t.column("id").to_numpy().copy()
    ids[[10, 300]] = ids[5]
    pq.write_table(t.set_column(0, "id", pa.array(ids)), path, row_group_size=100)
    with pytest.raises(ParityInputError) as ref:
        _ref(path, metrics=metrics)
    with pytest.raises(ParityInputError) as got:
        compare_beam(path, label="y", legacy="a", new="b", key="id", metrics=metrics, n_buckets=4)
    assert str(got.value) == str(ref.value)


def test_a_key_repeated_across_a_folders_files_is_named_as_compare_stream_names_it(tmp_path):
    from harness.scale.beam import compare_beam

    t = pq.read_table(_write(tmp_path / "g.parquet", 600))
    ids = t.column("id").to_numpy().copy()
    ids[450] = ids[20]  # row 20 of the first file, row 150 of the second
    t = t.set_column(0, "id", pa.array(ids))
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(t.slice(0, 300), folder / "part-0.parquet")
    pq.write_table(t.slice(300), folder / "part-1.parquet")
    with pytest.raises(ParityInputError) as ref:
        _ref(folder, metrics=("auc",))
    with pytest.raises(ParityInputError) as got:
        compare_beam(folder, label="y", legacy="a", new="b", key="id", metrics=("auc",), n_buckets=4)
    assert str(got.value) == str(ref.value)
    assert f"in {folder / 'part-0.parquet'} (its row 20)" in str(got.value)
    assert f"in {folder / 'part-1.parquet'} (its row 150)" in str(got.value)


def test_a_bad_row_is_named_by_file_column_and_key_and_nothing_is_reported(tmp_path):
    from harness.scale.beam import compare_beam

    path = _write(tmp_path / "g.parquet", 600)
    t = pq.read_table(path)
    b = t.column("b").to_numpy().astype(np.float64)
    b[[50, 400]] = 1.5
    ids = t.column("id").to_numpy()
    pq.write_table(t.set_column(3, "b", pa.array(b)), path, row_group_size=100)
    with pytest.raises(ParityInputError) as got:
        compare_beam(path, label="y", legacy="a", new="b", key="id", metrics=METRICS)
    first = min(ids[50], ids[400]).item()
    text = str(got.value)
    assert str(path) in text and "'b'" in text and f"id={first!r}" in text and "1.5" in text
    assert got.value.column == "b"


def test_two_constant_sides_are_inconclusive_as_in_memory(tmp_path):
    from harness.scale.beam import compare_beam

    n = 400
    y = np.arange(n) % 2
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": np.arange(n), "y": y, "a": np.full(n, 0.3), "b": np.full(n, 0.6)}), path)
    r = compare_beam(path, label="y", legacy="a", new="b", key="id", metrics=("auc",), margins={"auc": 0.01})
    s = _ref(path, metrics=("auc",), margins={"auc": 0.01})
    assert r.to_dict() == s.to_dict()
    assert r.entries[0].verdict.value == "INCONCLUSIVE"


def test_missing_column_and_file_are_input_errors(golden, tmp_path):
    from harness.scale.beam import compare_beam

    with pytest.raises(ParityInputError, match="no column 'c'"):
        compare_beam(golden, label="y", legacy="a", new="c", key="id", metrics=METRICS)
    with pytest.raises(ParityInputError, match="no such file"):
        compare_beam(tmp_path / "nope.parquet", label="y", legacy="a", new="b", key="id", metrics=METRICS)


def test_cli_runner_beam_writes_the_stream_document(golden, tmp_path):
    import argparse
    import json

    from harness.cli.compare import register
    from harness.scale.cli import compare_stream_command

    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    register(sub)  # parity compare registers the stream arguments itself

    def _args(path, *extra):
        return ap.parse_args(["compare", str(path), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                              "--margin", "auc=0.01,logloss=0.01,brier=0.005", *extra])

    out_b, out_s = tmp_path / "b.json", tmp_path / "s.json"
    assert compare_stream_command(_args(golden, "--stream", "--runner", "beam", "--json", str(out_b))) == 0
    assert compare_stream_command(_args(golden, "--stream", "--json", str(out_s))) == 0
    b, s = json.loads(out_b.read_text()), json.loads(out_s.read_text())
    assert b.pop("stream")["runner"] == "beam" and s.pop("stream")["runner"] == "process"
    _assert_same(b, s)


def test_results_come_back_through_temp_location_and_are_cleaned_up(golden, tmp_path):
    """The path a remote runner takes (results under --temp_location), here on the local filesystem."""
    from harness.scale.beam import compare_beam

    temp = tmp_path / "beam-temp"
    temp.mkdir()
    r = compare_beam(golden, label="y", legacy="a", new="b", key="id", metrics=METRICS, margins=MARGINS,
                     pipeline_options=["--temp_location", str(temp)])
    _assert_same(r.to_dict(), _ref(golden, metrics=METRICS, margins=MARGINS).to_dict())
    assert not [p for p in temp.rglob("*") if p.is_file()]


def test_pipeline_options_from_the_environment_and_unknown_flags_refused(monkeypatch):
    from harness.scale.beam import _options

    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "--direct_num_workers=2 --direct_running_mode=multi_processing")
    got = _options(None).get_all_options()
    assert (got["direct_num_workers"], got["direct_running_mode"]) == (2, "multi_processing")
    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "--direct_num_workrs=2")
    with pytest.raises(ParityInputError, match=r"PARITY_BEAM_OPTIONS: \['direct_num_workrs'\] are not Beam"):
        _options(None)
    with pytest.raises(ParityInputError, match="pipeline_options"):
        _options(["--runner=DirectRunner", "--temp_locaton=/tmp"])
    with pytest.raises(ParityInputError, match="expected PipelineOptions or a list of flags"):
        _options("--runner=DirectRunner")


def test_a_bad_flag_value_is_an_input_error_not_beams_exit(monkeypatch, golden, capsys):
    # Beam's own argparse exits the process on a bad value; the CLI must say which flag and exit 2.
    from harness.cli import main
    from harness.scale.beam import _options

    with pytest.raises(ParityInputError, match=r"pipeline_options .*invalid int value: 'abc'") as exc:
        _options(["--direct_num_workers=abc"])
    assert exc.value.argument == "pipeline_options" and exc.value.reason == "invalid Beam pipeline option"
    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "--direct_num_workers=abc")
    code = main(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                 "--metrics", "logloss", "--margin", "logloss=0.01", "--stream", "--runner", "beam"])
    err = capsys.readouterr().err
    assert code == 2 and "PARITY_BEAM_OPTIONS" in err and "invalid int value: 'abc'" in err, err
