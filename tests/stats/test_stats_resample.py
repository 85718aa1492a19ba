"""The bootstrap's resamples and their sums (harness.stats._resample): the numba and numpy engines
give identical indices and bit-identical sums, the sums follow the documented order of additions
(checked against a slow Python loop), and the engine falls back to numpy when numba is missing or
disabled. The protocol itself is tested against a slow reference in test_stats_bootstrap.py."""
from __future__ import annotations

import importlib.util
import math
import os
import sys

import numpy as np
import pytest

from harness.stats import _resample as R
from harness.stats.bootstrap import paired_bootstrap

BLOCK = 2**R.RESAMPLE_BLOCK_BITS
SIZES = [1, 5, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 1_234, 4 * BLOCK]


@pytest.fixture
def fresh_engine():
    """Engine choice re-read from the environment inside the test, and forgotten after it."""
    R._numba_kernels.cache_clear()
    yield
    R._numba_kernels.cache_clear()


@pytest.fixture
def numba_kernels(fresh_engine, monkeypatch):
    monkeypatch.delenv("PARITY_NUMBA", raising=False)
    if importlib.util.find_spec("numba") is None:
        if os.environ.get("CI"):
            pytest.fail("numba is missing: the test extra installs it, and CI must test the compiled engine")
        pytest.skip("numba is not installed (pip install -e '.[test]'); the numpy engine is tested elsewhere")
    kern = R._numba_kernels()
    assert kern is not None and R.engine() == "numba"
    return kern


def slow_sum(col: np.ndarray, idx: np.ndarray) -> float:
    """The documented order, one Python float addition at a time: draw j goes to lane j % 4, each
    lane starts at +0.0 and adds in draw order, then (lane0 + lane1) + (lane2 + lane3)."""
    lanes = [0.0, 0.0, 0.0, 0.0]
    for j, i in enumerate(idx.tolist()):
        lanes[j % 4] += float(col[i])
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])


def columns(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    wild = rng.normal(size=n) * 10.0 ** rng.integers(-8, 9, n)  # magnitudes 1e-8..1e8: order matters
    return [rng.normal(size=n), wild, rng.integers(0, 2, n).astype(np.float64)]


@pytest.mark.parametrize("n", SIZES)
def test_engines_draw_identical_indices(n, numba_kernels):
    for b in (0, 5):
        r = R.draw(17, b, n)
        want = R._np_indices(r)
        got = R.indices(r)
        assert got.dtype == np.intp and np.array_equal(got, want)
        assert want.shape == (n,) and want.min() >= 0 and want.max() < n


@pytest.mark.parametrize("n", SIZES)
def test_engines_sum_bit_identically_in_the_documented_order(n, numba_kernels):
    cols = columns(n, seed=n)
    rs = [R.draw(8, b, n) for b in range(3)]
    want = [[slow_sum(c, R._np_indices(r)) for c in cols] for r in rs]
    assert [R._np_column_sums(r, cols).tolist() for r in rs] == want  # numpy engine
    # numba engine, a batch at a time: pairs of columns, then an odd column alone
    assert R.column_sums(rs, cols).tolist() == want
    assert R.column_sums(rs[1:2], cols[:1]).tolist() == [want[1][:1]]


def test_sums_are_accurate():
    """Four sequential lanes lose little against the exactly rounded sum (math.fsum)."""
    n = 10 * BLOCK + 77
    cols = columns(n, seed=1)
    rs = [R.draw(2, b, n) for b in range(3)]
    for r, got in zip(rs, R.column_sums(rs, cols)):
        idx = R.indices(r)
        for c, s in zip(cols, got):
            exact = math.fsum(c[idx].tolist())
            assert abs(s - exact) <= 1e-12 * math.fsum(np.abs(c[idx]).tolist())


def test_special_values_agree_between_engines(numba_kernels):
    n = 2 * BLOCK + 9
    rng = np.random.default_rng(0)
    nan_col = rng.normal(size=n)
    nan_col[rng.integers(0, n, 50)] = np.nan
    inf_col = np.zeros(n)
    inf_col[:: 97] = np.inf
    inf_col[1:: 97] = -np.inf
    neg_zero = np.full(n, -0.0)
    rs = [R.draw(3, b, n) for b in range(4)]
    for r, got in zip(rs, R.column_sums(rs, [nan_col, inf_col, neg_zero])):
        want = R._np_column_sums(r, [nan_col, inf_col, neg_zero])
        assert np.array_equal(got, want, equal_nan=True)
        assert np.isnan(got[0]) and math.copysign(1.0, got[2]) == 1.0  # lanes start at +0.0
        assert math.copysign(1.0, want[2]) == 1.0


def test_parity_numba_0_selects_numpy(fresh_engine, monkeypatch):
    monkeypatch.setenv("PARITY_NUMBA", "0")
    assert R._numba_kernels() is None and R.engine() == "numpy"


def test_missing_numba_falls_back_to_numpy(fresh_engine, monkeypatch):
    monkeypatch.delenv("PARITY_NUMBA", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.delitem(sys.modules, "harness.stats._resample_numba", raising=False)
    assert R.engine() == "numpy"
    r = R.draw(1, 0, BLOCK + 3)
    assert np.array_equal(R.indices(r), R._np_indices(r))


@pytest.mark.parametrize("name", ["logloss", "rmse", "mae", "calibration_ratio", "auc", "ece"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bootstrap_replicates_do_not_depend_on_the_engine(name, weighted, numba_kernels, monkeypatch):
    rng = np.random.default_rng(6)
    n = 2 * BLOCK + 501
    y = (rng.random(n) < 0.2).astype(int)
    z = rng.normal(size=n) + y
    pa = 1 / (1 + np.exp(-(z + rng.normal(scale=0.5, size=n) - 1)))
    pb = 1 / (1 + np.exp(-(z + rng.normal(scale=0.5, size=n) - 1)))
    if name in ("rmse", "mae"):
        y = z
    w = rng.integers(1, 4, n).astype(float) if weighted else None
    compiled = paired_bootstrap(name, y, pa, pb, sample_weight=w, n_boot=40, seed=9).replicates  # > 1 batch
    monkeypatch.setenv("PARITY_NUMBA", "0")
    R._numba_kernels.cache_clear()
    assert R.engine() == "numpy"
    plain = paired_bootstrap(name, y, pa, pb, sample_weight=w, n_boot=40, seed=9).replicates
    assert np.array_equal(compiled, plain)
