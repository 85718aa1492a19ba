"""Saving and loading legacy models without unpickling untrusted files.

Unpickling runs arbitrary code, so a model file handed over by another team is never unpickled by
default. Three ways in, from safest:

* `save_logreg_json` / `load_logreg_json`: the logistic regression as plain JSON (coefficients,
  intercept, standardization, spec, params). Floats are written with ``repr`` (shortest round-trip), so
  the reloaded predictor's predictions are identical, bit for bit.
* `save_hgb_skops` / `load_hgb_skops`: the HistGradientBoosting model through skops, which rebuilds
  objects from an explicit list of allowed types; any type in the file outside ``trusted`` is refused
  *before* loading, naming the types.
* `load_pickle(path, trusted_sha256=...)`: plain pickle, only when the file's sha256 equals the hash the
  caller vouches for (the bytes hashed are the bytes unpickled: no window to swap the file).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from legacy_adapter.featurizer import FeatureSpec
from legacy_adapter.models import LegacyHistGradientBoosting, LegacyLogisticRegression, Standardization

__all__ = [
    "HGB_TRUSTED_TYPES",
    "load_hgb_skops",
    "load_logreg_json",
    "load_pickle",
    "save_hgb_skops",
    "save_logreg_json",
    "sha256_file",
]

LOGREG_FORMAT = "parity.legacy_logreg/1"
HGB_FORMAT = "parity.legacy_hgb/1"

# What a fitted HistGradientBoostingClassifier needs beyond skops' default-trusted types, checked with
# skops.io.get_untrusted_types on scikit-learn 1.9 / skops 0.16 and on scikit-learn 1.5 / skops 0.10
# (older skops trusts fewer of sklearn's own loss/link/binning classes). All are scikit-learn's own
# types or functools.partial; nothing else is loaded.
HGB_TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
    "_loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
)


def sha256_file(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _floats(values: Any, *, where: str) -> list[float]:
    out = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise ParityInputError(f"{where}: entry {bad[0]} is {out[bad[0]]!r}; a saved model holds finite numbers only")
    return out


def save_logreg_json(model: LegacyLogisticRegression, path: str | os.PathLike[str]) -> Path:
    """Write a fitted `LegacyLogisticRegression` as JSON; returns the path."""
    if not isinstance(model, LegacyLogisticRegression):
        raise ParityInputError(f"save_logreg_json: model must be a LegacyLogisticRegression, got {type(model).__name__}")
    estimator = model._fitted()
    document = {
        "format": LOGREG_FORMAT,
        "name": model.name,
        "params": {"C": model.C, "max_iter": model.max_iter, "tol": model.tol},
        "label": model.label,
        "spec": model.spec.to_dict(),
        "standardization": model.standardization.to_dict(),
        "coef": _floats(estimator.coef_, where="coef_"),
        "intercept": _floats(estimator.intercept_, where="intercept_")[0],
        "layout": [[name, model.spec.cardinality(name)] for name in model.spec.categorical_features]
        + [[name, 1] for name in model.standardization.features],
    }
    path = Path(path)
    # json writes floats with repr(): the shortest string that reads back to the same double.
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load_logreg_json(path: str | os.PathLike[str]) -> LegacyLogisticRegression:
    """A working `LegacyLogisticRegression` from `save_logreg_json`'s file (no code is executed)."""
    path = Path(path)
    where = f"logistic regression file {str(path)!r}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParityInputError(f"{where} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParityInputError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != LOGREG_FORMAT:
        got = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ParityInputError(f"{where}: format is {got!r}; expected {LOGREG_FORMAT!r}")
    missing = [k for k in ("spec", "standardization", "coef", "intercept", "params") if k not in document]
    if missing:
        raise ParityInputError(f"{where}: missing key(s) {missing}")
    spec = FeatureSpec.from_dict(document["spec"])
    standardization = Standardization.from_dict(document["standardization"])
    coef = _floats(document["coef"], where=f"{where}: 'coef'")
    intercept = _floats([document["intercept"]], where=f"{where}: 'intercept'")[0]
    return LegacyLogisticRegression.from_coefficients(
        spec, coef=np.asarray(coef), intercept=intercept, standardization=standardization,
        params=document["params"], name=document.get("name", "legacy_logreg"),
    )


def save_hgb_skops(model: LegacyHistGradientBoosting, path: str | os.PathLike[str]) -> Path:
    """Write a fitted `LegacyHistGradientBoosting` (estimator + spec + params) with skops; returns the path."""
    import skops.io

    if not isinstance(model, LegacyHistGradientBoosting):
        raise ParityInputError(f"save_hgb_skops: model must be a LegacyHistGradientBoosting, got {type(model).__name__}")
    if model.estimator is None:
        raise ParityInputError("save_hgb_skops: the model is not fitted")
    # The spec and params travel as JSON strings: plain str is a default-trusted type for skops.
    skops.io.dump({"format": HGB_FORMAT, "estimator": model.estimator, "spec": json.dumps(model.spec.to_dict()),
                   "params": json.dumps(model.params), "label": model.label, "name": model.name}, str(path))
    return Path(path)


def load_hgb_skops(path: str | os.PathLike[str], *, trusted: Sequence[str] = HGB_TRUSTED_TYPES) -> LegacyHistGradientBoosting:
    """Load `save_hgb_skops`'s file, allowing only skops' default types plus ``trusted``."""
    import skops.io

    path = Path(path)
    where = f"skops file {str(path)!r}"
    if not path.is_file():
        raise ParityInputError(f"{where} does not exist")
    try:
        untrusted = skops.io.get_untrusted_types(file=str(path))
    except Exception as exc:  # a zip that is not a skops file, or no zip at all
        raise ParityInputError(f"{where} cannot be read as a skops file: {exc}") from exc
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise ParityInputError(
            f"{where} contains type(s) outside the trusted list: {refused}; inspect the file and pass them in "
            "trusted=... only if you trust where it came from"
        )
    document = skops.io.load(str(path), trusted=sorted(set(untrusted)))
    if not isinstance(document, dict) or document.get("format") != HGB_FORMAT:
        raise ParityInputError(f"{where}: not a {HGB_FORMAT!r} document")
    spec = FeatureSpec.from_dict(json.loads(document["spec"]))
    params = json.loads(document["params"])
    model = LegacyHistGradientBoosting(spec, label=document.get("label", "click"), name=document.get("name", "legacy_hgb"),
                                       **params)
    model.estimator = document["estimator"]
    return model


_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_pickle(path: str | os.PathLike[str], *, trusted_sha256: str | None) -> Any:
    """Unpickle ``path`` only if its sha256 equals ``trusted_sha256`` (64 hex digits); refuse otherwise."""
    import pickle

    path = Path(path)
    if trusted_sha256 is None:
        raise ParityInputError(
            f"load_pickle({str(path)!r}): refusing to unpickle without trusted_sha256 (unpickling runs code from "
            "the file); pass the sha256 of the file you trust, e.g. from `sha256sum`"
        )
    expected = str(trusted_sha256).strip().lower()
    if not _SHA256.fullmatch(expected):
        raise ParityInputError(f"load_pickle: trusted_sha256={trusted_sha256!r}: expected 64 hexadecimal digits")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParityInputError(f"load_pickle: {str(path)!r} does not exist") from None
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, expected):
        raise ParityInputError(
            f"load_pickle({str(path)!r}): refusing to unpickle: sha256 is {actual}, expected (trusted) {expected}"
        )
    return pickle.loads(data)  # noqa: S301 — the bytes are exactly the ones the caller vouched for
