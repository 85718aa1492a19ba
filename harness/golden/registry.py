"""Finding, verifying and loading golden datasets by name.

Nothing is returned before it is verified. `load_dataset` checks every split file's sha256 (streamed)
and its Parquet schema and row count (footer only) against the manifest. `GoldenDataset.frame` and
`iter_batches` then read a split's bytes into memory once, hash *those* bytes again and parse the same
buffer, so the data handed out is exactly the data that was hashed, even if the file changed on disk
after `load_dataset` (then they raise). Frames are cached per split; callers get copies.
`verify_dataset` (`parity golden verify`) also reads every split's values (`check_values`: the key
unique and present, non-nullable columns free of null and NaN), which loading leaves to a split's
first read.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import GoldenDataError, ParityInputError
from harness.golden.hashing import sha256_bytes, sha256_file
from harness.golden.manifest import (
    MANIFEST_FILE,
    Column,
    Manifest,
    SplitEntry,
    arrow_dtype_name,
    read_manifest,
    resolve_inside,
)

__all__ = ["ENV_VAR", "GoldenDataset", "dataset_manifest", "default_root", "list_datasets", "load_dataset", "verify_dataset"]

ENV_VAR = "PARITY_GOLDEN_DIR"


def default_root() -> Path:
    """``$PARITY_GOLDEN_DIR`` if set, else the repository's ``golden_data/`` next to the package."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "golden_data"


def _root(root: str | os.PathLike[str] | None) -> Path:
    path = default_root() if root is None else Path(root)
    if not path.is_dir():
        hint = f" (set {ENV_VAR} or pass root=)" if root is None else ""
        raise GoldenDataError(f"golden data folder {path} does not exist{hint}")
    return path


def list_datasets(root: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the datasets under ``root`` (folders holding a manifest.json), sorted."""
    base = _root(root)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file())


def _dataset_dir(name: str, root: str | os.PathLike[str] | None) -> Path:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise GoldenDataError(f"golden dataset name must be a plain folder name, got {name!r}")
    base = _root(root)
    folder = base / name
    if not (folder / MANIFEST_FILE).is_file():
        raise GoldenDataError(
            f"unknown golden dataset {name!r} in {base}; available: {list_datasets(base) or 'none'}"
        )
    return folder


def dataset_manifest(name: str, *, root: str | os.PathLike[str] | None = None) -> Manifest:
    """The manifest of dataset ``name`` (columns, roles, splits), read without touching its data files:
    what a suite's declaration is checked against before anything is trained."""
    return read_manifest(_dataset_dir(name, root))


def _check_schema(manifest: Manifest, entry: SplitEntry, schema, file: Path) -> list[str]:
    """Problems with an Arrow schema vs the manifest's columns: missing, mistyped, extra (all refused)."""
    problems = []
    actual = {f.name: arrow_dtype_name(f.type) for f in schema}
    for column in manifest.columns:
        if column.name not in actual:
            problems.append(f"{file}: column {column.name!r} ({column.dtype}, role {column.role}) is missing")
        elif actual[column.name] != column.dtype:
            problems.append(f"{file}: column {column.name!r} has dtype {actual[column.name]}, "
                            f"expected {column.dtype}")
    declared = {c.name for c in manifest.columns}
    extra = [n for n in actual if n not in declared]
    if extra:
        # Extra columns are refused, not ignored: an undeclared column is either a rename (and the
        # declared one is missing) or unreviewed data.
        problems.append(f"{file}: undeclared columns {extra}; declare them in {MANIFEST_FILE} or remove them")
    if len(schema.names) != len(set(schema.names)):
        problems.append(f"{file}: duplicated column names {schema.names}")
    return problems


def _verify(name: str, folder: Path) -> tuple[Manifest | None, list[str]]:
    try:
        manifest = read_manifest(folder)
    except GoldenDataError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    if manifest.name != name:
        problems.append(f"{folder / MANIFEST_FILE}: field 'name' is {manifest.name!r}, expected {name!r} "
                        "(the folder name)")
    if manifest.total_rows == 0:
        problems.append(f"golden dataset {name!r} is empty (0 rows); a parity check on no rows proves nothing")
    import pyarrow as pa
    import pyarrow.parquet as pq

    for entry in manifest.splits:
        what = f"golden dataset {name!r} split {entry.name!r}"
        if entry.rows == 0 and manifest.total_rows:
            problems.append(f"{what}: declares 0 rows; empty splits are refused")
        try:
            path = resolve_inside(folder, entry.file, what=what)
        except GoldenDataError as exc:
            problems.append(str(exc))
            continue
        if not path.is_file():
            problems.append(f"{what}: file {path} not found")
            continue
        actual = sha256_file(path)
        if actual != entry.sha256:
            problems.append(f"{what}: file {path}: sha256 {actual} does not match the manifest's "
                            f"{entry.sha256}; the file changed (regenerate it or restore it)")
            continue  # a changed file's schema is not worth reading
        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError, ValueError) as exc:  # a bad footer raises any of these
            problems.append(f"{what}: file {path}: not a readable Parquet file ({exc})")
            continue
        problems.extend(_check_schema(manifest, entry, schema, path))
        if meta.num_rows != entry.rows:
            problems.append(f"{what}: file {path} holds {meta.num_rows} rows, manifest says {entry.rows}")
    return manifest, problems


