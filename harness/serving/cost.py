"""What serving and each stage cost: wall time, CPU seconds, peak resident memory, size on disk.

CPU is user + system time, children included (a scorer program, a serving process the harness waited
for): `resource.getrusage` for this process, ``/proc/<pid>/stat`` for another one. Peak RSS is the
kernel's high-water mark (``VmHWM``); on Linux it can be reset (``/proc/<pid>/clear_refs``, "5"), so a
stage gets its own peak instead of the process's lifetime peak. Where the reset is refused (another
OS, a restricted /proc), the figure is the process's peak so far and is marked ``peak_rss_scope:
"process"``.
"""
from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ProcessMeter", "artifact_size_bytes", "measure_stage"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _self_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024  # macOS reports bytes


class ProcessMeter:
    """CPU seconds (children waited for included) and peak RSS of a process: this one (``pid=None``) or
    another one the user owns (the serving process), read from /proc."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid

    def cpu_s(self) -> float:
        if self.pid is None:
            return _self_cpu_s()
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime are fields 14..17 of stat(5); fields[0] here is field 3.
        return sum(int(x) for x in fields[11:15]) / _CLK_TCK

    def peak_rss_mb(self) -> float | None:
        status = Path(f"/proc/{self.pid or 'self'}/status")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return _maxrss_mb() if self.pid is None else None

    def reset_peak(self) -> bool:
        """Start a new high-water mark; False where the kernel does not allow it."""
        try:
            Path(f"/proc/{self.pid or 'self'}/clear_refs").write_text("5")
            return True
        except OSError:
            return False


_STAGES: list[dict[str, Any]] = []  # open stages, outermost first
_STAGES_LOCK = threading.Lock()


@contextmanager
def measure_stage(name: str = "") -> Iterator[dict[str, Any]]:
    """``with measure_stage("featurize") as cost: ...`` fills ``cost`` on exit with ``wall_s``, ``cpu_s``
    (this process and its waited-for children), ``peak_rss_mb`` and ``peak_rss_scope`` ("stage" or
    "process"). Stages may nest: a reset for an inner stage first hands the current peak to the outer
    ones, so each still gets the peak of its own span. CPU time is the process's: a stage measured while
    other threads work is charged their CPU too."""
    meter = ProcessMeter()
    cost: dict[str, Any] = {"stage": name} if name else {}
    with _STAGES_LOCK:
        current = meter.peak_rss_mb() or 0.0
        for outer in _STAGES:
            outer["_peak"] = max(outer["_peak"], current)
        scoped = meter.reset_peak()
        state = {"_peak": 0.0 if scoped else current}
        _STAGES.append(state)
    wall0, cpu0 = time.perf_counter(), meter.cpu_s()
    try:
        yield cost
    finally:
        wall, cpu = time.perf_counter() - wall0, meter.cpu_s() - cpu0
        with _STAGES_LOCK:
            current = meter.peak_rss_mb() or 0.0
            for open_stage in _STAGES:
                open_stage["_peak"] = max(open_stage["_peak"], current)
            # by identity: two open stages can hold equal peaks, and list.remove would take the first equal one
            _STAGES[:] = [open_stage for open_stage in _STAGES if open_stage is not state]
        cost.update(wall_s=wall, cpu_s=cpu, peak_rss_mb=state["_peak"],
                    peak_rss_scope="stage" if scoped else "process")


def artifact_size_bytes(path: str | os.PathLike[str] | None) -> int | None:
    """Bytes on disk of a file, or of every file under a folder (a SavedModel); None for no path."""
    if path is None:
        return None
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    raise FileNotFoundError(f"artifact {str(p)!r} does not exist")
