"""The TensorFlow side: the TF featurizer (same ``FeatureSpec``, same SipHash), Keras models, training,
export and the serving-signature scorer.

Importing this package does not import TensorFlow; the names below load their module on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TFFeaturizer": "new_platform.featurizer",
    "frame_to_tensors": "new_platform.featurizer",
    "raw_input_signature": "new_platform.featurizer",
    "keras_logistic_regression": "new_platform.models",
    "wide_and_deep": "new_platform.models",
    "set_determinism": "new_platform.training",
    "fit_logistic_regression": "new_platform.training",
    "fit_wide_and_deep": "new_platform.training",
    "train_ctr_logreg": "new_platform.training",
    "train_ctr_wide_and_deep": "new_platform.training",
    "export_model": "new_platform.export",
    "ServingSide": "new_platform.serving",
    "KerasSide": "new_platform.sides",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'new_platform' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
