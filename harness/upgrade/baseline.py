"""Baselines: record a suite's probe snapshot with its fingerprint, check against it, accept changes.

Where (``root``: the folder that holds one directory per suite), first that applies:

1. the ``root`` a shell passes (``--baseline-dir``, ``--parity-baseline-dir``);
2. ``$PARITY_BASELINE_DIR``;
3. ``baselines/`` next to the suite file (`baseline_dir_for`), as pytest-regressions keeps its files
   next to the test: ``pytest path/to/my_suites`` finds them from any working directory. A shell
   passes the suite file; a direct library call falls back to the file that declared the ProbeSet.

Layout of ``<root>/<suite>/``:

* ``baseline.json`` — format version, suite, fingerprint, snapshot (small arrays inline, exact), the
  ``npz`` file name, and ``history_entry``: the history entry of the record/accept that wrote it;
* ``arrays-<sha256 prefix>.npz`` — larger arrays, named by content (``allow_pickle=False`` on read);
* ``history.jsonl`` — one JSON object per record/accept: when, why, both fingerprints, findings accepted.

Commit protocol: ``baseline.json`` is the single commit point and carries its own history entry, so the
baseline and the reason for it are committed by one ``os.replace``. In order: the new ``.npz`` (a new
name, its content hash: the old one stays), then ``baseline.json`` (commit), then ``history.jsonl``
(rewritten whole, atomically), then unreferenced ``.npz`` files are removed. A kill before the commit
leaves the old baseline and old history; after it, the new baseline, whose entry `read_history`
appends when ``history.jsonl`` lacks it (and the next write puts on disk). Either both old or both new.

Every file a baseline names is confined to its suite directory (a bare file name, no symlink out);
a missing baseline is `NoBaselineError`; an unreadable or malformed one `BaselineFileError` naming the
file. Both are `ParityInputError`s: exit 2, "could not judge", never 1.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import shlex
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.files import write_atomic
from harness.upgrade.fingerprint import changed_packages, environment_diffs, fingerprint
from harness.upgrade.findings import Finding, UpgradeResult, compare_snapshots
from harness.upgrade.probes import ProbeSet
from harness.upgrade.snapshot import INLINE_MAX_BYTES, NPZ_MAX_BYTES, SNAPSHOT_SCHEMA, Snapshot, take_snapshot

__all__ = [
    "FORMAT_VERSION",
    "Baseline",
    "BaselineFileError",
    "NoBaselineError",
    "accept_baseline",
    "baseline_dir_for",
    "check_against_baseline",
    "default_baseline_root",
    "iter_suite_dirs",
    "read_baseline",
    "read_history",
    "record_baseline",
    "record_command",
    "accept_command",
    "write_baseline",
]

FORMAT_VERSION = 1  # "history_entry" is optional: baselines written before it read as they are
BASELINE_FILE = "baseline.json"
HISTORY_FILE = "history.jsonl"
BASELINES_FOLDER = "baselines"

_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format_version", "suite", "npz", "fingerprint", "snapshot"],
    "properties": {
        "format_version": {"type": "integer"},
        "suite": {"type": "string", "minLength": 1},
        "npz": {"type": ["string", "null"]},
        "fingerprint": {"type": "object",
                        "properties": {"packages": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "snapshot": SNAPSHOT_SCHEMA,
        "history_entry": {"type": "object"},
    },
}


class NoBaselineError(ParityInputError):
    """The suite has no recorded baseline: a state of its own (NO_BASELINE), not a behaviour change.

    ``suite``, ``directory`` (the suite's baseline folder), ``path`` (its baseline.json), ``command``
    (the exact `parity baseline record` command that records it) and ``pytest_command``."""

    state = "NO_BASELINE"

    def __init__(self, suite: str, directory: Path, *, command: str, pytest_command: str) -> None:
        self.suite = suite
        self.directory = directory
        self.path = directory / BASELINE_FILE
        self.command = command
        self.pytest_command = pytest_command
        super().__init__(f"no baseline for suite {suite!r}: {self.path} does not exist. Record it with "
                         f"`{command}` (or from pytest: `{pytest_command}`)")
        self.file = str(self.path)


class BaselineFileError(ParityInputError):
    """A baseline file that cannot be read or trusted (corrupt, malformed, pointing outside its folder);
    ``path`` names it. Could not judge: exit 2."""

    state = "UNREADABLE"

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")
        self.file = str(path)


def baseline_dir_for(suite_file: Path | str) -> Path:
    """The default baselines folder of a suite file: ``baselines/`` next to it (one folder per suite
    inside, ``<folder>/baselines/<suite name>/``), whatever the current directory."""
    return Path(suite_file).resolve().parent / BASELINES_FOLDER


def default_baseline_root(probeset: ProbeSet | None = None, *, suite_file: Path | str | None = None) -> Path:
    """``$PARITY_BASELINE_DIR`` if set, else `baseline_dir_for` the suite file, else for the file that
    declared ``probeset``. Neither known: an error (never a guess from the current directory)."""
    env = os.environ.get("PARITY_BASELINE_DIR")
    if env:
        return Path(env)
    source = suite_file if suite_file is not None else getattr(probeset, "source_file", None)
    if source is None:
        raise ParityInputError("no baselines folder: pass root= (--baseline-dir DIR) or set PARITY_BASELINE_DIR; "
                               "the default, baselines/ next to the suite file, needs to know the suite file")
    return baseline_dir_for(source)


def _root(root: Path | str | None, probeset: ProbeSet | None, suite_file: Path | str | None) -> Path:
    return Path(root) if root is not None else default_baseline_root(probeset, suite_file=suite_file)


def _suite_dir(root: Path, suite: str) -> Path:
    if not isinstance(suite, str) or not suite or "/" in suite or "\\" in suite or suite.startswith("."):
        raise ParityInputError(f"suite name {suite!r} cannot name a baseline directory")
    return root / suite


def record_command(suite: str, *, root: Path | str | None = None, suite_file: Path | str | None = None) -> str:
    """The `parity baseline record` command that records ``suite``'s baseline where a check looks.
    ``root``: the baselines folder when it is not the default (then passed as --baseline-dir)."""
    argv = ["parity", "baseline", "record", "--suite", suite]
    if suite_file is not None:
        argv += ["--suites-dir", str(Path(suite_file).resolve().parent)]
    if root is not None:
        argv += ["--baseline-dir", str(root)]
    return shlex.join(argv + ["--reason", "initial baseline"])


def accept_command(suite: str, *, root: Path | str | None = None, suite_file: Path | str | None = None) -> str:
    """The `parity baseline accept` command that re-records ``suite``'s baseline where a check looks
    (its suites folder and a baselines folder that is not the default named, as in `record_command`)."""
    argv = ["parity", "baseline", "accept", "--suite", suite]
    if suite_file is not None:
        argv += ["--suites-dir", str(Path(suite_file).resolve().parent)]
    if root is not None:
        argv += ["--baseline-dir", str(root)]
    return shlex.join(argv) + " --reason '...'"


def _pytest_command(suite_file: Path | str | None, root: Path | str | None) -> str:
    argv = ["pytest", str(Path(suite_file).resolve()) if suite_file is not None else "SUITE_FILE", "-k", "upgrade"]
    if root is not None:
        argv += ["--parity-baseline-dir", str(root)]
    return shlex.join(argv + ["--parity-update-baseline", "--parity-reason", "initial baseline"])


class Baseline:
    """A recorded baseline: ``suite``, ``fingerprint``, ``snapshot``, where it lives (``path``, the
    suite directory) and the ``history_entry`` committed with it (None in baselines that predate it)."""

    def __init__(self, suite: str, fingerprint: dict[str, Any], snapshot: Snapshot, path: Path,
                 history_entry: dict[str, Any] | None = None) -> None:
        self.suite = suite
        self.fingerprint = fingerprint
        self.snapshot = snapshot
        self.path = path
        self.history_entry = history_entry


# -- atomic files ---------------------------------------------------------------------------------------

# Hook for the crash tests: called with the step name between the steps of a write.
_crash_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _crash_hook is not None:
        _crash_hook(name)


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomic(path, data, durable=True, before_replace=lambda: _step(f"before-replace:{path.name}"))


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n").encode()


def _confined(directory: Path, name: Any, *, named_by: Path) -> Path:
    """``directory / name`` when ``name`` is a bare file name whose real path stays in ``directory``."""
    if (not isinstance(name, str) or not name or name in (".", "..") or Path(name).name != name
            or "\\" in name or os.path.isabs(name)):
        raise BaselineFileError(named_by, f"names {name!r}, expected a bare file name inside {directory}")
    path = directory / name
    real_dir = directory.resolve()
    real = path.resolve()
    if real.parent != real_dir:
        what = "is a link that resolves to" if named_by.name == name else f"names {name!r}, which resolves to"
        raise BaselineFileError(named_by, f"{what} {real}, outside {real_dir}")
    return path


# -- write / read ---------------------------------------------------------------------------------------

def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> tuple[str, bytes]:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    # Name by the arrays' content, not the zip bytes (zip entries carry timestamps).
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode() + b"\0" + arrays[key].dtype.str.encode() + str(arrays[key].shape).encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return f"arrays-{h.hexdigest()[:16]}.npz", buf.getvalue()


def write_baseline(snapshot: Snapshot, fp: dict[str, Any], *, root: Path | str | None = None,
                   history_entry: dict[str, Any] | None = None, suite_file: Path | str | None = None,
                   inline_max_bytes: int = INLINE_MAX_BYTES, npz_max_bytes: int = NPZ_MAX_BYTES) -> Path:
    """Write ``snapshot`` + ``fp`` (+ the ``history_entry`` that explains it) as the suite's baseline,
    by the commit protocol of the module docstring; returns the suite directory."""
    from harness.results import jsonable

    directory = _suite_dir(_root(root, None, suite_file), snapshot.suite)
    directory.mkdir(parents=True, exist_ok=True)
    # Read before the commit (a corrupt history stops the write): the history as of the committed
    # baseline, whose own entry may be missing from history.jsonl if its writer was killed.
    try:
        previous = _reconcile(_read_history_lines(directory), _committed_entry(directory))
    except BaselineFileError as exc:
        if exc.path.name == HISTORY_FILE:
            raise
        previous = _read_history_lines(directory)  # an unreadable baseline.json is being replaced
    doc, arrays = snapshot.to_dict(inline_max_bytes=inline_max_bytes, npz_max_bytes=npz_max_bytes)
    npz_name = None
    if arrays:
        npz_name, data = _npz_bytes(arrays)
        if not (directory / npz_name).exists():
            _atomic_write(directory / npz_name, data)
    _step("after-npz")
    document = {"format_version": FORMAT_VERSION, "suite": snapshot.suite, "npz": npz_name,
                "fingerprint": jsonable(fp), "snapshot": doc}
    if history_entry is not None:
        document["history_entry"] = jsonable(history_entry)
    _atomic_write(directory / BASELINE_FILE, _json_bytes(document))  # the commit point
    _step("after-json")
    if history_entry is not None:
        _write_history(directory, previous + [document["history_entry"]])
    _step("after-history")
    for stale in directory.glob("arrays-*.npz"):
        if stale.name != npz_name:
            stale.unlink()
    return directory


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):  # a bare .npy array
            raise BaselineFileError(path, "not an .npz archive (a single .npy array)")
        with z:
            return {k: z[k] for k in z.files}
    except BaselineFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a bad CRC, object arrays: all "unreadable"
        raise BaselineFileError(path, f"not a readable .npz of numeric arrays ({type(exc).__name__}: {exc})") from None


def _validate(doc: Any, path: Path) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if isinstance(doc, dict) and "format_version" in doc and doc["format_version"] != FORMAT_VERSION:
        raise BaselineFileError(path, f"format_version {doc['format_version']!r}, this harness reads {FORMAT_VERSION}")
    error = best_match(Draft202012Validator(_DOCUMENT_SCHEMA).iter_errors(doc))
    if error is not None:
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "the document"
        raise BaselineFileError(path, f"not a baseline document: at {where}: {error.message}")


def read_baseline(suite: str, *, root: Path | str | None = None, probeset: ProbeSet | None = None,
                  suite_file: Path | str | None = None) -> Baseline:
    """The suite's committed baseline. None there: `NoBaselineError` (with the command that records
    it); a file that cannot be read or trusted: `BaselineFileError` naming it."""
    base = _root(root, probeset, suite_file)
    directory = _suite_dir(base, suite)
    path = directory / BASELINE_FILE
    if not path.exists() and not path.is_symlink():
        # The file that declared the probes stands in for the suite file when a caller did not say.
        known = suite_file if suite_file is not None else getattr(probeset, "source_file", None)
        raise NoBaselineError(suite, directory, command=record_command(suite, root=root, suite_file=known),
                              pytest_command=_pytest_command(known, root))
    _confined(directory, BASELINE_FILE, named_by=path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8 or bad JSON
        raise BaselineFileError(path, f"not a readable baseline ({type(exc).__name__}: {exc})") from None
    _validate(doc, path)
    if doc["suite"] != suite:
        raise BaselineFileError(path, f"is the baseline of suite {doc['suite']!r}, not of {suite!r}")
    npz = None
    if doc["npz"] is not None:
        npz_path = _confined(directory, doc["npz"], named_by=path)
        if not npz_path.is_file():
            raise BaselineFileError(path, f"names {doc['npz']} which does not exist in {directory}")
        npz = _load_npz(npz_path)
    try:
        snapshot = Snapshot.from_dict(doc["snapshot"], npz=npz, where=str(path))
    except BaselineFileError:
        raise
    except ParityInputError as exc:
        raise BaselineFileError(path, str(exc).removeprefix(f"{path}: ")) from None
    return Baseline(suite=doc["suite"], fingerprint=doc["fingerprint"], snapshot=snapshot, path=directory,
                    history_entry=doc.get("history_entry"))


# -- history ----------------------------------------------------------------------------------------------

def _read_history_lines(directory: Path) -> list[dict[str, Any]]:
    path = directory / HISTORY_FILE
    if not path.exists() and not path.is_symlink():
        return []
    _confined(directory, HISTORY_FILE, named_by=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, ValueError) as exc:
        raise BaselineFileError(path, f"not a readable history ({type(exc).__name__}: {exc})") from None
    entries = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BaselineFileError(path, f"line {i}: not a JSON line ({exc.msg})") from None
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("when", "action", "reason")):
            raise BaselineFileError(path, f"line {i}: expected an object with 'when', 'action' and 'reason' strings")
        entries.append(entry)
    return entries


def _committed_entry(directory: Path) -> dict[str, Any] | None:
    """The history entry inside the committed baseline.json (None: no baseline, or one from before)."""
    path = directory / BASELINE_FILE
    if not path.exists() and not path.is_symlink():
        return None
    _confined(directory, BASELINE_FILE, named_by=path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineFileError(path, f"not a readable baseline ({type(exc).__name__}: {exc})") from None
    entry = doc.get("history_entry") if isinstance(doc, dict) else None
    return entry if isinstance(entry, dict) else None


def _reconcile(entries: list[dict[str, Any]], committed: dict[str, Any] | None) -> list[dict[str, Any]]:
    """History lines plus the committed baseline's own entry when the kill came before it was written."""
    if committed is not None and committed not in entries:
        return entries + [committed]
    return entries


