"""report.md: verdict first, sampled runs flagged, metric table, features, upgrade findings, fingerprints."""
from __future__ import annotations

from harness.report import build_report, render_markdown


def _md(results, **kw):
    return render_markdown(build_report(results, **kw))


def test_first_line_is_the_verdict(suite_results, make_result):
    md = _md(suite_results)
    assert md.splitlines()[0] == "**Parity: NOT_EQUIVALENT** \u2014 2 suites, 16 checks, 2 failing, 2 known gaps"
    ok = _md([make_result("a")])
    assert ok.splitlines()[0] == "**Parity: EQUIVALENT** \u2014 1 suite, 8 checks, 0 failing, 1 known gap"


def test_sampled_run_is_flagged_right_under_the_verdict(make_result):
    lines = _md([make_result(sample={"rows": 5000, "seed": 3})]).splitlines()
    assert lines[2] == "> [!WARNING]"
    assert lines[3].startswith("> **Sampled run:** 5,000 rows per suite (seed 3)")
    assert "Sampled run" not in _md([make_result()])


def test_metric_table_row(suite_results):
    md = _md(suite_results)
    rows = [line for line in md.splitlines() if line.startswith("| ctr_gbdt | logloss |")]
    assert rows == [
        "| ctr_gbdt | logloss | all rows | 0.4121 | 0.4135 | +0.0014 | [-0.0004, +0.0031] (90%) "
        "| ±0.004121 (equivalence); 1% of legacy | paired_bootstrap | 0.0012 (holm) | 40,000 | **NOT_EQUIVALENT** |"
    ]
    assert "| ctr_logreg | auc | device=tablet |" in md and "INCONCLUSIVE (not gated)" in md


def test_features_out_of_parity_or_all_at_parity(suite_results, make_result):
    md = _md(suite_results)
    assert "1 of 4 features out of parity:" in md
    assert "| ctr_gbdt | log_price | numeric | 3 / 40,000 |" in md
    assert "<details><summary>All 2 features at parity</summary>" in _md([make_result("a")])


def test_upgrade_findings_with_deepdiff_paths_and_packages(suite_results):
    md = _md(suite_results)
    section = md.split("### Upgrade findings", 1)[1]
    line = next(row for row in section.splitlines() if "logreg_defaults/params" in row)
    assert "**CHANGED**" in line and "root['C']: 1.0 \u2192 2.0" in line and "scikit-learn" in line
    # A '|' inside a value is escaped, so it cannot open a new column.
    assert "<newton\\|cg>" in line
    assert "saved_model_scores/scores" in section and "WITHIN_NOISE" in section
    assert "tokenizer/vocab" not in section  # identical outputs are not findings
    assert "`ctr_gbdt` changed packages: numpy 2.3.0 \u2192 2.4.0, scikit-learn 1.9.0 \u2192 1.9.1" in section


def test_only_the_fingerprint_entries_that_differ(suite_results):
    md = _md(suite_results)
    assert "```json" not in md and "Fingerprint (baseline)" not in md  # no whole fingerprints
    section = md.split("### Environment changes since the baseline \u2014 ctr_gbdt", 1)[1].split("<sub>", 1)[0]
    # The fixture's fingerprints, by hand: python equal; numpy and scikit-learn moved.
    assert "2 of 3 fingerprint entries differ:" in section
    assert "| `packages.numpy` | 2.3.0 | 2.4.0 |" in section
    assert "| `packages.scikit-learn` | 1.9.0 | 1.9.1 |" in section
    assert "python" not in section
    # A suite without a baseline has nothing to compare against: no section for it.
    assert "since the baseline \u2014 ctr_logreg" not in md


def _crashed_suite():
    from harness.results import CheckResult, SuiteResult
    from harness.verdicts import Verdict

    checks = [CheckResult(id=cid, kind=kind, verdict=Verdict.NOT_EQUIVALENT, summary="ERROR: KeyError: 'model_path'",
                          message="suite 'crashed' could not run: KeyError: 'model_path'",
                          details={"error": {"stage": "suite", "type": "KeyError", "message": "'model_path'"}})
              for cid, kind in (("alignment/keys", "alignment"), ("metrics/auc", "metric"))]
    return SuiteResult(suite="crashed", description="", dataset={}, seed=0, checks=checks)


