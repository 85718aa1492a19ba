"""A cache of trained sides: training is what a suite run costs, and a rerun that changes nothing that
determines a side need not pay it again.

`cached_side(side, build, load, code=..., data=..., config=..., packages=...)` returns the side as
``load(folder)`` makes it from the artifacts ``build(folder)`` wrote, in this run or an earlier one. The
entry's key is the sha256 of everything that determines the side:

- ``code``: the source text of the functions that build it (``inspect.getsource``) and of files (the
  suite file); a change of a comment counts as a change, which errs on the side of retraining;
- ``data``: the sha256 of every split the side may read (`data_key` reads them from a verified dataset);
- ``config``: the configuration dict (canonical JSON, so key order does not matter);
- ``packages``: the installed version of each named package (``importlib.metadata``): an upgrade of
  scikit-learn retrains the scikit-learn side, and is what the upgrade gate then compares.

Entries live outside the source tree, in ``$PARITY_CACHE_DIR`` or ``~/.cache/parity-harness/sides``, one
folder per key: ``artifacts/`` and ``entry.json`` (the key's parts and the sha256 of every artifact file).
An entry is trusted only when ``entry.json`` names this key and every file under ``artifacts/`` is listed
with its sha256 (no file more, none missing, no link); otherwise, or when ``load`` fails, it is removed and
the side retrained. Artifacts are written in formats that do not run code on load (Keras ``.keras`` with
``safe_mode``, scikit-learn through skops with an explicit list of types, TF SavedModels): the cache is
the user's own, but a cache folder is still a folder anyone with access can write to.

``PARITY_CACHE=0`` disables the cache (every side is built, into a temporary folder). Every call appends
an event to `cache_events` (``{"side", "key", "reused", "reason"}``) so the report can say which sides
were reused.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ParityInputError

__all__ = ["CACHE_DIR_ENV", "CACHE_ENV", "FORMAT", "cache_dir", "cache_enabled", "cache_events", "cached_side",
           "clear_cache_events", "data_key", "module_files", "side_key"]

CACHE_DIR_ENV = "PARITY_CACHE_DIR"
CACHE_ENV = "PARITY_CACHE"
FORMAT = "parity.side_cache/1"
ENTRY_FILE = "entry.json"
ARTIFACTS = "artifacts"

T = TypeVar("T")  # the side type load returns
_EVENTS: list[dict[str, Any]] = []


def cache_dir() -> Path:
    """Where entries live: ``$PARITY_CACHE_DIR``, else ``~/.cache/parity-harness/sides``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "parity-harness" / "sides"


