"""The featurization contract both platforms share, so neither imports the other.

* ``spec``: ``FeatureSpec`` (JSON round trip) and the raw-column / feature names it produces;
  ``fit``: ``fit_spec`` (vocabularies and imputation values from training data);
* ``raw``: ``clean_raw``, the raw-input validation both featurizers run first;
* ``hashing``: SipHash-2-4 (``hash_bucket``), identical to ``tf.strings.to_hash_bucket_strong``;
* ``strings``: exact, vectorized string handling over Arrow arrays (``factorize_exact``);
* ``standardization``: ``Standardization`` and ``spec_summary``, shared by both platforms' models;
* ``columns``: ``Columns``, the identity featurizer over plain numeric columns.

numpy, pandas and pyarrow only: no TensorFlow, no scikit-learn. ``import harness`` does not import this
package; the legacy side (``legacy_adapter``) re-exports these names at their old paths.
"""
from __future__ import annotations

from harness.featurization.columns import Columns
from harness.featurization.fit import fit_spec
from harness.featurization.hashing import hash_bucket, hash_strings, siphash24
from harness.featurization.raw import clean_raw
from harness.featurization.spec import FeatureSpec
from harness.featurization.standardization import Standardization, spec_summary
from harness.featurization.strings import factorize_exact

__all__ = [
    "Columns",
    "FeatureSpec",
    "Standardization",
    "clean_raw",
    "factorize_exact",
    "fit_spec",
    "hash_bucket",
    "hash_strings",
    "siphash24",
    "spec_summary",
]
