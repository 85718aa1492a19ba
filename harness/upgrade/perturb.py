"""Numerics-only perturbations: what a baseline re-runs a probe under to measure its numerical noise.

A numerics-only upgrade (a new BLAS, a rewritten optimizer, a reordered reduction) moves a
deterministic fit by changing the order in which floating-point sums are taken, or by one rounding
here and there. The same kind of change can be provoked on purpose, without any upgrade:

* **thread count** — ``threadpoolctl.threadpool_limits(1)`` against the default: BLAS and OpenMP split
  their reductions differently. Always applied; needs no help from the probe (but on small problems
  and few cores it often moves nothing).
* **declared inputs** — a probe that declares its inputs (``inputs=``, see `harness.upgrade.probes`)
  receives them through the harness, which in a perturbed run hands it copies with every float element
  moved by at most one unit in the last place (seeded, `Perturbation.perturb_inputs`) and, for the
  inputs named in ``permute=``, their rows reordered by one shared seeded permutation. Nothing to call.
* **helpers** (advanced probes that build their data inside): ``current().jitter(X)`` and
  ``current().permute(X, y)`` do the same to what they are given. Outside a perturbed run both return
  their arguments unchanged, so a probe that calls them gives its ordinary result in a check. Permute
  only where row order carries no meaning for the model (not for early-stopping splits by position,
  SGD epochs, ``validation_fraction``): a reorder there changes what is learned, not just its numerics.
"""
from __future__ import annotations

import contextlib
import contextvars
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["IDENTITY", "Perturbation", "current", "perturbations", "perturbed"]

INPUT_RUNS = 2  # seeded input perturbations per probe (only when it declares inputs or uses the helpers)


@dataclass(frozen=True)
class Perturbation:
    """One perturbed re-run: ``threads`` (a threadpool limit, None: the default) and ``seed`` (None:
    inputs left alone). ``used`` records whether the probe asked for its inputs to be perturbed."""

    name: str = "none"
    threads: int | None = None
    seed: int | None = None
    used: list[str] = field(default_factory=list, compare=False, repr=False)

    def _rng(self, what: str) -> np.random.Generator:
        self.used.append(what)
        # One stream per call, so jitter and permute draws do not depend on which the probe calls first.
        return np.random.default_rng([int(self.seed), len(self.used)])

    def jitter(self, x: Any) -> Any:
        """``x`` with each float element moved by -1, 0 or +1 ULP (seeded); non-float data unchanged."""
        if self.seed is None:
            return x
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            self.used.append("jitter (non-float, unchanged)")
            return x
        return _jitter_array(arr, self._rng("jitter"))

    def _input_rng(self, what: str) -> np.random.Generator:
        # Keyed by the input's name, not by call order: the same input gets the same draw however many
        # inputs a probe declares, and the helpers' streams (keyed by call count) stay separate.
        return np.random.default_rng([int(self.seed), 1 + zlib.crc32(what.encode())])

    def perturb_inputs(self, inputs: Mapping[str, Any], *, permute: Sequence[str] = (),
                       jitter: bool | Sequence[str] = True, where: str = "probe") -> dict[str, Any]:
        """A probe's declared inputs as this run hands them over: unchanged outside a perturbed run;
        inside one, float arrays, float Series and the float columns of DataFrames moved by -1, 0 or
        +1 ULP each, and the rows of the ``permute`` inputs reordered by one permutation. Other values
        (integers, strings, objects) are passed as they are. ``jitter``: True (every float input),
        False (none), or the names to jitter: an input (``"X"``) or one column of a DataFrame input
        (``"rows.hist_ctr"``). What was perturbed goes to ``used``."""
        out = dict(inputs)
        if self.seed is None:
            return out
        chosen = _jitter_targets(out, jitter, where=where)
        for name in sorted(chosen):
            moved = _jitter_value(out[name], self._input_rng(f"jitter:{name}"), columns=chosen[name])
            if moved is not None:
                out[name] = moved
                self.used.append(f"jitter({name})" if chosen[name] is None else
                                 f"jitter({', '.join(f'{name}.{c}' for c in chosen[name])})")
        if permute:
            lengths = {name: _n_rows(out[name], where=f"{where}: permute input {name!r}") for name in permute}
            if len(set(lengths.values())) != 1:
                from harness.errors import ParityInputError

                raise ParityInputError(f"{where}: permute={list(permute)} must name inputs with one number of rows, "
                                       f"got {lengths}")
            order = self._input_rng("permute").permutation(next(iter(lengths.values())))
            for name in permute:
                value = out[name]
                out[name] = value.iloc[order] if hasattr(value, "iloc") else np.asarray(value)[order]
            self.used.append(f"permute({', '.join(permute)})")
        return out

    def permute(self, *arrays: Any) -> Any:
        """The arrays with their rows (axis 0) reordered by one seeded permutation; one array in, one out."""
        if self.seed is None:
            return arrays[0] if len(arrays) == 1 else arrays
        n = {len(a) for a in arrays}
        if len(n) != 1:
            from harness.errors import ParityInputError

            raise ParityInputError(f"perturb.current().permute: arrays need one length, got lengths {sorted(n)}")
        order = self._rng("permute").permutation(n.pop())
        out = tuple(a.iloc[order] if hasattr(a, "iloc") else np.asarray(a)[order] for a in arrays)
        return out[0] if len(out) == 1 else out


