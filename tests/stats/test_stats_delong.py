"""DeLong: pROC's published aSAH results, and a slow O(n_pos * n_neg) structural-components
implementation written here from DeLong, DeLong & Clarke-Pearson (1988)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from scipy.stats import norm

from harness.errors import ParityInputError
from harness.stats.delong import delong_paired, delong_single, structural_components

DATA = Path(__file__).parent / "data" / "aSAH.csv"


@pytest.fixture(scope="module")
def asah():
    d = pd.read_csv(DATA)
    return (d["outcome"] == "Poor").astype(int).to_numpy(), d


# pROC tests (roc.test, method "delong"): roc1 - roc2 with roc1 the first named score.
PUBLISHED = [
    ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, (0.0104061769564846, 0.174214419249478)),
    ("wfns", "ndka", 2.79777591868904, 0.00514557970691098, (0.0634011709339876, 0.3600405634833566)),
    ("ndka", "s100b", -1.39077002573558, 0.164295175223054, (-0.2876917446341914, 0.0488706064228094)),
]


@pytest.mark.parametrize("roc1,roc2,z,p,ci", PUBLISHED, ids=[f"{a}-vs-{b}" for a, b, *_ in PUBLISHED])
def test_reproduces_proc_asah(asah, roc1, roc2, z, p, ci):
    y, d = asah
    # our diff is b - a, so (a, b) = (roc2, roc1) gives pROC's roc1 - roc2 direction
    r = delong_paired(y, d[roc2], d[roc1])
    assert abs(r.z - z) < 1e-9
    assert abs(r.p_value - p) < 1e-9
    lo, hi = r.ci_normal_at(0.05)  # pROC's interval is the raw-scale normal one
    assert abs(lo - ci[0]) < 1e-9 and abs(hi - ci[1]) < 1e-9
    # and the other way round: sign flips, p unchanged
    r2 = delong_paired(y, d[roc1], d[roc2])
    assert abs(r2.z + z) < 1e-9 and abs(r2.p_value - p) < 1e-9
    lo2, hi2 = r2.ci_normal_at(0.05)
    assert abs(lo2 + ci[1]) < 1e-9 and abs(hi2 + ci[0]) < 1e-9
    # the decision interval (logit scale) flips too: it is equivariant under swapping the models
    assert r2.ci == pytest.approx((-r.ci[1], -r.ci[0]), abs=1e-12)


def test_asah_aucs_and_one_sided(asah):
    y, d = asah
    r = delong_paired(y, d["s100b"], d["wfns"])
    assert abs(r.auc_a - 0.731368563686) < 1e-11 and abs(r.auc_b - 0.823678861789) < 1e-11
    assert abs(delong_paired(y, d["ndka"], d["wfns"]).auc_a - 0.611957994580) < 1e-11
    assert (r.n_pos, r.n_neg) == (41, 72)
    assert abs(r.p_value_one_sided("greater") - 0.0135878911145941) < 1e-9
    assert abs(r.p_value_one_sided("less") - (1 - 0.0135878911145941)) < 1e-9
    assert r.method == "DeLong (Sun & Xu 2014), logit-scale interval"


def slow_delong(y, a, b):
    """Structural components by explicit pairs; returns (auc_a, auc_b, var_a, var_b, cov)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = len(pos), len(neg)

    def psi(x, yy):
        return 1.0 if x > yy else 0.5 if x == yy else 0.0

    comps = []
    for s in (a, b):
        v10 = np.array([sum(psi(s[i], s[j]) for j in neg) / n for i in pos])
        v01 = np.array([sum(psi(s[i], s[j]) for i in pos) / m for j in neg])
        comps.append((v10, v01))
    (a10, a01), (b10, b01) = comps
    s10 = np.cov(np.vstack([a10, b10]))  # ddof=1
    s01 = np.cov(np.vstack([a01, b01]))
    S = s10 / m + s01 / n
    return a10.mean(), b10.mean(), S


