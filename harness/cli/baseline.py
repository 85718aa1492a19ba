"""`parity baseline`: record, check, accept and list the upgrade gate's baselines.

    parity baseline record  --reason TEXT [--suite S ...] [--suites-dir DIR] [--baseline-dir DIR]
    parity baseline check   [--suite S ...] [--suites-dir DIR] [--baseline-dir DIR] [--json OUT] [--markdown OUT] [--all-seeds]
    parity baseline accept  --suite S --reason TEXT [--suites-dir DIR] [--baseline-dir DIR]
    parity baseline history [--suite S ...] [--suites-dir DIR] [--baseline-dir DIR] [--json]
    parity baseline bisect  --suite S [--suites-dir DIR] [--baseline-dir DIR] [--venvs DIR] [--package P ...]
                            [--requirement REQ ...] [--freeze] [--pip-arg ARG ...] [--json OUT] [--markdown OUT]

Suites are read from --suites-dir (default $PARITY_SUITES_DIR or ./parity_suites). Each suite's
baseline lives in --baseline-dir (also spelled --out / --baseline), else $PARITY_BASELINE_DIR, else
baselines/<suite>/ next to its suite file: the places the pytest plugin uses, from any directory.

Exit codes: 0 nothing changed beyond noise; 1 a behaviour changed; 2 could not judge: a suite with no
baseline (NO_BASELINE, with the command that records it), an unreadable baseline (named), a bad suite
or a malformed probe. Every suite is checked and reported before the exit code is decided.
Suites without probes are skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import ParityError, ParityInputError

__all__ = ["register"]


BASELINE_HELP = ("folder of the upgrade-gate baselines, one folder per suite inside (default $PARITY_BASELINE_DIR, "
                 "else baselines/ next to each suite file)")
SUITES_HELP = "folder of suite files test_*.py, subfolders included (default $PARITY_SUITES_DIR or ./parity_suites)"
REASON_HELP = "why (kept in the history a release review reads); required, not blank"


def _add_common(p: argparse.ArgumentParser, *, suites: bool = True, names: str = "suite name (repeatable; default: every suite with probes)") -> None:
    p.add_argument("--suite", action="append", help=names)
    if suites:
        p.add_argument("--suites-dir", type=Path, metavar="DIR", help=SUITES_HELP)
    # --out (record) and --baseline (the others) are the older spellings of --baseline-dir.
    p.add_argument("--baseline-dir", "--out", "--baseline", dest="baseline_dir", type=Path, metavar="DIR", help=BASELINE_HELP)
    # SUPPRESS: when absent here, the top-level `parity --verbose` stays as parsed.
    p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show TensorFlow's native log lines and tracebacks of internal errors")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("baseline", help="upgrade gate: record / check / accept behaviour baselines",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="baseline_command", metavar="ACTION")
    # Dispatch here rather than rely on sub-parser defaults overriding this parser's (argparse changed
    # that precedence between Python versions).
    parser.set_defaults(func=lambda args: _dispatch(args, parser))

    rec = sub.add_parser("record", help="run every probe (all seeds) and write the baseline")
    _add_common(rec)
    rec.add_argument("--reason", required=True, help=REASON_HELP)

    chk = sub.add_parser("check", help="compare this environment with the recorded baseline")
    _add_common(chk)
    chk.add_argument("--json", type=Path, dest="json_out", help="write the findings as JSON here")
    chk.add_argument("--markdown", type=Path, help="also write the findings as Markdown to this file (they are printed to stdout either way; to stderr with --json -)")
    chk.add_argument("--all-seeds", action="store_true", help="run every seed of learning probes (default: the first)")

    acc = sub.add_parser("accept", help="accept the current behaviour: re-record with a reason, keep history")
    _add_common(acc)
    acc.set_defaults(suite_required=True)
    acc.add_argument("--reason", required=True, help=REASON_HELP)

    his = sub.add_parser("history", help="list recorded and accepted changes")
    _add_common(his, names="suite name (repeatable; default: all)")
    his.add_argument("--json", action="store_true", dest="as_json", help="print the entries as JSON lines")

    from harness.cli.bisect import add_bisect_parser

    add_bisect_parser(sub)


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.cli.bisect import run_bisect

    handlers = {"record": _record, "check": _check, "accept": _accept, "history": _history, "bisect": run_bisect}
    if args.baseline_command not in handlers:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "suite_required", False) and not args.suite:
        raise ParityInputError(f"parity baseline {args.baseline_command} needs --suite S: accepting is a decision per suite")
    return handlers[args.baseline_command](args)


def _suites_with_probes(names: list[str] | None, suites_dir: Path | None) -> list[tuple[Any, Path]]:
    """(suite, its file) for the named suites, or every suite with probes; a named one without: error."""
    from harness.discovery import find_suite_files
    from harness.upgrade.probes import ProbeSet

    chosen = []
    for file, suite in find_suite_files(names, root=suites_dir):
        if suite.probes is None:
            print(f"note: suite {suite.name!r} declares no probes; skipped", file=sys.stderr)
            continue
        if not isinstance(suite.probes, ProbeSet):
            raise ParityInputError(f"suite {suite.name!r}: probes must be a harness.upgrade.ProbeSet, got {type(suite.probes).__name__}")
        if suite.probes.suite != suite.name:
            raise ParityInputError(f"suite {suite.name!r}: its ProbeSet is named {suite.probes.suite!r}; use ProbeSet({suite.name!r})")
        chosen.append((suite, file))
    if names and not chosen:
        raise ParityInputError(f"none of the suites {names} declares probes")
    return chosen


def _record(args: argparse.Namespace) -> int:
    from harness.options import check_reason
    from harness.upgrade.baseline import record_baseline

    reason = check_reason(args.reason, needed_by="recording a baseline")
    suites = _suites_with_probes(args.suite, args.suites_dir)
    for suite, file in suites:
        path = record_baseline(suite.probes, root=args.baseline_dir, reason=reason, suite_file=file)
        print(f"recorded {suite.name}: {len(suite.probes)} probes -> {path}")
    if not suites:
        print("no suite declares probes; nothing recorded", file=sys.stderr)
    return 0


def _unjudged(suite: str, exc: ParityError) -> dict[str, Any]:
    from harness.upgrade.baseline import BaselineFileError, NoBaselineError

    entry: dict[str, Any] = {"suite": suite, "verdict": "ERROR", "message": str(exc)}
    if isinstance(exc, NoBaselineError):
        entry.update(verdict=exc.state, baseline=str(exc.path), record_command=exc.command,
                     pytest_command=exc.pytest_command)
    elif isinstance(exc, BaselineFileError):
        entry.update(verdict=exc.state, file=str(exc.path))
    return entry


def _check(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import check_against_baseline
    from harness.upgrade.findings import findings_to_markdown

    suites = _suites_with_probes(args.suite, args.suites_dir)
    if not suites:
        print("parity baseline check: could not run: no suite declares probes, so there is nothing to check", file=sys.stderr)
        return 2
    results, unjudged = [], []
    for suite, file in suites:
        try:
            results.append(check_against_baseline(suite.name, suite.probes, args.baseline_dir,
                                                  all_seeds=args.all_seeds, suite_file=file))
        except ParityError as exc:  # this suite cannot be judged; the others still are
            unjudged.append(_unjudged(suite.name, exc))
            print(f"parity baseline check: suite {suite.name!r}: {unjudged[-1]['verdict']}: {exc}", file=sys.stderr)
    changed = any(r.changed for r in results)
    verdict = unjudged[0]["verdict"] if unjudged else "CHANGED" if changed else "UNCHANGED"
    if args.json_out:
        doc = {"schema_version": "1.0", "verdict": verdict,
               "suites": [r.to_dict() for r in results] + unjudged}
        text = json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n"
        if str(args.json_out) == "-":
            sys.stdout.write(text)
        else:
            _write_text(args.json_out, text, flag="--json")
    markdown = findings_to_markdown(results, unjudged=unjudged)
    if args.markdown:
        _write_text(args.markdown, markdown, flag="--markdown")
    print(markdown, end="", file=sys.stderr if str(args.json_out) == "-" else sys.stdout)
    return 2 if unjudged else 1 if changed else 0


def _write_text(path: Path, text: str, *, flag: str) -> None:
    from harness.files import write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ParityInputError(f"{flag} {path}: cannot write ({exc})") from None


def _accept(args: argparse.Namespace) -> int:
    from harness.options import check_reason
    from harness.upgrade.baseline import accept_baseline

    reason = check_reason(args.reason, needed_by="accepting a change")
    for suite, file in _suites_with_probes(args.suite, args.suites_dir):
        path, accepted = accept_baseline(suite.probes, reason=reason, root=args.baseline_dir, suite_file=file)
        print(f"accepted {suite.name}: {len(accepted)} finding(s) -> {path}")
        for f in accepted:
            print(f"  {f.outcome.value:<12} {f.category:<13} {f.probe}/{f.output}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import default_baseline_root, iter_suite_dirs, read_history

    root = args.baseline_dir or (Path(os.environ["PARITY_BASELINE_DIR"]) if os.environ.get("PARITY_BASELINE_DIR") else None)
    if root is not None:
        where = [(name, root) for name in (args.suite or [p.name for p in iter_suite_dirs(root)])]
    else:
        where = [(s.name, default_baseline_root(suite_file=f)) for s, f in _suites_with_probes(args.suite, args.suites_dir)]
    for name, base in where:
        for entry in read_history(name, root=base):
            if args.as_json:
                print(json.dumps(entry, sort_keys=True))
                continue
            changed = [f"{f.get('probe')}/{f.get('output')}" for f in entry.get("findings_accepted") or []
                       if isinstance(f, dict) and f.get("outcome") == "CHANGED"]
            pkgs = ", ".join(f"{p} {v[0]} -> {v[1]}" for p, v in (entry.get("changed_packages") or {}).items())
            print(f"{entry['when']}  {name}  {entry['action']:<6}  {entry['reason']}")
            if pkgs:
                print(f"    packages: {pkgs}")
            if changed:
                print(f"    accepted changes: {', '.join(changed)}")
    return 0
