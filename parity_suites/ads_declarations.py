"""What the ads suites declare alike: how a pair of cached sides is built and left for the runner to fit
(ctr_logreg, ctr_hgb_widedeep, ads_ranking, bid_regression), and the features the retrained suites' sides
produce. Kept apart from ads_sides.py because that file is part of every side's cache key: a declaration
or the pair's wrapper edited here retrains nothing. Margins, gates and their reasons stay in each suite's
own file.
"""
from __future__ import annotations

from collections.abc import Callable
import operator
from functools import partial
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


class TrainedOnFit:
    """A side trained (or reloaded from the side cache) when the runner fits it (`ModelPair.fit`), or on
    first use: until then it only names the features it will produce, from the spec, so the suite's
    feature declaration is checked before anything trains. ``fit(train)`` builds through `cached_side`,
    whose builders read the dataset's train split themselves (the split the runner passes)."""

    def __init__(self, make: Any, spec: Any, events: list[dict[str, Any]]):
        self._make, self._spec, self._events, self._side = make, spec, events, None

    @property
    def name(self) -> str:
        return self._side.name if self._side is not None else self._make.__name__

    def feature_names(self) -> list[str]:
        return list(self._spec.feature_names)

    def fit(self, train: Any = None) -> TrainedOnFit:
        if self._side is None:
            from harness.cache import cache_events

            before = len(cache_events())
            self._side = self._make()
            self._events.extend(cache_events()[before:])
        return self

    @property
    def side(self) -> Any:
        return self.fit()._side

    def featurize(self, batch: Any) -> Any:
        return self.side.featurize(batch)

    def predict(self, batch: Any) -> Any:
        return self.side.predict(batch)

    def config(self) -> dict[str, Any]:
        return self.side.config()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickled (a serving process of its own, harness.serving.process_rss), this wrapper unpickles as the
        # trained side alone, ``(side,)[0]``: ``make`` holds the golden dataset, whose frames a serving
        # process must not carry, and the side's own reduce cannot stand in (pickle checks its class).
        return operator.getitem, ((self.side,), 0)

    def __getattr__(self, attr: str) -> Any:  # what else the trained side offers (estimator, path, metadata)
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.side, attr)


def build_pair(dataset: Any, legacy: Any, new: Any, description: str, *,
               spec: Callable[[Any], Any] = ads_sides.spec_for) -> Any:
    """``ModelPair`` of ``legacy(dataset)`` and ``new(dataset)``, left for the runner to fit: each side
    trains or reloads only then (`TrainedOnFit`), after the suite's feature declaration was checked
    against ``spec(dataset)``'s feature names. ``extra["side_cache"]`` collects the two sides' cache
    events (which side was reused, which trained, and why) as they happen."""
    from harness.protocol import ModelPair

    events: list[dict[str, Any]] = []
    names = spec(dataset)
    sides = []
    for make in (legacy, new):
        bound = partial(make, dataset)
        bound.__name__ = make.__name__
        sides.append(TrainedOnFit(bound, names, events))
    return ModelPair(sides[0], sides[1], description=description, extra={"side_cache": events},
                     fit=("legacy", "new"))


def ads_pair(legacy: Callable[[Any], Any], new: Callable[[Any], Any], description: str, *,
             spec: Callable[[Any], Any] = ads_sides.spec_for) -> Callable[[Any], Any]:
    """A suite's ``pair=``: `build_pair` of the two sides (``side(dataset)`` -> a trained side, through the
    side cache), left for the runner to fit; ``spec(dataset)`` is the FeatureSpec they featurize with."""

    def pair(dataset: Any) -> Any:
        return build_pair(dataset, legacy, new, description, spec=spec)

    return pair
