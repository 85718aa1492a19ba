"""Install candidate library versions for `tox -e upgrade-check`.

    python -m harness.upgrade.candidates [FILE]

Requirements come from FILE (default ``constraints/upgrade-candidate.txt``; ``#`` comments and blank
lines ignored) plus the environment variable ``PARITY_CANDIDATES`` (space-separated, shell quoting
allowed). pip runs as a subprocess of this interpreter, never through a shell, and only when there is
something to install (``pip install`` with no requirement fails). Exit code: pip's, or 2 for a missing file.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

__all__ = ["candidates", "main"]

DEFAULT_FILE = Path("constraints/upgrade-candidate.txt")


def candidates(path: Path = DEFAULT_FILE, *, environ: dict[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    lines = [line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line] + shlex.split(env.get("PARITY_CANDIDATES", ""))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_FILE
    if not path.is_file():
        print(f"candidates file {path} does not exist", file=sys.stderr)
        return 2
    reqs = candidates(path)
    if not reqs:
        print(f"no candidate versions in {path} or $PARITY_CANDIDATES: checking the installed versions")
        return 0
    print("installing candidates:", " ".join(reqs))
    return subprocess.call([sys.executable, "-m", "pip", "install", *reqs])


if __name__ == "__main__":
    sys.exit(main())
