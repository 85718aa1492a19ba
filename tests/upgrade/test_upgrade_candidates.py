"""Candidate versions for tox -e upgrade-check: file lines and $PARITY_CANDIDATES, comments ignored."""
from __future__ import annotations

from harness.upgrade.candidates import candidates, main


def test_candidates_from_file_and_environment(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("# header\n\nscikit-learn==1.6.1  # the upgrade under test\n  numpy==2.0.2\n")
    env = {"PARITY_CANDIDATES": "scipy==1.14.1 'pandas>=2.2,<3'"}
    assert candidates(f, environ=env) == ["scikit-learn==1.6.1", "numpy==2.0.2", "scipy==1.14.1", "pandas>=2.2,<3"]


def test_nothing_to_install_runs_no_pip(tmp_path, monkeypatch, capsys):
    f = tmp_path / "c.txt"
    f.write_text("# only comments\n")
    monkeypatch.delenv("PARITY_CANDIDATES", raising=False)
    called = []
    monkeypatch.setattr("subprocess.call", lambda *a, **k: called.append(a) or 0)
    assert main([str(f)]) == 0 and not called
    assert "no candidate versions" in capsys.readouterr().out


def test_missing_file_is_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
