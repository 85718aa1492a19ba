"""``cost/peak_rss`` in a suite run is judged on each side served by fresh child processes of its own
(`harness.serving.process_rss`): a side holding 200 MB against a small one is NOT_EQUIVALENT at 1.2x and
its 200 MB shows up as the side's (after load), not the runtime's (after imports); two equal sides are
EQUIVALENT; a side that cannot be sent or whose process fails is an error of stage ``serving`` naming
the side (could not judge: exit 2), never a pass. The toy sides are numpy only (tests/serving/rss_sides.py)."""
from __future__ import annotations

import importlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.options import RunOptions
from harness.protocol import ModelPair
from harness.report import validate_report, verify_report
from harness.serving import CostGate
from harness.serving.suite_run import SUITE_RUN, bench_config, run_suite_serving
from harness.session import EXIT_ERROR, EXIT_OK, Session
from harness.suite import MetricGate, Suite
from harness.verdicts import Verdict

pytest.importorskip("hdrh")

FRAME = pd.DataFrame({"x": np.random.default_rng(0).normal(size=2000)})
# The in-process part of the plan as short as it goes: these tests are about the child processes.
FAST = {"repeats": 1, "duration_s": 0.01, "warmup_requests": 0}


def _gate(max_ratio: float) -> CostGate:
    return CostGate("peak_rss", max_ratio=max_ratio, reason="memory per replica")


