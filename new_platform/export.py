"""Export what would be served: raw columns in, the TF featurizer and the Keras model inside.

The SavedModel has two signatures, both taking one 1-D tensor per raw column
(``new_platform.featurizer.raw_input_signature``):

* ``serving_default`` -> ``{"score": probability}`` (the model's dtype: float64 for the LR),
* ``featurize`` -> ``{feature: tensor}`` (int64 ids, float64 numerics), what the model saw.

Next to it, ``parity_model.json`` records the Keras config, the spec and anything the caller adds (the
training record): `new_platform.serving.ServingSide.config` reports it so the upgrade gate can diff it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError

__all__ = ["export_model", "METADATA_FILE"]

METADATA_FILE = "parity_model.json"


def _serving_module(featurizer: Any, keras_model: Any):
    import tensorflow as tf

    from new_platform.featurizer import raw_input_signature

    signature = raw_input_signature(featurizer.spec)
    feature_names = list(featurizer.spec.feature_names)

    class ServingModule(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="parity_serving")
            self.featurizer = featurizer
            self.model = keras_model

        @tf.function(input_signature=[signature])
        def serve(self, raw):
            features = self.featurizer(raw)
            score = self.model({name: features[name] for name in feature_names}, training=False)
            return {"score": tf.reshape(score, [-1])}

        @tf.function(input_signature=[signature])
        def featurize(self, raw):
            return dict(self.featurizer(raw))

    return ServingModule()


def export_model(featurizer: Any, keras_model: Any, path: str | os.PathLike[str], *,
                 metadata: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write a SavedModel of ``featurizer`` (a ``TFFeaturizer``) followed by ``keras_model`` to ``path``.

    Refuses to write into a non-empty directory unless ``overwrite`` (a stale variable file from another
    export would otherwise be served silently).
    """
    import tensorflow as tf

    from new_platform.featurizer import TFFeaturizer

    if not isinstance(featurizer, TFFeaturizer):
        raise ParityInputError(f"export_model: featurizer must be a TFFeaturizer, got {type(featurizer).__name__}")
    missing = [name for name in featurizer.spec.feature_names if name not in {i.name for i in keras_model.inputs}]
    if missing:
        raise ParityInputError(f"export_model: the Keras model has no input for feature(s) {missing}")
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ParityInputError(f"export_model: {str(path)!r} exists and is not empty; pass overwrite=True or a new path")
    if overwrite and path.exists():
        import shutil

        shutil.rmtree(path)
    module = _serving_module(featurizer, keras_model)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve,
                                                      "featurize": module.featurize})
    from harness.results import jsonable

    meta = {
        "format": 1,
        "signatures": {"serving_default": ["score"], "featurize": list(featurizer.spec.feature_names)},
        "hash_fn": featurizer.hash_fn,
        "keras_config": keras_model.get_config(),
        "keras_class": type(keras_model).__name__,
        "spec": featurizer.spec.to_dict(),
        **dict(metadata or {}),
    }
    (path / METADATA_FILE).write_text(json.dumps(jsonable(meta), indent=1, sort_keys=True, allow_nan=False) + "\n")
    return path