def test_errors_are_counted_in_the_headline_and_listed(make_result):
    md = _md([make_result("a"), _crashed_suite()])
    lines = md.splitlines()
    assert lines[0] == "**Parity: NOT_EQUIVALENT** \u2014 2 suites, 10 checks, 2 failing (2 errors), 1 known gap"
    section = md.split("### Errors", 1)[1].split("###", 1)[0]
    assert "| crashed | alignment/keys | suite | KeyError: 'model_path' |" in section
    assert "| crashed | metrics/auc | suite | KeyError: 'model_path' |" in section
    # An errored metric has no numbers: it is listed under errors, not as an empty metric row.
    assert "| crashed | auc |" not in md and "| crashed | metrics/auc | metric |" not in md
    assert "| crashed | **NOT_EQUIVALENT** (error) |" in md
    assert "### Errors" not in _md([make_result("a")])


def test_partial_run_is_flagged_in_the_headline(make_result):
    sel = {"partial": True, "keyword": "auc and mobile", "markexpr": "slow", "deselected": 8, "planned": 9, "ran": 1,
           "not_run": {"a": ["alignment/keys", "metrics/logloss"], "b": ["metrics/auc"]}}
    lines = _md([make_result("a")], selection=sel).splitlines()
    assert lines[0] == "**Parity: EQUIVALENT (partial run)** \u2014 1 suite, 8 checks, 0 failing, 1 known gap"
    assert lines[2] == "> [!WARNING]"
    assert lines[3] == ("> **Partial run:** 1 of 9 planned checks ran (-k 'auc and mobile'; -m 'slow'; "
                        "8 deselected). Not a release verdict.")
    assert lines[4] == "> not run: `a`: alignment/keys, metrics/logloss; `b`: metrics/auc"
    # A selection that still ran every planned check (e.g. -k deselecting hand-written tests) is not partial.
    full = dict(sel, partial=False, ran=9, not_run={})
    lines = _md([make_result("a")], selection=full).splitlines()
    assert lines[0].startswith("**Parity: EQUIVALENT** \u2014")
    assert "Partial run" not in "\n".join(lines)


def test_every_check_is_in_the_report_once(suite_results):
    doc = build_report(suite_results)
    md = render_markdown(doc)
    rows = [line for line in md.splitlines() if line.startswith("| ctr_")]
    for s in doc["suites"]:
        for c in s["checks"]:
            d = c["details"]
            if c["kind"] == "metric":
                slice_ = f"{d['slice']['column']}={d['slice']['value']}" if d.get("slice") else "all rows"
                prefix = f"| {s['suite']} | {d['metric']} | {slice_} |"
            elif c["kind"] == "feature":
                prefix = f"| {s['suite']} | {d['feature']} |"
            else:
                prefix = f"| {s['suite']} | {c['id']} |"
            assert sum(r.startswith(prefix) for r in rows) == 1, prefix
    section = md.split("### Alignment, predictions and other checks", 1)[1].split("###", 1)[0]
    assert "| ctr_logreg | alignment/keys | EQUIVALENT |" in section
    assert ("| ctr_logreg | predictions/scores | EQUIVALENT | max \\|diff\\| 3.1\u00d710\u207b\u2077, p99 "
            "2.693\u00d710\u207b\u2077, 0.000% beyond 1\u00d710\u207b\u2076 (allowed 0.000%) | \\|diff\\| \u2264 "
            "1\u00d710\u207b\u2076 on all but 0% of rows |") in section


def test_passing_features_are_collapsed_under_the_failing_ones(suite_results):
    md = _md(suite_results)
    section = md.split("### Features", 1)[1].split("###", 1)[0]
    failing, passing = section.split("<details><summary>3 features at parity</summary>", 1)
    assert "| ctr_gbdt | log_price | numeric | 3 / 40,000 | 99.9925% |" in failing
    assert "| ctr_logreg | log_price | numeric | 0 / 40,000 | 100% |" in passing and "</details>" in passing


def test_numbers_are_written_one_way(suite_results):
    import re

    md = _md(suite_results)
    assert not re.search(r"\d[eE][-+]?\d", md)  # 3.1e-07 is written 3.1×10⁻⁷: no break after its hyphen
    assert "(s)" not in md and "suite(s)" not in md
    assert "| 40,000 |" in md and "| 40000 |" not in md  # counts grouped, everywhere alike
    assert '{"max_ulp"' not in md  # a tolerance reads as words, not JSON


