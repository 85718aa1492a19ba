"""The golden-data manifest: ``golden_data/<name>/manifest.json``, parsed and validated.

A manifest names the dataset, declares every column (dtype and role), lists the split files with their
row counts and hashes, and records where the data came from. Parsing is strict: a missing or mistyped
field is a `GoldenDataError` naming the manifest file and the field, so a hand-edited manifest cannot
silently weaken verification.

Layout (``format_version`` 1)::

    {"format_version": 1, "name": ..., "version": ..., "description": ...,
     "columns": [{"name", "dtype", "role", "nullable", "description"}, ...],
     "splits": {"train": {"file", "rows", "sha256", "content_sha256"}, ...},
     "total_rows": ..., "provenance": {...}}
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import GoldenDataError

__all__ = [
    "DTYPES",
    "MANIFEST_FILE",
    "ROLES",
    "Column",
    "Manifest",
    "SplitEntry",
    "arrow_dtype_name",
    "parse_manifest",
    "read_manifest",
    "resolve_inside",
]

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
ROLES = ("key", "label", "group", "weight", "feature")
# Manifest dtype names; Arrow types map onto them in `arrow_dtype_name`.
DTYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "string", "bool",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    role: str
    nullable: bool = False
    description: str = ""


@dataclass(frozen=True)
class SplitEntry:
    name: str
    file: str  # relative to the dataset folder
    rows: int
    sha256: str
    content_sha256: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    columns: tuple[Column, ...]
    splits: tuple[SplitEntry, ...]
    total_rows: int
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where it was read from, for messages

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, keys in a fixed order so rewriting an unchanged manifest is a no-op."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "columns": [
                {"name": c.name, "dtype": c.dtype, "role": c.role, "nullable": c.nullable,
                 "description": c.description}
                for c in self.columns
            ],
            "splits": {
                s.name: {"file": s.file, "rows": s.rows, "sha256": s.sha256,
                         "content_sha256": s.content_sha256}
                for s in self.splits
            },
            "total_rows": self.total_rows,
            "provenance": self.provenance,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def split(self, name: str) -> SplitEntry:
        for entry in self.splits:
            if entry.name == name:
                return entry
        raise GoldenDataError(
            f"golden dataset {self.name!r}: no split {name!r}; available: {[s.name for s in self.splits]}"
        )


def arrow_dtype_name(arrow_type) -> str:
    """The manifest dtype name of an Arrow type ("int64", "float64", "string", "bool", ...).

    Types with no manifest name come back as Arrow spells them (e.g. "timestamp[us]"), so a mismatch
    message still says what the file holds.
    """
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or _is_string_view(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_float64(arrow_type):
        return "float64"
    if pa.types.is_float32(arrow_type):
        return "float32"
    return str(arrow_type)  # int64, int32, uint8 ... already match the manifest names


def read_manifest(dataset_dir: str | os.PathLike[str]) -> Manifest:
    """Read and validate ``<dataset_dir>/manifest.json``."""
    path = Path(dataset_dir) / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GoldenDataError(f"golden manifest {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenDataError(f"golden manifest {path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoldenDataError(
            f"golden manifest {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return parse_manifest(data, source=path)


def parse_manifest(data: Any, *, source: str | os.PathLike[str]) -> Manifest:
    """Validate a decoded manifest document; every error names ``source`` and the offending field."""
    where = f"golden manifest {source}"

    def fail(field_name: str, expected: str, got: Any = ...) -> GoldenDataError:
        tail = "" if got is ... else f", got {got!r}"
        return GoldenDataError(f"{where}: field {field_name!r}: expected {expected}{tail}")

    def get(obj: dict, key: str, kind: type | tuple[type, ...], path: str, expected: str) -> Any:
        if key not in obj:
            raise GoldenDataError(f"{where}: missing field {path!r}")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise fail(path, expected, value)
        return value

    if not isinstance(data, dict):
        raise GoldenDataError(f"{where}: expected a JSON object at the top level, got {type(data).__name__}")
    fmt = get(data, "format_version", int, "format_version", "an integer")
    if fmt != FORMAT_VERSION:
        raise fail("format_version", f"{FORMAT_VERSION} (the only version this harness reads)", fmt)
    name = get(data, "name", str, "name", "a dataset name")
    if not _NAME.match(name):
        raise fail("name", "letters, digits, '_', '.', '-'", name)
    version = get(data, "version", str, "version", "a version string")
    description = get(data, "description", str, "description", "a string")

    raw_columns = get(data, "columns", list, "columns", "a list of column objects")
    if not raw_columns:
        raise fail("columns", "at least one column", raw_columns)
    columns: list[Column] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_columns):
        path = f"columns[{i}]"
        if not isinstance(raw, dict):
            raise fail(path, "an object", raw)
        cname = get(raw, "name", str, f"{path}.name", "a column name")
        if not cname or cname in seen:
            raise fail(f"{path}.name", "a non-empty name not used by another column", cname)
        seen.add(cname)
        dtype = get(raw, "dtype", str, f"{path}.dtype", f"one of {list(DTYPES)}")
        if dtype not in DTYPES:
            raise fail(f"{path}.dtype", f"one of {list(DTYPES)}", dtype)
        role = get(raw, "role", str, f"{path}.role", f"one of {list(ROLES)}")
        if role not in ROLES:
            raise fail(f"{path}.role", f"one of {list(ROLES)}", role)
        nullable = raw.get("nullable", False)
        if not isinstance(nullable, bool):
            raise fail(f"{path}.nullable", "true or false", nullable)
        cdesc = raw.get("description", "")
        if not isinstance(cdesc, str):
            raise fail(f"{path}.description", "a string", cdesc)
        columns.append(Column(cname, dtype, role, nullable, cdesc))
    for role, most in (("key", 1), ("group", 1), ("weight", 1)):
        n = sum(c.role == role for c in columns)
        if n > most or (role == "key" and n != 1):
            raise fail("columns", f"exactly one column with role 'key' and at most one 'group' and 'weight' "
                       f"(found {n} with role {role!r})")
    key = next(c for c in columns if c.role == "key")
    if key.nullable:
        raise fail(f"columns[{columns.index(key)}].nullable", "false for the key column", True)

    raw_splits = get(data, "splits", dict, "splits", "an object mapping split name to file entry")
    if not raw_splits:
        raise fail("splits", "at least one split", raw_splits)
    splits: list[SplitEntry] = []
    for sname, raw in raw_splits.items():
        path = f"splits.{sname}"
        if not _NAME.match(sname):
            raise fail(path, "a split name of letters, digits, '_', '.', '-'", sname)
        if not isinstance(raw, dict):
            raise fail(path, "an object with file, rows, sha256", raw)
        file = get(raw, "file", str, f"{path}.file", "a path relative to the dataset folder")
        rows = get(raw, "rows", int, f"{path}.rows", "a non-negative integer")
        if rows < 0:
            raise fail(f"{path}.rows", "a non-negative integer", rows)
        sha = get(raw, "sha256", str, f"{path}.sha256", "64 lowercase hex digits")
        if not _SHA256.match(sha):
            raise fail(f"{path}.sha256", "64 lowercase hex digits", sha)
        content = raw.get("content_sha256")
        if content is not None and (not isinstance(content, str) or not _SHA256.match(content)):
            raise fail(f"{path}.content_sha256", "64 lowercase hex digits or null", content)
        splits.append(SplitEntry(sname, file, rows, sha, content))
    files = [s.file for s in splits]
    if len(set(files)) != len(files):
        raise fail("splits", "a different file for every split", files)

    total = get(data, "total_rows", int, "total_rows", "a non-negative integer")
    if total != sum(s.rows for s in splits):
        raise fail("total_rows", f"the sum of the splits' rows ({sum(s.rows for s in splits)})", total)
    provenance = get(data, "provenance", dict, "provenance", "an object")
    return Manifest(name, version, description, tuple(columns), tuple(splits), total, provenance,
                    Path(source))


def resolve_inside(dataset_dir: Path, relative: str, *, what: str) -> Path:
    """``dataset_dir / relative``, refusing anything that could leave the dataset folder.

    Absolute paths, drive letters, '..' components and symlinks resolving outside are all refused:
    a manifest is data, and data must not steer the harness to read arbitrary files.
    """
    if not relative or relative.strip() != relative:
        raise GoldenDataError(f"{what}: path {relative!r} must be a non-empty relative path")
    candidate = Path(relative)
    if candidate.is_absolute() or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise GoldenDataError(f"{what}: path {relative!r} is absolute; manifest paths must be relative "
                              f"to the dataset folder {dataset_dir}")
    parts = re.split(r"[\\/]", relative)
    if ".." in parts:
        raise GoldenDataError(f"{what}: path {relative!r} contains '..'; manifest paths must stay inside "
                              f"the dataset folder {dataset_dir}")
    base = dataset_dir.resolve()
    target = (dataset_dir / candidate).resolve()
    if target != base and base not in target.parents:
        raise GoldenDataError(f"{what}: path {relative!r} resolves to {target}, outside the dataset folder "
                              f"{base} (a symlink?)")
    return target


def _is_string_view(arrow_type) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, "is_string_view", None)  # pyarrow >= 16
    return bool(check and check(arrow_type))
