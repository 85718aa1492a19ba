"""Baseline files CI can trust: whatever is wrong with a baseline on disk, `parity baseline check` says
which file and exits 2 ("could not judge"), never 1 ("behaviour changed") and never with a traceback;
files a baseline names stay inside its folder; a missing baseline is NO_BASELINE with the command that
records it; and a write killed at any step leaves the baseline and its history both old or both new."""
from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import harness.upgrade.baseline as baseline_mod
from harness.cli import main
from harness.upgrade.baseline import (
    BaselineFileError,
    NoBaselineError,
    check_against_baseline,
    read_baseline,
    read_history,
    record_baseline,
)

SUITE = "trust_suite"
SUITE_FILE = textwrap.dedent(f'''
    import os
    import numpy as np
    from harness.suite import Suite
    from harness.upgrade import ProbeSet

    probes = ProbeSet({SUITE!r})

    @probes.inference("scores")
    def scores():
        scale = float(os.environ.get("TRUST_SCALE", "1"))
        rng = np.random.default_rng(0)
        return {{"small": rng.normal(size=8) * scale, "medium": rng.normal(size=5_000) * scale}}  # inline, .npz

    SUITE = Suite(name={SUITE!r}, description="probes only", probes=probes)
''')


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A suites folder with one probes-only suite, its baseline recorded under tmp/baselines."""
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / f"test_{SUITE}.py").write_text(SUITE_FILE)
    monkeypatch.setenv("PARITY_SUITES_DIR", str(suites))
    monkeypatch.delenv("PARITY_BASELINE_DIR", raising=False)
    monkeypatch.delenv("TRUST_SCALE", raising=False)
    monkeypatch.delitem(sys.modules, f"parity_suites_test_{SUITE}", raising=False)
    root = tmp_path / "baselines"
    assert main(["baseline", "record", "--baseline-dir", str(root), "--reason", "old"]) == 0
    return root


def _probes():
    from harness.discovery import find_suites

    (suite,) = find_suites([SUITE])
    return suite.probes


def _doc(root: Path) -> dict:
    return json.loads((root / SUITE / "baseline.json").read_text())


def _edit(root: Path, change) -> None:
    doc = _doc(root)
    change(doc)
    (root / SUITE / "baseline.json").write_text(json.dumps(doc))


def _npz(root: Path) -> Path:
    (path,) = (root / SUITE).glob("arrays-*.npz")
    return path


def _outside_npz(root: Path) -> Path:
    """A perfectly valid .npz with the right arrays, outside the suite's folder."""
    target = root.parent / "outside.npz"
    target.write_bytes(_npz(root).read_bytes())
    return target


def _symlink_npz_out(root: Path) -> None:
    target = _outside_npz(root)
    link = root / SUITE / "arrays-0000000000000000.npz"
    link.symlink_to(target)
    _edit(root, lambda d: d.update(npz=link.name))


def _symlink_json_out(root: Path) -> None:
    path = root / SUITE / "baseline.json"
    target = root.parent / "outside.json"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)


