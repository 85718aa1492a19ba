"""The TensorFlow side: the TF featurizer (same ``FeatureSpec``, same SipHash), Keras models, training,
export and the serving-signature scorer.

Importing this package does not import TensorFlow; the names below load their module on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TFFeaturizer", "frame_to_tensors", "raw_input_signature"]

_LAZY = {
    "TFFeaturizer": "new_platform.featurizer",
    "frame_to_tensors": "new_platform.featurizer",
    "raw_input_signature": "new_platform.featurizer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'new_platform' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
