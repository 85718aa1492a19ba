"""parity compare --stream / --runner beam: bad input is said in the CLI's words, as in memory (the flag,
the row and its key), and flags that mean nothing without --stream are refused."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.scale.beam import beam_available

needs_beam = pytest.mark.skipif(not beam_available(), reason="apache_beam not installed (runs in /work/venv-beam)")


@pytest.fixture
def null_new(tmp_path):
    rng = np.random.default_rng(1)
    n = 900
    y = rng.integers(0, 2, n)
    a = rng.random(n)
    b = a + rng.normal(scale=0.01, size=n).clip(-a, 1 - a)
    ids = rng.permutation(n) + 1000
    bad = 412  # in the third chunk of 200 rows
    new = pa.array([None if i == bad else float(v) for i, v in enumerate(b)], pa.float64())
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"row_id": ids, "y": y, "old": a, "new": new}), path, row_group_size=300)
    return path, bad, int(ids[bad])


def _compare(path, *extra):
    return ["compare", str(path), "--label", "y", "--legacy", "old", "--new", "new", "--key", "row_id",
            "--margin", "auc=0.02", *extra]


def test_in_memory_null_names_flag_row_and_key(null_new, capsys):
    path, bad, key = null_new
    assert main(_compare(path)) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row {bad} (row_id={key})" in err, err


def test_streamed_null_names_flag_row_and_key(null_new, capsys):
    path, bad, key = null_new
    assert main(_compare(path, "--stream", "--chunk-rows", "200")) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row {bad} (row_id={key})" in err, err
    assert "Traceback" not in err


@needs_beam
def test_beam_null_names_flag_and_key(null_new, capsys):
    path, _, key = null_new
    assert main(_compare(path, "--stream", "--runner", "beam")) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row_id={key}" in err, err


@pytest.mark.parametrize("extra, flags", [(["--runner", "beam"], "--runner"), (["--runner", "process"], "--runner"),
                                          (["--chunk-rows", "10"], "--chunk-rows"),
                                          (["--runner", "beam", "--chunk-rows", "10"], "--runner and --chunk-rows")])
def test_stream_flags_without_stream_are_refused(null_new, capsys, extra, flags):
    path, _, _ = null_new
    assert main(_compare(path, *extra)) == 2
    err = capsys.readouterr().err
    assert f"{flags} only used with --stream" in err, err


@needs_beam
def test_beam_refusal_of_a_metric_names_flags_not_functions(null_new, capsys):
    path, _, _ = null_new
    assert main(_compare(path, "--stream", "--runner", "beam", "--metrics", "pr_auc")) == 2
    err = capsys.readouterr().err
    assert "--runner process" in err and "use compare_stream" not in err, err