def cache_enabled() -> bool:
    """False when ``PARITY_CACHE`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_events() -> list[dict[str, Any]]:
    """One event per `cached_side` call in this process, oldest first (copies)."""
    return [dict(e) for e in _EVENTS]


def clear_cache_events() -> None:
    _EVENTS.clear()


def data_key(dataset: Any, splits: Sequence[str] | None = None) -> dict[str, str]:
    """``{"<dataset>/<split>": sha256}`` of a verified `harness.golden.GoldenDataset`'s split files
    (all splits unless ``splits``): the bytes `load_dataset` verified are the bytes the side trains on."""
    manifest = dataset.manifest
    files = manifest["splits"]
    names = list(files) if splits is None else list(splits)
    unknown = [s for s in names if s not in files]
    if unknown:
        raise ParityInputError(f"data_key: dataset {dataset.name!r} has no split(s) {unknown}; its splits are "
                               f"{sorted(files)}", argument="splits")
    return {f"{dataset.name}/{s}": files[s]["sha256"] for s in names}


def module_files(*names: str) -> list[Path]:
    """The source files of modules named like ``"new_platform.models"``, found without importing them (a
    side's key can name the code it runs without paying TensorFlow's import on a cache hit)."""
    import importlib.util

    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ParityInputError(f"module_files: {name!r} is not a module with a Python source file",
                                   argument="names", value=name)
        out.append(Path(spec.origin))
    return out


def _source(item: Any) -> str:
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise ParityInputError(f"cached_side: code entry {str(path)!r} is not a file", argument="code")
        return path.read_text(encoding="utf-8")
    try:
        return inspect.getsource(item)
    except (OSError, TypeError) as exc:
        raise ParityInputError(f"cached_side: cannot read the source of code entry {item!r} ({exc}); name a "
                               f"function, class or module defined in a file, or a file path",
                               argument="code") from None


def _plain(value: Any) -> Any:
    # numpy scalars and arrays as Python numbers and lists; anything else is not a configuration value
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _canonical(value: Any, where: str) -> str:
    try:
        # allow_nan=False: NaN would be written as a token other runs may spell differently (or as null)
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise ParityInputError(f"cached_side: {where} must be JSON-serializable with finite numbers ({exc})",
                               argument=where) from None


def _package_versions(packages: Sequence[str]) -> dict[str, str]:
    """Each name's installed version: a distribution name ("scikit-learn"), or an import name whose
    distribution is looked up ("tensorflow" is installed as tensorflow-cpu on CPU machines)."""
    from importlib import metadata

    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
            continue
        except metadata.PackageNotFoundError:
            pass
        dists = sorted(set(metadata.packages_distributions().get(name, ())))
        if not dists:
            raise ParityInputError(f"cached_side: package {name!r} is not installed, so its version cannot key "
                                   f"the cache", argument="packages", value=name)
        out[name] = ", ".join(f"{d} {metadata.version(d)}" for d in dists)
    return out


def side_key(side: str, *, code: Sequence[Any] = (), data: Mapping[str, str] | None = None,
             config: Mapping[str, Any] | None = None, packages: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """``(sha256 hex, parts)`` for a side: what `cached_side` keys an entry by (see the module doc)."""
    if not isinstance(side, str) or not side.strip():
        raise ParityInputError(f"cached_side: side must be a non-empty name, got {side!r}", argument="side")
    parts = {
        "format": FORMAT,
        "side": side,
        "code": [hashlib.sha256(_source(c).encode("utf-8")).hexdigest() for c in code],
        "data": dict(sorted((data or {}).items())),
        "config": json.loads(_canonical(config or {}, "config")),
        "packages": _package_versions(packages),
    }
    return hashlib.sha256(_canonical(parts, "key").encode("utf-8")).hexdigest(), parts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _listing(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> sha256; refuses links and anything that is not a plain file."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise ValueError(f"{rel} is a link")
        if path.is_dir():
            continue
        if not path.is_file():
            raise ValueError(f"{rel} is not a plain file")
        out[rel] = _sha256(path)
    return out


def _verify(entry: Path, key: str) -> str | None:
    """None when the entry can be trusted, else why not."""
    try:
        doc = json.loads((entry / ENTRY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{ENTRY_FILE} unreadable ({exc.__class__.__name__})"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
        return f"{ENTRY_FILE} is not this key's entry"
    files = doc.get("files")
    if not isinstance(files, dict):
        return f"{ENTRY_FILE} lists no files"
    try:
        found = _listing(entry / ARTIFACTS)
    except (OSError, ValueError) as exc:
        return f"artifacts unreadable ({exc})"
    if found != files:
        changed = sorted(set(found) ^ set(files) | {f for f in set(found) & set(files) if found[f] != files[f]})
        return f"artifacts differ from {ENTRY_FILE}: {changed[:5]}"
    return None


def _event(side: str, key: str, reused: bool, reason: str) -> None:
    _EVENTS.append({"side": side, "key": key, "reused": reused, "reason": reason})


def cached_side(side: str, build: Callable[[Path], Any], load: Callable[[Path], T], *, code: Sequence[Any] = (),
                data: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None,
                packages: Sequence[str] = ()) -> T:
    """The side named ``side``, as ``load(folder)`` returns it from a verified entry of this key; without
    one, ``build(folder)`` first trains the side and writes its artifacts into the empty ``folder``, and
    the entry is stored. ``build``'s and ``load``'s own source are always part of the key, with ``code``,
    ``data``, ``config`` and the versions of ``packages`` (module doc).

    The side is always what ``load`` makes of the artifacts, also right after a build (and with the cache
    disabled): a cold run and a warm run score through the same files, so they give the same report.
    """
    key, parts = side_key(side, code=(build, load, *code), data=data, config=config, packages=packages)
    if not cache_enabled():
        folder = Path(tempfile.mkdtemp(prefix="parity-side-"))
        build(folder)
        _event(side, key, False, f"disabled ({CACHE_ENV}=0)")
        return load(folder)
    root = cache_dir()
    entry = root / key
    reason = "no entry"
    if entry.is_dir():
        problem = _verify(entry, key)
        if problem is None:
            try:
                value = load(entry / ARTIFACTS)
            except Exception as exc:  # noqa: BLE001 - an entry that does not load is retrained, whatever broke
                problem = f"load failed ({exc.__class__.__name__}: {exc})"
            else:
                _event(side, key, True, "reused")
                return value
        reason = f"corrupt entry retrained: {problem}"
        shutil.rmtree(entry, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=root))
    try:
        (staging / ARTIFACTS).mkdir()
        build(staging / ARTIFACTS)
        doc = {"format": FORMAT, "key": key, "parts": parts, "files": _listing(staging / ARTIFACTS)}
        (staging / ENTRY_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.replace(staging, entry)  # atomic: a reader sees the whole entry or none
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process stored this key first: theirs is as good
    problem = _verify(entry, key)
    if problem is not None:
        raise ParityInputError(f"cached_side: the entry just stored for side {side!r} in {str(entry)!r} does "
                               f"not verify ({problem}); is {CACHE_DIR_ENV} shared with a process writing it?")
    _event(side, key, False, reason)
    return load(entry / ARTIFACTS)
