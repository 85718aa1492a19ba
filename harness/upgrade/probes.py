"""Behaviour probes: small functions whose outputs the upgrade gate records and compares.

A suite declares its probes with a `ProbeSet` and exports it as ``Suite(probes=...)``::

    from harness.upgrade import ProbeSet, sklearn_config

    probes = ProbeSet("ctr_logreg")

    @probes.configuration("logreg_defaults")
    def logreg_defaults():
        from sklearn.linear_model import LogisticRegression
        return {"params": sklearn_config(LogisticRegression())}

    @probes.learning("logreg_fit", seeds=(0, 1, 2),
                     inputs=lambda: {"X": X_train, "y": y_train, "X_eval": X_eval}, permute=("X", "y"))
    def logreg_fit(seed, X, y, X_eval):  # the inputs arrive as arguments: the noise floor (below) needs them
        model = LogisticRegression(random_state=seed).fit(X, y)
        return {"coef": model.coef_, "n_iter": model.n_iter_, "scores": model.predict_proba(X_eval)[:, 1]}

    @probes.inference("saved_model_scores", inputs=lambda: {"rows": golden_rows()})
    def saved_model_scores(rows):
        return {"scores": load_model().predict(rows)}

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

Inputs: ``inputs=`` (any category) is a mapping ``{argument_name: value}``, or a function returning one
(called at every run, so nothing is loaded when the suite is collected); the probe function takes
those names as keyword arguments after the seed. ``permute=`` names the inputs whose rows carry no
meaning in their order (a training set for a full-batch fit; not eval rows, whose order is the order
of the outputs, nor data an early-stopping split or an SGD epoch reads by position). ``jitter=``
(default True: every float input) narrows the last-bit jitter to some inputs or DataFrame columns
(``jitter=("rows.hist_ctr",)``), or turns it off (False): needed where a float is compared with edges
taken from the data itself (quantile buckets of a rounded price: one ULP moves a row at an edge into
another bucket, which changes what is computed, not its last bits, and would widen the band).

Numerical noise floor (learning and inference probes). Seeds measure run-to-run noise only where a
seed moves something; a deterministic fit (lbfgs LogisticRegression) gives every seed the same bits,
so its seed spread is 0, yet a numerics-only upgrade (scipy 1.15's L-BFGS-B rewrite) still moves it by
tens to hundreds of ULPs, because the order of its floating-point sums changed. So the baseline also
re-runs each learning and inference probe's first seed under perturbations of the same kind that
such an upgrade causes (`harness.upgrade.perturb`), and the harness applies them itself:

* a thread-count change (threadpoolctl limit 1 against the default, whenever a pool runs more than
  one thread): needs nothing from the probe, but on small problems and few cores it often moves
  nothing (it moved nothing on the 2-core machine these defaults were measured on);
* two seeded input perturbations of the **declared inputs**: every float element of every array,
  Series and DataFrame float column moved by -1, 0 or +1 ULP, and the rows of the ``permute=``
  inputs reordered by one shared permutation. One ULP in the inputs is what a reordered reduction
  does to the intermediate values of a fit, so the fit moves by what its conditioning makes of
  last-bit noise: exactly the scale a numerics-only upgrade moves it by. The harness does it because a
  floor that depends on each probe remembering to call a helper is a false-alarm trap (a real
  TF 2.20 -> 2.21 run reported last-bit score changes as CHANGED that way).

Why declared inputs and not something more automatic: the harness cannot tell a probe's training data
from its constants by looking at the function; a probe that names its inputs says exactly what may be
perturbed, and its function stays an ordinary function of them. Probes that build their data inside
can still call ``perturb.current().jitter(X)`` / ``perturb.current().permute(X, y)`` on it; both return
their arguments unchanged in every run that is not a baseline's noise run.

Per output the baseline stores the band: per element, max |perturbed - recorded|. A later difference
is WITHIN_NOISE when every element is inside the tolerance above, or inside the larger of the seed
spread and ``NOISE_FACTOR`` (8) times the larger of the element's band and the output's relative band
(its largest band over its largest magnitude) times the element's magnitude; integer outputs get their
band with no factor. Why a factor: the perturbed re-runs sample two or three reorderings, an upgrade is
one more, of the same order but not bounded by them (measured: scipy 1.13.1 -> 1.15.3 moved an lbfgs
intercept by 86 ULP, 9.3e-18, against a band of 2.8e-17). Why that does not hide real changes: a
changed default or algorithm moves a fit by orders of magnitude more than its last bits (scikit-learn
1.3 -> 1.4 moved the same lbfgs fit by 1.6e-5, 10^12 ULP). The floor is therefore: the ``ulps``
tolerance (default 4) for every probe, plus 8x the measured band for learning and inference probes.
A probe that declares no inputs and calls no helper has only the thread-count run to measure a band
with; a finding on it says so ("the baseline perturbed none of its inputs: its floor is only ...") and says how to get a
real one (declare ``inputs=``, re-record the baseline). A band of 0 (nothing moved under any
perturbation) likewise leaves only the ULP floor. An output whose shape or type changes under a
perturbation gets no band (the perturbation changed what it computes). Baselines recorded before
bands existed compare as before.
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
    # ``inputs=``: a mapping {name: array | Series | DataFrame | other}, or a function returning one,
    # handed to the probe as keyword arguments (perturbed in a baseline's noise runs); None: none declared.
    inputs: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None
    permute: tuple[str, ...] = ()  # inputs whose rows are exchangeable: permuted together in noise runs
    jitter: bool | tuple[str, ...] = True  # which float inputs (or "input.column") noise runs move by 1 ULP

    @property
    def seeded(self) -> bool:
        return self.seeds != (None,)

    @property
    def declares_inputs(self) -> bool:
        return self.inputs is not None

    def resolve_inputs(self) -> dict[str, Any]:
        """The declared inputs (``inputs()`` called when it is a function), checked: a mapping of names
        the probe function accepts, ``permute`` among them."""
        if self.inputs is None:
            return {}
        got = self.inputs() if callable(self.inputs) else self.inputs
        if not isinstance(got, Mapping) or not got or any(not isinstance(k, str) or not k.isidentifier() for k in got):
            raise ParityInputError(f"probe {self.name!r}: inputs must be (or return) a non-empty mapping "
                                   f"{{argument_name: value}} with identifier names, got {_brief(got)}")
        unknown = [n for n in self.permute if n not in got]
        if unknown:
            raise ParityInputError(f"probe {self.name!r}: permute names {unknown}, which are not among its inputs "
                                   f"{sorted(got)}")
        return dict(got)

    def run(self, seed: Any = None) -> Mapping[str, Any]:
        """Call the probe (with ``seed`` when it is seeded, and its declared inputs, perturbed when a
        baseline's noise run is in progress) and validate the shape of what it returns."""
        kwargs: dict[str, Any] = {}
        if self.inputs is not None:
            from harness.upgrade.perturb import current

            kwargs = current().perturb_inputs(self.resolve_inputs(), permute=self.permute, jitter=self.jitter,
                                              where=f"probe {self.name!r}")
            _check_signature(self, kwargs)
        out = self.func(seed, **kwargs) if self.seeded else self.func(**kwargs)
        if not isinstance(out, Mapping) or not out:
            raise ParityInputError(
                f"probe {self.name!r} must return a non-empty mapping {{output_name: value}}, got {type(out).__name__}"
            )
        bad = [k for k in out if not isinstance(k, str) or not k]
        if bad:
            raise ParityInputError(f"probe {self.name!r}: output names must be non-empty strings, got {bad!r}")
        return out


def _brief(value: Any) -> str:
    text = repr(value) if not isinstance(value, Mapping) else f"a mapping with keys {list(value)!r}"
    return text if len(text) <= 120 else text[:117] + "..."


def _check_signature(probe: Probe, kwargs: Mapping[str, Any]) -> None:
    """A probe whose function cannot take its declared inputs is the suite's bug: say which names."""
    import inspect

    try:
        sig = inspect.signature(probe.func)
    except (TypeError, ValueError):  # a builtin or C callable: let the call itself decide
        return
    try:
        sig.bind(*(("seed",) if probe.seeded else ()), **kwargs)
    except TypeError as exc:
        raise ParityInputError(f"probe {probe.name!r}: its function {tuple(sig.parameters)} cannot take its declared "
                               f"inputs {sorted(kwargs)}{' after the seed' if probe.seeded else ''} ({exc})") from None


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
                   description: str = "", inputs: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
                   permute: Sequence[str] = (), jitter: bool | Sequence[str] = True
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if seeds is not None:
            seeds = tuple(seeds)
            if not seeds or any(s is None for s in seeds) or len(set(seeds)) != len(seeds):
                raise ParityInputError(f"probe {name!r}: seeds must be distinct non-None values, got {seeds!r}")
        tolerance = Tolerance(ulps=ulps, rtol=rtol, atol=atol)
        if inputs is not None and not (callable(inputs) or isinstance(inputs, Mapping)):
            raise ParityInputError(f"probe {name!r}: inputs must be a mapping {{argument_name: value}} or a function "
                                   f"returning one, got {type(inputs).__name__}")
        if isinstance(permute, str) or not all(isinstance(n, str) for n in permute):
            raise ParityInputError(f"probe {name!r}: permute must be a list of input names, got {permute!r}")
        if not isinstance(jitter, bool) and (isinstance(jitter, str) or not all(isinstance(n, str) for n in jitter)):
            raise ParityInputError(f"probe {name!r}: jitter must be True, False or a list of input names "
                                   f"('X', 'rows.price'), got {jitter!r}")
        if permute and inputs is None:
            raise ParityInputError(f"probe {name!r}: permute={list(permute)} needs inputs= (the inputs to permute)")
        if isinstance(inputs, Mapping) and any(n not in inputs for n in permute):
            raise ParityInputError(f"probe {name!r}: permute names {[n for n in permute if n not in inputs]}, which "
                                   f"are not among its inputs {sorted(inputs)}")
        plausible = tuple(packages) if packages is not None else DEFAULT_PACKAGES[category]

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add(Probe(name=name, category=category, func=func, seeds=seeds or (None,), packages=plausible,
                           tolerance=tolerance, description=description or (func.__doc__ or "").strip(),
                           declared_packages=packages is not None, inputs=inputs, permute=tuple(permute),
                           jitter=jitter if isinstance(jitter, bool) else tuple(jitter)))
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
