"""Paired (Poisson) bootstrap: replicates equal independent metric implementations under the same
weights, seeds, group resampling, Poisson key/order/chunk independence, intervals against scipy.stats.bootstrap,
and the per-row paired-difference interval against scipy.stats.ttest_rel."""
from __future__ import annotations

import inspect
import math

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics as skm

from harness.errors import ParityInputError
from harness.stats import metrics as M
from harness.stats.bootstrap import (
    BCA_GENERIC_MAX_UNITS,
    BootstrapResult,
    _auc_loo,
    _build_kernel,
    paired_bootstrap,
    paired_difference_ci,
    poisson_weights,
)

TOL = 1e-12


def splitmix64(seed: int, count: int) -> list[int]:
    """The first `count` outputs of SplitMix64 seeded with `seed`, with Python integers
    (Steele, Lea & Flood 2014; checked against the published vectors below)."""
    out, mask = [], (1 << 64) - 1
    for t in range(1, count + 1):
        z = (seed + t * 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


def pair_data(n=1500, seed=0, tied=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    z = rng.normal(size=n) + y
    za = z + rng.normal(scale=0.5, size=n)
    zb = z + rng.normal(scale=0.5, size=n)
    if tied:
        za, zb = np.round(za, 1), np.round(zb, 1)
    pa, pb = 1 / (1 + np.exp(-(za - 1))), 1 / (1 + np.exp(-(zb - 1)))
    w = rng.integers(1, 4, n).astype(float)
    return SimpleNamespace(y=y, za=za, zb=zb, pa=pa, pb=pb, w=w, n=n)


SKLEARN = {
    "auc": (skm.roc_auc_score, "z"),
    "pr_auc": (skm.average_precision_score, "z"),
    "logloss": (skm.log_loss, "p"),
    "brier": (skm.brier_score_loss, "p"),
    "rmse": (skm.root_mean_squared_error, "reg"),
    "mae": (skm.mean_absolute_error, "reg"),
}


def test_calibration_kernel_first_step_terms():
    """The precomputed first Newton step: gradient and Hessian of the weighted log-likelihood at the
    full-data fit, per unit of replicate count (checked against the formulas written out)."""
    d = pair_data(n=500, seed=5)
    k = _build_kernel(M.get_metric("calibration_slope"), d.y, d.pa, d.pb, d.w, None)
    c = poisson_weights(np.arange(d.n), 1, 1)[0].astype(float)
    for side, p in zip(k.sides, (d.pa, d.pb)):
        x = np.log(p / (1 - p))
        slope, intercept = M.calibration_slope_intercept(d.y, p, sample_weight=d.w)
        mu = 1 / (1 + np.exp(-(intercept + slope * x)))
        cw = c * d.w
        want = [np.sum(cw * (d.y - mu)), np.sum(cw * (d.y - mu) * x), np.sum(cw * mu * (1 - mu)),
                np.sum(cw * mu * (1 - mu) * x), np.sum(cw * mu * (1 - mu) * x * x), np.sum(cw * d.y * x)]
        assert np.allclose(side[3] @ c, want, rtol=1e-9, atol=1e-9)
    assert np.isclose(k.wy @ c, np.sum(c * d.w * d.y), rtol=1e-12)


def test_seeded_reproducible_and_seed_sensitive():
    d = pair_data()
    r1 = paired_bootstrap("auc", d.y, d.za, d.zb, n_boot=300, seed=3)  # > 1 batch
    r2 = paired_bootstrap("auc", d.y, d.za, d.zb, n_boot=300, seed=3)
    r3 = paired_bootstrap("auc", d.y, d.za, d.zb, n_boot=300, seed=4)
    assert np.array_equal(r1.replicates, r2.replicates) and r1.ci == r2.ci
    assert not np.array_equal(r1.replicates, r3.replicates)
    # replicate b does not depend on n_boot
    r4 = paired_bootstrap("auc", d.y, d.za, d.zb, n_boot=20, seed=3)
    assert np.array_equal(r4.replicates, r1.replicates[:20])


def test_result_fields():
    d = pair_data()
    r = paired_bootstrap("logloss", d.y, d.pa, d.pb, n_boot=200, alpha=0.1, seed=7)
    assert (r.metric, r.n_boot, r.seed, r.ci_method, r.alpha) == ("logloss", 200, 7, "percentile", 0.1)
    assert r.method == "paired Poisson bootstrap (percentile, 200 replicates, seed 7)"
    assert r.replicates.shape == (200,)
    assert r.se == pytest.approx(np.std(r.replicates, ddof=1), abs=0)
    assert r.ci == tuple(np.percentile(r.replicates, [5, 95]))
    assert r.ci_at(0.1) == r.ci
    assert r.n == d.n == r.n_units


# ---------------------------------------------------------------- ranking: groups are the unit

def ranking_data(seed=2):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, 120)
    g = np.repeat(rng.permutation(120) + 1000, sizes)
    n = g.shape[0]
    rel = (rng.random(n) < 0.25).astype(int) * rng.integers(1, 3, n)
    sa = np.round(rng.normal(size=n) + rel, 1)
    sb = np.round(rng.normal(size=n) + rel, 1)
    perm = rng.permutation(n)
    return rel[perm], sa[perm], sb[perm], g[perm]


@pytest.mark.parametrize("name", ["ndcg@3", "ndcg@10", "mrr"])
def test_ranking_resamples_whole_groups(name):
    rel, sa, sb, g = ranking_data()
    fn = M.get_metric(name).fn
    r = paired_bootstrap(name, rel, sa, sb, groups=g, n_boot=5, seed=9)
    ids = np.unique(g)
    assert r.n_units == ids.shape[0] and "resampling query groups" in r.method
    weights = poisson_weights(ids, 9, 5)  # a group's weight is keyed by its id
    assert (weights > 1).any()
    for rep in range(5):
        # rebuild the resample: each group copied as many times as its weight, a fresh id per copy
        rows = [np.flatnonzero(g == gid) for gid, k in zip(ids, weights[rep]) for _ in range(k)]
        idx = np.concatenate(rows)
        new_ids = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
        ref = fn(rel[idx], sb[idx], new_ids) - fn(rel[idx], sa[idx], new_ids)
        assert abs(r.replicates[rep] - ref) < TOL


def test_ranking_needs_groups():
    rel, sa, sb, _ = ranking_data()
    with pytest.raises(ParityInputError, match="groups: metric 'mrr'"):
        paired_bootstrap("mrr", rel, sa, sb)


# ---------------------------------------------------------------- Poisson weights

def test_poisson_weights_depend_only_on_seed_key_replicate():
    keys = np.arange(5000, dtype=np.int64) * 7919 - 100
    w = poisson_weights(keys, 42, 8)
    perm = np.random.default_rng(0).permutation(keys.shape[0])
    assert np.array_equal(poisson_weights(keys[perm], 42, 8), w[:, perm])
    chunks = np.array_split(np.arange(keys.shape[0]), 7)
    assert np.array_equal(np.concatenate([poisson_weights(keys[c], 42, 8) for c in chunks], axis=1), w)
    assert np.array_equal(poisson_weights(keys, 42, [3, 5]), w[[3, 5]])  # replicates addressable
    assert not np.array_equal(poisson_weights(keys, 43, 8), w)
    okeys = np.array(keys.tolist(), dtype=object)  # e.g. from a pandas nullable integer column
    assert np.array_equal(poisson_weights(okeys, 42, 8), w)
    skeys = np.array([f"row-{k}" for k in keys])
    ws = poisson_weights(skeys, 42, 2)
    assert np.array_equal(poisson_weights(skeys[perm], 42, 2), ws[:, perm])


def test_splitmix64_matches_the_published_sequence():
    # SplitMix64 seeded with 1234567: the first five outputs of the reference C implementation
    # (Vigna's splitmix64.c, used in the xoshiro test suites).
    from harness.stats.bootstrap import _GAMMA_INT, _MASK, _mix64

    expected = [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431,
                16408922859458223821]
    state = np.array([(1234567 + (i + 1) * _GAMMA_INT) & _MASK for i in range(5)], dtype=np.uint64)
    assert _mix64(state).tolist() == expected
    assert splitmix64(1234567, 5) == expected  # and the slow reference agrees


def test_poisson_weights_are_poisson_one():
    w = poisson_weights(np.arange(200_000), 1, 1)[0]
    k = np.arange(6)
    observed = np.array([np.sum(w == i) for i in k[:-1]] + [np.sum(w >= 5)])
    pmf = scipy.stats.poisson.pmf(k[:-1], 1.0)
    expected = w.shape[0] * np.append(pmf, 1 - pmf.sum())
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    w2 = poisson_weights(np.arange(200_000), 1, [1])[0]
    assert abs(np.corrcoef(w, w2)[0, 1]) < 0.01  # replicates independent


@pytest.mark.parametrize("name", ["auc", "logloss", "rmse", "ece"])
def test_poisson_bootstrap_independent_of_row_order(name):
    d = pair_data(n=1200, seed=3, tied=True)
    y, a, b = (d.za, d.pa, d.pb) if name == "rmse" else (d.y, d.za, d.zb) if name == "auc" else (d.y, d.pa, d.pb)
    keys = np.arange(d.n) * 3 + 17
    r = paired_bootstrap(name, y, a, b, keys=keys, sample_weight=d.w, n_boot=30, seed=8)
    perm = np.random.default_rng(1).permutation(d.n)
    r2 = paired_bootstrap(name, y[perm], a[perm], b[perm], keys=keys[perm], sample_weight=d.w[perm],
                          n_boot=30, seed=8)
    if name == "auc":  # integer weights x integer counts: exact sums
        assert np.array_equal(r.replicates, r2.replicates)
    else:  # floating sums in another order
        assert np.allclose(r.replicates, r2.replicates, rtol=0, atol=1e-12)
    # and each replicate is the metric under the Poisson weights as sample weights
    fn = M.get_metric(name).fn
    pw = poisson_weights(keys, 8, 3)
    for rep in range(3):
        ww = pw[rep] * d.w
        assert abs(r.replicates[rep] - (fn(y, b, sample_weight=ww) - fn(y, a, sample_weight=ww))) < 1e-10


def test_poisson_sums_merge_across_chunks():
    # A decomposable metric's replicate is a ratio of per-replicate sums; chunk sums simply add.
    d = pair_data(n=3000, seed=4)
    keys = np.arange(d.n)
    la, lb = M.get_metric("logloss").per_row(d.y, d.pa), M.get_metric("logloss").per_row(d.y, d.pb)
    B = 20
    acc = np.zeros((B, 3))
    for c in np.array_split(np.random.default_rng(2).permutation(d.n), 4):
        wts = poisson_weights(keys[c], 5, B)
        acc += np.stack([wts @ la[c], wts @ lb[c], wts.sum(axis=1)], axis=1)
    merged = acc[:, 1] / acc[:, 2] - acc[:, 0] / acc[:, 2]
    r = paired_bootstrap("logloss", d.y, d.pa, d.pb, keys=keys, n_boot=B, seed=5)
    assert np.allclose(r.replicates, merged, rtol=0, atol=1e-12)


def test_poisson_ranking_keys_by_group():
    rel, sa, sb, g = ranking_data()
    r = paired_bootstrap("ndcg@5", rel, sa, sb, groups=g, n_boot=10, seed=1)
    perm = np.random.default_rng(5).permutation(g.shape[0])
    r2 = paired_bootstrap("ndcg@5", rel[perm], sa[perm], sb[perm], groups=g[perm], n_boot=10, seed=1)
    assert np.allclose(r.replicates, r2.replicates, rtol=0, atol=1e-12)
    # string and object ids: the weights follow the id, whatever the row order
    gs = np.array([f"q{x}" for x in g], dtype=object)
    r3 = paired_bootstrap("mrr", rel, sa, sb, groups=gs, n_boot=10, seed=1)
    r4 = paired_bootstrap("mrr", rel[perm], sa[perm], sb[perm], groups=gs[perm], n_boot=10, seed=1)
    assert np.allclose(r3.replicates, r4.replicates, rtol=0, atol=1e-12)
    with pytest.raises(ParityInputError, match="keys: for ranking metrics"):
        paired_bootstrap("ndcg@5", rel, sa, sb, groups=g, keys=np.arange(g.shape[0]), n_boot=10)


@pytest.mark.parametrize(
    "keys,match",
    [(np.zeros(1500, dtype=int), "keys: keys must be unique"),
     (np.arange(10), "keys: expected one key per row"), (np.linspace(0, 1, 1500), "keys: expected integer or string")],
    ids=["duplicate", "wrong-length", "float"],
)
def test_poisson_bad_keys(keys, match):
    d = pair_data()
    with pytest.raises(ParityInputError, match=match):
        paired_bootstrap("auc", d.y, d.za, d.zb, keys=keys, n_boot=5)


@pytest.mark.parametrize("keys", [np.array([1, 2, 3, 3, 4]), np.array([-3, -1, 0, 5, 5]),
                                  np.array(["a", "b", "b"], dtype=object), np.array([7, 3, 7, 9]),
                                  np.array([2**63 - 1, -(2**63), 0, -(2**63)])],
                         ids=["sorted-repeat", "negative-sorted-repeat", "str", "unsorted", "wrapping"])
def test_hash_keys_refuses_a_repeat_in_sorted_and_unsorted_keys(keys):
    """Keys in ascending order are accepted without sorting them: a repeat must still be found, sorted
    or not (and -1 > 0 as uint64: a negative key after the positive ones is not 'ascending')."""
    from harness.stats.bootstrap import hash_keys

    with pytest.raises(ParityInputError, match="keys must be unique"):
        hash_keys(keys)
    for ok in (np.arange(-5, 5), np.array([3, 1, 2]), np.array([0, 2**40, -1]), np.array(["b", "a"], dtype=object)):
        assert np.array_equal(hash_keys(ok), hash_keys(ok[::-1])[::-1])  # the same hash whatever the order


def test_poisson_without_keys_keys_by_row_position():
    d = pair_data(n=900, seed=2)
    r = paired_bootstrap("ece", d.y, d.pa, d.pb, n_boot=6, seed=4)
    r2 = paired_bootstrap("ece", d.y, d.pa, d.pb, keys=np.arange(d.n), n_boot=6, seed=4)
    assert np.array_equal(r.replicates, r2.replicates)


def lowbias32(x: int) -> int:
    """Wellons' lowbias32 with Python integers."""
    m = 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & m
    x ^= x >> 15
    x = (x * 0x846CA68B) & m
    return x ^ (x >> 16)


def slow_poisson_weight(base: int, b: int) -> int:
    """The documented weight (harness.stats._poisson's docstring), with Python integers and the
    Poisson(1) CDF from scipy: the inverse CDF of Poisson(1) at the 32-bit uniform x / 2**32."""
    lo, hi = base & 0xFFFFFFFF, base >> 32
    x = lowbias32(((lo + (b + 1) * 0x9E3779B9) & 0xFFFFFFFF) ^ hi)
    k = 0
    while k < 40 and x >= math.ceil(scipy.stats.poisson.cdf(k, 1.0) * 2**32):
        k += 1
    return k


def test_poisson_weights_follow_the_documented_protocol():
    from harness.stats import _poisson
    from harness.stats.bootstrap import _seed_base, hash_keys

    keys = np.array([0, 1, 2, 77, -5, 2**40])
    base = _seed_base(hash_keys(keys), 3)
    w = poisson_weights(keys, 3, 50)
    assert w.dtype == np.int32
    assert [[slow_poisson_weight(int(bb), r) for bb in base] for r in range(50)] == w.tolist()
    # the thresholds are scipy's Poisson(1) CDF rounded up to 2**-32, every one below 2**32
    want = [math.ceil(scipy.stats.poisson.cdf(k, 1.0) * 2**32) for k in range(40)]
    assert _poisson.THRESHOLDS.tolist() == [t for t in want if t < 2**32]
    # the tail (k >= 6, one draw in 1700) takes another branch of the loops: the same rule there
    many = np.arange(60_000)
    wm = poisson_weights(many, 3, 2)
    rows, cols = np.nonzero(wm >= 6)
    assert rows.shape[0] >= 20
    base = _seed_base(hash_keys(many), 3)
    assert [slow_poisson_weight(int(base[c]), int(r)) for r, c in zip(rows, cols)] == wm[rows, cols].tolist()


def test_poisson_weights_are_exactly_poisson_one_at_scale():
    """One million draws (250k keys x 4 replicates) against scipy's Poisson(1) pmf, every count
    from 0 to 6 and the tail; and no dependence between replicates or between neighbouring keys."""
    w = poisson_weights(np.arange(250_000), 11, 4)
    flat = w.reshape(-1)
    k = np.arange(7)
    observed = np.array([np.sum(flat == i) for i in k] + [np.sum(flat >= 7)])
    pmf = scipy.stats.poisson.pmf(k, 1.0)
    expected = flat.shape[0] * np.append(pmf, scipy.stats.poisson.sf(6, 1.0))
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    assert abs(flat.mean() - 1) < 4.5 / math.sqrt(flat.shape[0])
    assert abs(flat.var() - 1) < 4.5 * math.sqrt(3 / flat.shape[0])  # Var(X) = 1, Var((X-1)^2) ~ 3
    c = np.corrcoef(w)
    assert np.all(np.abs(c[np.triu_indices(4, 1)]) < 0.01)
    assert abs(np.corrcoef(w[0, :-1], w[0, 1:])[0, 1]) < 0.01  # consecutive keys


REFS = {"auc": skm.roc_auc_score, "pr_auc": skm.average_precision_score, "logloss": skm.log_loss,
        "brier": skm.brier_score_loss, "rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
@pytest.mark.parametrize("name", ["auc", "pr_auc", "logloss", "brier", "rmse", "mae", "ece", "calibration_ratio",
                                  "calibration_slope", "calibration_intercept"])
def test_poisson_replicates_equal_the_reference_under_the_weights(name, tied, weighted):
    """Each Poisson replicate is the metric with (Poisson weight x sample weight) as sample weights,
    computed by scikit-learn where it has the metric (by the harness's metric otherwise)."""
    d = pair_data(n=2000, seed=12, tied=tied)
    if name in ("auc", "pr_auc"):
        y, a, b = d.y, d.za, d.zb
    elif name in ("rmse", "mae"):
        y, a, b = d.za, d.pa * 3, d.pb * 3
    else:
        y, a, b = d.y, d.pa, d.pb
    w = d.w if weighted else None
    keys = np.array([f"k{i}" for i in range(d.n)])
    r = paired_bootstrap(name, y, a, b, sample_weight=w, keys=keys, n_boot=5, seed=21)
    fn = REFS.get(name, M.get_metric(name).fn)
    pw = poisson_weights(keys, 21, 5)
    for rep in range(5):
        sw = pw[rep] * (1.0 if w is None else w)
        keep = sw > 0
        ref = fn(y[keep], b[keep], sample_weight=sw[keep]) - fn(y[keep], a[keep], sample_weight=sw[keep])
        assert abs(r.replicates[rep] - ref) < (1e-9 if name.startswith("calibration_s") or "intercept" in name else 1e-12)


def _naive_bootstrap_se(fn, arrays, n_boot, seed):
    """The textbook bootstrap: n rows drawn with replacement, the metric recomputed, SD of the diffs."""
    rng = np.random.default_rng(seed)
    y, a, b = arrays
    n = y.shape[0]
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        diffs.append(fn(y[i], b[i]) - fn(y[i], a[i]))
    return float(np.std(diffs, ddof=1))


@pytest.mark.parametrize("name", ["auc", "pr_auc", "calibration_ratio", "ece", "logloss"])
@pytest.mark.slow
def test_poisson_bootstrap_se_matches_the_textbook_bootstrap(name):
    """The Poisson bootstrap estimates the same sampling distribution as the classic one: its SE
    agrees with a slow multinomial loop of scikit-learn (or metric) calls within Monte-Carlo error
    (SE of an SD estimate from B replicates ~ SD / sqrt(2B); the bound is 4.5 of those combined)."""
    d = pair_data(n=3000, seed=14)
    arrays = (d.y, d.za, d.zb) if name in ("auc", "pr_auc") else (d.y, d.pa, d.pb)
    fn = REFS.get(name, M.get_metric(name).fn)
    b_ours, b_ref = 3000, 1000
    ours = paired_bootstrap(name, *arrays, keys=np.arange(d.n) * 7 + 3, n_boot=b_ours, seed=5).se
    ref = _naive_bootstrap_se(fn, arrays, b_ref, seed=6)
    tol = 4.5 * math.sqrt(1 / (2 * b_ours) + 1 / (2 * b_ref))
    assert abs(ours / ref - 1) < tol, (ours, ref)


# ---------------------------------------------------------------- intervals vs scipy.stats.bootstrap

def _scipy_ci(data, statistic, reps, method, alpha, vectorized=True):
    """scipy's interval computed from *our* replicates (bootstrap_result with n_resamples=0)."""
    res = scipy.stats.bootstrap(data, statistic, n_resamples=0, paired=True, vectorized=vectorized,
                                confidence_level=1 - alpha, method=method,
                                bootstrap_result=SimpleNamespace(bootstrap_distribution=reps))
    return res.confidence_interval.low, res.confidence_interval.high


def test_percentile_and_bca_equal_scipy_for_a_decomposable_metric():
    d = pair_data(n=600, seed=5)
    la, lb = M.get_metric("brier").per_row(d.y, d.pa), M.get_metric("brier").per_row(d.y, d.pb)

    def stat(i, axis=-1):
        i = i.astype(int)
        return np.mean(lb[i] - la[i], axis=axis)

    idx = (np.arange(d.n, dtype=float),)
    for method, ci_method in (("percentile", "percentile"), ("BCa", "bca")):
        r = paired_bootstrap("brier", d.y, d.pa, d.pb, n_boot=500, seed=2, ci_method=ci_method, alpha=0.1)
        lo, hi = _scipy_ci(idx, stat, r.replicates, method, 0.1)
        assert abs(r.ci[0] - lo) < 1e-12 and abs(r.ci[1] - hi) < 1e-12, method


def test_bca_auc_equals_scipy_with_sklearn_jackknife():
    d = pair_data(n=160, seed=6, tied=True)

    def stat(i):
        i = i.astype(int)
        return skm.roc_auc_score(d.y[i], d.zb[i]) - skm.roc_auc_score(d.y[i], d.za[i])

    r = paired_bootstrap("auc", d.y, d.za, d.zb, n_boot=300, seed=4, ci_method="bca")
    lo, hi = _scipy_ci((np.arange(d.n, dtype=float),), stat, r.replicates, "BCa", 0.05, vectorized=False)
    assert abs(r.ci[0] - lo) < 1e-12 and abs(r.ci[1] - hi) < 1e-12
    assert r.ci_at(0.05) == r.ci


@pytest.mark.parametrize("weighted", [False, True])
def test_auc_leave_one_out_equals_brute_force(weighted):
    d = pair_data(n=120, seed=7, tied=True)
    w = d.w if weighted else None
    loo = _auc_loo(d.y.astype(bool), d.za, w)
    for i in range(d.n):
        keep = np.arange(d.n) != i
        ref = skm.roc_auc_score(d.y[keep], d.za[keep], sample_weight=None if w is None else w[keep])
        assert abs(loo[i] - ref) < TOL


def test_percentile_interval_roughly_agrees_with_scipys_own_bootstrap():
    d = pair_data(n=2000, seed=8)
    la, lb = M.get_metric("logloss").per_row(d.y, d.pa), M.get_metric("logloss").per_row(d.y, d.pb)
    ours = paired_bootstrap("logloss", d.y, d.pa, d.pb, n_boot=2000, seed=1)
    # scipy >= 1.15 takes rng=, older releases (1.13, our lower bound) random_state=.
    seed_arg = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"
    theirs = scipy.stats.bootstrap((la, lb), lambda a, b, axis=-1: np.mean(b - a, axis=axis), paired=True,
                                   n_resamples=2000, method="percentile", **{seed_arg: np.random.default_rng(1)})
    width = ours.ci[1] - ours.ci[0]
    assert abs(ours.ci[0] - theirs.confidence_interval.low) < 0.1 * width
    assert abs(ours.ci[1] - theirs.confidence_interval.high) < 0.1 * width
    assert abs(ours.se - theirs.standard_error) < 0.1 * ours.se


def test_bca_refused_when_the_jackknife_is_unaffordable():
    d = pair_data(n=BCA_GENERIC_MAX_UNITS + 1, seed=9)
    with pytest.raises(ParityInputError, match="ci_method: 'bca' for metric 'pr_auc'.*percentile"):
        paired_bootstrap("pr_auc", d.y, d.za, d.zb, n_boot=10, ci_method="bca")


def test_bca_for_a_generic_metric_on_small_data():
    d = pair_data(n=200, seed=10)
    r = paired_bootstrap("pr_auc", d.y, d.za, d.zb, n_boot=200, ci_method="bca")
    assert r.ci[0] <= r.ci[1] and r.bca_acceleration is not None


# ---------------------------------------------------------------- memory and degenerate data

def test_memory_stays_far_below_n_times_replicates():
    rng = np.random.default_rng(0)
    n, B = 200_000, 40
    y = (rng.random(n) < 0.05).astype(np.int64)
    a, b = rng.normal(size=n) + y, rng.normal(size=n) + y
    tracemalloc.start()
    try:
        paired_bootstrap("auc", y, a, b, n_boot=B)
        paired_bootstrap("logloss", y, 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b)), n_boot=B)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * B * 8 / 2, f"peak {peak / 1e6:.1f} MB"  # an n x B float matrix is 64 MB


