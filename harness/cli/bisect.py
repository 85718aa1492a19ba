"""`parity baseline bisect`: which upgraded package produces each change the upgrade gate found.

    parity baseline bisect --suite S [--suites-dir DIR] [--baseline-dir DIR] [--venvs DIR]
                           [--package P ...] [--requirement REQ ...] [--freeze] [--pip-arg ARG ...]
                           [--json OUT] [--markdown OUT]

Checks the suite against its baseline here; when outputs CHANGED and several packages moved, builds
throwaway venvs (under --venvs, default $PARITY_UPGRADE_VENVS/bisect or /tmp/parity-upgrade-venvs/bisect)
with some packages back at the baseline's versions, reruns only the changed probes there (this
repository on PYTHONPATH) and names the smallest package set that produces each change
(`harness.upgrade.bisect.bisect_check`, which `parity run --bisect` / `pytest --parity-bisect` also run
inside the upgrade gate). Every environment also gets --requirement pins (the probes' other
dependencies); --freeze pins every other distribution installed here at its version instead and
installs with --no-deps (safe then: the set is complete; `pip check` verifies it). --pip-arg passes
options to pip (e.g. --pip-arg=--find-links=/wheels --pip-arg=--no-index for offline work).

Exit codes: 0 nothing changed; 1 behaviour changed (the bisection says which packages produce it);
2 could not judge: no baseline, a bad suite, or the environment with the current versions could not
be built (what pip could not install is printed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError

__all__ = ["add_bisect_parser", "run_bisect"]


def add_bisect_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bisect`` to ``parity baseline``'s sub-parsers; dispatch ``"bisect"`` to `run_bisect`."""
    p = subparsers.add_parser("bisect", help="name the upgraded package that produces each change",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", action="append", required=True, help="the suite to bisect (one)")
    p.add_argument("--suites-dir", type=Path, metavar="DIR",
                   help="folder of suite files test_*.py, subfolders included (default $PARITY_SUITES_DIR or ./parity_suites)")
    p.add_argument("--baseline-dir", "--baseline", dest="baseline_dir", type=Path, metavar="DIR",
                   help="folder of the upgrade-gate baselines (default $PARITY_BASELINE_DIR, else baselines/ "
                        "next to the suite file)")
    p.add_argument("--venvs", type=Path, metavar="DIR", help="where the throwaway venvs go (reused between runs)")
    p.add_argument("--package", action="append", metavar="P", help="bisect over these changed packages only")
    p.add_argument("--requirement", action="append", default=[], metavar="REQ",
                   help="also install REQ (name==version) in every environment (repeatable)")
    p.add_argument("--freeze", action="store_true",
                   help="pin every other distribution installed here at its version (pip --no-deps + pip check)")
    p.add_argument("--pip-arg", action="append", default=[], metavar="ARG", help="pass ARG to pip install")
    p.add_argument("--json", type=Path, dest="json_out", help="write the bisection as JSON here ('-': stdout)")
    p.add_argument("--markdown", type=Path, help="write the bisection as Markdown here")
    return p


def run_bisect(args: argparse.Namespace) -> int:
    from harness.cli import write_json_output
    from harness.discovery import default_suites_dir, find_suite_files
    from harness.files import write_atomic
    from harness.upgrade.baseline import check_against_baseline
    from harness.upgrade.bisect import BisectSettings, bisect_check, bisect_to_markdown

    if len(args.suite) != 1:
        raise ParityInputError(f"parity baseline bisect: --suite names one suite, got {args.suite}", argument="--suite")
    suites_dir = (args.suites_dir or default_suites_dir()).resolve()
    ((file, suite),) = find_suite_files(args.suite, root=suites_dir)
    if suite.probes is None:
        raise ParityInputError(f"suite {suite.name!r} declares no probes: there is nothing to bisect", argument="--suite")
    baseline_dir = None if args.baseline_dir is None else args.baseline_dir.resolve()
    here = check_against_baseline(suite.name, suite.probes, baseline_dir, suite_file=file)
    settings = BisectSettings(venvs=args.venvs, packages=tuple(args.package or ()),
                              requirements=tuple(args.requirement), freeze=args.freeze, pip_args=tuple(args.pip_arg))
    try:
        result = bisect_check(suite.name, here, suite_file=file, baseline_dir=baseline_dir, settings=settings,
                              log=lambda line: print(line, file=sys.stderr))
    except ParityInputError as exc:
        raise ParityInputError(str(exc).replace("bisect packages", "--package", 1), argument="--package") from None
    if result is None and not here.changed:
        print(f"parity baseline bisect: suite {suite.name!r}: nothing changed; nothing to bisect")
        return 0
    if result is None:
        print(f"parity baseline bisect: suite {suite.name!r}: {len(here.changed)} outputs changed but no package "
              f"version did: the change comes from elsewhere ({', '.join(here.environment_diffs) or 'not recorded'})")
        return 1
    markdown = bisect_to_markdown(result)
    if args.markdown:
        try:
            write_atomic(args.markdown, markdown.encode())
        except OSError as exc:
            raise ParityInputError(f"--markdown {args.markdown}: cannot write: {exc}", argument="--markdown") from None
    if args.json_out:
        write_json_output(str(args.json_out),
                          json.dumps({"suite": suite.name, **result.to_dict()}, indent=1, allow_nan=False) + "\n")
    print(markdown, end="", file=sys.stderr if str(args.json_out) == "-" else sys.stdout)
    return 2 if not result.outputs else 1
