"""Feature checks in the narrower dtype and declared feature maps, against slow references."""
from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.features import (OneHot, Rename, apply_feature_map, check_feature, check_features,
                                     onehot_to_index, ulp_distance, ulp_dtype)
from harness.errors import ParityInputError
from harness.verdicts import Verdict


def _slow_ulp32(a: float, b: float) -> int:
    """Positions of the two values on the ordered float32 line, after rounding each to float32."""
    a, b = float(np.float32(a)), float(np.float32(b))
    if math.isnan(a) and math.isnan(b):
        return 0
    if math.isnan(a) or math.isnan(b):
        return 2**64 - 1

    def pos(x: float) -> int:
        (bits,) = struct.unpack("<i", struct.pack("<f", x))
        return bits if bits >= 0 else -(bits & 0x7FFFFFFF)

    return abs(pos(a) - pos(b))


@given(st.floats(width=32, allow_nan=True, allow_infinity=True),
       st.floats(width=32, allow_nan=True, allow_infinity=True))
@settings(max_examples=300, derandomize=True)
def test_float32_ulp_distance_matches_slow_reference(a, b):
    assert int(ulp_distance(np.array([a]), np.array([b]), dtype=np.float32)[0]) == _slow_ulp32(a, b)


def test_float32_ulp_counts_float32_nextafter_steps():
    x = np.float32(1.2345)
    y = x
    for steps in range(6):
        assert int(ulp_distance(np.array([x]), np.array([y]), dtype="float32")[0]) == steps
        y = np.nextafter(y, np.float32(np.inf))


def test_ulp_dtype_is_the_narrower_float():
    f64, f32, f16, i64 = (np.zeros(2, d) for d in (np.float64, np.float32, np.float16, np.int64))
    assert ulp_dtype(f64, f64) == np.float64
    assert ulp_dtype(f64, f32) == np.float32 and ulp_dtype(f32, f64) == np.float32
    assert ulp_dtype(f32, f16) == np.float16
    assert ulp_dtype(i64, f64) == np.float64 and ulp_dtype(i64, f32) == np.float32


def test_float32_side_is_measured_in_float32_ulps():
    # The README's KerasSide casts float64 columns to float32: correctly rounded, 0 float32 ULPs apart,
    # where float64 ULPs made it ~2**28.
    rng = np.random.default_rng(0)
    legacy = rng.lognormal(size=500)
    new = legacy.astype(np.float32)
    r = check_feature("x", legacy, new, keys=np.arange(500), categorical=False, max_ulp=0)
    assert r.verdict is Verdict.EQUIVALENT
    assert r.details["ulp_dtype"] == "float32" and r.details["max_ulp"] == 0
    assert int(ulp_distance(legacy, new.astype(np.float64)).max()) > 2**20  # what float64 ULPs said

    # A float32 computation 3 float32 ULPs off on one row is caught, measured in float32 ULPs.
    broken = new.copy()
    for _ in range(3):
        broken[7] = np.nextafter(broken[7], np.float32(np.inf))
    r = check_feature("x", legacy, broken, keys=np.arange(500), categorical=False, max_ulp=2)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert r.details["n_mismatch"] == 1 and r.details["examples"][0]["key"] == 7
    assert r.details["max_ulp"] == 3
    assert "float32 ULP" in r.message and "float32 ULP" in r.summary
    r = check_feature("x", legacy, broken, keys=np.arange(500), categorical=False, max_ulp=3)
    assert r.verdict is Verdict.EQUIVALENT


def test_float64_sides_keep_float64_ulps():
    legacy = np.array([1.0, 2.0])
    new = np.nextafter(legacy, np.inf)
    r = check_feature("x", legacy, new, keys=np.arange(2), categorical=False, max_ulp=0)
    assert r.verdict is Verdict.NOT_EQUIVALENT and r.details["ulp_dtype"] == "float64" and r.details["max_ulp"] == 1


def _slow_onehot(rows, first_index, none, invalid):
    out = []
    for row in rows:
        if any(math.isnan(v) for v in row):
            out.append(invalid)
            continue
        hot = [j for j, v in enumerate(row) if v != 0]
        out.append(first_index + hot[0] if len(hot) == 1 else (none if not hot else invalid))
    return out


