"""Provenance in the report: the harness version and the suites' commit, as git and the installer say.

The expected commit comes from running git in the test, not from the code under test; the checkout is
a throwaway repository in tmp_path.
"""
from __future__ import annotations

import importlib.metadata
import shutil
import subprocess

import pytest

from harness.errors import ParityInputError
from harness.report import build_report, dumps_report, render_html, render_markdown, suites_provenance, validate_report

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(path, *args):
    return subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def suites_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "parity_suites").mkdir(parents=True)
    (repo / "parity_suites" / "ctr.py").write_text("SUITE = None\n")
    (repo / "README").write_text("x\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "suites")
    return repo


def test_commit_is_head_and_clean(suites_repo):
    head = _git(suites_repo, "rev-parse", "HEAD").strip()
    assert suites_provenance(suites_repo / "parity_suites") == {"commit": head, "dirty": False}


@pytest.mark.parametrize("change", ["modify", "untracked", "staged"])
def test_uncommitted_change_in_the_suites_folder_is_dirty(suites_repo, change):
    folder = suites_repo / "parity_suites"
    if change == "modify":
        (folder / "ctr.py").write_text("SUITE = 1\n")
    elif change == "untracked":
        (folder / "new_suite.py").write_text("SUITE = 2\n")
    else:
        (folder / "staged.py").write_text("SUITE = 3\n")
        _git(suites_repo, "add", "parity_suites/staged.py")
    assert suites_provenance(folder)["dirty"] is True


def test_a_change_outside_the_suites_folder_is_not_the_suites(suites_repo):
    (suites_repo / "README").write_text("edited\n")
    assert suites_provenance(suites_repo / "parity_suites")["dirty"] is False


def test_not_a_checkout_or_no_git_is_unknown(tmp_path, suites_repo, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert suites_provenance(plain) == {"commit": None, "dirty": None}
    assert suites_provenance(tmp_path / "missing") == {"commit": None, "dirty": None}
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # git cannot be found
    assert suites_provenance(suites_repo / "parity_suites") == {"commit": None, "dirty": None}


def test_repository_without_a_commit_is_unknown(tmp_path):
    _git(tmp_path, "init", "-q")
    assert suites_provenance(tmp_path) == {"commit": None, "dirty": None}


def test_the_report_names_version_and_commit_and_stays_byte_identical(suites_repo, make_result):
    head = _git(suites_repo, "rev-parse", "HEAD").strip()
    doc = build_report([make_result()], suites=suites_repo / "parity_suites")
    validate_report(doc)
    assert doc["suites_source"] == {"commit": head, "dirty": False}
    assert doc["tool"] == {"name": "parity-harness", "version": importlib.metadata.version("parity-harness")}
    again = build_report([make_result()], suites=str(suites_repo / "parity_suites"))
    assert dumps_report(again) == dumps_report(doc)
    assert render_markdown(again) == render_markdown(doc) and render_html(again) == render_html(doc)
    md = render_markdown(doc).splitlines()[-1]
    assert f"suites at commit `{head}`" in md and importlib.metadata.version("parity-harness") in md
    assert f"suites at commit <code>{head}</code>" in render_html(doc)
    (suites_repo / "parity_suites" / "ctr.py").write_text("edited\n")
    dirty = build_report([make_result()], suites=suites_repo / "parity_suites")
    assert "with uncommitted changes" in render_markdown(dirty) and "with uncommitted changes" in render_html(dirty)


def test_suites_given_as_a_mapping_or_not_at_all(make_result):
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert build_report([make_result()], suites={"commit": sha, "dirty": True})["suites_source"] == {
        "commit": sha, "dirty": True}
    doc = build_report([make_result()])
    assert doc["suites_source"] == {"commit": None, "dirty": None}
    assert "suites' commit not recorded" in render_markdown(doc)


@pytest.mark.parametrize("bad", [{"commit": 12, "dirty": False}, {"commit": None, "dirty": "no"},
                                 {"commit": None, "dirty": None, "path": "/abs"}, 3.5],
                         ids=["commit-not-str", "dirty-not-bool", "extra-key", "not-a-path"])
def test_bad_suites_argument_is_a_clear_error(make_result, bad):
    with pytest.raises(ParityInputError, match="build_report: suites must be a folder"):
        build_report([make_result()], suites=bad)
