"""Baselines: record a suite's probe snapshot with its fingerprint, check against it, accept changes.

Layout of ``<root>/<suite>/`` (``root``: ``PARITY_BASELINE_DIR`` if set, else ``golden_data/baselines``
under the current directory, so the repo's own baselines when run from its root):

* ``baseline.json`` — format version, suite, fingerprint, snapshot (small arrays inline, exact);
* ``arrays-<sha256 prefix>.npz`` — larger arrays, named by content (``allow_pickle=False`` on read);
* ``history.jsonl`` — one JSON object per record/accept: when, why, both fingerprints, findings accepted.

Writes are atomic: each file is written to a temporary file in the same directory, fsynced and moved
into place with ``os.replace``. The new ``.npz`` has a new name (its content hash), so the old one stays
until ``baseline.json`` — the single commit point — names the new one; only then are unreferenced
``.npz`` files removed. A crash at any point leaves the previous baseline complete and readable.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.files import write_atomic
from harness.upgrade.fingerprint import changed_packages, environment_diffs, fingerprint
from harness.upgrade.findings import Finding, UpgradeResult, compare_snapshots
from harness.upgrade.probes import ProbeSet
from harness.upgrade.snapshot import INLINE_MAX_BYTES, NPZ_MAX_BYTES, Snapshot, take_snapshot

__all__ = [
    "FORMAT_VERSION",
    "Baseline",
    "accept_baseline",
    "check_against_baseline",
    "default_baseline_root",
    "iter_suite_dirs",
    "read_baseline",
    "read_history",
    "record_baseline",
    "write_baseline",
]

FORMAT_VERSION = 1
BASELINE_FILE = "baseline.json"
HISTORY_FILE = "history.jsonl"


def default_baseline_root() -> Path:
    """``PARITY_BASELINE_DIR`` if set, else ``./golden_data/baselines`` (the current directory's).

    Never the installed harness's own folder: a user's suites keep their baselines with their project,
    and the pytest plugin and `parity baseline` agree when run from the same directory."""
    env = os.environ.get("PARITY_BASELINE_DIR")
    if env:
        return Path(env)
    return Path.cwd() / "golden_data" / "baselines"


def _suite_dir(root: Path | str | None, suite: str) -> Path:
    if not suite or "/" in suite or suite.startswith("."):
        raise ParityInputError(f"suite name {suite!r} cannot name a baseline directory")
    return Path(root if root is not None else default_baseline_root()) / suite


class Baseline:
    """A recorded baseline: ``suite``, ``fingerprint``, ``snapshot`` and where it lives."""

    def __init__(self, suite: str, fingerprint: dict[str, Any], snapshot: Snapshot, path: Path) -> None:
        self.suite = suite
        self.fingerprint = fingerprint
        self.snapshot = snapshot
        self.path = path


# -- atomic files ---------------------------------------------------------------------------------------

# Hook for the crash test: called with the step name between the steps of `write_baseline`.
_crash_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _crash_hook is not None:
        _crash_hook(name)


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomic(path, data, durable=True, before_replace=lambda: _step(f"before-replace:{path.name}"))


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n").encode()


# -- write / read ---------------------------------------------------------------------------------------

def write_baseline(snapshot: Snapshot, fp: dict[str, Any], *, root: Path | str | None = None,
                   inline_max_bytes: int = INLINE_MAX_BYTES, npz_max_bytes: int = NPZ_MAX_BYTES) -> Path:
    """Write ``snapshot`` + ``fp`` as the suite's baseline, atomically; returns the suite directory."""
    from harness.results import jsonable

    directory = _suite_dir(root, snapshot.suite)
    directory.mkdir(parents=True, exist_ok=True)
    doc, arrays = snapshot.to_dict(inline_max_bytes=inline_max_bytes, npz_max_bytes=npz_max_bytes)
    npz_name = None
    if arrays:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        # Name by the arrays' content, not the zip bytes (zip entries carry timestamps).
        h = hashlib.sha256()
        for key in sorted(arrays):
            h.update(key.encode() + b"\0" + arrays[key].dtype.str.encode() + str(arrays[key].shape).encode())
            h.update(np.ascontiguousarray(arrays[key]).tobytes())
        npz_name = f"arrays-{h.hexdigest()[:16]}.npz"
        if not (directory / npz_name).exists():
            _atomic_write(directory / npz_name, data)
    _step("after-npz")
    document = {"format_version": FORMAT_VERSION, "suite": snapshot.suite, "npz": npz_name,
                "fingerprint": jsonable(fp), "snapshot": doc}
    _atomic_write(directory / BASELINE_FILE, _json_bytes(document))
    _step("after-json")
    for stale in directory.glob("arrays-*.npz"):
        if stale.name != npz_name:
            stale.unlink()
    return directory


def read_baseline(suite: str, *, root: Path | str | None = None) -> Baseline:
    directory = _suite_dir(root, suite)
    path = directory / BASELINE_FILE
    if not path.is_file():
        where = "" if root is None else f" --out {directory.parent}"
        raise ParityInputError(
            f"no baseline for suite {suite!r}: {path} does not exist. Record one with "
            f"`parity baseline record --suite {suite}{where} --suites-dir DIR` (DIR: the folder of the "
            "suite's test_*.py file; default $PARITY_SUITES_DIR or ./parity_suites), or with pytest: "
            "`--parity-update-baseline --parity-reason TEXT`"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ParityInputError(f"{path}: not a readable baseline ({exc})") from None
    if doc.get("format_version") != FORMAT_VERSION:
        raise ParityInputError(f"{path}: format_version {doc.get('format_version')!r}, this harness reads {FORMAT_VERSION}")
    npz = None
    if doc.get("npz"):
        npz_path = directory / doc["npz"]
        if not npz_path.is_file():
            raise ParityInputError(f"{path}: names {doc['npz']} which does not exist in {directory}")
        with np.load(npz_path, allow_pickle=False) as z:
            npz = {k: z[k] for k in z.files}
    snapshot = Snapshot.from_dict(doc["snapshot"], npz=npz, where=str(path))
    return Baseline(suite=doc["suite"], fingerprint=doc["fingerprint"], snapshot=snapshot, path=directory)


# -- history ----------------------------------------------------------------------------------------------

def _append_history(directory: Path, entry: dict[str, Any]) -> None:
    path = directory / HISTORY_FILE
    existing = path.read_bytes() if path.exists() else b""
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    line = json.dumps(entry, sort_keys=True, ensure_ascii=True, allow_nan=False).encode() + b"\n"
    _atomic_write(path, existing + line)  # rewrite, not append: a crash never leaves half a line


def read_history(suite: str, *, root: Path | str | None = None) -> list[dict[str, Any]]:
    """The suite's history entries, oldest first (empty when none)."""
    path = _suite_dir(root, suite) / HISTORY_FILE
    if not path.exists():
        return []
    entries = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ParityInputError(f"{path}:{i}: not a JSON line ({exc.msg})") from None
    return entries


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- record / check / accept --------------------------------------------------------------------------

def _uses_sklearn(probeset: ProbeSet) -> bool:
    return any("scikit-learn" in p.packages for p in probeset)


def record_baseline(probeset: ProbeSet, *, root: Path | str | None = None, reason: str | None = None,
                    overwrite: bool = False) -> Path:
    """Run every probe with every seed here and write the baseline. Re-recording an existing baseline
    needs a ``reason`` (kept in the history) unless ``overwrite``; a probe that raises is an error."""
    directory = _suite_dir(root, probeset.suite)
    exists = (directory / BASELINE_FILE).exists()
    if exists and not (reason and reason.strip()) and not overwrite:
        raise ParityInputError(f"a baseline for suite {probeset.suite!r} already exists at {directory}; "
                               "re-recording needs a reason (--reason TEXT) or use `parity baseline accept`")
    snapshot = take_snapshot(probeset, seeds="all", raise_errors=True)
    fp = fingerprint(import_sklearn=_uses_sklearn(probeset))
    old_fp = read_baseline(probeset.suite, root=root).fingerprint if exists else None
    write_baseline(snapshot, fp, root=root)
    _append_history(directory, {"when": _now(), "action": "record", "suite": probeset.suite,
                                "reason": reason or "initial record", "old_fingerprint": old_fp,
                                "new_fingerprint": fp, "findings_accepted": []})
    return directory


def _check(probeset: ProbeSet, baseline: Baseline, *, all_seeds: bool) -> tuple[UpgradeResult, Snapshot]:
    current = take_snapshot(probeset, seeds="all" if all_seeds else "first")
    fp = fingerprint(import_sklearn=_uses_sklearn(probeset))
    pkgs = changed_packages(baseline.fingerprint, fp)
    env = environment_diffs(baseline.fingerprint, fp)
    findings, notes = compare_snapshots(baseline.snapshot, current, changed_pkgs=pkgs, env_diffs=env, all_seeds=all_seeds)
    return UpgradeResult(suite=probeset.suite, findings=findings, baseline_fingerprint=baseline.fingerprint,
                         current_fingerprint=fp, changed_packages=pkgs, environment_diffs=env, notes=notes), current


def check_against_baseline(suite_name: str, probeset: ProbeSet, baseline_dir: Path | str | None = None, *,
                           all_seeds: bool = False) -> UpgradeResult:
    """Compare the probes run here with the suite's recorded baseline (``baseline_dir`` is the root that
    holds one directory per suite). Learning probes run their first seed unless ``all_seeds``."""
    if probeset.suite != suite_name:
        raise ParityInputError(f"check_against_baseline: probeset is for suite {probeset.suite!r}, not {suite_name!r}")
    baseline = read_baseline(suite_name, root=baseline_dir)
    result, _ = _check(probeset, baseline, all_seeds=all_seeds)
    return result


def accept_baseline(probeset: ProbeSet, *, reason: str, root: Path | str | None = None) -> tuple[Path, list[Finding]]:
    """Accept the current behaviour: check, then re-record (all seeds) with ``reason``; the history entry
    keeps when, why, both fingerprints and the findings accepted. Returns (directory, findings accepted)."""
    if not reason or not reason.strip():
        raise ParityInputError("accepting a changed baseline needs a reason (--reason TEXT): the history is what a release review reads")
    baseline = read_baseline(probeset.suite, root=root)
    result, _ = _check(probeset, baseline, all_seeds=False)
    snapshot = take_snapshot(probeset, seeds="all", raise_errors=True)
    directory = write_baseline(snapshot, result.current_fingerprint, root=root)
    accepted = [f for f in result.findings if f.outcome.value != "IDENTICAL"]
    _append_history(directory, {"when": _now(), "action": "accept", "suite": probeset.suite, "reason": reason.strip(),
                                "old_fingerprint": baseline.fingerprint, "new_fingerprint": result.current_fingerprint,
                                "changed_packages": {k: list(v) for k, v in result.changed_packages.items()},
                                "findings_accepted": [f.to_dict() for f in accepted]})
    return directory, accepted


def iter_suite_dirs(root: Path | str | None = None) -> Iterator[Path]:
    """The suite directories under ``root`` that hold a baseline or a history."""
    base = Path(root if root is not None else default_baseline_root())
    if base.is_dir():
        yield from sorted(p for p in base.iterdir() if (p / BASELINE_FILE).is_file() or (p / HISTORY_FILE).is_file())
