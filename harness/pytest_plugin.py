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
import traceback
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ParityError, ParityInputError
from harness.suite import Suite

__all__ = ["ParityCheckItem", "ParityFailure", "UpgradeGateItem", "assert_parity"]

UPGRADE_ID = "upgrade/baseline"


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


# -- options and session state ------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "parity harness (one test per parity check)")
    group.addoption("--parity-report", metavar="DIR", default=None,
                    help="write report.json, report.md and report.html into DIR at the end of the session")
    group.addoption("--parity-update-baseline", action="store_true", default=False,
                    help="re-record the upgrade-gate baselines instead of checking them (needs --parity-reason)")
    group.addoption("--parity-reason", metavar="TEXT", default=None,
                    help="why the baseline changes; kept in the baseline history a release review reads")
    group.addoption("--parity-baseline-dir", metavar="DIR", default=None,
                    help="root of the upgrade-gate baselines (default: PARITY_BASELINE_DIR or golden_data/baselines)")
    group.addoption("--parity-seed", metavar="S", type=int, default=0,
                    help="seed of every random choice in the suites (bootstrap, row sample); default 0")
    group.addoption("--parity-sample", metavar="N", type=int, default=None,
                    help="use a seeded sample of N rows per suite: fast local runs, marked as sampled in the report")


