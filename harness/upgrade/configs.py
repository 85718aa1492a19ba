"""Configuration probes' helpers: resolved defaults as canonical JSON, ready for DeepDiff.

The values must be comparable across environments, so every object becomes plain JSON in a stable
form: floats stay floats (non-finite ones become the strings "nan"/"inf"/"-inf" because JSON has no
such numbers), estimators become ``{"__class__": ..., "params": {...}}``, callables become their
qualified name, and any other object its type name plus its ``repr`` with memory addresses removed
(addresses change on every run and would flag a change that is not one).
"""
from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_keras_names", "keras_config", "sklearn_config", "to_config_json"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}.{name}"


def to_config_json(value: Any, *, _depth: int = 0) -> Any:
    """Canonical, JSON-able form of a configuration value (dict keys sorted, tuples as lists)."""
    if _depth > 50:
        raise RecursionError("configuration nested deeper than 50 levels (a cycle?)")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        np = None
    if np is not None:
        if isinstance(value, np.generic):
            return to_config_json(value.item(), _depth=_depth + 1)
        if isinstance(value, np.ndarray):
            return {"__ndarray__": str(value.dtype), "shape": list(value.shape),
                    "values": to_config_json(value.tolist(), _depth=_depth + 1)}
        if isinstance(value, np.dtype):
            return f"dtype:{value}"
        if isinstance(value, type) and issubclass(value, np.generic):
            return f"dtype:{np.dtype(value)}"
    if isinstance(value, Mapping):
        return {str(k): to_config_json(v, _depth=_depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [to_config_json(v, _depth=_depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_config_json(v, _depth=_depth + 1) for v in value), key=repr)
    if hasattr(value, "get_params") and callable(value.get_params):  # a scikit-learn estimator
        return sklearn_config(value)
    if isinstance(value, type) or callable(value):
        return f"callable:{_qualname(value)}"
    return f"{type(value).__qualname__}:{_ADDRESS.sub('', repr(value))}"


def sklearn_config(estimator: Any) -> dict[str, Any]:
    """``{"__class__": ..., "params": get_params(deep=False) resolved recursively}`` of a scikit-learn object.

    ``deep=False`` plus recursion on nested estimators keeps one path per parameter
    (``root['params']['estimator']['params']['C']``) instead of the flattened ``estimator__C`` duplicates.
    """
    if not hasattr(estimator, "get_params"):
        from harness.errors import ParityInputError

        raise ParityInputError(f"sklearn_config: expected a scikit-learn estimator with get_params(), got {type(estimator).__name__}")
    params = estimator.get_params(deep=False)
    return {"__class__": _qualname(type(estimator)), "params": to_config_json(params)}


_AUTO_SUFFIX = re.compile(r"_\d+$")


def _collect_names(value: Any, names: dict[str, None]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "name" and isinstance(v, str):
                names.setdefault(v, None)
            else:
                _collect_names(v, names)
    elif isinstance(value, list):
        for v in value:
            _collect_names(v, names)


def _rename(value: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, mapping) for v in value]
    if isinstance(value, str):
        return mapping.get(value, value)
    return value


def canonical_keras_names(config: Any) -> Any:
    """Replace Keras object names by order-of-appearance names: "dense_7", "dense_8" -> "dense#0", "dense#1".

    Keras numbers auto-generated names per process ("dense", "dense_1", ...), so the same model built
    after a different number of other models differs only in these suffixes — also inside a functional
    model's connectivity, which refers to layers by name. Renaming every occurrence consistently keeps
    the structure comparable while a real change (another layer, another dtype policy) still shows.
    """
    names: dict[str, None] = {}
    _collect_names(config, names)
    counts: dict[str, int] = {}
    mapping = {}
    for name in names:
        base = _AUTO_SUFFIX.sub("", name)
        mapping[name] = f"{base}#{counts.get(base, 0)}"
        counts[base] = counts.get(base, 0) + 1
    return _rename(config, mapping)


def keras_config(obj: Any, *, canonical_names: bool = True) -> dict[str, Any]:
    """``get_config()`` of a Keras model, layer, optimizer, loss or metric — and, for a compiled model,
    of its optimizer, loss and metrics too — as canonical JSON.

    ``canonical_names``: auto-numbered Keras names are replaced consistently (see `canonical_keras_names`),
    so a model built after a different number of other models compares equal.
    """
    if not hasattr(obj, "get_config"):
        from harness.errors import ParityInputError

        raise ParityInputError(f"keras_config: expected a Keras object with get_config(), got {type(obj).__name__}")
    out: dict[str, Any] = {"__class__": _qualname(type(obj)), "config": to_config_json(obj.get_config())}
    optimizer = getattr(obj, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "get_config") and obj is not optimizer:
        out["optimizer"] = {"__class__": _qualname(type(optimizer)), "config": to_config_json(optimizer.get_config())}
    if hasattr(obj, "get_compile_config") and getattr(obj, "compiled", False):
        try:
            out["compile"] = to_config_json(obj.get_compile_config())
        except Exception as exc:  # noqa: BLE001 - older Keras raise for some compiled states; record, don't crash
            out["compile"] = f"unavailable: {type(exc).__name__}"
    return canonical_keras_names(out) if canonical_names else out
