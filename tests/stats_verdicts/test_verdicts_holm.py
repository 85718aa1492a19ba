"""Holm's step-down adjustment against a literal implementation of the procedure and a worked example."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.stats.multiple import METHOD, holm, holm_verdicts
from harness.verdicts import Verdict


def _rejects(p, alpha):
    """Holm (1979) as written: walk the sorted p-values, reject while p_(j) <= alpha / (k - j + 1)."""
    k = len(p)
    order = sorted(range(k), key=lambda i: p[i])
    rejected = set()
    for j, i in enumerate(order):
        if p[i] * (k - j) <= alpha:  # = p_(j) <= alpha / (k - j + 1), 1-based, without rounding
            rejected.add(i)
        else:
            break
    return rejected


def _slow_adjusted(p):
    """Adjusted p-value = the smallest alpha at which the procedure rejects that hypothesis.

    The rejection set only changes at alpha = (k - j) * p_(j), so those candidates (and 1) suffice.
    """
    k = len(p)
    candidates = sorted({min(1.0, (k - j) * pj) for j, pj in enumerate(sorted(p))} | {1.0})
    out = []
    for i in range(k):
        out.append(next(a for a in candidates if i in _rejects(p, a)) if any(
            i in _rejects(p, a) for a in candidates) else 1.0)
    return np.array(out)


def test_worked_example():
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    # 0.02, 0.03, 0.06, 0.06; back in input order. (R: p.adjust(c(.01,.04,.03,.005), "holm") agrees.)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_literal_procedure(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 9))
    p = rng.choice([rng.uniform(0, 0.2), rng.uniform(0, 1)], size=k)  # repeated values: ties
    p = np.where(rng.random(k) < 0.5, rng.uniform(0, 0.1, k), p)
    np.testing.assert_allclose(holm(p), _slow_adjusted(list(p)), rtol=0, atol=1e-15)


def test_exhaustive_small_grid_with_ties():
    grid = [0.0, 0.01, 0.02, 0.05, 0.3, 1.0]
    for p in itertools.product(grid, repeat=3):
        np.testing.assert_allclose(holm(p), _slow_adjusted(list(p)), atol=1e-15)


def test_bad_p_values_are_named():
    with pytest.raises(ParityInputError, match=r"p_values\[1\] = nan"):
        holm([0.1, float("nan")])
    with pytest.raises(ParityInputError, match=r"p_values\[0\] = 1.5"):
        holm([1.5])
    assert holm([]).size == 0


def test_holm_verdicts_downgrades_only_equivalent():
    E, N, I = Verdict.EQUIVALENT, Verdict.NOT_EQUIVALENT, Verdict.INCONCLUSIVE
    p = [0.01, 0.03, None, 0.04, 0.2]
    v = [E, E, E, N, I]
    adj, out = holm_verdicts(p, v, alpha=0.05)
    # family of 4: 0.01*4 = 0.04, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09, 0.2*1 -> 0.2
    assert adj == [pytest.approx(0.04), pytest.approx(0.09), None, pytest.approx(0.09), pytest.approx(0.2)]
    assert out == [E, I, E, N, I]  # member 2 is outside the family and keeps its verdict
    assert METHOD == "Holm"


def test_holm_level_of_an_unadjusted_member_is_alpha_exactly():
    # p == p_adjusted: Holm tests this member at alpha itself. alpha * p / p rounds one ulp away from
    # alpha for some p (0.6515929727... with alpha 0.05), and whether a shell shows the adjusted
    # interval then hung on p's last bits (the streamed and in-memory reports could differ).
    from harness.stats.multiple import holm_level

    rng = np.random.default_rng(3)
    ps = rng.random(20000)
    for alpha in (0.05, 0.1, 0.01):
        assert all(holm_level(p, p, alpha, 3) == alpha for p in ps)
    assert any(0.05 * p / p != 0.05 for p in ps)  # the case exists: the test can fail
    assert holm_level(0.01, 0.04, 0.05, 4) == 0.05 * 0.01 / 0.04


def test_a_p_value_of_0_is_tested_at_alpha_over_the_family_size():
    """A TOST p-value that underflows to 0 sorts first, where Holm tests at alpha / k; its level was
    given as alpha (the ratio 0 / 0), so the shells showed the unadjusted interval as Holm's."""
    from harness.stats.multiple import holm_level

    others = [0.02, 0.3, 0.001]
    for zeros in (1, 2):
        ps = [0.0] * zeros + others
        k = len(ps)
        adj = holm(ps)
        levels = [holm_level(p, a, 0.05, k) for p, a in zip(ps[:zeros], adj[:zeros])]
        assert levels == [0.05 / k] * zeros
        # the limit it stands for: tiny positive p-values in its place get the same level
        tiny = [1e-300] * zeros + others
        adj_tiny = holm(tiny)
        assert [holm_level(p, a, 0.05, k) for p, a in zip(tiny[:zeros], adj_tiny[:zeros])] == pytest.approx(levels)
    with pytest.raises(ParityInputError, match="family_size must be a positive integer"):
        holm_level(0.0, 0.0, 0.05, 0)


def test_an_entry_whose_p_value_underflows_shows_holms_interval():
    from harness.stats.compare import compare_scores

    rng = np.random.default_rng(11)
    n = 50_000
    p = rng.beta(2, 8, n)
    y = (rng.random(n) < p).astype(int)
    a = np.clip(p + rng.normal(0, 0.02, n), 1e-3, 1 - 1e-3)
    b = np.clip(a + rng.normal(0, 1e-6, n), 1e-3, 1 - 1e-3)  # a port: log loss moves in the 7th digit
    r = compare_scores(y, a, b, metrics=["auc", "logloss"], margins={"auc": 0.005, "logloss": (0.02, "relative")})
    e = {x.name: x for x in r.entries}["logloss"]
    assert e.p_value == 0.0 and e.p_adjusted == 0.0  # the case this is about
    # two gated claims: the first tested at alpha / 2, so Holm's interval is the 1 - alpha one
    assert e.ci_adjusted_level == pytest.approx(0.95)
    assert e.ci_adjusted == pytest.approx(e.ci_two_sided, rel=0, abs=0)
