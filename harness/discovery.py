"""Find suites: every ``parity_suites/test_*.py`` file that exports a ``SUITE`` (a `harness.suite.Suite`).

Used by the CLI (`parity run`, `parity baseline ...`); pytest finds the same files by itself.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from harness.errors import ParityInputError
from harness.suite import Suite

__all__ = ["default_suites_dir", "find_suites", "load_suite_file"]


def default_suites_dir() -> Path:
    """``PARITY_SUITES_DIR`` if set, else ``./parity_suites`` (the repo layout). Never the installed
    harness's own folder: running from elsewhere without --suites-dir is an error, not a silent
    switch to other suites."""
    env = os.environ.get("PARITY_SUITES_DIR")
    if env:
        return Path(env)
    return Path.cwd() / "parity_suites"


def load_suite_file(path: Path) -> Suite | None:
    """Import one suite file and return its ``SUITE`` (None when it defines none)."""
    path = Path(path).resolve()
    module_name = f"parity_suites_{path.stem}"
    if module_name in sys.modules:
        module = sys.modules[module_name]
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ParityInputError(f"cannot import suite file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    suite = getattr(module, "SUITE", None)
    if suite is not None and not isinstance(suite, Suite):
        raise ParityInputError(f"{path}: SUITE must be a harness.suite.Suite, got {type(suite).__name__}")
    return suite


def find_suites(names: list[str] | None = None, *, root: Path | None = None) -> list[Suite]:
    """All suites under ``root`` sorted by name, or the named ones (unknown names are an error)."""
    root = Path(root) if root is not None else default_suites_dir()
    if not root.is_dir():
        raise ParityInputError(f"suites directory {root} does not exist: pass --suites-dir DIR, set "
                               "PARITY_SUITES_DIR, or run from a folder that has ./parity_suites")
    suites = [s for p in sorted(root.glob("test_*.py")) if (s := load_suite_file(p)) is not None]
    by_name = {s.name: s for s in suites}
    if not names:
        return sorted(suites, key=lambda s: s.name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ParityInputError(f"unknown suite(s) {unknown} in {root}; available there: {sorted(by_name)} "
                               "(another folder: --suites-dir DIR or PARITY_SUITES_DIR)")
    return [by_name[n] for n in names]
