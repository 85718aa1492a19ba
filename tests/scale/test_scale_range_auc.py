"""Range-partitioned DeLong components against the one-sort algorithm and a slow O(n_pos * n_neg)
reference: ties across range boundaries, ranges of one class, one range, empty ranges."""
from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm

from harness.scale.range_auc import (
    boundaries_from_sample,
    class_counts,
    prefix_counts,
    range_components,
    range_of,
    range_partitioned_auc,
    range_partitioned_components,
)
from harness.stats.delong import delong_paired, structural_components


def _slow_components(y, s):
    pos, neg = s[y], s[~y]
    v10 = np.array([np.mean((p > neg) + 0.5 * (p == neg)) for p in pos])
    v01 = np.array([np.mean((pos > q) + 0.5 * (pos == q)) for q in neg])
    return v10.mean(), v10, v01


def _case(n, seed, decimals):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = np.round(rng.normal(size=n) + y, decimals)
    return y, s


@pytest.mark.parametrize("n_ranges", [1, 2, 7, 64, 1000])
@pytest.mark.parametrize("decimals", [0, 1, 6], ids=["coarse-ties", "ties", "few-ties"])
def test_components_equal_the_one_sort_bit_for_bit(n_ranges, decimals):
    y, s = _case(2000, n_ranges + decimals, decimals)
    one = structural_components(y, s)
    ranged = range_partitioned_components(y, s, n_ranges=n_ranges, sample_size=300, seed=1)
    assert ranged[0] == one[0]
    assert np.array_equal(ranged[1], one[1]) and np.array_equal(ranged[2], one[2])


def test_components_match_the_slow_reference_and_sklearn():
    y, s = _case(400, 3, 1)
    auc, v10, v01 = range_partitioned_components(y, s, n_ranges=9, sample_size=50)
    ref = _slow_components(y, s)
    assert auc == pytest.approx(skm.roc_auc_score(y, s), abs=1e-15)
    np.testing.assert_allclose(v10, ref[1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(v01, ref[2], rtol=0, atol=1e-15)


def test_ties_sit_on_the_boundaries_and_never_straddle():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 1, 0], bool)
    s = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0])
    bounds = np.array([1.0, 2.0])  # every boundary is a tied score
    r = range_of(s, bounds)
    for v in np.unique(s):
        assert np.unique(r[s == v]).size == 1
    one = structural_components(y, s)
    ranged = range_partitioned_components(y, s, n_ranges=3, sample_size=10)
    assert ranged[0] == one[0] and np.array_equal(ranged[1], one[1]) and np.array_equal(ranged[2], one[2])


def test_ranges_of_one_class_and_empty_ranges():
    # low scores are all negatives, high scores all positives, a mixed band between
    y = np.array([0] * 50 + [0, 1] * 25 + [1] * 50, bool)
    s = np.concatenate([np.linspace(0, 1, 50), np.repeat(np.linspace(1.5, 2, 5), 10), np.linspace(3, 4, 50)])
    bounds = np.array([1.2, 1.2001, 2.5, 10.0])  # range 1 and range 4 are empty
    r = range_of(s, bounds)
    counts = class_counts(y, r, bounds.size + 1)
    assert counts[0, 1] == 0 and counts[3, 0] == 0 and counts[1].sum() == 0 and counts[4].sum() == 0
    neg_before, pos_after = prefix_counts(counts)
    n_neg, n_pos = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    vals, numerator = np.empty(s.size), 0.0
    for j in range(bounds.size + 1):
        idx = np.flatnonzero(r == j)
        part = range_components(y[idx], s[idx], int(neg_before[j]), int(pos_after[j]), n_pos, n_neg)
        vals[idx] = part.values
        numerator += part.auc_numerator
    one = structural_components(y, s)
    assert numerator / (n_pos * n_neg) == one[0]
    assert np.array_equal(vals[y], one[1]) and np.array_equal(vals[~y], one[2])


def test_boundaries_are_sample_quantiles():
    sample = np.arange(100.0)
    assert np.array_equal(boundaries_from_sample(sample, 4), np.quantile(sample, [0.25, 0.5, 0.75]))
    assert boundaries_from_sample(sample, 1).size == 0
    assert boundaries_from_sample(np.ones(10), 8).tolist() == [1.0]  # tied quantiles collapse


@pytest.mark.parametrize("n_ranges", [1, 5, 32])
def test_paired_delong_equals_delong_paired(n_ranges):
    y, a = _case(3000, 11, 2)
    b = np.round(a + np.random.default_rng(12).normal(scale=0.3, size=a.size), 2)
    assert range_partitioned_auc(y, a, b, alpha=0.1, n_ranges=n_ranges, sample_size=500) == \
        delong_paired(y, a, b, alpha=0.1)
