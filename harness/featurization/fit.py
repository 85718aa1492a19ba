"""``fit_spec``: how a ``FeatureSpec`` is fitted on training data (vocabularies and imputation values).

Part of the shared contract: the vocabulary order defines the ids both featurizers emit.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import ParityInputError
from harness.featurization.raw import clean_raw
from harness.featurization.spec import (
    DEFAULT_HASH_KEY,
    DEFAULT_LISTING_AGE_BOUNDARIES,
    DEFAULT_PRICE_BOUNDARIES,
    VOCAB_COLUMNS,
    FeatureSpec,
    _check_int,
)

__all__ = ["fit_spec"]


def _vocabulary(strings: pa.Array, *, min_count: int, max_size: int | None) -> tuple[str, ...]:
    counts = pc.value_counts(strings)  # exact: Arrow compares the bytes
    table = pa.table({"value": counts.field("values"), "count": counts.field("counts")})
    table = table.filter(pc.greater_equal(table["count"], min_count))
    # By frequency, ties broken by the value itself so the vocabulary is deterministic. Arrow orders
    # strings by their UTF-8 bytes, which is code point order: the order of Python's str comparison.
    ranked = table.sort_by([("count", "descending"), ("value", "ascending")])["value"].to_pylist()
    return tuple(ranked[:max_size] if max_size is not None else ranked)


def fit_spec(
    train: pd.DataFrame,
    *,
    min_count: int = 5,
    max_vocab_size: int | None = None,
    price_boundaries: tuple[float, ...] = DEFAULT_PRICE_BOUNDARIES,
    listing_age_boundaries: tuple[float, ...] = DEFAULT_LISTING_AGE_BOUNDARIES,
    shop_buckets: int = 1 << 16,
    cross_buckets: int = 1 << 12,
    query_buckets: int = 1 << 14,
    hash_key: tuple[int, int] = DEFAULT_HASH_KEY,
    max_position: int = 30,
    max_query_tokens: int = 8,
) -> FeatureSpec:
    """Fit vocabularies (values seen at least ``min_count`` times, most frequent first) and imputation
    values (median price, median listing age, mean hist_ctr, over non-missing finite training values);
    the rest is configuration carried into the spec."""
    raw = clean_raw(train, arrow_strings=True)
    if len(train) == 0:
        raise ParityInputError("train has 0 rows; a FeatureSpec is fitted on training data")
    min_count = _check_int("min_count", min_count, minimum=1)
    if max_vocab_size is not None:
        max_vocab_size = _check_int("max_vocab_size", max_vocab_size, minimum=1)

    def finite(col: str) -> np.ndarray:
        x = raw[col][np.isfinite(raw[col])]
        if x.size == 0:
            raise ParityInputError(f"column {col!r} has no finite value in train; cannot fit its imputation value")
        return x

    return FeatureSpec(
        vocabularies={c: _vocabulary(raw[c], min_count=min_count, max_size=max_vocab_size) for c in VOCAB_COLUMNS},
        price_boundaries=price_boundaries,
        listing_age_boundaries=listing_age_boundaries,
        price_impute=float(np.median(finite("price"))),
        listing_age_impute=float(np.median(finite("listing_age_days"))),
        hist_ctr_impute=float(np.mean(finite("hist_ctr"))),
        shop_buckets=shop_buckets,
        cross_buckets=cross_buckets,
        query_buckets=query_buckets,
        hash_key=hash_key,
        max_position=max_position,
        max_query_tokens=max_query_tokens,
        min_count=min_count,
    )
