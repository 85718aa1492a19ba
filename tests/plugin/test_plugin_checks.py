"""One pytest test per planned check, their outcomes and messages, run with a stand-in runner.

The stand-in (written into the project's conftest, replacing harness.runner) returns the verdicts the suite file asks for, so
each outcome (pass, fail, inconclusive, xfail, not produced) is exercised without statistics; the
expected ids below are written out by hand from Suite.plan's documented layout, not computed.
"""
from __future__ import annotations

import json
from pathlib import Path

import xml.etree.ElementTree as ET

import pytest

FAKE_RUNNER = '''
import os
import sys
import types

import harness
from harness.results import CheckResult, SuiteResult

KINDS = {"alignment": "alignment", "features": "feature", "predictions": "prediction", "metrics": "metric"}


def slice_values(suite, **kwargs):
    return {c: ["desktop", "mobile"] for c in suite.slices}


def run_suite(suite, *, sample=None, seed=0, progress=False, root=None):
    with open(os.environ["RUNLOG"], "a") as fh:
        fh.write(f"{os.getpid()} {suite.name}\\n")
    module = sys.modules[suite.pair.__module__]
    checks = []
    for cid in suite.plan(slice_values(suite)):
        if cid in module.DROP:
            continue
        kind = KINDS[cid.split("/")[0]]
        verdict = module.VERDICTS.get(cid, "EQUIVALENT")
        details = {}
        if kind == "metric" and verdict == "EQUIVALENT":  # a result consistent with its verdict
            details = {"metric": "auc", "legacy": 0.75, "new": 0.749, "diff": -0.001, "ci": [-0.004, 0.002],
                       "ci_level": 0.9, "method": "delong", "p_value": 0.001, "p_adjusted": 0.001, "adjustment": "holm",
                       "margin": {"value": 0.01, "kind": "absolute", "higher_is_better": True, "test": "equivalence"},
                       "slice": None, "n": 300, "mdd": 0.004, "n_required": 100}
        elif kind == "metric":
            details = {"metric": "auc", "legacy": 0.75, "new": 0.70, "diff": -0.05, "ci": [-0.07, -0.03],
                       "ci_level": 0.9, "method": "delong", "p_value": 0.9, "p_adjusted": 0.9, "adjustment": "holm",
                       "margin": {"value": 0.01, "kind": "absolute", "higher_is_better": True, "test": "equivalence"},
                       "slice": None, "n": 300, "mdd": 0.04, "n_required": 4321}
        elif kind == "feature":  # the fields the report schema requires of a feature check
            details = {"feature": cid.split("/", 1)[1], "n": 300, "n_mismatch": 0 if verdict == "EQUIVALENT" else 3}
        checks.append(CheckResult(id=cid, kind=kind, verdict=verdict, summary=f"stand-in {cid}",
                                  message=f"stand-in review of {cid}", details=details))
    for cid, verdict in getattr(module, "UNPLANNED", {}).items():
        checks.append(CheckResult(id=cid, kind="distribution", verdict=verdict, summary=f"stand-in {cid}"))
    return SuiteResult(suite=suite.name, description=suite.description, dataset={"name": suite.dataset},
                       seed=seed, checks=checks, known_gaps=dict(suite.known_gaps),
                       sample={"rows": sample, "seed": seed} if sample else None)


# A stub module in place of harness.runner (the plugin imports it lazily), so these runs stay fast.
stub = types.ModuleType("harness.runner")
stub.run_suite, stub.slice_values = run_suite, slice_values
sys.modules["harness.runner"] = harness.runner = stub
'''

SUITE_EXTRA = '''
VERDICTS = {
    "metrics/auc": "NOT_EQUIVALENT",
    "metrics/auc[device=mobile]": "INCONCLUSIVE",
    "features/x2": "NOT_EQUIVALENT",
}
DROP = {"predictions/scores"}
'''

EXPECTED_IDS = [
    "alignment/keys",
    "features/x2",
    "predictions/scores",
    "metrics/auc",
    "metrics/logloss",
    "metrics/auc[device=desktop]",
    "metrics/logloss[device=desktop]",
    "metrics/auc[device=mobile]",
    "metrics/logloss[device=mobile]",
]
METRICS = '[MetricGate("auc", 0.01), MetricGate("logloss", 0.02)]'


def _write(project, **kw):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA, slices=["device"], metrics=METRICS,
                                               known_gaps={"features/x2": "legacy rounds x2 to float32; RFC-7"}, **kw))


