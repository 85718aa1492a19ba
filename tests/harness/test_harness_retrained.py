"""Retrained-pair prediction gates and "too good" review items, checked against known truth.

Known truth by construction: pairs whose score distributions are equal or shifted, decisions flipped with a
known probability, bivariate normals with a known Spearman correlation, query groups scrambled with a
known probability; intervals checked against scipy's own formulas and by coverage over seeded datasets.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from scipy import stats

from harness.checks.predictions import topk_overlap
from harness.checks.retrained import (
    DistributionGate,
    FlipGate,
    RankGate,
    RetrainedPredictionGates,
    TopKGate,
    check_retrained_predictions,
    group_topk_overlaps,
)
from harness.errors import ParityInputError
from harness.results import SuiteResult
from harness.verdicts import Verdict

ALPHA = 0.05
SCHEMA = json.loads((Path(__file__).parents[2] / "harness" / "report" / "schema.json").read_text())


def _binomial_band(p: float, sims: int) -> float:
    return 3 * math.sqrt(p * (1 - p) / sims)  # 3 sd of a rate estimated from `sims` seeded datasets


def _retrained_pair(rng, n, *, shift=0.0, noise=0.3):
    # two models that share a latent score and each add their own training noise: rows differ, the
    # score distributions are the same (shift 0) or the new one is moved on the logit scale
    z = rng.normal(size=n)
    legacy = 1 / (1 + np.exp(-(z + noise * rng.normal(size=n))))
    new = 1 / (1 + np.exp(-(z + noise * rng.normal(size=n) + shift)))
    return legacy, new


def _all_gates(**over):
    gates = dict(
        distribution=DistributionGate(statistics=("ks", "psi", "wasserstein"), reason="downstream thresholds"),
        rank_correlation=RankGate(min_spearman=0.85, reason="rankings feed the auction"),
        topk=TopKGate(k=5, min_mean=0.6, min_floor=0.2, reason="what users see"),
        decision_flips=FlipGate(threshold=0.5, max_share=0.15, reason="the approval threshold"),
    )
    gates.update(over)
    return RetrainedPredictionGates(**gates)


def _groups(n, size=20):
    return np.repeat(np.arange(n // size), size)


def test_same_distribution_retrain_passes_and_needs_no_known_gap():
    rng = np.random.default_rng(0)
    n = 20_000
    gates = _all_gates()
    for _ in range(5):
        legacy, new = _retrained_pair(rng, n)
        checks = check_retrained_predictions(legacy, new, keys=np.arange(n), groups=_groups(n), gates=gates)
        assert [c.id for c in checks] == gates.check_ids()
        scores, gated = checks[0], checks[1:]
        assert scores.id == "predictions/scores" and not scores.gated and scores.details["mode"] == "retrained"
        assert scores.details["share_beyond_tol"] == 1.0  # every row differs ...
        assert all(c.gated and c.verdict is Verdict.EQUIVALENT for c in gated), [(c.id, c.summary) for c in gated]
        # ... and the suite passes without a known_gaps entry
        suite = SuiteResult("s", "", {}, 0, checks)
        assert suite.verdict is Verdict.EQUIVALENT and suite.known_gaps == {}


def test_shifted_retrain_fails_the_distribution_gate():
    rng = np.random.default_rng(1)
    n = 20_000
    gates = _all_gates(rank_correlation=None, topk=None, decision_flips=())
    for _ in range(3):
        legacy, new = _retrained_pair(rng, n, shift=0.8)  # the whole score distribution moves up
        checks = {c.id: c for c in check_retrained_predictions(legacy, new, keys=np.arange(n), gates=gates)}
        for s in ("ks", "psi", "wasserstein"):
            c = checks[f"predictions/distribution/{s}"]
            assert c.verdict is Verdict.NOT_EQUIVALENT and c.kind == "distribution", c.summary
            assert c.details["reason"] == "downstream thresholds" and "Threshold rationale" in c.message
            # the same statistic as the stats module computes directly
            ref = {"ks": stats.ks_2samp(legacy, new).statistic,
                   "wasserstein": stats.wasserstein_distance(legacy, new) / np.std(legacy)}.get(s)
            if ref is not None:
                assert c.details[s] == pytest.approx(ref, rel=1e-12)


def test_small_retrained_pair_is_inconclusive_not_a_pass():
    rng = np.random.default_rng(2)
    legacy, new = _retrained_pair(rng, 200)
    checks = check_retrained_predictions(legacy, new, keys=np.arange(200), gates=_all_gates(topk=None))
    dist = [c for c in checks if c.id.startswith("predictions/distribution/")]
    assert all(c.verdict is Verdict.INCONCLUSIVE for c in dist), [c.summary for c in dist]
    assert SuiteResult("s", "", {}, 0, checks).verdict is not Verdict.EQUIVALENT


def _flip_data(rng, n, p):
    # legacy uniform; each row independently reflected across 0.5 with probability p: its decision flips
    legacy = rng.random(n)
    new = np.where(rng.random(n) < p, 1.0 - legacy, legacy)
    return legacy, new


def test_flip_interval_is_clopper_pearson():
    rng = np.random.default_rng(3)
    legacy, new = _flip_data(rng, 3000, 0.02)
    gates = RetrainedPredictionGates(decision_flips=FlipGate(threshold=0.5, max_share=0.05, reason="r"))
    c = check_retrained_predictions(legacy, new, keys=np.arange(3000), gates=gates)[1]
    k, n = c.details["n_flips"], c.details["n"]
    assert k == int(np.sum((legacy >= 0.5) != (new >= 0.5)))
    # scipy's exact interval (a root search on the binomial tail), not the beta quantiles the check uses
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=1 - 2 * ALPHA, method="exact")
    assert c.details["ci"] == pytest.approx([ref.low, ref.high], rel=1e-6)
    none = check_retrained_predictions(legacy, legacy, keys=np.arange(3000), gates=gates)[1]
    ref = stats.binomtest(0, 3000).proportion_ci(confidence_level=1 - 2 * ALPHA, method="exact")
    assert none.details["ci"] == pytest.approx([0.0, ref.high], rel=1e-6) and none.details["n_flips"] == 0
    assert c.id == "predictions/flips@0.5" and c.verdict is Verdict.EQUIVALENT and c.details["ci_level"] == 0.9


def test_flip_interval_covers_the_true_share_and_holds_its_level():
    rng = np.random.default_rng(4)
    n, sims, p = 1000, 400, 0.03
    gates = RetrainedPredictionGates(decision_flips=FlipGate(threshold=0.5, max_share=p, reason="r"))
    covered, passed = 0, 0
    for _ in range(sims):
        legacy, new = _flip_data(rng, n, p)
        c = check_retrained_predictions(legacy, new, keys=np.arange(n), gates=gates)[1]
        lo, hi = c.details["ci"]
        covered += lo <= p <= hi
        passed += c.verdict is Verdict.EQUIVALENT
    # Clopper-Pearson is exact: coverage at least nominal (here about 0.92), not far above
    assert 0.90 - _binomial_band(0.9, sims) <= covered / sims <= 0.97
    # the true share sits on the bound: EQUIVALENT is a false pass, at most alpha of the time
    assert passed / sims <= ALPHA + _binomial_band(ALPHA, sims)


def test_flips_report_direction_rates_and_labels():
    legacy = np.array([0.1, 0.6, 0.7, 0.2, 0.9, 0.4])
    new = np.array([0.6, 0.4, 0.8, 0.1, 0.95, 0.3])  # rows 0 (to positive) and 1 (to negative) flip
    labels = np.array([1, 1, 0, 0, 1, 0])
    gates = RetrainedPredictionGates(decision_flips=[FlipGate(0.5, 0.5, reason="r"), FlipGate(0.25, 0.5, reason="r")])
    c5, c25 = check_retrained_predictions(legacy, new, keys=np.arange(10, 16), labels=labels, gates=gates)[1:]
    d = c5.details
    assert (d["n_flips"], d["flips_to_positive"], d["flips_to_negative"]) == (2, 1, 1)
    assert d["labels"] == {"new_correct": 1, "legacy_correct": 1}  # row 0: new right; row 1: legacy right
    assert {e["key"] for e in d["examples"]} == {10, 11}
    assert c25.id == "predictions/flips@0.25" and c25.details["n_flips"] == 1  # only row 0 crosses 0.25
    assert check_retrained_predictions(legacy, new, keys=np.arange(6), labels=labels * 2.5, gates=gates)[1] \
        .details["labels"]["note"].startswith("labels are not 0/1")


def _bivariate(rng, n, r):
    x = rng.normal(size=n)
    return x, r * x + math.sqrt(1 - r * r) * rng.normal(size=n)


@pytest.mark.slow
def test_spearman_interval_covers_the_true_rank_correlation():
    rng = np.random.default_rng(5)
    n, sims, r = 300, 800, 0.95
    truth = 6 / math.pi * math.asin(r / 2)  # Spearman's rho of a bivariate normal (Pearson 1907)
    gates = RetrainedPredictionGates(rank_correlation=RankGate(min_spearman=0.9, reason="r"))
    covered = 0
    for _ in range(sims):
        a, b = _bivariate(rng, n, r)
        c = check_retrained_predictions(a, b, keys=np.arange(n), gates=gates)[1]
        assert c.details["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
        lo, hi = c.details["ci"]
        covered += lo <= truth <= hi
    # Fieller's narrower 1.06/sqrt(n-3) covers only about 0.85 here: this bound tells the two apart
    assert abs(covered / sims - 0.90) <= _binomial_band(0.9, sims)


def test_spearman_verdicts_follow_the_interval():
    rng = np.random.default_rng(6)
    gate = RetrainedPredictionGates(rank_correlation=RankGate(min_spearman=0.9, reason="r"))
    high = check_retrained_predictions(*_bivariate(rng, 5000, 0.98), keys=np.arange(5000), gates=gate)[1]
    low = check_retrained_predictions(*_bivariate(rng, 5000, 0.7), keys=np.arange(5000), gates=gate)[1]
    near = check_retrained_predictions(*_bivariate(rng, 60, 0.91), keys=np.arange(60), gates=gate)[1]
    assert high.verdict is Verdict.EQUIVALENT and low.verdict is Verdict.NOT_EQUIVALENT
    assert near.verdict is Verdict.INCONCLUSIVE and "too small" in near.message
    const = check_retrained_predictions(np.ones(50), np.arange(50.0), keys=np.arange(50), gates=gate)[1]
    assert const.verdict is Verdict.NOT_EQUIVALENT and "legacy scores are constant" in const.message


def test_group_topk_overlaps_match_a_slow_loop_and_the_scores_check():
    rng = np.random.default_rng(7)
    n = 600
    groups = rng.integers(0, 40, n)
    legacy, new = rng.integers(0, 5, n).astype(float), rng.random(n)  # ties on the legacy side
    keys = rng.permutation(n) * 3
    gid, sizes, overlap = group_topk_overlaps(legacy, new, groups, k=4, keys=keys)
    for g, size, o in zip(gid, sizes, overlap):
        rows = np.flatnonzero(groups == g)
        top = [set(sorted(rows, key=lambda i: (-s[i], keys[i]))[:4]) for s in (legacy, new)]
        assert size == rows.size and o == len(top[0] & top[1]) / min(4, rows.size)
    summary = topk_overlap(legacy, new, groups, k=4, keys=keys)
    assert summary["mean_overlap"] == pytest.approx(overlap.mean()) and summary["min_overlap"] == overlap.min()


def _scrambled_groups(rng, n_groups, size, q):
    # each group's new ranking is either the legacy one or, with probability q, independent of it
    legacy = rng.random(n_groups * size)
    scrambled = np.repeat(rng.random(n_groups) < q, size)
    new = np.where(scrambled, rng.random(legacy.size), legacy)
    return legacy, new, np.repeat(np.arange(n_groups), size)


def test_topk_mean_interval_is_student_t_and_covers_the_truth():
    rng = np.random.default_rng(8)
    size, k, q, n_groups, sims = 10, 3, 0.4, 100, 400
    # a scrambled group's top-k is a uniform random k-subset: expected overlap k/size (hypergeometric)
    truth = (1 - q) + q * k / size
    gates = RetrainedPredictionGates(topk=TopKGate(k=k, min_mean=0.5, reason="r"))
    covered = 0
    for _ in range(sims):
        legacy, new, groups = _scrambled_groups(rng, n_groups, size, q)
        c = check_retrained_predictions(legacy, new, keys=np.arange(legacy.size), groups=groups, gates=gates)[1]
        lo, hi = c.details["ci"]
        covered += lo <= truth <= hi
    _, _, overlap = group_topk_overlaps(legacy, new, groups, k=k, keys=np.arange(legacy.size))
    ref = stats.ttest_1samp(overlap, 0.0).confidence_interval(0.90)
    assert c.details["ci"] == pytest.approx([ref.low, ref.high], rel=1e-12)
    assert c.id == "predictions/topk@3" and c.verdict is Verdict.EQUIVALENT  # truth 0.72 against 0.5
    assert abs(covered / sims - 0.90) <= _binomial_band(0.9, sims)


def test_topk_floor_fails_on_any_group_below_it_or_on_its_share():
    rng = np.random.default_rng(9)
    legacy, new, groups = _scrambled_groups(rng, 200, 10, 0.02)
    keys = np.arange(legacy.size)
    _, _, overlap = group_topk_overlaps(legacy, new, groups, k=3, keys=keys)
    below = int(np.sum(overlap < 0.5))
    assert below >= 1  # a scrambled group that lost its top
    strict = RetrainedPredictionGates(topk=TopKGate(k=3, min_mean=0.5, min_floor=0.5, reason="r"))
    c = check_retrained_predictions(legacy, new, keys=keys, groups=groups, gates=strict)[1]
    assert c.verdict is Verdict.NOT_EQUIVALENT and c.details["n_groups_below_floor"] == below
    assert c.details["worst_groups"][0]["overlap"] == overlap.min() and "worst query groups" in c.message
    share = RetrainedPredictionGates(topk=TopKGate(k=3, min_mean=0.5, min_floor=0.5, max_share_below_floor=0.10,
                                                   reason="r"))
    c = check_retrained_predictions(legacy, new, keys=keys, groups=groups, gates=share)[1]
    ref = stats.binomtest(below, 200).proportion_ci(confidence_level=1 - 2 * ALPHA, method="exact")
    assert c.details["share_below_floor_ci"] == pytest.approx([ref.low, ref.high], rel=1e-6)
    assert c.verdict is Verdict.EQUIVALENT


def test_non_finite_scores_fail_every_check():
    legacy, new = np.array([0.1, 0.2, 0.3]), np.array([0.1, np.nan, 0.3])
    checks = check_retrained_predictions(legacy, new, keys=np.arange(3), gates=_all_gates(topk=None))
    assert checks[0].gated and checks[0].verdict is Verdict.NOT_EQUIVALENT and "non_finite" in checks[0].details
    assert all(c.verdict is Verdict.NOT_EQUIVALENT and c.gated for c in checks[1:])
    assert all("non-finite" in c.summary for c in checks[1:])


def test_same_inputs_same_bytes_and_valid_report_rows():
    rng = np.random.default_rng(10)
    legacy, new = _retrained_pair(rng, 4000)
    run = [check_retrained_predictions(legacy, new, keys=np.arange(4000), groups=_groups(4000), gates=_all_gates(),
                                       seed=3) for _ in range(2)]
    docs = [json.dumps([c.to_dict() for c in checks], sort_keys=True) for checks in run]
    assert docs[0] == docs[1]
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/check", "$defs": SCHEMA["$defs"]})
    for row in json.loads(docs[0]):
        validator.validate(row)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: RankGate(min_spearman=0.9), "RankGate: reason must say why"),
        (lambda: RankGate(min_spearman=1.2, reason="r"), r"min_spearman must be a number in \(-1, 1\)"),
        (lambda: FlipGate(0.5, max_share=0.0, reason="r"), r"max_share must be a number in \(0, 1\)"),
        (lambda: FlipGate(float("nan"), max_share=0.1, reason="r"), "threshold must be a number"),
        (lambda: TopKGate(k=0, min_mean=0.5, reason="r"), "k must be an integer >= 1"),
        (lambda: TopKGate(k=3, min_mean=0.5, min_floor=0.0, reason="r"), r"min_floor must be a number in \(0, 1\]"),
        (lambda: DistributionGate(statistics=("ks", "chi2"), reason="r"), "statistics must be distinct names"),
        (lambda: DistributionGate(statistics=("ks",), thresholds={"psi": (0.1, 0.2)}, reason="r"),
         "thresholds given for 'psi'"),
        (lambda: DistributionGate(thresholds={"ks": (0.2, 0.1)}, reason="r"), r"thresholds\['ks'\] must be"),
        (lambda: RetrainedPredictionGates(), "declare at least one gate"),
        (lambda: RetrainedPredictionGates(decision_flips=[FlipGate(0.5, 0.1, reason="r")] * 2), "share a threshold"),
        (lambda: RetrainedPredictionGates(rank_correlation=0.9), "rank_correlation must be a RankGate"),
        (lambda: check_retrained_predictions([0.1, 0.2], [0.2, 0.1], keys=[1, 2], gates=_all_gates()),
         "a TopKGate needs query groups"),
        (lambda: check_retrained_predictions([0.1, 0.2], [0.2, 0.1], keys=[1, 2], groups=[1], gates=_all_gates()),
         "groups has shape"),
        (lambda: check_retrained_predictions([0.1], [0.2, 0.1], keys=[1, 2], gates=_all_gates(topk=None)),
         "need 1-D arrays of equal length"),
        (lambda: check_retrained_predictions([0.5] * 9, [0.1 * i for i in range(9)], keys=range(9),
                                             gates=_all_gates(topk=None)), "legacy scores"),
    ],
    ids=["no-reason", "spearman-range", "flip-zero", "flip-nan", "k", "floor", "statistic", "threshold-unlisted",
         "threshold-order", "no-gate", "duplicate-flip", "gate-type", "topk-groups", "groups-shape", "lengths",
         "constant-legacy"],
)
def test_bad_declarations_and_inputs_are_named(make, fragment):
    with pytest.raises(ParityInputError, match=fragment):
        make()


# ---------------------------------------------------------------------------------------------------
# "too good": a gain beyond a stated bound under non-inferiority is a review item
# ---------------------------------------------------------------------------------------------------

def _leak_pair(rng, n, leak):
    # legacy and new see the same signal with their own noise; `leak` adds the label itself to the new
    # side's logit, as a feature computed after the outcome would
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    legacy = 1 / (1 + np.exp(-(x + rng.normal(size=n))))
    new = 1 / (1 + np.exp(-(x + rng.normal(size=n) + leak * (y - 0.5))))
    return y, legacy, new


def _metric_checks(y, legacy, new, *gates):
    from harness.checks.metrics import check_metrics

    return check_metrics(y, legacy, new, gates=list(gates))


def test_a_label_leak_passes_non_inferiority_but_is_a_review_item():
    from harness.checks.review_items import TooGood, too_good_items
    from harness.suite import MetricGate

    y, legacy, new = _leak_pair(np.random.default_rng(20), 20_000, leak=0.25)
    metrics = _metric_checks(y, legacy, new, MetricGate("auc", 0.005, test="non_inferiority"))
    auc = metrics[0]
    assert auc.verdict is Verdict.EQUIVALENT and auc.details["diff"] > 0.02  # the gate alone says "fine"
    bound = 0.01
    (item,) = too_good_items(metrics, TooGood({"auc": bound}, reason="the migration aims for neutral accuracy"))
    assert item.id == "review/too_good/auc" and item.kind == "metric" and not item.gated
    assert item.verdict is Verdict.NOT_EQUIVALENT and auc.details["ci"][0] > bound
    review = item.details["review"]
    assert review["improvement"] == auc.details["diff"] and review["improvement_ci"] == auc.details["ci"]
    assert f"{auc.details['diff']:+.4g}" in item.summary and "auc" in item.summary and "label leak" in item.message
    # reported, not gated: the suite still passes; declared gated, it fails
    assert SuiteResult("s", "", {}, 0, [auc, item]).verdict is Verdict.EQUIVALENT
    (gated,) = too_good_items(metrics, TooGood({"auc": bound}, gated=True, reason="r"))
    assert SuiteResult("s", "", {}, 0, [auc, gated]).verdict is Verdict.NOT_EQUIVALENT
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/check", "$defs": SCHEMA["$defs"]})
    validator.validate(json.loads(json.dumps(item.to_dict())))


@pytest.mark.slow
def test_too_good_false_alarms_stay_at_alpha_when_the_gain_equals_the_bound():
    # known truth: MAE of N(0, s) errors is s * sqrt(2/pi); lower is better, so the true gain of the new
    # side is (s_legacy - s_new) * sqrt(2/pi), set exactly to the bound
    from harness.checks.review_items import TooGood, too_good_items
    from harness.suite import MetricGate

    rng = np.random.default_rng(21)
    n, sims, s_legacy, s_new = 2000, 400, 1.0, 0.9
    bound = (s_legacy - s_new) * math.sqrt(2 / math.pi)
    tg = TooGood({"mae": bound}, reason="r")
    flagged = clear = 0
    for _ in range(sims):
        y = rng.normal(size=n)
        for gain_scale, counter in ((1.0, "at_bound"), (0.0, "none")):
            new_sd = s_legacy - gain_scale * (s_legacy - s_new)
            metrics = _metric_checks(y, y + rng.normal(0, s_legacy, n), y + rng.normal(0, new_sd, n),
                                     MetricGate("mae", 0.05, test="non_inferiority"))
            verdict = too_good_items(metrics, tg)[0].verdict
            if counter == "at_bound":
                flagged += verdict is Verdict.NOT_EQUIVALENT
            else:
                clear += verdict is Verdict.EQUIVALENT
    # the point estimate would flag about half of these; the interval's lower bound about alpha
    assert flagged / sims <= ALPHA + _binomial_band(ALPHA, sims)
    assert clear / sims >= 0.95  # no true gain: shown within the bound


def test_too_good_is_inconclusive_when_the_interval_straddles_and_reads_relative_bounds():
    from harness.checks.review_items import TooGood, too_good_items
    from harness.suite import MetricGate

    y, legacy, new = _leak_pair(np.random.default_rng(22), 600, leak=0.25)
    metrics = _metric_checks(y, legacy, new, MetricGate("auc", 0.05, test="non_inferiority"),
                             MetricGate("logloss", 0.05, test="non_inferiority"))
    auc = metrics[0].details
    item = too_good_items(metrics, TooGood({"auc": auc["diff"]}, reason="r"))[0]  # the bound at the estimate
    assert item.verdict is Verdict.INCONCLUSIVE and "straddles" in item.message
    rel = too_good_items(metrics, TooGood({"logloss": 0.5}, kind="relative", reason="r"))[0]
    ll = metrics[1].details
    assert rel.details["review"]["bound_absolute"] == pytest.approx(0.5 * ll["legacy"])
    assert rel.details["review"]["improvement"] == -ll["diff"]  # lower is better: the gain is legacy - new
    assert rel.verdict is Verdict.EQUIVALENT


@pytest.mark.parametrize(
    "bounds, gates, fragment",
    [
        ({"auc": 0.01}, [("auc", "equivalence")], "gated by equivalence"),
        ({"mrr": 0.01}, [("auc", "non_inferiority")], "no check metrics/mrr"),
        ({"calibration_ratio": 0.1}, [("auc", "non_inferiority")], "has an ideal value"),
        ({"auc": 0.0}, [("auc", "non_inferiority")], "must be a finite number > 0"),
        ({"nope": 0.1}, [("auc", "non_inferiority")], "unknown metric"),
        ({}, [("auc", "non_inferiority")], "bounds must map metric names"),
    ],
    ids=["equivalence-metric", "not-gated", "nominal", "zero-bound", "unknown", "empty"],
)
def test_too_good_bad_declarations_are_named(bounds, gates, fragment):
    from harness.checks.review_items import TooGood, too_good_items
    from harness.suite import MetricGate

    y, legacy, new = _leak_pair(np.random.default_rng(23), 500, leak=0.0)
    with pytest.raises(ParityInputError, match=fragment):
        metrics = _metric_checks(y, legacy, new, *[MetricGate(m, 0.01, test=t) for m, t in gates])
        too_good_items(metrics, TooGood(bounds, reason="r"))
    with pytest.raises(ParityInputError, match="reason must say why"):
        TooGood({"auc": 0.01})


def test_too_good_declaration_is_checked_against_the_suite_gates():
    from harness.checks.review_items import TooGood
    from harness.suite import MetricGate

    tg = TooGood({"AUC": 0.01, "logloss": 0.02}, reason="r")
    assert tg.check_ids() == ["review/too_good/auc", "review/too_good/logloss"]
    tg.check_declared([MetricGate("auc", 0.01, test="non_inferiority"),
                       MetricGate("logloss", 0.01, test="non_inferiority")])
    with pytest.raises(ParityInputError, match="'logloss', which has no MetricGate"):
        tg.check_declared([MetricGate("auc", 0.01, test="non_inferiority")])
    with pytest.raises(ParityInputError, match="whose MetricGate uses equivalence"):
        tg.check_declared([MetricGate("auc", 0.01), MetricGate("logloss", 0.01, test="non_inferiority")])


@pytest.mark.slow
def test_flip_interval_holds_its_level_when_rows_of_a_query_flip_together():
    # known truth: each query's flip probability is drawn from Beta(0.5, 9.5) (mean 0.05, strongly
    # clustered); rows then flip independently with their query's probability. The plain row-level
    # interval ignores the clustering and under-covers; the effective-sample-size one must not.
    rng = np.random.default_rng(11)
    n_groups, size, sims, truth = 200, 10, 300, 0.05
    groups = np.repeat(np.arange(n_groups), size)
    gates = RetrainedPredictionGates(decision_flips=FlipGate(threshold=0.5, max_share=0.10, reason="r"))
    covered = {"groups": 0, "rows": 0}
    for _ in range(sims):
        p_group = np.repeat(rng.beta(0.5, 9.5, n_groups), size)
        legacy = rng.random(groups.size)
        new = np.where(rng.random(groups.size) < p_group, 1.0 - legacy, legacy)
        for how, g in (("groups", groups), ("rows", None)):
            c = check_retrained_predictions(legacy, new, keys=np.arange(groups.size), groups=g, gates=gates)[1]
            lo, hi = c.details["ci"]
            covered[how] += lo <= truth <= hi
    assert c.details["design_effect"] is None  # the last call: no groups
    assert covered["groups"] / sims >= 0.90 - _binomial_band(0.9, sims)
    assert covered["rows"] / sims < 0.80  # why the groups matter
