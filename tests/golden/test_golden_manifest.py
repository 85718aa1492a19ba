"""Manifest parsing: every malformed field is refused with the file and the field named."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.errors import GoldenDataError, ParityInputError
from harness.golden import read_manifest
from harness.golden.manifest import parse_manifest, resolve_inside

VALID = {
    "format_version": 1,
    "name": "tiny",
    "version": "1",
    "description": "d",
    "columns": [{"name": "id", "dtype": "int64", "role": "key"},
                {"name": "y", "dtype": "float64", "role": "label", "nullable": True}],
    "splits": {"all": {"file": "all.parquet", "rows": 3, "sha256": "a" * 64}},
    "total_rows": 3,
    "provenance": {},
}


def _with(path, value):
    doc = copy.deepcopy(VALID)
    *parents, last = path
    target = doc
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return doc


BAD = [
    ("not_an_object", [], r"expected a JSON object at the top level"),
    ("no_format", _with(["format_version"], KeyError), r"missing field 'format_version'"),
    ("future_format", _with(["format_version"], 2), r"'format_version': expected 1"),
    ("no_name", _with(["name"], KeyError), r"missing field 'name'"),
    ("name_with_slash", _with(["name"], "a/b"), r"field 'name'"),
    ("version_number", _with(["version"], 1), r"field 'version': expected a version string, got 1"),
    ("no_columns", _with(["columns"], []), r"field 'columns': expected at least one column"),
    ("column_not_object", _with(["columns", 0], "id"), r"field 'columns\[0\]'"),
    ("unknown_dtype", _with(["columns", 1, "dtype"], "double"), r"'columns\[1\]\.dtype': expected one of"),
    ("unknown_role", _with(["columns", 1, "role"], "target"), r"'columns\[1\]\.role': expected one of"),
    ("no_key", _with(["columns", 0, "role"], "feature"), r"exactly one column with role 'key'"),
    ("nullable_key", _with(["columns", 0, "nullable"], True), r"'columns\[0\]\.nullable': expected false"),
    ("nullable_string", _with(["columns", 1, "nullable"], "yes"), r"'columns\[1\]\.nullable': expected true or false"),
    ("duplicate_column", _with(["columns", 1, "name"], "id"), r"'columns\[1\]\.name'.*not used by another"),
    ("no_splits", _with(["splits"], {}), r"field 'splits': expected at least one split"),
    ("rows_negative", _with(["splits", "all", "rows"], -1), r"'splits\.all\.rows': expected a non-negative"),
    ("rows_bool", _with(["splits", "all", "rows"], True), r"'splits\.all\.rows'"),
    ("rows_float", _with(["splits", "all", "rows"], 3.0), r"'splits\.all\.rows'"),
    ("short_sha", _with(["splits", "all", "sha256"], "abc"), r"'splits\.all\.sha256': expected 64 lowercase hex"),
    ("upper_sha", _with(["splits", "all", "sha256"], "A" * 64), r"'splits\.all\.sha256'"),
    ("no_file", _with(["splits", "all", "file"], KeyError), r"missing field 'splits\.all\.file'"),
    ("bad_content", _with(["splits", "all", "content_sha256"], 5), r"'splits\.all\.content_sha256'"),
    ("total_mismatch", _with(["total_rows"], 4), r"'total_rows': expected the sum of the splits' rows \(3\)"),
    ("no_provenance", _with(["provenance"], KeyError), r"missing field 'provenance'"),
]


@pytest.mark.parametrize("doc, pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_golden_malformed_manifest_names_file_and_field(doc, pattern):
    with pytest.raises(GoldenDataError, match=r"golden manifest /x/manifest\.json: .*" + pattern):
        parse_manifest(doc, source="/x/manifest.json")


def test_golden_valid_manifest_round_trips():
    m = parse_manifest(VALID, source="m.json")
    again = parse_manifest(json.loads(m.to_json()), source="m.json")
    assert again.to_dict() == m.to_dict()
    assert m.columns[1].nullable and m.split("all").rows == 3
    assert isinstance(GoldenDataError("x"), ParityInputError)  # one error type for bad input


def test_golden_manifest_file_errors(tmp_path):
    with pytest.raises(GoldenDataError, match=r"manifest\.json: file not found"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"name": ')
    with pytest.raises(GoldenDataError, match=r"manifest\.json: not valid JSON \(line 1, column 10"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe")
    with pytest.raises(GoldenDataError, match=r"manifest\.json: cannot read"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("relative, pattern", [
    ("../x.parquet", "contains '..'"),
    ("a/../../x.parquet", "contains '..'"),
    ("a\\..\\x.parquet", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("C:\\data\\x.parquet", "is absolute"),
    ("", "non-empty relative path"),
    (" x.parquet", "non-empty relative path"),
])
def test_golden_paths_cannot_leave_the_dataset_folder(relative, pattern, tmp_path):
    with pytest.raises(GoldenDataError, match=pattern):
        resolve_inside(tmp_path, relative, what="split 'x'")


def test_golden_paths_inside_are_allowed(tmp_path):
    (tmp_path / "sub").mkdir()
    assert resolve_inside(tmp_path, "sub/x.parquet", what="w") == (tmp_path / "sub" / "x.parquet").resolve()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(GoldenDataError, match="outside the dataset folder"):
        resolve_inside(tmp_path, "link/x.parquet", what="w")
