"""`parity baseline bisect`: which upgraded package produces each change the upgrade gate found.

    parity baseline bisect --suite S [--suites-dir DIR] [--baseline-dir DIR] [--venvs DIR]
                           [--package P ...] [--requirement REQ ...] [--freeze] [--pip-arg ARG ...]
                           [--json OUT] [--markdown OUT]

Checks the suite against its baseline here; when outputs CHANGED and several packages moved, builds
throwaway venvs (under --venvs, default $PARITY_UPGRADE_VENVS/bisect or /tmp/parity-upgrade-venvs/bisect)
with some packages back at the baseline's versions, reruns only the changed probes there (this
repository on PYTHONPATH) and names the smallest package set that produces each change
(`harness.upgrade.bisect`). Every environment also gets --requirement pins (the probes' other
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
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError

__all__ = ["add_bisect_parser", "run_bisect"]

# Runs in a throwaway venv: check the named probes of one suite against its baseline, print the
# CHANGED outputs as a JSON list. Passed with -c (no file to place, no shell).
_RERUN = """
import json, sys
from harness.discovery import find_suite_files
from harness.upgrade import ProbeSet, check_against_baseline
suite_name, suites_dir, baseline_dir, out, *probes = sys.argv[1:]
((file, suite),) = find_suite_files([suite_name], root=suites_dir)
chosen = ProbeSet(suite.name, source_file=file)
for name in probes:
    chosen.add(suite.probes[name])
result = check_against_baseline(suite.name, chosen, baseline_dir or None, suite_file=file)
with open(out, "w") as fh:
    json.dump(sorted(f"{f.probe}/{f.output}" for f in result.changed), fh)
"""


def add_bisect_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bisect`` to ``parity baseline``'s sub-parsers; dispatch ``"bisect"`` to `run_bisect`."""
    p = subparsers.add_parser("bisect", help="name the upgraded package that produces each change",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", action="append", required=True, help="the suite to bisect (one)")
    p.add_argument("--suites-dir", type=Path, metavar="DIR",
                   help="folder of suite files test_*.py (default $PARITY_SUITES_DIR or ./parity_suites)")
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


def _venvs(args: argparse.Namespace) -> Path:
    if args.venvs is not None:
        return args.venvs
    return Path(os.environ.get("PARITY_UPGRADE_VENVS", "/tmp/parity-upgrade-venvs")) / "bisect"


def _frozen(skip: set[str]) -> list[str]:
    """``name==version`` for every distribution installed here except ``skip``, pip and this project."""
    from importlib.metadata import distributions

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    skipped = {norm(s) for s in skip} | {"pip", "parity-harness"}
    pins = {norm(d.metadata["Name"]): f"{d.metadata['Name']}=={d.version}" for d in distributions()
            if d.metadata["Name"] and norm(d.metadata["Name"]) not in skipped}
    return [pins[k] for k in sorted(pins)]


def _rerun(suite: str, suites_dir: Path, baseline_dir: Path | None, probes: list[str]):
    repo_root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PARITY_GOLDEN_DIR",
                                                         "PARITY_BASELINE_DIR", "PARITY_NUMBA")}
    env.update(PYTHONPATH=str(repo_root), PYTHONHASHSEED="0")

    def rerun(python: Path) -> set[str]:
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "changed.json"
            proc = subprocess.run([str(python), "-c", _RERUN, suite, str(suites_dir),
                                   "" if baseline_dir is None else str(baseline_dir), str(out), *probes],
                                  capture_output=True, text=True, env=env, timeout=3600)
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
            return set(json.loads(out.read_text()))

    return rerun


def run_bisect(args: argparse.Namespace) -> int:
    from harness.cli import write_json_output
    from harness.discovery import default_suites_dir, find_suite_files
    from harness.files import write_atomic
    from harness.upgrade.baseline import check_against_baseline
    from harness.upgrade.bisect import bisect, bisect_to_markdown

    if len(args.suite) != 1:
        raise ParityInputError(f"parity baseline bisect: --suite names one suite, got {args.suite}", argument="--suite")
    suites_dir = (args.suites_dir or default_suites_dir()).resolve()
    ((file, suite),) = find_suite_files(args.suite, root=suites_dir)
    if suite.probes is None:
        raise ParityInputError(f"suite {suite.name!r} declares no probes: there is nothing to bisect", argument="--suite")
    baseline_dir = None if args.baseline_dir is None else args.baseline_dir.resolve()
    here = check_against_baseline(suite.name, suite.probes, baseline_dir, suite_file=file)
    changed_outputs = sorted(f"{f.probe}/{f.output}" for f in here.changed)
    changed = dict(here.changed_packages)
    if args.package:
        unknown = sorted(set(args.package) - set(changed))
        if unknown:
            raise ParityInputError(f"--package {unknown}: not among the changed packages {sorted(changed)}",
                                   argument="--package", value=unknown)
        changed = {p: changed[p] for p in args.package}
    if not changed_outputs:
        print(f"parity baseline bisect: suite {suite.name!r}: nothing changed; nothing to bisect")
        return 0
    if not changed:
        print(f"parity baseline bisect: suite {suite.name!r}: {len(changed_outputs)} outputs changed but no package "
              f"version did: the change comes from elsewhere ({', '.join(here.environment_diffs) or 'not recorded'})")
        return 1
    probes = sorted({o.split("/", 1)[0] for o in changed_outputs})
    requirements = list(args.requirement) + (_frozen(set(changed) | {r.split("==")[0] for r in args.requirement})
                                             if args.freeze else [])
    result = bisect(changed, _rerun(suite.name, suites_dir, baseline_dir, probes), venv_root=_venvs(args),
                    pip_args=args.pip_arg, requirements=requirements, no_deps=args.freeze, outputs=changed_outputs,
                    log=lambda line: print(line, file=sys.stderr))
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
