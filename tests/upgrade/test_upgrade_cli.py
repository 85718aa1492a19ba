"""`parity baseline record / check / accept / history` end to end, through `harness.cli.main`."""
from __future__ import annotations

import json
import os
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
    assert main(["baseline", "record", "--out", str(root), "--reason", "first baseline"]) == 0
    out = capsys.readouterr()
    assert "recorded cli_suite" in out.out and "'plain_suite' declares no probes; skipped" in out.err
    assert (root / "cli_suite" / "baseline.json").is_file() and not (root / "plain_suite").exists()

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
    assert "1 behaviour changed" in capsys.readouterr().out

    assert main(["baseline", "accept", "--suite", "cli_suite", "--baseline", str(root), "--reason", "C lowered on purpose"]) == 0
    assert main(["baseline", "check", "--baseline", str(root)]) == 0
    capsys.readouterr()
    assert main(["baseline", "history", "--baseline", str(root)]) == 0
    text = capsys.readouterr().out
    assert "record  first baseline" in text and "accept  C lowered on purpose" in text and "cfg/params" in text
    assert main(["baseline", "history", "--baseline", str(root), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["action"] for x in lines] == ["record", "accept"]


def test_last_bit_change_exits_zero(suites, monkeypatch, capsys):
    root = suites / "baselines"
    assert main(["baseline", "record", "--out", str(root), "--reason", "first baseline"]) == 0
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
    """A user's suites elsewhere: --suites-dir finds them; baselines default to baselines/ next to the
    suite file whatever the current directory; the missing-baseline message is a command that works."""
    import shlex

    monkeypatch.delenv("PARITY_SUITES_DIR")
    monkeypatch.delenv("PARITY_BASELINE_DIR", raising=False)
    work = suites / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    folder = suites / "parity_suites"
    expected = folder / "baselines" / "cli_suite" / "baseline.json"

    assert main(["baseline", "check", "--suite", "cli_suite"]) == 2  # no ./parity_suites here
    err = capsys.readouterr().err
    assert f"suites directory {work / 'parity_suites'} does not exist: pass --suites-dir DIR" in err

    assert main(["baseline", "check", "--suite", "cli_suite", "--suites-dir", str(folder)]) == 2  # no baseline yet
    out, err = capsys.readouterr()
    assert f"NO_BASELINE: no baseline for suite 'cli_suite': {expected} does not exist" in err
    assert "## cli_suite: NO_BASELINE" in out and "could not be judged" in out
    command = out.split("```\n")[1].splitlines()[0]  # the command the report prints, run as printed
    argv = shlex.split(command)
    assert argv[:2] == ["parity", "baseline"] and "--reason" in argv
    assert main(argv[1:]) == 0
    assert expected.is_file() and not (work / "golden_data").exists()

    other = suites / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # another working directory finds the same baseline
    assert main(["baseline", "check", "--suite", "cli_suite", "--suites-dir", str(folder)]) == 0
    monkeypatch.setenv("CLI_TEST_C", "0.5")
    capsys.readouterr()
    assert main(["baseline", "check", "--suite", "cli_suite", "--suites-dir", str(folder)]) == 1
    import re

    printed = re.findall(r"`(parity baseline accept [^`]*)`", capsys.readouterr().out)
    assert printed, "the CHANGED report names no accept command"
    argv = shlex.split(printed[0])  # run as printed, from this other folder: it must name the suites folder
    assert argv[argv.index("--suites-dir") + 1] == str(folder.resolve())
    argv[argv.index("--reason") + 1] = "C halved"
    assert main(argv[1:]) == 0
    capsys.readouterr()
    assert main(["baseline", "history", "--suites-dir", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "record  initial baseline" in text and "accept  C halved" in text

    assert main(["baseline", "check", "--suite", "nope", "--suites-dir", str(folder)]) == 2
    assert f"unknown suite(s) ['nope'] in {folder}; available there: ['cli_suite', 'plain_suite']" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["record", "accept"])
@pytest.mark.parametrize("reason", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_record_and_accept_validate_the_reason_alike(suites, capsys, action, reason):
    root = suites / "baselines"
    assert main(["baseline", "record", "--baseline-dir", str(root), "--reason", "first"]) == 0
    capsys.readouterr()
    assert main(["baseline", action, "--suite", "cli_suite", "--baseline-dir", str(root), "--reason", reason]) == 2
    err = capsys.readouterr().err
    assert "needs --reason TEXT" in err and "history" in err  # harness.options.check_reason, as pytest uses


@pytest.mark.parametrize("action", ["record", "accept"])
def test_record_and_accept_both_require_a_reason(suites, capsys, action):
    with pytest.raises(SystemExit) as exc:
        main(["baseline", action, "--suite", "cli_suite"])
    assert exc.value.code == 2 and "the following arguments are required: --reason" in capsys.readouterr().err


def test_one_suite_without_baseline_does_not_hide_the_others(suites, monkeypatch, capsys):
    """Two suites, one recorded: the check still judges the recorded one; the exit is 2 (not judged)."""
    d = suites / "parity_suites"
    (d / "test_other_suite.py").write_text(SUITE_FILE.replace("cli_suite", "other_suite"))
    monkeypatch.delitem(__import__("sys").modules, "parity_suites_test_other_suite", raising=False)
    root = suites / "baselines"
    assert main(["baseline", "record", "--suite", "cli_suite", "--baseline-dir", str(root), "--reason", "r"]) == 0
    js = suites / "f.json"
    assert main(["baseline", "check", "--baseline-dir", str(root), "--json", str(js)]) == 2
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "NO_BASELINE"
    states = {s["suite"]: s["verdict"] for s in doc["suites"]}
    assert states == {"cli_suite": "UNCHANGED", "other_suite": "NO_BASELINE"}
    (missing,) = [s for s in doc["suites"] if s["suite"] == "other_suite"]
    assert f"--baseline-dir {root}" in missing["record_command"]


@pytest.mark.parametrize("argv, preset, expected", [
    (["baseline", "history"], None, "3"),
    (["baseline", "history"], "0", "0"),  # the user's own setting wins
    (["--verbose", "baseline", "history"], None, None),
    (["baseline", "history", "--verbose"], None, None),
], ids=["default-quiet", "user-setting-kept", "verbose-top-level", "verbose-after-action"])
def test_tensorflow_native_logging_is_quiet_unless_asked(suites, monkeypatch, argv, preset, expected):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "placeholder")  # so that monkeypatch restores the real value
    if preset is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", preset)
    assert main(argv + ["--baseline-dir", str(suites / "none")]) == 0
    import os

    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == expected


_NATIVE = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
           b"I0000 00:00:1796172938.712389    7989 port.cc:153] oneDNN custom operations are on.\n"
           b"W1201 23:10:01.000123 4242 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
           b"E0000 00:00:1796172941.180244    7989 util.cc:163] Not handling type DT_DOUBLE\n")


def test_native_log_lines_are_held_back_and_everything_else_kept(capfd):
    from harness.cli import _native_log_held_back

    with _native_log_held_back():
        os.write(2, b"a warning of the user's own\n" + _NATIVE + b"Error: not a log line] 12\n")
    err = capfd.readouterr().err
    assert err == "a warning of the user's own\nError: not a log line] 12\n"


def test_whoever_imports_tensorflow_first_its_native_lines_are_held_back(tmp_path):
    """In a fresh process: `quiet_tensorflow` (as `parity` calls it) and then an import of a package named
    tensorflow (a stand-in that writes TensorFlow's import-time lines to file descriptor 2) through
    another module, as a suite's `import keras` does; with TF_CPP_MIN_LOG_LEVEL preset, nothing is held back."""
    import subprocess
    import sys

    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(
        f"import os\nos.write(2, {_NATIVE!r})\nos.write(2, b'tensorflow says hello\\n')\n")
    (tmp_path / "fake_keras.py").write_text("import tensorflow\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from harness.cli import quiet_tensorflow; "
            "quiet_tensorflow(False); import fake_keras; print('done', file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b"tensorflow says hello\ndone\n"
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, timeout=60,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"})  # the user's own setting: all of it
    assert proc.returncode == 0 and proc.stderr == _NATIVE + b"tensorflow says hello\ndone\n", proc.stderr


@pytest.mark.slow
@pytest.mark.tf
def test_no_tensorflow_log_lines_on_the_console(tmp_path):
    """End to end, in a fresh process: a probe that runs TensorFlow prints none of its C++ log lines."""
    import os
    import subprocess
    import sys

    d = tmp_path / "suites"
    d.mkdir()
    (d / "test_tf_suite.py").write_text(textwrap.dedent('''
        import keras  # noqa: F401  (a suite's own import, in the CLI's process: TensorFlow's import-time lines)

        from harness.suite import Suite
        from harness.upgrade import ProbeSet

        probes = ProbeSet("tf_suite")

        @probes.inference("tf")
        def tf_probe():
            import tensorflow as tf
            return {"x": (tf.constant([1.0, 2.0]) * 2.0).numpy()}

        SUITE = Suite(name="tf_suite", description="probes only", probes=probes)
    '''))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "harness", "baseline", "record", "--suites-dir", str(d),
                           "--reason", "first"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "recorded tf_suite" in proc.stdout
    for marker in ("absl::InitializeLog", "cpu_feature_guard", "oneDNN custom operations", "I0000 "):
        assert marker not in proc.stderr, proc.stderr


def test_an_internal_error_exits_two_without_a_traceback(suites, monkeypatch, capsys):
    """A crash is not a judgement: exit 2 (never 1, which CI reads as a behaviour change), one line."""
    import harness.upgrade.baseline as b

    def boom(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(b, "check_against_baseline", boom)
    assert main(["baseline", "check", "--baseline-dir", str(suites / "none")]) == 2
    err = capsys.readouterr().err
    assert "internal error: KeyError: 'surprise'" in err and "Traceback" not in err and "--verbose" in err
    assert main(["--verbose", "baseline", "check", "--baseline-dir", str(suites / "none")]) == 2
    assert "Traceback" in capsys.readouterr().err
