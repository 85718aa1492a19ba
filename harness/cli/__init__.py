"""`parity` command line: one sub-command module per noun, registered below.

Exit codes (also in the README): 0 all parity holds / nothing changed; 1 a parity failure or a behaviour
change; 2 usage or infrastructure error (bad input, missing file, a side that could not score).
Each sub-command module exposes ``register(subparsers)`` which adds its parser and sets
``func=handler``; a handler returns the exit code. Modules are imported here, but each imports its
heavy dependencies (pandas, TensorFlow) inside its handler so ``parity --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from harness.errors import ParityError, ParityInputError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

# Sub-command modules, in the order `parity --help` lists them.
_COMMANDS = ("run", "compare", "golden", "baseline", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Parity validation for ML platform migrations and library upgrades.",
        epilog="Exit codes: 0 parity holds / nothing changed, 1 parity failure or behaviour change, "
        "2 usage or infrastructure error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"harness.cli.{name}")
        except ModuleNotFoundError as exc:  # a sub-command still being written must not break the rest
            if exc.name != f"harness.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def write_json_output(dest: str, text: str) -> None:
    """``--json DEST``: '-' writes ``text`` to stdout, anything else is a file written atomically
    (a folder that does not exist, or a write that fails, is a ParityInputError naming DEST)."""
    if dest == "-":
        sys.stdout.write(text)
        return
    from pathlib import Path

    from harness.report.build import write_text_atomic

    try:
        write_text_atomic(Path(dest), text)
    except OSError as exc:
        raise ParityInputError(f"--json {dest}: cannot write ({exc})") from exc


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except ParityInputError as exc:
        print(f"parity {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ParityError as exc:
        print(f"parity {args.command}: could not run: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