@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_slow_structural_components(tied, seed):
    rng = np.random.default_rng(seed)
    n = 150
    y = (rng.random(n) < 0.3).astype(int)
    a = rng.normal(size=n) + y
    b = a + rng.normal(scale=0.7, size=n) + 0.3 * y
    if tied:
        a, b = np.round(a), np.round(b * 2) / 2
    r = delong_paired(y, a, b, alpha=0.1)
    auc_a, auc_b, S = slow_delong(y, a, b)
    var = S[0, 0] + S[1, 1] - 2 * S[0, 1]
    assert abs(r.auc_a - auc_a) < 1e-12 and abs(r.auc_b - auc_b) < 1e-12
    assert abs(r.se - math.sqrt(var)) < 1e-12
    assert abs(r.z - (auc_b - auc_a) / math.sqrt(var)) < 1e-9
    assert abs(r.p_value - 2 * norm.sf(abs(r.z))) < 1e-12
    h = norm.ppf(0.95) * math.sqrt(var)
    lo, hi = r.ci_normal_at(0.1)
    assert abs(lo - (r.diff - h)) < 1e-12 and abs(hi - (r.diff + h)) < 1e-12
    assert abs(r.var_a - S[0, 0]) < 1e-12 and abs(r.var_b - S[1, 1]) < 1e-12 and abs(r.cov - S[0, 1]) < 1e-12
    single = delong_single(y, a)
    assert abs(single.se - math.sqrt(S[0, 0])) < 1e-12
    assert abs(single.auc - auc_a) < 1e-12



@pytest.mark.parametrize("tied", [False, True], ids=["no-ties-path", "runs-path"])
def test_structural_components_per_row_equal_explicit_pairs(tied):
    # untied scores take the path without run ids; both must give every row's own V10 / V01 in row order
    rng = np.random.default_rng(7)
    y = rng.random(120) < 0.35
    s = rng.normal(size=120) + y
    if tied:
        s = np.round(s)
    auc, v10, v01 = structural_components(y, s)
    pos, neg = s[y], s[~y]
    slow10 = np.array([np.mean(np.where(x > neg, 1.0, np.where(x == neg, 0.5, 0.0))) for x in pos])
    slow01 = np.array([np.mean(np.where(pos > x, 1.0, np.where(pos == x, 0.5, 0.0))) for x in neg])
    assert np.allclose(v10, slow10, rtol=0, atol=1e-15) and np.allclose(v01, slow01, rtol=0, atol=1e-15)
    assert abs(auc - slow10.mean()) < 1e-14

def test_point_aucs_equal_sklearn_on_large_tied_data():
    rng = np.random.default_rng(3)
    n = 200_000
    y = (rng.random(n) < 0.03).astype(int)
    a = np.round(rng.normal(size=n) + y, 2)
    b = rng.normal(size=n) + 1.1 * y
    r = delong_paired(y, a, b)
    assert abs(r.auc_a - skm.roc_auc_score(y, a)) < 1e-12
    assert abs(r.auc_b - skm.roc_auc_score(y, b)) < 1e-12


def test_ci_at_and_diff_direction(asah):
    y, d = asah
    r = delong_paired(y, d["ndka"], d["wfns"])
    assert r.diff == r.auc_b - r.auc_a > 0
    assert r.ci_at(0.05) == pytest.approx(r.ci, abs=1e-15)
    lo90, hi90 = r.ci_at(0.10)
    assert r.ci[0] < lo90 < hi90 < r.ci[1]
    # the normal 90% two-sided bounds are the one-sided 95% bounds: their p-values are exactly 0.05
    nlo90, _ = r.ci_normal_at(0.10)
    assert abs(norm.sf((r.diff - nlo90) / r.se) - 0.05) < 1e-12


def test_identical_scores_give_zero_variance_documented_values():
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    s = np.array([0.1, 0.9, 0.3, 0.4, 0.8, 0.5, 0.2])
    r = delong_paired(y, s, s.copy())
    assert (r.diff, r.se, r.z, r.p_value, r.ci) == (0.0, 0.0, 0.0, 1.0, (0.0, 0.0))


@pytest.mark.parametrize(
    "y",
    [[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 1]],
    ids=["no-positive", "no-negative", "one-positive", "one-negative"],
)
def test_too_few_of_a_class_raises(y):
    with pytest.raises(ParityInputError, match="y_true: DeLong needs at least 2 positives and 2 negatives"):
        delong_paired(y, [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])


def test_bad_alternative_and_alpha(asah):
    y, d = asah
    r = delong_paired(y, d["ndka"], d["wfns"])
    with pytest.raises(ParityInputError, match="alternative"):
        r.p_value_one_sided("two-sided")
    with pytest.raises(ParityInputError, match="alpha"):
        delong_paired(y, d["ndka"], d["wfns"], alpha=1.5)


