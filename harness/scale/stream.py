"""Read a Parquet file (or a folder of Parquet files) in chunks of at most ``chunk_rows`` rows.

Only the named columns are read, one record batch at a time with no read-ahead or pre-buffering, so memory stays
bounded by a chunk (plus one row group's decoded pages) whatever the file's size. Each `Chunk` carries its
position (chunk index, first row) so that an error can name where in the stream it happened.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError

__all__ = ["Chunk", "count_rows", "iter_chunks"]

DEFAULT_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class Chunk:
    """Rows ``start .. start + n - 1`` of the stream (0-based), as one numpy array per column."""

    index: int
    start: int
    columns: dict[str, np.ndarray]
    # A folder's files and the stream row each starts at (None: one file), so that a row is named by its file
    files: tuple[tuple[str, ...], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return next(iter(self.columns.values())).shape[0] if self.columns else 0

    def where(self, key: str | None = None, row: int | None = None) -> str:
        """"chunk 3 (rows 300-399)" or, for one row of it, "chunk 3, row 317 (row_id=4242)"."""
        if row is None:
            return f"chunk {self.index} (rows {self.start}-{self.start + self.n - 1})"
        text = f"chunk {self.index}, row {self.start + row}"
        if key is not None and key in self.columns:
            text += f" ({key}={_plain(self.columns[key][row])!r})"
        return text + file_of_row(self.files, self.start + row)


def file_of_row(files: tuple[tuple[str, ...], np.ndarray] | None, row: int) -> str:
    """" in FILE (its row K)" for stream row ``row`` of a folder (``files``: paths and first rows), else ""."""
    if files is None:
        return ""
    paths, starts = files
    i = int(np.searchsorted(starts, row, side="right")) - 1
    return f" in {paths[i]} (its row {row - int(starts[i])})"


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _dataset(path: str | Path):
    import pyarrow.dataset as pads

    p = Path(path)
    if not p.exists():
        raise ParityInputError(f"{p}: no such file or folder", file=str(p), reason="no such file or folder")
    # pre_buffer=False: with pre-buffering a single-file scan keeps every column chunk it has read until
    # the scan ends (RSS grew by the file's size, ~290 MB on 1e7 rows); without it the read is per page
    fmt = pads.ParquetFileFormat(default_fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=False))
    try:
        return pads.dataset(str(p), format=fmt)
    except Exception as exc:  # pyarrow's own errors say what is wrong with the bytes
        raise ParityInputError(f"{p}: cannot be read as Parquet ({exc})", file=str(p),
                               reason="cannot be read as Parquet") from exc


def _check_columns(ds, path: Path, columns: Sequence[str]) -> None:
    """Every named column is in the dataset and, for a folder, in each of its files: pyarrow takes a
    folder's schema from one file and reads a column another file lacks as nulls, which would be blamed
    on a row, not on the file without the column (the footers only: nothing is decoded)."""
    have = list(ds.schema.names)
    for c in columns:
        if c not in have:
            raise ParityInputError(f"{path}: no column {c!r}; columns: {have}", file=str(path), column=c,
                                   reason="no such column")
    if Path(path).is_dir():
        first = None  # (path, schema) of the folder's first file holding every named column
        for fragment in ds.get_fragments():
            schema = fragment.physical_schema
            lacking = [c for c in columns if c not in schema.names]
            if lacking:
                raise ParityInputError(f"{fragment.path}: no column {lacking[0]!r}, which the other files of "
                                       f"{path} have; its columns: {list(schema.names)}", file=str(fragment.path),
                                       column=lacking[0], reason="no such column in this file")
            if first is None:
                first = (fragment.path, schema)
                continue
            for c in columns:  # pyarrow would cast one file's column to another's type: text parsed as numbers
                mine, theirs = schema.field(c).type, first[1].field(c).type
                if _type_family(mine) != _type_family(theirs):
                    raise ParityInputError(
                        f"{fragment.path}: column {c!r} is {mine}, but {theirs} in {first[0]}; store it with one "
                        "type in every file of the folder (nothing is converted silently)",
                        file=str(fragment.path), column=c, reason=f"type {mine} differs from {theirs} in {first[0]}")


def _type_family(t) -> str:
    """What a column holds, up to width: integers, floats, text (plain, large or dictionary-encoded), bool,
    else the type itself. Files of one folder may differ in width (int32/int64), not in family."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return "text"
    return str(t)


def count_rows(path: str | Path) -> int:
    """Rows in the file or dataset, from the Parquet footers (nothing is decoded)."""
    return int(_dataset(path).count_rows())


def iter_chunks(path: str | Path, columns: Sequence[str], *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                nullable: Sequence[str] = (), key: str | None = None) -> Iterator[Chunk]:
    """Yield the named columns chunk by chunk, in file order; no chunk has more than ``chunk_rows`` rows.

    A null in any named column is refused (it would otherwise become NaN or an object), naming the
    column, the chunk and the row, except in the ``nullable`` ones (slice columns: a missing value is a
    slice of its own), which read nulls as None (or NaN in a numeric column), as pandas does. ``key`` (a
    column among ``columns``) is the row key such a message names next to the row.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise ParityInputError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}", argument="chunk_rows",
                               value=chunk_rows, reason="expected an integer >= 1")
    p = Path(path)
    ds = _dataset(p)
    cols = list(dict.fromkeys(columns))
    _check_columns(ds, p, cols)
    files = None
    if p.is_dir():  # the footers' row counts: which file a stream row is in, for the errors that name a row
        fragments = list(ds.get_fragments())
        counts = np.array([f.metadata.num_rows for f in fragments], dtype=np.int64)
        files = (tuple(f.path for f in fragments), np.concatenate([[0], np.cumsum(counts)[:-1]]))
    start, index = 0, 0
    try:
        batches = ds.to_batches(columns=cols, batch_size=int(chunk_rows), batch_readahead=0, fragment_readahead=0)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for off in range(0, batch.num_rows, int(chunk_rows)):
                part = batch.slice(off, int(chunk_rows))
                chunk = Chunk(index, start, {c: _column(part, c, p, index, start, c in nullable, key, files)
                                             for c in cols}, files)
                yield chunk
                start += part.num_rows
                index += 1
    except ParityInputError:
        raise
    except OSError as exc:  # a truncated or corrupt file, found while decoding
        raise ParityInputError(f"{p}: reading chunk {index} (from row {start}) failed: {exc}", file=str(p),
                               reason="unreadable Parquet") from exc


def _column(batch, name: str, path: Path, index: int, start: int, nullable: bool = False,
            key: str | None = None, files: tuple | None = None) -> np.ndarray:
    arr = batch.column(name)
    if arr.null_count and not nullable:
        import pyarrow.compute as pc

        i = int(pc.index(pc.is_null(arr), True).as_py())
        where = f"chunk {index}, row {start + i}"
        if key is not None and key != name and key in batch.schema.names:
            where += f" ({key}={batch.column(key)[i].as_py()!r})"
        where += file_of_row(files, start + i)
        raise ParityInputError(f"{path}: column {name!r} is null at {where}; nulls are not scores, labels or keys",
                               file=str(path), column=name, row=start + i, value=None, reason="null value")
    return arr.to_numpy(zero_copy_only=False)
