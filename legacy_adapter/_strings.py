"""Exact factorization of string arrays.

pandas' object hashtable compares strings as C strings in the versions we support at the low end
(pandas 2.2.0: ``pd.factorize(["", "\\x00", "a", "a\\x00b"])`` gives codes ``[0, 0, 1, 1]``), so two
distinct values that differ after a NUL byte collapse into one — and get the same hash bucket or
vocabulary id. A Python dict compares ``str`` exactly, costs ~0.1 s per million values, and is the
same on every pandas version, so every string grouping in the legacy featurizer goes through here.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["factorize_exact"]


def factorize_exact(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Each value's index into the distinct values (first-seen order), and those values."""
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)
