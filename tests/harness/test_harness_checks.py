"""Tests of the row-level checks against slow, obviously-correct references."""
from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.alignment import align_scores
from harness.checks.features import check_feature, check_features, ulp_distance
from harness.checks.predictions import check_predictions, topk_overlap
from harness.verdicts import Verdict


def _slow_ulp(a: float, b: float) -> int:
    """Distance between two floats as the difference of their positions on the ordered float line."""
    if math.isnan(a) and math.isnan(b):
        return 0
    if math.isnan(a) or math.isnan(b):
        return 2**64 - 1

    def pos(x: float) -> int:
        (bits,) = struct.unpack("<q", struct.pack("<d", x))
        return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)

    return abs(pos(a) - pos(b))


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=300, derandomize=True)
def test_ulp_distance_matches_slow_reference(a, b):
    assert int(ulp_distance(np.array([a]), np.array([b]))[0]) == _slow_ulp(a, b)


def test_ulp_distance_counts_nextafter_steps():
    x = 1.2345
    y = x
    for steps in range(6):
        assert int(ulp_distance(np.array([x]), np.array([y]))[0]) == steps
        y = np.nextafter(y, np.inf)
    # across zero: smallest subnormals on both sides are 2 apart, signed zeros 0 apart
    assert int(ulp_distance(np.array([5e-324]), np.array([-5e-324]))[0]) == 2
    assert int(ulp_distance(np.array([0.0]), np.array([-0.0]))[0]) == 0


def test_categorical_feature_exact_match_and_examples():
    keys = np.arange(100, 110)
    legacy = np.arange(10)
    new = legacy.copy()
    new[[3, 7]] += 1
    raw = pd.DataFrame({"price": np.linspace(1, 10, 10)})
    r = check_feature("price_bucket", legacy, new, keys=keys, categorical=True, raw=raw)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert r.details["n_mismatch"] == 2
    assert [e["key"] for e in r.details["examples"]] == [103, 107]
    assert r.details["examples"][0]["raw"] == {"price": 4.0}
    assert "price_bucket" in r.message and "103" in r.message


def test_numeric_feature_ulp_tolerance():
    rng = np.random.default_rng(0)
    legacy = rng.lognormal(size=1000)
    new = np.nextafter(legacy, np.inf)  # one ULP up everywhere
    assert check_feature("f", legacy, new, keys=np.arange(1000), categorical=False, max_ulp=1).verdict is Verdict.EQUIVALENT
    r = check_feature("f", legacy, new, keys=np.arange(1000), categorical=False, max_ulp=0)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert r.details["max_ulp"] == 1 and r.details["n_mismatch"] == 1000


def test_numeric_feature_float32_is_measured_in_float32_ulps():
    legacy = np.array([0.1, 1.0 / 3.0, 2.0])
    new = legacy.astype(np.float32)
    r = check_feature("log_price", legacy, new, keys=np.arange(3), categorical=False, max_ulp=4)
    assert r.verdict is Verdict.EQUIVALENT  # correctly rounded float32 values are 0 float32 ULPs apart
    assert r.details["ulp_dtype"] == "float32" and r.details["max_ulp"] == 0
    assert r.details["max_abs_err"] == pytest.approx(max(abs(0.1 - float(np.float32(0.1))), abs(1 / 3 - float(np.float32(1 / 3)))))


def test_a_float32_side_off_by_more_than_rounding_is_caught_in_float32_ulps():
    legacy = np.array([0.1, 1.0 / 3.0, 2.0])
    new = legacy.astype(np.float32)
    new[1] = np.nextafter(np.nextafter(new[1], np.float32(1)), np.float32(1))  # 2 float32 ULPs off
    r = check_feature("log_price", legacy, new, keys=np.arange(3), categorical=False, max_ulp=1)
    assert r.verdict is Verdict.NOT_EQUIVALENT and r.details["n_mismatch"] == 1 and r.details["max_ulp"] == 2


def test_missing_feature_names_the_side():
    legacy = pd.DataFrame({"a": [1, 2]})
    new = pd.DataFrame({"b": [1, 2]})
    (r,) = check_features(legacy, new, keys=[1, 2], features=["a"], categorical=["a"])
    assert r.verdict is Verdict.NOT_EQUIVALENT and "new" in r.summary and "'a'" in r.message


