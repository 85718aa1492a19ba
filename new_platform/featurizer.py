"""The TensorFlow featurizer: the legacy featurization as TF ops.

Every rule is the one documented in ``harness.featurization.spec`` (the contract both platforms share),
computed from the same ``FeatureSpec`` as the legacy featurizer; only graph ops are used
(``tf.searchsorted``, ``tf.lookup.StaticHashTable``, ``tf.strings.to_hash_bucket_strong`` (SipHash-2-4,
like ``harness.featurization.hashing``), ``tf.math.log1p``, ...), so a ``TFFeaturizer`` can be tracked
inside an exported SavedModel and serving computes the features the model was trained on.

Boundaries are compared in float64 with ``tf.searchsorted(side="right")``, not ``tf.raw_ops.Bucketize``:
Bucketize stores its boundaries as a float32 attribute, which would move a boundary such as 0.1 and
make the two sides disagree for values between the float32 and float64 roundings.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from harness.errors import ParityInputError
from harness.featurization.raw import clean_raw
from harness.featurization.spec import FLOAT_COLUMNS, INT_COLUMNS, STRING_COLUMNS, VOCAB_COLUMNS, FeatureSpec

__all__ = ["TFFeaturizer", "raw_input_signature", "frame_to_tensors", "HASH_FUNCTIONS"]

HASH_FUNCTIONS = ("siphash", "farmhash")

def _raw_dtype(col: str) -> tf.DType:
    if col in STRING_COLUMNS:
        return tf.string
    if col in FLOAT_COLUMNS:
        return tf.float64
    assert col in INT_COLUMNS
    return tf.int64


def raw_input_signature(spec: FeatureSpec) -> dict[str, tf.TensorSpec]:
    """The serving input: one 1-D tensor per raw column (strings tf.string, floats tf.float64, position
    tf.int64), any batch size."""
    if not isinstance(spec, FeatureSpec):
        raise ParityInputError(f"spec={type(spec).__name__}: expected a FeatureSpec")
    return {col: tf.TensorSpec([None], _raw_dtype(col), name=col) for col in spec.raw_columns}


def frame_to_tensors(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, tf.Tensor]:
    """Raw columns of ``frame`` as tensors matching ``raw_input_signature(spec)``; missing strings become
    ``""`` and missing numbers NaN (imputed inside the featurizer), exactly as the legacy side does, and
    bad values raise ``ParityInputError`` naming the column and row."""
    raw = clean_raw(frame, columns=spec.raw_columns)
    out = {}
    for col, values in raw.items():
        if col in STRING_COLUMNS:
            # clean_raw has checked every value is a str with a UTF-8 form; TF encodes str as UTF-8.
            out[col] = tf.constant(values, dtype=tf.string)
        else:
            out[col] = tf.constant(values, dtype=_raw_dtype(col))
    return out


_TINY = float(np.finfo(np.float64).tiny)


def _flush_subnormal(x: tf.Tensor) -> tf.Tensor:
    # TF's CPU kernels already flush subnormals (FTZ/DAZ); doing it explicitly keeps the definition
    # the same on a device or build that does not. x * 0.0 keeps the sign of zero.
    return tf.where(tf.abs(x) < _TINY, x * tf.constant(0.0, tf.float64), x)


def _slog1p(x: tf.Tensor) -> tf.Tensor:
    return tf.where(x < 0, -tf.math.log1p(-x), tf.math.log1p(x))


class TFFeaturizer(tf.Module):
    """``featurizer(raw) -> {feature: tensor}`` in TF ops; ids int64, numerics float64.

    ``hash_fn="farmhash"`` swaps SipHash for ``tf.strings.to_hash_bucket_fast``: a deliberately wrong
    featurizer that the harness's tests use to show a different hash is caught.
    Call it eagerly, inside your own ``tf.function``, or use ``serve`` (a ``tf.function`` with the fixed
    ``raw_input_signature``) when exporting; ``transform(frame)`` returns a DataFrame like the legacy side.
    """

    def __init__(self, spec: FeatureSpec, *, hash_fn: str = "siphash", name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(spec, FeatureSpec):
            raise ParityInputError(f"spec={type(spec).__name__}: expected a FeatureSpec (see fit_spec)")
        if hash_fn not in HASH_FUNCTIONS:
            raise ParityInputError(f"hash_fn={hash_fn!r}: expected one of {list(HASH_FUNCTIONS)}")
        self.spec = spec
        self.hash_fn = hash_fn
        self._price_boundaries = tf.constant(spec.price_boundaries, dtype=tf.float64)
        self._age_boundaries = tf.constant(spec.listing_age_boundaries, dtype=tf.float64)
        self._tables = {}
        for col in VOCAB_COLUMNS:
            vocab = spec.vocabularies[col]
            if vocab:
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(vocab), dtype=tf.string),
                    tf.range(1, len(vocab) + 1, dtype=tf.int64),
                )
                self._tables[col] = tf.lookup.StaticHashTable(init, default_value=tf.constant(0, tf.int64))
            else:
                self._tables[col] = None
        self.serve = tf.function(self._featurize, input_signature=[raw_input_signature(spec)])

    def _hash(self, x: tf.Tensor, num_buckets: int) -> tf.Tensor:
        if self.hash_fn == "siphash":
            return tf.strings.to_hash_bucket_strong(x, num_buckets, key=list(self.spec.hash_key))
        return tf.strings.to_hash_bucket_fast(x, num_buckets)

    def _lookup(self, col: str, x: tf.Tensor) -> tf.Tensor:
        table = self._tables[col]
        if table is None:
            return tf.zeros_like(x, dtype=tf.int64)
        return table.lookup(x)

    def _check_inputs(self, raw: Any) -> dict[str, tf.Tensor]:
        if not isinstance(raw, dict):
            raise ParityInputError(f"raw={type(raw).__name__}: expected a dict of tensors keyed by raw column")
        missing = [c for c in self.spec.raw_columns if c not in raw]
        if missing:
            raise ParityInputError(f"raw inputs are missing column(s) {missing}; expected {list(self.spec.raw_columns)}")
        out = {}
        for col in self.spec.raw_columns:
            t = raw[col] if isinstance(raw[col], tf.Tensor) else tf.convert_to_tensor(raw[col])
            if t.dtype != _raw_dtype(col):
                raise ParityInputError(
                    f"raw[{col!r}] has dtype {t.dtype.name}; expected {_raw_dtype(col).name} "
                    "(use frame_to_tensors to build the inputs)"
                )
            out[col] = t
        return out

    def _featurize(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        spec = self.spec
        raw = self._check_inputs(raw)
        raw.update({col: _flush_subnormal(raw[col]) for col in FLOAT_COLUMNS})
        price = tf.where(tf.math.is_nan(raw["price"]), tf.constant(spec.price_impute, tf.float64), raw["price"])
        age_raw = raw["listing_age_days"]
        age = tf.where(tf.math.is_nan(age_raw), tf.constant(spec.listing_age_impute, tf.float64), age_raw)
        ctr_missing = tf.math.is_nan(raw["hist_ctr"])
        position = raw["position"]
        category, device = raw["category"], raw["device"]
        crossed = tf.strings.join(
            [tf.strings.as_string(tf.strings.length(category, unit="BYTE")), ":", category, device]
        )
        query = tf.strings.lower(tf.strings.strip(raw["query"]), encoding="")
        tokens = tf.strings.split(query).row_lengths()
        out = {
            "log_price": _slog1p(price),
            "log_listing_age": _slog1p(age),
            "hist_ctr_imputed": tf.where(ctr_missing, tf.constant(spec.hist_ctr_impute, tf.float64), raw["hist_ctr"]),
            "position_log": _slog1p(tf.cast(position, tf.float64)),
            "price_bucket": tf.searchsorted(self._price_boundaries, price, side="right", out_type=tf.int64),
            "listing_age_bucket": tf.searchsorted(self._age_boundaries, age, side="right", out_type=tf.int64),
            "hist_ctr_missing": tf.cast(ctr_missing, tf.int64),
            "category_id": self._lookup("category", category),
            "device_id": self._lookup("device", device),
            "country_id": self._lookup("country", raw["country"]),
            "shop_hash": self._hash(raw["shop_id"], spec.shop_buckets),
            "category_x_device": self._hash(crossed, spec.cross_buckets),
            "query_hash": self._hash(query, spec.query_buckets),
            "query_num_tokens": tf.minimum(tf.cast(tokens, tf.int64), tf.constant(spec.max_query_tokens, tf.int64)),
            "position": tf.where(
                position < 1, tf.constant(0, tf.int64), tf.minimum(position, tf.constant(spec.max_position, tf.int64))
            ),
        }
        return {name: out[name] for name in spec.feature_names}

    def __call__(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return self._featurize(raw)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Featurize a DataFrame through ``serve``; same index and order as ``frame``."""
        features = self.serve(frame_to_tensors(frame, self.spec))
        return pd.DataFrame({name: features[name].numpy() for name in self.spec.feature_names}, index=frame.index)
