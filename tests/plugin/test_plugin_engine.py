"""One engine under both shells: `pytest` and `parity run` on the same suites give the same verdicts,
the same exit codes and the same report.json bytes -- including a suite with probes and no baseline
(NO_BASELINE in both, exit 2 in both), a probes-only suite, and a suite that cannot run."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

PROBES = '''
import numpy as np

from harness.upgrade import ProbeSet

probes = ProbeSet({name!r})


@probes.inference("scores")
def scores():
    return {{"scores": np.linspace(0.0, 1.0, 11)}}
'''

PROBES_ONLY = '''
import numpy as np

from harness.suite import Suite
from harness.upgrade import ProbeSet

PROBES = ProbeSet("probes_only")


@PROBES.inference("scores")
def scores():
    return {"scores": np.linspace(0.0, 1.0, 7)}


SUITE = Suite(name="probes_only", description="the upgrade gate alone", probes=PROBES)
'''


def _write_suites(project, *, with_probes: bool = True, broken: bool = False) -> None:
    metrics = '[MetricGate("AUC", 0.05), MetricGate("logloss", 0.05)]'  # "AUC": ids use the canonical name
    project.write("suites/test_a_ok.py", project.suite_source(name="a_ok", metrics=metrics, slices=["device"]))
    project.write("suites/test_b_shifted.py", project.suite_source(name="b_shifted", shift=1e-3))
    if with_probes:
        project.write("suites/test_c_probes.py", project.suite_source(name="c_probes", probes="probes",
                                                                       extra=PROBES.format(name="c_probes")))
        project.write("suites/test_d_probes_only.py", PROBES_ONLY)
    if broken:
        src = project.suite_source(name="e_broken").replace(
            "def make_pair(dataset):", "def make_pair(dataset):\n    raise RuntimeError('model file missing')")
        project.write("suites/test_e_broken.py", src)


def _parity_run(project, *args: str):
    env = {"PARITY_GOLDEN_DIR": str(project.golden_dir)}
    import os

    full = dict(os.environ, **env)
    full.pop("PARITY_BASELINE_DIR", None)  # baselines/ next to the suite files, as pytest finds them
    cmd = [sys.executable, "-c", "import sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))",
           "run", "--suites-dir", "suites", "--no-progress", *args]
    return subprocess.run(cmd, cwd=project.path, env=full, capture_output=True, text=True, timeout=300)


def _pytest(project, *args: str):
    return project.run("suites", *args, env={"PARITY_BASELINE_DIR": ""})


def _same_report(a, b) -> None:
    """Two report folders hold the same report: byte for byte, except the measured section (cost per
    stage, serving measurements: they measure the machine), which both have."""
    from harness.report.measured import strip_measured_text, without_measured

    docs = [json.loads((folder / "report.json").read_text()) for folder in (a, b)]
    assert json.dumps(without_measured(docs[0])) == json.dumps(without_measured(docs[1]))
    assert all(d["measured"] is not None for d in docs)
    for name in ("report.md", "report.html"):
        texts = [(folder / name).read_text() for folder in (a, b)]
        assert strip_measured_text(texts[0]) == strip_measured_text(texts[1]), name


@pytest.mark.slow  # two sessions of each shell, with the real runner and statistics
def test_both_shells_write_the_same_report_bytes_and_exit_alike(project):
    _write_suites(project)
    cli = _parity_run(project, "--report", "cli")
    pyt = _pytest(project, "--parity-report", "pyt")
    # NO_BASELINE for c_probes and probes_only: no judgement, exit 2 in both shells.
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert pyt.rc == 2, pyt.text
    _same_report(project.path / "cli", project.path / "pyt")
    doc = json.loads((project.path / "cli" / "report.json").read_bytes())
    by_suite = {s["suite"]: s for s in doc["suites"]}
    assert sorted(by_suite) == ["a_ok", "b_shifted", "c_probes", "probes_only"]
    gate = by_suite["c_probes"]["checks"][-1]
    assert gate["id"] == "upgrade/baseline" and gate["details"]["error"]["stage"] == "no_baseline"
    assert [c["id"] for c in by_suite["probes_only"]["checks"]] == ["upgrade/baseline"]
    assert "metrics/auc[device=mobile]" in [c["id"] for c in by_suite["a_ok"]["checks"]]
    # Cost per stage and side: in the report's measured section (outside the byte-identity), from both shells.
    for folder in ("cli", "pyt"):
        measured = json.loads((project.path / folder / "report.json").read_text())["measured"]
        perf = {s["suite"]: s["cost"] for s in measured["suites"]}
        assert sorted(perf) == ["a_ok", "b_shifted", "c_probes"]  # suites that scored (not probes_only)
        assert measured["verdict"] is None  # no serving gate declared
        stages = perf["a_ok"]
        assert {"load", "train", "predict:legacy", "predict:new", "featurize:legacy", "featurize:new",
                "evaluate"} <= set(stages)
        assert all(v["cpu_s"] >= 0 and v["wall_s"] >= 0 for v in stages.values())
        assert stages["evaluate"]["peak_rss_mb"] > 0

    # Recorded (by either shell: the same baselines/ folder next to the suite files), both pass the gate.
    rec = _parity_run(project, "--update-baseline", "--reason", "initial baseline")
    assert (project.path / "suites" / "baselines" / "c_probes" / "baseline.json").is_file(), rec.stderr
    cli2 = _parity_run(project, "--report", "cli2")
    pyt2 = _pytest(project, "--parity-report", "pyt2")
    assert cli2.returncode == pyt2.rc == 1, cli2.stderr + pyt2.text  # b_shifted fails; the gates now pass
    _same_report(project.path / "cli2", project.path / "pyt2")
    doc2 = json.loads((project.path / "cli2" / "report.json").read_text())
    verdicts = {s["suite"]: s["verdict"] for s in doc2["suites"]}
    assert verdicts == {"a_ok": "EQUIVALENT", "b_shifted": "NOT_EQUIVALENT", "c_probes": "EQUIVALENT",
                        "probes_only": "EQUIVALENT"}


@pytest.mark.slow
def test_a_suite_that_cannot_run_reads_the_same_in_both_shells(project):
    _write_suites(project, with_probes=False, broken=True)
    cli = _parity_run(project, "--report", "cli")
    pyt = _pytest(project, "--parity-report", "pyt")
    assert cli.returncode == pyt.rc == 2, cli.stderr + pyt.text
    _same_report(project.path / "cli", project.path / "pyt")
    assert "suite 'e_broken' could not run: RuntimeError: model file missing" in cli.stderr
    assert "suite 'e_broken' could not run: RuntimeError: model file missing" in pyt.out


@pytest.mark.parametrize(
    ("source", "expected", "field"),
    [
        pytest.param('MetricGate("aucc", 0.01)', "suite 'bad', field metrics: MetricGate('aucc'): metric: unknown metric 'aucc'",
                     None, id="unknown-metric"),
        pytest.param('MetricGate("mrr", 0.01)', "average over query groups", "metrics", id="ranking-without-group"),
        pytest.param('MetricGate("auc", 0.01)', "slice column 'colour' is not a column", "slices", id="unknown-slice"),
        pytest.param('MetricGate("auc", 0.01)', "suite 'bad': dataset='nope': unknown golden dataset 'nope'",
                     "dataset", id="unknown-dataset"),
        pytest.param('MetricGate("auc", 0.01)', "Suite 'bad': its ProbeSet is named 'other'; a suite's probes carry "
                     "its name (the baseline is kept per suite): use ProbeSet('bad')", None, id="probeset-named-otherwise"),
    ],
)
@pytest.mark.slow
def test_a_bad_declaration_fails_before_anything_is_trained_in_both_shells(project, source, expected, field):
    # The tiny dataset has a group column; a ranking metric needs it declared as one, so drop the role.
    probes = {"probes": "probes", "extra": PROBES.format(name="other")} if "ProbeSet" in expected else {}
    src = project.suite_source(name="bad", metrics=f"[{source}]",
                               slices=["colour"] if "slice" in expected else [], **probes)
    src = src.replace("def make_pair(dataset):", "def make_pair(dataset):\n    raise AssertionError('trained')")
    if "dataset='nope'" in expected:
        src = src.replace('dataset="tiny"', 'dataset="nope"')
    if "query groups" in expected:
        src = src.replace('dataset="tiny"', 'dataset="tiny_nogroup"')
        _no_group_dataset(project)
    project.write("suites/test_bad.py", src)
    cli = _parity_run(project, "--report", "cli")
    assert cli.returncode == 2 and expected in cli.stderr, cli.stderr
    assert "trained" not in cli.stderr and "Traceback" not in cli.stderr
    pyt = _pytest(project, "--parity-report", "pyt")
    assert expected in pyt.text, pyt.text  # a collection error (exit 2, below): no judgement
    assert "AssertionError: trained" not in pyt.text
    assert "harness/" not in pyt.text.replace("harness/errors", "")  # the message, not the harness's stack
    # Nothing was judged: neither shell writes a report (one would read "0 suites" without the reason).
    assert not (project.path / "cli").exists() and not (project.path / "pyt").exists()
    assert pyt.rc == 2 and "parity report NOT written" in pyt.text and "could not be collected" in pyt.text, pyt.text
    if field is not None:  # a declaration that does not fit the data: the file and the field's line, in both shells
        src_lines = src.splitlines()
        start = next(i for i, text in enumerate(src_lines, 1) if text.startswith("SUITE = Suite("))
        line = next(i for i, text in enumerate(src_lines, 1) if i > start and f" {field}=" in text)
        where = rf"suite file \S*suites/test_bad\.py \(line {line}\), field {field}: "
        assert re.search(where, cli.stderr) and re.search(where, pyt.text), cli.stderr + pyt.text


def _no_group_dataset(project) -> None:
    import numpy as np

    from harness.golden import Column, GeneratedDataset, write_dataset
    from harness.golden.writer import arrow_table

    columns = (Column("row_id", "int64", "key"), Column("x", "float64", "feature"), Column("click", "int64", "label"))
    arrays = {"row_id": np.arange(50, dtype=np.int64), "x": np.linspace(-1, 1, 50),
              "click": (np.arange(50) % 2).astype(np.int64)}
    write_dataset(GeneratedDataset(name="tiny_nogroup", version="1", description="no group", columns=columns,
                                   splits={"eval": arrow_table(columns, arrays)}, provenance={}),
                  dest_dir=project.golden_dir / "tiny_nogroup")


@pytest.mark.slow
def test_parity_run_imports_a_helper_next_to_the_suites_and_reimports_a_fixed_file(project):
    project.write("suites/helpers_for_suites.py", "NAME = 'from_helper'\n")
    project.write("suites/test_h.py", "from helpers_for_suites import NAME\n" + project.suite_source(name="tiny")
                  .replace("name='tiny'", "name=NAME"))
    r = _parity_run(project, "--json", "-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["suites"][0]["suite"] == "from_helper"


def test_a_suite_file_with_a_syntax_error_is_exit_2_naming_the_file_and_line(project):
    project.write("suites/test_syntax.py", "x = 1\ndef broken(:\n")
    r = _parity_run(project)
    assert r.returncode == 2
    assert "test_syntax.py: syntax error at line 2" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_two_files_defining_one_suite_name_are_an_error_in_both_shells(project):
    project.write("suites/test_one.py", project.suite_source(name="same"))
    project.write("suites/test_two.py", project.suite_source(name="same"))
    files = [(project.path / "suites" / f"test_{n}.py").resolve() for n in ("one", "two")]
    words = (f"two suite files define a suite named 'same': {files[0]} and {files[1]}; each suite needs its own "
             "name (Suite(name=...))")  # both files, in the same form and words from both shells
    r = _parity_run(project)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    pyt = _pytest(project)
    assert pyt.rc == 2 and words in pyt.text, pyt.text


def test_a_suite_variable_that_is_not_a_suite_is_exit_2_naming_the_file_and_the_fix(project):
    # parity run only: under pytest a module-level SUITE that is no Suite belongs to some other test
    # module (this project's own tests have SUITE = "noise"), so the plugin leaves it alone
    path = project.write("suites/test_not_a_suite.py", "SUITE = {'name': 'tiny'}\n").resolve()
    r = _parity_run(project)
    assert r.returncode == 2, r.stderr
    assert f"suite file {path}: SUITE must be a harness.suite.Suite (SUITE = Suite(...)), got dict" in r.stderr


@pytest.mark.slow
def test_both_shells_find_suites_in_subfolders_and_skip_the_folders_pytest_skips(project):
    project.write("suites/test_top.py", project.suite_source(name="top"))
    project.write("suites/ads/test_nested.py", project.suite_source(name="nested"))
    project.write("suites/ads/deeper/test_deep.py", project.suite_source(name="deep"))
    for skipped in (".hidden", "build", "venv", "pkg.egg", "env_with_cfg"):  # pytest's default norecursedirs
        project.write(f"suites/{skipped}/test_{skipped.replace('.', '_')}.py",
                      project.suite_source(name=f"skipped_{skipped.replace('.', '_')}"))
    project.write("suites/env_with_cfg/pyvenv.cfg", "home = /usr/bin\n")  # a virtual environment
    cli = _parity_run(project, "--report", "cli")
    pyt = _pytest(project, "--parity-report", "pyt")
    assert cli.returncode == pyt.rc == 0, cli.stdout + cli.stderr + pyt.text
    _same_report(project.path / "cli", project.path / "pyt")
    doc = json.loads((project.path / "cli" / "report.json").read_text())
    assert sorted(s["suite"] for s in doc["suites"]) == ["deep", "nested", "top"]


@pytest.mark.slow
def test_a_suite_held_under_another_name_than_SUITE_is_an_error_in_both_shells(project):
    project.write("suites/test_ok.py", project.suite_source(name="ok"))
    project.write("suites/test_typo.py", project.suite_source(name="typo").replace("SUITE = Suite(", "SUITES = Suite("))
    expected = "defines a harness.suite.Suite as SUITES but exports no SUITE"
    cli = _parity_run(project)
    assert cli.returncode == 2 and expected in cli.stderr and "test_typo.py" in cli.stderr, cli.stdout + cli.stderr
    pyt = _pytest(project)
    assert pyt.rc == 2 and expected in pyt.text and "test_typo.py" in pyt.text, pyt.text
    # A test module with no suite at all is not a suite file: both shells leave it alone.
    project.write("suites/test_typo.py", "def test_plain():\n    assert True\n")
    assert _parity_run(project).returncode == 0
    assert _pytest(project).rc == 0


@pytest.mark.slow
def test_known_gaps_name_metrics_in_any_case_and_the_table_counts_what_the_report_counts(project):
    gaps = {"metrics/AUC": "spelt as the MetricGate", "metrics/LogLoss[device=mobile]": "a slice, any case",
            "features/x2": "shifted on purpose", "predictions/scores": "shifted on purpose"}
    project.write("suites/test_g.py", project.suite_source(
        name="g", shift=1e-3, slices=["device"], known_gaps=gaps,
        metrics='[MetricGate("AUC", 0.05), MetricGate("logloss", 0.05)]'))
    cli = _parity_run(project, "--report", "cli")
    pyt = _pytest(project, "--parity-report", "pyt")
    assert cli.returncode == pyt.rc == 0, cli.stdout + cli.stderr + pyt.text  # every failing check is a known gap
    assert "does not plan" not in cli.stdout + cli.stderr + pyt.text
    _same_report(project.path / "cli", project.path / "pyt")
    doc = json.loads((project.path / "cli" / "report.json").read_text())
    (suite,) = doc["suites"]
    assert set(suite["known_gaps"]) == {"metrics/auc", "metrics/logloss[device=mobile]", "features/x2",
                                        "predictions/scores"}
    ids = {c["id"] for c in suite["checks"]}
    assert set(suite["known_gaps"]) <= ids
    (row,) = [line.split() for line in cli.stdout.splitlines() if line.startswith("g ")]
    assert row[5] == str(doc["counts"]["known_gaps"]) == "4", (row, doc["counts"])
    pyt_ids = {line.split("::")[-1].split()[0] for line in pyt.out.splitlines() if "test_g.py::" in line}
    assert {"metrics/auc", "metrics/logloss[device=mobile]"} <= pyt_ids


@pytest.mark.slow
def test_a_one_query_sample_plans_its_own_slices_and_leaves_the_ranking_metric_inconclusive(project):
    # --sample 6 of the tiny dataset keeps one whole 6-row query: the Poisson bootstrap then draws no
    # query group in about e^-1 of its replicates, so ndcg@5 is INCONCLUSIVE (undefined) on all rows,
    # logloss is still judged, and the plan holds only the slice values the sample has rows of (none
    # is "planned but not produced"). Both shells say so alike, exit 1 (not shown to be at parity).
    project.write("suites/test_r.py", project.suite_source(
        name="r", slices=["device"], metrics='[MetricGate("ndcg@5", 0.05), MetricGate("logloss", 0.05)]'))
    cli = _parity_run(project, "--sample", "6", "--report", "cli")
    pyt = _pytest(project, "--parity-sample", "6", "--parity-report", "pyt")
    assert cli.returncode == pyt.rc == 1, cli.stdout + cli.stderr + pyt.text
    assert "planned but not produced" not in cli.stdout + cli.stderr + pyt.text
    _same_report(project.path / "cli", project.path / "pyt")
    (suite,) = json.loads((project.path / "cli" / "report.json").read_text())["suites"]
    assert suite["sample"]["rows"] == 6
    checks = {c["id"]: c for c in suite["checks"]}
    assert not [i for i, c in checks.items() if (c.get("details") or {}).get("error")]
    ndcg = checks["metrics/ndcg@5"]
    assert ndcg["verdict"] == "INCONCLUSIVE" and ndcg["details"]["decided_by"] == "undefined", ndcg
    assert "draws no query group" in ndcg["details"]["note"]
    assert checks["metrics/logloss"]["details"]["diff"] is not None
    sliced = [c for i, c in checks.items() if i.startswith("metrics/logloss[device=")]
    assert sliced and all(c["details"]["n"] >= 1 for c in sliced)
    assert sum(c["details"]["n"] for c in sliced) == 6  # the slices partition the sample's rows


@pytest.mark.slow
def test_a_golden_dataset_that_fails_verification_at_collection_names_the_suite_in_both_shells(project):
    # Planning a sliced suite reads its split; a tampered file fails verification there, before training,
    # and the error says which suite (of many in a folder) asked for that dataset.
    project.write("suites/test_t.py", project.suite_source(name="t", slices=["device"],
                                                            metrics='[MetricGate("auc", 0.05)]'))
    split = project.golden_dir / "tiny" / "eval.parquet"
    split.write_bytes(split.read_bytes() + b"tampered")
    expected = "suites/test_t.py: suite 't' (dataset 'tiny'): golden dataset 'tiny' failed verification"
    cli = _parity_run(project, "--report", "cli")
    pyt = _pytest(project, "--parity-report", "pyt")
    assert cli.returncode == 2 and expected in cli.stderr, cli.stderr
    assert pyt.rc == 2 and expected in pyt.text, pyt.text