@pytest.mark.slow
def test_one_junit_case_per_check_with_outcomes_and_messages(project, tmp_path):
    _write(project)
    runlog = tmp_path / "runlog"
    r = project.run("--junitxml", "junit.xml", env={"RUNLOG": str(runlog)})
    assert r.rc == 2, r.text  # 2: a planned check was not produced, so the session could not judge it

    cases = {c.get("name"): c for c in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    assert sorted(cases) == sorted(EXPECTED_IDS)
    assert all(c.get("classname") == "test_tiny" for c in cases.values())
    failed = {n for n, c in cases.items() if c.find("failure") is not None}
    skipped = {n for n, c in cases.items() if c.find("skipped") is not None}
    assert failed == {"metrics/auc", "metrics/auc[device=mobile]", "predictions/scores"}
    assert skipped == {"features/x2"}  # known gap -> xfail, which JUnit lists as skipped
    assert "legacy rounds x2 to float32" in cases["features/x2"].find("skipped").get("message")

    auc = cases["metrics/auc"].find("failure").text
    for piece in ("metrics/auc: NOT_EQUIVALENT", "legacy 0.75, new 0.7", "diff (new - legacy) -0.05",
                  "[-0.07, -0.03] (90%)", "±0.01 (equivalence)", "delong", "stand-in review of metrics/auc"):
        assert piece in auc, (piece, auc)
    assert "Traceback" not in auc and "pytest_plugin.py" not in auc

    inconclusive = cases["metrics/auc[device=mobile]"].find("failure").text
    assert "INCONCLUSIVE is not a pass" in inconclusive and "too small" in inconclusive and "4,321" in inconclusive

    missing = cases["predictions/scores"].find("failure").text
    assert "planned but not produced" in missing and "metrics/logloss" in missing

    # The suite ran once for the nine items of this process.
    assert runlog.read_text().count("tiny") == 1
    assert "parity verdicts" in r.out and "NOT_EQUIVALENT" in r.out


@pytest.mark.slow
def test_k_selects_a_sliced_check(project, tmp_path):
    _write(project)
    r = project.run("--collect-only", "-k", "auc and mobile", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 0, r.text
    assert "test_tiny.py::metrics/auc[device=mobile]" in r.out
    assert "1/" in r.out and "selected" in r.out  # "1/9 tests collected (8 deselected)"
    assert not (tmp_path / "runlog").exists()  # collection never runs the suite


@pytest.mark.slow
def test_node_id_selects_one_check(project, tmp_path):
    _write(project)
    runlog = tmp_path / "runlog"
    r = project.run("test_tiny.py::metrics/logloss[device=desktop]", env={"RUNLOG": str(runlog)})
    assert r.rc == 0, r.text
    assert "1 passed" in r.out


@pytest.mark.slow
def test_stale_known_gap_is_a_failure(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()"),
                                               known_gaps={"features/nope": "typo"}))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 2, r.text  # a mistake in the declaration: no judgement
    assert "known_gaps names ['features/nope']" in r.text
    # The report agrees with pytest: the declaration error is a failing check, not a silent pass.
    doc = json.loads((project.path / "rep" / "report.json").read_text())
    (suite,) = doc["suites"]
    checks = {c["id"]: c for c in suite["checks"]}
    assert checks["known_gaps"]["details"]["error"]["stage"] == "declaration"
    assert "known_gaps names ['features/nope']" in checks["known_gaps"]["details"]["error"]["message"]
    assert suite["verdict"] == doc["verdict"] == "NOT_EQUIVALENT"
    assert doc["selection"] is None
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "harness" / "report" / "schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


HAND_WRITTEN = '''

def test_fixtures(parity_pair, golden_dataset, parity_seed, parity_suite):
    assert parity_seed == 5
    assert parity_suite is SUITE
    frame = golden_dataset("tiny").frame("eval")
    assert len(frame) == 600
    assert parity_pair.legacy.name == "legacy" and parity_pair.new.shift == NEW_SHIFT


def test_hand_written_assertion(parity_result, assert_parity):
    assert_parity(parity_result.check("metrics/auc"))
'''


@pytest.mark.slow
def test_fixtures_and_assertion_helper_in_a_suite_file(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA, metrics=METRICS, shift=0.5) + HAND_WRITTEN)
    runlog = tmp_path / "runlog"
    r = project.run("-k", "test_", "--parity-seed", "5", env={"RUNLOG": str(runlog)})
    assert r.rc == 2, r.text  # -k test_ also selects the generated items; predictions/scores is not produced
    assert "PASSED test_tiny.py::test_fixtures" in r.out
    assert "FAILED test_tiny.py::test_hand_written_assertion" in r.out
    # The helper's review, pointing at the user's line rather than into the plugin.
    assert "metrics/auc: NOT_EQUIVALENT" in r.out and "±0.01 (equivalence)" in r.out
    assert "assert_parity(parity_result.check(\"metrics/auc\"))" in r.out
    assert runlog.read_text().count("tiny") == 1