class _State:
    """Per-process state: options, suite results (run once), and results received from xdist workers."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.option
        base = Path(config.invocation_params.dir)
        self.seed: int = opt.parity_seed
        self.sample: int | None = opt.parity_sample
        self.report_dir = (base / opt.parity_report) if opt.parity_report else None
        self.baseline_dir = (base / opt.parity_baseline_dir) if opt.parity_baseline_dir else None
        self.update: bool = opt.parity_update_baseline
        self.reason: str | None = opt.parity_reason
        self.suite_files: dict[str, str] = {}  # suite name -> file that defines it
        self.results: dict[str, Any] = {}  # suite name -> SuiteResult, or the exception its run raised
        self.upgrades: dict[str, dict[str, Any]] = {}  # suite name -> {"upgrade": {...}, "check": {...}}
        self.received: list[tuple[str, dict[str, Any]]] = []  # (worker id, payload) under xdist
        self.report_paths: dict[str, Path] | None = None
        self.final: list[Any] | None = None  # the suite results reported (set at session end)
        self.errors: dict[str, str] = {}  # suite name -> why it could not run (all processes)
        self.report_error: str | None = None
        self.planned: dict[str, list[str]] = {}  # suite name -> check ids with a pytest item
        self.items: dict[str, list[str]] = {}  # suite name -> ids of all its items (checks + upgrade/baseline)
        self.suites: dict[str, Suite] = {}  # suite name -> the suite collected in this process
        self.ran: dict[str, set[str]] = {}  # suite name -> ids of its items that ran in this process
        self.item_errors: dict[str, dict[str, dict[str, Any]]] = {}  # suite -> item id -> error CheckResult dict
        self.deselected = 0  # items pytest deselected in this process's collection (-k, -m, --deselect)
        self.crashed: set[str] = set()  # suites reported from their error alone (set at session end)
        self.selection: dict[str, Any] | None = None  # the report's "selection" (set at session end)
        self.unplanned: dict[str, list[str]] = {}  # suite name -> produced, unplanned, gated and not passing
        self.warnings: list[str] = []

    def suite_result(self, suite: Suite) -> Any:
        """Run ``suite`` once per process (the first item to need it pays); later items reuse the result."""
        if suite.name not in self.results:
            from harness import runner

            try:
                self.results[suite.name] = runner.run_suite(suite, sample=self.sample, seed=self.seed)
            except Exception as exc:  # cached so every item of the suite reports the same cause
                self.results[suite.name] = exc
        result = self.results[suite.name]
        if isinstance(result, BaseException):
            raise _SuiteRunError(suite.name, result)
        return result

    def record_error(self, suite: Suite, item_id: str, *, stage: str, cause: BaseException, text: str,
                     kind: str | None = None) -> dict[str, Any]:
        """Note that item ``item_id`` of ``suite`` failed without a computed result; the report shows it."""
        check = _error_check(item_id, stage=stage, cause=cause, text=text, kind=kind)
        self.item_errors.setdefault(suite.name, {})[item_id] = check
        return check

    def payload(self) -> dict[str, Any]:
        """What a worker hands the controller: JSON-able suite results, upgrade outcomes, and which items
        were planned, ran and errored (so the controller's report lists what ran, as a serial run's does)."""
        crashed = {}
        for name, r in sorted(self.results.items()):
            if isinstance(r, BaseException) and name in self.suites:
                suite = self.suites[name]
                crashed[name] = {
                    "description": suite.description, "dataset": {"name": suite.dataset, "split": suite.split},
                    "seed": self.seed, "sample": {"rows": self.sample, "seed": self.seed} if self.sample else None,
                    "known_gaps": dict(sorted(suite.known_gaps.items())),
                }
        return {
            "results": {n: r.to_dict() for n, r in sorted(self.results.items()) if not isinstance(r, BaseException)},
            "errors": {n: f"{type(r).__name__}: {r}" for n, r in sorted(self.results.items()) if isinstance(r, BaseException)},
            "crashed": crashed,
            "upgrades": dict(sorted(self.upgrades.items())),
            "unplanned": {n: self._unplanned_failures(n) for n in sorted(self.results) if self._unplanned_failures(n)},
            "items": dict(sorted(self.items.items())),
            "ran": {n: sorted(ids) for n, ids in sorted(self.ran.items())},
            "item_errors": {n: dict(sorted(e.items())) for n, e in sorted(self.item_errors.items())},
            "deselected": self.deselected,
        }

    def _unplanned_failures(self, name: str) -> list[str]:
        # A check the runner produced but the plan did not foresee has no pytest item; if it fails, the
        # session must not pass silently (see pytest_sessionfinish).
        result = self.results.get(name)
        if result is None or isinstance(result, BaseException) or name not in self.planned:
            return []
        planned = set(self.planned[name])
        return [c.id for c in result.checks
                if c.id not in planned and not c.passed and c.id not in result.known_gaps]


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


def _error_check(item_id: str, *, stage: str, cause: BaseException, text: str,
                 kind: str | None = None) -> dict[str, Any]:
    """`harness.results.error_check` as a dict (what workers hand the controller)."""
    from harness.results import error_check

    return error_check(item_id, stage=stage, cause=cause, text=text, kind=kind).to_dict()


def _error_text(cause: BaseException) -> str:
    """What pytest shows for ``cause``: the message of a harness error, the traceback of anything else."""
    if isinstance(cause, (ParityError, ParityFailure)):
        return f"{type(cause).__name__}: {cause}"
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)).rstrip()


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    if opt.parity_update_baseline and not (opt.parity_reason and opt.parity_reason.strip()):
        raise pytest.UsageError(
            "--parity-update-baseline needs --parity-reason TEXT: the baseline history records why the new "
            "behaviour was accepted (e.g. --parity-reason 'numpy 2.4: last-bit changes in log1p, reviewed in #123')"
        )
    if opt.parity_reason and not opt.parity_update_baseline:
        raise pytest.UsageError("--parity-reason is only used with --parity-update-baseline")
    if opt.parity_sample is not None and opt.parity_sample <= 0:
        raise pytest.UsageError(f"--parity-sample must be a positive number of rows, got {opt.parity_sample}")
    config.stash[_STATE] = _State(config)
    config.addinivalue_line("markers", "parity(suite): a check generated from a parity suite's SUITE")
    # Registered here too so the generated items carry it without warnings when xdist is not loaded.
    config.addinivalue_line("markers", "xdist_group(name): run all items of a group on one xdist worker")


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

class _SuiteRunError(Exception):
    def __init__(self, suite: str, cause: BaseException) -> None:
        text = f"suite {suite!r} could not run: {type(cause).__name__}: {cause}"
        if not isinstance(cause, ParityError):  # a crash in suite or harness code: the reader needs where
            text += "\n\n" + "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)).rstrip()
        super().__init__(text)
        self.cause = cause


class _ParityItem(pytest.Item):
    suite: Suite

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.suite.name}::{self.name}"

    def _start(self) -> _State:
        """Note that this item ran (the report lists only what ran) and return the session state."""
        state = _state(self.config)
        state.ran.setdefault(self.suite.name, set()).add(self.name)
        return state

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        # A parity failure is a finding, not a bug: show the review, not our stack.
        if isinstance(excinfo.value, (ParityFailure, _SuiteRunError)):
            return str(excinfo.value)
        if isinstance(excinfo.value, ParityError):
            return f"{self.name}: {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)


class ParityCheckItem(_ParityItem):
    """One planned check of a suite."""

    def __init__(self, *, suite: Suite, check_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.check_id = check_id

    def runtest(self) -> None:
        __tracebackhide__ = True
        state = self._start()
        try:
            result = state.suite_result(self.suite)
        except _SuiteRunError as exc:
            state.record_error(self.suite, self.check_id, stage="suite", cause=exc.cause, text=str(exc))
            raise
        produced = [c for c in result.checks if c.id == self.check_id]
        if not produced:
            failure = ParityFailure(
                f"{self.check_id}: planned but not produced by the run of suite {self.suite.name!r}.\n"
                f"  produced: {[c.id for c in result.checks]}\n"
                "  fix: the suite's plan and the runner disagree; a slice value missing after sampling or a "
                "check that crashed are the usual causes"
            )
            state.record_error(self.suite, self.check_id, stage="not_produced", cause=failure, text=str(failure))
            raise failure
        check = produced[0]
        self.user_properties.append(("parity_verdict", check.verdict.value))
        try:
            assert_parity(check, known_gap=self.suite.known_gaps.get(self.check_id))
        except ParityFailure:
            raise
        except Exception as exc:  # the check has a result, but its item crashed: pytest fails, so must the report
            state.record_error(self.suite, self.check_id, stage="check", cause=exc, text=_error_text(exc),
                               kind=check.kind)
            raise


class UpgradeGateItem(_ParityItem):
    """``upgrade/baseline``: the suite's behaviour probes against the recorded baseline."""

    def __init__(self, *, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def runtest(self) -> None:
        __tracebackhide__ = True
        state = self._start()
        try:
            entry = _run_upgrade_gate(self.suite, baseline_dir=state.baseline_dir, update=state.update,
                                      reason=state.reason)
        except Exception as exc:  # no or a corrupt baseline, a probe that raised: a failed gate, in the report too
            check = state.record_error(self.suite, UPGRADE_ID, stage="upgrade_gate", cause=exc, text=_error_text(exc),
                                       kind="upgrade")
            state.upgrades[self.suite.name] = {"upgrade": None, "check": check}
            raise
        state.upgrades[self.suite.name] = entry
        from harness.results import CheckResult

        assert_parity(CheckResult(**entry["check"]))


class _ConfigErrorItem(_ParityItem):
    """A mistake in the suite's declaration (e.g. a known gap naming no planned check), shown as a failure."""

    def __init__(self, *, suite: Suite, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.message = message

    def runtest(self) -> None:
        failure = ParityFailure(self.message)
        state = self._start()
        state.record_error(self.suite, self.name, stage="declaration", cause=failure, text=self.message)
        raise failure


def _run_upgrade_gate(suite: Suite, *, baseline_dir: Path | None, update: bool, reason: str | None) -> dict[str, Any]:
    from harness.results import CheckResult
    from harness.upgrade import accept_baseline, check_against_baseline, findings_to_markdown, read_baseline, record_baseline
    from harness.verdicts import Verdict

    probes = suite.probes
    if update:
        try:
            read_baseline(suite.name, root=baseline_dir)
            exists = True
        except ParityInputError:
            exists = False
        if exists:
            directory, accepted = accept_baseline(probes, reason=reason or "", root=baseline_dir)
            findings = [dict(f.to_dict(), accepted=True) for f in accepted]
            summary = f"baseline re-recorded in {directory}, {len(findings)} finding(s) accepted: {reason}"
        else:
            directory = record_baseline(probes, root=baseline_dir, reason=reason)
            findings = []
            summary = f"baseline recorded in {directory}: {reason}"
        upgrade = {"action": "accepted" if exists else "recorded", "reason": reason, "findings": findings}
        check = CheckResult(id=UPGRADE_ID, kind="upgrade", verdict=Verdict.EQUIVALENT, summary=summary,
                            details={"action": upgrade["action"], "reason": reason, "n_accepted": len(findings)})
        return {"upgrade": upgrade, "check": check.to_dict()}
    try:
        result = check_against_baseline(suite.name, probes, baseline_dir)
    except ParityInputError as exc:
        raise ParityInputError(
            f"{exc}\n  to record it from pytest: --parity-update-baseline --parity-reason 'initial baseline'"
        ) from None
    upgrade = result.to_dict()
    changed = result.changed
    summary = (f"{len(changed)} probe output(s) CHANGED since the baseline" if changed
               else f"no behaviour change ({len(result.within_noise)} within noise)")
    message = ""
    if changed:
        message = (findings_to_markdown(result) + "\n\nIf the change is intended: rerun with "
                   "--parity-update-baseline --parity-reason 'why', or `parity baseline accept`.")
    check = CheckResult(
        id=UPGRADE_ID, kind="upgrade", verdict=Verdict.NOT_EQUIVALENT if changed else Verdict.EQUIVALENT,
        summary=summary, message=message,
        details={"counts": upgrade.get("counts"), "changed": [f"{f.probe}/{f.output}" for f in changed],
                 "changed_packages": upgrade.get("changed_packages")},
    )
    return {"upgrade": upgrade, "check": check.to_dict()}


def _slice_values(suite: Suite) -> dict[str, list[Any]]:
    if not suite.slices:
        return {}
    from harness import runner  # reads the slice columns only; pandas/pyarrow, never TensorFlow

    return runner.slice_values(suite)


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> list[pytest.Item] | None:
    if name != "SUITE" or not isinstance(collector, pytest.Module) or not isinstance(obj, Suite):
        return None
    suite: Suite = obj
    state = _state(collector.config)
    where = str(collector.path)
    other = state.suite_files.setdefault(suite.name, where)
    if other != where:
        raise ParityInputError(f"two suite files define a suite named {suite.name!r}: {other} and {where}")
    ids = suite.plan(_slice_values(suite))
    state.planned[suite.name] = list(ids)
    state.items[suite.name] = list(ids) + ([UPGRADE_ID] if suite.probes is not None else [])
    state.suites[suite.name] = suite
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ParityInputError(f"{where}: suite {suite.name!r} plans duplicate check ids {dup}")
    marks = [pytest.mark.parity(suite.name), pytest.mark.xdist_group(suite.name)]
    items: list[pytest.Item] = []
    for check_id in ids:
        item = ParityCheckItem.from_parent(collector, name=check_id, suite=suite, check_id=check_id)
        for mark in marks:
            item.add_marker(mark)
        if check_id in suite.known_gaps:
            item.add_marker(pytest.mark.xfail(reason=f"known gap: {suite.known_gaps[check_id]}", strict=False))
        items.append(item)
    if suite.probes is not None:
        item = UpgradeGateItem.from_parent(collector, name=UPGRADE_ID, suite=suite)
        for mark in marks:
            item.add_marker(mark)
        items.append(item)
    stale = sorted(set(suite.known_gaps) - set(ids))
    if stale:
        items.append(_ConfigErrorItem.from_parent(
            collector, name="known_gaps", suite=suite,
            message=f"suite {suite.name!r}: known_gaps names {stale}, which the suite does not plan; "
                    f"planned: {ids}. Remove or correct the stale entries.",
        ))
        state.items[suite.name].append("known_gaps")  # so that the report lists it with its error
    return items


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def parity_seed(request: pytest.FixtureRequest) -> int:
    """The session's seed (``--parity-seed``, default 0)."""
    return _state(request.config).seed


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
    """The model pair of the module's suite, built from its golden dataset (may train: module-scoped)."""
    return parity_suite.pair(golden_dataset(parity_suite.dataset))


@pytest.fixture(scope="module")
def parity_result(request: pytest.FixtureRequest, parity_suite: Suite) -> Any:
    """The module's `SuiteResult` (the same run the generated items use)."""
    return _state(request.config).suite_result(parity_suite)


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
        state = items[0].config.stash.get(_STATE, None)
        if state is not None:
            state.deselected += len(items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect one worker's suite results."""
    payload = getattr(node, "workeroutput", {}).get("parity")
    if payload:
        worker = str(getattr(node, "gateway", None) and node.gateway.id)
        _state(node.config).received.append((worker, json.loads(payload)))


def _final_results(state: _State, config: pytest.Config) -> list[Any]:
    """Suite results to report, sorted by suite name, each round-tripped through JSON.

    The round trip makes a serial run take exactly the path an xdist run takes (worker -> JSON ->
    controller), so both write the same bytes. Each suite lists the checks whose items ran (in the
    runner's order, an item that errored replaced by its error), then errors of planned checks not
    produced, then the upgrade gate; produced checks the plan did not foresee stay (they have no item).
    A suite that could not run is listed with one error per item that ran. Also sets ``state.selection``.
    """
    from harness.report import suite_result_from_dict
    from harness.results import CheckResult, SuiteResult

    payloads = [("local", json.loads(json.dumps(state.payload())))] + sorted(state.received, key=lambda p: p[0])
    results: dict[str, dict[str, Any]] = {}
    upgrades: dict[str, dict[str, Any]] = {}
    crashed: dict[str, dict[str, Any]] = {}
    items: dict[str, list[str]] = {}
    ran: dict[str, set[str]] = {}
    item_errors: dict[str, dict[str, dict[str, Any]]] = {}
    deselected = 0
    for worker, payload in payloads:
        for name, data in payload.get("results", {}).items():
            if name in results and results[name] != data:
                state.warnings.append(f"suite {name!r}: two processes produced different results "
                                      f"(nondeterminism); reporting the first, {worker}'s differs")
            results.setdefault(name, data)
        for name, entry in payload.get("upgrades", {}).items():
            upgrades.setdefault(name, entry)
        for name, why in payload.get("errors", {}).items():
            state.errors.setdefault(name, why)
        for name, info in payload.get("crashed", {}).items():
            crashed.setdefault(name, info)
        for name, ids in payload.get("unplanned", {}).items():
            state.unplanned.setdefault(name, ids)
        for name, ids in payload.get("items", {}).items():
            items.setdefault(name, ids)  # every process collects the same items
        for name, ids in payload.get("ran", {}).items():
            ran.setdefault(name, set()).update(ids)
        for name, errors in payload.get("item_errors", {}).items():
            for item_id, check in errors.items():
                item_errors.setdefault(name, {}).setdefault(item_id, check)
        deselected = max(deselected, int(payload.get("deselected", 0)))  # each worker deselects the same items
    out = []
    for name in sorted(set(results) | set(upgrades) | set(crashed)):
        planned = items.get(name)
        did = ran.get(name, set())
        errors = item_errors.get(name, {})
        if name in results:
            result = suite_result_from_dict(results[name])
            produced = {c.id for c in result.checks}
            checks = [CheckResult(**errors[c.id]) if c.id in errors else c for c in result.checks
                      if planned is None or c.id in did or c.id not in planned]
            checks += [CheckResult(**errors[i]) for i in planned or () if i in errors and i not in produced
                       and i != UPGRADE_ID]
            result.checks = checks
        elif name in crashed:
            info = crashed[name]
            state.crashed.add(name)
            result = SuiteResult(suite=name, description=info["description"], dataset=info["dataset"],
                                 seed=info["seed"], sample=info["sample"], known_gaps=info["known_gaps"],
                                 checks=[CheckResult(**errors[i]) for i in planned or () if i in errors
                                         and i != UPGRADE_ID])
        else:  # only the upgrade gate ran (e.g. -k upgrade)
            result = SuiteResult(suite=name, description="", dataset={}, seed=state.seed, checks=[])
        if name in upgrades:
            result.upgrade = upgrades[name]["upgrade"]
            result.checks.append(CheckResult(**upgrades[name]["check"]))
        if result.checks:  # a suite none of whose checks ran is listed in selection.not_run instead
            out.append(result)
    not_run = {name: [i for i in ids if i not in ran.get(name, ())] for name, ids in sorted(items.items())}
    not_run = {name: ids for name, ids in not_run.items() if ids}
    keyword, markexpr = config.option.keyword or None, config.option.markexpr or None
    if keyword or markexpr or deselected or not_run:
        planned_total = sum(len(ids) for ids in items.values())
        state.selection = {
            "partial": bool(not_run), "keyword": keyword, "markexpr": markexpr, "deselected": deselected,
            "planned": planned_total, "ran": planned_total - sum(len(ids) for ids in not_run.values()),
            "not_run": not_run,
        }
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    if _is_worker(config):
        config.workeroutput["parity"] = json.dumps(state.payload(), allow_nan=False)
        return
    if not (state.results or state.upgrades or state.received or state.report_dir):
        return  # no parity suite in this session: nothing to report, nothing to import
    state.final = _final_results(state, config)
    if state.unplanned and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.report_dir is None:
        return
    from harness.report import build_report, write_report

    try:
        state.report_paths = write_report(build_report(state.final, selection=state.selection), state.report_dir)
    except (ParityError, OSError) as exc:
        # A gate whose report is missing must not look green: fail the session, say why in the summary.
        state.report_error = f"{type(exc).__name__}: {exc}"
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or _is_worker(config):
        return
    final = state.final or []
    if not final and not state.errors:
        return
    tr = terminalreporter
    tr.write_sep("=", "parity verdicts")
    rows = [("suite", "verdict", "checks", "failing", "inconclusive", "known gaps", "sample")]
    for r in final:
        if r.suite in state.crashed:
            continue  # its ERROR row follows
        gated = [c for c in r.checks if c.gated and c.id not in r.known_gaps]
        rows.append((
            r.suite, r.verdict.value, str(len(r.checks)),
            str(sum(c.verdict.value == "NOT_EQUIVALENT" for c in gated)),
            str(sum(c.verdict.value == "INCONCLUSIVE" for c in gated)),
            str(len(r.known_gaps)),
            f"{r.sample['rows']} rows (seed {r.sample['seed']})" if r.sample else "-",
        ))
    for name, why in sorted(state.errors.items()):
        rows.append((name, "ERROR", "-", "-", "-", "-", why.splitlines()[0][:80] if why else "?"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        colour = {"EQUIVALENT": {"green": True}, "NOT_EQUIVALENT": {"red": True}, "INCONCLUSIVE": {"yellow": True},
                  "ERROR": {"red": True}}.get(row[1], {})
        tr.write_line(line, **colour)
    for name, ids in sorted(state.unplanned.items()):
        tr.write_line(f"suite {name!r}: checks not planned (so without a pytest item) did not pass: {ids}; "
                      "the session fails", red=True)
    if state.selection and state.selection["partial"]:
        sel = state.selection
        tr.write_line(f"partial run: {sel['ran']} of {sel['planned']} planned parity checks ran; the verdicts above are "
                      "over those only (the report lists which did not run)", yellow=True)
    for warning in state.warnings:
        tr.write_line(f"warning: {warning}", yellow=True)
    if state.report_paths:
        tr.write_line(f"parity report: {state.report_paths['html'].parent}/report.{{json,md,html}}")
    if state.report_error:
        tr.write_line(f"parity report NOT written to {state.report_dir}: {state.report_error}", red=True)
