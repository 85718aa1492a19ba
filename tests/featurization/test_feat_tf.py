"""TFFeaturizer against LegacyFeaturizer: real-ish data, SavedModel export, broken variants, errors."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError
from legacy_adapter.featurizer import FeatureSpec, LegacyFeaturizer, fit_spec

tf = pytest.importorskip("tensorflow")
from new_platform.featurizer import TFFeaturizer, frame_to_tensors, raw_input_signature  # noqa: E402

pytestmark = pytest.mark.tf

REPO = Path(__file__).resolve().parents[2]

# TF's CPU log1p (Eigen) is a different algorithm from the C library's log1p numpy calls; each is
# within ~1-2 ulp of the true value, so they can differ by a few ulp (3 seen over 400k random inputs).
# 4 ulp is ~9e-16 relative: far below anything a model could notice, far above a real defect.
MAX_ULP = 4


def ulp_distance(a, b):
    """Units in the last place between float64 arrays (0 for -0.0 vs 0.0 and for equal infinities)."""
    def ordered(x):
        i = np.asarray(x, dtype=np.float64).view(np.int64)
        return np.where(i < 0, np.int64(-(2**63)) - i, i)  # sign-magnitude -> two's-complement order
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(ordered(a).astype(object) - ordered(b).astype(object)).astype(float)
    d[(a == b) | (np.isnan(a) & np.isnan(b))] = 0
    return d


@pytest.fixture(scope="module")
def ads():
    from harness.golden import load_dataset

    train = load_dataset("ads_ctr").frame("train")
    spec = fit_spec(train)
    sample = train.sample(n=20_000, random_state=20261130)
    return spec, sample


def assert_features_match(legacy: pd.DataFrame, new: pd.DataFrame, spec: FeatureSpec):
    __tracebackhide__ = True
    assert list(new.columns) == list(legacy.columns) == list(spec.feature_names)
    for name in spec.categorical_features:
        assert new[name].dtype == np.int64, name
        mismatch = np.flatnonzero(legacy[name].to_numpy() != new[name].to_numpy())
        assert mismatch.size == 0, f"{name}: {mismatch.size} mismatching rows, first {mismatch[:5].tolist()}"
    for name in spec.numeric_features:
        assert new[name].dtype == np.float64, name
        d = ulp_distance(legacy[name].to_numpy(), new[name].to_numpy())
        assert d.size == 0 or d.max() <= MAX_ULP, f"{name}: max {d.max()} ulp > {MAX_ULP} at row {int(d.argmax())}"


def test_batch_of_real_rows_matches_legacy(ads):
    spec, sample = ads
    legacy = LegacyFeaturizer(spec).transform(sample)
    new = TFFeaturizer(spec).transform(sample)
    assert new.index.equals(sample.index)
    assert_features_match(legacy, new, spec)
    # the data really exercises the parts: missing ctr, OOV-free vocab, many shops
    assert legacy["hist_ctr_missing"].sum() > 1000
    assert legacy["shop_hash"].nunique() > 5000


def test_exported_savedmodel_serves_the_same_features(ads, tmp_path):
    spec, sample = ads
    rows = sample.head(300)
    module = tf.Module()
    module.featurizer = TFFeaturizer(spec)
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.featurizer.serve})
    del module
    served = tf.saved_model.load(str(tmp_path)).signatures["serving_default"](**frame_to_tensors(rows, spec))
    new = pd.DataFrame({k: served[k].numpy() for k in spec.feature_names}, index=rows.index)
    assert_features_match(LegacyFeaturizer(spec).transform(rows), new, spec)


def test_works_inside_an_outer_tf_function(ads):
    spec, sample = ads
    featurizer = TFFeaturizer(spec)

    @tf.function(input_signature=[raw_input_signature(spec)])
    def count_oov(raw):
        return tf.reduce_sum(tf.cast(featurizer(raw)["category_id"] == 0, tf.int64))

    expected = int((LegacyFeaturizer(spec).transform(sample.head(500))["category_id"] == 0).sum())
    assert int(count_oov(frame_to_tensors(sample.head(500), spec))) == expected


def test_off_by_one_boundary_changes_only_that_bucket(ads):
    spec, sample = ads
    b = list(spec.price_boundaries)
    b[3] += 1.0
    broken = TFFeaturizer(dataclasses.replace(spec, price_boundaries=tuple(b))).transform(sample)
    legacy = LegacyFeaturizer(spec).transform(sample)
    differs = [n for n in spec.categorical_features if not np.array_equal(legacy[n].to_numpy(), broken[n].to_numpy())]
    assert differs == ["price_bucket"]
    rows = np.flatnonzero(legacy["price_bucket"].to_numpy() != broken["price_bucket"].to_numpy())
    prices = sample["price"].to_numpy()[rows]
    assert ((prices >= spec.price_boundaries[3]) & (prices < b[3])).all()


def test_farmhash_variant_changes_only_hashed_features(ads):
    spec, sample = ads
    legacy = LegacyFeaturizer(spec).transform(sample.head(2000))
    wrong = TFFeaturizer(spec, hash_fn="farmhash").transform(sample.head(2000))
    differs = {n for n in spec.categorical_features if not np.array_equal(legacy[n].to_numpy(), wrong[n].to_numpy())}
    assert differs == {"shop_hash", "category_x_device", "query_hash"}


def test_missing_values_become_the_same_tensors_as_legacy_reads_them():
    frame = pd.DataFrame(
        {
            "position": [1, 2],
            "shop_id": [None, "s"],
            "category": [np.nan, "c"],
            "device": ["d", None],
            "country": ["", "US"],
            "price": [None, 1.0],
            "listing_age_days": [np.nan, 2.0],
            "hist_ctr": [0.1, None],
            "query": [None, "Q"],
        }
    )
    spec = FeatureSpec(vocabularies={"category": ("c",), "device": ("d",), "country": ("US",)}, price_impute=3.0)
    tensors = frame_to_tensors(frame, spec)
    assert tensors["shop_id"].numpy().tolist() == [b"", b"s"]
    assert tensors["category"].numpy().tolist() == [b"", b"c"]
    assert np.isnan(tensors["price"].numpy()[0]) and tensors["price"].dtype == tf.float64
    assert tensors["position"].dtype == tf.int64
    assert_features_match(LegacyFeaturizer(spec).transform(frame), TFFeaturizer(spec).transform(frame), spec)


def test_empty_vocabulary_and_empty_batch():
    spec = FeatureSpec(vocabularies={"category": (), "device": (), "country": ()})
    frame = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in [
        ("position", "int64"), ("shop_id", object), ("category", object), ("device", object), ("country", object),
        ("price", "float64"), ("listing_age_days", "float64"), ("hist_ctr", "float64"), ("query", object)]})
    out = TFFeaturizer(spec).transform(frame)
    assert len(out) == 0 and list(out.columns) == list(spec.feature_names)
    assert_features_match(LegacyFeaturizer(spec).transform(frame), out, spec)
    one = pd.DataFrame({"position": [3], "shop_id": ["s"], "category": ["c"], "device": ["d"], "country": ["x"],
                        "price": [1.0], "listing_age_days": [1.0], "hist_ctr": [0.5], "query": ["q"]})
    assert TFFeaturizer(spec).transform(one)["category_id"].tolist() == [0]
    assert_features_match(LegacyFeaturizer(spec).transform(one), TFFeaturizer(spec).transform(one), spec)


def test_bad_raw_inputs_are_refused(ads):
    spec, sample = ads
    featurizer = TFFeaturizer(spec)
    raw = frame_to_tensors(sample.head(3), spec)
    with pytest.raises(ParityInputError, match=r"raw\['price'\] has dtype int64; expected float64"):
        featurizer({**raw, "price": tf.constant([1, 2, 3], tf.int64)})
    with pytest.raises(ParityInputError, match=r"missing column\(s\) \['query'\]"):
        featurizer({k: v for k, v in raw.items() if k != "query"})
    with pytest.raises(ParityInputError, match="hash_fn"):
        TFFeaturizer(spec, hash_fn="md5")
    with pytest.raises(ParityInputError, match=r"column 'price', row 1"):
        frame_to_tensors(sample.head(3).assign(price=[1.0, "x", 2.0]), spec)


def test_packages_import_without_tensorflow_or_sklearn():
    code = (
        "import sys, legacy_adapter, new_platform, legacy_adapter.featurizer, legacy_adapter.hashing\n"
        "assert callable(legacy_adapter.fit_spec)\n"
        "bad = [m for m in ('tensorflow', 'sklearn', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_ulp_distance_helper_counts_representable_steps():
    one_up = np.nextafter(1.0, 2.0)
    assert ulp_distance([1.0, 0.0, 0.0, -5e-324, np.inf, 1.0], [one_up, -0.0, 5e-324, 5e-324, np.inf, 1.0 + 4 * (one_up - 1.0)]).tolist() == [
        1, 0, 1, 2, 0, 4
    ]
