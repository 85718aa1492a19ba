"""Atomic file writes shared by the report and the upgrade baselines.

A reader never sees half a file: the bytes go to a temporary file in the same folder, which then
replaces the target with ``os.replace``. The file gets the mode a plain ``open(path, "w")`` would give
(0o666 less the umask), not the 0600 of ``tempfile.mkstemp``: reports and baselines are shared output.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = False,
                 before_replace: Callable[[], None] | None = None) -> None:
    """Write ``data`` to ``path`` atomically. ``durable``: fsync the file before the rename and the
    folder after it, so the write survives a power loss. ``before_replace``: called just before the
    rename (crash tests use it)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)
