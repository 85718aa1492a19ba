"""SipHash-2-4 for the legacy featurizer: re-exported from ``harness.featurization.hashing``, where the
contract both platforms share lives (this path is kept for suites and users that import it)."""
from __future__ import annotations

from harness.featurization.hashing import MAX_KEY_WORD, hash_bucket, hash_strings, siphash24

__all__ = ["siphash24", "hash_bucket", "hash_strings", "MAX_KEY_WORD"]
