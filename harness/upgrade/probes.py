"""Behaviour probes: small functions whose outputs the upgrade gate records and compares.

A suite declares its probes with a `ProbeSet` and exports it as ``Suite(probes=...)``::

    from harness.upgrade import ProbeSet, sklearn_config

    probes = ProbeSet("ctr_logreg")

    @probes.configuration("logreg_defaults")
    def logreg_defaults():
        from sklearn.linear_model import LogisticRegression
        return {"params": sklearn_config(LogisticRegression())}

    @probes.learning("logreg_fit", seeds=(0, 1, 2))
    def logreg_fit(seed):
        from harness.upgrade.perturb import current  # the noise floor's input perturbation (below)

        model = LogisticRegression(random_state=seed).fit(current().jitter(X_train), y_train)
        return {"coef": model.coef_, "n_iter": model.n_iter_, "scores": model.predict_proba(X_eval)[:, 1]}

    @probes.inference("saved_model_scores", ulps=8)
    def saved_model_scores():
        return {"scores": load_model().predict(X_eval)}

Categories and what they are for:

* ``featurization`` — golden raw rows through the featurizers -> per-feature values.
* ``inference`` — fixed saved models on golden rows -> predictions.
* ``learning`` — retrain from fixed seeds -> parameters, losses per epoch, iteration counts, metrics.
  The function receives the seed. **The baseline runs every seed** (to measure run-to-run noise: the
  spread between seeds); **the check runs the first seed only** and compares it with the baseline's
  first seed, calling a difference WITHIN_NOISE when it is no larger than the seed-to-seed spread.
  (``check(..., all_seeds=True)`` runs every seed and compares seed means instead.)
* ``evaluation`` — fixed (labels, scores, weights) through every metric implementation
  (see `evaluation_cases` and the ``*_metric_outputs`` helpers).
* ``configuration`` — resolved defaults (`sklearn_config`, `keras_config`): a nested JSON-able dict,
  diffed with DeepDiff so a changed default is named by its path (``root['params']['C']``).

A probe returns a mapping ``{output_name: value}``; a value is a numpy array, a number, a string, or
(any category, typically configuration) a nested dict/list of JSON values. Each probe names the
packages that can plausibly explain a change in it and may state a floating-point tolerance. Which
upgraded package a change is attributed to comes from evidence: every run records the distributions
whose code it executed (`harness.upgrade.evidence`), and a change is attributed to the upgraded ones
among those (plus any named with ``packages=``); the per-category defaults in `DEFAULT_PACKAGES` are the
fallback when a run has no such record (an older baseline, another profiler active). Tolerance: ``ulps`` (default 4: a different reduction order or SIMD path
moves the last bits, and a gate that cries wolf on that gets switched off), ``rtol``, ``atol``.

Numerical noise floor (learning and inference probes). Seeds measure run-to-run noise only where a
seed moves something; a deterministic fit (lbfgs LogisticRegression) gives every seed the same bits,
so its seed spread is 0, yet a numerics-only upgrade (scipy 1.15's L-BFGS-B rewrite) still moves it by
tens to hundreds of ULPs, because the order of its floating-point sums changed. So the baseline also
re-runs each learning and inference probe's first seed under perturbations of the same kind that
such an upgrade causes (`harness.upgrade.perturb`): a thread-count change (threadpoolctl limit 1
against the default, always) and two seeded input perturbations that reach the probe's data only
through it: pass float training inputs through ``perturb.current().jitter(X)`` (each element moved
by at most 1 ULP) and, where row order means nothing to the model, rows through
``perturb.current().permute(X, y)``. Both return their arguments unchanged in every other run. Per
output it stores the band: per element, max |perturbed - recorded|. A later difference is
WITHIN_NOISE when every element is inside the tolerance above, or inside the larger of the seed
spread and ``NOISE_FACTOR`` (8) times the larger of the element's band and the output's relative band
(its largest band over its largest magnitude) times the element's magnitude; integer outputs get
their band with no factor. Why a factor: the perturbed re-runs sample two or three reorderings, an
upgrade is one more, of the same order but not bounded by them (measured: scipy 1.13.1 -> 1.15.3
moved an lbfgs intercept by 86 ULP, 9.3e-18, against a band of 2.8e-17). Why that does not hide real
changes: a changed default or algorithm moves a fit by orders of magnitude more than its last bits.
A band of 0 (nothing moved under any perturbation, e.g. a probe that does not use the helpers on a
small problem) leaves only the ULP floor. An output whose shape or type changes under a perturbation
gets no band (the perturbation changed what it computes). Baselines recorded before bands existed
compare as before.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError

__all__ = ["CATEGORIES", "DEFAULT_PACKAGES", "Probe", "ProbeSet", "Tolerance"]

CATEGORIES = ("featurization", "inference", "learning", "evaluation", "configuration")

DEFAULT_PACKAGES: dict[str, tuple[str, ...]] = {
    "featurization": ("numpy", "pandas", "pyarrow", "tensorflow"),
    "inference": ("tensorflow", "keras", "numpy", "scikit-learn"),
    "learning": ("scikit-learn", "tensorflow", "keras", "numpy", "scipy"),
    "evaluation": ("scikit-learn", "keras", "tensorflow", "numpy", "scipy"),
    "configuration": ("scikit-learn", "keras", "tensorflow"),
}


@dataclass(frozen=True)
class Tolerance:
    """Floating-point tolerance: an element passes if within ``ulps`` units in the last place OR
    ``|new - old| <= atol + rtol * |old|``. Exact (all zero) for integers, strings and configuration."""

    ulps: int = 4
    rtol: float = 0.0
    atol: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ulps", "rtol", "atol"):
            value = getattr(self, name)
            if not (value >= 0):
                raise ParityInputError(f"Tolerance: {name} must be >= 0, got {value!r}")
        if int(self.ulps) != self.ulps:
            raise ParityInputError(f"Tolerance: ulps must be an integer, got {self.ulps!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"ulps": int(self.ulps), "rtol": float(self.rtol), "atol": float(self.atol)}


@dataclass(frozen=True)
class Probe:
    """One behaviour probe. ``seeds`` is ``(None,)`` for probes that take no seed."""

    name: str
    category: str
    func: Callable[..., Mapping[str, Any]]
    seeds: tuple[Any, ...] = (None,)
    packages: tuple[str, ...] = ()
    tolerance: Tolerance = field(default_factory=Tolerance)
    description: str = ""
    declared_packages: bool = False  # ``packages=`` was given (else the category's defaults)

    @property
    def seeded(self) -> bool:
        return self.seeds != (None,)

    def run(self, seed: Any = None) -> Mapping[str, Any]:
        """Call the probe (with ``seed`` when it is seeded) and validate the shape of what it returns."""
        out = self.func(seed) if self.seeded else self.func()
        if not isinstance(out, Mapping) or not out:
            raise ParityInputError(
                f"probe {self.name!r} must return a non-empty mapping {{output_name: value}}, got {type(out).__name__}"
            )
        bad = [k for k in out if not isinstance(k, str) or not k]
        if bad:
            raise ParityInputError(f"probe {self.name!r}: output names must be non-empty strings, got {bad!r}")
        return out


def _declaring_file() -> Path | None:
    """The file of the first caller outside this module: where ``ProbeSet(...)`` was written."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    name = frame.f_globals.get("__file__") if frame is not None else None
    return Path(name).resolve() if name else None


