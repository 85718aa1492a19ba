"""Which installed distributions' code a probe actually ran: the evidence a finding is attributed by.

A probe's category says which packages *could* move its numbers (`DEFAULT_PACKAGES`); what it ran says
which ones *did* take part. A featurization probe that calls scikit-learn's scaler ran scikit-learn's
code, so a scikit-learn upgrade can explain its change although the category list does not name it.

The run is watched with `cProfile` (C-implemented, so it costs a fraction of a Python-level
``sys.setprofile`` hook; ``sys.monitoring`` needs Python 3.12). The code objects that ran give source
files; `sys.modules` maps each file to its top-level import name, and
`importlib.metadata.packages_distributions` maps that to the distributions that install it. Compiled
code shows up through the Python code that calls it. When another profiler is already active (a
debugger, a profiling session), there is no evidence and findings fall back to the declared packages.
"""
from __future__ import annotations

import cProfile
import functools
import importlib.metadata
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from harness.upgrade.fingerprint import normalise_distribution

__all__ = ["Evidence", "distributions_of", "watch"]


class Evidence:
    """What one watched run executed: ``files`` (source files of the code that ran), None when the run
    could not be watched."""

    def __init__(self) -> None:
        self.files: set[str] | None = None

    def distributions(self) -> list[str] | None:
        return None if self.files is None else distributions_of(self.files)


@contextmanager
def watch() -> Iterator[Evidence]:
    """Record the source files of all Python code that runs in this thread inside the ``with``."""
    evidence = Evidence()
    if sys.getprofile() is not None:  # someone is profiling: taking the hook would silently end that
        yield evidence
        return
    profiler = cProfile.Profile()
    try:
        profiler.enable()
    except ValueError:  # another profiler holds the hook (Python 3.12+ refuses a second one)
        yield evidence
        return
    try:
        yield evidence
    finally:
        profiler.disable()
        evidence.files = {entry.code.co_filename for entry in profiler.getstats() if not isinstance(entry.code, str)}


@functools.lru_cache(maxsize=1)
def _import_names_to_distributions() -> dict[str, tuple[str, ...]]:
    return {name: tuple(sorted({normalise_distribution(d) for d in dists}))
            for name, dists in importlib.metadata.packages_distributions().items()}


def distributions_of(files: Iterable[str]) -> list[str]:
    """The distributions (normalised as in the fingerprint) whose modules are among ``files``."""
    by_file = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            by_file.setdefault(path, name.partition(".")[0])
    dists = _import_names_to_distributions()
    out: set[str] = set()
    for path in files:
        top = by_file.get(path)
        if top is not None:
            out.update(dists.get(top, ()))
    return sorted(out)
