"""Legacy sklearn sides: design matrix, optimum reached, HGB, config, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.protocol import ModelSide, TrainableSide
from legacy_adapter.models import LegacyHistGradientBoosting, LegacyLogisticRegression, Standardization, design_matrix


@pytest.fixture(scope="module")
def logreg(spec_small, train_small):
    return LegacyLogisticRegression(spec_small, C=0.1).fit(train_small)


def _reference_design(features, spec):
    """The design matrix built with scikit-learn's own encoders (an independent construction)."""
    import scipy.sparse as sp
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = list(spec.categorical_features)
    onehot = OneHotEncoder(categories=[np.arange(spec.cardinality(c)) for c in cats], sparse_output=True)
    numeric = StandardScaler().fit_transform(features[list(spec.numeric_features)].to_numpy())
    return sp.hstack([onehot.fit_transform(features[cats].to_numpy()), sp.csr_matrix(numeric)]).tocsr()


def test_design_matrix_equals_sklearn_encoders(spec_small, train_small):
    features = LegacyLogisticRegression(spec_small).featurize(train_small.iloc[:500])
    standardization = Standardization.fit(features, spec_small.numeric_features)
    got = design_matrix(features, spec_small, standardization)
    want = _reference_design(features, spec_small)
    assert got.shape == want.shape
    n_onehot = sum(spec_small.cardinality(c) for c in spec_small.categorical_features)
    assert (got[:, :n_onehot] != want[:, :n_onehot]).nnz == 0
    np.testing.assert_allclose(got[:, n_onehot:].toarray(), want[:, n_onehot:].toarray(), rtol=1e-12, atol=1e-12)


def test_logreg_reaches_the_optimum_of_the_documented_objective(logreg, spec_small, train_small):
    # Gradient of mean(logloss) + ||w||^2 / (2 C n), computed here with numpy, vanishes at the fit.
    from scipy.special import expit

    X = design_matrix(logreg.featurize(train_small), spec_small, logreg.standardization)
    y = train_small["click"].to_numpy()
    w, b = logreg.estimator.coef_.ravel(), logreg.estimator.intercept_[0]
    n = len(y)
    residual = expit(X @ w + b) - y
    grad_w = X.T @ residual / n + w / (logreg.C * n)
    grad_b = residual.mean()
    assert logreg.training_record["converged"]
    assert np.max(np.abs(grad_w)) < 1e-7 and abs(grad_b) < 1e-7


def test_logreg_matches_an_independent_sklearn_pipeline(logreg, spec_small, train_small, eval_small):
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = logreg.featurize(train_small)
    reference = LogisticRegression(C=0.1, tol=1e-10, max_iter=10_000).fit(
        _reference_design(features, spec_small), train_small["click"])
    eval_features = logreg.featurize(eval_small)
    # The reference standardizes eval rows with its own training mean/std.
    scaler = StandardScaler().fit(features[list(spec_small.numeric_features)].to_numpy())
    cats = list(spec_small.categorical_features)
    onehot = OneHotEncoder(categories=[np.arange(spec_small.cardinality(c)) for c in cats]).fit(features[cats].to_numpy())
    X_eval = sp.hstack([onehot.transform(eval_features[cats].to_numpy()),
                        sp.csr_matrix(scaler.transform(eval_features[list(spec_small.numeric_features)].to_numpy()))])
    np.testing.assert_allclose(logreg.predict(eval_small), reference.predict_proba(X_eval)[:, 1], rtol=0, atol=1e-7)


def test_logreg_is_a_model_side_with_jsonable_config(logreg, eval_small):
    assert isinstance(logreg, TrainableSide) and isinstance(logreg, ModelSide)
    scores = logreg.predict(eval_small)
    assert scores.dtype == np.float64 and scores.shape == (len(eval_small),)
    assert np.all((scores > 0) & (scores < 1))
    config = json.loads(json.dumps(logreg.config(), allow_nan=False))
    assert config["params"]["C"] == 0.1 and config["params"]["solver"] == "lbfgs"
    assert config["standardization"]["features"] == list(logreg.spec.numeric_features)
    coefficients = logreg.coefficients()
    assert set(coefficients["categorical"]) == set(logreg.spec.categorical_features)
    assert coefficients["numeric"].shape == (len(logreg.spec.numeric_features),)