@pytest.mark.slow
def test_a_suite_that_cannot_run_fails_every_item_with_the_cause(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER.replace(
        "    module = sys.modules[suite.pair.__module__]",
        "    raise harness.ParityInputError('golden set tiny: column x missing')"))
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 2, r.text  # the suite could not run: no judgement
    assert r.out.count("suite 'tiny' could not run: ParityInputError: golden set tiny: column x missing") >= 3
    assert "tiny   ERROR" in r.out
    assert (tmp_path / "runlog").read_text().count("tiny") == 1  # tried once, not once per item


@pytest.mark.slow
def test_report_that_cannot_be_written_fails_the_session(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()")))
    project.write("rep", "a file where the report folder should be")
    r = project.run("--parity-report", "rep", "-k", "alignment", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 3, r.text  # pytest.ExitCode.INTERNAL_ERROR
    assert "parity report NOT written" in r.out and "is not a directory" in r.out


@pytest.mark.slow
def test_a_crash_in_suite_code_shows_its_traceback(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER.replace(
        "    module = sys.modules[suite.pair.__module__]",
        "    suite.pair(None)\n    module = sys.modules[suite.pair.__module__]"))
    src = project.suite_source(extra=SUITE_EXTRA).replace(
        "def make_pair(dataset):", "def make_pair(dataset):\n    return {}['model_path']")
    project.write("test_tiny.py", src)
    r = project.run("-k", "alignment", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 2, r.text
    assert "suite 'tiny' could not run: KeyError: 'model_path'" in r.out
    assert "Traceback (most recent call last)" in r.out and "in make_pair" in r.out


@pytest.mark.slow
def test_a_failing_check_the_plan_did_not_foresee_fails_the_session(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    extra = SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()") + (
        'VERDICTS = {}\nUNPLANNED = {"distribution/ks": "NOT_EQUIVALENT"}\n')
    project.write("test_tiny.py", project.suite_source(extra=extra))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 1, r.text  # every item passed, yet the session fails
    assert "3 passed" in r.out
    assert "checks not planned (so without a pytest item) did not pass: ['distribution/ks']" in r.out
    doc = (project.path / "rep" / "report.json").read_text()
    assert '"id": "distribution/ks"' in doc


# -- the report tells the truth: errors, missing checks, selections ------------------------------------

def _report(project, folder="rep"):
    import json

    import jsonschema

    from harness.report import schema

    doc = json.loads((project.path / folder / "report.json").read_text())
    jsonschema.Draft202012Validator(schema()).validate(doc)
    return doc


@pytest.mark.slow
def test_a_suite_that_cannot_run_is_in_the_report_as_errored(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER.replace(
        "    module = sys.modules[suite.pair.__module__]",
        "    raise KeyError('model_path')"))
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA, metrics=METRICS))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 2, r.text
    assert "5 failed" in r.out and "tiny   ERROR" in r.out
    doc = _report(project)
    assert doc["verdict"] == "NOT_EQUIVALENT"
    (suite,) = doc["suites"]
    assert suite["suite"] == "tiny" and suite["verdict"] == "NOT_EQUIVALENT"
    assert suite["description"] == "tiny numpy pair" and suite["dataset"]["name"] == "tiny"
    # One row per item that ran (and failed), in plan order, each naming the cause.
    assert [(c["id"], c["kind"], c["verdict"]) for c in suite["checks"]] == [
        ("alignment/keys", "alignment", "NOT_EQUIVALENT"), ("features/x2", "feature", "NOT_EQUIVALENT"),
        ("predictions/scores", "prediction", "NOT_EQUIVALENT"), ("metrics/auc", "metric", "NOT_EQUIVALENT"),
        ("metrics/logloss", "metric", "NOT_EQUIVALENT")]
    for c in suite["checks"]:
        assert c["details"]["error"] == {"stage": "suite", "type": "KeyError", "message": "'model_path'"}
        assert "suite 'tiny' could not run: KeyError: 'model_path'" in c["message"]
    assert doc["counts"]["failing"] == 5 and doc["counts"]["errors"] == 5
    md = (project.path / "rep" / "report.md").read_text()
    assert md.startswith("**Parity: NOT_EQUIVALENT** \u2014 1 suite, 5 checks, 5 failing (5 errors)")


@pytest.mark.slow
def test_a_planned_check_not_produced_is_in_the_report_as_errored(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    # Every produced check is EQUIVALENT; only predictions/scores is missing, and pytest fails it.
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA + "VERDICTS = {}\n"))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 2, r.text
    assert "FAILED test_tiny.py::predictions/scores" in r.out
    doc = _report(project)
    assert doc["verdict"] == "NOT_EQUIVALENT" and doc["counts"]["failing"] == 1
    checks = {c["id"]: c for c in doc["suites"][0]["checks"]}
    assert list(checks) == ["alignment/keys", "features/x2", "predictions/scores"]
    missing = checks["predictions/scores"]
    assert missing["verdict"] == "NOT_EQUIVALENT" and missing["details"]["error"]["stage"] == "not_produced"
    assert "planned but not produced" in missing["details"]["error"]["message"]