def check_unique_key(keys: Any, key: str, where: str) -> None:
    """`GoldenDataError` naming ``where``, the ``key`` column, how many rows share a key, the first such
    keys and the rows (0-based, in file order) that hold them, when the Arrow array ``keys`` repeats one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.count_distinct(keys, mode="all").as_py() == len(keys):
        return
    table = pa.table({key: keys})
    counts = table.group_by(key).aggregate([(key, "count", pc.CountOptions(mode="all"))])
    dup = counts.filter(pc.greater(counts[f"{key}_count"], 1))
    n_rows = pc.sum(dup[f"{key}_count"]).as_py()
    rows = np.flatnonzero(pc.is_in(keys, value_set=dup[key].combine_chunks()).to_numpy(zero_copy_only=False))
    first = rows[:6].tolist()
    examples = keys.take(pa.array(first)).to_pylist()
    seen = list(dict.fromkeys(examples))[:5]
    raise GoldenDataError(f"{where}: key column {key!r} has {n_rows} rows with duplicated keys, e.g. {seen}; "
                          f"the first such rows are {first} (0-based, in file order)", column=key, row=first[0],
                          value=examples[0])


def check_values(table: Any, columns: Any, where: str) -> None:
    """Key unique, non-nullable columns free of null and NaN -- on the Arrow table, before pandas;
    `GoldenDataError` naming ``where``, the column, the count and the first keys or rows. Shared by
    `GoldenDataset.frame`, `parity golden verify` (`verify_dataset`) and the writer, which refuses such
    a split before it writes a file."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    key = next((c.name for c in columns if c.role == "key"), None)
    if key is not None:
        check_unique_key(table[key], key, where)
    for column in columns:
        if column.nullable:
            continue
        values = table[column.name]
        missing = values.is_null()
        if pa.types.is_floating(values.type):
            missing = pc.or_(missing, pc.fill_null(pc.is_nan(values), False))  # is_nan(null) is null
        n_missing = pc.sum(missing).as_py() or 0
        if n_missing:
            rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False))[:5].tolist()
            raise GoldenDataError(f"{where}: column {column.name!r} is not nullable but has {n_missing} "
                                  f"missing values (null or NaN), first at rows {rows}")


def verify_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> list[str]:
    """Every problem found with dataset ``name`` (an empty list when it verifies).

    Raises `GoldenDataError` only when there is no such dataset (the message lists those available);
    anything wrong with a dataset that exists -- manifest, paths, hashes, schema, row counts -- comes
    back as one message per problem, each naming the file and expected vs actual.
    """
    folder = _dataset_dir(name, root)
    manifest, problems = _verify(name, folder)
    if problems or manifest is None:
        return problems
    import pyarrow.parquet as pq

    for entry in manifest.splits:  # the values too: a repeated key, a missing value where none may be
        path = folder / entry.file
        try:
            check_values(pq.read_table(path), manifest.columns,
                         f"golden dataset {name!r} split {entry.name!r} ({path})")
        except GoldenDataError as exc:
            problems.append(str(exc))
    return problems


