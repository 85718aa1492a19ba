"""The vectorized string handling (Arrow kernels) against the per-string code it replaced.

The reference functions below are the legacy featurizer's former implementation, one Python call per
string: a dict for exact factorization and vocabulary lookup, ``str.strip``/``str.translate`` for the
query, a character loop for the token count, ``siphash24`` per value. They are slow and obviously
correct; the vectorized code must give exactly their outputs on adversarial strings (empty, NUL bytes,
whitespace runs, non-ASCII whitespace and letters, very long) and on Hypothesis-generated text.
"""
from __future__ import annotations

import collections
import functools
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ParityInputError
from harness.featurization import FeatureSpec, clean_raw, factorize_exact, fit_spec, hash_bucket, siphash24
from legacy_adapter.featurizer import LegacyFeaturizer, count_query_tokens, count_tokens, normalize_queries, normalize_query

# -- the former per-string implementation (the reference) ---------------------------------------------
_ASCII_WS = " \t\n\v\f\r"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def factorize_reference(values):
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return codes, list(index)


def normalize_reference(q: str) -> str:
    return q.strip(_ASCII_WS).translate(_ASCII_LOWER)


def count_tokens_reference(q: str) -> int:
    n, in_token = 0, False
    for ch in q:
        if ch in _ASCII_WS:
            in_token = False
        elif not in_token:
            in_token, n = True, n + 1
    return n


@functools.lru_cache(maxsize=None)  # pure-Python SipHash of a 10 kB string takes ~10 ms; values repeat
def bucket_reference(text: str, n: int, key) -> int:
    return siphash24(text.encode("utf-8"), *key) % n


def string_features_reference(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, list[int]]:
    """The string features row by row, straight from the definitions in harness.featurization.spec."""
    def text(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v

    rows = [{c: text(v) for c, v in zip(frame.columns, r)} for r in frame.astype(object).itertuples(index=False)]
    vocab = {c: {v: i + 1 for i, v in enumerate(spec.vocabularies[c])} for c in ("category", "device", "country")}
    key = spec.hash_key
    out: dict[str, list[int]] = {k: [] for k in (
        "category_id", "device_id", "country_id", "shop_hash", "category_x_device", "query_hash", "query_num_tokens")}
    for r in rows:
        for col in ("category", "device", "country"):
            out[f"{col}_id"].append(vocab[col].get(r[col], 0))
        out["shop_hash"].append(bucket_reference(r["shop_id"], spec.shop_buckets, key))
        crossed = f"{len(r['category'].encode('utf-8'))}:{r['category']}{r['device']}"
        out["category_x_device"].append(bucket_reference(crossed, spec.cross_buckets, key))
        q = normalize_reference(r["query"])
        out["query_hash"].append(bucket_reference(q, spec.query_buckets, key))
        out["query_num_tokens"].append(min(count_tokens_reference(q), spec.max_query_tokens))
    return out


# -- adversarial strings ------------------------------------------------------------------------------
ADVERSARIAL = [
    "", " ", "  ", "\x00", "\x00\x00", "a", "a\x00", "\x00a", "a\x00b", "a\x00c", "A", "a ", " a", "A B",
    "\t\n\v\f\r", " \t a \n\n b \r", "a\tb\nc\vd\fe\rf", "  Red  SHOES  ", "RED shoes",
    # whitespace that is not ASCII whitespace: kept as characters, never stripped, never a separator
    "\u00a0", "a\u00a0b", "\u2003x\u3000", "\x1c\x1d\x1e\x1f", "\x85", "\u2028", "\ufeffbom",
    # non-ASCII letters whose Unicode case mapping differs from ASCII's (must stay as they are)
    "Ä", "ÄÖÜ äöü", "İstanbul", "ı", "ß", "ẞ", "Σίσυφος", "ǅ", "\u212a", "ﬁ", "e\u0301", "日本語のクエリ", "🙂 🙃",
    "Zürich\x00ZÜRICH", "ÿ", "\u0100", "\U0010ffff",
    # very long: many SipHash blocks, many tokens, long whitespace runs
    "x" * 10_000, "Ab " * 3_000, " " * 5_000 + "Q" + "\t" * 5_000, "é" * 4_000, "\x00" * 1_000,
]
# A vocabulary that holds the near-misses' originals, so OOV vs in-vocabulary is exercised both ways.
SPEC = FeatureSpec(
    vocabularies={
        "category": ("a", "", "\x00", "a\x00b", "Ä", "A B"),
        "device": ("mobile", "desktop", "\u00a0"),
        "country": ("US", "DE", "日本"),
    },
    shop_buckets=1 << 20,
    cross_buckets=1 << 20,
    query_buckets=1 << 20,
    hash_key=(0x1F2E3D4C5B6A7988, 0x0123456789ABCDEF),
    max_query_tokens=8,
)

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)
# Any Unicode text but lone surrogates (no UTF-8 form; refused, tested below), NUL and controls included.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
ws_texts = st.text(alphabet=st.sampled_from(_ASCII_WS + "\u00a0\u3000\x1c\x85aAzZÄß\x00"), max_size=30)
any_text = st.one_of(texts, ws_texts, st.sampled_from(ADVERSARIAL))


