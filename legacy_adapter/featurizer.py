"""The legacy featurizer: ``FeatureSpec``, ``fit_spec`` and ``LegacyFeaturizer``, in pandas/numpy.

The spec is everything fitted or chosen (vocabularies, imputation values, bucket boundaries, hash
bucket counts, the SipHash key); both featurizers read it, so the TensorFlow side
(``new_platform.featurizer.TFFeaturizer``) computes the same features from the same numbers.

Feature definitions (the contract with the TensorFlow side; every rule holds on both sides):

* Numeric raw columns (``price``, ``listing_age_days``, ``hist_ctr``): NaN/None is *imputed* with the
  spec's value (training median price, median listing age, mean hist_ctr) before anything else.
  ``inf``/``-inf`` are kept (they are values, not missing); the features then carry them.
  Subnormal numbers (``0 < |x| < 2.2250738585072014e-308``) are read as zero of the same sign on both
  sides: TensorFlow's CPU kernels run with flush-to-zero / denormals-are-zero set (even ``tf.where``
  returns 0 for 5e-324 and ``-5e-324 < 0`` is False there), so flushing is the only definition both
  sides can compute identically; the TF side also flushes explicitly so it holds on any device.
* ``slog1p(x) = -log1p(-x) if x < 0 else log1p(x)``: a signed log1p, defined for negative values.
  ``log_price = slog1p(price)``, ``log_listing_age = slog1p(listing_age_days)``,
  ``position_log = slog1p(float64(position))``, ``hist_ctr_imputed`` = hist_ctr after imputation.
* Buckets: ``i`` such that ``boundaries[i-1] <= x < boundaries[i]`` (``np.searchsorted(b, x,
  side="right")``; ids ``0..len(b)``) for ``price_bucket`` and ``listing_age_bucket``, on the imputed
  value (+inf goes to the last bucket, -inf to bucket 0).
* ``hist_ctr_missing``: 1 where hist_ctr was NaN/None, else 0.
* String raw columns: None/NaN is treated as ``""``. ``category_id``/``device_id``/``country_id``:
  1 + the value's index in the spec's vocabulary, 0 when out of vocabulary (exact, case-sensitive match).
* ``shop_hash``: SipHash-2-4 bucket of the shop id's UTF-8 bytes (``legacy_adapter.hashing``).
* ``category_x_device``: hash bucket of ``f"{len(utf8(category))}:{category}{device}"``; the byte-length
  prefix makes the join injective, whatever characters the values contain (a separator character can
  always appear inside a value; a length prefix cannot be confused).
* Query normalisation: strip ASCII whitespace (`` \\t\\n\\v\\f\\r``) from both ends, then lowercase
  ASCII ``A-Z`` only. Python's ``str.lower``/``str.strip`` are Unicode-aware and TensorFlow's byte-wise
  ops are not, so the definition is ASCII-only to be computable identically on both sides.
  ``query_hash``: hash bucket of the normalised query; ``query_num_tokens``: the number of non-empty
  runs of non-ASCII-whitespace characters, capped at ``spec.max_query_tokens`` (a documented transform:
  the cap is the last id).
* ``position``: the 1-based rank as an id: ``0`` for ranks < 1 (not a valid rank, kept visible instead
  of repaired), ``k`` for rank ``k``, ``spec.max_position`` for every deeper rank (documented cap).

Bad input is refused with ``ParityInputError`` naming the column and row: a string in a numeric column,
a number in a string column, a missing or fractional position, a string that is not valid UTF-8.
Rows are never dropped: the output is positionally aligned with the input (and keeps its index).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError
from legacy_adapter._strings import factorize_exact
from legacy_adapter.hashing import MAX_KEY_WORD, hash_bucket

__all__ = [
    "SPEC_VERSION",
    "RAW_COLUMNS",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "FeatureSpec",
    "fit_spec",
    "LegacyFeaturizer",
    "clean_raw",
    "normalize_query",
    "count_query_tokens",
    "slog1p",
    "flush_subnormal",
]

SPEC_VERSION = 1

STRING_COLUMNS = ("shop_id", "category", "device", "country", "query")
FLOAT_COLUMNS = ("price", "listing_age_days", "hist_ctr")
INT_COLUMNS = ("position",)
RAW_COLUMNS = ("position", "shop_id", "category", "device", "country", "price", "listing_age_days", "hist_ctr", "query")
VOCAB_COLUMNS = ("category", "device", "country")

NUMERIC_FEATURES = ("log_price", "log_listing_age", "hist_ctr_imputed", "position_log")
CATEGORICAL_FEATURES = (
    "price_bucket",
    "listing_age_bucket",
    "hist_ctr_missing",
    "category_id",
    "device_id",
    "country_id",
    "shop_hash",
    "category_x_device",
    "query_hash",
    "query_num_tokens",
    "position",
)

# Fixed, human-chosen boundaries (an in-house platform's config, not fitted): price is lognormal with a
# heavy tail, listing age is days since listing.
DEFAULT_PRICE_BOUNDARIES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
DEFAULT_LISTING_AGE_BOUNDARIES = (1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 365.0, 730.0)
# An arbitrary fixed key: stability across processes and platforms is what matters, not secrecy.
DEFAULT_HASH_KEY = (0x1F2E3D4C5B6A7988, 0x0123456789ABCDEF)

_ASCII_WS = " \t\n\v\f\r"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_TINY = float(np.finfo(np.float64).tiny)


def _bad(argument: str, value: Any, expected: str) -> ParityInputError:
    return ParityInputError(f"{argument}={value!r}: expected {expected}")


def _check_boundaries(name: str, boundaries: Any) -> tuple[float, ...]:
    try:
        out = tuple(float(b) for b in boundaries)
    except (TypeError, ValueError):
        raise _bad(name, boundaries, "a sequence of finite floats in strictly increasing order") from None
    if any(isinstance(b, (str, bytes)) for b in boundaries):
        raise _bad(name, boundaries, "a sequence of finite floats, not strings")
    if not out or not all(math.isfinite(b) for b in out) or any(a >= b for a, b in zip(out, out[1:])):
        raise _bad(name, boundaries, "a non-empty sequence of finite floats in strictly increasing order")
    if any(0 < abs(b) < _TINY for b in out):
        raise _bad(name, boundaries, "no subnormal boundary (TensorFlow flushes subnormals to zero)")
    return out


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _bad(name, value, f"an int >= {minimum}")
    return int(value)


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _bad(name, value, "a finite float")
    value = float(value)
    if not math.isfinite(value) or 0 < abs(value) < _TINY:
        raise _bad(name, value, "a finite float, zero or normal (not subnormal: TensorFlow flushes those to zero)")
    return value


@dataclass(frozen=True, eq=False)
class FeatureSpec:
    """Everything both featurizers need, fitted once on training data (see ``fit_spec``).

    ``vocabularies`` maps each of category/device/country to its vocabulary (id = 1 + index; 0 = OOV).
    """

    vocabularies: Mapping[str, tuple[str, ...]]
    price_boundaries: tuple[float, ...] = DEFAULT_PRICE_BOUNDARIES
    listing_age_boundaries: tuple[float, ...] = DEFAULT_LISTING_AGE_BOUNDARIES
    price_impute: float = 0.0
    listing_age_impute: float = 0.0
    hist_ctr_impute: float = 0.0
    shop_buckets: int = 1 << 16
    cross_buckets: int = 1 << 12
    query_buckets: int = 1 << 14
    hash_key: tuple[int, int] = DEFAULT_HASH_KEY
    max_position: int = 30
    max_query_tokens: int = 8
    min_count: int = 1
    version: int = field(default=SPEC_VERSION)

    def __post_init__(self) -> None:
        if not isinstance(self.vocabularies, Mapping) or set(self.vocabularies) != set(VOCAB_COLUMNS):
            got = sorted(self.vocabularies) if isinstance(self.vocabularies, Mapping) else self.vocabularies
            raise _bad("vocabularies", got, f"a mapping with exactly the keys {list(VOCAB_COLUMNS)}")
        vocabs = {}
        for col in VOCAB_COLUMNS:
            vocab = self.vocabularies[col]
            if isinstance(vocab, (str, bytes)) or not all(isinstance(v, str) for v in vocab):
                raise _bad(f"vocabularies[{col!r}]", vocab, "a sequence of str")
            vocab = tuple(vocab)
            if len(set(vocab)) != len(vocab):
                dup = next(v for v, c in Counter(vocab).items() if c > 1)
                raise _bad(f"vocabularies[{col!r}]", vocab[:5], f"distinct values ({dup!r} repeats)")
            vocabs[col] = vocab
        # Read-only, so a frozen spec stays frozen (a plain dict could be edited after featurizers read it).
        object.__setattr__(self, "vocabularies", MappingProxyType(vocabs))
        object.__setattr__(self, "price_boundaries", _check_boundaries("price_boundaries", self.price_boundaries))
        object.__setattr__(
            self, "listing_age_boundaries", _check_boundaries("listing_age_boundaries", self.listing_age_boundaries)
        )
        for name in ("price_impute", "listing_age_impute", "hist_ctr_impute"):
            object.__setattr__(self, name, _check_finite(name, getattr(self, name)))
        for name in ("shop_buckets", "cross_buckets", "query_buckets", "max_position", "max_query_tokens", "min_count"):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), minimum=1))
        try:
            k0, k1 = self.hash_key
        except (TypeError, ValueError):
            raise _bad("hash_key", self.hash_key, "a pair (k0, k1) of ints in [0, 2**63 - 1]") from None
        for word in (k0, k1):
            if isinstance(word, (bool, np.bool_)) or not isinstance(word, (int, np.integer)) or not 0 <= word <= MAX_KEY_WORD:
                raise _bad("hash_key", self.hash_key, "a pair (k0, k1) of ints in [0, 2**63 - 1]")
        object.__setattr__(self, "hash_key", (int(k0), int(k1)))
        if self.version != SPEC_VERSION:
            raise _bad("version", self.version, f"{SPEC_VERSION} (the only FeatureSpec version this code reads)")

    # -- what the spec produces -------------------------------------------------------------------
    @property
    def raw_columns(self) -> tuple[str, ...]:
        return RAW_COLUMNS

    @property
    def numeric_features(self) -> tuple[str, ...]:
        return NUMERIC_FEATURES

    @property
    def categorical_features(self) -> tuple[str, ...]:
        return CATEGORICAL_FEATURES

    @property
    def feature_names(self) -> tuple[str, ...]:
        return NUMERIC_FEATURES + CATEGORICAL_FEATURES

    def cardinality(self, name: str) -> int:
        """Number of distinct ids of a categorical feature: ids are ``0 .. cardinality - 1``."""
        sizes = {
            "price_bucket": len(self.price_boundaries) + 1,
            "listing_age_bucket": len(self.listing_age_boundaries) + 1,
            "hist_ctr_missing": 2,
            "category_id": len(self.vocabularies["category"]) + 1,
            "device_id": len(self.vocabularies["device"]) + 1,
            "country_id": len(self.vocabularies["country"]) + 1,
            "shop_hash": self.shop_buckets,
            "category_x_device": self.cross_buckets,
            "query_hash": self.query_buckets,
            "query_num_tokens": self.max_query_tokens + 1,
            "position": self.max_position + 1,
        }
        if name not in sizes:
            raise _bad("name", name, f"one of the categorical features {list(CATEGORICAL_FEATURES)}")
        return sizes[name]

    # -- JSON round trip --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists, not tuples); ``FeatureSpec.from_dict(spec.to_dict()) == spec``."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["vocabularies"] = {k: list(self.vocabularies[k]) for k in VOCAB_COLUMNS}
        for k in ("price_boundaries", "listing_age_boundaries", "hash_key"):
            d[k] = list(d[k])
        return d

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureSpec):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        if not isinstance(data, Mapping):
            raise _bad("data", type(data).__name__, "a dict as written by FeatureSpec.to_dict()")
        version = data.get("version")
        if version != SPEC_VERSION:
            raise _bad("data['version']", version, f"{SPEC_VERSION}; this spec was written by another version")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise _bad("data", unknown, f"only the FeatureSpec fields {sorted(known)}")
        if "vocabularies" not in data:
            raise _bad("data", sorted(data), "a 'vocabularies' entry")
        kwargs = dict(data)
        for k in ("price_boundaries", "listing_age_boundaries", "hash_key"):
            if k in kwargs and isinstance(kwargs[k], list):
                kwargs[k] = tuple(kwargs[k])
        return cls(**kwargs)


# -- raw input validation, shared with new_platform.featurizer.frame_to_tensors --------------------
def _string_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    series = frame[col]
    values = series.to_numpy(dtype=object, na_value=None)
    missing = pd.isna(values)
    present = values[~missing]
    # Fast path, one C pass: every present value is a str. The loop below only runs to name a bad row.
    if present.size and pd.api.types.infer_dtype(present, skipna=False) != "string":
        for i, v in enumerate(values):
            if not (missing[i] or isinstance(v, str)):
                raise ParityInputError(
                    f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is a {type(v).__name__}; expected "
                    "a string or a missing value (None/NaN); numbers are not turned into strings"
                )
    out = np.where(missing, "", values).astype(object)
    # UTF-8 is what both sides hash; a lone surrogate has no UTF-8 form. Checked once per distinct value.
    codes, uniques = factorize_exact(out)
    for j, v in enumerate(uniques):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as exc:
            i = int(np.flatnonzero(codes == j)[0])
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is not encodable as UTF-8 ({exc.reason})"
            ) from None
    return out


def _float_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ParityInputError(f"column {col!r} has dtype bool; expected a float column (missing = NaN)")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = series.to_numpy(dtype=object, na_value=None)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        else:
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is a {type(v).__name__}; expected a "
                "number or a missing value (None/NaN)"
            )
    return out


def _int_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    series = frame[col]
    if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(series.dtype):
        # Whole floats (a CSV round trip makes 3 into 3.0) are the same integer, so they are accepted;
        # fractional, missing or out-of-range values are refused, never rounded.
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~(np.isfinite(x) & (x == np.floor(x)) & (x >= -(2.0**63)) & (x < 2.0**63))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {x[i]!r} is not a whole number; expected an "
                f"integer rank (positions are never imputed or rounded; {int(bad.sum())} such row(s))"
            )
        return x.astype(np.int64)
    values = series.to_numpy(dtype=object, na_value=None)
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        ok = isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
        if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
            ok = True  # a whole float is the same integer (see the float-dtype branch above)
        if ok and not -(2**63) <= int(v) < 2**63:
            ok = False
        if not ok:
            raise ParityInputError(
                f"column {col!r}, row {i} (index {frame.index[i]!r}): {v!r} is not an int64; expected an integer "
                "rank (positions are never imputed or rounded)"
            )
        out[i] = int(v)
    return out


def clean_raw(frame: pd.DataFrame, *, columns: tuple[str, ...] = RAW_COLUMNS) -> dict[str, np.ndarray]:
    """Validated raw columns as numpy arrays: strings (object, missing -> ""), float64 (missing -> NaN,
    imputed later), position int64. Raises ``ParityInputError`` naming the column and row."""
    if not isinstance(frame, pd.DataFrame):
        raise _bad("frame", type(frame).__name__, "a pandas DataFrame with the raw columns")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParityInputError(
            f"frame is missing raw column(s) {missing}; the featurizer needs {list(columns)} (got {list(frame.columns)})"
        )
    if frame.columns.duplicated().any():
        raise ParityInputError(f"frame has duplicated column names {sorted(set(frame.columns[frame.columns.duplicated()]))}")
    out: dict[str, np.ndarray] = {}
    for col in columns:
        if col in STRING_COLUMNS:
            out[col] = _string_column(frame, col)
        elif col in FLOAT_COLUMNS:
            out[col] = _float_column(frame, col)
        else:
            out[col] = _int_column(frame, col)
    return out


# -- the transforms, in numpy ------------------------------------------------------------------------
def slog1p(x: np.ndarray) -> np.ndarray:
    """Signed log1p: ``-log1p(-x)`` for ``x < 0``, else ``log1p(x)``; odd, monotone, defined everywhere."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x < 0, -np.log1p(-x), np.log1p(x))


