"""`SklearnPipelineSide`, `KerasPreprocessingSide` and the ColumnTransformer -> Keras builder.

References are independent of the code under test: scikit-learn's own ``transform`` /
``predict_proba`` and the Keras model called in process.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import (KBinsDiscretizer, MinMaxScaler, OneHotEncoder,  # noqa: E402
                                   PolynomialFeatures, StandardScaler)

from harness.checks.features import check_features  # noqa: E402
from harness.errors import ParityInputError, ScorerError  # noqa: E402
from harness.verdicts import Verdict  # noqa: E402
from legacy_adapter.pipeline import SklearnPipelineSide  # noqa: E402
from new_platform.preprocessing import (KerasPreprocessingSide, feature_matrix,  # noqa: E402
                                        keras_preprocessing_from_column_transformer)

REPO = Path(__file__).resolve().parents[2]


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "row_id": np.arange(n) + 1000 * seed,
        "price": rng.lognormal(size=n),
        "age": rng.exponential(30.0, size=n),
        "ctr": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        "tiny": rng.normal(size=n) * 1e-9,  # a scale below Normalization's 1e-7 floor
        "const": np.full(n, 3.0),  # zero variance: StandardScaler divides by 1
        "device": rng.choice(["mobile", "desktop", "tablet"], size=n),
        "flag": rng.choice(["yes", "no"], size=n),
        "n_items": rng.integers(0, 4, size=n),
        "raw_score": rng.normal(size=n),
    })
    logit = np.log(frame["price"]) - 0.02 * frame["age"] + (frame["device"] == "mobile")
    frame["click"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return frame


def _column_transformer() -> ColumnTransformer:
    return ColumnTransformer([
        ("num", StandardScaler(), ["price", "tiny", "const"]),
        ("nomean", StandardScaler(with_mean=False), ["age"]),
        ("mm", MinMaxScaler(feature_range=(-1, 1), clip=True), ["age"]),
        ("q", KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="quantile",
                               quantile_method="averaged_inverted_cdf"), ["price"]),
        ("u", KBinsDiscretizer(n_bins=4, encode="onehot-dense", strategy="uniform"), ["age"]),
        ("ctr", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["ctr"]),
        ("fill", SimpleImputer(strategy="constant", fill_value=-1.0), ["ctr"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["device", "n_items"]),
        ("bin", OneHotEncoder(drop="if_binary", sparse_output=False), ["flag"]),
    ], remainder="passthrough")


def _fitted_legacy(train: pd.DataFrame) -> SklearnPipelineSide:
    ct = _column_transformer()
    side = SklearnPipelineSide("sklearn", ct, HistGradientBoostingClassifier(max_iter=20, random_state=0),
                               label="click", inputs=[c for c in train.columns if c not in ("click", "row_id")])
    return side.fit(train)


def _served(prep, *, seed: int = 0):
    keras.utils.set_random_seed(seed)
    hidden = keras.layers.Dense(8, activation="relu")(feature_matrix(prep(prep.input)))
    model = keras.Model(prep.input, keras.layers.Dense(1, activation="sigmoid")(hidden))
    return model, KerasPreprocessingSide("keras", model, prep.name)


@pytest.fixture(scope="module")
def fitted():
    train, test = _data(600, 0), _data(300, 1)
    test.loc[0, "device"] = "smart_tv"  # unseen in training: OneHotEncoder(handle_unknown="ignore") -> zeros
    test.loc[1, "n_items"] = 9
    legacy = _fitted_legacy(train)
    prep = keras_preprocessing_from_column_transformer(legacy.featurizer)
    model, new = _served(prep)
    return train, test, legacy, prep, model, new


def test_sklearn_side_features_are_the_transformers_named_outputs(fitted):
    _, test, legacy, *_ = fitted
    got = legacy.featurize(test)
    ct = legacy.featurizer
    x = test[legacy.inputs]
    want = ct.transform(x)
    want = want.toarray() if hasattr(want, "toarray") else want
    assert list(got.columns) == list(ct.get_feature_names_out())
    np.testing.assert_array_equal(got.to_numpy(), want)
    np.testing.assert_array_equal(legacy.predict(test), legacy.estimator.predict_proba(want)[:, 1])


def test_sparse_output_is_densified():
    train = _data(200, 0)
    ct = ColumnTransformer([("cat", OneHotEncoder(), ["device", "n_items"])], sparse_threshold=1.0)
    side = SklearnPipelineSide("sk", make_pipeline(ct, LogisticRegression()), label="click").fit(train)
    sparse = ct.transform(train)
    assert hasattr(sparse, "toarray")  # the transformer really returns a sparse matrix
    got = side.featurize(train)
    np.testing.assert_array_equal(got.to_numpy(), sparse.toarray())
    assert list(got.columns) == list(ct.get_feature_names_out())


def test_label_is_not_passed_through():
    train = _data(200, 0)
    ct = ColumnTransformer([("num", StandardScaler(), ["price"])], remainder="passthrough")
    side = SklearnPipelineSide("sk", make_pipeline(ct, LogisticRegression()), label="click")
    train = train[["price", "age", "click"]]
    side.fit(train)
    assert list(side.featurize(train).columns) == ["num__price", "remainder__age"]


def test_pandas_output_is_kept():
    train = _data(100, 0)
    ct = ColumnTransformer([("num", StandardScaler(), ["price", "age"])]).set_output(transform="pandas")
    side = SklearnPipelineSide("sk", make_pipeline(ct, LogisticRegression()), label="click").fit(train)
    got = side.featurize(train)
    pd.testing.assert_frame_equal(got, ct.transform(train).reset_index(drop=True))


def test_builder_port_is_exact_feature_by_feature(fitted):
    _, test, legacy, prep, _, new = fitted
    lf, nf = legacy.featurize(test), new.featurize(test)
    names = list(legacy.featurizer.get_feature_names_out())
    assert list(prep.output) == names and list(nf.columns) == names
    results = check_features(lf, nf, keys=test["row_id"].to_numpy(), features=names)  # 0 ULP: bit for bit
    bad = [r.message for r in results if r.verdict is not Verdict.EQUIVALENT]
    assert not bad, "\n".join(bad)
    unseen = [n for n in names if n.startswith("cat__device_")]
    assert (nf.loc[0, unseen] == 0).all()


def test_served_scores_match_the_keras_model_in_process(fitted):
    import tensorflow as tf

    _, test, _, prep, model, new = fitted
    raw = {c: tf.constant(test[c].to_numpy()) for c in prep.input}
    want = np.asarray(model(raw, training=False)).reshape(-1).astype(np.float64)
    got = new.predict(test)
    assert got.dtype == np.float64 and got.shape == (len(test),)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_the_side_pickles_as_its_exported_saved_model_and_serves_the_same(fitted):
    # A serving process of its own (cost/peak_rss) is sent the side pickled; a Keras model restored
    # from a SavedModel does not pickle, so the side goes as the SavedModel it scores through.
    import pickle

    _, test, _, _, _, new = fitted
    want_scores, want_features = new.predict(test), new.featurize(test)
    copy = pickle.loads(pickle.dumps(new))
    assert copy.model is None and copy._path is None  # no Keras model; the exporter's folder stays its own
    np.testing.assert_array_equal(copy.predict(test), want_scores)
    pd.testing.assert_frame_equal(copy.featurize(test), want_features)
    assert copy.feature_names() == new.feature_names() and copy.config() == new.config()
    again = pickle.loads(pickle.dumps(copy))  # a loaded side pickles too, to the same folder
    np.testing.assert_array_equal(again.predict(test), want_scores)


def test_the_side_s_peak_rss_is_measured_in_processes_of_its_own(fitted):
    from harness.serving.process_rss import measure_processes
    from harness.protocol import ModelPair

    _, test, legacy, _, _, new = fitted
    out = measure_processes(ModelPair(legacy, new), [test.iloc[:4]], repeats=1, timeout_s=120.0)
    for side in ("legacy", "new"):
        run = out["sides"][side]["runs"][0]
        assert run["peak_rss_mb"] > 0 and run["predictions"] == 4, run


def test_export_lives_outside_the_source_tree_and_goes_with_the_side():
    import gc

    prep = keras_preprocessing_from_column_transformer(
        ColumnTransformer([("num", StandardScaler(), ["price"])]).fit(_data(50, 0)))
    _, side = _served(prep)
    side.featurize(_data(5, 0))
    path = side._path
    assert path.is_dir() and REPO not in path.parents
    del side
    gc.collect()
    assert not path.exists()


def test_tf_function_preprocessing_and_a_separate_model():
    import tensorflow as tf

    @tf.function
    def prep(raw):
        return {"sqrt_price": tf.sqrt(raw["price"]), "is_mobile": tf.cast(raw["device"] == "mobile", tf.float64)}

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,), dtype="float32"), keras.layers.Dense(1, activation="sigmoid")])
    side = KerasPreprocessingSide("tf", model, prep, raw_inputs={"price": "float64", "device": "string"})
    frame = _data(40, 0)
    feats = side.featurize(frame)
    np.testing.assert_array_equal(feats["sqrt_price"], np.sqrt(frame["price"]))  # both correctly rounded
    np.testing.assert_array_equal(feats["is_mobile"], (frame["device"] == "mobile").astype(float))
    # The model takes the features as one matrix: order of the tf.function's outputs is sorted by name.
    x = np.stack([feats[c].to_numpy() for c in sorted(feats.columns)], axis=1).astype(np.float32)
    np.testing.assert_allclose(side.predict(frame), np.asarray(model(x)).reshape(-1), rtol=1e-6)


def test_one_hot_feature_becomes_numbered_columns():
    d = keras.Input(shape=(), name="device", dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    prep = keras.Model({"device": d}, {"dev": lookup(d)}, name="preprocessing")
    _, side = _served(prep)
    feats = side.featurize(pd.DataFrame({"device": ["b", "zz", "a"]}))
    assert list(feats.columns) == ["dev_0", "dev_1", "dev_2"]
    assert feats.to_numpy().tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_handle_unknown_error_is_refused_by_both_sides():
    train = _data(100, 0)
    ct = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), ["device"])]).fit(train)
    _, side = _served(keras_preprocessing_from_column_transformer(ct))
    unseen = train.head(3).assign(device=["mobile", "smart_tv", "tablet"])
    with pytest.raises(ValueError, match="unknown categor"):
        ct.transform(unseen)
    with pytest.raises(ScorerError, match="(?s)refused the batch .*unknown category in column device"):
        side.featurize(unseen)
    assert len(side.featurize(train.head(3))) == 3


@pytest.mark.parametrize("make, match", [
    (lambda: ColumnTransformer([("p", PolynomialFeatures(), ["price"])]).fit(_data(20, 0)),
     "transformer 'p': PolynomialFeatures has no Keras translation"),
    (lambda: ColumnTransformer([("n", StandardScaler(), ["price"])]), "must be fitted"),
    (lambda: StandardScaler().fit(_data(20, 0)[["price"]]), "expected a fitted ColumnTransformer"),
    (lambda: ColumnTransformer([("i", SimpleImputer(add_indicator=True), ["ctr"])]).fit(_data(50, 0)),
     "add_indicator=True"),
    (lambda: ColumnTransformer([("o", OneHotEncoder(min_frequency=30), ["device"])]).fit(_data(60, 0)),
     "infrequent categories"),
], ids=["unsupported", "unfitted", "not-a-column-transformer", "indicator", "infrequent"])
def test_builder_refuses_what_it_cannot_port(make, match):
    with pytest.raises(ParityInputError, match=match):
        keras_preprocessing_from_column_transformer(make())


def test_builder_refuses_raw_dtypes_for_columns_it_does_not_read():
    ct = ColumnTransformer([("n", StandardScaler(), ["price"])]).fit(_data(20, 0))
    with pytest.raises(ParityInputError, match=r"raw_dtypes names column\(s\) \['agee'\]"):
        keras_preprocessing_from_column_transformer(ct, raw_dtypes={"agee": "float64"})


def test_side_input_errors_name_the_column():
    prep = keras_preprocessing_from_column_transformer(
        ColumnTransformer([("n", StandardScaler(), ["price"]), ("c", OneHotEncoder(), ["device"])]).fit(_data(50, 0)))
    model, side = _served(prep)
    frame = _data(4, 0)
    with pytest.raises(ParityInputError, match=r"no column\(s\) \['price'\]"):
        side.featurize(frame.drop(columns=["price"]))
    with pytest.raises(ParityInputError, match="string column 'device' is missing at row 2"):
        side.featurize(frame.assign(device=["a", "b", None, "c"]))
    with pytest.raises(ParityInputError, match="column 'price' has dtype .*the model's input 'price' is float64"):
        side.featurize(frame.assign(price=["1", "2", "3", "4"]))
    with pytest.raises(ParityInputError, match="has no layer 'prep'; its layers are"):
        KerasPreprocessingSide("k", model, "prep")
    with pytest.raises(ParityInputError, match="needs raw_inputs"):
        KerasPreprocessingSide("k", model, lambda raw: raw)


def test_sklearn_side_errors():
    with pytest.raises(ParityInputError, match="ending in an estimator"):
        SklearnPipelineSide("sk", StandardScaler())
    with pytest.raises(ParityInputError, match="has no predict_proba") as info:
        SklearnPipelineSide("sk", make_pipeline(StandardScaler(), StandardScaler()))
    assert "proba=False" not in str(info.value)  # it has no predict() either: no hint to take it
    from sklearn.linear_model import Ridge

    with pytest.raises(ParityInputError, match=r"SklearnPipelineSide\('ridge'\): estimator Ridge has no "
                       r"predict_proba\(\) .*a regressor, or a model scored by its own predict\(\), takes "
                       r"proba=False") as info:
        SklearnPipelineSide("ridge", make_pipeline(StandardScaler(), Ridge()))
    assert (info.value.argument, info.value.value) == ("proba", True)
    side = SklearnPipelineSide("ridge", make_pipeline(StandardScaler(), Ridge()), proba=False, label="click")
    assert not side.proba
    from sklearn.preprocessing import FunctionTransformer

    side = SklearnPipelineSide("sk", make_pipeline(FunctionTransformer(), LogisticRegression()), label="click")
    train = _data(30, 0)[["price", "age", "click"]]
    side.fit(train)
    with pytest.raises(ParityInputError, match="cannot name its outputs"):
        side.featurize(train)
    with pytest.raises(ParityInputError, match=r"no column\(s\) \['zz'\]"):
        SklearnPipelineSide("sk", make_pipeline(StandardScaler(), LogisticRegression()), inputs=["zz"]).predict(train)


def test_retrained_pair_suite_proves_feature_parity_end_to_end(tmp_path):
    """The README's retrained pair, small: a suite over a golden dataset, both sides trained in the pair
    factory, every feature bit for bit through the runner."""
    from harness.golden.manifest import Column
    from harness.golden.writer import GeneratedDataset, arrow_table, write_dataset
    from harness.protocol import ModelPair
    from harness.runner import run_suite
    from harness.suite import Suite

    frame = _data(900, 3)[["row_id", "price", "ctr", "device", "click"]]
    columns = (Column("row_id", "int64", "key"), Column("price", "float64", "feature"),
               Column("ctr", "float64", "feature", nullable=True), Column("device", "string", "feature"),
               Column("click", "int64", "label"))
    splits = {"train": frame.iloc[:600], "eval": frame.iloc[600:]}
    write_dataset(GeneratedDataset("tiny_ctr", "1.0.0", "test data", columns,
                                   {s: arrow_table(columns, part) for s, part in splits.items()}),
                  dest_dir=tmp_path / "tiny_ctr")

    def build_pair(dataset):
        train = dataset.frame("train")
        ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                                 ["price", "ctr"]),
                                ("bins", KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform"), ["price"]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["device"])])
        legacy = SklearnPipelineSide("sklearn", ct, HistGradientBoostingClassifier(max_iter=10, random_state=0),
                                     label="click").fit(train)
        model, _ = _served(keras_preprocessing_from_column_transformer(ct))
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit({c: train[c].to_numpy() for c in ("price", "ctr", "device")}, train["click"].to_numpy(),
                  epochs=1, batch_size=100, verbose=0)
        return ModelPair(legacy, KerasPreprocessingSide("keras", model, "preprocessing"))

    features = ["num__price", "num__ctr", "bins__price", "cat__device_desktop", "cat__device_mobile",
                "cat__device_tablet"]
    suite = Suite(name="tiny", description="retrained pair", dataset="tiny_ctr", label="click", pair=build_pair,
                  features=features, categorical_features=features[2:], prediction_atol=1.0)
    result = run_suite(suite, root=tmp_path)
    feature_checks = {c.id: c for c in result.checks if c.kind == "feature"}
    assert sorted(feature_checks) == sorted(f"features/{f}" for f in features)
    for check in feature_checks.values():
        assert check.verdict is Verdict.EQUIVALENT, check.message
        assert check.details["n"] == 300


def test_configs_are_json_and_name_what_changes_numerics(fitted):
    import json

    _, _, legacy, _, _, new = fitted
    legacy_config, new_config = json.loads(json.dumps(legacy.config())), json.loads(json.dumps(new.config()))
    assert legacy_config["steps"] == ["ColumnTransformer", "HistGradientBoostingClassifier"]
    assert legacy_config["params"]["model__max_iter"] == 20
    assert new_config["raw_inputs"]["device"] == "string" and new_config["end_to_end"] is True
    assert json.dumps(new.config(), sort_keys=True) == json.dumps(new.config(), sort_keys=True)


def test_separately_fitted_transformer_and_estimator_score_as_fitted():
    train = _data(120, 0)
    ct = ColumnTransformer([("n", StandardScaler(), ["price", "age"])]).fit(train)
    est = LogisticRegression().fit(ct.transform(train), train["click"])
    side = SklearnPipelineSide("sk", ct, est, label="click")  # never refitted here
    np.testing.assert_array_equal(side.predict(train), est.predict_proba(ct.transform(train))[:, 1])
    np.testing.assert_array_equal(side.featurize(train).to_numpy(), ct.transform(train))