def test_one_class_resamples_raise():
    y = np.array([1] + [0] * 29)
    s = np.linspace(0, 1, 30)
    with pytest.raises(ParityInputError, match="replicates left 'auc' undefined"):
        paired_bootstrap("auc", y, s, s[::-1], n_boot=50)
    p = np.linspace(0.1, 0.9, 30)  # calibration ratio: sum(p) / sum(y) with no positive drawn
    with pytest.raises(ParityInputError, match="replicates left 'calibration_ratio' undefined"):
        paired_bootstrap("calibration_ratio", y, p, p[::-1], n_boot=50)


def test_a_ranking_bootstrap_that_draws_no_query_group_says_so():
    # One 7-row query (a tiny --sample of a ranking suite): a Poisson draw of weight 0 for it leaves NDCG
    # undefined; the words are about query groups, not "one class only" (graded relevance has no classes).
    y = np.array([3.0, 2, 0, 1, 0, 0, 2])
    s = np.linspace(0, 1, 7)
    with pytest.raises(ParityInputError, match=r"replicates left 'ndcg@5' undefined \(e\.g\. a resample that draws no "
                                               r"query group the metric is defined on\)") as info:
        paired_bootstrap("ndcg@5", y, s, s[::-1], groups=np.zeros(7, dtype=np.int64), n_boot=300)
    assert "one class" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"n_boot": 1}, "n_boot"), ({"n_boot": 2.5}, "n_boot"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
     ({"ci_method": "basic"}, "ci_method"), ({"alpha": 0}, "alpha")],
    ids=["n_boot-1", "n_boot-float", "seed-negative", "seed-float", "ci_method", "alpha"],
)
def test_bad_options(kwargs, match):
    d = pair_data(n=100)
    with pytest.raises(ParityInputError, match=match):
        paired_bootstrap("auc", d.y, d.za, d.zb, **kwargs)