@given(st.lists(st.lists(st.sampled_from([0.0, 1.0, -1.0, 2.0, math.nan]), min_size=3, max_size=3),
                min_size=1, max_size=20),
       st.integers(-3, 3), st.integers(-5, -1), st.integers(-9, -6))
@settings(max_examples=200, derandomize=True)
def test_onehot_to_index_matches_slow_reference(rows, first_index, none, invalid):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"])
    got = onehot_to_index(frame, ["a", "b", "c"], first_index=first_index, none=none, invalid=invalid)
    assert got.tolist() == _slow_onehot(rows, first_index, none, invalid)


def _onehot_frame(labels, categories):
    return pd.DataFrame({f"device_{c}": [float(v == c) for v in labels] for c in categories})


def test_onehot_map_compares_one_hot_columns_with_an_index():
    cats = ["desktop", "mobile", "tablet"]
    labels = ["mobile", "tablet", "unseen", "desktop", "mobile"]
    legacy = _onehot_frame(labels, cats)  # OneHotEncoder(handle_unknown="ignore"): "unseen" is all zeros
    new = pd.DataFrame({"device": [2, 3, 0, 1, 2]})  # StringLookup: OOV 0, vocabulary from 1
    fmap = [OneHot("device", [f"device_{c}" for c in cats], side="legacy", first_index=1, none=0)]
    [r] = check_features(legacy, new, keys=np.arange(10, 15), features=["device"], categorical=["device"],
                         feature_map=fmap)
    assert r.verdict is Verdict.EQUIVALENT
    assert r.details["mapped"] == {"from": [fmap[0].describe()]}

    new_broken = new.assign(device=[2, 3, 1, 1, 2])  # the unseen category read as the first one
    [r] = check_features(legacy, new_broken, keys=np.arange(10, 15), features=["device"], categorical=["device"],
                         feature_map=fmap)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert [e["key"] for e in r.details["examples"]] == [12]
    assert r.details["examples"][0]["legacy"] == 0 and r.details["examples"][0]["new"] == 1


def test_onehot_maps_on_both_sides_and_rename():
    legacy = pd.DataFrame({"cat__c_a": [1.0, 0.0], "cat__c_b": [0.0, 1.0], "num__x": [0.5, 1.5]})
    new = pd.DataFrame({"c_oov": [0, 0], "c_a": [1, 0], "c_b": [0, 1], "x": [0.5, 1.5]})
    fmap = [OneHot("c", ["cat__c_a", "cat__c_b"], side="legacy", first_index=1, none=0),
            OneHot("c", ["c_oov", "c_a", "c_b"], side="new"),
            Rename("x", "num__x", side="legacy")]
    results = check_features(legacy, new, keys=np.arange(2), features=["c", "x"], categorical=["c"],
                             feature_map=fmap)
    assert [r.verdict for r in results] == [Verdict.EQUIVALENT, Verdict.EQUIVALENT]
    assert [m["side"] for m in results[0].details["mapped"]["from"]] == ["legacy", "new"]


@pytest.mark.parametrize("entry, match", [
    (OneHot("device", ["device_a", "device_zz"], side="legacy"),
     r"produces no column\(s\) \['device_zz'\].*neither side"),
    (OneHot("device", ["device_a"], side="both"), "side must be 'legacy' or 'new'"),
    (OneHot("other", ["device_a"], side="legacy"), "'other' is not among the compared features"),
    (OneHot("device", [], side="legacy"), "non-empty list without repeats"),
    (Rename("device", "device", side="new"), "already has a column 'device'"),
    ("device_a", "must be OneHot"),
], ids=["columns-missing", "bad-side", "feature-not-compared", "no-columns", "name-taken", "not-an-entry"])
def test_bad_feature_map_is_a_clear_error(entry, match):
    legacy = pd.DataFrame({"device_a": [1.0], "device_b": [0.0]})
    new = pd.DataFrame({"device": [0]})
    with pytest.raises(ParityInputError, match=match):
        apply_feature_map(legacy, new, [entry], features=["device"])