class ProbeSet:
    """The probes of one suite, declared with one decorator per category (see the module docstring).

    ``source_file``: the file that declared it (normally the suite file; None in an interactive
    session), where the baselines go by default (``baselines/`` next to it) when no shell says."""

    def __init__(self, suite: str, *, source_file: str | Path | None = None) -> None:
        if not isinstance(suite, str) or not suite:
            raise ParityInputError(f"ProbeSet(suite): expected a non-empty suite name, got {suite!r}")
        self.suite = suite
        self.source_file = Path(source_file).resolve() if source_file is not None else _declaring_file()
        self._probes: dict[str, Probe] = {}

    # -- declaration -------------------------------------------------------------------------------
    def add(self, probe: Probe) -> Probe:
        if probe.category not in CATEGORIES:
            raise ParityInputError(f"probe {probe.name!r}: category must be one of {CATEGORIES}, got {probe.category!r}")
        if not isinstance(probe.name, str) or not probe.name or "/" in probe.name:
            raise ParityInputError(f"probe name must be a non-empty string without '/', got {probe.name!r}")
        if probe.name in self._probes:
            raise ParityInputError(f"ProbeSet {self.suite!r}: probe {probe.name!r} is declared twice")
        self._probes[probe.name] = probe
        return probe

    def _decorator(self, category: str, name: str, *, seeds: Sequence[Any] | None = None,
                   packages: Sequence[str] | None = None, ulps: int = 4, rtol: float = 0.0, atol: float = 0.0,
                   description: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if seeds is not None:
            seeds = tuple(seeds)
            if not seeds or any(s is None for s in seeds) or len(set(seeds)) != len(seeds):
                raise ParityInputError(f"probe {name!r}: seeds must be distinct non-None values, got {seeds!r}")
        tolerance = Tolerance(ulps=ulps, rtol=rtol, atol=atol)
        plausible = tuple(packages) if packages is not None else DEFAULT_PACKAGES[category]

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(Probe(name=name, category=category, func=func, seeds=seeds or (None,), packages=plausible,
                           tolerance=tolerance, description=description or (func.__doc__ or "").strip(),
                           declared_packages=packages is not None))
            return func

        return register

    def featurization(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("featurization", name, **options)

    def inference(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("inference", name, **options)

    def learning(self, name: str, *, seeds: Sequence[Any] = (0, 1, 2), **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("learning", name, seeds=seeds, **options)

    def evaluation(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("evaluation", name, **options)

    def configuration(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._decorator("configuration", name, **options)

    # -- access ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Probe]:
        return iter(self._probes.values())

    def __len__(self) -> int:
        return len(self._probes)

    def __contains__(self, name: object) -> bool:
        return name in self._probes

    def __getitem__(self, name: str) -> Probe:
        try:
            return self._probes[name]
        except KeyError:
            raise ParityInputError(f"ProbeSet {self.suite!r} has no probe {name!r}; it has {sorted(self._probes)}") from None

    @property
    def names(self) -> list[str]:
        return list(self._probes)

    def __repr__(self) -> str:
        return f"ProbeSet({self.suite!r}, probes={self.names})"
