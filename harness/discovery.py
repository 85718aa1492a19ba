"""Find suites: every ``test_*.py`` file in a folder or its subfolders that exports a ``SUITE`` (a
`harness.suite.Suite`).

The folder is searched as pytest searches it by default, so that both shells find the same suites:
subfolders too, except those pytest's default ``norecursedirs`` skips (``.*``, ``*.egg``, ``_darcs``,
``build``, ``CVS``, ``dist``, ``node_modules``, ``venv``, ``{arch}``) and virtual environments (a folder
with ``pyvenv.cfg`` or ``conda-meta/history``).

Used by the CLI (`parity run`, `parity baseline ...`); pytest finds the same files by itself, and this
module imports them the way pytest's default ("prepend") import mode does: the suite file's folder goes
first on ``sys.path``, so a suite can import a helper module that sits next to it.

A module is keyed by its resolved path, so two folders may both hold a ``test_ctr.py``. A file that fails
to import (a syntax error, an ImportError) is a `ParityInputError` naming the file (and line), and is
not remembered: the next call imports it again. Two files that define one suite name are an error, as
they are under pytest.
"""
from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError
from harness.suite import Suite

__all__ = ["declaration_error_text", "declared_field_text", "default_suites_dir", "find_suite_files", "find_suites", "load_suite_file", "misnamed_suite_error",
           "suite_file_candidates"]


def default_suites_dir() -> Path:
    """``PARITY_SUITES_DIR`` if set, else ``./parity_suites`` (the repo layout). Never the installed
    harness's own folder: running from elsewhere without --suites-dir is an error, not a silent
    switch to other suites."""
    env = os.environ.get("PARITY_SUITES_DIR")
    if env:
        return Path(env)
    return Path.cwd() / "parity_suites"


# pytest's default ``norecursedirs`` (pytest 8 and 9).
_SKIPPED_DIRS = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")