# ---------------------------------------------------------------- paired per-row differences

def test_paired_difference_ci_equals_ttest_rel():
    d = pair_data(n=700, seed=11)
    la, lb = M.get_metric("logloss").per_row(d.y, d.pa), M.get_metric("logloss").per_row(d.y, d.pb)
    r = paired_difference_ci(la, lb, alpha=0.1)
    tt = scipy.stats.ttest_rel(lb, la)
    ci = tt.confidence_interval(confidence_level=0.9)
    assert abs(r.ci[0] - ci.low) < TOL and abs(r.ci[1] - ci.high) < TOL
    assert abs(r.p_value - tt.pvalue) < TOL
    assert abs(r.diff - np.mean(lb - la)) < TOL and r.df == 699 and r.n == 700
    assert abs(r.legacy - M.log_loss(d.y, d.pa)) < TOL


def test_paired_difference_ci_weighted():
    d = pair_data(n=500, seed=12)
    la, lb = d.pa**2, d.pb**2
    # constant weights are no weights
    r1, r0 = paired_difference_ci(la, lb, sample_weight=np.full(d.n, 3.0)), paired_difference_ci(la, lb)
    assert abs(r1.se - r0.se) < TOL and abs(r1.diff - r0.diff) < TOL
    # the documented formula, written out by rows
    w = d.w.copy()
    w[:50] = 0.0
    r = paired_difference_ci(la, lb, sample_weight=w)
    dd = lb - la
    dbar = sum(wi * di for wi, di in zip(w, dd)) / sum(w)
    m = int((w > 0).sum())
    se = (m / (m - 1) * sum(wi**2 * (di - dbar) ** 2 for wi, di in zip(w, dd))) ** 0.5 / sum(w)
    assert abs(r.diff - dbar) < TOL and abs(r.se - se) < TOL and r.n == m == 450 and r.df == 449


