"""One parity session: collect suites, run each once, give every planned check its outcome, and build
the report -- the engine both shells drive.

    session = Session(RunOptions(seed=0, report_dir=Path("rep")))
    for check_id in session.collect(SUITE, where="parity_suites/test_ctr.py"):
        outcome = session.outcome(SUITE.name, check_id)   # a CheckResult and the text a reader sees
    final = session.finish()                              # suite results, selection, exit status
    session.write_report(final)

`harness.pytest_plugin` maps this onto options, items and outcomes (one item per id ``collect``
returns); ``parity run`` maps it onto a table and exit codes. Both therefore plan the same checks, run
the same upgrade gate, and write the same report.json bytes for the same suites.

Every id ``collect`` returns gets exactly one `Outcome`: the suite's check with that id, or -- when no
result could be computed -- an error check (`harness.results.error_check`: NOT_EQUIVALENT, gated,
``details.error.stage`` one of ``suite`` (the suite could not run), ``not_produced`` (planned, not
produced), ``upgrade_gate`` (a corrupt baseline, a probe that raised), ``no_baseline`` (nothing recorded
yet: not a behaviour change, but no judgement either), ``check`` (a shell crashed on a computed
result) and ``declaration`` (a mistake in SUITE, e.g. a known gap naming no planned check)).

"Failing" has one meaning (`harness.results.is_failing`): gated, not a declared known gap, and not
EQUIVALENT. An error that prevented a judgement (every stage but ``check``) makes the exit status 2.

Serving and cost gates (``Suite.serving``: ``serving/p99@1``, ``cost/cpu_per_1k@1024``, ... -- each gate's
own id) are ids too, planned here for both shells, after the suite's other ids. They run once per suite,
after its accuracy checks, on the pair and rows the run built (`harness.serving.suite_run`, bounded).
They measure a machine, so their results are not suite checks: they go to the report's ``measured``
section (outside the byte-identity contract) with a serving verdict of their own; the accuracy verdict
never moves with them, and the exit status combines both (a serving gate not EQUIVALENT is 1, one that
could not be measured -- stage ``serving`` -- is 2). ``RunOptions.no_serving`` skips them: the shells show
them as skipped, and the report's ``selection`` lists them as not run (a partial run, never a pass).

Under pytest-xdist each worker runs its suites and hands `payload()` (JSON) to the controller, which
`receive`s them; `finish` merges every process's results the same way in a serial run (its own payload
round-tripped through JSON), so both write the same bytes.
"""
from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ParityError, ParityInputError
from harness.options import RunOptions
from harness.results import CheckResult, SuiteResult, error_check, is_failing, jsonable
from harness.suite import Suite

__all__ = ["DECLARATION_ID", "EXIT_ERROR", "EXIT_FAIL", "EXIT_OK", "Final", "Outcome", "Session", "UPGRADE_ID",
           "measured_of", "report_exit_status", "serving_table", "status_of_checks", "verdict_table"]

UPGRADE_ID = "upgrade/baseline"
DECLARATION_ID = "known_gaps"
EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
# Error stages after which the session judged nothing for that check: exit 2, not 1.
_NO_JUDGEMENT = ("suite", "not_produced", "upgrade_gate", "no_baseline", "declaration", "serving")


@dataclass(frozen=True)
class Outcome:
    """What one planned check came to: its result, whether it passes, and the review a reader sees."""

    check: CheckResult
    passed: bool
    text: str  # the review (a failing check), the cause with its traceback (an error), or the summary
    known_gap: str | None = None
    skipped: str | None = None  # why it did not run (a serving gate under --no-serving): not a pass


