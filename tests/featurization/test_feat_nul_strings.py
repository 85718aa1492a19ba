"""Strings that differ only after a NUL byte stay distinct (pandas 2.2's hashtable conflates them).

Found by running the featurization tests on the oldest supported versions (tox -e min): pandas 2.2.0's
``factorize`` compares object strings as C strings, so ``""``/``"\\x00"`` and ``"cat"``/``"cat\\x00x"``
shared one hash bucket and one vocabulary id. The reference here hashes and looks up value by value.
"""
from __future__ import annotations

import pandas as pd

from legacy_adapter.featurizer import LegacyFeaturizer, fit_spec
from legacy_adapter.hashing import hash_bucket, siphash24

VALUES = ["", "\x00", "a", "a\x00b", "a\x00c", "\x00a", "a"]


def test_hash_bucket_keeps_nul_suffixed_strings_apart():
    key = (3, 5)
    assert hash_bucket(VALUES, 1 << 30, key).tolist() == [siphash24(v.encode(), *key) % (1 << 30) for v in VALUES]


def _frame(category, shop, query):
    n = len(category)
    return pd.DataFrame({
        "position": [1] * n, "shop_id": shop, "category": category, "device": ["mobile"] * n,
        "country": ["US"] * n, "price": [1.0] * n, "listing_age_days": [1.0] * n, "hist_ctr": [0.1] * n,
        "query": query,
    })


def test_vocabulary_ids_and_hashes_distinguish_nul_suffixed_values():
    train = _frame(["cat"] * 5, ["s"] * 5, ["q"] * 5)
    spec = fit_spec(train)
    frame = _frame(["cat", "cat\x00x", "\x00", ""], ["s", "s\x00", "", "\x00"], ["q", "q\x00z", "", "\x00"])
    out = LegacyFeaturizer(spec).transform(frame)
    assert out["category_id"].tolist() == [1, 0, 0, 0]  # only the exact vocabulary value maps to its id
    k0, k1 = spec.hash_key
    assert out["shop_hash"].tolist() == [siphash24(s.encode(), k0, k1) % spec.shop_buckets for s in frame["shop_id"]]
    assert out["query_hash"].tolist() == [siphash24(q.encode(), k0, k1) % spec.query_buckets for q in frame["query"]]