def test_bca_for_ranking_jackknifes_whole_groups():
    rel, sa, sb, g = ranking_data(seed=3)
    ids = np.unique(g)
    # per-group NDCG@5 of each model, each group scored on its own (an independent reference)
    va = np.array([M.ndcg_at_k(rel[g == q], sa[g == q], g[g == q], k=5) for q in ids])
    vb = np.array([M.ndcg_at_k(rel[g == q], sb[g == q], g[g == q], k=5) for q in ids])

    def stat(i, axis=-1):
        i = i.astype(int)
        return np.mean(vb[i] - va[i], axis=axis)

    r = paired_bootstrap("ndcg@5", rel, sa, sb, groups=g, n_boot=400, seed=6, ci_method="bca")
    lo, hi = _scipy_ci((np.arange(ids.shape[0], dtype=float),), stat, r.replicates, "BCa", 0.05)
    assert abs(r.ci[0] - lo) < 1e-12 and abs(r.ci[1] - hi) < 1e-12


@pytest.mark.parametrize("name", ["calibration_ratio", "logloss", "rmse", "ece"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bootstrap_of_subsets_is_each_subsets_own_bootstrap(name, weighted):
    """One pass for all rows and each slice (`paired_bootstrap_subsets`) gives every subset exactly
    what `paired_bootstrap` on its rows gives, or raises: overlapping slicings, a slice without
    positives, rows out of order (not shared), and a metric without a shared pass (ece)."""
    from harness.stats.bootstrap import paired_bootstrap_subsets

    rng = np.random.default_rng(11)
    n = 1500
    y = (rng.random(n) < 0.3).astype(int)
    pa = np.clip(rng.random(n) * 0.8 + 0.1 * y, 0.01, 0.99)
    pb = np.clip(pa + rng.normal(scale=0.02, size=n), 0.01, 0.99)
    if name == "rmse":
        y = rng.normal(size=n)
    w = rng.integers(1, 4, n) * 0.5 if weighted else None
    keys = rng.permutation(n) * 3 + 7
    col = rng.integers(0, 3, n)
    other = rng.integers(0, 2, n)
    no_pos = np.flatnonzero(y == 0)[:40] if name != "rmse" else np.arange(40)
    subsets = [None] + [np.flatnonzero(col == v) for v in range(3)] + [np.flatnonzero(other == v) for v in range(2)]
    subsets += [no_pos, None, np.flatnonzero(col == 1)[::-1].copy()]
    got = paired_bootstrap_subsets(name, y, pa, pb, subsets, sample_weight=w, keys=keys, n_boot=300, alpha=0.1, seed=5)
    assert len(got) == len(subsets)
    for rows, res in zip(subsets, got):
        sub = (lambda a: a) if rows is None else (lambda a: None if a is None else a[rows])
        try:
            want = paired_bootstrap(name, sub(y), sub(pa), sub(pb), sample_weight=sub(w), keys=sub(keys), n_boot=300,
                                    alpha=0.1, seed=5)
        except ParityInputError as exc:
            assert isinstance(res, ParityInputError) and str(res) == str(exc)
            continue
        assert isinstance(res, BootstrapResult)
        assert np.array_equal(res.replicates, want.replicates)
        assert (res.legacy, res.new, res.diff, res.ci, res.se, res.n, res.n_units, res.method) == (
            want.legacy, want.new, want.diff, want.ci, want.se, want.n, want.n_units, want.method)


@pytest.mark.parametrize("name", ["calibration_slope", "calibration_intercept"])
def test_calibration_fit_replicates_at_scale_equal_the_reference_fit(name):
    """At a golden-set size the fit's second Newton step comes from precomputed second-order terms
    (no pass over the rows) and usually one true pass confirms it: the replicate must still be the
    fit on the resample, to the careful solver's precision."""
    rng = np.random.default_rng(8)
    n = 200_000
    y = (rng.random(n) < 0.05).astype(int)
    z = rng.normal(size=n) + 1.5 * y
    pa = 1 / (1 + np.exp(-(z + rng.normal(scale=0.4, size=n) - 3.5)))
    pb = 1 / (1 + np.exp(-(1.1 * z + rng.normal(scale=0.4, size=n) - 3.3)))
    keys = np.arange(n) * 7
    r = paired_bootstrap(name, y, pa, pb, keys=keys, n_boot=3, seed=2)
    pw = poisson_weights(keys, 2, 3)
    j = 0 if name == "calibration_slope" else 1
    for rep in range(3):
        sw = pw[rep].astype(np.float64)
        keep = sw > 0
        ref = (M.calibration_slope_intercept(y[keep], pb[keep], sample_weight=sw[keep])[j]
               - M.calibration_slope_intercept(y[keep], pa[keep], sample_weight=sw[keep])[j])
        assert abs(r.replicates[rep] - ref) < 1e-9
