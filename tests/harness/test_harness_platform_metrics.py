"""Platform metrics (Keras, TFMA-like histogram, scikit-learn) against the exact ones, on the suite's data.

References are independent of the code under test: a pairwise Mann-Whitney loop for the bucketed AUC,
scikit-learn for the exact AUC, the textbook float formula for what `model.evaluate()` reports, and
the known ordering of Riemann sums (minoring <= trapezoid-free truth <= majoring for a monotone curve).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from harness.checks.platform_metrics import (
    PlatformMetric,
    check_platform_declared,
    check_platform_metrics,
    histogram_auc,
    histogram_auc_value,
    keras_auc,
    keras_binary_crossentropy,
    margins_from_metric_checks,
    platform_metric_probe,
    plan_platform_ids,
    sklearn_metric,
)
from harness.errors import ParityInputError
from harness.stats.metrics import log_loss, roc_auc
from harness.upgrade import ProbeSet, take_snapshot
from harness.verdicts import Verdict

SCHEMA = json.loads((Path(__file__).parents[2] / "harness" / "report" / "schema.json").read_text())


def _eval_set(n=50_000, prevalence=0.02, seed=0):
    """A seeded CTR-like eval set: ~2 % positives, scores concentrated near 0 as a CTR model's are."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(np.int64)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.5 * y - 4.5)))
    return y, s


def _pairwise_bucket_auc(y, s, w, n_buckets):
    """Slow reference: every (positive, negative) pair, compared on bucket index (same bucket = half)."""
    b = [min(int(v * n_buckets), n_buckets - 1) for v in s]
    num = den = 0.0
    for i in range(len(y)):
        if y[i] != 1:
            continue
        for j in range(len(y)):
            if y[j] != 0:
                continue
            pair = w[i] * w[j]
            den += pair
            num += pair * (1.0 if b[i] > b[j] else 0.5 if b[i] == b[j] else 0.0)
    return num / den


def _fixed(value, name="fixed", metric="auc", fraction=0.5):
    """A deliberately biased implementation: returns the exact metric plus ``value``."""
    from harness.stats.metrics import get_metric

    fn = get_metric(metric).fn
    return PlatformMetric(name, "test.fixed_offset", {"offset": value}, metric, fraction, "test",
                          lambda y, s, w: fn(y, s, sample_weight=w) + value)


# -- the histogram AUC against references ---------------------------------------------------------------

@pytest.mark.parametrize("seed, n_buckets, weighted", [(0, 10, False), (1, 10, True), (2, 7, True), (3, 100, False),
                                                       (4, 1, False)])
def test_histogram_auc_matches_a_pairwise_reference(seed, n_buckets, weighted):
    rng = np.random.default_rng(seed)
    n = 150
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = np.clip(rng.beta(2, 5, n) + 0.2 * y, 0, 1)
    s[:5] = [0.0, 1.0, 0.5, 0.3, 1.0 / n_buckets]  # both ends and bucket edges
    y[:2] = [1, 0]
    w = rng.gamma(2.0, 0.5, n) if weighted else np.ones(n)
    got = histogram_auc_value(y, s, n_buckets=n_buckets, sample_weight=w if weighted else None)
    assert got == pytest.approx(_pairwise_bucket_auc(y, s, w, n_buckets), abs=1e-12)


def test_histogram_auc_equals_the_exact_auc_when_buckets_separate_every_score():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.4).astype(np.int64)
    s = (rng.integers(0, 64, 500) + 0.5) / 64  # 64 distinct values, one per bucket of width 1/64
    assert histogram_auc_value(y, s, n_buckets=64) == pytest.approx(roc_auc_score(y, s), abs=1e-14)


def test_histogram_auc_bias_shrinks_with_more_buckets_on_the_2pct_set():
    y, s = _eval_set()
    exact = roc_auc(y, s)
    gaps = [abs(histogram_auc_value(y, s, n_buckets=b) - exact) for b in (100, 1000, 10000)]
    assert gaps[0] > 1e-3 > gaps[2]  # 100 buckets is a gate-sized bias at 2 % prevalence; 10000 is not
    assert gaps[0] > gaps[1] > gaps[2]


