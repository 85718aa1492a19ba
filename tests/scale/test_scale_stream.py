"""iter_chunks: bounded chunks that together are the file, in order; clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import ParityInputError
from harness.scale.stream import count_rows, iter_chunks


@pytest.fixture
def table_file(tmp_path):
    n = 103
    t = pa.table({"id": np.arange(n) * 3, "p": np.linspace(0, 1, n, dtype=np.float32), "y": np.arange(n) % 2})
    path = tmp_path / "t.parquet"
    pq.write_table(t, path, row_group_size=10)
    return path, t


@pytest.mark.parametrize("chunk_rows", [1, 7, 10, 64, 10**6])
def test_chunks_are_bounded_and_reassemble_the_file(table_file, chunk_rows):
    path, t = table_file
    chunks = list(iter_chunks(path, ["id", "p"], chunk_rows=chunk_rows))
    assert all(1 <= c.n <= chunk_rows for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.start for c in chunks] == list(np.cumsum([0] + [c.n for c in chunks[:-1]]))
    assert np.array_equal(np.concatenate([c.columns["id"] for c in chunks]), t.column("id").to_numpy())
    p = np.concatenate([c.columns["p"] for c in chunks])
    assert p.dtype == np.float32 and np.array_equal(p, t.column("p").to_numpy())
    assert count_rows(path) == t.num_rows


def test_a_folder_of_files_is_one_stream(tmp_path, table_file):
    _, t = table_file
    folder = tmp_path / "ds"
    folder.mkdir()
    pq.write_table(t.slice(0, 50), folder / "part-0.parquet")
    pq.write_table(t.slice(50), folder / "part-1.parquet")
    ids = np.concatenate([c.columns["id"] for c in iter_chunks(folder, ["id"], chunk_rows=16)])
    assert sorted(ids.tolist()) == t.column("id").to_pylist()


def test_errors_name_file_column_and_row(tmp_path, table_file):
    path, _ = table_file
    with pytest.raises(ParityInputError, match=r"no column 'score'") as e:
        list(iter_chunks(path, ["id", "score"]))
    assert e.value.column == "score" and e.value.file == str(path)
    with pytest.raises(ParityInputError, match="no such file"):
        list(iter_chunks(tmp_path / "missing.parquet", ["id"]))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ParityInputError, match="cannot be read as Parquet"):
        list(iter_chunks(bad, ["id"]))
    with pytest.raises(ParityInputError, match="chunk_rows"):
        list(iter_chunks(path, ["id"], chunk_rows=0))
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "p": [0.1, 0.2, None, 0.4]}), nulls)
    with pytest.raises(ParityInputError, match=r"column 'p' is null at chunk 1, row 2") as e:
        list(iter_chunks(nulls, ["id", "p"], chunk_rows=2))
    assert e.value.row == 2
