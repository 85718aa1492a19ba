"""The featurization contract both platforms share: ``FeatureSpec`` and the names it produces.

The spec is everything fitted or chosen (vocabularies, imputation values, bucket boundaries, hash
bucket counts, the SipHash key). The legacy featurizer (``legacy_adapter.featurizer``) and the
TensorFlow one (``new_platform.featurizer``) both read it, so they compute the same features from the
same numbers. It lives here, in neither platform, so that either can be used without the other.

Feature definitions (every rule holds on both sides):

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
* ``shop_hash``: SipHash-2-4 bucket of the shop id's UTF-8 bytes (``harness.featurization.hashing``).
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

from harness.errors import ParityInputError
from harness.featurization.hashing import MAX_KEY_WORD

__all__ = [
    "SPEC_VERSION",
    "STRING_COLUMNS",
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "RAW_COLUMNS",
    "VOCAB_COLUMNS",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "DEFAULT_PRICE_BOUNDARIES",
    "DEFAULT_LISTING_AGE_BOUNDARIES",
    "DEFAULT_HASH_KEY",
    "FeatureSpec",
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
