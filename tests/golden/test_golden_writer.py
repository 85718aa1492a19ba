"""`write_dataset` refuses a split the loader would refuse (a repeated or missing key, a missing value in a
non-nullable column) before it writes any file: a golden dataset that `parity golden verify` passes
must also load and read."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from harness.errors import GoldenDataError
from harness.golden import Column, GeneratedDataset, verify_dataset, write_dataset

COLUMNS = (Column("id", "int64", "key"), Column("x", "float64", "feature"), Column("y", "int64", "label"),
           Column("tag", "string", "feature", nullable=True))


def _dataset(ids, x=(0.5, 1.5, 2.5, 3.5), tag=("a", None, "b", "a")):
    train = pa.table({"id": pa.array(list(range(100, 104)), pa.int64()), "x": pa.array([1.0, 2.0, 3.0, 4.0]),
                      "y": pa.array([0, 1, 0, 1], pa.int64()), "tag": pa.array(["a", "b", None, "c"])})
    evals = pa.table({"id": pa.array(ids, pa.int64()), "x": pa.array(list(x), pa.float64()),
                      "y": pa.array([1, 0, 1, 0], pa.int64()), "tag": pa.array(list(tag))})
    return GeneratedDataset(name="tiny_w", version="1", description="writer test", columns=COLUMNS,
                            splits={"train": train, "eval": evals})


@pytest.mark.parametrize("ids, x, match", [
    ([1, 2, 2, 3], (0.5, 1.5, 2.5, 3.5), r"split 'eval': key column 'id' has 2 rows with duplicated keys, e\.g\. \[2\]; "
                                          r"the first such rows are \[1, 2\] \(0-based, in file order\)"),
    ([None, 2, 3, 4], (0.5, 1.5, 2.5, 3.5), r"split 'eval': column 'id' is not nullable but has 1 missing"),
    ([1, 2, 3, 4], (0.5, float("nan"), 2.5, 3.5), r"split 'eval': column 'x' is not nullable .* rows \[1\]"),
], ids=["repeated-key", "missing-key", "nan-feature"])
def test_a_split_the_loader_would_refuse_is_refused_before_any_file_is_written(tmp_path, ids, x, match):
    with pytest.raises(GoldenDataError, match=match):
        write_dataset(_dataset(ids, x), dest_dir=tmp_path / "tiny_w")
    assert not (tmp_path / "tiny_w").exists() or not any((tmp_path / "tiny_w").iterdir())


def test_a_sound_dataset_is_written_and_verifies_with_its_values(tmp_path):
    write_dataset(_dataset([1, 2, 3, 4]), dest_dir=tmp_path / "tiny_w")
    assert verify_dataset("tiny_w", root=tmp_path) == []


@pytest.mark.parametrize("values, match", [
    ([0.5, 1.0, float("nan"), float("nan")], r"column 'x' is not nullable but holds NaN: row 2 \(0-based, of the rows "
                                             r"given; 2 NaN in all\)"),
    ([0.5, None, 1.0, 2.0], r"column 'x' is not nullable but holds nulls: row 1 \(0-based, of the rows given; 1 null"),
], ids=["nan", "none"])
def test_arrow_table_names_the_first_missing_row_of_a_non_nullable_column(values, match):
    import numpy as np

    from harness.golden.writer import arrow_table

    arr = np.array(values, dtype=float) if None not in values else values
    with pytest.raises(GoldenDataError, match=match):
        arrow_table(COLUMNS[:2], {"id": np.arange(4), "x": arr})


@pytest.mark.parametrize(("column", "values", "expected"), [
    (("price", "float64"), ["1.5", 2.0, "oops"], r"column 'price' \(declared float64\): row 0 \(0-based, of the rows "
                                                r"given\) holds '1\.5', which does not convert to float64 exactly"),
    (("clicks", "int64"), np.array([1.0, -0.801931, 3.0]), r"column 'clicks' \(declared int64\): row 1 .* holds "
                                                          r"-0\.801931, which does not convert to int64 exactly"),
    (("clicks", "int64"), np.array([1, 2, 2**63], dtype=object), r"column 'clicks' \(declared int64\): row 2 .* holds "
                                                                 r"9223372036854775808"),
])
def test_a_value_that_does_not_convert_is_named_with_its_column_and_row(column, values, expected):
    from harness.golden.manifest import Column
    from harness.golden.writer import arrow_table

    with pytest.raises(GoldenDataError, match=expected):
        arrow_table((Column(column[0], column[1], "feature"),), {column[0]: values})


def test_a_nullable_key_column_is_refused_when_written(tmp_path):
    from harness.golden.manifest import Column
    from harness.golden.writer import GeneratedDataset, arrow_table, write_dataset

    with pytest.raises(GoldenDataError, match=r"arrow_table: column 'row_id' is the key column and is declared "
                                              r"nullable=True"):
        arrow_table((Column("row_id", "int64", "key", nullable=True),), {"row_id": np.arange(3)})
    good = arrow_table((Column("row_id", "int64", "key"),), {"row_id": np.arange(3)})
    with pytest.raises(GoldenDataError, match=r"write_dataset\('d'\): column 'row_id' is the key column"):
        write_dataset(GeneratedDataset("d", "1", "", (Column("row_id", "int64", "key", nullable=True),),
                                       {"eval": good}), dest_dir=tmp_path / "d")
    assert not (tmp_path / "d").exists()