def _write_history(directory: Path, entries: list[dict[str, Any]]) -> None:
    lines = b"".join(json.dumps(e, sort_keys=True, ensure_ascii=True, allow_nan=False).encode() + b"\n" for e in entries)
    _atomic_write(directory / HISTORY_FILE, lines)  # rewrite, not append: a crash never leaves half a line


def read_history(suite: str, *, root: Path | str | None = None, probeset: ProbeSet | None = None,
                 suite_file: Path | str | None = None) -> list[dict[str, Any]]:
    """The suite's history entries, oldest first (empty when none), as of its committed baseline."""
    directory = _suite_dir(_root(root, probeset, suite_file), suite)
    return _reconcile(_read_history_lines(directory), _committed_entry(directory))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- record / check / accept --------------------------------------------------------------------------

def _uses_sklearn(probeset: ProbeSet) -> bool:
    return any("scikit-learn" in p.packages for p in probeset)


def _check_reason(reason: str | None, *, required: bool, needed_by: str) -> str | None:
    if reason is None and not required:
        return None
    from harness.options import check_reason  # the one check both shells use

    return check_reason(reason, needed_by=needed_by)


def record_baseline(probeset: ProbeSet, *, root: Path | str | None = None, reason: str | None = None,
                    overwrite: bool = False, suite_file: Path | str | None = None) -> Path:
    """Run every probe with every seed here and write the baseline. Re-recording an existing baseline
    needs a ``reason`` (kept in the history) unless ``overwrite``; a probe that raises is an error."""
    base = _root(root, probeset, suite_file)
    directory = _suite_dir(base, probeset.suite)
    exists = (directory / BASELINE_FILE).exists()
    if exists and reason is None and not overwrite:
        raise ParityInputError(f"a baseline for suite {probeset.suite!r} already exists at {directory}; "
                               "re-recording needs a reason (--reason TEXT) or use `parity baseline accept`")
    reason = _check_reason(reason, required=False, needed_by="recording a baseline")
    old_fp, replaced = None, None
    if exists:
        try:
            old_fp = read_baseline(probeset.suite, root=base).fingerprint
        except BaselineFileError as exc:  # re-recording is how an unreadable baseline is repaired
            replaced = str(exc)
    snapshot = take_snapshot(probeset, seeds="all", raise_errors=True, noise=True)
    fp = fingerprint(import_sklearn=_uses_sklearn(probeset))
    entry = {"when": _now(), "action": "record", "suite": probeset.suite, "reason": reason or "initial record",
             "old_fingerprint": old_fp, "new_fingerprint": fp, "findings_accepted": []}
    if replaced is not None:
        entry["replaced_unreadable"] = replaced
    return write_baseline(snapshot, fp, root=base, history_entry=entry)