@pytest.fixture
def sides(monkeypatch):
    """tests/serving/rss_sides.py, importable here and (through the sys.path the child is sent) in each
    serving process."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("rss_sides")


@pytest.mark.slow
def test_a_side_holding_200_mb_is_not_equivalent_at_1_2x_and_its_memory_is_the_model_s(sides):
    gates = [_gate(1.2)]
    pair = ModelPair(sides.SmallSide("legacy"), sides.BallastSide("new", 200))
    serving, [check] = run_suite_serving(gates, pair, FRAME, cfg=bench_config(gates, **FAST))
    procs = serving["processes"]
    small, big = procs["sides"]["legacy"]["median"], procs["sides"]["new"]["median"]
    assert big["rss_after_load_mb"] - big["rss_after_imports_mb"] >= 195  # the ballast is the side's
    assert abs(big["rss_after_imports_mb"] - small["rss_after_imports_mb"]) < 50  # the same runtime
    assert big["peak_rss_mb"] >= small["peak_rss_mb"] + 195
    assert check.verdict is Verdict.NOT_EQUIVALENT
    assert check.details["n_used"] == 5 and check.details["scope"] == "process"
    # The ratio is the children's, as computed from their own figures.
    runs = {s: [r["peak_rss_mb"] for r in procs["sides"][s]["runs"]] for s in ("legacy", "new")}
    assert check.details["ratio"] == pytest.approx(float(np.median(np.divide(runs["new"], runs["legacy"]))))
    assert check.details["lo"] > 1.2
    assert "cost/peak_rss: new / legacy peak_rss exceeds 1.2x" in check.message
    assert len({r["pid"] for s in ("legacy", "new") for r in procs["sides"][s]["runs"]}) == 10  # fresh each
    cost = serving["stage_cost"]["serving_process:new"]
    assert cost["peak_rss_scope"] == "process" and cost["peak_rss_mb"] == max(runs["new"])


@pytest.mark.slow
def test_two_equal_small_sides_are_equivalent_in_a_suite_run_and_the_report_shows_each_process(
        sides, serve_golden, monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setitem(SUITE_RUN, k, v)
    suite = Suite(name="rss", description="two equal sides", dataset="servetiny", label="click",
                  pair=lambda ds: ModelPair(sides.SmallSide("legacy"), sides.SmallSide("new")),
                  metrics=[MetricGate("auc", 0.05)], serving=[_gate(1.2)])
    session = Session(RunOptions())
    ids = session.collect(suite, where="test_rss.py")
    outcomes = {i: session.outcome(suite.name, i) for i in ids}
    final = session.finish()
    assert outcomes["cost/peak_rss"].check.verdict is Verdict.EQUIVALENT and outcomes["cost/peak_rss"].passed
    assert final.exit_status == EXIT_OK
    doc = session.report(final)
    validate_report(doc)
    verify_report(doc)
    procs = doc["measured"]["suites"][0]["serving"]["processes"]
    assert procs["scope"] == "process" and set(procs["sides"]) == {"legacy", "new"}
    from harness.report.serving_section import markdown_section

    text = "\n".join(markdown_section(doc))
    assert "Serving processes" in text and "after imports" in text
    from harness.report.serving_section import html_section

    assert 'id="serving-processes"' in html_section(doc)


def test_a_side_that_cannot_be_pickled_is_an_error_naming_it_and_never_a_pass(sides, serve_golden, monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setitem(SUITE_RUN, k, v)
    suite = Suite(name="rss", description="a side that cannot be sent", dataset="servetiny", label="click",
                  pair=lambda ds: ModelPair(sides.SmallSide("legacy"), sides.UnpicklableSide("new")),
                  metrics=[MetricGate("auc", 0.05)], serving=[_gate(2.0)])
    session = Session(RunOptions())
    ids = session.collect(suite, where="test_rss.py")
    outcomes = {i: session.outcome(suite.name, i) for i in ids}
    final = session.finish()
    out = outcomes["cost/peak_rss"]
    assert not out.passed and out.check.details["error"]["stage"] == "serving"
    assert "side new (UnpicklableSide) cannot be sent" in out.text and "lock" in out.text
    assert "--endpoint new=URL --pid new=PID" in out.text and "--serve" not in out.text  # no SavedModel
    assert final.exit_status == EXIT_ERROR  # could not judge
    doc = session.report(final)
    validate_report(doc)
    assert "error" in doc["measured"]["suites"][0]["serving"]["processes"]


@pytest.mark.slow
def test_a_side_whose_serving_process_fails_is_an_error_naming_it(sides):
    from harness.serving.process_rss import ProcessRunError, measure_processes

    pair = ModelPair(sides.SmallSide("legacy"), sides.FailingSide("new"))
    with pytest.raises(ProcessRunError, match=r"side new: its serving process failed \(predict: RuntimeError: "
                                              r"scorer is down\); stderr: \(no output\)"):
        measure_processes(pair, [FRAME.iloc[:32]], repeats=1)


def test_a_side_dragging_the_golden_dataset_along_is_refused(sides, serve_golden):
    from harness.golden import load_dataset
    from harness.serving.process_rss import SideNotSendable, side_payload

    side = sides.SmallSide("new")
    side.dataset = load_dataset("servetiny")
    with pytest.raises(SideNotSendable, match="side new: its object graph holds the golden dataset 'servetiny'"):
        side_payload(side, "new")


def test_the_payload_names_the_side_s_modules_for_the_child_to_import_first(sides):
    payload, modules = side_payload_of(sides.BallastSide("new", 1))
    assert {"numpy", "pandas", "rss_sides"} <= set(modules)
    assert pickle.loads(payload).ballast.nbytes == 2**20


def side_payload_of(side):
    from harness.serving.process_rss import side_payload

    return side_payload(side, "new")


def test_a_side_holding_a_feature_spec_is_sent_with_an_equal_spec(sides):
    from harness.featurization import FeatureSpec, fit_spec  # its vocabularies are read-only mappings
    from harness.serving.process_rss import side_payload

    train = pd.DataFrame({
        "position": [1, 2, 3, 1, 2], "shop_id": ["s1", "s2", "s1", "s3", None], "category": ["c1"] * 5,
        "device": ["mobile", "desktop", "mobile", "mobile", "tablet"], "country": ["US"] * 5,
        "price": [1.0, 2.0, 3.0, None, 5.0], "listing_age_days": [1.0, 2.0, 3.0, 4.0, 5.0],
        "hist_ctr": [0.1, None, 0.3, 0.2, 0.1], "query": ["Red shoes", "", None, "a b", "x"],
    })
    side = sides.SmallSide("legacy")
    side.spec = fit_spec(train, min_count=1)
    with pytest.raises(TypeError):
        pickle.dumps(side.spec)
    payload, modules = side_payload(side, "legacy")
    again = pickle.loads(payload).spec
    assert isinstance(again, FeatureSpec) and again.to_dict() == side.spec.to_dict()
    assert "harness.featurization.spec" in modules


def test_the_bench_never_judges_peak_rss_on_the_shared_process_nor_hints_serve_without_a_saved_model(
        sides, tmp_path):
    from harness.serving.bench import BenchConfig, in_process_side, run_bench

    cfg = BenchConfig(batch_sizes=(1,), repeats=5, duration_s=0.01, warmup_requests=0, open_loop=False)
    pair = {s: in_process_side(sides.SmallSide(s), FRAME) for s in ("legacy", "new")}
    doc, [check] = run_bench(pair, cfg, gates=[_gate(2.0)])
    assert check.verdict is Verdict.INCONCLUSIVE and check.gated and not check.passed
    assert "side(s) legacy, new run in this process" in check.message
    assert "--endpoint SIDE=URL with --pid SIDE=PID" in check.message and "--serve" not in check.message
    assert doc["verdict"] == "INCONCLUSIVE"
    exported = sides.SmallSide("new")  # a side with a SavedModel on disk: --serve can serve it
    exported.path = tmp_path / "export"
    exported.path.mkdir()
    (exported.path / "saved_model.pb").write_bytes(b"")
    pair["new"] = in_process_side(exported, FRAME)
    _, [check] = run_bench(pair, cfg, gates=[_gate(2.0)])
    assert "--serve new" in check.message and "--serve legacy" not in check.message


@pytest.mark.slow
def test_serve_bench_with_both_sides_in_process_judges_peak_rss_on_each_side_s_own_processes(
        serve_project, capsys, tmp_path):
    from harness.cli import main

    suites = serve_project("sb_rss", gates='CostGate("peak_rss", max_ratio=1.5, reason="memory per replica")')
    out = tmp_path / "b.json"
    rc = main(["serve-bench", "sb_rss", "--suites-dir", str(suites), "--duration", "0.02", "--repeats", "5",
               "--batch-sizes", "1,32", "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    doc = json.loads(out.read_text(encoding="utf-8"))
    [check] = doc["checks"]
    assert check["id"] == "cost/peak_rss" and check["verdict"] == "EQUIVALENT", text
    assert check["details"]["scope"] == "process" and check["details"]["n_used"] == 5
    runs = {s: [r["peak_rss_mb"] for r in doc["processes"]["sides"][s]["runs"]] for s in ("legacy", "new")}
    assert check["details"]["ratio"] == pytest.approx(float(np.median(np.divide(runs["new"], runs["legacy"]))))
    assert len({r["pid"] for s in runs for r in doc["processes"]["sides"][s]["runs"]}) == 10  # fresh each
    assert doc["verdict"] == "EQUIVALENT" and "5 serving processes of its own" in text
    assert rc == 0


@pytest.mark.slow
@pytest.mark.parametrize("declared", [False, True], ids=["failing", "known-gap"])
def test_a_failing_memory_gate_named_a_known_gap_is_reported_with_its_reason_and_does_not_fail_the_run(
        sides, serve_golden, monkeypatch, declared):
    # As for an accuracy check: the gate still reads NOT_EQUIVALENT (and says so, with the suite's
    # reason), but the serving verdict, the failing count and the exit status leave it out.
    for k, v in FAST.items():
        monkeypatch.setitem(SUITE_RUN, k, v)
    reason = "the Python TensorFlow runtime; the budget is for the C++ server"
    suite = Suite(name="rss", description="a side 200 MB larger", dataset="servetiny", label="click",
                  pair=lambda ds: ModelPair(sides.SmallSide("legacy"), sides.BallastSide("new", 200)),
                  metrics=[MetricGate("auc", 0.05)], serving=[_gate(1.2)],
                  known_gaps={"cost/peak_rss": reason} if declared else {})
    session = Session(RunOptions())
    ids = session.collect(suite, where="test_rss.py")
    assert "known_gaps" not in ids  # a serving gate is a planned id, not a stale entry
    outcome = {i: session.outcome(suite.name, i) for i in ids}["cost/peak_rss"]
    final = session.finish()
    assert outcome.check.verdict is Verdict.NOT_EQUIVALENT and not outcome.passed
    doc = session.report(final)
    validate_report(doc)
    verify_report(doc)
    m = doc["measured"]
    if declared:
        assert outcome.known_gap == reason
        assert final.exit_status == EXIT_OK
        assert m["suites"][0]["known_gaps"] == {"cost/peak_rss": reason}
        assert m["verdict"] is None and m["counts"]["failing"] == 0
        from harness.report.serving_section import markdown_section

        assert f"NOT_EQUIVALENT (known gap: {reason})" in "\n".join(markdown_section(doc))
    else:
        assert outcome.known_gap is None
        assert final.exit_status == 1
        assert "known_gaps" not in m["suites"][0]
        assert m["verdict"] == "NOT_EQUIVALENT" and m["counts"]["failing"] == 1


def test_the_serving_verdict_leaves_out_known_gaps_only():
    from harness.report.measured import serving_verdict

    checks = [{"id": "cost/peak_rss", "gated": True, "verdict": "NOT_EQUIVALENT"},
              {"id": "serving/p99@1", "gated": True, "verdict": "EQUIVALENT"}]
    assert serving_verdict(checks) == "NOT_EQUIVALENT"
    assert serving_verdict(checks, {"cost/peak_rss": "why"}) == "EQUIVALENT"
    assert serving_verdict(checks, {"serving/p99@1": "why"}) == "NOT_EQUIVALENT"
    assert serving_verdict(checks[:1], {"cost/peak_rss": "why"}) is None
