"""Regeneration reproduces the committed datasets: file hashes when the library versions equal the
manifest's provenance, content hashes otherwise (and the result says which)."""
from __future__ import annotations

import hashlib
import json
from importlib.metadata import version

import pytest

from harness.errors import GoldenDataError
from harness.golden import check_regeneration, load_dataset, read_manifest, regenerate
from harness.golden.registry import default_root


def _recorded_versions_match(name):
    libs = read_manifest(default_root() / name).provenance["libraries"]
    return all(version(lib) == v for lib, v in libs.items())


@pytest.mark.parametrize("name", ["breast_cancer", "ads_ctr"])
def test_golden_regeneration_reproduces_committed_hashes(name, tmp_path):
    committed = read_manifest(default_root() / name)
    fresh = regenerate(name, dest=tmp_path)  # writes only into tmp_path
    by_split = {s.name: s for s in fresh.splits}
    assert [s.name for s in fresh.splits] == [s.name for s in committed.splits]
    for entry in committed.splits:
        new = by_split[entry.name]
        assert new.rows == entry.rows
        assert new.content_sha256 == entry.content_sha256  # any library versions
        if _recorded_versions_match(name):
            assert new.sha256 == entry.sha256  # byte-identical with the recorded versions
            # and independently of our own hashing code:
            assert hashlib.sha256((tmp_path / new.file).read_bytes()).hexdigest() == entry.sha256


def test_golden_check_regeneration_says_which_hash_it_compared():
    # breast_cancer only: ads_ctr's regeneration is covered above and costs seconds each time.
    result = check_regeneration("breast_cancer")
    assert result.matches, result.mismatches
    assert result.method == ("file_sha256" if _recorded_versions_match("breast_cancer") else "content_sha256")


def _edit(root, name, edit):
    path = root / name / "manifest.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))


def test_golden_other_library_versions_fall_back_to_content_hash(golden_copy):
    root = golden_copy("breast_cancer")
    _edit(root, "breast_cancer", lambda d: d["provenance"]["libraries"].update(pyarrow="15.0.0"))
    result = check_regeneration("breast_cancer", root=root)
    assert result.method == "content_sha256" and result.matches, result.mismatches
    assert result.versions["pyarrow"] == ("15.0.0", version("pyarrow")) and not result.versions_match


def test_golden_content_mismatch_is_reported_with_both_hashes(golden_copy):
    root = golden_copy("breast_cancer")
    bogus = "0" * 64
    _edit(root, "breast_cancer", lambda d: (d["provenance"]["libraries"].update(numpy="1.0"),
                                            d["splits"]["eval"].update(content_sha256=bogus)))
    result = check_regeneration("breast_cancer", root=root)
    assert not result.matches
    assert any("split 'eval'" in m and bogus in m for m in result.mismatches), result.mismatches


def test_golden_changed_seed_does_not_reproduce(golden_copy):
    root = golden_copy("breast_cancer")
    _edit(root, "breast_cancer", lambda d: d["provenance"].update(seed=1))  # the seed regeneration uses
    result = check_regeneration("breast_cancer", root=root)
    assert not result.matches
    assert any("regenerated file sha256" in m or "content sha256" in m for m in result.mismatches)


def test_golden_regenerate_refuses_generators_outside_the_package(golden_copy):
    root = golden_copy("breast_cancer")
    _edit(root, "breast_cancer", lambda d: d["provenance"].update(generator="os:system"))
    with pytest.raises(GoldenDataError, match=r"provenance\.generator.*'os:system' is not inside harness\.golden\.generators"):
        regenerate("breast_cancer", root=root)


def test_golden_regenerate_restores_a_corrupted_dataset(golden_copy):
    root = golden_copy("breast_cancer")
    path = root / "breast_cancer" / "train.parquet"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(GoldenDataError):
        load_dataset("breast_cancer", root=root)
    regenerate("breast_cancer", root=root)
    assert load_dataset("breast_cancer", root=root).frame("train").shape == (398, 32)
