"""One pytest test per planned check, their outcomes and messages, run with a stand-in runner.

The stand-in (written into the project's conftest, replacing harness.runner) returns the verdicts the suite file asks for, so
each outcome (pass, fail, inconclusive, xfail, not produced) is exercised without statistics; the
expected ids below are written out by hand from Suite.plan's documented layout, not computed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

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
        if kind == "metric":
            details = {"metric": "auc", "legacy": 0.75, "new": 0.70, "diff": -0.05, "ci": [-0.07, -0.03],
                       "ci_level": 0.9, "method": "delong", "p_value": 0.9, "p_adjusted": 0.9, "adjustment": "holm",
                       "margin": {"value": 0.01, "kind": "absolute", "higher_is_better": True, "test": "equivalence"},
                       "slice": None, "n": 300, "mdd": 0.04, "n_required": 4321}
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


def test_one_junit_case_per_check_with_outcomes_and_messages(project, tmp_path):
    _write(project)
    runlog = tmp_path / "runlog"
    r = project.run("--junitxml", "junit.xml", env={"RUNLOG": str(runlog)})
    assert r.rc == 1, r.text  # 1: tests failed

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
    assert "INCONCLUSIVE is not a pass" in inconclusive and "too small" in inconclusive and "4321" in inconclusive

    missing = cases["predictions/scores"].find("failure").text
    assert "planned but not produced" in missing and "metrics/logloss" in missing

    # The suite ran once for the nine items of this process.
    assert runlog.read_text().count("tiny") == 1
    assert "parity verdicts" in r.out and "NOT_EQUIVALENT" in r.out


def test_k_selects_a_sliced_check(project, tmp_path):
    _write(project)
    r = project.run("--collect-only", "-k", "auc and mobile", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 0, r.text
    assert "test_tiny.py::metrics/auc[device=mobile]" in r.out
    assert "1/" in r.out and "selected" in r.out  # "1/9 tests collected (8 deselected)"
    assert not (tmp_path / "runlog").exists()  # collection never runs the suite


def test_node_id_selects_one_check(project, tmp_path):
    _write(project)
    runlog = tmp_path / "runlog"
    r = project.run("test_tiny.py::metrics/logloss[device=desktop]", env={"RUNLOG": str(runlog)})
    assert r.rc == 0, r.text
    assert "1 passed" in r.out


def test_stale_known_gap_is_a_failure(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()"),
                                               known_gaps={"features/nope": "typo"}))
    r = project.run(env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 1
    assert "known_gaps names ['features/nope']" in r.text


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


def test_fixtures_and_assertion_helper_in_a_suite_file(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA, metrics=METRICS, shift=0.5) + HAND_WRITTEN)
    runlog = tmp_path / "runlog"
    r = project.run("-k", "test_", "--parity-seed", "5", env={"RUNLOG": str(runlog)})
    assert r.rc == 1, r.text
    assert "PASSED test_tiny.py::test_fixtures" in r.out
    assert "FAILED test_tiny.py::test_hand_written_assertion" in r.out
    # The helper's review, pointing at the user's line rather than into the plugin.
    assert "metrics/auc: NOT_EQUIVALENT" in r.out and "±0.01 (equivalence)" in r.out
    assert "assert_parity(parity_result.check(\"metrics/auc\"))" in r.out
    assert runlog.read_text().count("tiny") == 1


def test_a_suite_that_cannot_run_fails_every_item_with_the_cause(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER.replace(
        "    module = sys.modules[suite.pair.__module__]",
        "    raise harness.ParityInputError('golden set tiny: column x missing')"))
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA))
    r = project.run("--parity-report", "rep", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 1, r.text
    assert r.out.count("suite 'tiny' could not run: ParityInputError: golden set tiny: column x missing") >= 3
    assert "tiny   ERROR" in r.out
    assert (tmp_path / "runlog").read_text().count("tiny") == 1  # tried once, not once per item


def test_report_that_cannot_be_written_fails_the_session(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER)
    project.write("test_tiny.py", project.suite_source(extra=SUITE_EXTRA.replace('DROP = {"predictions/scores"}', "DROP = set()")))
    project.write("rep", "a file where the report folder should be")
    r = project.run("--parity-report", "rep", "-k", "alignment", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 3, r.text  # pytest.ExitCode.INTERNAL_ERROR
    assert "parity report NOT written" in r.out and "is not a directory" in r.out


def test_a_crash_in_suite_code_shows_its_traceback(project, tmp_path):
    project.write("conftest.py", FAKE_RUNNER.replace(
        "    module = sys.modules[suite.pair.__module__]",
        "    suite.pair(None)\n    module = sys.modules[suite.pair.__module__]"))
    src = project.suite_source(extra=SUITE_EXTRA).replace(
        "def make_pair(dataset):", "def make_pair(dataset):\n    return {}['model_path']")
    project.write("test_tiny.py", src)
    r = project.run("-k", "alignment", env={"RUNLOG": str(tmp_path / "runlog")})
    assert r.rc == 1, r.text
    assert "suite 'tiny' could not run: KeyError: 'model_path'" in r.out
    assert "Traceback (most recent call last)" in r.out and "in make_pair" in r.out


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
