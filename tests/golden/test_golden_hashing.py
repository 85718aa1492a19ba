"""File and content hashes: checked against hashlib directly and against invariances that define them."""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.golden import content_sha256, sha256_file


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_golden_sha256_file_matches_hashlib_across_chunk_boundaries(size, tmp_path):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_size=7) == hashlib.sha256(data).hexdigest()


def test_golden_sha256_known_vector(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # FIPS 180-2 test vector
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _table(**overrides):
    rng = np.random.default_rng(0)
    cols = {
        "k": pa.array(np.arange(1000, dtype=np.int64)),
        "x": pa.array(np.where(rng.random(1000) < 0.1, np.nan, rng.normal(size=1000)), from_pandas=True),
        "s": pa.array([["", "a", "café", None, "bc"][i % 5] for i in range(1000)], pa.string()),
        "b": pa.array(rng.random(1000) < 0.5),
    }
    cols.update(overrides)
    return pa.table(cols)


def test_golden_content_hash_ignores_how_the_file_was_written(tmp_path):
    table = _table()
    reference = content_sha256(table)
    for i, options in enumerate([{"compression": "snappy", "row_group_size": 7},
                                 {"compression": "none", "use_dictionary": False},
                                 {"compression": "zstd", "compression_level": 19, "row_group_size": 333}]):
        path = tmp_path / f"t{i}.parquet"
        pq.write_table(table, path, **options)
        assert content_sha256(pq.read_table(path)) == reference, options
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=99))
    assert chunked["x"].num_chunks > 1 and content_sha256(chunked) == reference
    assert content_sha256(table.slice(10, 500)) == content_sha256(_table().slice(10, 500).combine_chunks())
    layouts = [pa.large_string()] + ([pa.string_view()] if hasattr(pa, "string_view") else [])  # pyarrow >= 16
    for string_type in layouts:  # a reader's choice of string layout
        assert content_sha256(table.set_column(2, "s", table["s"].cast(string_type))) == reference


@pytest.mark.parametrize("change", ["value", "nan_vs_null", "string_boundary", "column_order", "name", "dtype",
                                    "null_vs_empty", "row_order"])
def test_golden_content_hash_sees_every_change(change):
    base = _table()
    if change == "value":
        x = base["x"].to_numpy(zero_copy_only=False).copy()
        x[5] = np.nextafter(x[5], np.inf)  # one ULP
        other = base.set_column(1, "x", pa.array(x, from_pandas=True))
    elif change == "nan_vs_null":
        x = base["x"].to_pylist()
        i = x.index(None)
        x_nan = pa.array([float("nan") if j == i else v for j, v in enumerate(x)], pa.float64())
        other = base.set_column(1, "x", x_nan)
    elif change == "string_boundary":  # "a","bc" vs "ab","c": lengths must enter the hash
        base = pa.table({"s": pa.array(["a", "bc"])})
        other = pa.table({"s": pa.array(["ab", "c"])})
    elif change == "column_order":
        other = base.select(["x", "k", "s", "b"])
    elif change == "name":
        other = base.rename_columns(["key", "x", "s", "b"])
    elif change == "dtype":
        other = base.set_column(0, "k", base["k"].cast(pa.int32()))
    elif change == "null_vs_empty":
        base = pa.table({"s": pa.array(["", "x"])})
        other = pa.table({"s": pa.array([None, "x"])})
    else:
        other = base.take(pa.array(np.r_[1, 0, np.arange(2, 1000)]))
    assert content_sha256(other) != content_sha256(base)


def test_golden_content_hash_collapses_nan_payloads():
    weird_nan = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    a = pa.table({"x": pa.array(np.array([1.0, np.nan]))})
    b = pa.table({"x": pa.array(np.array([1.0, weird_nan[0]]))})
    assert content_sha256(a) == content_sha256(b)


def test_golden_content_hash_refuses_unsupported_types():
    with pytest.raises(TypeError, match="column 'l' has unsupported Arrow type"):
        content_sha256(pa.table({"l": pa.array([[1], [2]])}))