# ------------------------------------------------------------------------------------------------
# the decision interval: logit-scale Wald ellipse of the two AUCs, t radius at the effective df
# ------------------------------------------------------------------------------------------------

def _pairs_components(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def _profile_limits(A, B, S, q):
    """Invert the logit-scale Wald test of diff = delta by profiling: T(delta) = the smallest Mahalanobis
    distance (logit scale, delta-method covariance) from the estimate to the curve expit(phi_b) -
    expit(phi_a) = delta; the limits solve T(delta) = q^2 on each side of the estimate."""
    from scipy.optimize import brentq, minimize_scalar
    from scipy.special import logit

    J = np.diag([1 / (A * (1 - A)), 1 / (B * (1 - B))])
    P = np.linalg.inv(J @ S @ J)
    c = np.array([logit(A), logit(B)])

    def T(delta):
        lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
        eps = 1e-12

        def dist(pa):
            x = np.array([logit(pa), logit(pa + delta)]) - c
            return float(x @ P @ x)
        return minimize_scalar(dist, bounds=(lo + eps, hi - eps), method="bounded",
                               options={"xatol": 1e-13}).fun

    d = B - A
    lo = brentq(lambda t: T(t) - q * q, d - 0.5, d, xtol=1e-13)
    hi = brentq(lambda t: T(t) - q * q, d, d + 0.5, xtol=1e-13)
    return lo, hi


@pytest.mark.parametrize("seed,strength", [(0, 2.5), (1, 3.5), (2, 1.0)])
def test_interval_equals_an_independent_profile_computation(seed, strength):
    from scipy import stats

    rng = np.random.default_rng(seed)
    n = 400
    y = (rng.random(n) < 0.2).astype(int)
    a = rng.normal(size=n) + strength * y
    b = 0.7 * a + rng.normal(scale=0.6, size=n) + 0.6 * y
    r = delong_paired(y, a, b, alpha=0.1)
    (a10, a01), (b10, b01) = _pairs_components(y, a), _pairs_components(y, b)
    m, k = len(a10), len(a01)
    S = np.cov(np.vstack([a10, b10])) / m + np.cov(np.vstack([a01, b01])) / k

    def nu(x):  # chi-square df of a sample variance with the sample's own kurtosis
        return 2 / (2 / (len(x) - 1) + (stats.kurtosis(x, fisher=True, bias=True)) / len(x))

    u, w = b10 - a10, b01 - a01
    terms = [(np.var(u, ddof=1) / m, nu(u)), (np.var(w, ddof=1) / k, nu(w))]
    df = sum(t for t, _ in terms) ** 2 / sum(t * t / d for t, d in terms)
    assert r.df == pytest.approx(df, rel=1e-10)
    lo, hi = _profile_limits(a10.mean(), b10.mean(), S, stats.t.ppf(0.95, df))
    assert r.ci == pytest.approx((lo, hi), abs=1e-9)
    assert r.ci_at(0.1) == pytest.approx(r.ci, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_variance_df_is_numpys_variance_and_the_kurtosis_df_of_scipy(seed):
    """`_variance_df` computes the variance and the fourth moment from one pass of centred squares:
    the variance must be np.var(ddof=1) bit for bit, the df the chi-square df from scipy's kurtosis."""
    from scipy import stats

    from harness.stats.intervals import _variance_df

    rng = np.random.default_rng(seed)
    for n in (2, 3, 17, 1000, 70_001):
        for x in (rng.normal(size=n), rng.standard_t(2.5, size=n) * 1e-3, rng.exponential(size=n) + 5,
                  (rng.random(n) < 0.01) * 1.0):
            var, nu = _variance_df(x)
            assert var == float(np.var(x, ddof=1))
            if np.var(x) == 0:
                assert nu == math.inf
                continue
            expect = 2 / (2 / (n - 1) + stats.kurtosis(x, fisher=True, bias=True) / n)
            assert nu == pytest.approx(expect, rel=1e-10)
    assert _variance_df(np.array([3.0]))[1] == math.inf
    assert _variance_df(np.full(50, 0.25)) == (0.0, math.inf)


def test_interval_near_half_is_the_normal_one_and_near_one_is_wider_and_skewed():
    rng = np.random.default_rng(4)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(int)
    a = rng.normal(size=n) + 0.2 * y
    b = a + rng.normal(scale=0.3, size=n)
    r = delong_paired(y, a, b)  # both AUCs near 0.55, 6000 positives: df in the thousands
    assert r.df > 1000
    assert r.ci == pytest.approx(r.ci_normal_at(0.05), abs=0.01 * r.se)
    y = np.zeros(1000, dtype=int)
    y[:100] = 1
    a = rng.normal(size=1000) + 4.4 * y  # AUC ~0.999
    b = 0.8 * a + 0.6 * rng.normal(size=1000) + 0.9 * y
    r = delong_paired(y, a, b)
    lo, hi = r.ci
    nlo, nhi = r.ci_normal_at(0.05)
    assert r.df < 100  # a handful of low-ranked positives carry the variance
    assert hi - lo > nhi - nlo  # wider than the normal interval: the t radius at small df
    assert lo <= r.diff <= hi


def test_nearly_identical_models_keep_the_normal_width():
    # the usual migration: correlation ~0.999; the interval must follow the tiny se of the difference
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.2).astype(float)
    s = rng.normal(size=n) + 1.2 * y
    b = s + rng.normal(0, 0.05, n)
    r = delong_paired(y, s, b)
    assert r.df > 200
    assert r.ci == pytest.approx(r.ci_normal_at(0.05), abs=0.05 * r.se)


def test_auc_of_one_is_held_fixed():
    from scipy import stats
    from scipy.special import expit, logit

    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    a = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 0.4, 0.6])  # AUC 1: DeLong variance 0
    b = np.array([0.1, 0.5, 0.3, 0.7, 0.8, 0.9, 0.75, 0.6])
    r = delong_paired(y, a, b)
    assert r.auc_a == 1.0 and r.var_a == 0.0 and r.cov == 0.0
    h = stats.t.ppf(0.975, r.df) * math.sqrt(r.var_b) / (r.auc_b * (1 - r.auc_b))
    expected = (expit(logit(r.auc_b) - h) - 1.0, expit(logit(r.auc_b) + h) - 1.0)
    assert r.ci == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# average precision with jackknife structural components
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
def test_ap_components_are_the_brute_force_leave_one_out_pseudo_values(tied):
    from harness.stats.intervals import ap_structural_components

    rng = np.random.default_rng(7)
    n = 80
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    if tied:
        s = np.round(s * 2) / 2
    ap, c_pos, c_neg = ap_structural_components(y, s)
    assert ap == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    keep = np.ones(n, dtype=bool)
    loo = []
    for i in range(n):
        keep[i] = False
        loo.append(skm.average_precision_score(y[keep], s[keep]))
        keep[i] = True
    loo = np.array(loo)
    m, k = int(y.sum()), int((~y).sum())
    assert c_pos == pytest.approx((m - 1) * (ap - loo[y]) + ap, abs=1e-12)
    assert c_neg == pytest.approx((k - 1) * (ap - loo[~y]) + ap, abs=1e-12)


