"""The classic traps of porting scikit-learn preprocessing to Keras, each caught by the feature check.

One tiny broken pair per trap (a fitted scikit-learn side and a hand-ported Keras side, scored through
`SklearnPipelineSide` and `KerasPreprocessingSide`): the check must fail, name the trap's feature and
list exactly the offending rows; the fixed pair (and, where it applies, the builder's port) must pass.
The offending rows are worked out here from the data by plain numpy, never from the code under test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.feature_extraction import FeatureHasher  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OneHotEncoder, StandardScaler  # noqa: E402

from harness.checks.features import OneHot, check_features  # noqa: E402
from harness.verdicts import Verdict  # noqa: E402
from legacy_adapter.hashing import hash_bucket  # noqa: E402
from legacy_adapter.pipeline import SklearnPipelineSide  # noqa: E402
from new_platform.preprocessing import (KerasPreprocessingSide, feature_matrix,  # noqa: E402
                                        keras_preprocessing_from_column_transformer)

KEY0 = 100  # keys differ from positions, so a message naming positions instead of keys is caught


def _frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({"row_id": np.arange(KEY0, KEY0 + n), **columns})
    frame["y"] = np.arange(n) % 2
    return frame


def _legacy(ct: ColumnTransformer, train: pd.DataFrame) -> SklearnPipelineSide:
    return SklearnPipelineSide("sklearn", make_pipeline(ct, LogisticRegression()), label="y").fit(train)


def _keras(inputs: dict, features: dict) -> KerasPreprocessingSide:
    """A served model: the hand-ported preprocessing sub-model and a one-unit head on its features."""
    prep = keras.Model(inputs, features, name="preprocessing")
    head = keras.layers.Dense(1, activation="sigmoid")(feature_matrix(prep(inputs)))
    return KerasPreprocessingSide("keras", keras.Model(inputs, head), "preprocessing")


def _check(legacy, new, frame, feature, *, categorical=True, feature_map=(), raw=()):
    [result] = check_features(legacy.featurize(frame), new.featurize(frame), keys=frame["row_id"].to_numpy(),
                              features=[feature], categorical=[feature] if categorical else [],
                              raw=frame[list(raw)] if raw else None, feature_map=feature_map)
    return result


def _assert_caught(result, feature, rows):
    """Fails, names the feature, and lists exactly ``rows`` (positions) by key, first ones in the message."""
    keys = [KEY0 + int(i) for i in rows]
    assert result.verdict is Verdict.NOT_EQUIVALENT
    assert result.id == f"features/{feature}" and repr(feature) in result.message
    assert result.details["n_mismatch"] == len(keys)
    shown = [e["key"] for e in result.details["examples"]]
    assert shown == keys[:len(shown)] and shown
    for key in shown:
        assert str(key) in result.message


def _assert_passes(result):
    assert result.verdict is Verdict.EQUIVALENT, result.message
    assert result.details["n_mismatch"] == 0


# -- bin edges --------------------------------------------------------------------------------------
# KBinsDiscretizer bins are closed on the left, the last one on both sides, in float64.
BIN_TRAIN = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9])  # uniform edges 0, .225, .45, .675, .9 (not float32)


def _bin_case():
    ct = ColumnTransformer([("bins", KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform"), ["x"])])
    legacy = _legacy(ct, _frame(x=BIN_TRAIN))
    edges = ct.named_transformers_["bins"].bin_edges_[0]
    inner = edges[1:-1]
    below = np.nextafter(inner, -np.inf)
    x = np.concatenate([inner, below, np.nextafter(inner, np.inf), [edges[-1], 0.05, 0.5, 2.0, -1.0]])
    return legacy, edges, _frame(x=x)


def _searchsorted_port(boundaries, side):
    def port():
        x = keras.Input(shape=(), name="x", dtype="float64")
        b = keras.ops.convert_to_tensor(np.asarray(boundaries, dtype=np.float64))
        return {"x": x}, {"bins__x": keras.ops.cast(keras.ops.searchsorted(b, x, side=side), "float64")}
    return port


def _discretization_port(boundaries):
    def port():
        x = keras.Input(shape=(), name="x", dtype="float64")
        return {"x": x}, {"bins__x": keras.layers.Discretization(bin_boundaries=list(boundaries))(x)}
    return port


@pytest.mark.parametrize("variant", ["right-closed-bins", "top-edge-as-boundary", "float32-discretization"])
def test_bin_edge_inclusivity_is_caught(variant):
    legacy, edges, frame = _bin_case()
    inner, x = edges[1:-1], frame["x"].to_numpy()
    port = {"right-closed-bins": _searchsorted_port(inner, "left"),  # (a, b] bins, as pd.cut
            "top-edge-as-boundary": _searchsorted_port(edges[1:], "right"),
            "float32-discretization": _discretization_port(inner)}[variant]()
    expected = {  # the rows the port puts in another bin, from the data alone
        "right-closed-bins": np.flatnonzero(np.isin(x, inner)),
        "top-edge-as-boundary": np.flatnonzero(x >= edges[-1]),
        "float32-discretization": np.flatnonzero(
            np.searchsorted(inner.astype(np.float32), x.astype(np.float32), side="right")
            != np.searchsorted(inner, x, side="right")),
    }[variant]
    assert expected.size  # the data hits the trap
    _assert_caught(_check(legacy, _keras(*port), frame, "bins__x", raw=["x"]), "bins__x", expected)


def test_bin_edges_fixed_port_and_builder_pass():
    legacy, edges, frame = _bin_case()
    _assert_passes(_check(legacy, _keras(*_searchsorted_port(edges[1:-1], "right")()), frame, "bins__x"))
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer[0])
    _assert_passes(_check(legacy, _keras(prep.input, prep(prep.input)), frame, "bins__x"))


# -- unknown categories, OOV and mask tokens ----------------------------------------------------------
DEVICES = ["desktop", "mobile", "tablet", ""]  # "" is a category the legacy export uses, not a missing value
DEVICE_COLUMNS = [f"dev__device_{c}" for c in DEVICES]
# OneHotEncoder(handle_unknown="ignore") gives an unseen value no hot column; StringLookup gives it index 0.
DEVICE_MAP = [OneHot("device", DEVICE_COLUMNS, side="legacy", first_index=1, none=0)]


def _device_case():
    ct = ColumnTransformer([("dev", OneHotEncoder(categories=[DEVICES], handle_unknown="ignore"), ["device"])])
    legacy = _legacy(ct, _frame(device=DEVICES * 2))
    frame = _frame(device=["mobile", "tv", "", "desktop", "tablet", "tv", "mobile", ""])
    return legacy, frame


def _lookup_port(**lookup):
    d = keras.Input(shape=(), name="device", dtype="string")
    return {"device": d}, {"device": keras.layers.StringLookup(**lookup)(d)}


@pytest.mark.parametrize("variant", ["vocabulary-has-unseen-category", "empty-string-as-oov", "mask-token"])
def test_unknown_category_handling_is_caught(variant):
    legacy, frame = _device_case()
    device = frame["device"].to_numpy()
    port, expected = {
        # the serving vocabulary came from logs that hold "tv": legacy never saw it, so it has no column
        "vocabulary-has-unseen-category": (dict(vocabulary=DEVICES + ["tv"]), np.flatnonzero(device == "tv")),
        # the port dropped "" as "missing": it becomes the OOV index, the legacy category "" is lost
        "empty-string-as-oov": (dict(vocabulary=DEVICES[:-1]), np.flatnonzero(device == "")),
        # mask_token="" reserves index 0 for padding: every index moves by one
        "mask-token": (dict(vocabulary=DEVICES[:-1], mask_token=""), np.arange(len(device))),
    }[variant]
    result = _check(legacy, _keras(*_lookup_port(**port)), frame, "device", feature_map=DEVICE_MAP, raw=["device"])
    _assert_caught(result, "device", expected)
    assert result.details["mapped"]["from"][0]["columns"] == DEVICE_COLUMNS


def test_unknown_category_fixed_port_and_builder_pass():
    legacy, frame = _device_case()
    fixed = _keras(*_lookup_port(vocabulary=DEVICES, num_oov_indices=1))
    _assert_passes(_check(legacy, fixed, frame, "device", feature_map=DEVICE_MAP))
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer[0])
    built = _keras(prep.input, prep(prep.input))
    results = check_features(legacy.featurize(frame), built.featurize(frame), keys=frame["row_id"].to_numpy(),
                             features=DEVICE_COLUMNS, categorical=DEVICE_COLUMNS)
    for r in results:
        _assert_passes(r)


# -- variance conventions -----------------------------------------------------------------------------
SCALE_X = np.array([1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 3.0, 4.0])  # mean 6: no row sits on the mean


def _scale_case():
    ct = ColumnTransformer([("num", StandardScaler(), ["x"])])
    return _legacy(ct, _frame(x=SCALE_X)), _frame(x=SCALE_X)


def _normalization_port(mean, variance):
    x = keras.Input(shape=(), name="x", dtype="float64")
    layer = keras.layers.Normalization(mean=np.float64(mean), variance=np.float64(variance), axis=None, dtype="float64")
    return {"x": x}, {"num__x": layer(x)}


def test_sample_variance_is_caught():
    legacy, frame = _scale_case()
    # pandas' Series.var() (ddof=1) where StandardScaler uses the population variance (ddof=0)
    new = _keras(*_normalization_port(frame["x"].mean(), frame["x"].var()))
    result = _check(legacy, new, frame, "num__x", categorical=False)
    _assert_caught(result, "num__x", np.flatnonzero(SCALE_X != SCALE_X.mean()))
    assert result.details["max_ulp"] > 1000


def test_population_variance_port_and_builder_pass():
    legacy, frame = _scale_case()
    scaler = legacy.featurizer[0].named_transformers_["num"]
    _assert_passes(_check(legacy, _keras(*_normalization_port(scaler.mean_[0], scaler.var_[0])), frame, "num__x",
                          categorical=False))
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer[0])
    _assert_passes(_check(legacy, _keras(prep.input, prep(prep.input)), frame, "num__x", categorical=False))


# -- imputation order ---------------------------------------------------------------------------------
IMPUTE_X = np.array([1.0, np.nan, 4.0, 9.0, np.nan, 2.0, 6.0, 10.0])


def _impute_case():
    ct = ColumnTransformer([("ctr", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), ["x"])])
    return _legacy(ct, _frame(x=IMPUTE_X)), _frame(x=IMPUTE_X)


def _impute_port(legacy, *, impute_first):
    pipe = legacy.featurizer[0].named_transformers_["ctr"]
    fill = np.float64(pipe[0].statistics_[0])
    scaler = pipe[1]
    x = keras.Input(shape=(), name="x", dtype="float64")
    norm = keras.layers.Normalization(mean=np.float64(scaler.mean_[0]), variance=np.float64(scaler.var_[0]),
                                      axis=None, dtype="float64")
    if impute_first:
        out = norm(keras.ops.where(keras.ops.isnan(x), fill, x))
    else:  # scaled first, then the raw-scale mean written into the scaled feature
        y = norm(x)
        out = keras.ops.where(keras.ops.isnan(y), fill, y)
    return {"x": x}, {"ctr__x": out}


def test_imputation_after_scaling_is_caught():
    legacy, frame = _impute_case()
    result = _check(legacy, _keras(*_impute_port(legacy, impute_first=False)), frame, "ctr__x", categorical=False,
                    raw=["x"])
    _assert_caught(result, "ctr__x", np.flatnonzero(np.isnan(IMPUTE_X)))
    assert result.details["examples"][0]["raw"]["x"] is None or np.isnan(result.details["examples"][0]["raw"]["x"])


def test_imputation_before_scaling_and_builder_pass():
    legacy, frame = _impute_case()
    _assert_passes(_check(legacy, _keras(*_impute_port(legacy, impute_first=True)), frame, "ctr__x", categorical=False))
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer[0])
    _assert_passes(_check(legacy, _keras(prep.input, prep(prep.input)), frame, "ctr__x", categorical=False))


# -- string hashes ------------------------------------------------------------------------------------
N_BINS = 8
SALT = (12345, 67890)
SHOPS = [f"shop_{i:03d}" for i in range(24)]


class _NamedHasher(FeatureHasher):
    """FeatureHasher names no outputs; the legacy export called its columns shop_hash_<bucket>."""

    def get_feature_names_out(self, input_features=None):
        return np.array([f"shop_hash_{j}" for j in range(self.n_features)], dtype=object)


def _rows_of_strings(frame):
    return [[s] for s in frame["shop"]]  # one list per sample: a bare string would be hashed char by char


def _hasher_legacy():
    hasher = make_pipeline(FunctionTransformer(_rows_of_strings, feature_names_out="one-to-one"),
                           _NamedHasher(n_features=N_BINS, input_type="string", alternate_sign=False))
    ct = ColumnTransformer([("h", hasher, ["shop"])], verbose_feature_names_out=False)
    return _legacy(ct, _frame(shop=SHOPS))


def _hashing_port(**hashing):
    s = keras.Input(shape=(), name="shop", dtype="string")
    return {"shop": s}, {"shop_hash": keras.layers.Hashing(num_bins=N_BINS, **hashing)(s)}


HASH_MAP = [OneHot("shop_hash", [f"shop_hash_{j}" for j in range(N_BINS)], side="legacy")]


def test_murmurhash_vs_keras_hashing_is_caught():
    import tensorflow as tf
    from sklearn.utils import murmurhash3_32

    legacy, frame = _hasher_legacy(), _frame(shop=SHOPS)
    murmur = np.array([murmurhash3_32(s, positive=True) % N_BINS for s in SHOPS])  # FeatureHasher's bucket (seed 0)
    farm = tf.strings.to_hash_bucket_fast(SHOPS, N_BINS).numpy()  # Hashing's default: FarmHash64
    expected = np.flatnonzero(murmur != farm)
    assert expected.size
    result = _check(legacy, _keras(*_hashing_port()), frame, "shop_hash", feature_map=HASH_MAP, raw=["shop"])
    _assert_caught(result, "shop_hash", expected)


def test_same_hash_on_both_sides_passes():
    # No Keras layer computes MurmurHash3: the fix is a legacy hash Keras has, SipHash-2-4 keyed by the salt.
    ct = ColumnTransformer([("h", FunctionTransformer(lambda f: hash_bucket(f["shop"].tolist(), N_BINS, SALT)[:, None],
                                                      feature_names_out=lambda *_: ["shop_hash"]), ["shop"])],
                           verbose_feature_names_out=False)
    legacy, frame = _legacy(ct, _frame(shop=SHOPS)), _frame(shop=SHOPS)
    _assert_passes(_check(legacy, _keras(*_hashing_port(salt=list(SALT))), frame, "shop_hash"))
