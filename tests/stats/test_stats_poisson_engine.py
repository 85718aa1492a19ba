"""The Poisson bootstrap's engines (harness.stats._poisson): the numba and numpy engines give
bit-identical one-pass sums and sweeps, which follow the documented order of additions (checked
against slow Python loops); the engine falls back to numpy when numba is missing or disabled; and
numba's cache goes to a user cache directory, never into the source tree. The weights' protocol is
tested against a slow reference in test_stats_bootstrap.py."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.stats import _poisson as P
from harness.stats.bootstrap import _seed_base, hash_keys, paired_bootstrap


@pytest.fixture
def fresh_engine():
    """Engine choice re-read from the environment inside the test, and forgotten after it."""
    P._kernels.cache_clear()
    yield
    P._kernels.cache_clear()


@pytest.fixture
def numba_kernels(fresh_engine, monkeypatch):
    monkeypatch.delenv("PARITY_NUMBA", raising=False)
    if importlib.util.find_spec("numba") is None:
        if os.environ.get("CI"):
            pytest.fail("numba is missing: the test extra installs it, and CI must test the compiled engine")
        pytest.skip("numba is not installed (pip install -e '.[test]'); the numpy engine is tested elsewhere")
    kern = P._kernels()
    assert kern is not None and P.engine() == "numba"
    return kern


def columns(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    wild = rng.normal(size=n) * 10.0 ** rng.integers(-8, 9, n)  # magnitudes 1e-8..1e8: order matters
    return [rng.normal(size=n), wild, rng.integers(0, 2, n).astype(np.float64)]


def test_parity_numba_0_selects_numpy(fresh_engine, monkeypatch):
    monkeypatch.setenv("PARITY_NUMBA", "0")
    assert P._kernels() is None and P.engine() == "numpy"


def test_missing_numba_falls_back_to_numpy(fresh_engine, monkeypatch):
    monkeypatch.delenv("PARITY_NUMBA", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.delitem(sys.modules, "harness.stats._poisson_numba", raising=False)
    assert P.engine() == "numpy"
    lo, hi = units(100)
    assert np.array_equal(P.fill_counts(lo, hi, 3), P.counts(lo, hi, 3))


def slow_running(terms) -> float:
    """A running sum from +0.0, one Python float addition at a time."""
    acc = 0.0
    for t in terms:
        acc += float(t)
    return acc


def units(n: int, seed: int = 3):
    return P.split(_seed_base(hash_keys(np.arange(n) * 5 + 1), seed))


def sweep_data(n: int, seed: int, tied: bool):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    s = rng.normal(size=n) + y
    if tied:
        s = np.round(s, 1)
    p = 1 / (1 + np.exp(-s))
    w = rng.integers(1, 4, n) * rng.choice([0.5, 1.0, 1.3], n)
    return y, s, p, w


def slow_auc_ap(k, w, y, s, order, stat):
    """`_poisson`'s auc / ap contract, run by run, in Python floats."""
    ww = k * (1.0 if w is None else w)
    rows = order.tolist()
    runs = [[rows[0]]]
    for i in rows[1:]:
        (runs[-1].append(i) if s[i] == s[runs[-1][0]] else runs.append([i]))
    pos_acc = neg_acc = total = 0.0
    for run in runs:
        p_s, n_s = pos_acc, neg_acc
        for i in run:
            if y[i]:
                pos_acc += float(ww[i])
            else:
                neg_acc += float(ww[i])
        if any(y[i] for i in run):
            if stat == "auc":
                total += (pos_acc - p_s) * (n_s + 0.5 * (neg_acc - n_s))
            elif pos_acc - p_s > 0:
                total += (pos_acc - p_s) * (pos_acc / (pos_acc + neg_acc))
    return (total, pos_acc, neg_acc) if stat == "auc" else (total, pos_acc)


