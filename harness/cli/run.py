"""``parity run``: run parity suites without pytest and print a verdict table.

    parity run                          every suite under $PARITY_SUITES_DIR or ./parity_suites
    parity run ctr_logreg --sample 5000 a seeded row sample (fast local runs; marked in the report)
    parity run --report out/ --json -   report.json/.md/.html into out/, the document on stdout

Exit codes: 0 every suite EQUIVALENT; 1 a suite NOT_EQUIVALENT or INCONCLUSIVE (not shown to be at
parity); 2 usage or infrastructure error (unknown suite, bad data, a side that could not score) -- the
other suites still run, so one broken suite does not hide the others' results.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from harness.errors import ParityError, ParityInputError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run parity suites without pytest; print verdicts",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suite names (default: all suites found)")
    p.add_argument("--suites-dir", type=Path, default=None, metavar="DIR",
                   help="folder of suite files test_*.py (default: $PARITY_SUITES_DIR or ./parity_suites)")
    p.add_argument("--report", metavar="DIR", default=None, help="write report.json, report.md, report.html into DIR")
    p.add_argument("--json", metavar="OUT", default=None, help="write the report document to OUT ('-': stdout)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (bootstrap, sample); default 0")
    p.add_argument("--sample", type=int, default=None, metavar="N", help="score a seeded sample of N rows per suite")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown when stderr is a terminal)")
    p.set_defaults(func=_run)


def _table(doc: dict) -> str:
    rows = [("SUITE", "VERDICT", "CHECKS", "FAILING", "SAMPLE")]
    for s in doc["suites"]:
        gaps = s["known_gaps"]
        failing = sum(1 for c in s["checks"] if c["gated"] and c["verdict"] != "EQUIVALENT" and c["id"] not in gaps)
        sample = f"{s['sample']['rows']} rows (seed {s['sample']['seed']})" if s["sample"] else "-"
        rows.append((s["suite"], s["verdict"], str(len(s["checks"])), str(failing), sample))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _errored(suite, cause: BaseException, text: str, args: argparse.Namespace):
    """A suite that could not run stays in the report: each check it plans, as an error (stage suite),
    as the pytest plugin reports it."""
    from harness.results import SuiteResult, error_check

    return SuiteResult(
        suite=suite.name, description=suite.description, dataset={"name": suite.dataset, "split": suite.split},
        seed=args.seed, sample={"rows": args.sample, "seed": args.seed} if args.sample else None,
        known_gaps=dict(sorted(suite.known_gaps.items())),
        checks=[error_check(i, stage="suite", cause=cause, text=text) for i in suite.plan()],
    )


def _run(args: argparse.Namespace) -> int:
    from harness.cli import write_json_output
    from harness.discovery import find_suites
    from harness.report import build_report, dumps_report, write_report
    from harness.report.review import review_message
    from harness.runner import run_suite

    if args.sample is not None and args.sample <= 0:
        raise ParityInputError(f"--sample must be a positive number of rows, got {args.sample}")
    suites = find_suites(args.suites or None, root=args.suites_dir)
    if not suites:
        raise ParityInputError("no suites found (files test_*.py exporting SUITE); see --suites-dir")
    progress = not args.no_progress and sys.stderr.isatty()
    results, broken = [], []
    for suite in suites:
        try:
            results.append(run_suite(suite, sample=args.sample, seed=args.seed, progress=progress))
        except ParityError as exc:
            broken.append(suite.name)
            print(f"parity run: suite {suite.name!r} could not run: {exc}", file=sys.stderr)
            results.append(_errored(suite, exc, str(exc), args))
        except Exception as exc:  # a crash in a suite's own code (pair factory, a side): infrastructure, exit 2
            broken.append(suite.name)
            text = traceback.format_exc()
            print(f"parity run: suite {suite.name!r} crashed:\n{text}", file=sys.stderr)
            results.append(_errored(suite, exc, text, args))
    doc = build_report(results)
    out = sys.stderr if args.json == "-" else sys.stdout  # keep stdout pure JSON with --json -
    print(_table(doc), file=out)
    for s in results:
        for check in s.checks:
            if not check.passed and check.id not in s.known_gaps and "error" not in check.details:
                print(f"\n[{s.suite}] " + review_message(check), file=out)
    if args.report:
        paths = write_report(doc, args.report)
        print(f"report: {paths['html'].parent}/report.{{json,md,html}}", file=sys.stderr)
    if args.json:
        write_json_output(args.json, dumps_report(doc))
    if broken:
        print(f"parity run: {len(broken)} suite(s) could not run: {broken}", file=sys.stderr)
        return 2
    return 0 if doc["verdict"] == "EQUIVALENT" else 1