def test_hgb_matches_the_estimator_fitted_directly(spec_small, train_small, eval_small):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = LegacyHistGradientBoosting(spec_small, max_iter=20, random_state=3).fit(train_small)
    names = list(spec_small.feature_names)
    categorical = [n for n in spec_small.categorical_features if spec_small.cardinality(n) <= 255]
    assert "shop_hash" not in categorical and "device_id" in categorical
    reference = HistGradientBoostingClassifier(max_iter=20, random_state=3, early_stopping=False,
                                               categorical_features=[n in categorical for n in names])
    features = model.featurize(train_small)
    reference.fit(features[names].to_numpy(dtype=np.float64), train_small["click"])
    want = reference.predict_proba(model.featurize(eval_small)[names].to_numpy(dtype=np.float64))[:, 1]
    np.testing.assert_array_equal(model.predict(eval_small), want)
    config = json.loads(json.dumps(model.config(), allow_nan=False))
    assert config["params"]["random_state"] == 3 and config["params"]["categorical_features"] == categorical


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda f: f.drop(columns=["click"]), r"no label column 'click'", id="no-label"),
        pytest.param(lambda f: f.assign(click=f["click"] * 2), r"binary 0/1 with both classes present, found values \[0, 2\]",
                     id="non-binary"),
        pytest.param(lambda f: f.assign(click=0), r"both classes present, found values \[0\]", id="one-class"),
    ],
)
@pytest.mark.parametrize("cls", [LegacyLogisticRegression, LegacyHistGradientBoosting])
def test_bad_labels_are_refused(cls, spec_small, train_small, mutate, message):
    with pytest.raises(ParityInputError, match=message):
        cls(spec_small).fit(mutate(train_small.iloc[:200]))


def test_bad_arguments_and_unfitted_use(spec_small, eval_small):
    with pytest.raises(ParityInputError, match=r"C must be a finite float > 0, got -1"):
        LegacyLogisticRegression(spec_small, C=-1)
    with pytest.raises(ParityInputError, match="random_state must be an int"):
        LegacyHistGradientBoosting(spec_small, random_state=None)
    with pytest.raises(ParityInputError, match="not fitted"):
        LegacyLogisticRegression(spec_small).predict(eval_small)
    with pytest.raises(ParityInputError, match="spec must be a FeatureSpec"):
        LegacyLogisticRegression({"vocabularies": {}})


def test_design_matrix_refuses_ids_outside_the_cardinality(spec_small, train_small):
    features = LegacyLogisticRegression(spec_small).featurize(train_small.iloc[:10])
    standardization = Standardization.fit(features, spec_small.numeric_features)
    features.loc[4, "device_id"] = spec_small.cardinality("device_id")
    with pytest.raises(ParityInputError, match=r"feature 'device_id': id 4 at row 4 is outside \[0, 4\)"):
        design_matrix(features, spec_small, standardization)


def test_standardization_refuses_non_finite_training_features(spec_small, train_small):
    features = LegacyLogisticRegression(spec_small).featurize(train_small.iloc[:10])
    features.loc[3, "log_price"] = np.inf
    with pytest.raises(ParityInputError, match=r"training feature 'log_price' is not finite at row 3"):
        Standardization.fit(features, spec_small.numeric_features)


def test_logreg_names_a_non_finite_feature_instead_of_sklearns_bare_error(logreg, eval_small):
    rows = eval_small.iloc[:20].copy()
    rows.loc[7, "price"] = np.inf  # a value, not a missing one: the featurizer keeps it (log_price = inf)
    with pytest.raises(ParityInputError, match=r"feature 'log_price' is inf at row 7 \(1 non-finite"):
        logreg.predict(rows)


def test_importing_the_model_modules_loads_neither_tensorflow_nor_sklearn():
    import subprocess
    import sys

    code = (
        "import sys; import legacy_adapter.models, legacy_adapter.adapters, legacy_adapter.artifacts, "
        "new_platform.training, new_platform.export, new_platform.serving; "
        "print(sorted(m for m in ('tensorflow', 'sklearn', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
