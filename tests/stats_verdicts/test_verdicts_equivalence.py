"""Margins, the three-way decision rule, TOST p-values and the sample-size helpers.

Expected values come from the definitions worked by hand, from scipy's normal distribution, or from
simulation of a normal mean (whose sampling distribution is known exactly).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.errors import ParityInputError
from harness.stats.equivalence import (
    Margin,
    as_margin,
    decide,
    decision_power,
    minimum_detectable_difference,
    n_required,
    n_required_planning,
    parse_margins,
    tost_p_value,
)
from harness.verdicts import Verdict

E, N, I = Verdict.EQUIVALENT, Verdict.NOT_EQUIVALENT, Verdict.INCONCLUSIVE


def test_parse_margins_absolute_and_relative():
    assert parse_margins("auc=0.002,logloss=1%") == {"auc": (0.002, "absolute"), "logloss": (0.01, "relative")}
    assert parse_margins(" auc = 2e-3 , ndcg@10=0.5 % ") == {"auc": (0.002, "absolute"), "ndcg@10": (0.005, "relative")}
    assert parse_margins("") == {}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("auc", "'auc' is not METRIC=NUMBER"),
        ("auc=abc", "'abc' is not a number"),
        ("auc=0", "finite number > 0"),
        ("auc=-0.1", "finite number > 0"),
        ("auc=0.1,,brier=0.1", "empty piece"),
        ("auc=0.1,auc=0.2", "given twice"),
        ("auc=inf", "finite number > 0"),
        ("=0.1", "not METRIC=NUMBER"),
    ],
    ids=["no-value", "not-number", "zero", "negative", "empty-piece", "twice", "inf", "no-name"],
)
def test_parse_margins_names_the_bad_piece(text, fragment):
    with pytest.raises(ParityInputError) as info:
        parse_margins(text)
    assert fragment in str(info.value)


def test_margin_validation_and_relative_value():
    m = Margin("logloss", 0.01, "relative", higher_is_better=False)
    assert m.absolute_value(-0.5) == pytest.approx(0.005)  # |legacy|
    assert m.absolute_value(0.3) == pytest.approx(0.003)
    with pytest.raises(ParityInputError, match="needs the legacy"):
        m.absolute_value(None)
    with pytest.raises(ParityInputError, match="legacy logloss is 0"):
        m.absolute_value(0.0)
    for bad in [dict(value=0), dict(value=float("nan")), dict(kind="percent"), dict(test="superiority"),
                dict(higher_is_better="yes")]:
        kw = dict(metric="auc", value=0.1) | bad
        with pytest.raises(ParityInputError):
            Margin(**kw)
    assert Margin("auc", 0.002).to_dict() == {"value": 0.002, "kind": "absolute", "higher_is_better": True,
                                              "test": "equivalence", "absolute_value": 0.002}


def test_as_margin_forms():
    assert as_margin("auc", 0.002, higher_is_better=True) == Margin("auc", 0.002)
    assert as_margin("logloss", (0.01, "relative"), higher_is_better=False) == Margin(
        "logloss", 0.01, "relative", False)
    with pytest.raises(ParityInputError, match="Margin for metric 'brier'"):
        as_margin("auc", Margin("brier", 0.1), higher_is_better=True)
    with pytest.raises(ParityInputError, match="must be a Margin, a number"):
        as_margin("auc", "0.1", higher_is_better=True)


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (-0.5, 0.5, E), (-0.99, 0.99, E), (-1.0, 0.5, I), (-0.5, 1.0, I), (-2.0, 2.0, I),
        (1.0, 2.0, N), (1.5, 3.0, N), (-3.0, -1.0, N), (-3.0, -0.999, I), (0.9, 1.2, I),
    ],
)
def test_decide_equivalence_table(lo, hi, expected):
    assert decide((lo + hi) / 2, lo, hi, 1.0) is expected
    assert decide((lo + hi) / 2, lo, hi, Margin("auc", 1.0)) is expected


@pytest.mark.parametrize(
    "lo, hi, hib, expected",
    [
        # higher is better: only the lower side (new worse) matters
        (-0.5, 5.0, True, E), (-1.0, 0.5, True, I), (-3.0, -1.0, True, N), (2.0, 3.0, True, E),
        (-1.5, -0.5, True, I),
        # lower is better (a loss): only the upper side matters
        (-5.0, 0.5, False, E), (-0.5, 1.0, False, I), (1.0, 3.0, False, N), (-3.0, -2.0, False, E),
    ],
)
def test_decide_non_inferiority_table(lo, hi, hib, expected):
    assert decide((lo + hi) / 2, lo, hi, 1.0, test="non_inferiority", higher_is_better=hib) is expected
    m = Margin("x", 1.0, higher_is_better=hib, test="non_inferiority")
    assert decide((lo + hi) / 2, lo, hi, m) is expected


def test_decide_relative_margin_uses_legacy():
    m = Margin("logloss", 0.01, "relative", higher_is_better=False)
    assert decide(0.0, -0.004, 0.004, m, legacy=0.5) is E  # m = 0.005
    assert decide(0.0, -0.004, 0.004, m, legacy=0.3) is I  # m = 0.003


def test_decide_rejects_bad_intervals():
    with pytest.raises(ParityInputError, match="ci_low must be <= ci_high"):
        decide(0.0, 1.0, -1.0, 1.0)
    with pytest.raises(ParityInputError, match="ci_high must be finite"):
        decide(0.0, -1.0, float("nan"), 1.0)
    with pytest.raises(ParityInputError, match="margin must be"):
        decide(0.0, -1.0, 1.0, 0.0)


def test_tost_p_value_hand_values():
    # diff 0, se 1, margin z_{0.95}: each one-sided p is exactly 0.05
    z = stats.norm.ppf(0.95)
    assert tost_p_value(0.0, 1.0, z) == pytest.approx(0.05, abs=1e-12)
    # diff 0.3, se 0.1, m 0.5: p_low = P(Z > 8), p_high = P(Z < -2) -> max = Phi(-2)
    assert tost_p_value(0.3, 0.1, 0.5) == pytest.approx(stats.norm.cdf(-2.0), rel=1e-12)
    # non-inferiority, higher better: only P(Z > (d + m)/se)
    assert tost_p_value(0.3, 0.1, 0.5, test="non_inferiority") == pytest.approx(stats.norm.sf(8.0), rel=1e-9)
    assert tost_p_value(0.3, 0.1, 0.5, test="non_inferiority", higher_is_better=False) == pytest.approx(
        stats.norm.cdf(-2.0), rel=1e-12)


def test_tost_p_value_agrees_with_the_normal_interval_rule():
    rng = np.random.default_rng(1)
    alpha = 0.05
    z = stats.norm.ppf(1 - alpha)
    for _ in range(2000):
        d, s, m = rng.normal(0, 1), rng.uniform(0.05, 1), rng.uniform(0.1, 2)
        for test in ("equivalence", "non_inferiority"):
            for hib in (True, False):
                v = decide(d, d - z * s, d + z * s, m, test=test, higher_is_better=hib)
                p = tost_p_value(d, s, m, test=test, higher_is_better=hib)
                if abs(p - alpha) > 1e-9:
                    assert (p < alpha) == (v is E), (d, s, m, test, hib, p, v)


def test_mdd_closed_form():
    assert minimum_detectable_difference(0.01) == pytest.approx((1.6448536269514722 + 0.8416212335729143) * 0.01)
    assert minimum_detectable_difference(1.0, alpha=0.025, power=0.9) == pytest.approx(1.959963984540054 + 1.2815515655446004)


def _simulate_normal_mean(true_diff, sigma, n, reps, seed, margin, alpha=0.05, test="equivalence", hib=True):
    """Decisions on `reps` datasets of n paired differences ~ N(true_diff, sigma^2), sigma known."""
    rng = np.random.default_rng(seed)
    means = rng.normal(true_diff, sigma / math.sqrt(n), size=reps)  # exact law of the sample mean
    se = sigma / math.sqrt(n)
    z = stats.norm.ppf(1 - alpha)
    return [decide(mu, mu - z * se, mu + z * se, margin, test=test, higher_is_better=hib) for mu in means]


@pytest.mark.parametrize("true_diff, test, hib", [(0.0, "equivalence", True), (0.3, "equivalence", True),
                                                   (-0.2, "non_inferiority", True), (0.2, "non_inferiority", False),
                                                   (1.2, "equivalence", True)])
def test_decision_power_matches_simulation(true_diff, test, hib):
    sigma, n, m, reps = 2.0, 100, 1.0, 4000
    got = _simulate_normal_mean(true_diff, sigma, n, reps, seed=7, margin=m, test=test, hib=hib)
    for outcome in (E, N, I):
        p = decision_power(true_diff, sigma / math.sqrt(n), m, test=test, higher_is_better=hib, outcome=outcome)
        share = np.mean([v is outcome for v in got])
        tol = 4 * math.sqrt(max(p * (1 - p), 1e-4) / reps)  # 4 binomial standard errors
        assert abs(share - p) <= tol, (outcome, share, p)


@pytest.mark.parametrize("true_diff, test", [(0.0, "equivalence"), (0.4, "equivalence"), (1.5, "equivalence"),
                                              (-0.3, "non_inferiority")])
def test_n_required_reaches_the_power_in_simulation(true_diff, test):
    sigma, n0, m, power = 3.0, 200, 1.0, 0.8
    need = n_required(true_diff, sigma / math.sqrt(n0), n0, m, power=power, test=test)
    assert need is not None and need > 1
    reps = 3000
    got = _simulate_normal_mean(true_diff, sigma, need, reps, seed=11, margin=m, test=test)
    target = E if abs(true_diff) < m or test == "non_inferiority" else N
    share = np.mean([v is target for v in got])
    assert abs(share - power) <= 4 * math.sqrt(power * (1 - power) / reps), share
    # one row fewer than a much smaller n must not reach it: the answer is near-minimal
    got_small = _simulate_normal_mean(true_diff, sigma, int(need * 0.7), reps, seed=12, margin=m, test=test)
    assert np.mean([v is target for v in got_small]) < power


def test_n_required_matches_the_one_sided_closed_form_far_from_zero():
    # true diff 0.5, margin 1: the lower margin is ~never crossed, so the one-sided formula is exact
    se, n, m, d = 0.2, 1000, 1.0, 0.5
    closed = n * ((stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) * se / (m - d)) ** 2
    assert n_required(d, se, n, m) == math.ceil(closed)
    assert n_required(1.0, se, n, m) is None  # observed diff on the margin: nothing decides it


def test_margin_equal_to_mdd_gives_two_power_minus_one_at_a_true_difference_of_zero():
    # what the mdd docstring says: identical models, margin = mdd -> EQUIVALENT with probability
    # 2 * power - 1 (0.6 at power 0.8), not "cannot be shown"
    sigma, n, reps = 2.0, 400, 4000
    se = sigma / math.sqrt(n)
    m = minimum_detectable_difference(se)
    share = np.mean([v is E for v in _simulate_normal_mean(0.0, sigma, n, reps, seed=21, margin=m)])
    assert abs(share - 0.6) <= 4 * math.sqrt(0.6 * 0.4 / reps), share
    # and below z_{1-alpha} se nothing is ever shown
    never = _simulate_normal_mean(0.0, sigma, n, 500, seed=22, margin=0.999 * stats.norm.ppf(0.95) * se)
    assert not any(v is E for v in never)


@pytest.mark.parametrize("test", ["equivalence", "non_inferiority"])
def test_n_required_planning_reaches_the_power_at_zero_in_simulation(test):
    sigma, n0, m, power, reps = 3.0, 200, 0.5, 0.8, 3000
    need = n_required_planning(sigma / math.sqrt(n0), n0, m, power=power, test=test)
    assert need > n0
    got = _simulate_normal_mean(0.0, sigma, need, reps, seed=31, margin=m, test=test)
    share = np.mean([v is E for v in got])
    assert abs(share - power) <= 4 * math.sqrt(power * (1 - power) / reps), share
    # minimal: the normal power one row earlier is below the target (decision_power is the exact formula
    # the simulation above checks)
    se_at = lambda rows: sigma / math.sqrt(rows)  # noqa: E731
    assert decision_power(0.0, se_at(need), m, test=test) >= power
    assert decision_power(0.0, se_at(need - 1), m, test=test) < power


def test_n_required_planning_ignores_the_observed_difference_and_is_finite_near_the_margin():
    se, n, m = 0.004, 2000, 0.01
    plan = n_required_planning(se, n, m)
    at_obs = n_required(0.0099, se, n, m)  # observed a hair inside the margin: explodes
    assert plan < 5 * n and at_obs > 1000 * plan
    assert n_required_planning(0.0, n, m) is None


@pytest.mark.parametrize("kwargs,match", [
    (dict(se=0.1, n=0, margin=1.0), "n must be a positive integer"),
    (dict(se=0.1, n=10, margin=-1.0), "margin must be > 0"),
    (dict(se=0.1, n=10, margin=1.0, power=1.0), "power must be in"),
    (dict(se=0.1, n=10, margin=1.0, test="superiority"), "test must be one of"),
    (dict(se=float("nan"), n=10, margin=1.0), "se must be finite"),
], ids=["n-zero", "margin-negative", "power-one", "test-unknown", "se-nan"])
def test_n_required_planning_bad_arguments(kwargs, match):
    with pytest.raises(ParityInputError, match=match):
        n_required_planning(**kwargs)
