"""The small protocol both model stacks satisfy.

The harness never imports a concrete adapter: `legacy_adapter/` and `new_platform/` provide objects
that satisfy `ModelSide`, and a suite pairs them in a `ModelPair`.

Contract of a side:

* ``featurize(batch)`` takes raw rows (a DataFrame with the dataset's raw columns) and returns one
  column per feature, *positionally aligned* with ``batch`` (same length, same order). A side that
  cannot featurize (a score file, an external program) returns ``None``.
* ``predict(batch)`` returns scores for the rows of ``batch``: either a 1-D float array positionally
  aligned with ``batch`` or a ``pandas.Series`` indexed by the dataset's key. A Series may be missing
  keys or hold duplicates (score files and external programs do); the runner aligns by key and reports
  both, it never drops a row silently.
* ``config()`` returns the resolved configuration (JSON-able) of everything that can change numerics:
  the upgrade gate diffs it.
* ``fit(train)`` is optional: sides that can be retrained implement it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["ModelSide", "TrainableSide", "ModelPair"]


@runtime_checkable
class ModelSide(Protocol):
    name: str

    def featurize(self, batch: Any) -> Any | None: ...

    def predict(self, batch: Any) -> Any: ...

    def config(self) -> dict[str, Any]: ...


@runtime_checkable
class TrainableSide(ModelSide, Protocol):
    def fit(self, train: Any) -> Any: ...


@dataclass
class ModelPair:
    """The two stacks a suite compares. ``legacy`` is the reference; differences are new - legacy."""

    legacy: ModelSide
    new: ModelSide
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
