"""The legacy featurizer, ``LegacyFeaturizer``, in pandas/numpy/pyarrow.

The spec (``FeatureSpec``, ``fit_spec``) and the raw-input checks (``clean_raw``) are the contract both
featurizers share; they live in ``harness.featurization`` and are re-exported here. Both featurizers read
the same spec, so the TensorFlow side (``new_platform.featurizer.TFFeaturizer``) computes the same
features from the same numbers.

The feature definitions (every rule holds on both sides) are the contract's: they are in
``harness.featurization.spec``'s docstring.

Bad input is refused with ``ParityInputError`` naming the column and row: a string in a numeric column,
a number in a string column, a missing or fractional position, a string that is not valid UTF-8.
Rows are never dropped: the output is positionally aligned with the input (and keeps its index).

Strings are handled as Arrow arrays with ``pyarrow.compute`` kernels (exact byte comparison, NUL
included; see ``harness.featurization.strings``), each distinct value once, never one Python call per row.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.featurization.fit import fit_spec
from harness.featurization.hashing import hash_bucket
from harness.featurization.raw import clean_raw
from harness.featurization.spec import (  # noqa: F401 (the column and default names are re-exported)
    _TINY,
    CATEGORICAL_FEATURES,
    DEFAULT_HASH_KEY,
    DEFAULT_LISTING_AGE_BOUNDARIES,
    DEFAULT_PRICE_BOUNDARIES,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    NUMERIC_FEATURES,
    RAW_COLUMNS,
    SPEC_VERSION,
    STRING_COLUMNS,
    VOCAB_COLUMNS,
    FeatureSpec,
    _bad,
)
from harness.featurization.strings import STRING_TYPE, as_arrow_strings

__all__ = [
    "SPEC_VERSION",
    "RAW_COLUMNS",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "FeatureSpec",
    "fit_spec",
    "LegacyFeaturizer",
    "clean_raw",
    "normalize_queries",
    "count_tokens",
    "normalize_query",
    "count_query_tokens",
    "slog1p",
    "flush_subnormal",
]

_ASCII_WS = " \t\n\v\f\r"
# RE2 (Arrow's regex engine) over UTF-8: one match per maximal run of characters that are not ASCII
# whitespace, so the match count is the token count whatever the non-ASCII characters are.
_TOKEN_PATTERN = r"[^ \t\n\x0B\x0C\r]+"


# -- the transforms, in numpy / pyarrow ----------------------------------------------------------------
def slog1p(x: np.ndarray) -> np.ndarray:
    """Signed log1p: ``-log1p(-x)`` for ``x < 0``, else ``log1p(x)``; odd, monotone, defined everywhere."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x < 0, -np.log1p(-x), np.log1p(x))


def normalize_queries(strings: Any) -> pa.Array:
    """Each string with ASCII whitespace stripped at both ends, then ASCII ``A-Z`` lowercased (only
    those bytes: ``ascii_lower`` leaves every byte of a multi-byte UTF-8 character as it is)."""
    return pc.ascii_lower(pc.utf8_trim(as_arrow_strings(strings), characters=_ASCII_WS))


def count_tokens(strings: Any) -> np.ndarray:
    """Number of non-empty runs of characters between ASCII whitespace characters, per string (int64)."""
    counts = pc.count_substring_regex(as_arrow_strings(strings), pattern=_TOKEN_PATTERN)
    return counts.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def normalize_query(q: str) -> str:
    """``normalize_queries`` of one string."""
    return normalize_queries([q])[0].as_py()


def count_query_tokens(q: str) -> int:
    """``count_tokens`` of one string."""
    return int(count_tokens([q])[0])


def flush_subnormal(x: np.ndarray) -> np.ndarray:
    """Subnormals -> zero of the same sign (TensorFlow's CPU flush-to-zero; see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) < _TINY, np.copysign(0.0, x), x)


def _bucketize(x: np.ndarray, boundaries: tuple[float, ...]) -> np.ndarray:
    # side="right": boundaries[i-1] <= x < boundaries[i] -> i, as tf Bucketize / tf.searchsorted(right).
    return np.searchsorted(np.asarray(boundaries, dtype=np.float64), x, side="right").astype(np.int64)


def _indices(encoded: pa.DictionaryArray) -> np.ndarray:
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)


class LegacyFeaturizer:
    """pandas/numpy featurizer: ``transform(frame)`` -> one column per feature, same index and order."""

    def __init__(self, spec: FeatureSpec) -> None:
        if not isinstance(spec, FeatureSpec):
            raise _bad("spec", type(spec).__name__, "a FeatureSpec (see fit_spec)")
        self.spec = spec
        self._vocabularies = {col: pa.array(list(vocab), type=STRING_TYPE) for col, vocab in spec.vocabularies.items()}

    def _vocabulary_ids(self, col: str, strings: pa.Array) -> np.ndarray:
        # Exact lookup (byte comparison): index in the vocabulary, null when out of vocabulary.
        index = pc.index_in(strings, value_set=self._vocabularies[col])
        return pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        raw = clean_raw(frame, arrow_strings=True)
        for col in FLOAT_COLUMNS:
            raw[col] = flush_subnormal(raw[col])
        price = np.where(np.isnan(raw["price"]), spec.price_impute, raw["price"])
        age = np.where(np.isnan(raw["listing_age_days"]), spec.listing_age_impute, raw["listing_age_days"])
        ctr_missing = np.isnan(raw["hist_ctr"])
        position = raw["position"]
        out: dict[str, np.ndarray] = {
            "log_price": slog1p(price),
            "log_listing_age": slog1p(age),
            "hist_ctr_imputed": np.where(ctr_missing, spec.hist_ctr_impute, raw["hist_ctr"]),
            "position_log": slog1p(position.astype(np.float64)),
            "price_bucket": _bucketize(price, spec.price_boundaries),
            "listing_age_bucket": _bucketize(age, spec.listing_age_boundaries),
            "hist_ctr_missing": ctr_missing.astype(np.int64),
        }
        for col, feature in (("category", "category_id"), ("device", "device_id"), ("country", "country_id")):
            out[feature] = self._vocabulary_ids(col, raw[col])
        out["shop_hash"] = hash_bucket(raw["shop_id"], spec.shop_buckets, spec.hash_key)
        category, device = raw["category"], raw["device"]
        byte_length = pc.cast(pc.binary_length(category), STRING_TYPE)
        crossed = pc.binary_join_element_wise(
            byte_length, pa.scalar(":", STRING_TYPE), category, device, pa.scalar("", STRING_TYPE)
        )
        out["category_x_device"] = hash_bucket(crossed, spec.cross_buckets, spec.hash_key)
        # Per distinct query: real columns repeat values heavily.
        queries = pc.dictionary_encode(raw["query"])
        normalized = normalize_queries(queries.dictionary)
        codes = _indices(queries)
        out["query_hash"] = hash_bucket(normalized, spec.query_buckets, spec.hash_key)[codes]
        out["query_num_tokens"] = np.minimum(count_tokens(normalized), spec.max_query_tokens)[codes]
        # Rank k -> id k, deeper ranks share the last id, ranks < 1 -> 0 (documented, see module doc).
        out["position"] = np.where(position < 1, 0, np.minimum(position, spec.max_position)).astype(np.int64)
        return pd.DataFrame({name: out[name] for name in spec.feature_names}, index=frame.index)

    __call__ = transform
