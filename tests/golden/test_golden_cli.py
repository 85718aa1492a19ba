"""`parity golden list | verify [NAME] | regenerate NAME [--check]`: output and exit codes."""
from __future__ import annotations

import argparse
import hashlib

import pytest

from harness.cli import golden as golden_cli


def run(argv):
    """Parse with only the golden sub-command registered (other sub-commands are other people's)."""
    parser = argparse.ArgumentParser(prog="parity")
    golden_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_golden_cli_list(capsys):
    assert run(["golden", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "VERSION", "ROWS", "SPLITS"]
    bc = next(line for line in lines if line.startswith("breast_cancer"))
    assert "1.0.0" in bc and " 569 " in bc and "train=398, eval=171" in bc and "Wisconsin" in bc
    assert any(line.startswith("ads_ctr") for line in lines)


def test_golden_cli_verify_all_ok(capsys):
    assert run(["golden", "verify"]) == 0
    out = capsys.readouterr().out
    assert "ok      ads_ctr" in out and "ok      breast_cancer" in out


def test_golden_cli_verify_failure_exit_1_with_reason(golden_copy, capsys):
    root = golden_copy("breast_cancer")
    path = root / "breast_cancer" / "eval.parquet"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes() + b"\0")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert run(["golden", "verify", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED  breast_cancer" in out and expected in out and actual in out and "eval.parquet" in out
    assert run(["golden", "verify", "breast_cancer", "--root", str(root)]) == 1


def test_golden_cli_verify_env_root(golden_copy, monkeypatch, capsys):
    root = golden_copy("breast_cancer")
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(root))
    assert run(["golden", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "ok      breast_cancer"  # only the copy's datasets


def test_golden_cli_unknown_name_is_a_usage_error(capsys):
    from harness.cli import main

    assert main(["golden", "verify", "no_such_dataset"]) == 2
    err = capsys.readouterr().err
    assert "unknown golden dataset 'no_such_dataset'" in err and "ads_ctr" in err


def test_golden_cli_regenerate_check(golden_copy, capsys):
    root = golden_copy("breast_cancer")
    before = {p.name: p.read_bytes() for p in (root / "breast_cancer").iterdir()}
    assert run(["golden", "regenerate", "breast_cancer", "--check", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "ok      breast_cancer regenerates identically" in out and "compared" in out
    assert {p.name: p.read_bytes() for p in (root / "breast_cancer").iterdir()} == before  # wrote nothing


def test_golden_cli_regenerate_check_mismatch_exit_1(golden_copy, capsys, edit_manifest):
    root = golden_copy("breast_cancer")
    edit_manifest(root, "breast_cancer", lambda d: d["provenance"].update(seed=7))
    assert run(["golden", "regenerate", "breast_cancer", "--check", "--root", str(root)]) == 1
    assert "FAILED  breast_cancer does not regenerate identically" in capsys.readouterr().out


def test_golden_cli_regenerate_rewrites(golden_copy, capsys):
    root = golden_copy("breast_cancer")
    target = root / "breast_cancer" / "train.parquet"
    target.write_bytes(b"garbage")
    assert run(["golden", "verify", "--root", str(root)]) == 1
    assert run(["golden", "regenerate", "breast_cancer", "--root", str(root)]) == 0
    assert run(["golden", "verify", "--root", str(root)]) == 0
    assert "regenerated breast_cancer" in capsys.readouterr().out
