"""Numerics-only perturbations: what a baseline re-runs a probe under to measure its numerical noise.

A numerics-only upgrade (a new BLAS, a rewritten optimizer, a reordered reduction) moves a
deterministic fit by changing the order in which floating-point sums are taken, or by one rounding
here and there. The same kind of change can be provoked on purpose, without any upgrade:

* **thread count** — ``threadpoolctl.threadpool_limits(1)`` against the default: BLAS and OpenMP split
  their reductions differently. Always applied; needs no help from the probe (but on small problems
  and few cores it often moves nothing).
* **inputs** — the probe opts in by passing its own data through `current()`:
  ``current().jitter(X)`` moves each float element by at most one unit in the last place (seeded),
  ``current().permute(X, y)`` reorders rows consistently (seeded). Outside a perturbed run both return
  their arguments unchanged, so a probe that calls them gives its ordinary result in a check. Permute
  only where row order carries no meaning for the model (not for early-stopping splits by position,
  SGD epochs, ``validation_fraction``): a reorder there changes what is learned, not just its numerics.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["IDENTITY", "Perturbation", "current", "perturbations", "perturbed"]

INPUT_RUNS = 2  # seeded input perturbations per probe (only when the probe uses the helpers)


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
        step = self._rng("jitter").integers(-1, 2, size=arr.shape)
        up, down = np.nextafter(arr, np.inf), np.nextafter(arr, -np.inf)
        return np.where(step > 0, up, np.where(step < 0, down, arr)).astype(arr.dtype, copy=False)

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
