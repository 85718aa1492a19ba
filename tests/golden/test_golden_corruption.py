"""Every way a golden dataset can be wrong is refused, with a message naming what and where.

Each case corrupts a copy of ``breast_cancer`` (small, so the table runs fast) under tmp_path.
"""
from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from harness.errors import GoldenDataError, ParityInputError
from harness.golden import load_dataset, verify_dataset

NAME = "breast_cancer"


def _table(root, split="train"):
    return pq.read_table(root / NAME / f"{split}.parquet")


def flip_byte(root, edit_manifest, rewrite_split):
    path = root / NAME / "train.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def drop_column(root, edit_manifest, rewrite_split):
    rewrite_split(root, NAME, "train", _table(root).drop_columns(["mean_radius"]))


def wrong_dtype(root, edit_manifest, rewrite_split):
    t = _table(root)
    i = t.schema.get_field_index("mean_radius")
    rewrite_split(root, NAME, "train", t.set_column(i, "mean_radius", pc.cast(t["mean_radius"], pa.float32())))


def label_as_float(root, edit_manifest, rewrite_split):
    t = _table(root)
    i = t.schema.get_field_index("malignant")
    rewrite_split(root, NAME, "train", t.set_column(i, "malignant", pc.cast(t["malignant"], pa.float64())))


def extra_column(root, edit_manifest, rewrite_split):
    t = _table(root)
    rewrite_split(root, NAME, "train", t.append_column("leak", t["malignant"]))


def renamed_column(root, edit_manifest, rewrite_split):
    t = _table(root)
    names = ["radius_mean" if n == "mean_radius" else n for n in t.column_names]
    rewrite_split(root, NAME, "train", t.rename_columns(names))


def dotdot_path(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d["splits"]["train"].update(file="../x.parquet"))


def absolute_path(root, edit_manifest, rewrite_split):
    target = str((root / NAME / "train.parquet").resolve())
    edit_manifest(root, NAME, lambda d: d["splits"]["train"].update(file=target))


def symlink_outside(root, edit_manifest, rewrite_split):
    outside = root.parent / "outside.parquet"
    (root / NAME / "train.parquet").rename(outside)
    os.symlink(outside, root / NAME / "train.parquet")


def missing_file(root, edit_manifest, rewrite_split):
    (root / NAME / "eval.parquet").unlink()


def row_count_lie(root, edit_manifest, rewrite_split):
    def edit(d):
        d["splits"]["train"]["rows"] += 1
        d["total_rows"] += 1

    edit_manifest(root, NAME, edit)


def empty_dataset(root, edit_manifest, rewrite_split):
    for split in ("train", "eval"):
        rewrite_split(root, NAME, split, _table(root, split).slice(0, 0))


def empty_split(root, edit_manifest, rewrite_split):
    rewrite_split(root, NAME, "eval", _table(root, "eval").slice(0, 0))


def name_mismatch(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d.update(name="ads_ctr"))


def duplicate_key(root, edit_manifest, rewrite_split):
    t = _table(root)
    ids = t["sample_id"].to_numpy().copy()
    ids[1] = ids[0]
    rewrite_split(root, NAME, "train", t.set_column(0, "sample_id", pa.array(ids)))


def null_in_feature(root, edit_manifest, rewrite_split):
    t = _table(root)
    i = t.schema.get_field_index("mean_area")
    values = t["mean_area"].to_pylist()
    values[3] = None
    rewrite_split(root, NAME, "train", t.set_column(i, "mean_area", pa.array(values, pa.float64())))


def nan_in_feature(root, edit_manifest, rewrite_split):
    t = _table(root)
    i = t.schema.get_field_index("worst_area")
    values = t["worst_area"].to_numpy().copy()
    values[[7, 9]] = float("nan")
    rewrite_split(root, NAME, "train", t.set_column(i, "worst_area", pa.array(values)))  # NaN, not null


def not_parquet(root, edit_manifest, rewrite_split):
    import hashlib

    junk = b"PAR1 but not really"
    (root / NAME / "eval.parquet").write_bytes(junk)
    edit_manifest(root, NAME, lambda d: d["splits"]["eval"].update(sha256=hashlib.sha256(junk).hexdigest()))


def malformed_json(root, edit_manifest, rewrite_split):
    path = root / NAME / "manifest.json"
    path.write_text(path.read_text()[:-20])


def missing_field(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d["splits"]["eval"].pop("sha256"))


def bad_dtype_name(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d["columns"][1].update(dtype="double"))


def two_keys(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d["columns"][1].update(role="key"))


def wrong_total(root, edit_manifest, rewrite_split):
    edit_manifest(root, NAME, lambda d: d.update(total_rows=1))