@dataclass
class Final:
    """A finished session: what to report and how the shells should exit."""

    results: list[SuiteResult]
    selection: dict[str, Any] | None
    errors: dict[str, str]  # suite name -> why it could not run
    unplanned: dict[str, list[str]]  # suite -> produced checks without an item that did not pass
    warnings: list[str]
    crashed: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # suite name -> the file that defines it
    cost: dict[str, dict[str, Any]] = field(default_factory=dict)  # suite -> stage -> wall/CPU/peak memory
    # suite -> {"serving": the measured serving entry (harness.serving.suite_run) | None,
    #           "checks": [serving/cost check dicts that ran]}: the report's measured section.
    served: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def suites_folder(self) -> Path | None:
        """The folder holding every suite file of the session (their common folder): whose commit the
        report names."""
        import os

        folders = sorted({str(Path(f).resolve().parent) for f in self.files.values()})
        return Path(os.path.commonpath(folders)) if folders else None

    @property
    def verdict(self) -> str:
        from harness.verdicts import combine

        return combine([r.verdict for r in self.results]).value if self.results else "INCONCLUSIVE"

    @property
    def known_gaps(self) -> dict[str, dict[str, str]]:
        """suite -> its declared known gaps (check id -> reason), serving and cost gates included."""
        return {r.suite: dict(r.known_gaps) for r in self.results}

    @property
    def exit_status(self) -> int:
        """0 every gated check passed; 1 a parity failure, an inconclusive gate, a behaviour change;
        2 something prevented a judgement (a suite that could not run, no or an unreadable baseline)."""
        gaps = self.known_gaps
        checks = [({"id": c.id, "gated": c.gated, "verdict": c.verdict.value, "details": c.details}, r.known_gaps)
                  for r in self.results for c in r.checks]
        checks += [(c, gaps.get(name, {})) for name, entry in self.served.items() for c in entry.get("checks", [])]
        return EXIT_ERROR if self.errors else status_of_checks(checks, failing=bool(self.unplanned))


def status_of_checks(checks: list[tuple[Mapping[str, Any], Mapping[str, str]]], *, failing: bool = False) -> int:
    """The exit status of (check dict, its suite's known gaps) pairs, accuracy and serving alike: 2 when a
    check records an error that prevented a judgement (and is not a known gap), else 1 when one is
    failing (`is_failing`) or ``failing`` says so, else 0."""
    for c, known in checks:
        err = (c.get("details") or {}).get("error") if isinstance(c.get("details"), Mapping) else None
        if err and err.get("stage") in _NO_JUDGEMENT and c["id"] not in known:
            return EXIT_ERROR
    return EXIT_FAIL if failing or any(is_failing(c, known) for c, known in checks) else EXIT_OK


def report_exit_status(doc: Mapping[str, Any]) -> int:
    """`Final.exit_status` of the run that wrote report.json ``doc``, from the document alone (`parity
    report` exits with it): its suites' checks and the measured serving and cost gates, each with its
    suite's known gaps."""
    checks = [(c, s.get("known_gaps") or {}) for s in doc.get("suites", []) for c in s.get("checks", [])]
    measured = doc.get("measured") or {}
    checks += [(c, s.get("known_gaps") or {}) for s in measured.get("suites", []) for c in s.get("checks", [])]
    return status_of_checks(checks)


def _cause_text(suite: str, cause: BaseException) -> str:
    text = f"suite {suite!r} could not run: {type(cause).__name__}: {cause}"
    if not isinstance(cause, ParityError):  # a crash in suite or harness code: the reader needs where
        text += "\n\n" + "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)).rstrip()
    return text


def _error_text(cause: BaseException) -> str:
    """A harness error's message, or the traceback of anything else (a bug the reader must locate)."""
    if isinstance(cause, ParityError):
        return f"{type(cause).__name__}: {cause}"
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)).rstrip()


