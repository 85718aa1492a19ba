"""`_poisson.Sweep` keeps one flag byte per row and derives the rest: its flags, runs and run ends equal
a slow Python reading of their definition (runs of equal scores in sweep order), in both engines, for
ascending and descending orders, ties and none."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from harness.stats import _poisson as P


def slow(score, order, pos):
    """(flags, run_start, run_end, run_end_all) straight from the definitions, one row at a time."""
    s = [float(score[i]) for i in order]
    p = [bool(pos[i]) for i in order]
    n = len(s)
    flags, starts, ends, run_end_all = [0] * n, [], [], [0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and s[j + 1] == s[i]:
            j += 1
        for t in range(i, j + 1):
            flags[t] = int(p[t])
            run_end_all[t] = j
        flags[j] |= 8
        if any(p[i:j + 1]):
            flags[i] |= 2
            flags[j] |= 4
            starts.append(i)
            ends.append(j)
        i = j + 1
    return flags, starts, ends, run_end_all


@pytest.fixture(params=["numba", "numpy"])
def engine(request, monkeypatch):
    if request.param == "numba" and importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv("PARITY_NUMBA", "1" if request.param == "numba" else "0")
    P._kernels.cache_clear()
    yield request.param
    P._kernels.cache_clear()


@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sweep_flags_runs_and_run_ends_follow_their_definition(engine, tied, descending, dtype):
    rng = np.random.default_rng(3)
    n = 2000
    score = (rng.integers(0, 40, n) / 7.0 if tied else rng.random(n)).astype(dtype)
    pos = rng.random(n) < 0.2
    pos[:5] = False  # and a run or two without positives among the ties
    lo, hi = P.split(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64))
    order = np.argsort(score, kind="stable")
    if descending:
        order = order[::-1]
    sw = P.Sweep(lo, hi, order, score, pos, None)
    flags, starts, ends, run_end_all = slow(score, order, pos)
    assert sw.flags.dtype == np.int8 and sw.flags.tolist() == flags
    assert sw.run_start.tolist() == starts and sw.run_end.tolist() == ends
    assert sw.run_end_all.dtype == np.int64 and sw.run_end_all.tolist() == run_end_all
    assert sw.pos.tolist() == [bool(pos[i]) for i in order]
    assert np.array_equal(sw.lo, lo[order]) and np.array_equal(sw.hi, hi[order]) and sw.w is None
