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


def test_exit_one_when_not_equivalent(golden):
    args = _parser().parse_args(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                                 "--margin", "auc=0.000001", "--stream"])
    assert compare_stream_command(args) == 1


@pytest.mark.parametrize("extra,flag", [
    (["--weight", "a"], "--weight"), (["--group", "id"], "--group"), (["--slice", "y"], "--slice"),
    (["--chunk-rows", "0"], "--chunk-rows"),
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
    with pytest.raises(ParityInputError, match="pip install apache-beam"):
        compare_stream_command(_args(golden, "--stream", "--runner", "beam"))