SELECT_EXTRA = SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()") + (
    # Only a check that -k auc deselects fails: a report listing it would fail a run pytest passed.
    'VERDICTS = {"features/x2": "NOT_EQUIVALENT"}\n')
AUC_IDS = ["metrics/auc", "metrics/auc[device=desktop]", "metrics/auc[device=mobile]"]
NOT_AUC_IDS = ["alignment/keys", "features/x2", "predictions/scores", "metrics/logloss",
               "metrics/logloss[device=desktop]", "metrics/logloss[device=mobile]"]


@pytest.mark.slow
def test_a_selection_is_recorded_and_the_report_lists_only_what_ran(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SELECT_EXTRA, slices=["device"], metrics=METRICS))
    r = project.run("--parity-report", "rep", "-k", "auc", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 0, r.text
    assert "3 passed, 6 deselected" in r.out
    doc = _report(project)
    assert [c["id"] for c in doc["suites"][0]["checks"]] == AUC_IDS
    assert doc["selection"] == {"partial": True, "keyword": "auc", "markexpr": None, "deselected": 6,
                                "planned": 9, "ran": 3, "not_run": {"tiny": NOT_AUC_IDS}}
    assert doc["verdict"] == "EQUIVALENT" and doc["counts"]["checks"] == 3
    md = (project.path / "rep" / "report.md").read_text().splitlines()
    assert md[0] == "**Parity: EQUIVALENT (partial run)** \u2014 1 suite, 3 checks, 0 failing"
    assert md[3].startswith("> **Partial run:** 3 of 9 planned checks ran (-k 'auc'; 6 deselected)")
    assert "partial run: 3 of 9 planned parity checks ran" in r.out

    full = project.run("--parity-report", "full", env={"RUNLOG": str(tmp_path / "runlog")})
    assert full.rc == 1, full.text
    doc = _report(project, "full")
    assert doc["selection"] is None and doc["counts"]["checks"] == 9 and doc["verdict"] == "NOT_EQUIVALENT"


@pytest.mark.slow
def test_a_node_id_selection_is_a_partial_run(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SELECT_EXTRA, slices=["device"], metrics=METRICS))
    r = project.run("--parity-report", "rep", "test_tiny.py::metrics/auc[device=mobile]",
                    env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 0, r.text
    doc = _report(project)
    assert [c["id"] for c in doc["suites"][0]["checks"]] == ["metrics/auc[device=mobile]"]
    sel = doc["selection"]
    assert sel["partial"] is True and sel["keyword"] is None and sel["deselected"] == 0
    assert (sel["planned"], sel["ran"]) == (9, 1) and len(sel["not_run"]["tiny"]) == 8


@pytest.mark.slow  # a serial and a two-worker xdist session
def test_a_selection_reports_the_same_bytes_under_xdist(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SELECT_EXTRA, slices=["device"], metrics=METRICS))
    project.write("test_other.py", project.suite_source(name="other", extra=SELECT_EXTRA, metrics=METRICS))
    env = {"RUNLOG": str(tmp_path / "runlog")}
    serial = project.run("--parity-report", "serial", "-k", "auc", env=env)
    parallel = project.run("--parity-report", "xdist", "-k", "auc", "-p", "xdist", "-n", "2", env=env)
    assert serial.rc == parallel.rc == 0, serial.text + parallel.text
    for name in ("report.json", "report.md", "report.html"):
        assert (project.path / "serial" / name).read_bytes() == (project.path / "xdist" / name).read_bytes(), name
    sel = _report(project, "xdist")["selection"]
    assert (sel["planned"], sel["ran"], sel["deselected"]) == (9 + 5, 3 + 1, 6 + 4)


FITTED_BY_RUNNER = '''

class FitSide(Side):
    fitted_on = None

    def fit(self, train):
        self.fitted_on = len(train)


def make_pair(dataset):  # noqa: F811 (the suite's pair leaves fitting to the runner)
    return ModelPair(FitSide("legacy"), Side("new", NEW_SHIFT), fit=("legacy",), fit_split="eval")


SUITE.pair = make_pair


def test_pair_fixture_is_fitted(parity_pair):
    assert parity_pair.legacy.fitted_on == 600
'''


@pytest.mark.slow
def test_pair_fixture_fits_a_pair_that_leaves_fitting_to_the_runner(project):
    # A hand-written test gets the pair as the run scores it: fitted, not a pair whose fit never ran.
    project.write("test_tiny.py", project.suite_source() + FITTED_BY_RUNNER)
    r = project.run("-k", "test_pair_fixture_is_fitted")
    assert "1 passed" in r.out, r.text