def _check(probeset: ProbeSet, baseline: Baseline, *, all_seeds: bool) -> tuple[UpgradeResult, Snapshot]:
    current = take_snapshot(probeset, seeds="all" if all_seeds else "first")
    fp = fingerprint(import_sklearn=_uses_sklearn(probeset))
    pkgs = changed_packages(baseline.fingerprint, fp)
    env = environment_diffs(baseline.fingerprint, fp)
    findings, notes = compare_snapshots(baseline.snapshot, current, changed_pkgs=pkgs, env_diffs=env, all_seeds=all_seeds)
    return UpgradeResult(suite=probeset.suite, findings=findings, baseline_fingerprint=baseline.fingerprint,
                         current_fingerprint=fp, changed_packages=pkgs, environment_diffs=env, notes=notes), current


def check_against_baseline(suite_name: str, probeset: ProbeSet, baseline_dir: Path | str | None = None, *,
                           all_seeds: bool = False, suite_file: Path | str | None = None) -> UpgradeResult:
    """Compare the probes run here with the suite's recorded baseline (``baseline_dir`` is the root that
    holds one directory per suite). Learning probes run their first seed unless ``all_seeds``.
    No baseline: `NoBaselineError`; an unreadable one: `BaselineFileError`."""
    if probeset.suite != suite_name:
        raise ParityInputError(f"check_against_baseline: probeset is for suite {probeset.suite!r}, not {suite_name!r}")
    baseline = read_baseline(suite_name, root=baseline_dir, probeset=probeset, suite_file=suite_file)
    result, _ = _check(probeset, baseline, all_seeds=all_seeds)
    result.accept_command = accept_command(suite_name, root=baseline_dir, suite_file=suite_file)
    return result