# -- the check ----------------------------------------------------------------------------------------------

def test_sklearn_roc_auc_sits_on_the_exact_auc():
    y, s = _eval_set()
    (check,) = check_platform_metrics(y, s, metrics=[sklearn_metric("roc_auc_score")], margins={"auc": 0.001})
    assert check.id == "platform/sklearn_roc_auc_score" and check.kind == "metric"
    assert abs(check.details["gap"]) < 1e-14
    assert check.verdict is Verdict.EQUIVALENT


def test_gap_is_gated_against_the_stated_fraction_of_the_margin():
    y, s = _eval_set(n=5000, seed=3)
    margins = {"auc": 0.002, "logloss": 0.01}
    checks = check_platform_metrics(y, s, margins=margins, metrics=[
        _fixed(0.00099, "inside"), _fixed(-0.00101, "outside"), _fixed(0.004, "loss_inside", "logloss")])
    by_id = {c.id: c for c in checks}
    assert [c.id for c in checks] == ["platform/inside", "platform/outside", "platform/loss_inside"]
    assert by_id["platform/inside"].verdict is Verdict.EQUIVALENT
    assert by_id["platform/outside"].verdict is Verdict.NOT_EQUIVALENT
    assert by_id["platform/loss_inside"].verdict is Verdict.EQUIVALENT
    d = by_id["platform/outside"].details
    assert d["allowed"] == pytest.approx(0.5 * 0.002) and d["exact"] == pytest.approx(roc_auc(y, s), abs=1e-15)
    assert d["gap"] == pytest.approx(-0.00101, abs=1e-12) and d["gap"] == pytest.approx(d["value"] - d["exact"], abs=0)
    assert d["implementation"] == "test.fixed_offset" and d["settings"] == {"offset": -0.00101}
    assert "test.fixed_offset(offset=-0.00101)" in by_id["platform/outside"].summary
    assert "exceeds the allowed" in by_id["platform/outside"].message and by_id["platform/inside"].message == ""
    assert plan_platform_ids([_fixed(0, "inside"), _fixed(0, "outside")]) == ["platform/inside", "platform/outside"]
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/check", "$defs": SCHEMA["$defs"]})
    for c in checks:
        validator.validate(json.loads(json.dumps(c.to_dict())))


def test_the_exact_metric_is_weighted_when_weights_are_given():
    y, s = _eval_set(n=4000, seed=4)
    w = np.random.default_rng(9).gamma(2.0, 0.5, len(y))
    (check,) = check_platform_metrics(y, s, metrics=[_fixed(0.0, metric="logloss")], margins={"logloss": 0.01},
                                      sample_weight=w)
    assert check.details["exact"] == pytest.approx(log_loss(y, s, sample_weight=w), abs=1e-15)
    assert check.details["weighted"] is True


def test_report_bytes_are_deterministic():
    y, s = _eval_set(n=3000, seed=6)
    run = [json.dumps([c.to_dict() for c in check_platform_metrics(
        y, s, metrics=[histogram_auc(100), sklearn_metric("log_loss")], margins={"auc": 0.01, "logloss": 0.01})])
        for _ in range(2)]
    assert run[0] == run[1]