# (corruption, phase that must refuse it -- "frame": the values, which verify reads and loading does not -- regex)
CASES = [
    (flip_byte, "verify", r"train\.parquet: sha256 [0-9a-f]{64} does not match the manifest's [0-9a-f]{64}"),
    (drop_column, "verify", r"train\.parquet: column 'mean_radius' \(float64, role feature\) is missing"),
    (wrong_dtype, "verify", r"column 'mean_radius' has dtype float32, expected float64"),
    (label_as_float, "verify", r"column 'malignant' has dtype float64, expected int64"),
    (extra_column, "verify", r"undeclared columns \['leak'\]"),
    (renamed_column, "verify", (r"'mean_radius' .* is missing", r"undeclared columns \['radius_mean'\]")),
    (dotdot_path, "verify", r"'\.\./x\.parquet' contains '\.\.'"),
    (absolute_path, "verify", r"is absolute"),
    (symlink_outside, "verify", r"outside the dataset folder"),
    (missing_file, "verify", r"split 'eval': file .*eval\.parquet not found"),
    (row_count_lie, "verify", r"train\.parquet holds 398 rows, manifest says 399"),
    (empty_dataset, "verify", r"'breast_cancer' is empty \(0 rows\)"),
    (empty_split, "verify", r"split 'eval': declares 0 rows; empty splits are refused"),
    (name_mismatch, "verify", r"field 'name' is 'ads_ctr', expected 'breast_cancer' \(the folder name\)"),
    (duplicate_key, "frame", r"key column 'sample_id' has 2 rows with duplicated keys, e\.g\. \[\d+\]; the first such "
                             r"rows are \[0, 1\]"),
    (null_in_feature, "frame", r"column 'mean_area' is not nullable but has 1 missing values .* rows \[3\]"),
    (nan_in_feature, "frame", r"column 'worst_area' is not nullable but has 2 missing values .* rows \[7, 9\]"),
    (not_parquet, "verify", r"eval\.parquet: not a readable Parquet file"),
    (malformed_json, "verify", r"manifest\.json: not valid JSON \(line \d+"),
    (missing_field, "verify", r"manifest\.json: missing field 'splits\.eval\.sha256'"),
    (bad_dtype_name, "verify", r"field 'columns\[1\]\.dtype': expected one of .*got 'double'"),
    (two_keys, "verify", r"exactly one column with role 'key'"),
    (wrong_total, "verify", r"field 'total_rows': expected the sum of the splits' rows \(569\)"),
]


@pytest.mark.parametrize("corrupt, phase, pattern", CASES, ids=[c[0].__name__ for c in CASES])
def test_golden_corruption_is_refused(corrupt, phase, pattern, golden_copy, edit_manifest, rewrite_split):
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    root = golden_copy(NAME)
    assert verify_dataset(NAME, root=root) == []  # the copy is sound before we break it
    corrupt(root, edit_manifest, rewrite_split)
    if phase == "verify":
        problems = verify_dataset(NAME, root=root)
        for each in patterns:
            assert any(re.search(each, p) for p in problems), (each, problems)
        with pytest.raises(GoldenDataError) as info:
            load_dataset(NAME, root=root)
        for each in patterns:
            assert re.search(each, str(info.value)), (each, str(info.value))
    else:  # only visible in the values: `parity golden verify` reads them and refuses; loading reads
        # the footers only and passes; reading the split refuses
        problems = verify_dataset(NAME, root=root)
        assert len(problems) == 1 and re.search(pattern, problems[0]), (pattern, problems)
        ds = load_dataset(NAME, root=root)
        with pytest.raises(GoldenDataError, match=pattern):
            ds.frame("train")
        with pytest.raises(GoldenDataError, match=pattern):
            next(ds.iter_batches("train", 100))


def test_golden_flipped_byte_names_both_hashes(golden_copy, edit_manifest, rewrite_split):
    import hashlib
    import json

    root = golden_copy(NAME)
    expected = json.loads((root / NAME / "manifest.json").read_text())["splits"]["train"]["sha256"]
    flip_byte(root, edit_manifest, rewrite_split)
    actual = hashlib.sha256((root / NAME / "train.parquet").read_bytes()).hexdigest()
    with pytest.raises(GoldenDataError) as info:
        load_dataset(NAME, root=root)
    message = str(info.value)
    assert expected in message and actual in message and "train.parquet" in message and NAME in message


def test_golden_unknown_name_lists_available(golden_copy):
    root = golden_copy(NAME)
    with pytest.raises(GoldenDataError, match=r"unknown golden dataset 'nope'.*available: \['breast_cancer'\]"):
        load_dataset("nope", root=root)
    with pytest.raises(GoldenDataError, match="unknown golden dataset"):
        verify_dataset("nope", root=root)


