"""Markers kept honest, and a dev loop that never pays for TensorFlow.

``-m "not slow and not tf and not browser"`` is the edit-test loop (README, "Developer loop"). Two
things make it fast and keep it so:

- A test module whose module-level ``pytestmark`` alone rules it out of the ``-m`` selection is not
  imported at all: those modules import TensorFlow at the top, and importing it only to deselect
  every test costs seconds per process (per xdist worker).
- TensorFlow appearing in ``sys.modules`` during an unmarked test's setup or call, or while a test
  module without a module-level ``tf`` mark is imported, is an error naming the test or module: a
  missing ``tf`` mark would otherwise drag TensorFlow into the dev loop unnoticed. The check is exact
  in the dev loop (nothing there may import TensorFlow); in a full run it sees the first importer only.
"""
from __future__ import annotations

import ast
import itertools
import re
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression  # what -m itself compiles; no public alias exists

_TF = "tensorflow"
# The characters pytest's -m scanner accepts in an identifier; and/or/not are its only keywords.
_IDENT = re.compile(r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+")
_KEYWORDS = {"and", "or", "not"}
_CALL = re.compile(r"(" + _IDENT.pattern + r")\s*\(")
_MAX_FREE_NAMES = 10  # 2**10 evaluations at most; a longer expression just collects as usual
_tf_before = pytest.StashKey[bool]()


def _module_marks(path: Path) -> frozenset[str] | None:
    """Names of the ``pytest.mark.X`` in a module-level ``pytestmark``, read without importing the file."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None  # let pytest's own import report the problem
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            for sub in ast.walk(node.value):
                if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
                        and sub.value.attr == "mark"):
                    names.add(sub.attr)
    return frozenset(names)


def _can_select(markexpr: str, marks: frozenset[str]) -> bool:
    """Whether ``-m markexpr`` selects some test that carries at least ``marks`` (any other marks free)."""
    if any(m.group(1) not in _KEYWORDS for m in _CALL.finditer(markexpr)):
        return True  # marker arguments (-m "name(key=value)") are not read from the source: collect as usual
    expr = Expression.compile(markexpr)
    free = sorted(set(_IDENT.findall(markexpr)) - _KEYWORDS - marks)
    if len(free) > _MAX_FREE_NAMES:
        return True
    for values in itertools.product((False, True), repeat=len(free)):
        present = marks | {name for name, on in zip(free, values) if on}
        if expr.evaluate(lambda name, **_: name in present):
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    markexpr = config.option.markexpr
    if not markexpr or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    marks = _module_marks(collection_path)
    if marks is None or _can_select(markexpr, marks):
        return None
    return True


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    before = _TF in sys.modules
    report = yield
    if (isinstance(collector, pytest.Module) and not before and _TF in sys.modules and report.passed
            and collector.get_closest_marker("tf") is None):
        report.outcome = "failed"
        report.longrepr = (f"{collector.nodeid} imports TensorFlow when it is collected but has no module-level "
                           "tf mark: add `pytestmark = pytest.mark.tf` (every test in it needs TensorFlow)")
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_tf_before] = _TF in sys.modules


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if (call.when in ("setup", "call") and report.passed and not item.stash.get(_tf_before, True)
            and _TF in sys.modules and item.get_closest_marker("tf") is None):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} imported TensorFlow ({call.when}) without the tf mark: add "
                           "@pytest.mark.tf (or a module-level pytestmark) so that the dev loop "
                           "(-m 'not slow and not tf and not browser') stays free of it")
    return report
