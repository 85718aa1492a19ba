"""The TensorFlow side: Keras LR at sklearn's optimum, deterministic training, export and serving."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.tf

tf = pytest.importorskip("tensorflow")

from harness.errors import ParityInputError  # noqa: E402
from harness.protocol import ModelSide  # noqa: E402
from legacy_adapter.featurizer import LegacyFeaturizer, fit_spec  # noqa: E402
from legacy_adapter.models import LegacyLogisticRegression, Standardization  # noqa: E402
from new_platform.export import export_model  # noqa: E402
from new_platform.featurizer import TFFeaturizer  # noqa: E402
from new_platform.models import keras_logistic_regression, lr_variables, wide_and_deep  # noqa: E402
from new_platform.serving import ServingSide  # noqa: E402
from new_platform.training import (  # noqa: E402
    fit_logistic_regression,
    fit_wide_and_deep,
    train_ctr_logreg,
    train_ctr_wide_and_deep,
)

C = 0.1


@pytest.fixture(scope="module")
def lr(spec_small, train_small, tmp_path_factory):
    legacy = LegacyLogisticRegression(spec_small, C=C).fit(train_small)
    featurizer = TFFeaturizer(spec_small)
    features = featurizer.transform(train_small)
    model = keras_logistic_regression(spec_small, legacy.standardization)
    record = fit_logistic_regression(model, features, train_small["click"].to_numpy(), spec=spec_small, C=C, seed=0)
    path = export_model(featurizer, model, tmp_path_factory.mktemp("export") / "lr",
                        metadata={"training": record.to_dict()})
    side = ServingSide(path, spec_small, batch_size=1000)
    return SimpleNamespace(legacy=legacy, model=model, record=record, path=path, side=side, features=features)


def _inputs(features, spec):
    return {name: features[name].to_numpy() for name in spec.feature_names}


def test_served_keras_lr_matches_the_sklearn_lr(lr, eval_small):
    diff = np.abs(lr.side.predict(eval_small) - lr.legacy.predict(eval_small))
    # Both minimise the same convex objective to a tight tolerance (measured ~5e-10 at 5k-20k rows, C=0.1).
    assert diff.max() < 1e-7, f"max abs diff {diff.max():.3g}, mean {diff.mean():.3g}"
    legacy, keras_side = lr.legacy.coefficients(), lr_variables(lr.model, lr.legacy.spec)
    assert abs(legacy["intercept"] - keras_side["intercept"]) < 1e-6
    np.testing.assert_allclose(keras_side["numeric"], legacy["numeric"], rtol=0, atol=1e-6)
    for name, weights in legacy["categorical"].items():
        np.testing.assert_allclose(keras_side["categorical"][name], weights, rtol=0, atol=1e-6, err_msg=name)


def test_training_record_and_final_loss_recomputed_with_numpy(lr, spec_small, train_small):
    from scipy.special import expit, xlogy

    record = lr.record
    assert record.converged and record.iterations == len(record.loss) > 5
    assert all(b <= a for a, b in zip(record.loss, record.loss[1:]))
    weights = lr_variables(lr.model, spec_small)
    features = lr.features
    logit = np.full(len(features), weights["intercept"])
    for name, w in weights["categorical"].items():
        logit += w[features[name].to_numpy()]
    logit += lr.legacy.standardization.apply(features) @ weights["numeric"]
    p, y = expit(logit), train_small["click"].to_numpy()
    penalty = sum(np.sum(w ** 2) for w in weights["categorical"].values()) + np.sum(weights["numeric"] ** 2)
    objective = -np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p)) + penalty / (2 * C * len(y))
    assert record.final_loss == pytest.approx(objective, rel=1e-10)
    assert json.loads(json.dumps(record.to_dict()))["method"].startswith("L-BFGS-B")


@pytest.fixture(scope="module")
def tiny(train_small):
    """A spec with small hash spaces: determinism does not depend on the sizes, tracing time does."""
    rows = train_small.iloc[:1000]
    spec = fit_spec(rows, shop_buckets=256, cross_buckets=64, query_buckets=128)
    features = LegacyFeaturizer(spec).transform(rows)
    return SimpleNamespace(spec=spec, features=features, y=rows["click"].to_numpy(),
                           standardization=Standardization.fit(features, spec.numeric_features))


def test_lr_training_twice_gives_bitwise_identical_weights(tiny):
    runs = []
    for _ in range(2):
        model = keras_logistic_regression(tiny.spec, tiny.standardization)
        record = fit_logistic_regression(model, tiny.features, tiny.y, spec=tiny.spec, C=1.0, seed=5)
        runs.append(([v.numpy() for v in model.weights], record.loss))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1]


def test_wide_and_deep_training_twice_gives_bitwise_identical_weights(tiny):
    runs = []
    for _ in range(2):
        model = wide_and_deep(tiny.spec, tiny.standardization, hidden_units=(8,), seed=3)
        record = fit_wide_and_deep(model, tiny.features, tiny.y, spec=tiny.spec, epochs=2, batch_size=256, seed=3)
        runs.append(([v.numpy() for v in model.weights], record.loss))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1] and len(runs[0][1]) == 2
    other = wide_and_deep(tiny.spec, tiny.standardization, hidden_units=(8,), seed=4)
    assert not np.array_equal(other.get_layer("deep_dense_0").kernel.numpy(), model.get_layer("deep_dense_0").kernel.numpy())


def test_served_scores_equal_the_in_memory_model(lr, spec_small, eval_small):
    inputs = {k: tf.constant(v) for k, v in _inputs(TFFeaturizer(spec_small).transform(eval_small), spec_small).items()}
    served = lr.side.predict(eval_small)
    assert served.dtype == np.float64 and served.shape == (len(eval_small),)
    # Same weights, same features; only the summation order of the 12 logit terms may differ between the
    # exported graph (Grappler rewrites), a tf.function and eager execution: a few ULP of the logit
    # (|logit| < 16 -> < 1e-14), shrunk by p(1-p) <= 1/4 in the probability.
    for in_memory in (lr.model(inputs).numpy(), tf.function(lambda x: lr.model(x, training=False))(inputs).numpy()):
        assert np.max(np.abs(served - in_memory)) <= 1e-14


def _ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Ordered integer view of IEEE doubles: adjacent doubles differ by 1 (finite values).
    def ordered(x):
        i = x.view(np.int64)
        return np.where(i < 0, np.int64(-(2**63)) - i, i)

    return np.abs(ordered(a) - ordered(b))


def test_featurize_signature_equals_the_legacy_featurizer(lr, spec_small, eval_small):
    served = lr.side.featurize(eval_small)
    legacy = LegacyFeaturizer(spec_small).transform(eval_small)
    assert list(served.columns) == list(spec_small.feature_names)
    assert served.index.equals(eval_small.index)
    for name in spec_small.categorical_features:
        assert served[name].dtype == np.int64
        np.testing.assert_array_equal(served[name].to_numpy(), legacy[name].to_numpy(), err_msg=name)
    for name in spec_small.numeric_features:
        # log1p in TF (Eigen) and numpy (libm) may differ by an ULP or two (measured max 2 on these rows);
        # more would be a featurization bug.
        assert _ulp_distance(served[name].to_numpy(), legacy[name].to_numpy()).max() <= 4, name


def test_serving_side_chunks_and_empty_batches(lr, spec_small, eval_small):
    assert isinstance(lr.side, ModelSide)
    small = ServingSide(lr.path, spec_small, batch_size=7)
    rows = eval_small.iloc[:50]
    # A row's score may change in the last bit with the batch it is served in (vectorised kernels take a
    # different path for the tail of a batch): measured up to 4e-17 here. The same batches give the same
    # bits, so the upgrade gate's exact snapshots must fix the batch size.
    np.testing.assert_allclose(small.predict(rows), lr.side.predict(rows), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(small.predict(rows), small.predict(rows))
    chunked, whole = small.featurize(rows), lr.side.featurize(rows)
    # The cause: TF's log1p gives a row's feature 1-2 ULP apart depending on where the row falls in the
    # batch (SIMD packet or scalar tail); ids are exact.
    for name in spec_small.feature_names:
        if name in spec_small.numeric_features:
            assert _ulp_distance(chunked[name].to_numpy(), whole[name].to_numpy()).max() <= 4, name
        else:
            np.testing.assert_array_equal(chunked[name].to_numpy(), whole[name].to_numpy(), err_msg=name)
    assert small.predict(eval_small.iloc[:0]).shape == (0,)
    assert small.featurize(eval_small.iloc[:0]).shape == (0, len(spec_small.feature_names))


def test_serving_config_is_jsonable_and_names_the_model(lr):
    config = json.loads(json.dumps(lr.side.config(), allow_nan=False))
    assert config["kind"] == "tf.saved_model" and config["keras_class"] == "Functional"
    assert {layer["name"] for layer in config["keras_config"]["layers"]} >= {"logit", "standardize", "lr_shop_hash"}
    assert config["spec"]["cardinalities"]["shop_hash"] == lr.legacy.spec.shop_buckets
    assert lr.side.metadata["training"]["converged"] is True


def test_export_and_serving_refuse_bad_input(lr, spec_small, train_small, tmp_path):
    with pytest.raises(ParityInputError, match="exists and is not empty"):
        export_model(TFFeaturizer(spec_small), lr.model, lr.path)
    with pytest.raises(ParityInputError, match="featurizer must be a TFFeaturizer"):
        export_model(LegacyFeaturizer(spec_small), lr.model, tmp_path / "x")
    with pytest.raises(ParityInputError, match="is not a SavedModel directory"):
        ServingSide(tmp_path, spec_small)
    other_spec = fit_spec(train_small.iloc[:300])
    with pytest.raises(ParityInputError, match="spec given differs from the one exported"):
        ServingSide(lr.path, other_spec)
    with pytest.raises(ParityInputError, match="batch_size must be an int >= 1"):
        ServingSide(lr.path, spec_small, batch_size=0)
    with pytest.raises(ParityInputError, match=r"missing raw column\(s\) \['price'\]"):
        lr.side.predict(train_small.iloc[:5].drop(columns=["price"]))
    with pytest.raises(ParityInputError, match="C must be a finite float > 0"):
        fit_logistic_regression(lr.model, lr.features, train_small["click"], spec=spec_small, C=0)


@pytest.mark.slow
def test_keras_lr_matches_sklearn_on_30k_rows_through_the_convenience_path(ads_ctr_frames, tmp_path):
    train = ads_ctr_frames["train"].iloc[:30000].reset_index(drop=True)
    evaluation = ads_ctr_frames["eval"].iloc[:10000].reset_index(drop=True)
    spec = fit_spec(train)
    legacy = LegacyLogisticRegression(spec, C=1.0).fit(train)
    side, record = train_ctr_logreg(train, spec, workdir=tmp_path, C=1.0, seed=0,
                                    standardization=legacy.standardization)
    diff = np.abs(side.predict(evaluation) - legacy.predict(evaluation))
    # C=1 on 30k rows leaves ~86k weakly-determined hash weights: the objective is flat there and both
    # L-BFGS runs stop on the relative-reduction test; measured max abs diff ~5e-6 (20k rows).
    assert record.converged and diff.max() < 2e-5, f"max abs diff {diff.max():.3g}, mean {diff.mean():.3g}"


@pytest.mark.slow
def test_wide_and_deep_convenience_path_exports_a_working_side(spec_small, train_small, eval_small, tmp_path):
    side, record = train_ctr_wide_and_deep(train_small.iloc[:2000], spec_small, workdir=tmp_path, epochs=1,
                                           hidden_units=(8,), seed=0)
    scores = side.predict(eval_small)
    assert record.iterations == 1 and np.isfinite(record.final_loss)
    assert scores.dtype == np.float64 and np.all((scores > 0) & (scores < 1))
    # float32 model: served scores are float32 values widened exactly.
    np.testing.assert_array_equal(scores, scores.astype(np.float32).astype(np.float64))