def normalize_query(q: str) -> str:
    """Strip ASCII whitespace at both ends, then lowercase ASCII letters only (see module docstring)."""
    return q.strip(_ASCII_WS).translate(_ASCII_LOWER)


def count_query_tokens(q: str) -> int:
    """Number of non-empty runs of characters between ASCII whitespace characters."""
    n, in_token = 0, False
    for ch in q:
        if ch in _ASCII_WS:
            in_token = False
        elif not in_token:
            in_token, n = True, n + 1
    return n


def flush_subnormal(x: np.ndarray) -> np.ndarray:
    """Subnormals -> zero of the same sign (TensorFlow's CPU flush-to-zero; see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) < _TINY, np.copysign(0.0, x), x)


def _bucketize(x: np.ndarray, boundaries: tuple[float, ...]) -> np.ndarray:
    # side="right": boundaries[i-1] <= x < boundaries[i] -> i, as tf Bucketize / tf.searchsorted(right).
    return np.searchsorted(np.asarray(boundaries, dtype=np.float64), x, side="right").astype(np.int64)


def _factorize_pairs(pairs: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Each row's index into the distinct (first, second) pairs, and those pairs."""
    c_codes, c_uniques = factorize_exact(pairs.iloc[:, 0].to_numpy(dtype=object))
    d_codes, d_uniques = factorize_exact(pairs.iloc[:, 1].to_numpy(dtype=object))
    combined = c_codes.astype(np.int64) * max(len(d_uniques), 1) + d_codes
    codes, distinct = pd.factorize(combined)
    n_d = max(len(d_uniques), 1)
    return codes.astype(np.int64), [(c_uniques[k // n_d], d_uniques[k % n_d]) for k in distinct]


class LegacyFeaturizer:
    """pandas/numpy featurizer: ``transform(frame)`` -> one column per feature, same index and order."""

    def __init__(self, spec: FeatureSpec) -> None:
        if not isinstance(spec, FeatureSpec):
            raise _bad("spec", type(spec).__name__, "a FeatureSpec (see fit_spec)")
        self.spec = spec
        self._vocab_maps = {col: {v: i + 1 for i, v in enumerate(vocab)} for col, vocab in spec.vocabularies.items()}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        raw = clean_raw(frame)
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
            # Looked up in a Python dict per distinct value: exact string comparison (see _strings).
            codes, distinct = factorize_exact(raw[col])
            vocab = self._vocab_maps[col]
            ids = np.fromiter((vocab.get(v, 0) for v in distinct), dtype=np.int64, count=len(distinct))
            out[feature] = ids[codes]
        out["shop_hash"] = hash_bucket(raw["shop_id"], spec.shop_buckets, spec.hash_key)
        # Per distinct (category, device) pair and per distinct query: real columns repeat values heavily.
        pairs = pd.DataFrame({"c": raw["category"], "d": raw["device"]})
        pair_codes, distinct_pairs = _factorize_pairs(pairs)
        crossed = [f"{len(c.encode('utf-8'))}:{c}{d}" for c, d in distinct_pairs]
        out["category_x_device"] = hash_bucket(crossed, spec.cross_buckets, spec.hash_key)[pair_codes]
        query_codes, distinct_queries = factorize_exact(raw["query"])
        queries = [normalize_query(q) for q in distinct_queries]
        out["query_hash"] = hash_bucket(queries, spec.query_buckets, spec.hash_key)[query_codes]
        tokens = np.fromiter((count_query_tokens(q) for q in queries), dtype=np.int64, count=len(queries))
        out["query_num_tokens"] = np.minimum(tokens, spec.max_query_tokens)[query_codes]
        # Rank k -> id k, deeper ranks share the last id, ranks < 1 -> 0 (documented, see module doc).
        out["position"] = np.where(position < 1, 0, np.minimum(position, spec.max_position)).astype(np.int64)
        return pd.DataFrame({name: out[name] for name in spec.feature_names}, index=frame.index)

    __call__ = transform


def _vocabulary(values: np.ndarray, *, min_count: int, max_size: int | None) -> tuple[str, ...]:
    counts = Counter(values.tolist())
    # By frequency, ties broken by the value itself so the vocabulary is deterministic.
    ranked = sorted(((v, c) for v, c in counts.items() if c >= min_count), key=lambda vc: (-vc[1], vc[0]))
    if max_size is not None:
        ranked = ranked[:max_size]
    return tuple(v for v, _ in ranked)


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
    raw = clean_raw(train)
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
