"""pytest plugin (``pytest11`` entry point ``parity``): one pytest test per parity check.

A test module that exports ``SUITE`` (a `harness.suite.Suite`) gets one item per id of
``SUITE.plan(slice_values(SUITE))`` -- ``test_ctr.py::metrics/auc[device=mobile]`` -- so JUnit XML lists
every check x metric x slice. Select with ``-k "auc and mobile"`` (``-k`` treats ``=`` as syntax) or by
node id. Collection only reads the slice columns from the golden Parquet: no model is built and no
TensorFlow is imported. The suite runs once per process, lazily, in the first of its items to run; each
item then asserts its own `CheckResult`:

* EQUIVALENT, or not gated -> pass;
* NOT_EQUIVALENT -> fail with a review-style message (check, obtained vs allowed, interval, worst rows);
* INCONCLUSIVE -> fail too (a golden set too small to decide is not a pass), saying how many rows it needs;
* an id in ``SUITE.known_gaps`` -> xfail with the stated reason;
* an id planned but not produced -> fail, naming what was produced.

With ``SUITE.probes`` set, one more item ``upgrade/baseline`` checks the behaviour probes against the
recorded baseline (``harness.upgrade``), or re-records it with ``--parity-update-baseline --parity-reason``.

At session end: a verdict table per suite, and with ``--parity-report DIR`` the report (report.json, .md,
.html). Under pytest-xdist each worker sends its suite results (JSON) to the controller, which writes one
report, byte-identical to a serial run's (suites sorted by name, results round-tripped through JSON in
both cases).

The report says what pytest says:

* it lists the checks whose items ran, and only those (plus produced checks the plan did not foresee,
  which have no item); when a planned check did not run (``-k``, ``-m``, node ids, an early stop) its
  ``selection`` names them with the ``-k``/``-m`` expressions and pytest's deselected count, and the
  verdict -- over the checks that ran -- is marked partial, not a release verdict;
* an item that errors is in the report as an error: its check is NOT_EQUIVALENT (gated) with
  ``details.error = {"stage", "type", "message"}`` -- stage ``suite`` (the suite could not run; the
  suite is reported with one such check per item that ran), ``upgrade_gate`` (no or a corrupt baseline,
  a probe that raised), ``not_produced`` (planned, not produced), ``check``, or ``declaration`` (a
  mistake in SUITE itself, e.g. a known gap naming no planned check). The verdict vocabulary
  has no ERROR: an error is not a pass, and NOT_EQUIVALENT is the verdict that fails the gate.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ParityError, ParityInputError
from harness.suite import Suite

__all__ = ["ParityCheckItem", "ParityFailure", "assert_parity"]


class ParityFailure(AssertionError):
    """A check did not hold; the message is the review (shown without a traceback)."""


def assert_parity(check: Any, *, known_gap: str | None = None) -> None:
    """Pass when ``check`` (a `CheckResult`) is EQUIVALENT or not gated; else fail with its review.

    INCONCLUSIVE fails too: the golden set was too small to show parity. For hand-written tests::

        def test_auc_overall(parity_result):
            assert_parity(parity_result.check("metrics/auc"))
    """
    __tracebackhide__ = True
    from harness.results import CheckResult

    if not isinstance(check, CheckResult):
        raise ParityInputError(f"assert_parity: expected a harness.results.CheckResult, got {type(check).__name__}")
    if check.passed:
        return
    from harness.report.review import review_message

    raise ParityFailure(review_message(check, known_gap=known_gap))


# -- options and the session ----------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    from harness.options import OPTIONS

    group = parser.getgroup("parity", "parity harness (one test per parity check)")
    for o in OPTIONS:  # the same options as `parity run`, prefixed
        if o.flag:
            group.addoption(f"--parity-{o.name}", dest=f"parity_{o.dest}", action="store_true", default=False,
                            help=o.help)
        else:
            group.addoption(f"--parity-{o.name}", dest=f"parity_{o.dest}", metavar=o.metavar, type=o.type,
                            default=None, help=o.help)


_SESSION = pytest.StashKey[Any]()
_STATS = pytest.StashKey[dict]()


def _session(config: pytest.Config) -> Any:
    return config.stash[_SESSION]


def pytest_configure(config: pytest.Config) -> None:
    from harness.options import OPTIONS, RunOptions
    from harness.session import Session

    values = {o.dest: getattr(config.option, f"parity_{o.dest}") for o in OPTIONS}
    try:
        options = RunOptions.from_values(values, base=Path(config.invocation_params.dir), prefix="--parity-")
    except ParityInputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SESSION] = Session(options)
    config.stash[_STATS] = stats = {"final": None, "report_paths": None, "report_error": None, "collect_errors": 0}
    config.pluginmanager.register(_CollectErrors(stats), "parity-collect-errors")
    config.addinivalue_line("markers", "parity(suite): a check generated from a parity suite's SUITE")
    # Registered here too so the generated items carry it without warnings when xdist is not loaded.
    config.addinivalue_line("markers", "xdist_group(name): run all items of a group on one xdist worker")


class _CollectErrors:
    """Counts the files that could not be collected (an import error, a bad declaration); under xdist
    the controller sees the workers' collection reports too."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.stats["collect_errors"] += 1


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Plain ``-n N`` (xdist's ``load``) would spread one suite's checks over several workers, each of
    which would then run the whole suite (train, score) again. Schedule a suite file's checks as one
    unit instead, and every other test on its own, as ``load`` does. (``--dist loadgroup`` does the
    same through the checks' ``xdist_group`` marks; other ``--dist`` modes are left alone.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            # A check's name is its id ("metrics/auc[device=mobile]"); a test function's never has "/".
            path, _, name = nodeid.partition("::")
            return path if "/" in name.split("[", 1)[0] else nodeid

    return SuiteScheduling(config, log)


# -- collection -----------------------------------------------------------------------------------------

class ParityCheckItem(pytest.Item):
    """One collected id of a suite: a check, ``upgrade/baseline``, or a declaration error."""

    def __init__(self, *, suite: Suite, check_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.check_id = check_id

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.suite.name}::{self.name}"

    def runtest(self) -> None:
        __tracebackhide__ = True
        session = _session(self.config)
        outcome = session.outcome(self.suite.name, self.check_id)
        if outcome.skipped:  # a serving gate under --parity-no-serving: not run, and the report says so
            pytest.skip(outcome.skipped)
        self.user_properties.append(("parity_verdict", outcome.check.verdict.value))
        if not outcome.passed:
            raise ParityFailure(outcome.text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        # A parity failure is a finding, not a bug: show the review, not our stack.
        if isinstance(excinfo.value, ParityFailure):
            return str(excinfo.value)
        # Anything else crashed here, on a computed result: pytest fails the item, so must the report.
        _session(self.config).record_error(self.suite.name, self.check_id, stage="check", cause=excinfo.value)
        if isinstance(excinfo.value, ParityError):
            return f"{self.name}: {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)


class _SuiteModule(pytest.Module):
    """A test module whose import raised a harness error (a `Suite(...)` or gate declared wrong): the
    message and the line of the file that raised it, as `parity run` says it, not our stack."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, ParityError) and not self.config.getoption("fulltrace", False):
            from harness.discovery import declaration_error_text

            return declaration_error_text(Path(self.path), excinfo.value)
        return super().repr_failure(excinfo) if style is None else super().repr_failure(excinfo, style=style)


def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> pytest.Module | None:
    if module_path.name == "__init__.py":
        return None
    return _SuiteModule.from_parent(parent, path=module_path)


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> list[pytest.Item] | None:
    if not isinstance(collector, pytest.Module) or not isinstance(obj, Suite):
        return None
    if name != "SUITE":  # SUITES = Suite(...): an error in both shells, not a file silently skipped
        from harness.discovery import misnamed_suite_error

        misnamed = misnamed_suite_error(vars(collector.obj), collector.path)
        if misnamed is not None:
            raise collector.CollectError(f"{type(misnamed).__name__}: {misnamed}")
        return None
    suite: Suite = obj
    try:
        ids = _session(collector.config).collect(suite, where=collector.path)
    except ParityInputError as exc:  # a mistake in the declaration: its message, not our stack (exit 2)
        raise collector.CollectError(f"{type(exc).__name__}: {exc}") from None
    marks = [pytest.mark.parity(suite.name), pytest.mark.xdist_group(suite.name)]
    items: list[pytest.Item] = []
    for check_id in ids:
        item = ParityCheckItem.from_parent(collector, name=check_id, suite=suite, check_id=check_id)
        for mark in marks:
            item.add_marker(mark)
        if check_id in suite.known_gaps:
            item.add_marker(pytest.mark.xfail(reason=f"known gap: {suite.known_gaps[check_id]}", strict=False))
        items.append(item)
    return items


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def parity_seed(request: pytest.FixtureRequest) -> int:
    """The session's seed (``--parity-seed``, default 0)."""
    return _session(request.config).options.seed


@pytest.fixture(scope="session")
def golden_dataset() -> Any:
    """Factory: ``golden_dataset("ads_ctr")`` -> a verified `harness.golden.GoldenDataset`."""
    from harness.golden import load_dataset

    def load(name: str, *, root: Any = None) -> Any:
        return load_dataset(name, root=root)

    return load


@pytest.fixture(scope="module")
def parity_suite(request: pytest.FixtureRequest) -> Suite:
    """The ``SUITE`` of the requesting test module."""
    suite = getattr(request.module, "SUITE", None)
    if not isinstance(suite, Suite):
        raise ParityInputError(f"{request.module.__name__} exports no SUITE (a harness.suite.Suite)")
    return suite


@pytest.fixture(scope="module")
def parity_pair(parity_suite: Suite, golden_dataset: Any) -> Any:
    """The model pair of the module's suite, built from its golden dataset and fitted where the pair leaves
    fitting to the runner (`ModelPair.fit`); may train: module-scoped."""
    from harness.protocol import ModelPair

    dataset = golden_dataset(parity_suite.dataset)
    pair = parity_suite.pair(dataset)
    return pair.fit_pending(dataset) if isinstance(pair, ModelPair) else pair


@pytest.fixture(scope="module")
def parity_result(request: pytest.FixtureRequest, parity_suite: Suite) -> Any:
    """The module's `SuiteResult` (the same run the generated items use)."""
    session = _session(request.config)
    if parity_suite.name not in session.suites:
        session.collect(parity_suite, where=request.module.__file__)
    return session.suite_result(parity_suite.name)


@pytest.fixture(name="assert_parity")
def _assert_parity_fixture() -> Any:
    """`assert_parity` as a fixture, for suites that prefer not to import the plugin."""
    return assert_parity


# -- session end: report, xdist hand-over, terminal summary ---------------------------------------------

def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Count what ``-k``/``-m``/``--deselect`` left out, for the report's ``selection``."""
    if items:
        engine = items[0].config.stash.get(_SESSION, None)
        if engine is not None:
            engine.deselected += len(items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect one worker's suite results."""
    payload = getattr(node, "workeroutput", {}).get("parity")
    if payload:
        worker = str(getattr(node, "gateway", None) and node.gateway.id)
        _session(node.config).receive(worker, json.loads(payload))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    engine = config.stash.get(_SESSION, None)
    if engine is None:
        return
    if _is_worker(config):
        config.workeroutput["parity"] = json.dumps(engine.payload(), allow_nan=False)
        return
    if not (engine.ran or engine.results or engine.received or engine.options.report_dir):
        return  # no parity suite in this session: nothing to report, nothing to import
    stats = config.stash[_STATS]
    final = engine.finish(keyword=config.option.keyword or None, markexpr=config.option.markexpr or None)
    stats["final"] = final
    status = final.exit_status
    if status == 2 and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.INTERRUPTED  # 2: something prevented a judgement
    elif status == 1 and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # e.g. a failing check the plan did not foresee
    if engine.options.report_dir is None:
        return
    if stats["collect_errors"] and not (engine.ran or engine.results or engine.received):
        # Nothing was judged: as `parity run`, which stops at such a file, no report (one would read
        # "0 suites" without the reason, which pytest prints above).
        stats["report_error"] = (f"{stats['collect_errors']} file(s) could not be collected and no suite ran "
                                 "(as parity run, no report is written)")
        return
    try:
        stats["report_paths"] = engine.write_report(final)
    except (ParityError, OSError) as exc:
        # A gate whose report is missing must not look green: fail the session, say why in the summary.
        stats["report_error"] = f"{type(exc).__name__}: {exc}"
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    stats = config.stash.get(_STATS, None)
    if stats is None or _is_worker(config) or stats["final"] is None:
        return
    from harness.session import format_table, serving_table, verdict_table

    final, tr = stats["final"], terminalreporter
    if not final.results and not final.errors:
        if stats["report_error"]:
            tr.write_line(f"parity report NOT written to {_session(config).options.report_dir}: {stats['report_error']}",
                          red=True)
        return
    tr.write_sep("=", "parity verdicts")
    colours = {"EQUIVALENT": {"green": True}, "NOT_EQUIVALENT": {"red": True}, "INCONCLUSIVE": {"yellow": True},
               "ERROR": {"red": True}}
    rows = verdict_table(final)
    for row, line in zip(rows, format_table(rows)):
        tr.write_line(line, **colours.get(row[1], {}))
    served = serving_table(final)  # measured, outside the byte-identical report: a table of its own
    for row, line in zip(served, format_table(served) if served else []):
        tr.write_line(line, **colours.get(row[2], {}))
    for name, ids in sorted(final.unplanned.items()):
        tr.write_line(f"suite {name!r}: checks not planned (so without a pytest item) did not pass: {ids}; "
                      "the session fails", red=True)
    if final.selection and final.selection["partial"]:
        sel = final.selection
        tr.write_line(f"partial run: {sel['ran']} of {sel['planned']} planned parity checks ran; the verdicts above are "
                      "over those only (the report lists which did not run)", yellow=True)
    for warning in final.warnings:
        tr.write_line(f"warning: {warning}", yellow=True)
    if stats["report_paths"]:
        tr.write_line(f"parity report: {stats['report_paths']['html'].parent}/report.{{json,md,html}}")
    if stats["report_error"]:
        tr.write_line(f"parity report NOT written to {_session(config).options.report_dir}: {stats['report_error']}",
                      red=True)
