"""`parity run` and `parity report`, called in-process through harness.cli.main (real runner, tiny data).

Suite file names are unique per test: harness.discovery caches imported suite modules by file stem.
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from harness.cli import main

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "harness" / "report" / "schema.json").read_text())


def _setup(project, monkeypatch, stem: str, *, broken: bool = False):
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(project.golden_dir))
    project.write(f"suites/test_{stem}_ok.py", project.suite_source(name=f"{stem}_ok"))
    project.write(f"suites/test_{stem}_shifted.py", project.suite_source(name=f"{stem}_shifted", shift=1e-3))
    if broken:
        src = project.suite_source(name=f"{stem}_broken").replace(
            "def make_pair(dataset):", "def make_pair(dataset):\n    raise RuntimeError('model file missing')")
        project.write(f"suites/test_{stem}_broken.py", src)
    return project.path / "suites"


def test_run_exit_codes_table_and_outputs(project, monkeypatch, capsys, tmp_path):
    suites = _setup(project, monkeypatch, "cli1")
    rc = main(["run", "--suites-dir", str(suites), "--no-progress", "--report", str(tmp_path / "rep"),
               "--json", str(tmp_path / "doc.json")])
    out = capsys.readouterr().out
    assert rc == 1
    table = out.split("\n\n")[0].splitlines()
    # The table pytest prints at the end of a session, column for column.
    assert table[0].split() == ["SUITE", "VERDICT", "CHECKS", "FAILING", "INCONCLUSIVE", "KNOWN", "GAPS", "SAMPLE"]
    assert table[1].split() == ["cli1_ok", "EQUIVALENT", "3", "0", "0", "0", "-"]
    assert table[2].split() == ["cli1_shifted", "NOT_EQUIVALENT", "3", "2", "0", "0", "-"]
    assert "[cli1_shifted] features/x2: NOT_EQUIVALENT" in out  # the review of each failure follows
    doc = json.loads((tmp_path / "doc.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert (tmp_path / "rep" / "report.json").read_text() == (tmp_path / "doc.json").read_text()

    assert main(["run", "cli1_ok", "--suites-dir", str(suites), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", "nope", "--suites-dir", str(suites)]) == 2
    assert "unknown suite(s) ['nope']" in capsys.readouterr().err
    assert main(["run", "--suites-dir", str(suites), "--sample", "0"]) == 2
    assert "--sample must be a positive number of rows, got 0" in capsys.readouterr().err


def test_run_json_to_stdout_is_pure_json_and_sampled(project, monkeypatch, capsys):
    suites = _setup(project, monkeypatch, "cli2")
    rc = main(["run", "cli2_ok", "--suites-dir", str(suites), "--json", "-", "--sample", "100", "--seed", "4"])
    captured = capsys.readouterr()
    assert rc == 0
    doc = json.loads(captured.out)
    assert doc["sample"] == {"rows": 100, "seed": 4} and doc["suites"][0]["dataset"]["rows"] == 100
    assert "cli2_ok" in captured.err  # the table went to stderr


def test_a_broken_suite_is_exit_2_and_the_others_still_run(project, monkeypatch, capsys, tmp_path):
    suites = _setup(project, monkeypatch, "cli3", broken=True)
    rc = main(["run", "--suites-dir", str(suites), "--no-progress", "--json", str(tmp_path / "doc.json")])
    captured = capsys.readouterr()
    assert rc == 2
    assert "suite 'cli3_broken' could not run: RuntimeError: model file missing" in captured.err
    assert "Traceback (most recent call last)" in captured.err  # a crash in suite code: where it happened
    assert "cli3_ok" in captured.out and "cli3_shifted" in captured.out
    # The report keeps the broken suite, each planned check an error, as the pytest plugin does.
    doc = json.loads((tmp_path / "doc.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    broken = {s["suite"]: s for s in doc["suites"]}["cli3_broken"]
    assert broken["verdict"] == "NOT_EQUIVALENT" and doc["verdict"] == "NOT_EQUIVALENT"
    assert broken["checks"] and all(c["details"]["error"]["stage"] == "suite" for c in broken["checks"])
    assert "model file missing" in broken["checks"][0]["details"]["error"]["message"]
    assert doc["counts"]["errors"] == len(broken["checks"])


def test_report_rerenders_a_saved_report_and_refuses_an_invalid_one(project, monkeypatch, capsys, tmp_path):
    suites = _setup(project, monkeypatch, "cli4")
    ran = main(["run", "--suites-dir", str(suites), "--no-progress", "--report", str(tmp_path / "rep")])
    capsys.readouterr()
    saved = tmp_path / "rep" / "report.json"
    assert ran == 1  # one suite fails; parity report renders it and exits as the run did
    assert main(["report", str(saved), "--html", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")]) == ran
    assert (tmp_path / "r.html").read_bytes() == (tmp_path / "rep" / "report.html").read_bytes()
    assert (tmp_path / "r.md").read_bytes() == (tmp_path / "rep" / "report.md").read_bytes()
    assert main(["report", str(saved)]) == ran
    assert capsys.readouterr().out == (tmp_path / "rep" / "report.md").read_text()

    doc = json.loads(saved.read_text())
    doc["suites"][0]["checks"][1]["verdict"] = "MAYBE"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "$.suites[0].checks[1].verdict" in err and "MAYBE" in err
    assert not (tmp_path / "x.html").exists()


def _run_into_closed_pipe(args: list[str], *, stderr_too: bool, env: dict[str, str]) -> int:
    """`parity <args>` in a fresh process whose stdout (and stderr) is a pipe nobody reads: the reader
    has gone before the first line (``| grep -q``, ``| head -1`` once satisfied)."""
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-c", "import sys\nfrom harness.cli import main\nsys.exit(main())",
                               *args], stdout=w, stderr=w if stderr_too else subprocess.DEVNULL, timeout=600,
                              env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2])
    finally:
        os.close(w)
    return done.returncode


def test_a_reader_that_has_gone_changes_neither_the_exit_code_nor_the_report(project, tmp_path):
    suites = project.path / "suites"
    project.write("suites/test_cli9_ok.py", project.suite_source(name="cli9_ok"))
    project.write("suites/test_cli9_shifted.py", project.suite_source(name="cli9_shifted", shift=1e-3))
    env = {"PARITY_GOLDEN_DIR": str(project.golden_dir)}
    for which, want in (("cli9_ok", 0), (None, 1)):
        for stderr_too in (False, True):
            rep = tmp_path / f"rep-{which}-{stderr_too}"
            args = ["run", *([which] if which else []), "--suites-dir", str(suites), "--no-progress", "--report", str(rep)]
            assert _run_into_closed_pipe(args, stderr_too=stderr_too, env=env) == want, (which, stderr_too)
            assert json.loads((rep / "report.json").read_text())["verdict"] == ("EQUIVALENT" if want == 0
                                                                               else "NOT_EQUIVALENT")
    # a usage error is still 2 with nobody reading what it says
    assert _run_into_closed_pipe(["run", "nope", "--suites-dir", str(suites)], stderr_too=True, env=env) == 2
