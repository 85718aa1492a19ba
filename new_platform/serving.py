"""`ServingSide`: the TensorFlow side as the harness sees it — the exported SavedModel, called through
its signatures. Parity is checked on what would be served, not on the Python object that trained.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError

__all__ = ["ServingSide"]


class ServingSide:
    """A `harness.protocol.ModelSide` over a SavedModel written by `new_platform.export.export_model`.

    ``featurize(batch)`` calls the ``featurize`` signature, ``predict(batch)`` the ``serving_default``
    one (float64 scores, positionally aligned), in chunks of ``batch_size`` rows.

    It pickles as its artifact's path and spec (the loaded SavedModel does not pickle): unpickling loads
    the SavedModel again, as a serving process of its own does (`harness.serving.process_rss`).
    """

    # What its serving process imports before loading it, so that process's RSS "after imports" is the
    # runtime and the SavedModel's own memory shows in "after load".
    serving_runtime = ("tensorflow",)

    def __init__(self, path: str | os.PathLike[str], spec: Any, *, name: str = "tf", batch_size: int = 65536):
        import tensorflow as tf

        from harness.featurization.spec import FeatureSpec
        from new_platform.export import METADATA_FILE

        if not isinstance(spec, FeatureSpec):
            raise ParityInputError(f"ServingSide: spec must be a FeatureSpec, got {type(spec).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParityInputError(f"ServingSide: batch_size must be an int >= 1, got {batch_size!r}")
        self.path = Path(path)
        if not (self.path / "saved_model.pb").is_file():
            raise ParityInputError(f"ServingSide: {str(self.path)!r} is not a SavedModel directory (no saved_model.pb)")
        self.spec = spec
        self.name = name
        self.batch_size = batch_size
        meta_path = self.path / METADATA_FILE
        self.metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        if self.metadata.get("spec") is not None and self.metadata["spec"] != spec.to_dict():
            raise ParityInputError(
                f"ServingSide: the spec given differs from the one exported with {str(self.path)!r}; the raw "
                "inputs would be featurized with other vocabularies/boundaries than the model was trained on"
            )
        self._loaded = tf.saved_model.load(str(self.path))
        for signature in ("serving_default", "featurize"):
            if signature not in self._loaded.signatures:
                raise ParityInputError(
                    f"ServingSide: {str(self.path)!r} has no {signature!r} signature "
                    f"(found {sorted(self._loaded.signatures)})"
                )

    def __reduce__(self) -> tuple[Any, ...]:
        # The spec as its document: a FeatureSpec's read-only vocabularies (mappingproxy) do not pickle.
        return (_reload, (str(self.path), self.spec.to_dict(), self.name, self.batch_size))

    def _chunks(self, batch: pd.DataFrame):
        from new_platform.featurizer import frame_to_tensors

        if not isinstance(batch, pd.DataFrame):
            raise ParityInputError(f"{self.name}: batch must be a pandas DataFrame, got {type(batch).__name__}")
        for start in range(0, len(batch), self.batch_size):
            yield frame_to_tensors(batch.iloc[start:start + self.batch_size], self.spec)

    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names)

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        signature = self._loaded.signatures["featurize"]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.spec.feature_names}
        for tensors in self._chunks(batch):
            out = signature(**tensors)
            for name in self.spec.feature_names:
                parts[name].append(out[name].numpy())
        columns = {}
        for name in self.spec.feature_names:
            dtype = np.float64 if name in self.spec.numeric_features else np.int64
            columns[name] = np.concatenate(parts[name]) if parts[name] else np.array([], dtype=dtype)
        return pd.DataFrame(columns, index=batch.index)

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        signature = self._loaded.signatures["serving_default"]
        # The served dtype is kept until here: a float32 (or float16) model shows its rounding in the
        # scores; the cast to float64 is exact.
        scores = [signature(**tensors)["score"].numpy().astype(np.float64) for tensors in self._chunks(batch)]
        return np.concatenate(scores) if scores else np.array([], dtype=np.float64)

    def config(self) -> dict[str, Any]:
        from harness.featurization.standardization import spec_summary

        return {"kind": "tf.saved_model", "keras_class": self.metadata.get("keras_class"),
                "keras_config": self.metadata.get("keras_config"), "hash_fn": self.metadata.get("hash_fn"),
                "spec": spec_summary(self.spec)}


def _reload(path: str, spec: dict[str, Any], name: str, batch_size: int) -> ServingSide:
    """A pickled `ServingSide`, loaded again from its SavedModel (its constructor's checks included)."""
    from harness.featurization.spec import FeatureSpec

    return ServingSide(path, FeatureSpec.from_dict(spec), name=name, batch_size=batch_size)
