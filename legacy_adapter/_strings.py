"""Exact factorization of string arrays: re-exported from ``harness.featurization.strings`` (vectorized
over Arrow arrays; the docstring there says why pandas' own factorize is not used)."""
from __future__ import annotations

from harness.featurization.strings import factorize_exact

__all__ = ["factorize_exact"]