def test_jackknife_components_of_auc_are_delongs():
    # the identity the AP method rests on: for AUC the stratified jackknife pseudo-values are V10/V01
    from harness.stats.delong import structural_components

    rng = np.random.default_rng(8)
    n = 60
    y = rng.random(n) < 0.4
    s = np.round(rng.normal(size=n) + y, 1)
    auc, v10, v01 = structural_components(y, s)
    keep = np.ones(n, dtype=bool)
    loo = []
    for i in range(n):
        keep[i] = False
        loo.append(skm.roc_auc_score(y[keep], s[keep]))
        keep[i] = True
    loo = np.array(loo)
    m, k = int(y.sum()), int((~y).sum())
    assert v10 == pytest.approx((m - 1) * (auc - loo[y]) + auc, abs=1e-12)
    assert v01 == pytest.approx((k - 1) * (auc - loo[~y]) + auc, abs=1e-12)


def test_paired_average_precision_interval_and_variance():
    from scipy import stats

    from harness.stats.delong import paired_average_precision

    rng = np.random.default_rng(9)
    n = 300
    y = (rng.random(n) < 0.25).astype(int)
    a = rng.normal(size=n) + 1.5 * y
    b = 0.8 * a + 0.6 * rng.normal(size=n) + 0.4 * y
    r = paired_average_precision(y, a, b, alpha=0.1)
    assert r.auc_a == pytest.approx(skm.average_precision_score(y, a), abs=1e-12)
    assert r.auc_b == pytest.approx(skm.average_precision_score(y, b), abs=1e-12)
    # the stratified jackknife variance of the difference, by brute force
    keep = np.ones(n, dtype=bool)
    loo = []
    for i in range(n):
        keep[i] = False
        loo.append(skm.average_precision_score(y[keep], b[keep]) - skm.average_precision_score(y[keep], a[keep]))
        keep[i] = True
    loo = np.array(loo)
    var = sum((len(g) - 1) / len(g) * np.sum((g - g.mean()) ** 2) for g in (loo[y == 1], loo[y == 0]))
    assert r.se == pytest.approx(math.sqrt(var), rel=1e-9)
    lo, hi = _profile_limits(r.auc_a, r.auc_b, np.array([[r.var_a, r.cov], [r.cov, r.var_b]]),
                             stats.t.ppf(0.95, r.df))
    assert r.ci == pytest.approx((lo, hi), abs=1e-9)
    assert r.method.startswith("DeLong-type (jackknife components) average precision")


