"""What the retrained ads suites (ctr_hgb_widedeep, ads_ranking, bid_regression) declare alike: how a pair of
ads_sides sides is built, and the features both sides produce. Kept apart from ads_sides.py because that file
is part of every side's cache key: a declaration edited here retrains nothing. Margins, gates and their
reasons stay in each suite's own file.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ads_sides  # next to this file; a suite puts this folder on sys.path before importing either

from harness.featurization.spec import CATEGORICAL_FEATURES, NUMERIC_FEATURES

# Both sides featurize from the same FeatureSpec (LegacyFeaturizer; the SavedModel's TF featurize
# signature), so a retrained pair still proves its features row by row, as ctr_logreg does: ids exactly,
# floats within 4 ULP (TF's log1p is another algorithm than numpy's: <= 3 ULP over 400k inputs).
# Spread into Suite(...) as ``**RETRAINED_FEATURES``.
RETRAINED_FEATURES = {
    "features": NUMERIC_FEATURES + CATEGORICAL_FEATURES,
    "categorical_features": CATEGORICAL_FEATURES,
    "feature_max_ulp": 4,
}


def ads_pair(legacy: Callable[[Any], Any], new: Callable[[Any], Any], description: str) -> Callable[[Any], Any]:
    """A suite's ``pair=``: `ads_sides.build_pair` of the two sides, left for the runner to fit."""

    def build_pair(dataset: Any) -> Any:
        return ads_sides.build_pair(dataset, legacy, new, description)

    return build_pair
