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
* ``feature_names()`` is optional: the names ``featurize`` will return, asked before anything is
  featurized (and, for a pair the runner fits, before ``fit``), so that a suite's ``features`` and
  ``feature_map`` are checked before training. ``None`` when the names are only known after ``fit`` (an
  unfitted scikit-learn ColumnTransformer), ``[]`` for a side that cannot featurize. A side without it is
  checked when its features arrive (after scoring).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["ModelSide", "TrainableSide", "ModelPair", "feature_names", "featurizer_names"]

ROLES = ("legacy", "new")


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
    """The two stacks a suite compares. ``legacy`` is the reference; differences are new - legacy.

    ``fit`` names the sides ("legacy", "new") the runner fits on the dataset's ``fit_split`` itself:
    then the pair factory only builds them, and the runner checks the suite's feature declaration
    against each side's `feature_names` before any ``fit`` call (training can take minutes). Sides the
    factory fitted itself are checked right after it returns, before scoring.
    """

    legacy: ModelSide
    new: ModelSide
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    fit: tuple[str, ...] = ()
    fit_split: str = "train"
    _fitted: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from harness.errors import ParityInputError

        self.fit = (self.fit,) if isinstance(self.fit, str) else tuple(self.fit)
        bad = [r for r in self.fit if r not in ROLES]
        if bad or len(set(self.fit)) != len(self.fit):
            raise ParityInputError(f"ModelPair(fit={self.fit!r}): fit names sides among {list(ROLES)}, each once")
        for role in self.fit:
            if not callable(getattr(getattr(self, role), "fit", None)):
                raise ParityInputError(f"ModelPair(fit={self.fit!r}): the {role} side "
                                       f"{getattr(getattr(self, role), 'name', '?')!r} has no fit(train)")
        if not isinstance(self.fit_split, str) or not self.fit_split:
            raise ParityInputError(f"ModelPair(fit_split={self.fit_split!r}): expected a split name")

    def fit_pending(self, dataset: Any, *, stage: Any = None) -> ModelPair:
        """Fit the sides named in ``fit`` on ``dataset.frame(fit_split)``, once (later calls do nothing);
        returns the pair. The runner calls it after checking the feature declaration, with ``stage(role)``
        a context manager around each side's fit (its cost per side); call it yourself before using such
        a pair outside a suite run."""
        import contextlib

        from harness.errors import ParityInputError

        if self.fit and not self._fitted:
            if self.fit_split not in dataset.splits:
                raise ParityInputError(f"ModelPair(fit_split={self.fit_split!r}): dataset {dataset.name!r} has "
                                       f"no such split; its splits are {list(dataset.splits)}")
            train = dataset.frame(self.fit_split)
            for role in self.fit:
                with stage(role) if stage is not None else contextlib.nullcontext():
                    getattr(self, role).fit(train)
            self._fitted = True
        return self


def feature_names(side: Any) -> list[str] | None:
    """The names ``side.featurize`` will return, without featurizing: ``side.feature_names()`` when the
    side has it, else None (not known before its features arrive). A side that answers something other
    than None or a list of distinct names is an error naming it."""
    from harness.errors import ParityInputError

    ask = getattr(side, "feature_names", None)
    if not callable(ask):
        return None
    names = ask()
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ParityInputError(f"side {getattr(side, 'name', '?')!r}: feature_names() must return a list of "
                               f"names or None, got {names!r}")
    names = list(names)
    if len(set(names)) != len(names):
        raise ParityInputError(f"side {getattr(side, 'name', '?')!r}: feature_names() repeats a name: {names}")
    return names


def featurizer_names(featurizer: Any) -> list[str] | None:
    """The output names of a featurizer object a side wraps, when it can say before transforming: a
    `FeatureSpec` featurizer's (``.spec.feature_names``) or `Columns`' columns; None otherwise (a
    scikit-learn transformer returns an unnamed array unless set to pandas output, so its names are
    read from the frame it returns)."""
    from harness.featurization.spec import FeatureSpec

    spec = getattr(featurizer, "spec", None)
    if isinstance(spec, FeatureSpec):
        return list(spec.feature_names)
    from harness.featurization.columns import Columns

    if isinstance(featurizer, Columns):
        return list(featurizer.columns)
    return None