@pytest.mark.parametrize("call, fragment", [
    pytest.param(lambda y, s: check_platform_metrics(y, s, metrics=[histogram_auc()], margins={}),
                 "no margin for ['auc']", id="missing-margin"),
    pytest.param(lambda y, s: check_platform_metrics(y, s, metrics=[histogram_auc()], margins={"auc": -1}),
                 "margins['auc']: expected a positive", id="negative-margin"),
    pytest.param(lambda y, s: check_platform_metrics(y, s, metrics=[histogram_auc(), histogram_auc()],
                                                     margins={"auc": 0.01}), "named twice", id="duplicate-name"),
    pytest.param(lambda y, s: check_platform_metrics(y, s, metrics=histogram_auc(), margins={"auc": 0.01}),
                 "expected a sequence of PlatformMetric", id="not-a-sequence"),
    pytest.param(lambda y, s: check_platform_metrics(y, s + 1, metrics=[histogram_auc()], margins={"auc": 0.01}),
                 "new_scores", id="scores-outside-0-1"),
    pytest.param(lambda y, s: check_platform_metrics(y[:-1], s, metrics=[histogram_auc()], margins={"auc": 0.01}),
                 "labels", id="lengths-differ"),
    pytest.param(lambda y, s: histogram_auc(0), "n_buckets must be an integer >= 1", id="zero-buckets"),
    pytest.param(lambda y, s: keras_auc(num_thresholds=1), "num_thresholds must be an integer >= 2", id="thresholds"),
    pytest.param(lambda y, s: keras_auc(summation_method="simpson"), "summation_method", id="summation"),
    pytest.param(lambda y, s: keras_auc(curve="DET"), "curve must be", id="curve"),
    pytest.param(lambda y, s: keras_binary_crossentropy(0), "batch_size", id="batch-size"),
    pytest.param(lambda y, s: sklearn_metric("f1_score"), "unsupported function 'f1_score'", id="sklearn-fn"),
    pytest.param(lambda y, s: _fixed(0.0, fraction=-0.1), "max_gap_fraction must be", id="fraction"),
    pytest.param(lambda y, s: _fixed(0.0, name="a/b"), "without '/'", id="slash-name"),
    pytest.param(lambda y, s: _fixed(0.0, metric="accuracy"), "unknown metric 'accuracy'", id="unknown-metric"),
])
def test_bad_arguments_raise_naming_the_argument(call, fragment):
    y, s = _eval_set(n=200, prevalence=0.3, seed=1)
    with pytest.raises(ParityInputError) as err:
        call(y, s)
    assert fragment in str(err.value)


def test_a_suite_declaration_needs_a_gate_for_each_estimated_metric_and_margins_come_from_its_checks():
    from harness.checks.metrics import check_metrics
    from harness.suite import MetricGate

    gates = [MetricGate("AUC", 0.01, reason="r"), MetricGate("logloss", 0.05, kind="relative", reason="r")]
    check_platform_declared([histogram_auc(), sklearn_metric("log_loss")], gates)
    with pytest.raises(ParityInputError, match=r"platform_metrics \['keras_pr_auc'\] estimate metrics without"):
        check_platform_declared([keras_auc(curve="PR")], gates, where="suite 's'")
    y, s = _eval_set(n=4000, prevalence=0.3, seed=2)
    legacy = np.clip(s + np.random.default_rng(1).normal(0, 0.01, len(s)), 0, 1)
    checks = check_metrics(y, legacy, s, gates=gates, slices={"half": np.arange(len(y)) % 2}, min_slice_size=100,
                           n_boot=50)
    margins = margins_from_metric_checks(checks)
    assert margins == {"auc": 0.01, "logloss": pytest.approx(0.05 * log_loss(y, legacy))}