class Session:
    """Per-process state of one parity session (see the module docstring)."""

    def __init__(self, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        self.suites: dict[str, Suite] = {}
        self.files: dict[str, str] = {}  # suite name -> the file that defines it
        self.items: dict[str, list[str]] = {}  # suite name -> every id collect returned, in order
        self.planned: dict[str, list[str]] = {}  # suite name -> its check ids (items less upgrade/declaration)
        self.results: dict[str, SuiteResult | BaseException] = {}  # run once per process
        self.upgrades: dict[str, dict[str, Any]] = {}  # suite -> {"upgrade": {...} | None, "check": {...}}
        self.item_errors: dict[str, dict[str, dict[str, Any]]] = {}  # suite -> item id -> error check dict
        self.ran: dict[str, set[str]] = {}  # suite -> ids whose outcome was asked for in this process
        self.received: list[tuple[str, dict[str, Any]]] = []  # (worker, payload) from xdist workers
        self.deselected = 0  # ids a pytest selection (-k, -m, --deselect) left out in this process
        self.serving_ids: dict[str, list[str]] = {}  # suite -> its serving/cost gate ids
        self.served: dict[str, dict[str, Any]] = {}  # suite -> {"serving": entry | None, "checks": {id: dict}}
        self._kept: dict[str, dict[str, Any]] = {}  # suite -> the run's pair and frame, until served

    # -- collection -------------------------------------------------------------------------------------
    def collect(self, suite: Suite, *, where: str | Path) -> list[str]:
        """Register ``suite`` (defined in file ``where``) and return the ids of its checks, in order.

        Reads the dataset's manifest and slice columns only: no model is built, nothing is trained.
        Every name the suite declares is checked here (`harness.suite.check_declaration`), so a typo
        fails before training. Two files defining one suite name is an error.
        """
        from harness.discovery import duplicate_suite_error, not_a_suite_error

        if not isinstance(suite, Suite):
            raise not_a_suite_error(where, suite)
        where = str(where)
        other = self.files.setdefault(suite.name, where)
        if other != where:
            raise duplicate_suite_error(suite.name, other, where)
        from harness import runner  # pandas/pyarrow only (reads the slice columns), never TensorFlow

        from harness.discovery import declared_field_text
        from harness.suite import check_declaration

        try:
            check_declaration(suite)
        except ParityInputError as exc:  # name the file and the field's line, as a declaration error does
            raise exc.with_fields(declared_field_text(Path(where), exc), file=where) from None
        try:
            ids = (suite.plan(runner.slice_values(suite, sample=self.options.sample, seed=self.options.seed))
                   if suite.dataset is not None else [])
        except ParityInputError as exc:  # e.g. a golden dataset that fails verification: say whose it is
            raise exc.with_fields(f"suite file {where}: suite {suite.name!r} (dataset {suite.dataset!r}): {exc}") from None
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ParityInputError(f"{where}: suite {suite.name!r} plans duplicate check ids {dup}")
        serving = [g.id for g in suite.serving]
        if serving and suite.dataset is None:
            raise ParityInputError(f"{where}: suite {suite.name!r} declares serving gates {serving} but no "
                                   "dataset and pair to serve")
        self.suites[suite.name] = suite
        self.planned[suite.name] = list(ids)
        self.serving_ids[suite.name] = serving
        items = list(ids) + ([UPGRADE_ID] if suite.probes is not None else [])
        if sorted(set(suite.known_gaps) - set(ids) - set(serving)):
            items.append(DECLARATION_ID)
        items += serving  # last: they measure the pair after everything else of the suite has run
        self.items[suite.name] = items
        return list(items)

    # -- outcomes ---------------------------------------------------------------------------------------
    def suite_result(self, name: str) -> SuiteResult:
        """Run suite ``name`` once per process; later calls reuse the result (or re-raise its failure)."""
        if name not in self.results:
            from harness import runner

            suite = self.suites[name]
            # The serving gates measure the pair the run builds: keep it (asked only then, so a runner
            # without ``keep`` still serves every suite without serving gates).
            kept = {"keep": self._kept.setdefault(name, {})} if suite.serving and not self.options.no_serving else {}
            if self.options.stream:  # asked only then, as ``keep``: the split read in chunks, the same result
                kept.update(stream=True, chunk_rows=self.options.chunk_rows)
            if self.options.runner == "beam":  # asked only then too: the scoring as a Beam pipeline, the same result
                kept.update(runner="beam", beam_options=self.options.beam_options)
            try:
                self.results[name] = runner.run_suite(suite, sample=self.options.sample, seed=self.options.seed,
                                                      **kept)
            except Exception as exc:  # kept, so that every check of the suite reports the same cause
                self.results[name] = exc
            frame = kept.get("keep", {}).get("frame")
            if frame is not None:  # only the rows the serving plan reads: a split can be millions of rows
                from harness.serving.suite_run import rows_needed

                kept["keep"]["frame"] = frame.iloc[:rows_needed(suite.serving)].copy()
        result = self.results[name]
        if isinstance(result, BaseException):
            raise result
        return result

    def outcome(self, name: str, item_id: str) -> Outcome:
        """The outcome of one collected id of suite ``name``; never raises for a failure of the suite,
        the data or a side: those become error checks that fail (and are in the report)."""
        suite = self.suites[name]
        if item_id in self.serving_ids.get(name, ()):
            return self._serving_outcome(name, item_id)
        self.ran.setdefault(name, set()).add(item_id)
        known_gap = suite.known_gaps.get(item_id)
        if item_id == UPGRADE_ID:
            return self._upgrade_outcome(suite)
        if item_id == DECLARATION_ID:
            stale = sorted(set(suite.known_gaps) - set(self.planned[name]) - set(self.serving_ids.get(name, ())))
            text = (f"suite {name!r}: known_gaps names {stale}, which the suite does not plan; "
                    f"planned: {self.planned[name]}. Remove or correct the stale entries.")
            return self._error(name, item_id, stage="declaration", cause=ParityInputError(text), text=text)
        try:
            result = self.suite_result(name)
        except Exception as exc:
            return self._error(name, item_id, stage="suite", cause=exc, text=_cause_text(name, exc),
                               known_gap=known_gap)
        produced = [c for c in result.checks if c.id == item_id]
        if not produced:
            text = (f"{item_id}: planned but not produced by the run of suite {name!r}.\n"
                    f"  produced: {[c.id for c in result.checks]}\n"
                    "  fix: the suite's plan and the runner disagree; a check that crashed is the usual cause")
            return self._error(name, item_id, stage="not_produced", cause=ParityInputError(text), text=text,
                               known_gap=known_gap)
        check = produced[0]
        if check.passed:
            return Outcome(check, True, check.summary, known_gap)
        from harness.report.review import review_message

        return Outcome(check, False, review_message(check, known_gap=known_gap), known_gap)

    def record_error(self, name: str, item_id: str, *, stage: str, cause: BaseException,
                     kind: str | None = None) -> CheckResult:
        """A shell crashed on an item whose result exists (stage ``check``): the report must say so."""
        if item_id in self.serving_ids.get(name, ()):
            check = error_check(item_id, stage=stage, cause=cause, text=_error_text(cause), kind=kind)
            self.served.setdefault(name, {"serving": None, "checks": {}})["checks"][item_id] = check.to_dict()
            return check
        return self._error(name, item_id, stage=stage, cause=cause, text=_error_text(cause), kind=kind).check

    # -- serving and cost gates -------------------------------------------------------------------------
    def _serving_outcome(self, name: str, item_id: str) -> Outcome:
        from harness.results import CheckResult as Check
        from harness.verdicts import Verdict

        if self.options.no_serving:  # not asked for, so not in `ran`: the report lists it as not run
            why = f"serving and cost gates skipped ({self.options.prefix}no-serving): not run, not passed"
            return Outcome(Check(id=item_id, kind=item_id.split("/", 1)[0], verdict=Verdict.INCONCLUSIVE,
                                 summary=why), False, why, skipped=why)
        self.ran.setdefault(name, set()).add(item_id)
        entry = self._serve(name)
        check = Check(**entry["checks"][item_id])
        known_gap = self.suites[name].known_gaps.get(item_id)
        if check.passed:
            return Outcome(check, True, check.summary, known_gap)
        return Outcome(check, False, check.message or check.summary, known_gap)

    def _serve(self, name: str) -> dict[str, Any]:
        """Run suite ``name``'s serving gates once per process (after its accuracy checks), keeping each
        gate's check, or one error check per gate when the suite or the measurement could not run."""
        entry = self.served.get(name)
        if entry is not None and entry.get("done"):
            return entry
        ids = self.serving_ids[name]
        entry = self.served.setdefault(name, {"serving": None, "checks": {}})
        entry["done"] = True
        try:
            self.suite_result(name)
        except Exception as exc:
            self._serving_errors(entry, ids, "suite", exc, _cause_text(name, exc))
            return entry
        kept = self._kept.pop(name, {})
        from harness.serving.suite_run import run_suite_serving

        try:
            if "pair" not in kept:
                raise ParityInputError(f"suite {name!r}: the run kept no pair to serve")
            serving, checks = run_suite_serving(self.suites[name].serving, kept["pair"], kept["frame"])
        except Exception as exc:  # a side that cannot be served, a gate the plan cannot measure
            self._serving_errors(entry, ids, "serving", exc, _error_text(exc))
            return entry
        entry["serving"] = serving
        for c in checks:
            entry["checks"].setdefault(c.id, c.to_dict())
        return entry

    @staticmethod
    def _serving_errors(entry: dict[str, Any], ids: list[str], stage: str, exc: BaseException,
                        text: str) -> None:
        for i in ids:
            entry["checks"].setdefault(i, error_check(i, stage=stage, cause=exc, text=text).to_dict())

    def _error(self, name: str, item_id: str, *, stage: str, cause: BaseException, text: str,
               known_gap: str | None = None, kind: str | None = None) -> Outcome:
        check = error_check(item_id, stage=stage, cause=cause, text=text, kind=kind)
        self.item_errors.setdefault(name, {})[item_id] = check.to_dict()
        return Outcome(check, False, text, known_gap)

    def _upgrade_outcome(self, suite: Suite) -> Outcome:
        from harness.upgrade.gate import run_upgrade_gate

        try:
            entry = run_upgrade_gate(suite, baseline_dir=self.options.baseline_dir, suite_file=self.files.get(suite.name),
                                     update=self.options.update_baseline, reason=self.options.reason,
                                     bisect=self.options.bisect_settings())
        except Exception as exc:  # no or a corrupt baseline, a probe that raised
            stage = "no_baseline" if _is_no_baseline(exc) else "upgrade_gate"
            out = self._error(suite.name, UPGRADE_ID, stage=stage, cause=exc, text=_error_text(exc), kind="upgrade")
            self.upgrades[suite.name] = {"upgrade": None, "check": out.check.to_dict()}
            return out
        self.upgrades[suite.name] = entry
        check = CheckResult(**entry["check"])
        if check.passed:
            return Outcome(check, True, check.summary)
        from harness.report.review import review_message

        return Outcome(check, False, review_message(check))

    # -- hand-over between processes (pytest-xdist) ------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        """What a worker hands the controller: JSON-able results, upgrade outcomes, which ids were
        collected, ran and errored (so the controller reports what ran, as a serial run does)."""
        return {
            "results": {n: r.to_dict() for n, r in sorted(self.results.items()) if not isinstance(r, BaseException)},
            "errors": {n: f"{type(r).__name__}: {r}" for n, r in sorted(self.results.items())
                       if isinstance(r, BaseException)},
            "headers": {n: self._suite_header(n) for n in sorted(self.suites)},
            "files": dict(sorted(self.files.items())),
            "cost": {n: r.cost for n, r in sorted(self.results.items()) if not isinstance(r, BaseException) and r.cost},
            "upgrades": dict(sorted(self.upgrades.items())),
            "planned": dict(sorted(self.planned.items())),
            "items": dict(sorted(self.items.items())),
            "ran": {n: sorted(ids) for n, ids in sorted(self.ran.items())},
            "item_errors": {n: dict(sorted(e.items())) for n, e in sorted(self.item_errors.items())},
            "deselected": self.deselected,
            "served": {n: {"serving": jsonable(e["serving"]),
                           "checks": {i: c for i, c in sorted(e["checks"].items())
                                      if i in self.ran.get(n, ())}}
                       for n, e in sorted(self.served.items())},
        }

    def receive(self, worker: str, payload: Mapping[str, Any]) -> None:
        self.received.append((worker, dict(payload)))

    def _suite_header(self, name: str) -> dict[str, Any]:
        suite, opt = self.suites[name], self.options
        return {
            "description": suite.description,
            "dataset": {"name": suite.dataset, "split": suite.split} if suite.dataset is not None else {},
            "seed": opt.seed, "sample": {"rows": opt.sample, "seed": opt.seed} if opt.sample else None,
            "known_gaps": dict(sorted(suite.known_gaps.items())),
        }

    # -- the end ----------------------------------------------------------------------------------------
    def finish(self, *, keyword: str | None = None, markexpr: str | None = None) -> Final:
        """Every process's results merged into the suite results to report, sorted by suite name, each
        round-tripped through JSON (a serial run takes the path an xdist run takes, so both write the
        same bytes). A suite lists the checks whose outcome was asked for (in the runner's order, an
        errored one replaced by its error), then errors of planned checks not produced, then the upgrade
        gate, then declaration errors; produced checks the plan did not foresee stay (they have no item,
        so if one fails the session fails: ``unplanned``). ``keyword``/``markexpr`` and ``deselected``
        (the most any process counted: each deselects the same) describe a pytest selection; with any,
        or with a collected id that did not run, the report's ``selection`` says what ran and the
        verdict is partial."""
        from harness.report import suite_result_from_dict

        payloads = [("local", json.loads(json.dumps(self.payload())))] + sorted(self.received, key=lambda p: p[0])
        merged: dict[str, dict[str, Any]] = {k: {} for k in ("results", "upgrades", "headers", "items",
                                                             "planned", "errors", "files", "cost", "served")}
        ran: dict[str, set[str]] = {}
        item_errors: dict[str, dict[str, dict[str, Any]]] = {}
        warnings: list[str] = []
        deselected = 0
        for worker, payload in payloads:
            deselected = max(deselected, int(payload.get("deselected", 0)))
            for name, data in payload.get("results", {}).items():
                if name in merged["results"] and merged["results"][name] != data:
                    warnings.append(f"suite {name!r}: two processes produced different results "
                                    f"(nondeterminism); reporting the first, {worker}'s differs")
            for key in merged:
                for name, value in payload.get(key, {}).items():
                    merged[key].setdefault(name, value)
            for name, ids in payload.get("ran", {}).items():
                ran.setdefault(name, set()).update(ids)
            for name, errors in payload.get("item_errors", {}).items():
                for item_id, check in errors.items():
                    item_errors.setdefault(name, {}).setdefault(item_id, check)
        items, planned_ids = merged["items"], merged["planned"]
        out: list[SuiteResult] = []
        unplanned: dict[str, list[str]] = {}
        crashed: set[str] = set()
        for name in sorted(set(ran) | set(merged["results"]) | set(merged["upgrades"])):
            did = ran.get(name, set())
            if not did and name not in merged["results"]:
                continue
            errors = item_errors.get(name, {})
            planned = planned_ids.get(name, [])
            header = merged["headers"].get(name, {})
            if name in merged["results"]:
                result = suite_result_from_dict(merged["results"][name])
                produced = {c.id for c in result.checks}
                checks = [CheckResult(**errors[c.id]) if c.id in errors else c for c in result.checks
                          if c.id in did or c.id not in planned]
                checks += [CheckResult(**errors[i]) for i in planned if i in errors and i not in produced and i in did]
                result.checks = checks
                gaps = result.known_gaps
                bad = [c.id for c in result.checks if c.id not in planned and is_failing(c, gaps)]
                if bad:
                    unplanned[name] = bad
            else:
                if name in merged["errors"]:  # its run raised: reported from its errors alone
                    crashed.add(name)
                result = SuiteResult(suite=name, description=header.get("description", ""),
                                     dataset=header.get("dataset", {}), seed=header.get("seed", self.options.seed),
                                     sample=header.get("sample"), known_gaps=header.get("known_gaps", {}),
                                     checks=[CheckResult(**errors[i]) for i in planned if i in errors and i in did])
            if name in merged["upgrades"] and UPGRADE_ID in did:
                entry = merged["upgrades"][name]
                result.upgrade = entry["upgrade"]
                result.checks.append(CheckResult(**entry["check"]))
            if DECLARATION_ID in errors and DECLARATION_ID in did:
                result.checks.append(CheckResult(**errors[DECLARATION_ID]))
            if result.checks:  # a suite none of whose checks ran is listed in selection.not_run instead
                out.append(result)
        not_run = {name: [i for i in ids if i not in ran.get(name, ())] for name, ids in sorted(items.items())}
        not_run = {name: ids for name, ids in not_run.items() if ids}
        selection = None
        if keyword or markexpr or deselected or not_run:
            total = sum(len(ids) for ids in items.values())
            selection = {"partial": bool(not_run), "keyword": keyword or None, "markexpr": markexpr or None,
                         "deselected": int(deselected), "planned": total,
                         "ran": total - sum(len(ids) for ids in not_run.values()), "not_run": not_run}
            skipped = {i for ids in self.serving_ids.values() for i in ids}
            if self.options.no_serving and any(i in skipped for ids in not_run.values() for i in ids):
                selection["no_serving"] = True  # the reason a reader is given, in neither shell's spelling
        served = {}
        for name, entry in sorted(merged["served"].items()):
            order = [i for i in items.get(name, []) if i in entry["checks"]]
            if order:  # the checks in their declared order; only gates that ran
                served[name] = {"serving": entry["serving"], "checks": [entry["checks"][i] for i in order]}
        return Final(results=out, selection=selection, errors=dict(sorted(merged["errors"].items())),
                     unplanned=unplanned, warnings=warnings, crashed=crashed, files=merged["files"],
                     cost=merged["cost"], served=served)

    def write_report(self, final: Final, directory: Path | str | None = None) -> dict[str, Path]:
        from harness.report import build_report, write_report

        directory = directory if directory is not None else self.options.report_dir
        if directory is None:
            raise ParityInputError("no report folder: pass --report DIR (pytest: --parity-report DIR)")
        return write_report(self.report(final), directory)

    def report(self, final: Final) -> dict[str, Any]:
        """The report document of ``final``: the same bytes whichever shell ran the session, except its
        ``measured`` section (cost per stage, serving measurements and gates: they measure a machine)."""
        from harness.report import build_report

        return build_report(final.results, selection=final.selection, suites=final.suites_folder,
                            measured=measured_of(final))


def measured_of(final: Final) -> dict[str, dict[str, Any]]:
    """suite -> {"cost": stage -> figures (the serving stage's per side included), "serving": entry | None,
    "checks": [...]}: what `harness.report.build_report` puts in the measured section."""
    out: dict[str, dict[str, Any]] = {}
    gaps = final.known_gaps
    for name in sorted(set(final.cost) | set(final.served)):
        served = final.served.get(name, {})
        cost = dict(final.cost.get(name, {}))
        cost.update(((served.get("serving") or {}).get("stage_cost")) or {})
        out[name] = {"cost": cost, "serving": served.get("serving"), "checks": list(served.get("checks", [])),
                     "known_gaps": gaps.get(name, {})}
    return out


def serving_table(final: Final) -> list[tuple[str, ...]]:
    """The serving gates both shells print after the verdict table: SUITE, GATE, VERDICT, SUMMARY (empty
    when no serving gate ran)."""
    rows = [("SUITE", "SERVING GATE", "VERDICT", "SUMMARY")]
    for name, entry in sorted(final.served.items()):
        gaps = final.known_gaps.get(name, {})
        for c in entry["checks"]:
            rows.append((name, c["id"], c["verdict"] + (" (known gap)" if c["id"] in gaps else ""), c["summary"]))
    return rows if len(rows) > 1 else []


def _is_no_baseline(exc: BaseException) -> bool:
    from harness.upgrade.baseline import NoBaselineError

    return isinstance(exc, NoBaselineError)


def verdict_table(final: Final) -> list[tuple[str, ...]]:
    """The per-suite table both shells print: SUITE, VERDICT, CHECKS, FAILING, INCONCLUSIVE, KNOWN GAPS,
    SAMPLE; a suite that could not run reads ERROR with its cause. FAILING counts `is_failing` checks
    (INCONCLUSIVE ones among them are also counted in their own column); KNOWN GAPS the checks a known
    gap covers, as report.json's ``counts.known_gaps`` (a gap naming no check of the run covers none;
    a serving gate's gap is marked in the serving table)."""
    rows = [("SUITE", "VERDICT", "CHECKS", "FAILING", "INCONCLUSIVE", "KNOWN GAPS", "SAMPLE")]
    for r in final.results:
        if r.suite in final.crashed:
            continue
        failing = [c for c in r.checks if is_failing(c, r.known_gaps)]
        rows.append((
            r.suite, r.verdict.value, str(len(r.checks)), str(len(failing)),
            str(sum(c.verdict.value == "INCONCLUSIVE" for c in failing)), str(sum(c.id in r.known_gaps for c in r.checks)),
            f"{r.sample['rows']} rows (seed {r.sample['seed']})" if r.sample else "-",
        ))
    for name, why in sorted(final.errors.items()):
        rows.append((name, "ERROR", "-", "-", "-", "-", why.splitlines()[0][:80] if why else "?"))
    return rows


def format_table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
