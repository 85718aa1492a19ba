"""``parity report``: re-render a saved report.json as HTML and Markdown.

    parity report out/report.json --html review.html --markdown review.md
    parity report out/report.json                  Markdown on stdout (e.g. for a PR comment)

The document is validated against the report schema first; an invalid one exits 2 naming the JSON path
of the problem, so a hand-edited or truncated report never renders as if it were sound. Then every
stored verdict is re-derived from the checks in the same file (each suite's from its gated checks, the
report's from its suites, the counts, and a check claiming EQUIVALENT against its own interval, margin
or mismatch count); a file that contradicts itself exits 2 naming the suite and check, and nothing is
written. It is refused rather than re-derived and rendered: a file that disagrees with itself cannot
say which half is true, and it must never render as a pass.
Reports of schema 1.0 (before the suites' commit was recorded) still render.

A sound file is rendered whatever its verdict, and the command then exits as the run that wrote it did:
0 every gated check (and serving gate) passed, 1 one is failing, 2 one records an error that prevented
a judgement (known gaps excepted).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="render a saved report.json as HTML and/or Markdown",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", metavar="JSON", help="a report.json written by `parity run` or `pytest --parity-report`")
    p.add_argument("--html", metavar="OUT", default=None, help="write the HTML report to OUT")
    p.add_argument("--markdown", metavar="OUT", default=None, help="write the Markdown report to OUT")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from harness.report import load_report, render_html, render_markdown
    from harness.report.build import write_text_atomic

    doc = load_report(args.json)  # ParityInputError (exit 2): the schema path, or the contradicting suite/check
    if args.html:
        write_text_atomic(Path(args.html), render_html(doc))
    if args.markdown:
        write_text_atomic(Path(args.markdown), render_markdown(doc))
    if not args.html and not args.markdown:
        sys.stdout.write(render_markdown(doc))
    from harness.session import report_exit_status

    return report_exit_status(doc)  # as the run that wrote it exited: 0 pass, 1 failing, 2 no judgement
