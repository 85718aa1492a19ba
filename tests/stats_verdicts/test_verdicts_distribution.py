"""Distribution parity: KS and Wasserstein against scipy directly, PSI and JS against hand computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.errors import ParityInputError
from harness.stats.distribution import (
    THRESHOLDS,
    noise_level,
    wasserstein_noise_level,
    compare_distributions,
    jensen_shannon,
    ks,
    psi,
    quantile_edges,
    wasserstein,
)
from harness.verdicts import Verdict


def test_ks_is_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=500), rng.normal(0.2, 1, size=700)
    r = ks(x, y)
    ref = stats.ks_2samp(x, y)
    assert r.value == ref.statistic and r.p_value == ref.pvalue
    assert r.threshold == {"stable_below": 0.05, "shift_at": 0.10}


def test_weighted_ks_equals_repeated_rows():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 30, 200).astype(float), rng.integers(3, 33, 150).astype(float)  # many ties
    wx, wy = rng.integers(1, 5, 200), rng.integers(1, 5, 150)
    r = ks(x, y, reference_weight=wx, candidate_weight=wy)
    assert r.value == pytest.approx(stats.ks_2samp(np.repeat(x, wx), np.repeat(y, wy)).statistic, abs=1e-12)
    assert r.p_value is None and r.weighted


def test_wasserstein_is_scipy_over_reference_std():
    rng = np.random.default_rng(2)
    x, y = rng.exponential(size=400), rng.exponential(1.3, size=300)
    wx, wy = rng.uniform(0.1, 2, 400), rng.uniform(0.1, 2, 300)
    r = wasserstein(x, y)
    assert r.value == pytest.approx(stats.wasserstein_distance(x, y) / np.std(x), rel=1e-12)
    rw = wasserstein(x, y, reference_weight=wx, candidate_weight=wy)
    m = np.sum(wx * x) / np.sum(wx)
    sd = math.sqrt(np.sum(wx * (x - m) ** 2) / np.sum(wx))
    assert rw.value == pytest.approx(stats.wasserstein_distance(x, y, wx, wy) / sd, rel=1e-12)


def test_quantile_edges_are_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1001)
    np.testing.assert_array_equal(quantile_edges(x, n_bins=10),
                                  np.quantile(x, np.arange(1, 10) / 10, method="inverted_cdf"))
    # ties merge: 3 distinct values give at most 2 interior edges
    assert quantile_edges(np.array([0.0] * 50 + [1.0] * 30 + [2.0] * 20), n_bins=10).tolist() == [0.0, 1.0]


def test_psi_and_js_by_hand():
    ref = np.arange(100.0)  # quartile edges (inverted CDF): 24, 49, 74
    cand = np.repeat(np.arange(50.0), 2)  # all in the lower two quartile bins, half each
    p = np.array([0.25, 0.25, 0.25, 0.25])
    q = np.array([0.5, 0.5, 0.0, 0.0])
    eps = 1e-4
    qf = np.array([0.5, 0.5, eps, eps])
    hand_psi = 2 * (0.5 - 0.25) * math.log(0.5 / 0.25) + 2 * (eps - 0.25) * math.log(eps / 0.25)
    r = psi(ref, cand, n_bins=4)
    assert r.details["edges"].tolist() == [24.0, 49.0, 74.0]
    np.testing.assert_allclose(r.details["candidate_share"], q)
    assert r.value == pytest.approx(hand_psi, rel=1e-12)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert float(np.sum((qf - p) * np.log(qf / p))) == pytest.approx(hand_psi)
    # JS distance base 2 by hand: M = (p + q)/2 = [3/8, 3/8, 1/8, 1/8]
    mix = (p + q) / 2
    kl_p = np.sum(p * np.log2(p / mix))
    kl_q = np.sum([qi * math.log2(qi / mi) for qi, mi in zip(q, mix) if qi > 0])
    j = jensen_shannon(ref, cand, n_bins=4)
    assert j.value == pytest.approx(math.sqrt(0.5 * kl_p + 0.5 * kl_q), rel=1e-12)


def test_weighted_psi_equals_repeated_rows():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=300), rng.normal(0.3, 1.1, size=250)
    wx, wy = rng.integers(1, 4, 300), rng.integers(1, 4, 250)
    a = psi(x, y, reference_weight=wx, candidate_weight=wy)
    b = psi(np.repeat(x, wx), np.repeat(y, wy))
    assert a.value == pytest.approx(b.value, rel=1e-12)
    ja = jensen_shannon(x, y, reference_weight=wx, candidate_weight=wy)
    jb = jensen_shannon(np.repeat(x, wx), np.repeat(y, wy))
    assert ja.value == pytest.approx(jb.value, rel=1e-12)


def test_verdicts_follow_effect_size_not_p_value():
    rng = np.random.default_rng(5)
    x = rng.normal(size=200_000)
    tiny = rng.normal(0.02, 1, size=200_000)  # significant at this n, but a negligible shift
    big = rng.normal(0.6, 1, size=200_000)
    for r in compare_distributions(x, tiny):
        assert r.verdict is Verdict.EQUIVALENT, r
    assert ks(x, tiny).p_value < 0.05
    for r in compare_distributions(x, big):
        assert r.verdict is Verdict.NOT_EQUIVALENT, r
    mid = ks(x, rng.normal(0.17, 1, size=200_000))  # D ~ 0.068: moderate
    assert mid.verdict is Verdict.INCONCLUSIVE
    assert set(THRESHOLDS) == {"ks", "psi", "js", "wasserstein"}


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: ks([1.0, float("nan")], [1.0]), r"reference\[1\] = nan"),
        (lambda: psi([1.0, 2.0], []), "candidate is empty"),
        (lambda: psi([1.0, 2.0], [1.0], candidate_weight=[-1.0]), r"candidate_weight\[0\] = -1.0"),
        (lambda: psi([1.0, 2.0], [1.0], reference_weight=[1.0]), "reference_weight has 1 values"),
        (lambda: wasserstein([1.0, 1.0], [2.0]), "reference is constant"),
        (lambda: psi([1.0, 2.0], [1.0], n_bins=1), "n_bins must be an integer >= 2"),
        (lambda: compare_distributions([1.0], [1.0], statistics=["chi2"]), "unknown statistic"),
        (lambda: ks([[1.0]], [1.0]), "one-dimensional"),
    ],
    ids=["nan", "empty", "negative-weight", "weight-length", "constant", "bins", "unknown", "2d"],
)
def test_bad_input_is_named(call, fragment):
    with pytest.raises(ParityInputError) as info:
        call()
    assert fragment in str(info.value) or __import__("re").search(fragment, str(info.value))


def test_to_dict_is_jsonable():
    import json

    r = psi(np.arange(100.0), np.arange(100.0))
    d = r.to_dict()
    # identical samples, but 100 rows cannot show stability: noise alone reaches PSI ~0.34
    assert d["verdict"] == "INCONCLUSIVE" and d["value"] == 0.0 and "too small" in d["details"]["note"]
    json.dumps(d)
    assert psi(np.arange(5000.0), np.arange(5000.0)).verdict is Verdict.EQUIVALENT


def test_to_check_is_a_distribution_check():
    c = ks(np.arange(100.0), np.arange(100.0) + 50).to_check(prefix="scores")
    assert c.id == "scores/ks" and c.kind == "distribution" and c.verdict is Verdict.NOT_EQUIVALENT
    assert c.details["ks"] == pytest.approx(0.5) and c.details["threshold"]["shift_at"] == 0.10


def test_noise_level_is_the_no_shift_95th_percentile():
    # same distribution on both sides, 400 pairs of 2000 rows: the empirical 95th percentile of each
    # statistic should sit near the closed-form noise level (asymptotics; 15 % tolerance)
    rng = np.random.default_rng(8)
    n, sims = 2000, 400
    vals = {"ks": [], "psi": [], "js": []}
    for _ in range(sims):
        x, y = rng.gamma(2.0, size=n), rng.gamma(2.0, size=n)
        vals["ks"].append(ks(x, y).value)
        vals["psi"].append(psi(x, y).value)
        vals["js"].append(jensen_shannon(x, y).value)
    for stat, v in vals.items():
        assert np.quantile(v, 0.95) == pytest.approx(noise_level(stat, n, n), rel=0.15), stat


def test_small_samples_are_inconclusive_not_stable():
    x = np.random.default_rng(9).normal(size=300)
    r = ks(x, x.copy())  # D = 0, yet 300 rows a side cannot show D < 0.05
    assert r.value == 0.0 and r.details["noise_95"] == pytest.approx(1.3581 * math.sqrt(2 / 300), rel=1e-4)
    assert r.verdict is Verdict.INCONCLUSIVE and "too small" in r.details["note"]
    big = np.random.default_rng(9).normal(size=5000)
    assert ks(big, big.copy()).verdict is Verdict.EQUIVALENT


@pytest.mark.parametrize("draw", [lambda rng, n: rng.gamma(2.0, size=n),
                                  lambda rng, n: rng.integers(0, 5, n).astype(float)], ids=["gamma", "ties"])
def test_wasserstein_noise_level_is_the_no_shift_95th_percentile(draw):
    # known truth by brute force: 400 pairs of same-distribution samples through scipy directly
    rng = np.random.default_rng(10)
    n, sims = 2000, 400
    vals = []
    for _ in range(sims):
        x, y = draw(rng, n), draw(rng, n)
        vals.append(stats.wasserstein_distance(x, y) / np.std(x))
    level = wasserstein(draw(rng, n), draw(rng, n)).details["noise_95"]
    assert np.quantile(vals, 0.95) == pytest.approx(level, rel=0.15)


def test_wasserstein_noise_is_seeded_and_scales_with_size():
    x = np.random.default_rng(11).gamma(2.0, size=3000)
    assert wasserstein_noise_level(x, 3000, 3000, seed=4) == wasserstein_noise_level(x, 3000, 3000, seed=4)
    small, large = (wasserstein_noise_level(x, n, n, seed=4) for n in (300, 30000))
    assert small / large == pytest.approx(10.0, rel=1e-12)  # sqrt(1/n + 1/m) at fixed reference quantiles
    tiny = wasserstein(x[:100], x[:100].copy())  # value 0, but noise ~0.3 >= stable 0.10 at 100 rows
    assert tiny.verdict is Verdict.INCONCLUSIVE and "too small" in tiny.details["note"]


def test_a_shift_within_noise_is_not_flagged():
    # 400 same-distribution pairs of 20 rows: D >= 0.10 (the shift threshold) nearly always, yet noise
    # alone reaches it, so at most about 5 % (values beyond noise_95) may be called a shift
    rng = np.random.default_rng(12)
    verdicts = [ks(rng.normal(size=20), rng.normal(size=20)).verdict for _ in range(400)]
    assert np.mean([v is Verdict.NOT_EQUIVALENT for v in verdicts]) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    x, y = rng.normal(size=20), rng.normal(size=20)
    r = ks(x, y + 0.1)
    assert r.value >= THRESHOLDS["ks"][1] and r.value <= r.details["noise_95"]
    assert r.verdict is Verdict.INCONCLUSIVE and "within what sampling noise" in r.details["note"]
    far = ks(x, y + 3.0)  # beyond noise: a shift
    assert far.value > far.details["noise_95"] and far.verdict is Verdict.NOT_EQUIVALENT
