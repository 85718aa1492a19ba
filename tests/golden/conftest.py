"""Fixtures for the golden-data tests: a writable copy of a committed dataset, and a helper that
rewrites one split (new table) and updates the manifest's hash so a *schema* defect gets past the
hash check and is caught by the check under test."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO_GOLDEN = Path(__file__).resolve().parents[2] / "golden_data"


@pytest.fixture
def golden_copy(tmp_path):
    """copy(name) -> root folder holding a fresh copy of golden_data/<name>."""

    def copy(name: str) -> Path:
        root = tmp_path / "golden"
        shutil.copytree(REPO_GOLDEN / name, root / name)
        return root

    return copy


def edit_manifest(root: Path, name: str, edit) -> None:
    path = root / name / "manifest.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))


def rewrite_split(root: Path, name: str, split: str, table) -> None:
    """Write ``table`` as the split's file and record its true sha256 and row count in the manifest."""
    import hashlib

    import pyarrow.parquet as pq

    path = root / name / f"{split}.parquet"
    pq.write_table(table, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def edit(doc):
        old = doc["splits"][split]["rows"]
        doc["splits"][split]["sha256"] = digest
        doc["splits"][split]["rows"] = table.num_rows
        doc["total_rows"] += table.num_rows - old

    edit_manifest(root, name, edit)


@pytest.fixture(name="edit_manifest")
def _edit_manifest_fixture():
    return edit_manifest


@pytest.fixture(name="rewrite_split")
def _rewrite_split_fixture():
    return rewrite_split