def test_p_value_beyond_agrees_with_the_interval():
    rng = np.random.default_rng(3)
    n = 1000
    y = np.zeros(n, dtype=int)
    y[:100] = 1
    a = rng.normal(size=n) + 4.0 * y  # AUC ~0.998: a skewed interval, df ~10
    b = 0.8 * a + 0.6 * rng.normal(size=n) + 0.8 * y
    r = delong_paired(y, a, b)
    for delta in (-0.004, -0.001, 0.0005, 0.003, 0.006):
        for alt in ("greater", "less"):
            p = r.p_value_beyond(delta, alt)
            assert 0.0 <= p <= 1.0
            if 1e-6 < p < 0.5:  # the one-sided (1 - p) limit lands exactly on delta
                lo, hi = r.ci_at(2 * p)
                assert (lo if alt == "greater" else hi) == pytest.approx(delta, abs=1e-9)
            for level in (0.01, 0.05, 0.2):
                lo, hi = r.ci_at(2 * level)
                beyond = lo > delta if alt == "greater" else hi < delta
                if abs(p - level) > 1e-9:
                    assert (p < level) == beyond, (delta, alt, level, p)
    with pytest.raises(ParityInputError, match="alternative"):
        r.p_value_beyond(0.0, "two-sided")


def test_p_value_beyond_is_the_normal_one_with_plenty_of_information():
    rng = np.random.default_rng(5)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(int)
    a = rng.normal(size=n) + 0.2 * y
    b = a + rng.normal(scale=0.3, size=n)
    r = delong_paired(y, a, b)
    for delta in (r.diff - 2 * r.se, r.diff + 1.5 * r.se):
        assert r.p_value_beyond(delta, "greater") == pytest.approx(norm.sf((r.diff - delta) / r.se), abs=2e-3)


# ------------------------------------------------------------------------------------------------
# weighted average precision: weighted jackknife components
# ------------------------------------------------------------------------------------------------

def _weighted_jackknife(y, s, w):
    """Brute force: sklearn's weighted AP with each row removed; pseudo-values c_i = AP + (W_c - w_i) / w_i
    (AP - AP_(-i)) and their weighted-mean variance per class."""
    ap = skm.average_precision_score(y, s, sample_weight=w)
    keep = np.ones(y.shape[0], dtype=bool)
    loo = []
    for i in range(y.shape[0]):
        keep[i] = False
        loo.append(skm.average_precision_score(y[keep], s[keep], sample_weight=w[keep]))
        keep[i] = True
    loo = np.array(loo)
    pseudo, var = {}, 0.0
    for name, cls in (("pos", y), ("neg", ~y)):
        wc, tot, m = w[cls], w[cls].sum(), int(cls.sum())
        c = ap + (tot - wc) / wc * (ap - loo[cls])
        pseudo[name] = c
        cbar = np.sum(wc * c) / tot
        var += m / (m - 1) * np.sum((wc / tot) ** 2 * (c - cbar) ** 2)
    return ap, pseudo, var


def _rescaled(c, w):
    # the scaled form the function returns, from brute-force pseudo-values
    tot = w.sum()
    return c.shape[0] * (w / tot) * (c - np.sum(w * c) / tot)