def _jitter_array(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    step = rng.integers(-1, 2, size=arr.shape)
    up, down = np.nextafter(arr, np.inf), np.nextafter(arr, -np.inf)
    # Infinities stay put: one step down from inf is the largest finite float, not a last-bit change.
    step = np.where(np.isfinite(arr), step, 0)
    return np.where(step > 0, up, np.where(step < 0, down, arr)).astype(arr.dtype, copy=False)


def _is_float(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "f"


def _jitter_targets(inputs: Mapping[str, Any], jitter: bool | Sequence[str], *, where: str
                    ) -> dict[str, list[str] | None]:
    """``{input: None (all its floats) | [columns]}`` for a ``jitter=`` declaration, checked against the inputs."""
    if jitter is True:
        return {name: None for name in inputs}
    if jitter is False:
        return {}
    from harness.errors import ParityInputError

    chosen: dict[str, list[str] | None] = {}
    for item in jitter:
        name, dot, column = item.partition(".")
        if name not in inputs:
            raise ParityInputError(f"{where}: jitter names {item!r}, but its inputs are {sorted(inputs)}")
        if not dot:
            chosen[name] = None
            continue
        value = inputs[name]
        if not hasattr(value, "columns"):
            raise ParityInputError(f"{where}: jitter names column {item!r}, but input {name!r} is not a DataFrame "
                                   f"({type(value).__name__})")
        if column not in value.columns:
            raise ParityInputError(f"{where}: jitter names column {item!r}, not among {name!r}'s columns "
                                   f"{list(value.columns)}")
        if not _is_float(value[column].dtype):
            raise ParityInputError(f"{where}: jitter names column {item!r} of dtype {value[column].dtype}; only "
                                   "float columns can move by one ULP")
        if chosen.get(name, []) is not None:
            chosen.setdefault(name, []).append(column)
    return chosen


def _jitter_value(value: Any, rng: np.random.Generator, columns: Sequence[str] | None = None) -> Any:
    """``value`` with its float elements (of a DataFrame: of ``columns``, default every float column)
    moved by at most 1 ULP, or None when it holds no floats."""
    if hasattr(value, "columns") and hasattr(value, "iloc"):  # a DataFrame: its float columns, in order
        floats = [c for c in value.columns if _is_float(value[c].dtype) and (columns is None or c in columns)]
        if not floats:
            return None
        out = value.copy()
        for c in floats:
            out[c] = _jitter_array(value[c].to_numpy(), rng)
        return out
    if hasattr(value, "iloc") and hasattr(value, "dtype"):  # a Series
        if not _is_float(value.dtype):
            return None
        return value.__class__(_jitter_array(value.to_numpy(), rng), index=value.index, name=value.name)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return _jitter_array(value, rng)
    return None


def _n_rows(value: Any, *, where: str) -> int:
    try:
        return len(value)
    except TypeError:
        from harness.errors import ParityInputError

        raise ParityInputError(f"{where}: has no rows to permute ({type(value).__name__})") from None


IDENTITY = Perturbation()
_CURRENT: contextvars.ContextVar[Perturbation] = contextvars.ContextVar("parity_perturbation", default=IDENTITY)


def current() -> Perturbation:
    """The perturbation of the run in progress (`IDENTITY`, which changes nothing, outside one)."""
    return _CURRENT.get()


def _default_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [int(p.get("num_threads") or 1) for p in threadpool_info()]
    return max(counts, default=1)


def perturbations() -> list[Perturbation]:
    """The perturbed re-runs a baseline makes, in order: one thread-count change (when any thread pool
    runs more than one thread: a limit to 1), then `INPUT_RUNS` seeded input perturbations. A limit
    above the default is never used: oversubscribed pools are a state no upgrade causes (and one in
    which scipy 1.15.3's L-BFGS-B was seen to crash)."""
    runs = []
    if _default_threads() > 1:
        runs.append(Perturbation(name="threads=1", threads=1))
    runs += [Perturbation(name=f"inputs(seed={i})", seed=i) for i in range(1, INPUT_RUNS + 1)]
    return runs


@contextlib.contextmanager
def perturbed(p: Perturbation) -> Iterator[Perturbation]:
    """Run the block under ``p``: its thread limit, and `current()` returning it."""
    token = _CURRENT.set(p)
    try:
        if p.threads is not None:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=p.threads):
                yield p
        else:
            yield p
    finally:
        _CURRENT.reset(token)
