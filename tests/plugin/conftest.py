"""Helpers for the plugin tests: a tiny golden dataset, suite files, and pytest run in a subprocess.

Each test builds a throwaway project in tmp_path (suite files + optional conftest) and runs
``python -m pytest`` there in a fresh process, the way CI does: the plugin is loaded through its
``pytest11`` entry point, and nothing (TensorFlow, a suite's cached result) leaks between runs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TIMEOUT_S = 300


def write_tiny_dataset(root: Path, name: str = "tiny", n: int = 600, seed: int = 0) -> Path:
    """A golden dataset of ``n`` rows (split 'eval'): key, group, two features, a click label."""
    from harness.golden import Column, GeneratedDataset, write_dataset
    from harness.golden.writer import arrow_table

    rng = np.random.default_rng(seed)
    columns = (
        Column("row_id", "int64", "key"),
        Column("request_id", "int64", "group"),
        Column("device", "string", "feature"),
        Column("x", "float64", "feature"),
        Column("click", "int64", "label"),
    )
    x = rng.normal(size=n)
    arrays = {
        "row_id": np.arange(n, dtype=np.int64),
        "request_id": np.repeat(np.arange(n // 6, dtype=np.int64), 6)[:n],
        "device": np.array(["desktop", "mobile", "tablet"], dtype=object)[rng.integers(0, 3, size=n)],
        "x": x,
        "click": (rng.random(n) < 1 / (1 + np.exp(-x))).astype(np.int64),
    }
    generated = GeneratedDataset(name=name, version="1", description="tiny plugin-test data", columns=columns,
                                 splits={"eval": arrow_table(columns, arrays)}, provenance={"seed": seed})
    write_dataset(generated, dest_dir=root / name)
    return root


# A suite over the tiny dataset whose two sides are plain numpy (no TensorFlow anywhere). NEW_SHIFT
# moves the new side's feature and scores, to make checks fail on purpose.
SUITE_FILE = '''
import numpy as np

from harness.protocol import ModelPair
from harness.suite import MetricGate, Suite

NEW_SHIFT = {shift!r}


class Side:
    def __init__(self, name, shift=0.0):
        self.name, self.shift = name, shift

    def featurize(self, batch):
        import pandas as pd

        return pd.DataFrame({{"x2": batch["x"].to_numpy() * 2.0 + self.shift}})

    def predict(self, batch):
        return 1.0 / (1.0 + np.exp(-(batch["x"].to_numpy() + self.shift)))

    def config(self):
        return {{"shift": self.shift}}


def make_pair(dataset):
    return ModelPair(Side("legacy"), Side("new", NEW_SHIFT))


SUITE = Suite(
    name={name!r}, description="tiny numpy pair", dataset="tiny", pair=make_pair, label="click",
    features=["x2"], slices={slices!r}, metrics={metrics}, known_gaps={known_gaps!r}, probes={probes},
    min_slice_size=10, n_boot=50,
)
'''


def suite_source(*, name: str = "tiny", shift: float = 0.0, slices=(), metrics: str = "[]", known_gaps=None,
                 probes: str = "None", extra: str = "") -> str:
    return textwrap.dedent(extra) + SUITE_FILE.format(name=name, shift=shift, slices=list(slices), metrics=metrics,
                                                      known_gaps=known_gaps or {}, probes=probes)


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def project(tmp_path: Path):
    """A tmp project: ``golden/`` with the tiny dataset, and a ``run(*args)`` that runs pytest there."""
    golden = write_tiny_dataset(tmp_path / "golden")
    proj = tmp_path / "proj"
    proj.mkdir()

    class Project:
        path = proj
        golden_dir = golden
        suite_source = staticmethod(suite_source)

        def write(self, relpath: str, text: str) -> Path:
            p = proj / relpath
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text), encoding="utf-8")
            return p

        def run(self, *args: str, env: dict[str, str] | None = None) -> Run:
            full_env = dict(os.environ, PARITY_GOLDEN_DIR=str(golden), PARITY_BASELINE_DIR=str(tmp_path / "baselines"),
                            PYTHONDONTWRITEBYTECODE="1")
            full_env.update(env or {})
            full_env.pop("PYTEST_ADDOPTS", None)
            cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args]
            proc = subprocess.run(cmd, cwd=proj, env=full_env, capture_output=True, text=True, timeout=TIMEOUT_S)
            return Run(proc.returncode, proc.stdout, proc.stderr)

    return Project()