@pytest.mark.parametrize("tied,shape", [(False, 2.0), (True, 2.0), (True, 0.3)],
                         ids=["continuous", "tied", "tied-heavy-weights"])
def test_weighted_ap_components_are_the_brute_force_weighted_jackknife(tied, shape):
    from harness.stats.intervals import weighted_ap_structural_components

    rng = np.random.default_rng(17)
    n = 90
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    if tied:
        s = np.round(s * 2) / 2
    w = rng.gamma(shape, 1.0, n)
    w[np.argmax(s)] = 50.0 * w.max()  # a top row that outweighs everything else: the exact near part
    ap, z_pos, z_neg = weighted_ap_structural_components(y, s, w)
    ref_ap, pseudo, var = _weighted_jackknife(y, s, w)
    assert ap == pytest.approx(ref_ap, abs=1e-12)
    assert z_pos - z_pos.mean() == pytest.approx(_rescaled(pseudo["pos"], w[y]), abs=1e-9)
    assert z_neg - z_neg.mean() == pytest.approx(_rescaled(pseudo["neg"], w[~y]), abs=1e-9)
    assert np.var(z_pos, ddof=1) / y.sum() + np.var(z_neg, ddof=1) / (~y).sum() == pytest.approx(var, rel=1e-9)


def test_paired_weighted_ap_se_is_the_brute_force_weighted_jackknife():
    from harness.stats.delong import paired_average_precision_weighted

    rng = np.random.default_rng(19)
    n = 150
    y = (rng.random(n) < 0.25).astype(int)
    a = np.round(rng.normal(size=n) + 1.5 * y, 1)
    b = 0.8 * a + 0.6 * rng.normal(size=n) + 0.4 * y
    w = rng.gamma(1.0, 1.0, n)
    r = paired_average_precision_weighted(y, a, b, sample_weight=w, alpha=0.1)
    yb = y.astype(bool)
    ap_a, pa, _ = _weighted_jackknife(yb, a, w)
    ap_b, pb, _ = _weighted_jackknife(yb, b, w)
    assert (r.auc_a, r.auc_b) == pytest.approx((ap_a, ap_b), abs=1e-12)
    var = 0.0
    for name, cls in (("pos", yb), ("neg", ~yb)):
        wc, tot, m = w[cls], w[cls].sum(), int(cls.sum())
        d = pb[name] - pa[name]
        var += m / (m - 1) * np.sum((wc / tot) ** 2 * (d - np.sum(wc * d) / tot) ** 2)
    assert r.se == pytest.approx(math.sqrt(var), rel=1e-9)
    assert r.ci == pytest.approx(r.ci_at(0.1), abs=0) and r.ci[0] < r.diff < r.ci[1]


def test_weighted_ap_with_equal_weights_is_the_unweighted_method_and_zero_weights_drop_rows():
    from harness.stats.delong import paired_average_precision, paired_average_precision_weighted

    rng = np.random.default_rng(21)
    n = 200
    y = (rng.random(n) < 0.3).astype(int)
    a = np.round(rng.normal(size=n) + y, 1)
    b = a + 0.5 * rng.normal(size=n)
    u = paired_average_precision(y, a, b)
    e = paired_average_precision_weighted(y, a, b, sample_weight=np.full(n, 3.0))
    assert (e.diff, e.se, e.var_a, e.var_b, e.cov, e.df) == pytest.approx((u.diff, u.se, u.var_a, u.var_b, u.cov, u.df),
                                                                        rel=1e-9)
    assert e.ci == pytest.approx(u.ci, abs=1e-9)
    w = rng.gamma(2.0, 1.0, n)
    w[:40] = 0.0
    z = paired_average_precision_weighted(y, a, b, sample_weight=w)
    d = paired_average_precision_weighted(y[40:], a[40:], b[40:], sample_weight=w[40:])
    assert (z.diff, z.se, *z.ci, z.n_pos + z.n_neg) == pytest.approx((d.diff, d.se, *d.ci, n - 40), abs=1e-12)