def test_footer_names_harness_version_and_suites_commit(make_result):
    import importlib.metadata

    sha = "0123456789abcdef0123456789abcdef01234567"
    md = _md([make_result("a")], suites={"commit": sha, "dirty": False})
    assert md.splitlines()[-1] == (f"<sub>parity-harness {importlib.metadata.version('parity-harness')}; suites at "
                                   f"commit `{sha}`; report schema 2.2</sub>")


def test_the_report_says_which_trained_sides_were_reused():
    from harness.report import build_report, render_markdown, validate_report
    from harness.results import CheckResult, SuiteResult

    r = SuiteResult(suite="s", description="d", dataset={"name": "x"}, seed=0,
                    checks=[CheckResult(id="alignment/keys", kind="alignment", verdict="EQUIVALENT",
                                        details={"n_legacy": 1, "n_new": 1, "n_aligned": 1})],
                    side_cache=[{"side": "hgb", "key": "a" * 64, "reused": True, "reason": "reused"},
                                {"side": "keras", "key": "b" * 64, "reused": False, "reason": "no entry"}])
    doc = build_report([r])
    validate_report(doc)
    assert doc["suites"][0]["side_cache"][0]["reused"] is True
    md = render_markdown(doc)
    assert "### Trained sides" in md and "| s | hgb | reused | reused |" in md and "| s | keras | trained | no entry |" in md


def test_failing_checks_carry_their_messages_and_only_failing_ones_are_called_failures(suite_results):
    from harness.report import render_html

    doc = build_report(suite_results)
    md = render_markdown(doc)
    section = md.split("### Failing checks: why, and what to do", 1)[1].split("\n### ", 1)[0]
    assert "**ctr_gbdt** `features/log_price`: NOT_EQUIVALENT" in section
    assert "features/log_price: 3 of 40000 rows differ beyond 2 ULP" in section
    assert "**ctr_gbdt** `metrics/logloss`" in section
    assert "tablet" not in section  # not gated: reported, but it fails nothing
    html = render_html(doc)
    failing = html.split("<h3>Failure details</h3>", 1)[1].split("<h3>", 1)[0]
    assert 'data-check="features/log_price"' in failing and "tablet" not in failing
    assert 'data-check="metrics/auc[device=tablet]"' in html.split("Not EQUIVALENT, not failing", 1)[1]
    # A suite with nothing failing has no failure section in either rendering.
    calm = build_report(suite_results[:1])
    assert "Failing checks" not in render_markdown(calm) and "<h3>Failure details</h3>" not in render_html(calm)


def test_a_verdict_holm_decided_shows_the_interval_at_holms_level(make_result):
    import dataclasses

    from harness.verdicts import Verdict

    result = make_result("ctr_logreg")
    i = next(i for i, c in enumerate(result.checks) if c.id == "metrics/auc")
    auc = result.checks[i]
    details = dict(auc.details, p_adjusted=0.0924, decided_by="holm", ci_adjusted=[-0.0042, 0.0031],
                   ci_adjusted_level=0.9667)
    result.checks[i] = dataclasses.replace(auc, verdict=Verdict.INCONCLUSIVE, details=details, message="held by Holm")
    md = render_markdown(build_report([result]))
    (row,) = [line for line in md.splitlines() if line.startswith("| ctr_logreg | auc | all rows")]
    assert "[-0.0042, +0.0031] (96.67%)" in row and "**INCONCLUSIVE** (Holm)" in row, row
    assert "0.0924 (holm)" in row


def test_the_suites_tables_count_failing_and_known_gaps_as_counts_does(make_result):
    import re

    from harness.report import render_html

    result = make_result("ctr_gbdt", failing=True)
    result.known_gaps = dict(result.known_gaps, **{"metrics/auc[device=nowhere]": "names no check"})
    doc = build_report([result])
    assert doc["counts"]["failing"] == 2 and doc["counts"]["known_gaps"] == 1
    (row,) = [line for line in render_markdown(doc).splitlines() if line.startswith("| ctr_gbdt | **")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:5] == ["2", "1"], cells  # failing, known gaps (a gap naming no check covers none)
    table = render_html(doc).split('id="suites"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<td>([^<]*)</td>", table)[:4] == ["8", "2", "1", "ads_ctr"], table
