"""``parity run``: run parity suites without pytest and print a verdict table.

    parity run                          every suite under $PARITY_SUITES_DIR or ./parity_suites
    parity run ctr_logreg --sample 5000 a seeded row sample (fast local runs; marked in the report)
    parity run --report out/ --json -   report.json/.md/.html into out/, the document on stdout

Exit codes: 0 every suite EQUIVALENT; 1 a suite NOT_EQUIVALENT or INCONCLUSIVE (not shown to be at
parity), or a serving/cost gate not EQUIVALENT; 2 usage or infrastructure error (unknown suite, bad data, a side that could not score, no or an
unreadable baseline). A suite that cannot run (its data, its pair factory, a side) is reported with
each check as an error and the other suites still run; a mistake in a suite's declaration (an unknown
metric, dataset or column) stops the run before anything trains, as a collection error does under pytest.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import ParityInputError

__all__ = ["register"]


def register(subparsers) -> None:
    from harness.options import add_to_argparse

    p = subparsers.add_parser("run", help="run parity suites without pytest; print verdicts",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suite names (default: all suites found)")
    p.add_argument("--suites-dir", type=Path, default=None, metavar="DIR",
                   help="folder of suite files test_*.py, subfolders included (default: $PARITY_SUITES_DIR or ./parity_suites)")
    add_to_argparse(p)  # --report, --seed, --sample, --baseline-dir, --update-baseline, --reason (pytest: --parity-*)
    p.add_argument("--json", metavar="OUT", default=None, help="write the report document to OUT ('-': stdout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown when stderr is a terminal)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from harness.cli import write_json_output
    from harness.discovery import find_suite_files
    from harness.options import OPTIONS, RunOptions
    from harness.progress import enabled as progress_enabled
    from harness.report import dumps_report
    from harness.session import Session, format_table, serving_table, verdict_table

    options = RunOptions.from_values({o.dest: getattr(args, o.dest) for o in OPTIONS}, base=Path.cwd(), prefix="--")
    found = find_suite_files(args.suites or None, root=args.suites_dir)
    if not found:
        raise ParityInputError("no suites found (files test_*.py exporting SUITE); see --suites-dir")
    session = Session(options)
    out = sys.stderr if args.json == "-" else sys.stdout  # keep stdout pure JSON with --json -
    plan = [(suite, session.collect(suite, where=path)) for path, suite in found]  # every declaration first
    reviews = []
    with progress_enabled(not args.no_progress and sys.stderr.isatty()):
        for suite, ids in plan:
            failed = [o for o in (session.outcome(suite.name, i) for i in ids)
                      if not o.passed and o.known_gap is None and o.skipped is None]
            if isinstance(session.results.get(suite.name), BaseException):  # one cause, said once
                print(f"parity run: {failed[0].text}", file=sys.stderr)
                failed = [o for o in failed if o.check.details.get("error", {}).get("stage") != "suite"]
            reviews += [f"[{suite.name}] {o.text}" for o in failed]
    final = session.finish()
    print("\n".join(format_table(verdict_table(final))), file=out)
    served = serving_table(final)  # measured: the report keeps these gates in its measured section
    if served:
        print("\n" + "\n".join(format_table(served)), file=out)
    if options.no_serving and any(session.serving_ids.values()):
        print("serving and cost gates skipped (--no-serving): the report lists them as not run", file=out)
    for review in reviews:
        print("\n" + review, file=out)
    doc = session.report(final)
    if options.report_dir is not None:
        paths = session.write_report(final)
        print(f"report: {paths['html'].parent}/report.{{json,md,html}}", file=sys.stderr)
    if args.json:
        write_json_output(args.json, dumps_report(doc))
    return final.exit_status