def _skipped(folder: Path) -> bool:
    return (any(fnmatch.fnmatch(folder.name, pattern) for pattern in _SKIPPED_DIRS)
            or (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta" / "history").is_file())


def suite_file_candidates(root: Path) -> list[Path]:
    """Every ``test_*.py`` under ``root``, subfolders included (pytest's default pruning), in path order."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(folder) / d))
        found += [Path(folder) / f for f in sorted(files) if f.startswith("test_") and f.endswith(".py")]
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _module_name(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:12]
    return f"parity_suites_{path.stem}_{digest}"


def load_suite_file(path: Path) -> Suite | None:
    """Import one suite file and return its ``SUITE`` (None when it defines none)."""
    path = Path(path).resolve()
    module_name = _module_name(path)
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ParityInputError(f"cannot import suite file {path}", file=str(path))
        module = importlib.util.module_from_spec(spec)
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # helpers next to the suite import as under pytest
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            sys.modules.pop(module_name, None)
            raise ParityInputError(f"suite file {path}: syntax error at line {exc.lineno}: {exc.msg}",
                                   file=str(path)) from None
        except ParityInputError as exc:  # a bad declaration (e.g. an unknown metric): the suite's own words
            sys.modules.pop(module_name, None)
            raise exc.with_fields(declaration_error_text(path, exc), file=str(path)) from None
        except Exception as exc:
            sys.modules.pop(module_name, None)
            lineno, _ = _position_in(path, exc)
            line = f" (line {lineno})" if lineno else ""
            raise ParityInputError(f"suite file {path} could not be imported{line}: {type(exc).__name__}: {exc}",
                                   file=str(path)) from None
    suite = getattr(module, "SUITE", None)
    misnamed = misnamed_suite_error(vars(module), path)
    if misnamed is not None:
        raise misnamed
    if suite is not None and not isinstance(suite, Suite):
        raise not_a_suite_error(path, suite)
    return suite


def not_a_suite_error(path: str | Path, found: object) -> ParityInputError:
    """Both shells' words for a suite file whose ``SUITE`` is not a `Suite`."""
    return ParityInputError(f"suite file {path}: SUITE must be a harness.suite.Suite (SUITE = Suite(...)), got "
                            f"{type(found).__name__}", file=str(path), argument="SUITE")


def duplicate_suite_error(name: str, first: str | Path, second: str | Path) -> ParityInputError:
    """Both shells' words for two suite files that define one suite name (``first``: the one found first)."""
    return ParityInputError(f"two suite files define a suite named {name!r}: {first} and {second}; each suite "
                            "needs its own name (Suite(name=...)), which names its checks and report entries",
                            file=str(second), argument="name", value=name)


def _position_in(path: Path, exc: BaseException) -> tuple[int | None, int | None]:
    """(line, column) of the last point in ``path`` that the traceback of ``exc`` passes through (the
    column is None where Python does not record it)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    if not frames:
        return None, None
    return frames[-1].lineno, getattr(frames[-1], "colno", None)


def _suite_call(path: Path) -> ast.Call | None:
    """The file's one ``SUITE = Suite(...)`` call, from its syntax tree; None where there is not exactly one."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    calls = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
             and any(isinstance(t, ast.Name) and t.id == "SUITE" for t in node.targets)
             and (getattr(node.value.func, "id", None) or getattr(node.value.func, "attr", None)) == "Suite"]
    return calls[0] if len(calls) == 1 else None


def declared_field_text(path: Path, exc: ParityInputError) -> str:
    """How both shells say that a suite's declaration does not fit its data (`harness.suite.check_declaration`,
    run when the suite is collected): the suite file, the line of the field at fault (``exc.argument``)
    in its ``SUITE = Suite(...)`` call where the file has one, and the error's own words."""
    path = Path(path)
    call = _suite_call(path) if path.is_file() else None
    keyword = next((k for k in (call.keywords if call is not None else []) if k.arg and k.arg == exc.argument), None)
    line = f" (line {keyword.value.lineno}), field {keyword.arg}" if keyword is not None else ""
    return f"suite file {path}{line}: {exc}"


def _declaration_site(path: Path, line: int | None, col: int | None) -> str:
    """"suite 'NAME', field FIELD" for the ``SUITE = Suite(...)`` call of a suite file whose argument
    holds the failing point (read from the file's syntax tree: a declaration error is raised while the
    call's arguments are built, before the suite exists to say its own name); "" where the file has no
    such call with a literal name, and no field where the point lies outside its arguments (a gate
    built earlier in the file) or cannot be placed in one of them."""
    call = _suite_call(path)
    if call is None:
        return ""
    keywords = [k for k in call.keywords if k.arg]
    name = next((k.value.value for k in keywords if k.arg == "name" and isinstance(k.value, ast.Constant)
                 and isinstance(k.value.value, str)), None)
    if name is None:
        return ""

    def holds(node: ast.expr) -> bool:
        end_line, end_col = node.end_lineno or node.lineno, node.end_col_offset
        if col is None or not node.lineno <= line <= end_line:  # type: ignore[operator]
            return False
        return ((line, col) >= (node.lineno, node.col_offset)
                and (end_col is None or (line, col) < (end_line, end_col)))

    fields = []
    if line is not None:
        fields = [k.arg for k in keywords if holds(k.value)]
        if col is None:  # the line alone: a field only where one argument that calls anything spans it
            fields = [k.arg for k in keywords if k.value.lineno <= line <= (k.value.end_lineno or k.value.lineno)
                      and any(isinstance(n, ast.Call) for n in ast.walk(k.value))]
    return f"suite {name!r}" + (f", field {fields[0]}" if len(fields) == 1 else "")


def declaration_error_text(path: Path, exc: BaseException) -> str:
    """How both shells say that importing suite file ``path`` raised a harness error ``exc`` (a
    `Suite(...)` or gate declared wrong): the file, the line, the suite and the field where the file
    says them, and the error's own words."""
    path = Path(path)
    line, col = _position_in(path, exc)
    site = _declaration_site(path, line, col)
    if site and str(exc).lower().startswith(site.split(",")[0].lower()):  # Suite(...) itself said it
        site = ""
    where = f"suite file {path}" + (f" (line {line})" if line else "") + (f", {site}" if site else "")
    return f"{where}: {exc}"


def misnamed_suite_error(namespace: Mapping[str, Any], where: Any) -> ParityInputError | None:
    """The error for a suite file that holds a `Suite` under another name and exports no ``SUITE``
    (``SUITES = Suite(...)``): neither shell would run it, so it is a collection error in both, not a
    file silently skipped. None when the file exports ``SUITE`` or holds no suite."""
    if "SUITE" in namespace:
        return None
    names = sorted(n for n, v in namespace.items() if isinstance(v, Suite))
    if not names:
        return None
    return ParityInputError(f"{where}: defines a harness.suite.Suite as {', '.join(names)} but exports no SUITE, "
                            f"so no shell would run it; a suite file's suite is the module variable SUITE "
                            f"(rename it, or add SUITE = {names[0]})", file=str(where))


def find_suite_files(names: list[str] | None = None, *, root: Path | None = None) -> list[tuple[Path, Suite]]:
    """``(file, suite)`` for every suite under ``root`` sorted by name, or for the named ones (an unknown
    name, or two files defining one name, is an error)."""
    root = Path(root) if root is not None else default_suites_dir()
    if not root.is_dir():
        raise ParityInputError(f"suites directory {root} does not exist: pass --suites-dir DIR, set "
                               "PARITY_SUITES_DIR, or run from a folder that has ./parity_suites")
    by_name: dict[str, tuple[Path, Suite]] = {}
    for p in suite_file_candidates(root):
        suite = load_suite_file(p)
        if suite is None:
            continue
        if suite.name in by_name:
            raise duplicate_suite_error(suite.name, by_name[suite.name][0].resolve(), p.resolve())
        by_name[suite.name] = (p, suite)
    if not names:
        return [by_name[n] for n in sorted(by_name)]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ParityInputError(f"unknown suite(s) {unknown} in {root}; available there: {sorted(by_name)} "
                               "(another folder: --suites-dir DIR or PARITY_SUITES_DIR)")
    return [by_name[n] for n in names]


def find_suites(names: list[str] | None = None, *, root: Path | None = None) -> list[Suite]:
    """The suites of `find_suite_files`, without their files."""
    return [suite for _, suite in find_suite_files(names, root=root)]
