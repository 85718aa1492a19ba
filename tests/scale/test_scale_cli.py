"""The --stream entry (harness.scale.cli) on the parity compare namespace: same table and JSON as the
in-memory command, exit codes, refusals naming the flag."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.cli.compare import register
from harness.errors import ParityInputError
from harness.scale.cli import compare_stream_command
from harness.stats.compare import entry_id


def _parser():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    register(sub)  # parity compare registers the stream arguments itself
    return ap


@pytest.fixture
def golden(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = 1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n))))
    b = np.clip(a + rng.normal(scale=0.002, size=n), 0, 1)
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"id": rng.permutation(n), "y": y, "a": a, "b": b}), path, row_group_size=1000)
    return path


def _args(path, *extra):
    return _parser().parse_args(["compare", str(path), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                                 "--margin", "auc=0.02,logloss=0.02,brier=0.01", *extra])


def test_stream_json_matches_in_memory_compare(golden, tmp_path, capsys):
    out_s, out_m = tmp_path / "s.json", tmp_path / "m.json"
    assert compare_stream_command(_args(golden, "--stream", "--chunk-rows", "333", "--json", str(out_s))) == 0
    assert main(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                 "--margin", "auc=0.02,logloss=0.02,brier=0.01", "--json", str(out_m)]) == 0
    s, m = json.loads(out_s.read_text()), json.loads(out_m.read_text())
    assert s.pop("stream") == {"chunk_rows": 333, "runner": "process"}
    assert s["verdict"] == m["verdict"] == "EQUIVALENT"
    for es, em in zip(s["metrics"], m["metrics"]):
        assert es["name"] == em["name"] and es["verdict"] == em["verdict"]
        np.testing.assert_allclose(es["ci"], em["ci"], rtol=0, atol=1e-12)
    assert "auc" in capsys.readouterr().out


@pytest.fixture
def golden_weighted(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    z = rng.normal(size=n)
    q = np.repeat(np.arange(n // 5), 5)
    w = rng.gamma(2.0, size=n // 5)[q]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = 1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n))))
    b = np.clip(a + rng.normal(scale=0.002, size=n), 0, 1)
    dev = rng.choice(["mobile", "desktop"], size=n)
    ctry = rng.choice(["US", "DE"], size=n)
    path = tmp_path / "w.parquet"
    o = rng.permutation(n)
    pq.write_table(pa.table({"id": rng.permutation(n)[o], "y": y[o], "a": a[o], "b": b[o], "w": w[o], "q": q[o],
                             "device": dev[o], "country": ctry[o]}), path, row_group_size=700)
    return path


def test_stream_with_weight_group_and_slices_matches_in_memory(golden_weighted, tmp_path):
    flags = ["--label", "y", "--legacy", "a", "--new", "b", "--key", "id", "--weight", "w", "--group", "q",
             "--slice", "device,device+country", "--metrics", "auc,logloss,rmse,ndcg@3", "--bootstrap", "50",
             "--min-slice-size", "100", "--margin", "auc=0.02,logloss=0.02,rmse=0.02,ndcg@3=0.05"]
    out_s, out_m = tmp_path / "s.json", tmp_path / "m.json"
    rc_s = main(["compare", str(golden_weighted), *flags, "--stream", "--chunk-rows", "101", "--json", str(out_s)])
    rc_m = main(["compare", str(golden_weighted), *flags, "--json", str(out_m)])
    s, m = json.loads(out_s.read_text()), json.loads(out_m.read_text())
    assert rc_s == rc_m
    s.pop("stream")
    assert s["columns"] == m["columns"] and s["verdict"] == m["verdict"]
    ids = [entry_id(e["name"], e["slice"]) for e in s["metrics"]]
    assert ids == [entry_id(e["name"], e["slice"]) for e in m["metrics"]]
    assert "metrics/ndcg@3[device=mobile,country=US]" in ids
    for es, em in zip(s["metrics"], m["metrics"]):
        assert es["verdict"] == em["verdict"], es["name"]
        np.testing.assert_allclose(es["ci"], em["ci"], rtol=1e-9, atol=1e-12)


def test_exit_one_when_not_equivalent(golden):
    args = _parser().parse_args(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                                 "--margin", "auc=0.000001", "--stream"])
    assert compare_stream_command(args) == 1


@pytest.mark.parametrize("extra,flag", [
    (["--chunk-rows", "0"], "--chunk-rows"), (["--na-values", "NA"], "--na-values"),
    (["--slice", "nope"], "--slice"),
])
def test_refusals_name_the_flag(golden, extra, flag):
    with pytest.raises(ParityInputError, match=flag) as e:
        compare_stream_command(_args(golden, "--stream", *extra))
    assert e.value.argument == flag


def test_key_is_required(golden):
    args = _parser().parse_args(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--stream"])
    with pytest.raises(ParityInputError, match="--stream needs --key"):
        compare_stream_command(args)


def test_runner_beam_without_beam_says_how_to_get_it(golden):
    from harness.scale.beam import beam_available

    if beam_available():
        pytest.skip("apache_beam is installed here: tests/scale/test_scale_beam.py runs the Beam runner")
    with pytest.raises(ParityInputError, match="pip install"):
        compare_stream_command(_args(golden, "--stream", "--runner", "beam"))


@pytest.mark.parametrize("make, expected", [
    (lambda t: t.set_column(3, "b", t.column("a")),
     "column 'b' (--new): equals the legacy scores row for row"),
    (lambda t: t.set_column(1, "y", pa.array(np.zeros(t.num_rows, dtype=np.int64))),
     "column 'y' (--label): DeLong needs at least 2 positives and 2 negatives"),
], ids=["identical-scores", "one-class"])
def test_stream_errors_from_the_statistics_name_the_column_and_flag(golden, tmp_path, capsys, make, expected):
    """As the in-memory command does: the file, the user's column and its flag, and --allow-identical,
    not the Python API's names (score_new, y_true, allow_identical=True)."""
    path = tmp_path / "bad.parquet"
    pq.write_table(make(pq.read_table(golden)), path)
    assert main(["compare", str(path), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                 "--metrics", "auc", "--margin", "auc=0.02", "--stream"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {expected}" in err, err
    assert "score_new" not in err and "y_true" not in err and "allow_identical=True" not in err