def _truncate_npz(root: Path) -> None:
    path = _npz(root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _object_array_npz(root: Path) -> None:
    path = _npz(root)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays = {k: np.array([object()] * 3, dtype=object) for k in arrays}  # readable only by unpickling
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _npy_not_npz(root: Path) -> None:
    with open(_npz(root), "wb") as fh:
        np.save(fh, np.arange(3))


def _first_output(doc: dict) -> dict:
    return doc["snapshot"]["probes"]["scores"]["runs"][0]["outputs"]["small"]


# id -> (how to damage the recorded baseline, the file the message must name, words it must contain)
DAMAGE = {
    "corrupt-json": (lambda r: (r / SUITE / "baseline.json").write_text('{"format_version": 1,'), "baseline.json", "JSONDecodeError"),
    "not-utf8": (lambda r: (r / SUITE / "baseline.json").write_bytes(b"\xff\xfe{}"), "baseline.json", "UnicodeDecodeError"),
    "not-an-object": (lambda r: (r / SUITE / "baseline.json").write_text("[1, 2, 3]"), "baseline.json", "is not of type 'object'"),
    "missing-field": (lambda r: _edit(r, lambda d: d.pop("fingerprint")), "baseline.json", "'fingerprint' is a required property"),
    "missing-nested-field": (lambda r: _edit(r, lambda d: _first_output(d).pop("sha256")), "baseline.json",
                             "'sha256' is a required property"),
    "field-of-wrong-type": (lambda r: _edit(r, lambda d: d["snapshot"].update(probes=[])), "baseline.json", "is not of type 'object'"),
    "unknown-format-version": (lambda r: _edit(r, lambda d: d.update(format_version=99)), "baseline.json", "format_version 99"),
    "other-suites-baseline": (lambda r: _edit(r, lambda d: d.update(suite="someone_else")), "baseline.json", "'someone_else'"),
    "edited-values": (lambda r: _edit(r, lambda d: _first_output(d).update(data=base64.b64encode(bytes(64)).decode())),
                      "baseline.json", "sha256"),
    "object-dtype-inline": (lambda r: _edit(r, lambda d: _first_output(d).update(dtype="|O")), "baseline.json", "dtype '|O'"),
    "npz-parent-path": (lambda r: (_outside_npz(r), _edit(r, lambda d: d.update(npz="../outside.npz"))), "baseline.json",
                        "expected a bare file name"),
    "npz-absolute-path": (lambda r: _edit(r, lambda d: d.update(npz=str(_outside_npz(r)))), "baseline.json",
                          "expected a bare file name"),
    "npz-symlink-escaping": (_symlink_npz_out, "baseline.json", "outside"),
    "baseline-json-symlink-escaping": (_symlink_json_out, "baseline.json", "outside"),
    "npz-missing": (lambda r: _npz(r).unlink(), "baseline.json", "does not exist"),
    "truncated-npz": (_truncate_npz, ".npz", "not a readable .npz"),
    "object-array-npz": (_object_array_npz, ".npz", "not a readable .npz"),
    "npy-instead-of-npz": (_npy_not_npz, ".npz", "not an .npz archive"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_baseline_is_named_and_exits_two(project, capsys, damage):
    do, names, words = DAMAGE[damage]
    do(project)
    with pytest.raises(BaselineFileError) as info:
        read_baseline(SUITE, root=project)
    assert names in info.value.path.name and words in str(info.value)
    assert str(project / SUITE) in str(info.value)  # the file is named by its full path
    capsys.readouterr()
    js = project.parent / "check.json"
    assert main(["baseline", "check", "--baseline-dir", str(project), "--json", str(js)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and names in err and words in err
    (entry,) = json.loads(js.read_text())["suites"]
    assert entry["verdict"] == "UNREADABLE" and names in entry["file"]


def test_files_outside_the_folder_are_never_opened(project, monkeypatch):
    """Confinement is decided before reading: the outside file is not even opened."""
    target = _outside_npz(project)
    _edit(project, lambda d: d.update(npz="../outside.npz"))
    opened = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda path, *a, **k: (opened.append(Path(path)), real_load(path, *a, **k))[1])
    with pytest.raises(BaselineFileError):
        read_baseline(SUITE, root=project)
    assert target not in [p.resolve() for p in opened] and opened == []


def test_re_recording_repairs_an_unreadable_baseline(project, capsys):
    (project / SUITE / "baseline.json").write_text("{")
    assert main(["baseline", "record", "--baseline-dir", str(project), "--reason", "repair"]) == 0
    assert check_against_baseline(SUITE, _probes(), project).changed == []
    last = read_history(SUITE, root=project)[-1]
    assert last["reason"] == "repair" and "baseline.json" in last["replaced_unreadable"]


def test_a_corrupt_history_is_named_and_exits_two(project, capsys):
    (project / SUITE / "history.jsonl").write_text('{"when": "x", "action": "record", "reason": "r"}\n{oops\n')
    capsys.readouterr()
    assert main(["baseline", "history", "--baseline-dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert "history.jsonl" in err and "line 2" in err and "Traceback" not in err


def test_missing_baseline_is_its_own_state_with_the_command_that_records_it(project, capsys, monkeypatch):
    empty = project.parent / "empty"
    with pytest.raises(NoBaselineError) as info:
        read_baseline(SUITE, root=empty)
    exc = info.value
    assert exc.state == "NO_BASELINE" and exc.suite == SUITE and exc.directory == empty / SUITE
    capsys.readouterr()
    js = project.parent / "check.json"
    assert main(["baseline", "check", "--baseline-dir", str(empty), "--json", str(js)]) == 2  # not 1: no judgement
    out, err = capsys.readouterr()
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "NO_BASELINE" and "CHANGED" not in out and "NOT_EQUIVALENT" not in out
    (entry,) = doc["suites"]
    assert entry["record_command"] in out and f"--baseline-dir {empty}" in entry["record_command"]
    assert main(shlex.split(entry["record_command"])[1:]) == 0  # the command works as printed
    assert main(["baseline", "check", "--baseline-dir", str(empty)]) == 0


# -- a write killed at any step: baseline and history both old or both new --------------------------------

STEPS = ["before-replace:arrays", "after-npz", "before-replace:baseline.json", "after-json",
         "before-replace:history.jsonl", "after-history"]


def _state(root: Path) -> tuple[str, str]:
    """(which snapshot is committed, the reason of the history's last entry)."""
    old = not check_against_baseline(SUITE, _probes(), root).changed  # TRUST_SCALE unset: the old behaviour
    return ("old" if old else "new"), read_history(SUITE, root=root)[-1]["reason"]


@pytest.mark.parametrize("step", STEPS)
def test_a_write_that_fails_at_any_step_leaves_both_old_or_both_new(project, monkeypatch, step):
    def crash(name):
        if name.startswith(step):
            raise OSError(f"simulated crash at {name}")

    monkeypatch.setenv("TRUST_SCALE", "2")  # every array differs: a new .npz too
    monkeypatch.setattr(baseline_mod, "_crash_hook", crash)
    with pytest.raises(OSError, match="simulated crash"):
        record_baseline(_probes(), root=project, reason="new")
    monkeypatch.setattr(baseline_mod, "_crash_hook", None)
    monkeypatch.delenv("TRUST_SCALE")
    committed = STEPS.index(step) > STEPS.index("before-replace:baseline.json")
    assert _state(project) == (("new", "new") if committed else ("old", "old"))
    # The next write keeps every entry, the one whose history write was lost included.
    record_baseline(_probes(), root=project, reason="after")
    assert [h["reason"] for h in read_history(SUITE, root=project)] == (["old", "new", "after"] if committed
                                                                         else ["old", "after"])
    assert len(list((project / SUITE).glob("arrays-*.npz"))) == 1
    assert (project / SUITE / "history.jsonl").read_text().count("\n") == (3 if committed else 2)


@pytest.mark.slow
def test_a_process_killed_between_the_baseline_and_the_history_write_loses_no_reason(project):
    """A hard kill (os._exit: no cleanup, no handlers) after the commit, before the history is written."""
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["TRUST_SCALE"] = "3"
        import harness.upgrade.baseline as b
        from harness.discovery import find_suites
        (suite,) = find_suites([{SUITE!r}])
        b._crash_hook = lambda name: os._exit(17) if name == "before-replace:history.jsonl" else None
        b.record_baseline(suite.probes, root={str(project)!r}, reason="killed after commit")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 17, proc.stderr
    assert "killed after commit" not in (project / SUITE / "history.jsonl").read_text()  # the kill came first
    assert _state(project) == ("new", "killed after commit")


def test_the_committed_baselines_still_read():
    """The repo's baselines read, carry their own history entry, and measured a noise band from the
    probes' declared inputs (not only the thread-count run) for every learning and inference probe."""
    root = Path(__file__).resolve().parents[2] / "parity_suites" / "baselines"  # next to the suite files
    directories = sorted(p for p in root.iterdir() if (p / "baseline.json").is_file())
    assert [d.name for d in directories] == ["ctr_logreg"]
    for directory in directories:
        baseline = read_baseline(directory.name, root=root)
        assert baseline.snapshot.probes and baseline.history_entry is not None
        history = read_history(directory.name, root=root)
        assert history[0]["action"] == "record" and history[-1]["reason"] == baseline.history_entry["reason"]
        for probe in baseline.snapshot.probes.values():
            if probe.category in ("learning", "inference"):
                assert probe.noise is not None and probe.noise.inputs, probe.name


def test_a_library_call_names_the_declaring_file_in_the_record_command(tmp_path, monkeypatch):
    """No shell said which suite file: the file that declared the ProbeSet stands in (here, this test)."""
    from harness.upgrade import ProbeSet

    monkeypatch.delenv("PARITY_BASELINE_DIR", raising=False)
    probes = ProbeSet("declared_here")
    assert probes.source_file == Path(__file__).resolve()
    with pytest.raises(NoBaselineError) as info:
        check_against_baseline("declared_here", probes, tmp_path)
    assert f"--suites-dir {Path(__file__).resolve().parent}" in info.value.command
    assert str(Path(__file__).resolve()) in info.value.pytest_command
