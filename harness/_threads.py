"""How many threads the harness may use for its own work after scoring: ``PARITY_THREADS`` when set (1:
everything on the calling thread), else the CPUs this process may use, at most 4.

Every threaded step computes exactly what the serial one does and assembles it in the same order
(the bootstrap's replicate batches, `harness.stats.bootstrap`; a comparison's metric x slice cells,
`harness.stats.compare`; the prediction checks and plot data beside the metric checks,
`harness.runner`), so results never depend on this number."""
from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["allowed", "submit"]


def allowed() -> int:
    env = os.environ.get("PARITY_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            from harness.errors import ParityInputError

            raise ParityInputError(f"PARITY_THREADS: expected a positive integer, got {env!r}",
                                   argument="PARITY_THREADS", value=env)
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def submit(pool: Executor, fn: Callable[..., Any], *args: Any) -> Future:
    """``pool.submit(fn, *args)`` in a copy of the caller's context: a worker thread then sees what the
    caller set (`harness.progress.enabled`: the bars of work moved to a thread still show)."""
    return pool.submit(contextvars.copy_context().run, fn, *args)
