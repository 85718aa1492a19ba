"""What both platforms' models share beyond the features: the numeric standardization and the spec
summary a configuration diff shows. Pure numpy/pandas; the models (scikit-learn in ``legacy_adapter``,
Keras in ``new_platform``) each apply the same affine map from here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError
from harness.featurization.spec import FeatureSpec

__all__ = ["Standardization", "spec_summary"]


def spec_summary(spec: FeatureSpec) -> dict[str, Any]:
    """What of the spec a config diff needs to see: the features, their kinds and cardinalities."""
    return {
        "numeric_features": list(spec.numeric_features),
        "categorical_features": list(spec.categorical_features),
        "cardinalities": {name: spec.cardinality(name) for name in spec.categorical_features},
        "spec_version": spec.version,
    }


@dataclass(frozen=True)
class Standardization:
    """``(x - mean) / std`` per numeric feature; mean and std (ddof=0) computed on training features.

    A constant training feature gets std 1.0 (it would otherwise divide by zero); the fitted model gives
    it no weight anyway beyond what the intercept can absorb.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.features)
        if len(self.mean) != n or len(self.std) != n:
            raise ParityInputError(
                f"Standardization: features, mean and std must have one entry each, got {n}, {len(self.mean)}, "
                f"{len(self.std)}"
            )
        for name, m, s in zip(self.features, self.mean, self.std):
            if not (math.isfinite(m) and math.isfinite(s) and s > 0):
                raise ParityInputError(
                    f"Standardization: feature {name!r} needs a finite mean and a finite std > 0, got {m!r}, {s!r}"
                )

    @classmethod
    def fit(cls, features: pd.DataFrame, names: Sequence[str]) -> Standardization:
        means, stds = [], []
        for name in names:
            x = features[name].to_numpy(dtype=np.float64)
            if not np.isfinite(x).all():
                row = int(np.flatnonzero(~np.isfinite(x))[0])
                raise ParityInputError(
                    f"training feature {name!r} is not finite at row {row} ({x[row]!r}); standardization "
                    "and the fit need finite training features"
                )
            std = float(np.std(x))
            means.append(float(np.mean(x)))
            stds.append(std if std > 0 else 1.0)
        return cls(tuple(names), tuple(means), tuple(stds))

    def apply(self, features: pd.DataFrame) -> np.ndarray:
        """The standardized numeric block, shape (n, len(features)), float64."""
        x = np.column_stack([features[name].to_numpy(dtype=np.float64) for name in self.features]) if self.features \
            else np.zeros((len(features), 0))
        return (x - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardization:
        try:
            return cls(tuple(data["features"]), tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["std"]))
        except (KeyError, TypeError) as exc:
            raise ParityInputError(f"Standardization.from_dict: expected keys features, mean, std; got {data!r}") from exc