def _frame(values, *, dtype=object) -> pd.DataFrame:
    n = len(values)
    rotate = [values[(i * 7 + 3) % n] for i in range(n)]  # different strings in different columns
    return pd.DataFrame({
        "position": np.arange(1, n + 1, dtype=np.int64),
        "shop_id": pd.Series(values, dtype=dtype),
        "category": pd.Series(values, dtype=dtype),
        "device": pd.Series(rotate, dtype=dtype),
        "country": pd.Series(rotate[::-1], dtype=dtype),
        "price": np.ones(n),
        "listing_age_days": np.ones(n),
        "hist_ctr": np.full(n, 0.1),
        "query": pd.Series(values[::-1], dtype=dtype),
    })


def assert_string_features_equal(frame: pd.DataFrame) -> None:
    got = LegacyFeaturizer(SPEC).transform(frame)
    expected = string_features_reference(frame, SPEC)
    for name, values in expected.items():
        assert got[name].dtype == np.int64, name
        assert got[name].tolist() == values, name


# -- the tests ----------------------------------------------------------------------------------------
def test_factorize_exact_equals_the_dict_reference_on_adversarial_strings():
    values = ADVERSARIAL + ADVERSARIAL[::-1] + ["a", "\x00", ""]
    codes, uniques = factorize_exact(values)
    ref_codes, ref_uniques = factorize_reference(values)
    assert codes.dtype == np.int64
    assert codes.tolist() == ref_codes and uniques == ref_uniques
    assert factorize_exact(np.array(values, dtype=object))[0].tolist() == ref_codes
    assert factorize_exact([])[0].shape == (0,)


@SETTINGS
@given(st.lists(any_text, max_size=30))
def test_factorize_exact_equals_the_dict_reference_on_generated_text(values):
    codes, uniques = factorize_exact(values)
    assert (codes.tolist(), uniques) == factorize_reference(values)


def test_query_normalization_and_tokens_equal_the_per_string_reference_on_adversarial_strings():
    normalized = normalize_queries(ADVERSARIAL).to_pylist()
    assert normalized == [normalize_reference(q) for q in ADVERSARIAL]
    assert count_tokens(normalized).tolist() == [count_tokens_reference(q) for q in normalized]
    assert count_tokens(ADVERSARIAL).tolist() == [count_tokens_reference(q) for q in ADVERSARIAL]
    # the one-string forms keep their old behaviour
    assert [normalize_query(q) for q in ADVERSARIAL[:40]] == [normalize_reference(q) for q in ADVERSARIAL[:40]]
    assert [count_query_tokens(q) for q in ADVERSARIAL[:40]] == [count_tokens_reference(q) for q in ADVERSARIAL[:40]]


@SETTINGS
@given(st.lists(any_text, min_size=1, max_size=30))
def test_query_normalization_and_tokens_equal_the_reference_on_generated_text(values):
    normalized = normalize_queries(values).to_pylist()
    assert normalized == [normalize_reference(q) for q in values]
    assert count_tokens(values).tolist() == [count_tokens_reference(q) for q in values]


def test_hash_bucket_over_arrow_input_equals_siphash_per_value():
    key = (3, 5)
    expected = [bucket_reference(v, 1 << 30, key) for v in ADVERSARIAL]
    assert hash_bucket(ADVERSARIAL, 1 << 30, key).tolist() == expected
    # an Arrow array that is a slice (non-zero offset) and chunked input give the same buckets
    arr = pa.array(["pad"] + ADVERSARIAL, type=pa.string()).slice(1)
    assert hash_bucket(arr, 1 << 30, key).tolist() == expected
    chunked = pa.chunked_array([ADVERSARIAL[:10], ADVERSARIAL[10:]], type=pa.large_string())
    assert hash_bucket(chunked, 1 << 30, key).tolist() == expected
    assert hash_bucket(pa.array(["", ""], type=pa.large_string()), 7, key).tolist() == [bucket_reference("", 7, key)] * 2