def _slow_topk(legacy, new, groups, keys, k):
    overlaps = []
    for g in sorted(set(groups)):
        rows = [i for i in range(len(groups)) if groups[i] == g]
        top = lambda s: {keys[i] for i in sorted(rows, key=lambda i: (-s[i], keys[i]))[:k]}  # noqa: E731
        overlaps.append(len(top(legacy) & top(new)) / min(k, len(rows)))
    return np.mean(overlaps), np.min(overlaps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topk_overlap_matches_slow_reference(seed):
    rng = np.random.default_rng(seed)
    n = 300
    groups = rng.integers(0, 40, n)
    keys = rng.permutation(n) + 1000
    legacy = np.round(rng.random(n), 1)  # heavy ties: tie-breaking by key must agree
    new = np.where(rng.random(n) < 0.3, rng.random(n), legacy)
    got = topk_overlap(legacy, new, groups, k=3, keys=keys)
    mean, mn = _slow_topk(legacy, new, groups, keys, 3)
    assert got["mean_overlap"] == pytest.approx(mean, abs=1e-12)
    assert got["min_overlap"] == pytest.approx(mn, abs=1e-12)


def test_predictions_summary_statistics_against_references():
    rng = np.random.default_rng(3)
    legacy = rng.random(5000)
    new = legacy + rng.normal(scale=1e-4, size=5000)
    r = check_predictions(legacy, new, keys=np.arange(5000), atol=2e-4, max_share=0.1)
    d = np.abs(new - legacy)
    assert r.details["max_abs_diff"] == d.max()
    assert r.details["p99_abs_diff"] == pytest.approx(np.percentile(d, 99))
    assert r.details["share_beyond_tol"] == pytest.approx((d > 2e-4).mean())
    ref_rho = pd.Series(legacy).rank().corr(pd.Series(new).rank())
    assert r.details["spearman"] == pytest.approx(ref_rho, abs=1e-12)
    assert r.verdict is Verdict.EQUIVALENT


def test_predictions_float16_scores_fail_with_size():
    rng = np.random.default_rng(4)
    legacy = rng.random(2000) * 0.1
    new = legacy.astype(np.float16).astype(np.float64)
    r = check_predictions(legacy, new, keys=np.arange(2000), atol=1e-6)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert 1e-6 < r.details["max_abs_diff"] < 1e-3
    assert "atol=1e-06" in r.message


def test_predictions_nan_is_a_failing_check_naming_rows():
    r = check_predictions(np.array([0.1, 0.2, 0.3]), np.array([0.1, np.nan, np.inf]), keys=np.array([7, 8, 9]), atol=1e-6)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert "new: 2 non-finite" in r.message and "[8, 9]" in r.message


def test_shuffled_rows_are_diagnosed():
    rng = np.random.default_rng(5)
    legacy = rng.random(1000)
    r = check_predictions(legacy, rng.permutation(legacy), keys=np.arange(1000), atol=1e-6)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert "shuffled or misaligned" in r.message


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=40, unique=True),
    st.lists(st.integers(0, 40), max_size=60),
)
@settings(max_examples=200, derandomize=True)
def test_alignment_counts_match_set_arithmetic(ref, scored):
    legacy = pd.Series(np.zeros(len(ref)), index=ref)
    new = pd.Series(np.ones(len(scored)), index=scored)
    a = align_scores(np.array(ref), legacy, new)
    counts = pd.Series(scored).value_counts() if scored else pd.Series(dtype=int)
    dup = {k for k, c in counts.items() if c > 1}
    singles = {k for k, c in counts.items() if c == 1}
    d = a.check.details
    assert d["missing_in_new"] == len(set(ref) - set(scored))
    assert d["duplicated_in_new"] == len(dup)
    assert d["unexpected_in_new"] == len(set(scored) - set(ref))
    assert d["n_aligned"] == len(set(ref) & singles)
    assert (a.check.verdict is Verdict.EQUIVALENT) == (set(scored) == set(ref) and not dup)
    assert list(np.array(ref)[a.positions]) == [k for k in ref if k in singles]


def _aligned_by_index_operations(monkeypatch, ref, legacy, new):
    import harness.checks.alignment as alignment

    with monkeypatch.context() as m:
        m.setattr(alignment, "_in_reference_order", lambda *_: False)
        return align_scores(ref, legacy, new)


@pytest.mark.parametrize("keys", [
    np.arange(500), np.arange(500)[::-1].astype(np.int32), np.array([f"k{i}" for i in range(300)]),
    np.array([f"k{i}" for i in range(300)], dtype=object),
    np.array([0.5, np.nan, 2.0]), np.array([1, "a", 2.5], dtype=object),
])
def test_alignment_of_sides_in_reference_order_is_that_of_the_index_operations(keys, monkeypatch):
    """A suite run's sides score exactly the reference keys in order; that case skips pandas' set
    operations and must give what they give: positions, values (dtypes too) and the check."""
    import harness.checks.alignment as alignment

    rng = np.random.default_rng(len(keys))
    cases = [(pd.Series(rng.random(len(keys)), index=keys), pd.Series(rng.random(len(keys)), index=keys))]
    cases.append((cases[0][0], cases[0][1].iloc[::-1]))  # one side out of order: the general path
    cases.append((cases[0][0], cases[0][1].iloc[1:]))  # one side missing a key
    for legacy, new in cases:
        fast = align_scores(keys, legacy, new)
        slow = _aligned_by_index_operations(monkeypatch, keys, legacy, new)
        assert fast.positions.dtype == slow.positions.dtype and np.array_equal(fast.positions, slow.positions)
        for got, want in ((fast.legacy, slow.legacy), (fast.new, slow.new)):
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
        assert fast.check.to_dict() == slow.check.to_dict()
    if not pd.isna(keys).any():  # NaN is not equal to itself: such keys take the general path
        assert alignment._in_reference_order(pd.Index(keys).to_numpy(), cases[0][0])