def test_weighted_ap_refuses_too_few_weighted_rows_and_bad_weights():
    from harness.stats.delong import paired_average_precision_weighted

    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.arange(6.0)
    b = a[::-1].copy()
    with pytest.raises(ParityInputError, match="positive sample_weight"):
        paired_average_precision_weighted(y, a, b, sample_weight=[1, 0, 0, 1, 1, 1])
    with pytest.raises(ParityInputError, match="sample_weight"):
        paired_average_precision_weighted(y, a, b, sample_weight=[1, -1, 1, 1, 1, 1])
    with pytest.raises(ParityInputError, match="sample_weight"):
        paired_average_precision_weighted(y, a, b, sample_weight=[1, 1, 1])


def test_one_limit_of_the_logit_wald_interval_is_that_limit_of_the_pair():
    """DeLong's p-value search evaluates one limit at a time (`logit_wald_limit`); it must be the same
    number, bit for bit, as that limit of `logit_wald_difference` (free sides, fixed sides, no spread)."""
    from harness.stats.intervals import logit_wald_difference, logit_wald_limit

    rng = np.random.default_rng(4)
    cases = [(0.0, 0.7, 0.0, 1e-4, 0.0, 1.9), (0.8, 1.0, 2e-4, 0.0, 0.0, 1.6), (0.6, 0.6, 0.0, 0.0, 0.0, 2.0)]
    for _ in range(40):
        ta, tb = rng.uniform(0.05, 0.99, 2)
        va, vb = rng.uniform(1e-6, 1e-3, 2)
        cases.append((ta, tb, va, vb, rng.uniform(-0.9, 0.9) * np.sqrt(va * vb), rng.uniform(0.0, 5.0)))
    for args in cases:
        pair = logit_wald_difference(*args)
        assert (logit_wald_limit(*args, 0), logit_wald_limit(*args, 1)) == pair


def _p_beyond_by_scan(r, delta, alternative):
    """DeLong's one-sided p-value as first written: double the radius from 1 until the limit crosses
    delta (giving up past 1e6), then brentq on that bracket; the reference for the faster search."""
    from scipy.optimize import brentq
    from scipy.special import stdtr

    from harness.stats.intervals import logit_wald_limit

    sign = 1.0 if alternative == "greater" else -1.0
    if r.se == 0:
        return 0.0 if sign * (r.diff - delta) > 0 else 1.0
    if delta == r.diff:
        return 0.5
    toward = sign * (r.diff - delta) > 0
    pick = 0 if (alternative == "greater") == toward else 1

    def limit(q):
        return logit_wald_limit(r.auc_a, r.auc_b, r.var_a, r.var_b, r.cov, q, pick) - delta

    hi = 1.0
    while limit(hi) * limit(0.0) > 0:
        hi *= 2.0
        if hi > 1e6:
            return 0.0 if toward else 1.0
    q = brentq(limit, 0.0, hi, xtol=1e-12, rtol=1e-12)
    tail = float(stdtr(r.df, -q)) if math.isfinite(r.df) else float(norm.sf(q))
    return tail if toward else 1.0 - tail


@pytest.mark.parametrize("seed", range(6))
def test_p_value_beyond_is_the_scan_and_root_search_bit_for_bit(seed):
    """The p-value search brackets its root by bisection over the radius's exponent and stops where the
    tail is already 0.0: the same numbers, bit for bit, as the doubling scan, for near-identical pairs
    (roots at radii of thousands, tails of exactly 0), heavy-tailed components (small df, tiny but
    nonzero tails) and margins on both sides of the estimate."""
    rng = np.random.default_rng(100 + seed)
    n = [300, 2000, 20_000][seed % 3]
    y = (rng.random(n) < [0.05, 0.3, 0.5][seed % 3]).astype(int)
    y[:2], y[2:4] = 1, 0
    a = rng.normal(size=n) + [1.0, 3.0, 0.3][seed % 3] * y
    noise = [1e-6, 0.05, 0.5][seed // 2 % 3]  # near-identical pair .. clearly different models
    b = a + noise * rng.normal(size=n) * (rng.random(n) < (0.02 if seed % 2 else 1.0))
    r = delong_paired(y, a, b)
    deltas = [r.diff + f * (r.se or 1e-9) for f in (-3000.0, -40.0, -2.5, -0.3, 0.3, 1.0, 6.0, 800.0)]
    deltas += [-0.01, -0.001, 0.001, 0.01, -0.9, 0.9]
    for delta in deltas:
        for alt in ("greater", "less"):
            assert r.p_value_beyond(delta, alt) == _p_beyond_by_scan(r, delta, alt), (seed, delta, alt, r.df)
