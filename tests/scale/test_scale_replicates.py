"""ReplicateSums: exact Poisson-replicate sums, independent of chunking and row order, against a slow
Fraction sum over `poisson_weights` and against the in-memory bootstrap's calibration-ratio replicates."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from harness.scale.replicates import ReplicateSums
from harness.stats.bootstrap import paired_bootstrap, poisson_weights


def _cols(n, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.float64)
    a, b = rng.random(n), rng.random(n)
    w = rng.gamma(2.0, size=n)
    return rng.permutation(n) * 5 + 2, np.stack([w * b - w * a, w * y]), (y, a, b, w)


def _sums(keys, cols, chunks, n_boot=37, seed=3):
    acc = ReplicateSums(n_boot, cols.shape[0], seed)
    for part in np.array_split(np.arange(keys.shape[0]), chunks):
        acc.add(keys[part], cols[:, part])
    return acc


def test_equals_a_slow_fraction_sum():
    keys, cols, _ = _cols(300)
    acc = _sums(keys, cols, 7)
    c = poisson_weights(keys, 3, 37)
    for b in (0, 5, 36):
        num = sum(Fraction(int(ci)) * Fraction(float(v)) for ci, v in zip(c[b], cols[0]))
        den = sum(Fraction(int(ci)) * Fraction(float(v)) for ci, v in zip(c[b], cols[1]))
        assert acc.ratio(0, 1)[b] == float(num / den)


@pytest.mark.parametrize("chunks", [1, 13, 300])
def test_any_chunking_row_order_or_merge_gives_the_same_bits(chunks):
    keys, cols, _ = _cols(300)
    ref = _sums(keys, cols, 1).ratio(0, 1)
    o = np.random.default_rng(chunks).permutation(300)
    assert np.array_equal(_sums(keys[o], cols[:, o], chunks).ratio(0, 1), ref)
    half = _sums(keys[:100], cols[:, :100], 3).merge(_sums(keys[100:], cols[:, 100:], 2))
    assert np.array_equal(half.ratio(0, 1), ref)


def test_matches_the_in_memory_calibration_ratio_replicates():
    keys, cols, (y, a, b, w) = _cols(2000, seed=1)
    r = paired_bootstrap("calibration_ratio", y, a, b, sample_weight=w, keys=keys, n_boot=37, seed=3)
    np.testing.assert_allclose(_sums(keys, cols, 9).ratio(0, 1), r.replicates, rtol=1e-13, atol=0)


def test_a_replicate_with_a_zero_denominator_is_inf_or_nan_not_an_error():
    acc = ReplicateSums(3, 2, 0)
    acc.add(np.array([1, 2]), np.array([[0.5, 0.0], [0.0, 0.0]]))
    assert all(v == np.inf or v == 0.0 or np.isnan(v) for v in acc.ratio(0, 1))
    assert np.isinf(acc.ratio(0, 1)).any() or np.isnan(acc.ratio(0, 1)).any()