@pytest.mark.parametrize("name", ["../golden", "a/b", "", ".."])
def test_golden_name_must_be_a_plain_folder(name, golden_copy):
    with pytest.raises(GoldenDataError, match="plain folder name"):
        load_dataset(name, root=golden_copy(NAME))


def test_golden_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(GoldenDataError, match=r"golden data folder .*does_not_exist does not exist"):
        load_dataset(NAME, root=tmp_path / "does_not_exist")


def test_golden_env_var_overrides_default_root(golden_copy, monkeypatch, edit_manifest, rewrite_split):
    root = golden_copy(NAME)
    flip_byte(root, edit_manifest, rewrite_split)
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(root))
    with pytest.raises(GoldenDataError, match="does not match"):
        load_dataset(NAME)  # the broken copy, not the repository's sound dataset


def test_golden_file_changed_after_load_is_refused(golden_copy, edit_manifest, rewrite_split):
    """Decision: frame()/iter_batches() re-hash the bytes they parse, so a file changed after
    load_dataset is refused, never returned; a split already cached stays the verified data."""
    root = golden_copy(NAME)
    ds = load_dataset(NAME, root=root)
    cached = ds.frame("eval")
    flip_byte(root, edit_manifest, rewrite_split)  # corrupts train.parquet
    with pytest.raises(GoldenDataError, match=r"split 'train'.*changed on disk after the dataset was loaded"):
        ds.frame("train")
    with pytest.raises(GoldenDataError, match=r"changed on disk"):
        list(ds.iter_batches("train", 50))
    (root / NAME / "eval.parquet").write_bytes(b"not parquet")
    assert ds.frame("eval").equals(cached)  # cached copy of what was verified


def test_golden_bad_arguments(golden_copy):
    ds = load_dataset(NAME, root=golden_copy(NAME))
    with pytest.raises(GoldenDataError, match=r"no split 'test'; available: \['train', 'eval'\]"):
        ds.frame("test")
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ParityInputError, match="batch_size must be a positive int"):
            next(ds.iter_batches("train", bad))


def test_check_unique_key_names_the_rows_that_share_a_key_as_a_slow_count_does():
    """Against a dictionary count over the keys: how many rows share a key, the first six such rows."""
    import numpy as np

    from harness.golden.registry import check_unique_key

    rng = np.random.default_rng(5)
    for trial in range(30):
        n = int(rng.integers(2, 60))
        keys = rng.integers(0, max(2, n * 2 // 3), size=n)
        values = [f"k{k}" for k in keys] if trial % 2 else keys.tolist()
        counts: dict = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        shared = [i for i, v in enumerate(values) if counts[v] > 1]
        arr = pa.chunked_array([pa.array(values[: n // 2]), pa.array(values[n // 2:])]) if trial % 3 else pa.array(values)
        if not shared:
            check_unique_key(arr, "id", "where")
            continue
        with pytest.raises(GoldenDataError) as info:
            check_unique_key(arr, "id", "where")
        msg = str(info.value)
        assert f"has {len(shared)} rows with duplicated keys" in msg
        assert f"the first such rows are {shared[:6]} (0-based, in file order)" in msg
        assert (info.value.column, info.value.row, info.value.value) == ("id", shared[0], values[shared[0]])


def test_a_duplicated_key_names_the_same_rows_in_memory_and_streamed(golden_copy, edit_manifest, rewrite_split):
    """Both runs refuse it before the pair is built, with the same message: file, key, rows."""
    from harness.runner import run_suite
    from harness.scale.suite_stream import run_suite_streamed
    from harness.suite import MetricGate, Suite

    root = golden_copy(NAME)
    t = _table(root, "eval")
    ids = t["sample_id"].to_numpy().copy()
    ids[[7, 40]] = ids[3]
    rewrite_split(root, NAME, "eval", t.set_column(0, "sample_id", pa.array(ids)))

    def never(dataset):
        raise AssertionError("the pair must not be built")

    suite = Suite(name="dup", description="", dataset=NAME, pair=never, label="malignant",
                  metrics=[MetricGate("auc", 0.01)])
    messages = []
    for run in (run_suite, run_suite_streamed):
        with pytest.raises(GoldenDataError) as info:
            run(suite, root=root)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert re.search(rf"split 'eval' \(\S+eval\.parquet\): key column 'sample_id' has 3 rows with duplicated keys, "
                     rf"e\.g\. \[{ids[3]}\]; the first such rows are \[3, 7, 40\]", messages[0]), messages[0]
