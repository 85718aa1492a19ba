"""Every ready-made side names, before it has featurized (or been fitted), exactly the columns its
``featurize`` returns: the reference is the frame ``featurize`` itself returns afterwards."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.featurization.columns import Columns
from harness.protocol import feature_names
from legacy_adapter.adapters import ScoreFileSide, SklearnSide
from legacy_adapter.featurizer import LegacyFeaturizer
from legacy_adapter.models import LegacyHistGradientBoosting, LegacyLogisticRegression


def _logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def _columns_of(side, batch) -> list[str]:
    return [str(c) for c in pd.DataFrame(side.featurize(batch)).columns]


@pytest.mark.parametrize("make", [
    lambda spec: LegacyLogisticRegression(spec),
    lambda spec: LegacyHistGradientBoosting(spec),
    lambda spec: SklearnSide("sk", _logreg(), LegacyFeaturizer(spec)),
], ids=["logreg", "hgb", "sklearn-side-spec"])
def test_spec_sides_name_their_features_before_fit(make, spec_small, eval_small):
    side = make(spec_small)
    names = feature_names(side)  # unfitted: the spec alone says what featurize returns
    assert names == _columns_of(side, eval_small.iloc[:50])


def test_sklearn_side_over_columns_and_over_an_unnamed_transformer(eval_small):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    cols = ["price", "hist_ctr"]
    side = SklearnSide("cols", LogisticRegression(), Columns(cols))
    assert feature_names(side) == cols == _columns_of(side, eval_small)
    # a scikit-learn transformer returns an unnamed array: the runner reads the names from a featurized row
    assert feature_names(SklearnSide("scaled", LogisticRegression(), StandardScaler())) is None


def test_score_file_side_produces_no_features(tmp_path):
    pd.DataFrame({"row_id": np.arange(3), "score": [0.1, 0.2, 0.3]}).to_csv(tmp_path / "s.csv", index=False)
    side = ScoreFileSide(tmp_path / "s.csv", key="row_id")
    assert feature_names(side) == [] and side.featurize(pd.DataFrame({"row_id": [0]})) is None


@pytest.mark.tf
def test_serving_and_keras_sides_name_their_features(spec_small, train_small, eval_small, tmp_path):
    pytest.importorskip("tensorflow")
    from harness.featurization.standardization import Standardization
    from new_platform.export import export_model
    from new_platform.featurizer import TFFeaturizer
    from new_platform.models import keras_logistic_regression
    from new_platform.serving import ServingSide
    from new_platform.sides import KerasSide

    featurizer = TFFeaturizer(spec_small)
    std = Standardization.fit(featurizer.transform(train_small.iloc[:500]), spec_small.numeric_features)
    path = export_model(featurizer, keras_logistic_regression(spec_small, std), tmp_path / "lr")
    served = ServingSide(path, spec_small)
    assert feature_names(served) == _columns_of(served, eval_small.iloc[:20])
    keras_side = KerasSide("k", None, ["price", "position"])  # featurize never calls the model
    assert feature_names(keras_side) == _columns_of(keras_side, eval_small.iloc[:20]) == ["price", "position"]
