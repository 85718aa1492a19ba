"""The legacy side: the pandas/numpy featurizer and its ``FeatureSpec``, SipHash, and (in sibling
modules) the scikit-learn models and the adapters the harness scores through.

Importing this package imports neither TensorFlow nor scikit-learn.
"""
from __future__ import annotations

from legacy_adapter.featurizer import FeatureSpec, LegacyFeaturizer, fit_spec
from legacy_adapter.hashing import hash_bucket, siphash24

__all__ = ["FeatureSpec", "LegacyFeaturizer", "fit_spec", "hash_bucket", "siphash24"]
