"""Progress bars for long work (scoring, bootstrap replicates, retraining), off unless a shell asks.

The CLI turns them on for a terminal (`parity run`); library code anywhere below it — the runner, the
bootstrap, the TF side's training loops — asks for a bar with `bar(...)` and gets a no-op when progress
is off, so tests and pytest runs print nothing. tqdm is imported only when a bar is shown.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["bar", "enabled", "is_enabled"]

_ENABLED: ContextVar[bool] = ContextVar("parity_progress", default=False)


@contextmanager
def enabled(flag: bool = True) -> Iterator[None]:
    """Show progress bars (on stderr) for the work done inside this block."""
    token = _ENABLED.set(bool(flag))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def is_enabled() -> bool:
    return _ENABLED.get()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_description_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def bar(desc: str, *, total: int | None = None, unit: str = "it") -> Any:
    """A tqdm bar when progress is enabled, else an object with the same methods that does nothing."""
    if not _ENABLED.get():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)