def test_importing_the_module_imports_neither_tensorflow_nor_sklearn():
    code = ("import sys, harness.checks.platform_metrics as m; m.histogram_auc(); m.keras_auc(); "
            "m.keras_binary_crossentropy(); m.sklearn_metric(); "
            "print(sorted(k for k in ('tensorflow', 'keras', 'sklearn') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the evaluation probe -------------------------------------------------------------------------------------

def test_probe_records_value_and_gap_and_a_changed_implementation_is_a_changed_finding():
    from harness.upgrade.findings import Outcome, compare_snapshots

    y, s = _eval_set(n=3000, seed=8)
    offset = {"value": 0.0}
    moving = PlatformMetric("moving", "test.moving", {}, "auc", 0.5, "",
                            lambda yy, ss, w: roc_auc(yy, ss) + offset["value"], packages=("keras",))

    def probeset():
        probes = ProbeSet("pm", source_file=__file__)
        platform_metric_probe(probes, "platform_metrics", lambda: y, lambda: s, [histogram_auc(100), moving])
        return probes

    probes = probeset()
    probe = probes["platform_metrics"]
    assert probe.category == "evaluation" and probe.packages[0] == "numpy" and "keras" in probe.packages
    out = probe.run()
    assert set(out) == {f"{m}/{k}" for m in ("histogram_auc_100", "moving") for k in ("value", "exact", "gap")}
    assert out["histogram_auc_100/gap"] == pytest.approx(histogram_auc_value(y, s, n_buckets=100) - roc_auc(y, s))
    assert out["moving/gap"] == 0.0

    before = take_snapshot(probes)
    offset["value"] = 0.0007  # an "upgrade" that moves this implementation's value on the suite's data
    after = take_snapshot(probeset())
    findings, _ = compare_snapshots(before, after, changed_pkgs={"keras": ("3.0", "3.1")}, env_diffs={})
    outcome = {f.output: f.outcome for f in findings}
    assert outcome["moving/value"] is Outcome.CHANGED and outcome["moving/gap"] is Outcome.CHANGED
    assert outcome["histogram_auc_100/value"] is Outcome.IDENTICAL


# -- Keras ------------------------------------------------------------------------------------------------------

@pytest.mark.tf
def test_keras_auc_200_misses_the_exact_auc_by_more_than_a_launch_margin_at_2pct():
    # the finding, reproduced on a seeded 50k-row, 2 %-prevalence set: Keras's default AUC
    # (200 thresholds, trapezoids) sits more than 0.001 below the exact AUC, so a 0.5 x 0.001 gate fails
    y, s = _eval_set()
    default, fine, lower, upper, sk = check_platform_metrics(y, s, margins={"auc": 0.001}, metrics=[
        keras_auc(), keras_auc(num_thresholds=10000), keras_auc(summation_method="minoring"),
        keras_auc(summation_method="majoring"), sklearn_metric()])
    print({c.id: c.details["gap"] for c in (default, fine, lower, upper, sk)})
    assert default.details["gap"] < -0.001
    assert default.verdict is Verdict.NOT_EQUIVALENT and default.id == "platform/keras_auc"
    assert "num_thresholds=200" in default.summary and "summation_method='interpolation'" in default.summary
    assert abs(fine.details["gap"]) < abs(default.details["gap"]) / 10 and fine.verdict is Verdict.EQUIVALENT
    # Riemann sums of the stepwise ROC: a lower and an upper bound of the trapezoid estimate
    assert lower.details["value"] <= default.details["value"] <= upper.details["value"]
    assert abs(sk.details["gap"]) < 1e-14


@pytest.mark.tf
def test_keras_evaluate_loss_divides_weighted_losses_by_the_row_count():
    # independent reference: float64 cross-entropy of the float32 scores; evaluate's "sum over batch
    # size" reduction gives sum(w * loss) / n, the weighted log loss gives sum(w * loss) / sum(w)
    rng = np.random.default_rng(2)
    n = 3000
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = rng.uniform(0.01, 0.99, n)
    w = rng.gamma(2.0, 0.5, n)
    p = s.astype(np.float32).astype(np.float64)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    unweighted, weighted = (check_platform_metrics(y, s, metrics=[keras_binary_crossentropy(batch_size=500)],
                                                   margins={"logloss": 0.01}, sample_weight=sw)[0].details
                            for sw in (None, w))
    assert unweighted["value"] == pytest.approx(loss.mean(), rel=1e-6)
    assert abs(unweighted["gap"]) < 1e-5
    assert weighted["value"] == pytest.approx((w * loss).sum() / n, rel=1e-6)
    assert weighted["exact"] == pytest.approx((w * loss).sum() / w.sum(), rel=1e-6)
