"""Regenerating a golden dataset from its committed generator, and checking that it reproduces.

Which hash can be checked depends on the libraries: the Parquet bytes embed the pyarrow version (and
depend on its compressor), and the generator's draws depend on numpy. When every library version
recorded in the manifest's provenance equals the installed one, the regenerated *file* sha256 must match
the manifest's; otherwise only the *content* hash (decoded values, see `harness.golden.hashing`) is
compared, and the result says so.
"""
from __future__ import annotations

import importlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import GoldenDataError
from harness.golden.generators import ENTRY_POINT_PREFIX, GENERATORS
from harness.golden.manifest import MANIFEST_FILE, Manifest, read_manifest
from harness.golden.registry import _dataset_dir, _root, _verify
from harness.golden.writer import library_versions, write_dataset

__all__ = ["RegenerationCheck", "check_regeneration", "regenerate"]


@dataclass(frozen=True)
class RegenerationCheck:
    """Outcome of `check_regeneration`.

    ``method`` is "file_sha256" (library versions equal the recorded ones: the bytes must match) or
    "content_sha256" (versions differ: the decoded values must match); ``versions`` maps each recorded
    library to ``(recorded, installed)``.
    """

    name: str
    method: str
    matches: bool
    mismatches: list[str] = field(default_factory=list)
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def versions_match(self) -> bool:
        return all(a == b for a, b in self.versions.values())


def _entry_point(name: str, manifest: Manifest | None) -> tuple[str, dict[str, Any]]:
    if manifest is None:
        if name not in GENERATORS:
            raise GoldenDataError(f"no generator for golden dataset {name!r}; known: {sorted(GENERATORS)}")
        return GENERATORS[name], {}
    prov = manifest.provenance
    entry = prov.get("generator")
    if not isinstance(entry, str) or ":" not in entry:
        raise GoldenDataError(f"{manifest.path}: field 'provenance.generator': expected 'module:function', "
                              f"got {entry!r}")
    if not entry.startswith(ENTRY_POINT_PREFIX):
        # A manifest is data; importing whatever module it names would run arbitrary code.
        raise GoldenDataError(f"{manifest.path}: field 'provenance.generator': {entry!r} is not inside "
                              f"{ENTRY_POINT_PREFIX}*; only committed generators are run")
    kwargs = {"seed": prov["seed"]} if "seed" in prov else {}
    return entry, kwargs


def _run_generator(name: str, manifest: Manifest | None):
    entry, kwargs = _entry_point(name, manifest)
    module_name, func_name = entry.split(":", 1)
    func = getattr(importlib.import_module(module_name), func_name)
    generated = func(**kwargs)
    if generated.name != name:
        raise GoldenDataError(f"generator {entry} produced dataset {generated.name!r}, expected {name!r}")
    return generated


def regenerate(name: str, *, root: str | os.PathLike[str] | None = None,
               dest: str | os.PathLike[str] | None = None) -> Manifest:
    """Rerun dataset ``name``'s generator (entry point and seed from its manifest) and write it.

    Writes into ``dest`` or, by default, the dataset's own folder (files and manifest replaced). A
    dataset that does not exist yet is created from `harness.golden.generators.GENERATORS`.
    """
    base = _root(root)
    folder = base / name
    manifest = read_manifest(folder) if (folder / MANIFEST_FILE).is_file() else None
    generated = _run_generator(name, manifest)
    return write_dataset(generated, dest_dir=folder if dest is None else dest)


def _comparable(manifest: Manifest) -> dict[str, Any]:
    doc = manifest.to_dict()
    # Versions are compared through the hashes they produce, not as fields: a newer library that
    # produces the same data reproduces the dataset.
    doc["provenance"] = {k: v for k, v in doc["provenance"].items() if k != "libraries"}
    if isinstance(doc["provenance"].get("source"), dict):
        doc["provenance"]["source"] = {k: v for k, v in doc["provenance"]["source"].items() if k != "version"}
    doc["splits"] = {k: {"file": v["file"], "rows": v["rows"]} for k, v in doc["splits"].items()}
    return doc


def check_regeneration(name: str, *, root: str | os.PathLike[str] | None = None) -> RegenerationCheck:
    """Regenerate ``name`` into a temporary folder and compare with the committed dataset.

    Writes nothing under ``root``. The committed dataset must also verify (its files match its manifest).
    """
    folder = _dataset_dir(name, root)
    committed, problems = _verify(name, folder)
    if committed is None:
        return RegenerationCheck(name, "none", False, problems)
    recorded = committed.provenance.get("libraries", {})
    if not isinstance(recorded, dict):
        raise GoldenDataError(f"{committed.path}: field 'provenance.libraries': expected an object")
    installed = library_versions(*recorded) if recorded else {}
    versions = {lib: (str(recorded[lib]), installed[lib]) for lib in recorded}
    same = bool(recorded) and all(a == b for a, b in versions.values())
    method = "file_sha256" if same else "content_sha256"
    mismatches = list(problems)
    with tempfile.TemporaryDirectory(prefix=f"parity-regen-{name}-") as tmp:
        fresh = regenerate(name, root=root, dest=Path(tmp))
    old, new = _comparable(committed), _comparable(fresh)
    for key in old:
        if old[key] != new.get(key):
            mismatches.append(f"manifest field {key!r} differs: committed {old[key]!r}, regenerated {new.get(key)!r}")
    fresh_splits = {s.name: s for s in fresh.splits}
    for entry in committed.splits:
        other = fresh_splits.get(entry.name)
        if other is None:
            continue  # already reported through the 'splits' field
        if method == "file_sha256" and other.sha256 != entry.sha256:
            mismatches.append(f"split {entry.name!r} ({entry.file}): regenerated file sha256 {other.sha256} "
                              f"!= committed {entry.sha256}")
        if entry.content_sha256 is None:
            if method == "content_sha256":
                mismatches.append(f"split {entry.name!r}: the manifest has no content_sha256, and the "
                                  f"library versions differ ({versions}), so nothing can be compared")
        elif other.content_sha256 != entry.content_sha256:
            mismatches.append(f"split {entry.name!r} ({entry.file}): regenerated content sha256 "
                              f"{other.content_sha256} != committed {entry.content_sha256}")
    return RegenerationCheck(name, method, not mismatches, mismatches, versions)