@pytest.mark.parametrize("n", [1, 7, 300, 5000])
def test_poisson_sums_follow_the_contract_and_agree_between_engines(n, numba_kernels, monkeypatch):
    lo, hi = units(n)
    cols = np.stack(columns(n, seed=n))
    got = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("PARITY_NUMBA", "1" if eng == "numba" else "0")
        P._kernels.cache_clear()
        assert P.engine() == eng
        got[eng] = [P.sums(lo, hi, 3, 40, cols), P.sums(lo, hi, 3, 40, cols[:2]), P.sums(lo, hi, 0, 2, cols[1:2]),
                    np.stack([P.fill_counts(lo, hi, b) for b in (0, 9)])]
    for a, b in zip(got["numba"], got["numpy"]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    k = np.stack([P.counts(lo, hi, b) for b in range(3, 40)]).astype(np.float64)
    want = [[slow_running(k[r] * c) for c in cols] for r in range(k.shape[0])]
    assert got["numpy"][0].tolist() == want


@pytest.mark.parametrize("n", [1, 5, 4000])
def test_logistic_sums_follow_the_contract_and_agree_between_engines(n, numba_kernels, monkeypatch):
    """The calibration fit's Newton pass: the compiled loop's exp is scipy's expit term for term,
    including rows far in either tail (mu exactly 0 or 1)."""
    rng = np.random.default_rng(n)
    x = rng.normal(scale=4.0, size=n)
    x[:: max(n // 50, 1)] *= 200.0  # exp overflows / underflows there
    ww = rng.integers(1, 4, n) * rng.choice([0.5, 1.0, 1.3], n)
    got = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("PARITY_NUMBA", "1" if eng == "numba" else "0")
        P._kernels.cache_clear()
        got[eng] = [P.logistic_sums(x, ww, a, b) for a, b in ((0.3, 1.1), (-2.0, 0.7), (0.0, -1e-3))]
    for a, b in zip(got["numba"], got["numpy"]):
        assert np.array_equal(a, b)
    from scipy.special import expit

    for (a, b), sums in zip(((0.3, 1.1), (-2.0, 0.7), (0.0, -1e-3)), got["numpy"]):
        mu = [float(expit(float(xi) * b + a)) for xi in x]
        m = [float(w) * u for w, u in zip(ww, mu)]
        q = [mi * u for mi, u in zip(m, mu)]
        xs = [float(xi) for xi in x]
        want = [slow_running(m), slow_running(mi * xi for mi, xi in zip(m, xs)), slow_running(q),
                slow_running(qi * xi for qi, xi in zip(q, xs)), slow_running(mi * (xi * xi) for mi, xi in zip(m, xs)),
                slow_running(qi * (xi * xi) for qi, xi in zip(q, xs))]
        assert sums.tolist() == want


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
def test_poisson_sweeps_follow_the_contract_and_agree_between_engines(tied, weighted, numba_kernels, monkeypatch):
    n = 3000
    lo, hi = units(n, seed=8)
    y, s, p, w = sweep_data(n, seed=1, tied=tied)
    w = w if weighted else None
    asc = np.argsort(s, kind="stable")
    porder = np.argsort(p, kind="stable")
    gap = np.ascontiguousarray((p - y)[porder])
    total = P.sums(lo, hi, 0, 300, (np.ones(n) if w is None else w)[None, :])[:, 0]
    targets = total[:, None] * np.arange(1, 10) / 10
    got = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("PARITY_NUMBA", "1" if eng == "numba" else "0")
        P._kernels.cache_clear()
        got[eng] = (P.auc_sweep(P.Sweep(lo, hi, asc, s, y, w), 0, 300),  # > one batch of the loops
                    P.ap_sweep(P.Sweep(lo, hi, asc[::-1], s, y, w), 0, 300),
                    P.ece_sweep(P.Sweep(lo, hi, porder, p, y, w), gap, targets, 0, 300))
    for a, b in zip(got["numba"], got["numpy"]):
        assert np.array_equal(a, b)
    for b in (0, 1, 299):
        k = P.counts(lo, hi, b).astype(np.float64)
        assert tuple(got["numpy"][0][b]) == slow_auc_ap(k, w, y, s, asc, "auc")
        assert tuple(got["numpy"][1][b]) == slow_auc_ap(k, w, y, s, asc[::-1], "ap")


def test_poisson_sums_special_values_agree_between_engines(numba_kernels, monkeypatch):
    n = 4000
    lo, hi = units(n, seed=2)
    rng = np.random.default_rng(0)
    nan_col = rng.normal(size=n)
    nan_col[rng.integers(0, n, 50)] = np.nan
    inf_col = np.zeros(n)
    inf_col[::97] = np.inf
    inf_col[1::97] = -np.inf
    cols = np.stack([nan_col, inf_col, np.full(n, -0.0)])
    got = []
    for eng in ("1", "0"):
        monkeypatch.setenv("PARITY_NUMBA", eng)
        P._kernels.cache_clear()
        got.append(P.sums(lo, hi, 0, 5, cols))
    assert np.array_equal(got[0], got[1], equal_nan=True)
    assert np.isnan(got[0][:, 0]).all() and (np.copysign(1.0, got[0][:, 2]) == 1.0).all()  # from +0.0


@pytest.mark.parametrize("name", ["logloss", "rmse", "calibration_ratio", "auc", "pr_auc", "ece", "calibration_slope",
                                  "ndcg@5", "mrr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_poisson_bootstrap_replicates_do_not_depend_on_the_engine(name, weighted, numba_kernels, monkeypatch):
    rng = np.random.default_rng(6)
    n = 3001
    y = (rng.random(n) < 0.2).astype(int)
    z = rng.normal(size=n) + y
    pa = 1 / (1 + np.exp(-(z + rng.normal(scale=0.5, size=n) - 1)))
    pb = 1 / (1 + np.exp(-(z + rng.normal(scale=0.5, size=n) - 1)))
    if name == "rmse":
        y = z
    w = rng.integers(1, 4, n).astype(float) if weighted else None
    kw = {"keys": np.arange(n) + 10}
    if name in ("ndcg@5", "mrr"):
        kw = {"groups": rng.integers(0, 300, n)}
        w = None if w is None else w[kw["groups"]]  # ranking weights are per query group
    run = lambda: paired_bootstrap(name, y, pa, pb, sample_weight=w, n_boot=300, seed=9,  # noqa: E731
                                   **kw).replicates
    compiled = run()  # more than one batch of replicates
    monkeypatch.setenv("PARITY_NUMBA", "0")
    P._kernels.cache_clear()
    assert P.engine() == "numpy"
    assert np.array_equal(compiled, run())


@pytest.mark.slow
def test_numba_caches_in_the_user_cache_not_the_source_tree(tmp_path, numba_kernels):
    """A fresh interpreter with an empty user cache compiles a loop: numba's index and data files go
    to $XDG_CACHE_HOME/parity-harness/numba, and nothing is written under the package."""
    import subprocess
    import time

    import harness

    pkg = Path(harness.__file__).resolve().parent
    start = time.time()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PARITY_NUMBA")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    code = ("import numpy as np; from harness.stats.bootstrap import paired_bootstrap; "
            "y = np.arange(200) % 3 == 0; p = np.linspace(0.05, 0.95, 200); "
            "paired_bootstrap('logloss', y, p, p[::-1], n_boot=4)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300, cwd=tmp_path)
    cached = list((tmp_path / "xdg" / "parity-harness" / "numba").rglob("*.nbi"))
    assert cached, "numba wrote no cache index in the user cache"
    written = [f for f in pkg.rglob("*.nb[ic]") if f.stat().st_mtime >= start - 1]  # numba's index, data
    assert written == []


def test_numba_cache_dir_choice(monkeypatch, tmp_path):
    from harness.stats._numba_cache import cache_dir

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "parity-harness" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "parity-harness" / "numba"


def test_poisson_sums_over_parts_are_the_sums_of_each_part(numba_kernels, monkeypatch):
    n = 3000
    lo, hi = units(n, seed=4)
    cols = np.stack(columns(n, seed=2))
    seg = np.random.default_rng(1).integers(-1, 4, n)
    got = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("PARITY_NUMBA", "1" if eng == "numba" else "0")
        P._kernels.cache_clear()
        got[eng] = [P.sums_parts(lo, hi, 2, 300, cols, seg, 4, True),
                    P.sums_parts(lo, hi, 0, 3, cols[:2], seg, 4, False)]
    for (all_a, parts_a), (all_b, parts_b) in zip(got["numba"], got["numpy"]):
        assert (all_a is None) == (all_b is None) and (all_a is None or np.array_equal(all_a, all_b))
        assert np.array_equal(parts_a, parts_b)
    (all_rows, parts), (none, parts2) = got["numpy"]
    assert none is None and np.array_equal(all_rows, P.sums(lo, hi, 2, 300, cols))
    for g in range(4):
        r = seg == g
        assert np.array_equal(parts[g], P.sums(lo[r], hi[r], 2, 300, cols[:, r]))
        assert np.array_equal(parts2[g], P.sums(lo[r], hi[r], 0, 3, cols[:2, r]))


def test_poisson_sums_skip_only_terms_that_cannot_change_a_sum(numba_kernels, monkeypatch):
    # The compiled loops skip rows whose value is +-0.0; every other value, NaN and inf included,
    # is added. Per-part sums, all-rows sums and both engines must still agree bit for bit.
    n = 3000
    lo, hi = units(n, seed=7)
    rng = np.random.default_rng(2)
    labels = (rng.random(n) < 0.04).astype(np.float64)
    signed = np.where(rng.random(n) < 0.5, -0.0, 0.0)
    signed[::101] = -1e-300  # tiny terms beside the zeros
    wild = rng.normal(size=n)
    wild[rng.integers(0, n, 20)] = 0.0
    wild[7], wild[8], wild[9] = np.inf, -np.inf, np.nan
    cols = np.stack([labels, signed, wild])
    seg = rng.integers(-1, 3, n)
    got = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("PARITY_NUMBA", "1" if eng == "numba" else "0")
        P._kernels.cache_clear()
        got[eng] = (P.sums(lo, hi, 0, 50, cols), P.sums(lo, hi, 0, 50, cols[:2]),
                    *P.sums_parts(lo, hi, 0, 50, cols, seg, 3, True))
    for a, b in zip(got["numba"], got["numpy"]):
        assert np.array_equal(a, b, equal_nan=True)
        numbers = ~np.isnan(a)  # a zero's sign is part of the result; a NaN's is not (x86 makes -nan)
        assert np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))
    k = np.stack([P.counts(lo, hi, b) for b in range(50)]).astype(np.float64)
    with np.errstate(invalid="ignore"):
        want = [[slow_running(k[r] * c) for c in cols[:2]] for r in range(50)]
    assert got["numba"][1].tolist() == want  # the label column's sums: integers, exactly


@pytest.mark.parametrize("name", ["calibration_ratio", "logloss"])
def test_threaded_bootstrap_batches_give_the_same_replicates(name, numba_kernels, monkeypatch):
    from harness.stats.bootstrap import paired_bootstrap_subsets

    rng = np.random.default_rng(4)
    n = 5000
    y = (rng.random(n) < 0.1).astype(int)
    pa = np.clip(rng.random(n) * 0.3, 1e-3, None)
    pb = np.clip(pa + rng.normal(scale=0.01, size=n), 1e-3, 1 - 1e-3)
    part = rng.integers(0, 3, n)
    subsets = [None] + [np.flatnonzero(part == g) for g in range(3)]

    import threading

    seen: set[str] = set()
    for fn in ("sums", "sums_parts"):  # which threads the batches ran on
        inner = getattr(P, fn)
        monkeypatch.setattr(P, fn, lambda *a, _inner=inner, **k: (seen.add(threading.current_thread().name),
                                                                  _inner(*a, **k))[1])

    def run(threads: str):
        monkeypatch.setenv("PARITY_THREADS", threads)
        seen.clear()
        single = paired_bootstrap(name, y, pa, pb, keys=np.arange(n), n_boot=1100, seed=3).replicates
        shared = [r.replicates for r in paired_bootstrap_subsets(name, y, pa, pb, subsets, keys=np.arange(n),
                                                                  n_boot=1100, seed=3)]
        return [single, *shared], set(seen)

    (serial, on_serial), (threaded, on_threads) = run("1"), run("3")
    assert on_serial == {threading.current_thread().name}
    assert on_threads and all(t.startswith("parity-bootstrap") for t in on_threads)  # the pool's threads
    for a, b in zip(serial, threaded):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_parity_threads_must_be_a_positive_integer(value, numba_kernels, monkeypatch):
    from harness.errors import ParityInputError

    monkeypatch.setenv("PARITY_THREADS", value)
    with pytest.raises(ParityInputError, match=f"PARITY_THREADS: expected a positive integer, got '{value}'"):
        P.threads()


def _in_a_fresh_process(code: str, **env: str) -> str:
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


_WARM = ("import sys\nfrom harness.stats import _poisson as P\nP.warm_up(); P.warm_up()\n"
         "[t.join() for t in P._WARMING]\nprint(len(P._WARMING), 'numba' in sys.modules, P.engine())")


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
def test_the_warm_up_loads_the_compiled_engine_once_per_process():
    assert _in_a_fresh_process(_WARM, PARITY_NUMBA="") == "1 True numba"


def test_the_warm_up_does_nothing_with_parity_numba_0():
    assert _in_a_fresh_process(_WARM, PARITY_NUMBA="0") == "0 False numpy"


def test_a_suite_run_with_metrics_starts_the_warm_up(monkeypatch):
    from harness import runner
    from harness.protocol import ModelPair
    from harness.suite import MetricGate, Suite

    class Side:
        name = "side"

        def predict(self, batch):
            return batch["mean_radius"].to_numpy() / 30.0

        def featurize(self, batch):
            return None

    started = []
    monkeypatch.setattr(P, "warm_up", lambda: started.append(True))
    suite = Suite(name="bc_warm", description="", dataset="breast_cancer", label="malignant",
                  pair=lambda ds: ModelPair(Side(), Side()), prediction_atol=1e-2, metrics=[MetricGate("auc", 0.05)])
    runner.run_suite(suite)
    assert started == [True]
