"""LegacyFeaturizer and FeatureSpec against hand-computed expectations on tiny frames."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError
from legacy_adapter.featurizer import FeatureSpec, LegacyFeaturizer, fit_spec
from legacy_adapter.hashing import siphash24

KEY = (11, 22)


def raw_frame(**overrides):
    base = {
        "row_id": [1, 2, 3, 4],
        "position": [1, 2, 3, 40],
        "shop_id": ["shop_1", "shop_2", "shop_1", None],
        "category": ["cat_1", "cat_1", "cat_2", "cat_9"],
        "device": ["mobile", "desktop", "mobile", None],
        "country": ["US", "US", "DE", "XX"],
        "price": [9.99, np.nan, 0.5, -3.0],
        "listing_age_days": [0.0, 7.0, np.nan, 400.0],
        "hist_ctr": [0.1, np.nan, 0.3, 0.05],
        "query": ["  Red SHOES ", "", None, "ÄB\tc"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def small_spec(**overrides):
    kwargs = dict(
        vocabularies={"category": ("cat_1", "cat_2"), "device": ("mobile", "desktop"), "country": ("US", "DE")},
        price_boundaries=(1.0, 10.0, 100.0),
        listing_age_boundaries=(1.0, 7.0, 30.0),
        price_impute=20.0,
        listing_age_impute=3.0,
        hist_ctr_impute=0.04,
        shop_buckets=1000,
        cross_buckets=100,
        query_buckets=500,
        hash_key=KEY,
        max_position=30,
        max_query_tokens=8,
    )
    kwargs.update(overrides)
    return FeatureSpec(**kwargs)


def bucket(text, n):
    return siphash24(text.encode("utf-8"), *KEY) % n


def test_transform_matches_hand_computed_values():
    frame = raw_frame()
    out = LegacyFeaturizer(small_spec()).transform(frame)
    assert list(out.columns) == list(small_spec().feature_names)
    assert out.index.equals(frame.index)
    # price: 9.99, NaN -> imputed 20.0, 0.5, -3.0 (signed log1p)
    # (within 1 ULP of libm's log1p: numpy's own log1p is a SIMD kernel on CPUs with AVX-512, 1 ULP off libm's)
    np.testing.assert_array_max_ulp(out["log_price"].to_numpy(),
                                    np.array([math.log1p(9.99), math.log1p(20.0), math.log1p(0.5), -math.log1p(3.0)]),
                                    maxulp=1)
    # boundaries (1, 10, 100): 9.99 in [1,10) -> 1; 20 in [10,100) -> 2; 0.5 < 1 -> 0; -3 -> 0
    assert out["price_bucket"].tolist() == [1, 2, 0, 0]
    # age: 0, 7, NaN -> 3.0, 400; boundaries (1, 7, 30): 0 -> 0, 7 -> 2 (boundary is inclusive below), 3 -> 1, 400 -> 3
    np.testing.assert_array_max_ulp(out["log_listing_age"].to_numpy(),
                                    np.array([0.0, math.log1p(7.0), math.log1p(3.0), math.log1p(400.0)]), maxulp=1)
    assert out["listing_age_bucket"].tolist() == [0, 2, 1, 3]
    assert out["hist_ctr_imputed"].tolist() == [0.1, 0.04, 0.3, 0.05]
    assert out["hist_ctr_missing"].tolist() == [0, 1, 0, 0]
    np.testing.assert_array_max_ulp(out["position_log"].to_numpy(),
                                    np.array([math.log1p(1), math.log1p(2), math.log1p(3), math.log1p(40)]), maxulp=1)
    assert out["position"].tolist() == [1, 2, 3, 30]
    # vocab ids 1-based, OOV -> 0, missing -> "" -> OOV
    assert out["category_id"].tolist() == [1, 1, 2, 0]
    assert out["device_id"].tolist() == [1, 2, 1, 0]
    assert out["country_id"].tolist() == [1, 1, 2, 0]
    assert out["shop_hash"].tolist() == [bucket("shop_1", 1000), bucket("shop_2", 1000), bucket("shop_1", 1000), bucket("", 1000)]
    assert out["category_x_device"].tolist() == [
        bucket("5:cat_1mobile", 100), bucket("5:cat_1desktop", 100), bucket("5:cat_2mobile", 100), bucket("5:cat_9", 100)
    ]
    # queries: strip ASCII whitespace, ASCII-lowercase only ("Ä" stays), tokens on ASCII whitespace
    assert out["query_hash"].tolist() == [bucket("red shoes", 500), bucket("", 500), bucket("", 500), bucket("Äb\tc", 500)]
    assert out["query_num_tokens"].tolist() == [2, 0, 0, 2]
    assert all(out[c].dtype == np.float64 for c in small_spec().numeric_features)
    assert all(out[c].dtype == np.int64 for c in small_spec().categorical_features)


def test_cross_is_injective_where_a_separator_would_not_be():
    frame = raw_frame(category=["ab", "a", "ab", "a"], device=["c", "bc", "c", "bc"])
    out = LegacyFeaturizer(small_spec(cross_buckets=2**62)).transform(frame)
    assert out["category_x_device"][0] != out["category_x_device"][1]


def test_extreme_values_inf_position_and_tokens():
    frame = raw_frame(
        price=[np.inf, -np.inf, 1e300, 5e-324],
        position=[0, -5, 30, 31],
        query=["a b c d e f g h i j", " \x0b\x0c ", "a\u00a0b", "x  y"],
    )
    out = LegacyFeaturizer(small_spec()).transform(frame)
    assert out["log_price"].tolist() == [math.inf, -math.inf, math.log1p(1e300), 0.0]
    assert out["price_bucket"].tolist() == [3, 0, 3, 0]
    assert out["position"].tolist() == [0, 0, 30, 30]
    assert out["position_log"].tolist() == [0.0, -math.log1p(5), math.log1p(30), math.log1p(31)]
    # 10 tokens capped at 8; vertical tab / form feed are ASCII whitespace; NBSP is not
    assert out["query_num_tokens"].tolist() == [8, 0, 1, 2]


def test_subnormal_input_is_read_as_zero_of_its_sign():
    frame = raw_frame(hist_ctr=[5e-324, -1e-310, 2.2250738585072014e-308, 0.0])
    out = LegacyFeaturizer(small_spec()).transform(frame)
    got = out["hist_ctr_imputed"].to_numpy()
    assert got.tolist() == [0.0, 0.0, 2.2250738585072014e-308, 0.0]
    assert np.signbit(got).tolist() == [False, True, False, False]


def test_fit_spec_vocabularies_and_imputation():
    train = pd.DataFrame(
        {
            "position": [1, 2, 3, 1, 2, 3],
            "shop_id": ["s"] * 6,
            "category": ["b", "a", "a", "b", "c", None],
            "device": ["m", "m", "m", "d", "d", "t"],
            "country": ["US"] * 6,
            "price": [1.0, 3.0, np.nan, 10.0, 2.0, np.inf],
            "listing_age_days": [5.0, 1.0, 2.0, 3.0, 4.0, 100.0],
            "hist_ctr": [0.1, np.nan, 0.2, 0.3, np.nan, 0.4],
            "query": ["q"] * 6,
        }
    )
    spec = fit_spec(train, min_count=2, hash_key=KEY)
    # by frequency, ties by value; values seen < 2 times dropped
    assert spec.vocabularies == {"category": ("a", "b"), "device": ("m", "d"), "country": ("US",)}
    assert spec.price_impute == 2.5  # median of finite non-missing [1, 3, 10, 2]
    assert spec.listing_age_impute == 3.5
    assert spec.hist_ctr_impute == pytest.approx(0.25)
    assert spec.cardinality("category_id") == 3
    assert spec.cardinality("price_bucket") == len(spec.price_boundaries) + 1
    assert spec.cardinality("position") == spec.max_position + 1


def test_spec_json_round_trip():
    spec = small_spec()
    text = json.dumps(spec.to_dict())
    assert FeatureSpec.from_dict(json.loads(text)) == spec
    assert json.loads(text)["version"] == 1


def test_spec_is_immutable_and_hashable():
    spec = small_spec()
    with pytest.raises(TypeError):
        spec.vocabularies["category"] = ("x",)
    with pytest.raises(AttributeError):
        spec.price_impute = 1.0
    assert hash(spec) == hash(FeatureSpec.from_dict(spec.to_dict()))
    assert spec != small_spec(price_impute=21.0)


def test_nullable_pandas_dtypes_read_like_none_and_nan():
    plain = raw_frame()
    nullable = plain.astype({"price": "Float64", "hist_ctr": "Float64", "position": "Int64", "query": "string"})
    nullable.loc[1, "price"] = pd.NA
    nullable.loc[2, "query"] = pd.NA
    out = LegacyFeaturizer(small_spec()).transform(nullable)
    pd.testing.assert_frame_equal(out, LegacyFeaturizer(small_spec()).transform(plain))
    with pytest.raises(ParityInputError, match=r"column 'position', row 3"):
        LegacyFeaturizer(small_spec()).transform(nullable.assign(position=pd.array([1, 2, 3, None], dtype="Int64")))


def test_spec_exposes_names():
    spec = small_spec()
    assert set(spec.feature_names) == set(spec.numeric_features) | set(spec.categorical_features)
    assert "price" in spec.raw_columns and "click" not in spec.raw_columns
    for name in spec.categorical_features:
        assert spec.cardinality(name) >= 2


@pytest.mark.parametrize(
    "frame, match",
    [
        pytest.param(raw_frame(price=[1.0, "3.5", 2.0, 1.0]), r"column 'price', row 1", id="string-in-price"),
        pytest.param(raw_frame(category=["a", 5, "b", "c"]), r"column 'category', row 1", id="number-in-category"),
        pytest.param(raw_frame(position=[1, 2.5, 3, 4]), r"column 'position', row 1", id="fractional-position"),
        pytest.param(raw_frame(position=[1, None, 3, 4]), r"column 'position', row 1", id="missing-position"),
        pytest.param(raw_frame(query=pd.Series(["a", "b", "\ud800", "c"], dtype=object)), r"column 'query', row 2", id="lone-surrogate"),
        pytest.param(raw_frame().drop(columns=["country"]), r"missing raw column\(s\) \['country'\]", id="missing-column"),
        pytest.param(raw_frame(hist_ctr=[True, False, True, False]), r"column 'hist_ctr' has dtype bool", id="bool-ctr"),
    ],
)
def test_bad_input_names_column_and_row(frame, match):
    with pytest.raises(ParityInputError, match=match):
        LegacyFeaturizer(small_spec()).transform(frame)


def test_whole_float_positions_are_the_same_integers():
    spec = small_spec()
    as_int = LegacyFeaturizer(spec).transform(raw_frame())
    as_float = LegacyFeaturizer(spec).transform(raw_frame(position=[1.0, 2.0, 3.0, 40.0]))
    as_object = LegacyFeaturizer(spec).transform(raw_frame(position=pd.Series([1, 2.0, 3, 40], dtype=object)))
    pd.testing.assert_frame_equal(as_float, as_int)
    pd.testing.assert_frame_equal(as_object, as_int)


def test_nothing_dropped_and_index_kept():
    frame = raw_frame().set_index(pd.Index([10, 5, 7, 1]))
    out = LegacyFeaturizer(small_spec()).transform(frame)
    assert out.index.tolist() == [10, 5, 7, 1]
    assert out.notna().all().all()


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"price_boundaries": (1.0, 1.0)}, id="non-increasing-boundaries"),
        pytest.param({"price_boundaries": ()}, id="empty-boundaries"),
        pytest.param({"price_boundaries": (0.0, 1e-310)}, id="subnormal-boundary"),
        pytest.param({"hist_ctr_impute": math.nan}, id="nan-impute"),
        pytest.param({"shop_buckets": 0}, id="zero-buckets"),
        pytest.param({"hash_key": (1, -2)}, id="negative-key"),
        pytest.param({"vocabularies": {"category": ("a", "a"), "device": (), "country": ()}}, id="duplicate-vocab"),
        pytest.param({"vocabularies": {"category": ()}}, id="missing-vocab"),
        pytest.param({"version": 2}, id="future-version"),
    ],
)
def test_bad_spec_is_refused(overrides):
    with pytest.raises(ParityInputError):
        small_spec(**overrides)


def test_from_dict_refuses_unknown_fields_and_versions():
    d = small_spec().to_dict()
    with pytest.raises(ParityInputError, match="version"):
        FeatureSpec.from_dict({**d, "version": 99})
    with pytest.raises(ParityInputError, match="surprise"):
        FeatureSpec.from_dict({**d, "surprise": 1})
