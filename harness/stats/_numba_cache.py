"""Where numba keeps the compiled loops: a user cache, never the source tree.

numba's default (with cache=True) writes next to the source file, inside the installed package:
read-only in site-packages, and a stray build output in a checkout. The project keeps caches out of
the source tree, so the loops are cached in $NUMBA_CACHE_DIR when it is set, else
$XDG_CACHE_HOME/parity-harness/numba, else ~/.cache/parity-harness/numba.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    env = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "parity-harness" / "numba"


@contextmanager
def _user_cache() -> Iterator[None]:
    from numba.core import config

    old = config.CACHE_DIR
    config.CACHE_DIR = str(cache_dir())
    try:
        yield
    finally:
        config.CACHE_DIR = old


def cached_jit(fn: Callable) -> Any:
    """numba.njit(cache=True, nogil=True), cached in `cache_dir()`.

    numba fixes a function's cache location when it is decorated (from numba.config.CACHE_DIR), so
    the setting is changed only for this decoration and restored after: other numba users in the
    process keep their own choice."""
    import numba

    with _user_cache():
        return numba.njit(cache=True, nogil=True)(fn)
