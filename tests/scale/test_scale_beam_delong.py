"""The Beam runner's DeLong steps (harness.scale.beam_delong) against independent references: a
brute-force O(n_pos * n_neg) count of the structural components, exact Python-integer power sums, and
`delong_paired` on the same rows; no Beam needed."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scale import range_auc
from harness.scale.beam_delong import ClassMoments, delong_from_moments, integer_components, join_bucket, key_buckets
from harness.stats.delong import delong_paired


def _brute_numerators(y, s):
    """2 n_neg V10 per positive, 2 n_pos V01 per negative by comparing every pair (ties count half)."""
    pos, neg = s[y], s[~y]
    out = np.empty(s.shape[0], dtype=np.int64)
    for i in range(s.shape[0]):
        other = neg if y[i] else pos
        below = (other < s[i]) if y[i] else (other > s[i])
        out[i] = 2 * int(below.sum()) + int((other == s[i]).sum())
    return out


def _data(seed, n, decimals=2):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-z))
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.8, size=n)))), decimals)  # ties
    b = np.round(np.clip(a + rng.normal(scale=0.02, size=n), 0, 1), decimals)
    return y, a, b


def _ranged_numerators(y, s, n_ranges):
    bounds = range_auc.boundaries_from_sample(s, n_ranges)
    r = range_auc.range_of(s, bounds)
    counts = range_auc.class_counts(y, r, bounds.shape[0] + 1)
    neg_before, pos_after = range_auc.prefix_counts(counts)
    k = np.empty(s.shape[0], dtype=np.int64)
    for g in range(bounds.shape[0] + 1):
        m = r == g
        k[m] = integer_components(y[m], s[m], int(neg_before[g]), int(pos_after[g]))
    return k


@pytest.mark.parametrize("n_ranges", [1, 3, 17])
def test_integer_components_equal_pairwise_counts_range_by_range(n_ranges):
    y, a, _ = _data(1, 400, decimals=1)
    assert np.array_equal(_ranged_numerators(y, a, n_ranges), _brute_numerators(y, a))


def _moments(y, a, b, keys, n_buckets, n_ranges=5):
    ka, kb = _ranged_numerators(y, a, n_ranges), _ranged_numerators(y, b, n_ranges)
    bucket = key_buckets(keys, n_buckets)
    pos, neg, dup = ClassMoments(), ClassMoments(), [None, 0]
    for g in np.unique(bucket):
        m = bucket == g
        rev = np.flatnonzero(m)[::-1]  # the new side's rows in another order: the join is by key
        p, q, d = join_bucket((keys[m], y[m], ka[m]), (keys[rev], y[rev], kb[rev]))
        pos, neg = pos.merge(p), neg.merge(q)
        dup[1] += d[1]
    return pos, neg, dup


def _close(x, y, rel=1e-12, abs_tol=0.0):
    if isinstance(x, tuple):
        return all(_close(u, v, rel, abs_tol) for u, v in zip(x, y))
    return x == y or math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol)


@pytest.mark.parametrize("seed,n,decimals,n_buckets", [(0, 3000, 2, 1), (1, 5000, 3, 7), (2, 800, 1, 16),
                                                       (3, 20000, 6, 5)])
def test_delong_from_moments_equals_delong_paired(seed, n, decimals, n_buckets):
    y, a, b = _data(seed, n, decimals)
    keys = np.random.default_rng(seed).permutation(n) * 3 - n
    pos, neg, dup = _moments(y, a, b, keys, n_buckets)
    assert dup[1] == 0
    r = delong_from_moments(pos, neg, alpha=0.05)
    ref = delong_paired(y.astype(int), a, b, alpha=0.05)
    assert (r.auc_a, r.auc_b, r.diff, r.n_pos, r.n_neg) == (ref.auc_a, ref.auc_b, ref.diff, ref.n_pos, ref.n_neg)
    for field in ("se", "z", "p_value", "var_a", "var_b", "cov", "df"):
        assert _close(getattr(r, field), getattr(ref, field)), field
    # interval limits are differences of two AUCs (near-equal): a few ulps of the AUC, not of the limit
    for lv in (0.05, 0.01, 0.1):
        assert _close(r.ci_at(lv), ref.ci_at(lv), abs_tol=1e-12)
    for delta, side in ((-0.001, "greater"), (0.002, "less")):
        # found by a root search on the interval's radius (brentq, xtol 1e-12): equal to its tolerance
        assert math.isclose(r.p_value_beyond(delta, side), ref.p_value_beyond(delta, side), rel_tol=1e-9,
                            abs_tol=1e-11)


def test_identical_sides_have_zero_variance_as_in_memory():
    y, a, _ = _data(4, 600)
    pos, neg, _ = _moments(y, a, a.copy(), np.arange(600), 3)
    r, ref = delong_from_moments(pos, neg, alpha=0.05), delong_paired(y.astype(int), a, a, alpha=0.05)
    assert (r.se, r.z, r.p_value, r.ci, r.df) == (ref.se, ref.z, ref.p_value, ref.ci, ref.df) == (0.0, 0.0, 1.0,
                                                                                                   (0.0, 0.0), math.inf)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, (1 << 31) - 1), st.integers(0, (1 << 31) - 1)), min_size=1, max_size=50))
def test_power_sums_are_exact_at_the_largest_numerators(pairs):
    ka = np.array([p[0] for p in pairs], dtype=np.int64)
    kb = np.array([p[1] for p in pairs], dtype=np.int64)
    c = ClassMoments.of(ka, kb)
    a, b = [int(v) for v in ka], [int(v) for v in kb]
    d = [v - u for u, v in zip(a, b)]
    assert c.to_list() == [len(a), sum(a), sum(b), sum(u * u for u in a), sum(v * v for v in b),
                           sum(u * v for u, v in zip(a, b)), sum(x ** 3 for x in d), sum(x ** 4 for x in d)]
    assert (c.d1, c.d2) == (sum(d), sum(x * x for x in d))


def test_join_bucket_counts_repeated_keys_and_refuses_mismatched_sides():
    keys = np.array([5, 3, 5, 9, 3, 5])
    y = np.array([True, False, True, False, True, False])
    k = np.arange(6, dtype=np.int64)
    _, _, dup = join_bucket((keys, y, k), (keys, y, k))
    assert dup == [3, 3]
    with pytest.raises(Exception, match="do not match by key"):
        join_bucket((keys, y, k), (keys[:-1], y[:-1], k[:-1]))


def test_key_buckets_are_a_fixed_function_of_the_key():
    keys = np.arange(1000)
    b = key_buckets(keys, 8)
    assert b.min() >= 0 and b.max() < 8 and len(np.unique(b)) == 8
    assert np.array_equal(key_buckets(keys[::-1], 8), b[::-1])
    s = np.array(["a", "b", "a"], dtype=object)
    sb = key_buckets(s, 4)
    assert sb[0] == sb[2]
