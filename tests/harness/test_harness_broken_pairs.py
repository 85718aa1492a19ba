"""Deliberately broken model pairs the harness must catch, each with a message naming the problem.

The pairs share one fixed linear scorer over the features (so a broken feature shows in the scores
too); the legacy side featurizes with pandas, the new side with TensorFlow ops. Each defect is one
small change: a TF bucket boundary moved, a different hash function, float16 scores, rows shuffled.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.protocol import ModelPair
from harness.runner import run_suite
from harness.suite import MetricGate, Suite
from harness.verdicts import Verdict

pytestmark = pytest.mark.tf

SAMPLE = 3000


def _score(features: pd.DataFrame, dtype: Any = np.float64) -> np.ndarray:
    # A fixed linear model touching every kind of feature, so any feature defect moves the scores.
    logit = (
        -3.0
        + 0.3 * features["log_price"].to_numpy()
        - 0.05 * features["price_bucket"].to_numpy()
        + 0.2 * features["hist_ctr_imputed"].to_numpy()
        + 0.001 * (features["shop_hash"].to_numpy() % 97)
        + 0.002 * (features["category_x_device"].to_numpy() % 13)
        + 0.003 * (features["query_hash"].to_numpy() % 7)
        - 0.1 * features["position_log"].to_numpy()
    ).astype(dtype)
    return (1.0 / (1.0 + np.exp(-logit))).astype(dtype)


@dataclasses.dataclass
class _Side:
    name: str
    featurizer: Any
    score_dtype: Any = np.float64
    shuffle_seed: int | None = None

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(batch)

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        if self.shuffle_seed is not None:  # the bug: rows reordered before scoring, scores returned positionally
            batch = batch.sample(frac=1.0, random_state=self.shuffle_seed)
        return _score(self.featurize(batch), self.score_dtype)

    def config(self) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def spec():
    from harness.golden import load_dataset
    from legacy_adapter.featurizer import fit_spec

    return fit_spec(load_dataset("ads_ctr").frame("train"))


def _suite(spec, *, new_spec=None, hash_fn="siphash", **side_options) -> Suite:
    from legacy_adapter.featurizer import LegacyFeaturizer
    from new_platform.featurizer import TFFeaturizer

    def pair(_dataset):
        legacy = _Side("legacy", LegacyFeaturizer(spec))
        new = _Side("tf", TFFeaturizer(new_spec or spec, hash_fn=hash_fn), **side_options)
        return ModelPair(legacy, new)

    return Suite(
        name="broken", description="a deliberately broken pair", dataset="ads_ctr", pair=pair, label="click",
        features=list(spec.feature_names), categorical_features=list(spec.categorical_features),
        feature_max_ulp=4, prediction_atol=1e-9,
        metrics=[MetricGate("auc", 0.01)], n_boot=50,
    )


def _failing(result, kind):
    return {c.id: c for c in result.checks if c.kind == kind and c.verdict is not Verdict.EQUIVALENT}


def test_correct_pair_passes(spec):
    result = run_suite(_suite(spec), sample=SAMPLE)
    assert not _failing(result, "feature")
    assert result.check("predictions/scores").verdict is Verdict.EQUIVALENT
    assert result.check("alignment/keys").verdict is Verdict.EQUIVALENT


def test_bucket_boundary_off_by_one_is_caught(spec):
    boundaries = list(spec.price_boundaries)
    boundaries[3] += 1.0  # 10.0 -> 11.0 on the TF side only
    broken = dataclasses.replace(spec, price_boundaries=tuple(boundaries))
    result = run_suite(_suite(spec, new_spec=broken), sample=SAMPLE)
    failing = _failing(result, "feature")
    assert set(failing) == {"features/price_bucket"}
    check = failing["features/price_bucket"]
    assert "price_bucket" in check.message
    # every example row has a price in the moved interval [10, 11): the message points at the cause
    prices = [e["raw"]["price"] for e in check.details["examples"]]
    assert prices and all(10.0 <= p < 11.0 for p in prices)
    assert result.check("predictions/scores").verdict is Verdict.NOT_EQUIVALENT


def test_different_hash_function_is_caught(spec):
    result = run_suite(_suite(spec, hash_fn="farmhash"), sample=SAMPLE)
    assert set(_failing(result, "feature")) == {"features/shop_hash", "features/category_x_device", "features/query_hash"}
    assert "shop_hash" in result.check("features/shop_hash").message


def test_float16_scores_are_caught(spec):
    result = run_suite(_suite(spec, score_dtype=np.float16), sample=SAMPLE)
    assert not _failing(result, "feature")
    check = result.check("predictions/scores")
    assert check.verdict is Verdict.NOT_EQUIVALENT
    # float16 has 11 significant bits: errors around 1e-5..1e-3 on CTR-sized scores
    assert 1e-6 < check.details["max_abs_diff"] < 1e-2
    assert "atol=1e-09" in check.message


def test_rows_shuffled_before_scoring_are_caught(spec):
    result = run_suite(_suite(spec, shuffle_seed=7), sample=SAMPLE)
    assert not _failing(result, "feature")
    check = result.check("predictions/scores")
    assert check.verdict is Verdict.NOT_EQUIVALENT
    assert "shuffled or misaligned" in check.message
