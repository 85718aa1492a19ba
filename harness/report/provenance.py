"""Where a report came from: the harness version and the commit of the suites it ran.

Both are deterministic for a given checkout, so they go in report.json without breaking byte-identical
reruns (a clock time would not; nothing here reads one). git is run with an argument list, never a
shell, and its absence or a folder outside any repository is an answer (None), not an error: a report
from a tarball of suites is still a report, it just cannot name a commit.
"""
from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["harness_version", "suites_provenance"]

_GIT_TIMEOUT_S = 30
_UNKNOWN: dict[str, Any] = {"commit": None, "dirty": None}


@lru_cache(maxsize=1)
def harness_version() -> str:
    """The installed distribution's version (what `pip show parity-harness` says); ``harness.__version__``
    when the package runs from a source tree that was never installed. Read once per process:
    importlib.metadata scans every sys.path entry (~4 ms, paid by every report), and the code running
    does not change version under it."""
    from importlib import metadata

    try:
        return metadata.version("parity-harness")
    except metadata.PackageNotFoundError:
        from harness import __version__

        return __version__


def _git(path: Path, *args: str) -> subprocess.CompletedProcess | None:
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take index.lock in a checkout others are working in.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=False,
                              timeout=_GIT_TIMEOUT_S, env=env)
    except (OSError, subprocess.SubprocessError):  # git not installed, not executable, or hung
        return None


def suites_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"commit": sha | None, "dirty": bool | None}`` for the suites folder ``path``.

    ``commit`` is the full sha of HEAD of the repository holding ``path``; ``dirty`` is whether any file
    under ``path`` differs from that commit (modified, staged or untracked: a suite that was edited but
    not committed did not run as the commit says). Both None when ``path`` is not in a git checkout, the
    repository has no commit yet, or git is missing.
    """
    folder = Path(path)
    if not folder.is_dir():
        folder = folder.parent
    if not folder.is_dir():
        return dict(_UNKNOWN)
    head = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return dict(_UNKNOWN)
    status = _git(folder, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return {"commit": head.stdout.strip(), "dirty": dirty}
