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
{extra}
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

    def write_suite(name: str, *, delay: float = 0.0, fail: bool = False, gates: str = "", extra: str = "") -> Path:
        (suites / f"test_{name}.py").write_text(
            textwrap.dedent(SUITE_FILE.format(name=name, delay=delay, fail=fail, gates=gates, extra=extra)),
            encoding="utf-8")
        return suites

    return write_suite


@pytest.fixture
def serve_golden(tmp_path, monkeypatch):
    """The tiny golden dataset ``servetiny`` (2,000 rows), found through PARITY_GOLDEN_DIR."""
    golden = _write_tiny_dataset(tmp_path / "golden")
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(golden))
    return golden


# A suite file declaring serving gates the way a user does (Suite(serving=...)), for runs of both shells
# in a subprocess; the new side sleeps NEW_DELAY_S per call.
GATED_SUITE = '''
import time

import numpy as np

from harness.protocol import ModelPair
from harness.serving import CostGate, ServingGate
from harness.suite import MetricGate, Suite


class Side:
    def __init__(self, name, delay_s):
        self.name, self.delay_s = name, delay_s

    def featurize(self, batch):
        return None

    def predict(self, batch):
        time.sleep(self.delay_s)
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {{}}


def make_pair(dataset):
    return ModelPair(Side("legacy", {legacy_delay!r}), Side("new", {new_delay!r}))


SUITE = Suite(name={name!r}, description="tiny pair with serving gates", dataset="servetiny", pair=make_pair,
              label="click", metrics=[MetricGate("auc", 0.05)],
              serving=[ServingGate("p99", batch_size=1, max_ratio=1.5, reason="the online path's tail budget"),
                       CostGate("time_per_1k", batch_size=32, max_ratio=1.5, reason="fleet sizing")])
'''


def write_gated_suite(folder: Path, name: str = "gated", *, legacy_delay: float = 0.0,
                      new_delay: float = 0.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test_{name}.py"
    path.write_text(GATED_SUITE.format(name=name, legacy_delay=legacy_delay, new_delay=new_delay), encoding="utf-8")
    return path


@pytest.fixture
def gated_suite():
    """``gated_suite(folder, name=..., legacy_delay=..., new_delay=...)`` writes GATED_SUITE there."""
    return write_gated_suite
