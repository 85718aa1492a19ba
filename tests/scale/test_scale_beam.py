"""compare_beam on the DirectRunner equals compare_stream (same exact sums, same DeLong bits);
skipped when Apache Beam is not installed (it is an optional extra)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import ParityInputError
from harness.scale import compare_stream
from harness.scale.beam import beam_available

pytestmark = pytest.mark.skipif(not beam_available(), reason="apache_beam is not installed (optional extra: "
                                "pip install apache-beam); the Beam runner is not tested here")

METRICS = ("auc", "logloss", "brier")
MARGINS = {"auc": 0.01, "logloss": 0.01, "brier": 0.005}


@pytest.fixture
def golden(tmp_path):
    rng = np.random.default_rng(7)
    n = 5000
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), 3)
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0, 1)
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"id": rng.permutation(n), "y": y, "a": a, "b": b}), path, row_group_size=700)
    return path


@pytest.mark.parametrize("n_ranges", [1, 9])
def test_beam_equals_compare_stream(golden, n_ranges):
    from harness.scale.beam import compare_beam

    r = compare_beam(golden, label="y", legacy="a", new="b", key="id", metrics=METRICS, margins=MARGINS,
                     n_ranges=n_ranges)
    s = compare_stream(golden, label="y", legacy="a", new="b", key="id", metrics=METRICS, margins=MARGINS)
    assert r.to_dict() == s.to_dict()


def test_beam_refuses_what_it_does_not_run(golden):
    from harness.scale.beam import compare_beam

    with pytest.raises(ParityInputError, match="not on the Beam runner"):
        compare_beam(golden, label="y", legacy="a", new="b", key="id", metrics=("ece",))


def test_cli_runner_beam_writes_the_stream_document(golden, tmp_path):
    import argparse
    import json

    from harness.cli.compare import register
    from harness.scale.cli import add_stream_arguments, compare_stream_command

    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    register(sub)
    add_stream_arguments(sub.choices["compare"])

    def _args(path, *extra):
        return ap.parse_args(["compare", str(path), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                              "--margin", "auc=0.01,logloss=0.01,brier=0.005", *extra])

    out_b, out_s = tmp_path / "b.json", tmp_path / "s.json"
    assert compare_stream_command(_args(golden, "--stream", "--runner", "beam", "--json", str(out_b))) == 0
    assert compare_stream_command(_args(golden, "--stream", "--json", str(out_s))) == 0
    b, s = json.loads(out_b.read_text()), json.loads(out_s.read_text())
    assert b.pop("stream")["runner"] == "beam" and s.pop("stream")["runner"] == "process"
    assert b == s
