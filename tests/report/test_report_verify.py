"""A report whose stored verdicts contradict its own checks is refused, naming the suite and check.

Each case takes a sound document (the fixture's) and edits it the way a hand-edit or a buggy writer
would; the expected messages are written from the fixture's numbers by hand.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.errors import ParityInputError
from harness.report import build_report, dumps_report, render_html, render_markdown, report_problems, verify_report
from harness.report.verify import _metric_unsupported
from harness.stats.equivalence import decide
from harness.verdicts import Verdict


def _doc(suite_results):
    return json.loads(dumps_report(build_report(suite_results)))


def _check(doc, suite, check_id):
    s = next(s for s in doc["suites"] if s["suite"] == suite)
    return next(c for c in s["checks"] if c["id"] == check_id)


def _pass_everything(doc):
    """Flip every check, suite and the report to EQUIVALENT and fix the counts: only the checks' own
    numbers can still tell."""
    for s in doc["suites"]:
        for c in s["checks"]:
            c["verdict"] = "EQUIVALENT"
        s["verdict"] = "EQUIVALENT"
    doc["verdict"] = "EQUIVALENT"
    doc["counts"].update(failing=0, inconclusive=0)


def _edit_metric(ci, **margin):
    def edit(doc):
        c = _check(doc, "ctr_logreg", "metrics/auc")
        c["details"]["ci"] = ci
        c["details"]["margin"].update(margin)
    return edit


CASES = [
    pytest.param(lambda d: d["suites"][1].__setitem__("verdict", "EQUIVALENT"),
                 ["suite 'ctr_gbdt': stored verdict EQUIVALENT, but its gated checks give NOT_EQUIVALENT "
                  "(not equivalent: features/log_price, metrics/logloss)",
                  "report verdict: stored NOT_EQUIVALENT, but its suites give EQUIVALENT"], id="suite-verdict"),
    pytest.param(lambda d: d.__setitem__("verdict", "EQUIVALENT"),
                 ["report verdict: stored EQUIVALENT, but its suites give NOT_EQUIVALENT"], id="report-verdict"),
    pytest.param(lambda d: d["counts"].__setitem__("failing", 0),
                 ["counts.failing: stored 0, but the checks give 2"], id="counts"),
    pytest.param(_pass_everything,
                 ["suite 'ctr_gbdt', check 'features/log_price': stored EQUIVALENT, but 3 of 40,000 rows mismatch",
                  "suite 'ctr_logreg', check 'metrics/auc[device=tablet]': stored EQUIVALENT, but its interval "
                  "[-0.03, +0.01] is not inside \u00b10.005"], id="everything-flipped-to-pass"),
    pytest.param(_edit_metric([-0.02, 0.001]),
                 ["suite 'ctr_logreg', check 'metrics/auc': stored EQUIVALENT, but its interval [-0.02, +0.001] "
                  "is not inside \u00b10.005"], id="metric-interval-outside"),
    pytest.param(_edit_metric([-0.005, 0.001]),  # touching the margin is not inside it
                 ["check 'metrics/auc': stored EQUIVALENT, but its interval [-0.005, +0.001] is not inside"],
                 id="metric-interval-touching"),
    pytest.param(_edit_metric([-0.006, 0.01], test="non_inferiority"),
                 ["check 'metrics/auc': stored EQUIVALENT, but its interval [-0.006, +0.01] is not lower bound > "
                  "-0.005"], id="non-inferiority"),
    pytest.param(lambda d: _check(d, "ctr_logreg", "metrics/auc")["details"].__setitem__("margin", None),
                 ["check 'metrics/auc': stored EQUIVALENT, but it has no interval or no margin"], id="no-margin"),
    pytest.param(lambda d: _check(d, "ctr_logreg", "alignment/keys")["details"].__setitem__("missing_in_new", 12),
                 ["suite 'ctr_logreg', check 'alignment/keys': stored EQUIVALENT, but missing in new 12"],
                 id="alignment-missing-keys"),
    pytest.param(lambda d: _check(d, "ctr_logreg", "predictions/scores")["details"].__setitem__(
                 "share_beyond_tol", 0.01),
                 ["check 'predictions/scores': stored EQUIVALENT, but a share 0.01 of rows is beyond the tolerance "
                  "(allowed 0)"], id="prediction-beyond-tolerance"),
]


@pytest.mark.parametrize(("edit", "expected"), CASES)
def test_contradiction_is_refused_naming_suite_and_check(suite_results, edit, expected):
    doc = _doc(suite_results)
    assert report_problems(doc) == []  # the fixture itself is sound
    edit(doc)
    problems = report_problems(doc)
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    for render in (render_markdown, render_html, verify_report):
        with pytest.raises(ParityInputError, match="contradict its own checks"):
            render(doc)


def test_cli_exits_2_and_writes_nothing_for_a_contradicting_file(suite_results, tmp_path, capsys):
    doc = _doc(suite_results)
    _pass_everything(doc)
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "review.html"
    assert main(["report", str(bad), "--html", str(out)]) == 2
    err = capsys.readouterr().err
    assert "suite 'ctr_gbdt', check 'features/log_price'" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["report", str(bad)]) == 2 and capsys.readouterr().out == ""


def test_cli_renders_a_sound_file_and_a_schema_1_0_file(suite_results, tmp_path, capsys):
    doc = _doc(suite_results)
    sound = tmp_path / "report.json"
    sound.write_text(dumps_report(doc), encoding="utf-8")
    # Rendered whatever its verdict; the exit status is the run's (this fixture has failing checks).
    assert doc["verdict"] == "NOT_EQUIVALENT"
    assert main(["report", str(sound)]) == 1
    assert capsys.readouterr().out == render_markdown(doc)
    old = {k: v for k, v in doc.items() if k != "suites_source"}  # as a 1.0 report was written
    old["schema_version"] = "1.0"
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    assert main(["report", str(tmp_path / "old.json")]) == 1
    assert "suites' commit not recorded; report schema 1.0" in capsys.readouterr().out
    missing = dict(doc)
    del missing["suites_source"]  # a 2.0 document must name its suites' source, even as unknown
    (tmp_path / "missing.json").write_text(json.dumps(missing), encoding="utf-8")
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "suites_source" in capsys.readouterr().err


def _cases(seed=0, n=150):
    rng = np.random.default_rng(seed)
    m = 0.01
    grid = np.array([-2 * m, -m, -m / 2, 0.0, m / 2, m, 2 * m])  # includes the margin itself exactly
    for _ in range(n):
        lo, hi = np.sort(rng.choice(grid, 2) if rng.random() < 0.5 else rng.uniform(-2 * m, 2 * m, 2))
        yield (float(lo), float(hi), m, str(rng.choice(["equivalence", "non_inferiority"])), bool(rng.random() < 0.5))


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: f"[{c[0]:+.3g},{c[1]:+.3g}]-{c[3]}-hib{c[4]}")
def test_the_metric_rule_agrees_with_the_statistics_decision(case):
    # The verifier restates the rule; harness.stats.equivalence.decide is the reference.
    lo, hi, m, test, hib = case
    details = {"ci": [lo, hi], "margin": {"value": m, "kind": "absolute", "test": test, "higher_is_better": hib,
                                          "absolute_value": m}}
    reference = decide((lo + hi) / 2, lo, hi, m, test=test, higher_is_better=hib)
    assert (_metric_unsupported(details) is None) == (reference is Verdict.EQUIVALENT)


def _suite_with_review_item(make_result, improvement_ci, verdict):
    from harness.results import CheckResult

    result = make_result("ni")
    result.checks.append(CheckResult(
        "review/too_good/auc", "metric", verdict, gated=False, summary="within the bound: auc improved by +0.001",
        details={"metric": "auc", "legacy": 0.7312, "new": 0.7322, "diff": 0.001, "ci": [-0.0005, 0.0025],
                 "ci_level": 0.9, "method": "delong", "n": 40000, "slice": None,
                 "review": {"type": "too_good", "metric_check": "metrics/auc", "bound": 0.01, "bound_kind": "absolute",
                            "bound_absolute": 0.01, "higher_is_better": True, "reason": "RFC-9",
                            "improvement": 0.001, "improvement_ci": improvement_ci}}))
    return result


def test_a_review_item_is_verified_by_its_own_rule_and_listed_with_the_other_checks(make_result):
    # Layout of harness.checks.review_items (too good under non-inferiority): no margin, a bound instead.
    doc = build_report([_suite_with_review_item(make_result, [-0.0005, 0.0025], Verdict.EQUIVALENT)])
    assert report_problems(doc) == []
    md = render_markdown(doc)
    assert "| ni | review/too_good/auc | EQUIVALENT (not gated) |" in md
    assert "| ni | auc | all rows | 0.7312 | 0.7322 |" not in md  # not a metric difference row
    html = render_html(doc)
    assert 'data-check="ni::review/too_good/auc"' not in html  # no forest row without a margin
    beyond = build_report([_suite_with_review_item(make_result, [0.004, 0.012], Verdict.EQUIVALENT)])
    assert report_problems(beyond) == ["suite 'ni', check 'review/too_good/auc': stored EQUIVALENT, but the gain's "
                                       "interval [+0.004, +0.012] reaches beyond the bound 0.01"]


@pytest.mark.parametrize("ci", [(-0.0005, 0.0025), (0.004, 0.02), (0.012, 0.02)], ids=["within", "straddles", "beyond"])
def test_review_items_from_the_harness_itself_verify(make_result, ci):
    import copy

    from harness.checks.review_items import TooGood, too_good_items

    result = make_result("ni")
    auc = copy.deepcopy(result.check("metrics/auc"))
    auc.details["margin"]["test"] = "non_inferiority"
    auc.details["ci"] = list(ci)
    result.checks = [c if c.id != "metrics/auc" else auc for c in result.checks]
    result.checks += too_good_items([auc], TooGood({"auc": 0.01}, reason="RFC-9: a gain above 0.01 is a data change"))
    assert report_problems(build_report([result])) == []


def _c(cid, verdict="EQUIVALENT", gated=True, stage=None):
    details = {"error": {"stage": stage, "type": "X", "message": "m"}} if stage else {}
    return {"id": cid, "verdict": verdict, "gated": gated, "details": details}


@pytest.mark.parametrize("suites, measured, expected", [
    ([{"checks": [_c("metrics/auc")], "known_gaps": {}}], None, 0),
    ([{"checks": [_c("metrics/auc", "INCONCLUSIVE")], "known_gaps": {}}], None, 1),
    ([{"checks": [_c("metrics/auc", "NOT_EQUIVALENT", gated=False)], "known_gaps": {}}], None, 0),
    ([{"checks": [_c("metrics/auc", "NOT_EQUIVALENT")], "known_gaps": {"metrics/auc": "why"}}], None, 0),
    ([{"checks": [_c("metrics/auc", "NOT_EQUIVALENT", stage="suite")], "known_gaps": {}}], None, 2),
    ([{"checks": [_c("metrics/auc", "NOT_EQUIVALENT", stage="check")], "known_gaps": {}}], None, 1),
    ([{"checks": [_c("metrics/auc")], "known_gaps": {}}],
     {"suites": [{"checks": [_c("cost/peak_rss", "NOT_EQUIVALENT")]}]}, 1),
    ([{"checks": [_c("metrics/auc")], "known_gaps": {}}],
     {"suites": [{"checks": [_c("cost/peak_rss", "NOT_EQUIVALENT")], "known_gaps": {"cost/peak_rss": "why"}}]}, 0),
    ([{"checks": [_c("metrics/auc")], "known_gaps": {}}],
     {"suites": [{"checks": [_c("cost/peak_rss", "NOT_EQUIVALENT", stage="serving")]}]}, 2),
], ids=["pass", "inconclusive", "ungated", "known-gap", "could-not-run", "check-crash", "serving-fails",
        "serving-known-gap", "serving-unmeasured"])
def test_parity_report_exits_as_the_run_that_wrote_the_file(suites, measured, expected):
    from harness.session import EXIT_ERROR, EXIT_FAIL, EXIT_OK, report_exit_status

    assert (EXIT_OK, EXIT_FAIL, EXIT_ERROR) == (0, 1, 2)
    assert report_exit_status({"suites": suites, "measured": measured}) == expected


def test_a_pass_forged_past_holm_is_refused(suite_results):
    doc = _doc(suite_results)
    c = _check(doc, "ctr_logreg", "metrics/auc")
    assert c["verdict"] == "EQUIVALENT" and report_problems(doc) == []
    c["details"].update(p_adjusted=0.0616, adjustment="Holm")  # Holm made it INCONCLUSIVE; the verdict says not
    problems = report_problems(doc)
    assert any("check 'metrics/auc': stored EQUIVALENT, but its Holm p-value 0.0616 exceeds alpha = 0.05" in p
               for p in problems), problems
    c["details"]["p_adjusted"] = None  # adjusted, but the adjusted p-value is gone
    assert any("it is Holm but has no adjusted p-value" in p for p in report_problems(doc))


def _holm_family(seed: int, margins=(0.003, 0.03), noise=0.03):
    """A seeded comparison whose Holm family has members near the margin: some stay EQUIVALENT, some
    become INCONCLUSIVE only through the adjustment."""
    from harness.stats.compare import compare_scores

    rng = np.random.default_rng(seed)
    n = 3000
    y = (rng.random(n) < 0.3).astype(float)
    base = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    new = np.clip(base + rng.normal(0, noise, n), 0.01, 0.99)
    margin = float(rng.uniform(*margins))
    slices = {"device": np.where(rng.random(n) < 0.5, "a", "b")}
    return compare_scores(y, base, new, metrics=["auc", "logloss", "brier"], keys=np.arange(n),
                          margins={"auc": margin, "logloss": margin, "brier": margin / 4}, n_boot=200, seed=seed,
                          slices=slices, min_slice_size=500)


def test_every_genuine_holm_decision_verifies_and_its_forged_pass_does_not():
    seen = {"equivalent": 0, "holm": 0}
    for seed in range(16):
        for entry in _holm_family(seed).entries:
            d = entry.to_dict()
            if entry.verdict is Verdict.EQUIVALENT:  # the harness's own pass is never called a contradiction
                assert _metric_unsupported(d) is None, d
                seen["equivalent"] += 1
            elif entry.decided_by == "holm":  # interval inside the margin, Holm said no: a forged pass is caught
                assert "Holm p-value" in (_metric_unsupported(d) or ""), d
                seen["holm"] += 1
    assert seen["equivalent"] >= 50 and seen["holm"] >= 3, seen  # both kinds were exercised


def test_every_genuine_verdict_verifies_and_every_other_verdict_in_its_place_is_refused():
    from harness.report.verify import _check_problem

    verdicts = ("EQUIVALENT", "NOT_EQUIVALENT", "INCONCLUSIVE")
    seen = set()
    families = [_holm_family(seed) for seed in range(16)] + [_holm_family(seed, (0.002, 0.01), 0.05) for seed in range(8)]
    for family in families:
        for entry in family.entries:
            check = {"kind": "metric", "verdict": entry.verdict.value, "details": entry.to_dict()}
            assert _check_problem(check) is None, check  # what the statistics decided is never a contradiction
            seen.add((entry.verdict.value, entry.decided_by))
            for other in verdicts:
                if other != check["verdict"]:
                    assert _check_problem(dict(check, verdict=other)) is not None, (other, check)
            d = check["details"]
            moved = dict(check, details=dict(d, new=d["new"] + 0.25))  # a value edited, its diff not
            assert "its values disagree" in _check_problem(moved)
    assert {("EQUIVALENT", "interval"), ("INCONCLUSIVE", "interval"), ("INCONCLUSIVE", "holm"),
            ("NOT_EQUIVALENT", "interval")} <= seen, seen
