"""The report document: schema-valid, byte-stable, verdicts and counts combined as documented."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.errors import ParityInputError
from harness.report import (
    build_report,
    dumps_report,
    load_report,
    suite_result_from_dict,
    validate_report,
    write_report,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "harness" / "report" / "schema.json").read_text())


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_document_is_schema_valid_and_has_fixed_top_level_order(suite_results):
    doc = build_report(suite_results)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)  # the library, not our wrapper
    assert list(doc) == ["schema_version", "tool", "suites_source", "verdict", "counts", "sample", "selection",
                         "environment", "suites", "measured"]
    assert doc["schema_version"] == "2.2" and doc["tool"]["name"] == "parity-harness"
    assert doc["measured"] is None  # nothing measured: the key is there, null


def test_verdict_and_counts(suite_results, make_result):
    doc = build_report(suite_results)
    # Hand count from the fixture: ctr_gbdt fails features/log_price and metrics/logloss; the tablet slice
    # is INCONCLUSIVE but not gated; each suite declares features/device_id a known gap.
    assert doc["verdict"] == "NOT_EQUIVALENT"
    assert doc["counts"] == {"suites": 2, "checks": 16, "failing": 2, "inconclusive": 0, "known_gaps": 2,
                             "errors": 0}
    assert [s["verdict"] for s in doc["suites"]] == ["EQUIVALENT", "NOT_EQUIVALENT"]
    assert build_report([make_result("a"), make_result("b")])["verdict"] == "EQUIVALENT"
    assert build_report([])["verdict"] == "INCONCLUSIVE"  # nothing shown is not a pass


def test_same_inputs_same_bytes_and_no_timestamps(suite_results, make_result):
    text = dumps_report(build_report(suite_results))
    again = [make_result("ctr_logreg"), suite_results[1]]
    assert dumps_report(build_report(again)) == text
    assert "NaN" not in text and "Infinity" not in text
    for word in ("timestamp", "generated_at", "created"):
        assert word not in text


def test_sample_is_taken_from_the_suites(make_result):
    doc = build_report([make_result(sample={"rows": 500, "seed": 7})])
    assert doc["sample"] == {"rows": 500, "seed": 7}
    assert build_report([make_result()], sample={"rows": 9, "seed": 1})["sample"] == {"rows": 9, "seed": 1}


def test_round_trip_through_dict_is_exact(suite_results):
    for result in suite_results:
        d = json.loads(json.dumps(result.to_dict()))
        assert suite_result_from_dict(d).to_dict() == result.to_dict()


def test_non_finite_number_is_refused_when_serialising(suite_results):
    doc = build_report(suite_results)
    doc["suites"][0]["dataset"]["rows"] = float("nan")
    with pytest.raises(ParityInputError, match="non-finite"):
        dumps_report(doc)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        pytest.param(lambda d: d.pop("tool"), "$", id="missing-tool"),
        pytest.param(lambda d: d["suites"][1].__setitem__("verdict", "PASS"), "$.suites[1].verdict", id="bad-verdict"),
        pytest.param(lambda d: d["suites"][0]["checks"][4]["details"].pop("ci"), "$.suites[0].checks[4].details",
                     id="metric-without-ci"),
        pytest.param(lambda d: d["suites"][0]["checks"][0].__setitem__("kind", "vibes"), "$.suites[0].checks[0].kind",
                     id="unknown-kind"),
    ],
)
def test_validation_names_the_json_path(suite_results, mutate, path):
    doc = json.loads(dumps_report(build_report(suite_results)))
    mutate(doc)
    with pytest.raises(ParityInputError) as info:
        validate_report(doc)
    assert f"at {path}:" in str(info.value)


def test_write_then_load(suite_results, tmp_path):
    doc = build_report(suite_results)
    paths = write_report(doc, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json", "report.md"]
    assert paths["json"].read_text(encoding="utf-8") == dumps_report(doc)
    assert load_report(paths["json"]) == json.loads(dumps_report(doc))


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    with pytest.raises(ParityInputError, match=r"r\.json: not JSON \(line 1"):
        load_report(bad)
    with pytest.raises(ParityInputError, match="cannot read report"):
        load_report(tmp_path / "missing.json")


def test_out_dir_that_is_a_file_is_an_error(suite_results, tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ParityInputError, match="is not a directory"):
        write_report(build_report(suite_results), tmp_path / "f")


def test_build_refuses_non_results():
    with pytest.raises(ParityInputError, match=r"suite_results\[0\] must be a harness.results.SuiteResult, got dict"):
        build_report([{"suite": "x"}])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["umask022", "umask027", "umask002"])
def test_report_files_get_the_usual_mode_from_the_umask(suite_results, tmp_path, umask, mode):
    import os
    import stat

    from harness.report.build import write_text_atomic

    old = os.umask(umask)
    try:
        paths = write_report(build_report(suite_results), tmp_path / "out")
        write_text_atomic(tmp_path / "out" / "again.json", "{}\n")  # `parity report`/`parity run --json` path
        # Rewriting an existing file (rename over it) gives the new file the same mode.
        write_report(build_report(suite_results), tmp_path / "out")
    finally:
        os.umask(old)
    for path in [*paths.values(), tmp_path / "out" / "again.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, (path.name, oct(path.stat().st_mode))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left


def _errored(check_id, kind, stage="suite"):
    from harness.results import CheckResult
    from harness.verdicts import Verdict

    return CheckResult(id=check_id, kind=kind, verdict=Verdict.NOT_EQUIVALENT, summary="ERROR: KeyError: 'model_path'",
                       message="suite 'x' could not run: KeyError: 'model_path'",
                       details={"error": {"stage": stage, "type": "KeyError", "message": "'model_path'"}})


def test_an_errored_check_is_failing_counted_and_schema_valid(make_result):
    from harness.results import SuiteResult

    crashed = SuiteResult(suite="crashed", description="", dataset={"name": "ads_ctr"}, seed=0,
                          checks=[_errored("alignment/keys", "alignment"), _errored("features/x", "feature"),
                                  _errored("metrics/auc", "metric")])
    doc = build_report([make_result("ok"), crashed])
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)  # a metric/feature error carries no numbers
    assert doc["verdict"] == "NOT_EQUIVALENT" and doc["suites"][1]["verdict"] == "NOT_EQUIVALENT"
    assert doc["counts"]["failing"] == 3 and doc["counts"]["errors"] == 3
    assert build_report([make_result("ok")])["counts"]["errors"] == 0
    # An error is never a pass, and names its stage, type and message.
    bad = json.loads(dumps_report(doc))
    bad["suites"][1]["checks"][0]["verdict"] = "EQUIVALENT"
    with pytest.raises(ParityInputError, match=r"\$\.suites\[1\]\.checks\[0\]"):
        validate_report(bad)
    bad = json.loads(dumps_report(doc))
    del bad["suites"][1]["checks"][2]["details"]["error"]["type"]
    with pytest.raises(ParityInputError, match=r"\$\.suites\[1\]\.checks\[2\]\.details\.error"):
        validate_report(bad)


SELECTION = {"partial": True, "keyword": "auc", "markexpr": None, "deselected": 6, "planned": 9, "ran": 3,
             "not_run": {"ctr_logreg": ["alignment/keys", "features/log_price"]}}


def test_selection_is_recorded_after_sample_and_is_optional_for_old_documents(make_result):
    doc = build_report([make_result()], selection=SELECTION)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert list(doc) == ["schema_version", "tool", "suites_source", "verdict", "counts", "sample", "selection",
                         "environment", "suites", "measured"]
    assert doc["selection"] == SELECTION
    full = build_report([make_result()])
    assert full["selection"] is None
    old = {k: v for k, v in full.items() if k != "selection"}  # a report written before selections were recorded
    old["counts"] = {k: v for k, v in full["counts"].items() if k != "errors"}  # ... and before errors were counted
    validate_report(old)
    from harness.report import render_html, render_markdown

    assert render_markdown(old) == render_markdown(full) and render_html(old) == render_html(full)
    broken = dict(doc, selection=dict(SELECTION, ran=-1))
    with pytest.raises(ParityInputError, match=r"\$\.selection\.ran"):
        validate_report(broken)