def accept_baseline(probeset: ProbeSet, *, reason: str, root: Path | str | None = None,
                    suite_file: Path | str | None = None) -> tuple[Path, list[Finding]]:
    """Accept the current behaviour: check, then re-record (all seeds) with ``reason``; the history entry
    keeps when, why, both fingerprints and the findings accepted. Returns (directory, findings accepted)."""
    reason = _check_reason(reason, required=True, needed_by="accepting a change")
    base = _root(root, probeset, suite_file)
    baseline = read_baseline(probeset.suite, root=base, suite_file=suite_file)
    result, _ = _check(probeset, baseline, all_seeds=False)
    snapshot = take_snapshot(probeset, seeds="all", raise_errors=True, noise=True)
    accepted = [f for f in result.findings if f.outcome.value != "IDENTICAL"]
    entry = {"when": _now(), "action": "accept", "suite": probeset.suite, "reason": reason,
             "old_fingerprint": baseline.fingerprint, "new_fingerprint": result.current_fingerprint,
             "changed_packages": {k: list(v) for k, v in result.changed_packages.items()},
             "findings_accepted": [f.to_dict() for f in accepted]}
    directory = write_baseline(snapshot, result.current_fingerprint, root=base, history_entry=entry)
    return directory, accepted


def iter_suite_dirs(root: Path | str) -> Iterator[Path]:
    """The suite directories under ``root`` that hold a baseline or a history."""
    base = Path(root)
    if base.is_dir():
        yield from sorted(p for p in base.iterdir() if (p / BASELINE_FILE).is_file() or (p / HISTORY_FILE).is_file())
