"""`parity baseline`: record, check, accept and list the upgrade gate's baselines.

    parity baseline record  [--suite S ...] [--suites-dir DIR] [--out DIR] [--reason TEXT]
    parity baseline check   [--suite S ...] [--suites-dir DIR] [--baseline DIR] [--json OUT] [--markdown OUT] [--all-seeds]
    parity baseline accept  --suite S --reason TEXT [--suites-dir DIR] [--baseline DIR]
    parity baseline history [--suite S ...] [--baseline DIR] [--json]

Suites are read from --suites-dir (default $PARITY_SUITES_DIR or ./parity_suites); baselines live
under --out / --baseline (default $PARITY_BASELINE_DIR or ./golden_data/baselines), the same places
the pytest plugin uses when run from the same directory.

Exit codes of ``check``: 0 nothing changed beyond noise, 1 a behaviour changed, 2 could not run
(no baseline, bad suite, a probe that is malformed). Suites without probes are skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


BASELINE_HELP = "baselines root directory (default $PARITY_BASELINE_DIR or ./golden_data/baselines)"
SUITES_HELP = "folder of suite files test_*.py (default $PARITY_SUITES_DIR or ./parity_suites)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("baseline", help="upgrade gate: record / check / accept behaviour baselines",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="baseline_command", metavar="ACTION")
    # Dispatch here rather than rely on sub-parser defaults overriding this parser's (argparse changed
    # that precedence between Python versions).
    parser.set_defaults(func=lambda args: _dispatch(args, parser))

    rec = sub.add_parser("record", help="run every probe (all seeds) and write the baseline")
    rec.add_argument("--suite", action="append", help="suite name (repeatable; default: every suite with probes)")
    rec.add_argument("--suites-dir", type=Path, metavar="DIR", help=SUITES_HELP)
    rec.add_argument("--out", type=Path, help=BASELINE_HELP)
    rec.add_argument("--reason", help="why; required when a baseline already exists")

    chk = sub.add_parser("check", help="compare this environment with the recorded baseline")
    chk.add_argument("--suite", action="append", help="suite name (repeatable; default: every suite with probes)")
    chk.add_argument("--suites-dir", type=Path, metavar="DIR", help=SUITES_HELP)
    chk.add_argument("--baseline", type=Path, help=BASELINE_HELP)
    chk.add_argument("--json", type=Path, dest="json_out", help="write the findings as JSON here")
    chk.add_argument("--markdown", type=Path, help="write the findings as Markdown here")
    chk.add_argument("--all-seeds", action="store_true", help="run every seed of learning probes (default: the first)")

    acc = sub.add_parser("accept", help="accept the current behaviour: re-record with a reason, keep history")
    acc.add_argument("--suite", required=True, action="append", help="suite name (repeatable)")
    acc.add_argument("--suites-dir", type=Path, metavar="DIR", help=SUITES_HELP)
    acc.add_argument("--reason", required=True, help="why the change is accepted (kept in the history)")
    acc.add_argument("--baseline", type=Path, help=BASELINE_HELP)

    his = sub.add_parser("history", help="list recorded and accepted changes")
    his.add_argument("--suite", action="append", help="suite name (repeatable; default: all)")
    his.add_argument("--baseline", type=Path, help=BASELINE_HELP)
    his.add_argument("--json", action="store_true", dest="as_json", help="print the entries as JSON lines")


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    handlers = {"record": _record, "check": _check, "accept": _accept, "history": _history}
    if args.baseline_command not in handlers:
        parser.print_help(sys.stderr)
        return 2
    return handlers[args.baseline_command](args)


def _suites_with_probes(names: list[str] | None, suites_dir: Path | None) -> list[Any]:
    from harness.discovery import find_suites

    chosen = []
    for suite in find_suites(names, root=suites_dir):
        if suite.probes is None:
            print(f"note: suite {suite.name!r} declares no probes; skipped", file=sys.stderr)
            continue
        from harness.upgrade.probes import ProbeSet

        if not isinstance(suite.probes, ProbeSet):
            from harness.errors import ParityInputError

            raise ParityInputError(f"suite {suite.name!r}: probes must be a harness.upgrade.ProbeSet, got {type(suite.probes).__name__}")
        if suite.probes.suite != suite.name:
            from harness.errors import ParityInputError

            raise ParityInputError(f"suite {suite.name!r}: its ProbeSet is named {suite.probes.suite!r}; use ProbeSet({suite.name!r})")
        chosen.append(suite)
    if names and not chosen:
        from harness.errors import ParityInputError

        raise ParityInputError(f"none of the suites {names} declares probes")
    return chosen


def _record(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import record_baseline

    suites = _suites_with_probes(args.suite, args.suites_dir)
    for suite in suites:
        path = record_baseline(suite.probes, root=args.out, reason=args.reason)
        print(f"recorded {suite.name}: {len(suite.probes)} probes -> {path}")
    if not suites:
        print("no suite declares probes; nothing recorded", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import check_against_baseline
    from harness.upgrade.findings import findings_to_markdown

    suites = _suites_with_probes(args.suite, args.suites_dir)
    if not suites:
        print("parity baseline check: could not run: no suite declares probes, so there is nothing to check", file=sys.stderr)
        return 2
    results = [check_against_baseline(s.name, s.probes, args.baseline, all_seeds=args.all_seeds) for s in suites]
    if args.json_out:
        doc = {"schema_version": "1.0", "verdict": "CHANGED" if any(r.changed for r in results) else "UNCHANGED",
               "suites": [r.to_dict() for r in results]}
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    markdown = findings_to_markdown(results)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    return 1 if any(r.changed for r in results) else 0


def _accept(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import accept_baseline

    for suite in _suites_with_probes(args.suite, args.suites_dir):
        path, accepted = accept_baseline(suite.probes, reason=args.reason, root=args.baseline)
        print(f"accepted {suite.name}: {len(accepted)} finding(s) -> {path}")
        for f in accepted:
            print(f"  {f.outcome.value:<12} {f.category:<13} {f.probe}/{f.output}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from harness.upgrade.baseline import iter_suite_dirs, read_history

    names = args.suite or [p.name for p in iter_suite_dirs(args.baseline)]
    for name in names:
        for entry in read_history(name, root=args.baseline):
            if args.as_json:
                print(json.dumps(entry, sort_keys=True))
                continue
            changed = [f"{f['probe']}/{f['output']}" for f in entry.get("findings_accepted", []) if f["outcome"] == "CHANGED"]
            pkgs = ", ".join(f"{p} {a} -> {b}" for p, (a, b) in (entry.get("changed_packages") or {}).items())
            print(f"{entry['when']}  {name}  {entry['action']:<6}  {entry['reason']}")
            if pkgs:
                print(f"    packages: {pkgs}")
            if changed:
                print(f"    accepted changes: {', '.join(changed)}")
    return 0