def test_hash_bucket_refuses_nulls_in_arrow_input():
    with pytest.raises(ParityInputError, match=r"values\[1\] is null"):
        hash_bucket(pa.array(["a", None]), 10, (1, 2))
    with pytest.raises(ParityInputError, match=r"Arrow string array"):
        hash_bucket(pa.array([1, 2]), 10, (1, 2))


@pytest.mark.parametrize("dtype", [object, "string[python]", "string[pyarrow]", pd.ArrowDtype(pa.large_string())],
                         ids=["object", "string-python", "string-pyarrow", "arrow-large-string"])
def test_string_features_equal_the_per_row_reference_on_adversarial_strings(dtype):
    assert_string_features_equal(_frame(ADVERSARIAL, dtype=dtype))


@pytest.mark.parametrize("dtype", [object, "string[pyarrow]"], ids=["object", "string-pyarrow"])
def test_missing_strings_are_empty_strings_on_every_storage(dtype):
    values = ["a", None, "", "\x00", None, "A B", "a\x00b"]
    if dtype is object:
        values[4] = math.nan
    frame = _frame(values, dtype=dtype)
    assert_string_features_equal(frame)
    filled = _frame([v if isinstance(v, str) else "" for v in values], dtype=object)
    pd.testing.assert_frame_equal(LegacyFeaturizer(SPEC).transform(frame), LegacyFeaturizer(SPEC).transform(filled))


@settings(SETTINGS, max_examples=100)
@given(st.lists(st.one_of(texts, ws_texts), min_size=1, max_size=25))
def test_string_features_equal_the_per_row_reference_on_generated_text(values):
    assert_string_features_equal(_frame(values))


def test_clean_raw_gives_the_same_strings_as_arrow_and_as_numpy():
    frame = _frame(ADVERSARIAL[:30] + [None, None])
    as_numpy = clean_raw(frame)
    as_arrow = clean_raw(frame, arrow_strings=True)
    for col in ("shop_id", "category", "device", "country", "query"):
        assert isinstance(as_numpy[col], np.ndarray) and as_numpy[col].dtype == object
        assert as_arrow[col].type == pa.large_string() and as_arrow[col].null_count == 0
        assert as_arrow[col].to_pylist() == as_numpy[col].tolist()


@pytest.mark.parametrize("arrow", [False, True])
def test_a_lone_surrogate_is_refused_naming_its_row(arrow):
    frame = _frame(["a", "b", "c", "\ud800", "d", "\udfff"])
    with pytest.raises(ParityInputError, match=r"column 'shop_id', row 3 \(index 3\): '\\ud800' is not encodable"):
        clean_raw(frame, arrow_strings=arrow)


def vocabulary_reference(values, *, min_count, max_size=None):
    counts = collections.Counter(values)
    ranked = sorted(((v, c) for v, c in counts.items() if c >= min_count), key=lambda vc: (-vc[1], vc[0]))
    return tuple(v for v, _ in ranked[:max_size])


@pytest.mark.parametrize("min_count,max_size", [(1, None), (2, None), (1, 5)])
def test_fitted_vocabulary_order_equals_the_counter_reference(min_count, max_size):
    # Ties at every count, so the order among equals (code point order of the values) decides.
    values = [v for i, v in enumerate(ADVERSARIAL[:45]) for _ in range(1 + i % 3)] + ["\x00", "", "a"]
    frame = _frame(values)
    spec = fit_spec(frame, min_count=min_count, max_vocab_size=max_size)
    raw = clean_raw(frame)
    for col in ("category", "device", "country"):
        assert spec.vocabularies[col] == vocabulary_reference(raw[col].tolist(), min_count=min_count, max_size=max_size)


@SETTINGS
@given(st.lists(st.one_of(texts, ws_texts), min_size=1, max_size=40))
@pytest.mark.slow
def test_fitted_vocabulary_equals_the_counter_reference_on_generated_text(values):
    spec = fit_spec(_frame(values), min_count=1)
    assert spec.vocabularies["category"] == vocabulary_reference(values, min_count=1)
