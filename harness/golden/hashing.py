"""Hashes of golden files: the file's sha256 and a canonical content hash of its data.

The file hash is what load-time verification checks: it pins the exact bytes that were reviewed.
Parquet bytes also depend on the writer (pyarrow embeds its version, and compressors change), so a
second, *content* hash is computed from the decoded values in a canonical byte form. Two files with the
same columns, types and values in the same row order have the same content hash whatever wrote them;
it is what `regenerate --check` compares when the library versions differ from the manifest's.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["sha256_bytes", "sha256_file", "content_sha256"]

_CHUNK = 1 << 20  # 1 MiB: streaming keeps memory flat for large files


def sha256_bytes(data: bytes | memoryview) -> str:
    """Hex sha256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(table) -> str:
    """Canonical hash of a ``pyarrow.Table``'s values (column names, types, row order included).

    Per column: its name, its dtype (as the manifest names it), its validity (one byte per row) and its values with null slots
    zeroed -- fixed-width values as little-endian bytes (every NaN collapsed to one bit pattern),
    strings as (int64 length, UTF-8 bytes) pairs. Schema metadata, chunking, row groups, encodings and
    compression do not enter. The per-column digests are hashed together in column order.
    """
    import numpy as np
    import pyarrow as pa

    from harness.golden.manifest import arrow_dtype_name

    outer = hashlib.sha256()
    outer.update(b"parity-content-v1\0")
    for name, column in zip(table.column_names, table.columns):
        digest = hashlib.sha256()
        # The manifest's dtype name, so string / large_string / string_view (a reader's choice) agree.
        digest.update(f"{name}\0{arrow_dtype_name(column.type)}\0{len(column)}\0".encode())
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if isinstance(array, pa.ChunkedArray):  # zero chunks
            array = pa.array([], type=column.type)
        valid = np.ones(len(array), dtype=np.uint8)
        if array.null_count:
            valid = array.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8)
        digest.update(valid.tobytes())
        typ = array.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or _is_string_view(typ):
            array = array.cast(pa.large_string())
            digest.update(_string_bytes(array, valid))
        elif pa.types.is_boolean(typ):
            values = array.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
            digest.update(values.tobytes())
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
            values = array.fill_null(0).to_numpy(zero_copy_only=False)
            values = values.astype(values.dtype.newbyteorder("<"), copy=True)
            if values.dtype.kind == "f":
                values[np.isnan(values)] = np.nan  # one canonical NaN bit pattern
            digest.update(values.tobytes())
        else:
            raise TypeError(f"content_sha256: column {name!r} has unsupported Arrow type {typ}")
        outer.update(digest.digest())
    return outer.hexdigest()


def _string_bytes(array, valid) -> bytes:
    """(int64 little-endian length, UTF-8 bytes) per row, read straight from Arrow's buffers.

    Equivalent to a Python loop over ``to_pylist()`` but ~50x faster on 250k rows; null slots
    contribute length 0 (their nullness is in the validity bytes).
    """
    import numpy as np

    n = len(array)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype="<i8")[array.offset : array.offset + n + 1]
    lengths = np.diff(offsets).astype("<i8")
    lengths[valid == 0] = 0
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    chunks = [lengths.tobytes()]
    if valid.all():
        chunks.append(bytes(data[offsets[0] : offsets[-1]]))
    else:
        for start, stop, ok in zip(offsets[:-1], offsets[1:], valid):
            if ok:
                chunks.append(bytes(data[start:stop]))
    return b"".join(chunks)


def _is_string_view(arrow_type) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, "is_string_view", None)  # pyarrow >= 16
    return bool(check and check(arrow_type))