def load_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> GoldenDataset:
    """Verify dataset ``name`` and return it; `GoldenDataError` listing every problem otherwise."""
    folder = _dataset_dir(name, root)
    manifest, problems = _verify(name, folder)
    if problems or manifest is None:
        raise GoldenDataError(f"golden dataset {name!r} failed verification:\n  - " + "\n  - ".join(problems))
    return GoldenDataset(manifest, folder)


class GoldenDataset:
    """A verified golden dataset: its schema, roles and splits, and verified access to the data."""

    def __init__(self, manifest: Manifest, root: Path) -> None:
        self._manifest = manifest
        self.root = Path(root)
        self.name = manifest.name
        self.version = manifest.version
        self.description = manifest.description
        self.columns: dict[str, Column] = {c.name: c for c in manifest.columns}
        self.key: str = next(c.name for c in manifest.columns if c.role == "key")
        self.labels: list[str] = [c.name for c in manifest.columns if c.role == "label"]
        self.group: str | None = next((c.name for c in manifest.columns if c.role == "group"), None)
        self.weight: str | None = next((c.name for c in manifest.columns if c.role == "weight"), None)
        self.features: list[str] = [c.name for c in manifest.columns if c.role == "feature"]
        self.splits: list[str] = [s.name for s in manifest.splits]
        self._frames: dict[str, Any] = {}

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest document (a fresh dict each time, so callers cannot alter the dataset's)."""
        return self._manifest.to_dict()

    @property
    def total_rows(self) -> int:
        return self._manifest.total_rows

    def rows(self, split: str) -> int:
        return self._manifest.split(split).rows

    def __repr__(self) -> str:
        return (f"GoldenDataset({self.name!r}, version={self.version!r}, rows={self.total_rows}, "
                f"splits={self.splits})")

    def split_path(self, split: str) -> Path:
        """The file that holds ``split`` (inside the dataset's folder, or `GoldenDataError`)."""
        entry = self._manifest.split(split)
        return resolve_inside(self.root, entry.file, what=f"golden dataset {self.name!r} split {split!r}")

    def _verified_table(self, split: str, *, columns: list[str] | None = None):
        """Read the split's bytes once, check their sha256, and parse that same buffer."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        entry = self._manifest.split(split)
        what = f"golden dataset {self.name!r} split {split!r}"
        path = self.split_path(split)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GoldenDataError(f"{what}: cannot read {path}: {exc}") from None
        actual = sha256_bytes(data)
        if actual != entry.sha256:
            raise GoldenDataError(f"{what}: file {path}: sha256 {actual} does not match the manifest's "
                                  f"{entry.sha256}; it changed on disk after the dataset was loaded")
        parquet = pq.ParquetFile(pa.BufferReader(data))
        problems = _check_schema(self._manifest, entry, parquet.schema_arrow, path)
        if parquet.metadata.num_rows != entry.rows:
            problems.append(f"{path} holds {parquet.metadata.num_rows} rows, manifest says {entry.rows}")
        if problems:
            raise GoldenDataError(f"{what}: " + "; ".join(problems))
        return parquet, path

    def _check_values(self, table, split: str, path: Path) -> None:
        check_values(table, self._manifest.columns, f"golden dataset {self.name!r} split {split!r} ({path})")

    def frame(self, split: str):
        """The split as a pandas DataFrame (verified; cached; each call returns a copy)."""
        if split not in self._frames:
            parquet, path = self._verified_table(split)
            table = parquet.read()
            self._check_values(table, split, path)
            self._frames[split] = table.to_pandas()
        return self._frames[split].copy()

    def iter_batches(self, split: str, batch_size: int = 65536) -> Iterator[Any]:
        """The split as pandas DataFrames of at most ``batch_size`` rows, in file order (verified)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParityInputError(f"iter_batches: batch_size must be a positive int, got {batch_size!r}")
        if split in self._frames:
            frame = self._frames[split]
            for start in range(0, len(frame), batch_size):
                yield frame.iloc[start : start + batch_size].copy()
            return
        parquet, path = self._verified_table(split)
        # Key uniqueness and nullability need the whole split: checked on the Arrow table (no pandas
        # conversion) before the first batch, so no unverified row is ever yielded.
        self._check_values(parquet.read(), split, path)
        offset = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            frame = batch.to_pandas()
            frame.index = range(offset, offset + len(frame))
            offset += len(frame)
            yield frame
