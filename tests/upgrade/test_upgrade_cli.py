"""`parity baseline record / check / accept / history` end to end, through `harness.cli.main`."""
from __future__ import annotations

import json
import textwrap

import pytest

from harness.cli import main

SUITE_FILE = textwrap.dedent('''
    import os
    import numpy as np
    from harness.suite import Suite
    from harness.upgrade import ProbeSet

    probes = ProbeSet("cli_suite")

    @probes.inference("scores")
    def scores():
        scale = float(os.environ.get("CLI_TEST_SCALE", "1"))
        return {"p": np.linspace(0.0, 1.0, 101) * scale}

    @probes.configuration("cfg")
    def cfg():
        return {"params": {"C": float(os.environ.get("CLI_TEST_C", "1.0")), "solver": "lbfgs"}}

    SUITE = Suite(name="cli_suite", description="probes only", dataset="none", pair=lambda ds: None, probes=probes)
''')

NO_PROBES_FILE = textwrap.dedent('''
    from harness.suite import Suite
    SUITE = Suite(name="plain_suite", description="no probes", dataset="none", pair=lambda ds: None)
''')


@pytest.fixture
def suites(tmp_path, monkeypatch):
    d = tmp_path / "parity_suites"
    d.mkdir()
    (d / "test_cli_suite.py").write_text(SUITE_FILE)
    (d / "test_plain_suite.py").write_text(NO_PROBES_FILE)
    monkeypatch.setenv("PARITY_SUITES_DIR", str(d))
    monkeypatch.delenv("CLI_TEST_SCALE", raising=False)
    monkeypatch.delenv("CLI_TEST_C", raising=False)
    import sys

    for name in ("parity_suites_test_cli_suite", "parity_suites_test_plain_suite"):  # discovery caches modules
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def test_record_check_accept_history(suites, monkeypatch, capsys):
    root = suites / "baselines"
    assert main(["baseline", "record", "--out", str(root)]) == 0
    out = capsys.readouterr()
    assert "recorded cli_suite" in out.out and "'plain_suite' declares no probes; skipped" in out.err
    assert (root / "cli_suite" / "baseline.json").is_file() and not (root / "plain_suite").exists()

    assert main(["baseline", "record", "--out", str(root)]) == 2  # exists, no reason
    assert "needs a reason" in capsys.readouterr().err

    js, md = suites / "out" / "f.json", suites / "out" / "f.md"
    assert main(["baseline", "check", "--baseline", str(root), "--json", str(js), "--markdown", str(md)]) == 0
    assert json.loads(js.read_text())["verdict"] == "UNCHANGED"
    capsys.readouterr()

    monkeypatch.setenv("CLI_TEST_C", "0.5")
    assert main(["baseline", "check", "--suite", "cli_suite", "--baseline", str(root), "--json", str(js),
                 "--markdown", str(md)]) == 1
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "CHANGED"
    (finding,) = doc["suites"][0]["findings"]
    assert finding["probe"] == "cfg" and finding["category"] == "configuration"
    assert finding["size"]["changes"][0] == {"path": "root['C']", "change": "values_changed", "old": 1.0, "new": 0.5}
    assert "`root['C']`: 1.0 -> 0.5" in md.read_text()
    assert "1 behaviour(s) changed" in capsys.readouterr().out

    assert main(["baseline", "accept", "--suite", "cli_suite", "--baseline", str(root), "--reason", "C lowered on purpose"]) == 0
    assert main(["baseline", "check", "--baseline", str(root)]) == 0
    capsys.readouterr()
    assert main(["baseline", "history", "--baseline", str(root)]) == 0
    text = capsys.readouterr().out
    assert "record  initial record" in text and "accept  C lowered on purpose" in text and "cfg/params" in text
    assert main(["baseline", "history", "--baseline", str(root), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["action"] for x in lines] == ["record", "accept"]


def test_last_bit_change_exits_zero(suites, monkeypatch, capsys):
    root = suites / "baselines"
    assert main(["baseline", "record", "--out", str(root)]) == 0
    monkeypatch.setenv("CLI_TEST_SCALE", repr(1.0 + 2.220446049250313e-16))  # 1 + eps: moves values by <= 1 ulp
    js = suites / "f.json"
    assert main(["baseline", "check", "--baseline", str(root), "--json", str(js)]) == 0
    doc = json.loads(js.read_text())["suites"][0]
    assert doc["counts"]["WITHIN_NOISE"] == 1 and doc["counts"]["CHANGED"] == 0


@pytest.mark.parametrize("argv, message", [
    (["baseline", "check", "--suite", "nope"], "unknown suite"),
    (["baseline", "check", "--suite", "plain_suite"], "declares probes"),
    (["baseline", "check", "--suite", "cli_suite", "--baseline", "/nonexistent/dir"], "no baseline for suite 'cli_suite'"),
    (["baseline", "accept", "--suite", "cli_suite", "--reason", "ok", "--baseline", "/nonexistent/dir"], "no baseline"),
], ids=["unknown-suite", "suite-without-probes", "missing-baseline", "accept-missing-baseline"])
def test_could_not_run_exits_two(suites, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_results_convert_to_check_results_for_the_plugin(suites, monkeypatch):
    from harness.discovery import find_suites
    from harness.upgrade import check_against_baseline, record_baseline

    (suite,) = [s for s in find_suites(["cli_suite"])]
    root = suites / "baselines"
    record_baseline(suite.probes, root=root)
    checks = {c.id: c for c in check_against_baseline("cli_suite", suite.probes, root).to_check_results()}
    assert set(checks) == {"upgrade/scores", "upgrade/cfg"} and all(c.passed for c in checks.values())
    monkeypatch.setenv("CLI_TEST_C", "2.0")
    checks = {c.id: c for c in check_against_baseline("cli_suite", suite.probes, root).to_check_results()}
    assert not checks["upgrade/cfg"].passed and checks["upgrade/scores"].passed
    assert "root['C']" in checks["upgrade/cfg"].message and "parity baseline accept --suite cli_suite" in checks["upgrade/cfg"].message
    assert checks["upgrade/cfg"].to_dict()["kind"] == "upgrade"


def test_suites_outside_the_default_folder_and_default_locations(suites, monkeypatch, capsys):
    """A user's suites elsewhere: --suites-dir finds them, baselines default to ./golden_data/baselines
    of the current directory (never the installed harness's folder), and the missing-baseline hint
    gives a command that works."""
    monkeypatch.delenv("PARITY_SUITES_DIR")
    monkeypatch.delenv("PARITY_BASELINE_DIR", raising=False)
    work = suites / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    folder = str(suites / "parity_suites")

    assert main(["baseline", "check", "--suite", "cli_suite"]) == 2  # no ./parity_suites here
    err = capsys.readouterr().err
    assert f"suites directory {work / 'parity_suites'} does not exist: pass --suites-dir DIR" in err

    assert main(["baseline", "check", "--suite", "cli_suite", "--suites-dir", folder]) == 2  # no baseline yet
    err = capsys.readouterr().err
    assert f"{work / 'golden_data' / 'baselines' / 'cli_suite' / 'baseline.json'} does not exist" in err
    assert "`parity baseline record --suite cli_suite --suites-dir DIR`" in err

    assert main(["baseline", "record", "--suite", "cli_suite", "--suites-dir", folder]) == 0
    assert (work / "golden_data" / "baselines" / "cli_suite" / "baseline.json").is_file()
    assert main(["baseline", "check", "--suite", "cli_suite", "--suites-dir", folder]) == 0
    capsys.readouterr()

    assert main(["baseline", "check", "--suite", "nope", "--suites-dir", folder]) == 2
    assert f"unknown suite(s) ['nope'] in {folder}; available there: ['cli_suite', 'plain_suite']" in capsys.readouterr().err
