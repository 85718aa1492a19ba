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
