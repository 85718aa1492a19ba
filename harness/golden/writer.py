"""Writing a golden dataset: Arrow tables -> deterministic Parquet files + ``manifest.json``.

Determinism: tables are built from numpy arrays with an explicit schema (no pandas metadata, which would
embed the pandas version), rows keep the generator's order, and every Parquet writer option that affects
the bytes is spelled out. pyarrow still writes its own version into the file footer ("created_by"), so
the file sha256 reproduces only with the pyarrow version recorded in the manifest's provenance; the
content hash reproduces with any version.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import GoldenDataError
from harness.golden.hashing import content_sha256, sha256_file
from harness.golden.manifest import MANIFEST_FILE, Column, Manifest, SplitEntry

__all__ = ["PARQUET_OPTIONS", "GeneratedDataset", "arrow_table", "library_versions", "write_dataset"]

# Every option that changes the bytes, pinned. zstd level 3 is pyarrow's default level, written
# explicitly so a change of default cannot move the hashes; 64k-row groups keep iter_batches cheap.
PARQUET_OPTIONS: dict[str, Any] = {
    "row_group_size": 65536,
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "store_schema": True,
}


@dataclass(frozen=True)
class GeneratedDataset:
    """What a generator returns: the schema, one Arrow table per split, and its provenance."""

    name: str
    version: str
    description: str
    columns: tuple[Column, ...]
    splits: Mapping[str, Any]  # split name -> pyarrow.Table, in file order
    provenance: dict[str, Any] = field(default_factory=dict)


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (recorded in provenance)."""
    from importlib.metadata import version

    return {name: version(name) for name in names}


def arrow_table(columns: Sequence[Column], arrays: Mapping[str, Any]):
    """A ``pyarrow.Table`` with exactly ``columns`` (in order) and their declared types.

    Float NaN in a nullable column becomes a Parquet null (missing), the one representation of
    "missing" on disk; a NaN in a non-nullable column is an error, not a silent null.
    """
    import numpy as np
    import pyarrow as pa

    types = {"string": pa.string(), "bool": pa.bool_()}
    fields, data = [], []
    extra = set(arrays) - {c.name for c in columns}
    if extra:
        raise GoldenDataError(f"arrow_table: arrays {sorted(extra)} are not declared columns")
    for column in columns:
        if column.name not in arrays:
            raise GoldenDataError(f"arrow_table: no array for declared column {column.name!r}")
        _refuse_nullable_key(column, "arrow_table")
        typ = types.get(column.dtype) or pa.from_numpy_dtype(np.dtype(column.dtype))
        values = arrays[column.name]
        if isinstance(values, np.ndarray) and values.dtype.kind == "f":
            nan = np.isnan(values)
            if nan.any() and not column.nullable:
                raise GoldenDataError(f"arrow_table: column {column.name!r} is not nullable but holds NaN: "
                                      f"row {int(np.argmax(nan))} (0-based, of the rows given; "
                                      f"{int(nan.sum())} NaN in all)")
        try:
            array = pa.array(values, type=typ, from_pandas=isinstance(values, np.ndarray) and values.dtype.kind == "f")
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
            raise _conversion_error(column, values, typ, exc) from None
        if array.null_count and not column.nullable:
            nulls = np.asarray(array.is_null())
            raise GoldenDataError(f"arrow_table: column {column.name!r} is not nullable but holds nulls: "
                                  f"row {int(np.argmax(nulls))} (0-based, of the rows given; "
                                  f"{array.null_count} null in all)")
        fields.append(pa.field(column.name, typ, nullable=column.nullable))
        data.append(array)
    return pa.Table.from_arrays(data, schema=pa.schema(fields))


def _refuse_nullable_key(column: Column, where: str) -> None:
    if column.role == "key" and column.nullable:
        raise GoldenDataError(f"{where}: column {column.name!r} is the key column and is declared nullable=True; "
                              "every row needs its key (golden verify refuses such a manifest): declare it "
                              "nullable=False")


def _conversion_error(column: Column, values: Any, typ: Any, exc: Exception) -> GoldenDataError:
    """pyarrow's refusal to convert a column, naming the column, the first row it refuses and its value
    (found one value at a time: this runs only once the whole conversion has failed)."""
    import pyarrow as pa

    import numpy as np

    seq = values if isinstance(values, np.ndarray) else list(values)  # one-row slices keep the dtype's path
    row = None
    for i in range(len(seq)):
        try:
            pa.array(seq[i:i + 1], type=typ, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            row = i
            break
    shown = seq[row].item() if row is not None and isinstance(seq[row], np.generic) else None if row is None else seq[row]
    at = f"row {row} (0-based, of the rows given) holds {shown!r}, " if row is not None else ""
    return GoldenDataError(f"arrow_table: column {column.name!r} (declared {column.dtype}): {at}which does not "
                           f"convert to {column.dtype} exactly ({type(exc).__name__}: {exc})")


def write_dataset(generated: GeneratedDataset, *, dest_dir: str | os.PathLike[str]) -> Manifest:
    """Write ``<dest_dir>/<split>.parquet`` for every split and ``<dest_dir>/manifest.json``.

    Returns the manifest written. Files are written to a temporary name and renamed, so a crash never
    leaves a half-written file under the name the manifest will point at.
    """
    import pyarrow.parquet as pq

    from harness.golden.registry import check_values

    for column in generated.columns:
        _refuse_nullable_key(column, f"write_dataset({generated.name!r})")
    for split, table in generated.splits.items():  # every split before any file: nothing half-written
        if table.num_rows == 0:
            raise GoldenDataError(f"write_dataset({generated.name!r}): split {split!r} has no rows")
        check_values(table, generated.columns, f"write_dataset({generated.name!r}): split {split!r}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for split, table in generated.splits.items():
        file = f"{split}.parquet"
        tmp = dest / f".{file}.tmp"
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        os.replace(tmp, dest / file)
        entries.append(SplitEntry(split, file, table.num_rows, sha256_file(dest / file),
                                  content_sha256(table)))
    manifest = Manifest(
        name=generated.name,
        version=generated.version,
        description=generated.description,
        columns=tuple(generated.columns),
        splits=tuple(entries),
        total_rows=sum(e.rows for e in entries),
        provenance=dict(generated.provenance),
        path=dest / MANIFEST_FILE,
    )
    tmp = dest / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(tmp, dest / MANIFEST_FILE)
    return manifest
