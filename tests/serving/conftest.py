"""A tiny golden dataset and suite files for the serve-bench CLI tests (numpy sides, no TensorFlow)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest


def _write_tiny_dataset(root: Path, n: int = 2000) -> Path:
    from harness.golden import Column, GeneratedDataset, write_dataset
    from harness.golden.writer import arrow_table

    rng = np.random.default_rng(0)
    columns = (Column("row_id", "int64", "key"), Column("device", "string", "feature"),
               Column("x", "float64", "feature"), Column("click", "int64", "label"))
    x = rng.normal(size=n)
    arrays = {"row_id": np.arange(n, dtype=np.int64),
              "device": np.array(["desktop", "mobile", "tablet"], dtype=object)[rng.integers(0, 3, size=n)],
              "x": x, "click": (rng.random(n) < 1 / (1 + np.exp(-x))).astype(np.int64)}
    generated = GeneratedDataset(name="servetiny", version="1", description="tiny serve-bench data",
                                 columns=columns, splits={"eval": arrow_table(columns, arrays)})
    write_dataset(generated, dest_dir=root / "servetiny")
    return root


SUITE_FILE = '''
import time

import numpy as np

from harness.protocol import ModelPair
from harness.serving import CostGate, ServingGate
from harness.suite import Suite


class Side:
    def __init__(self, name, delay_s=0.0, fail=False):
        self.name, self.delay_s, self.fail = name, delay_s, fail

    def featurize(self, batch):
        return None

    def predict(self, batch):
        if self.fail:
            raise RuntimeError("scorer is down")
        if self.delay_s:
            time.sleep(self.delay_s)
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {{}}


def make_pair(dataset):
    return ModelPair(Side("legacy"), Side("new", {delay!r}, {fail!r}))


SUITE = Suite(name={name!r}, description="tiny serve-bench pair", dataset="servetiny", pair=make_pair,
              label="click")
# Until harness.suite.Suite has a `serving` field, the gates are set on the object.
SUITE.serving = [{gates}]
'''


@pytest.fixture
def serve_project(tmp_path, monkeypatch):
    import harness.cli

    golden = _write_tiny_dataset(tmp_path / "golden")
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(golden))
    if "serve_bench" not in harness.cli._COMMANDS:  # until the lead registers the command
        monkeypatch.setattr(harness.cli, "_COMMANDS", harness.cli._COMMANDS + ("serve_bench",))
    suites = tmp_path / "suites"
    suites.mkdir()

    def write_suite(name: str, *, delay: float = 0.0, fail: bool = False, gates: str = "") -> Path:
        (suites / f"test_{name}.py").write_text(
            textwrap.dedent(SUITE_FILE.format(name=name, delay=delay, fail=fail, gates=gates)), encoding="utf-8")
        return suites

    return write_suite
