"""Ratio gates: verdicts on seeded synthetic rounds with known true ratios, the interval's coverage by
simulation, and robustness to round-to-round machine noise that hits both sides."""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.serving.gates import CostGate, ServingGate, judge, min_rounds, ratio_interval
from harness.verdicts import Verdict

GATE = ServingGate("p99", batch_size=1, max_ratio=1.5, reason="test margin")


def _rounds(seed: int, n: int, true_ratio: float, *, box_sigma: float = 0.3, own_sigma: float = 0.05):
    """Legacy and new per round: a shared factor for the machine in that round, a small one per side."""
    rng = np.random.default_rng(seed)
    box = rng.lognormal(0, box_sigma, n)
    legacy = 2.0 * box * rng.lognormal(0, own_sigma, n)
    new = 2.0 * true_ratio * box * rng.lognormal(0, own_sigma, n)
    return legacy, new


@pytest.mark.parametrize("true_ratio,expected", [(1.0, Verdict.EQUIVALENT), (1.2, Verdict.EQUIVALENT),
                                                 (2.0, Verdict.NOT_EQUIVALENT), (1.5, Verdict.INCONCLUSIVE)])
def test_verdicts_for_known_ratios(true_ratio, expected):
    legacy, new = _rounds(0, 9, true_ratio)
    check = judge(GATE, legacy, new)
    assert check.verdict is expected, check.summary
    assert check.id == "serving/p99@1" and check.kind == "serving"
    assert check.details["lo"] <= check.details["ratio"] <= check.details["hi"]


def test_interval_is_the_order_statistic_interval_of_the_median():
    # Slow, obvious reference: the (1-2a) interval of a median from n ratios is [r_(k), r_(n+1-k)] with
    # k the largest rank whose binomial tail P(Bin(n, 1/2) < k) stays <= alpha.
    from scipy.stats import binom

    legacy, new = _rounds(1, 15, 1.1)
    ratios = np.sort(new / legacy)
    k = max(k for k in range(1, 8) if binom.cdf(k - 1, 15, 0.5) <= 0.05)
    got = ratio_interval(legacy, new, alpha=0.05)
    assert got["lo"] == pytest.approx(ratios[k - 1]) and got["hi"] == pytest.approx(ratios[15 - k])
    assert got["ratio"] == pytest.approx(np.median(ratios))


@pytest.mark.slow
def test_false_equivalence_rate_at_the_margin_is_at_most_alpha():
    # True ratio exactly at max_ratio: an EQUIVALENT verdict is a false pass; the one-sided error of a
    # (1-2a) interval is <= a = 0.05 (the order-statistic interval is conservative). 600 seeded runs:
    # a rate above 0.05 + 3 standard errors would be a real excess.
    n_sim = 600
    passes = sum(judge(GATE, *_rounds(seed, 9, 1.5)).verdict is Verdict.EQUIVALENT for seed in range(n_sim))
    assert passes / n_sim <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_sim)


def test_a_noisy_machine_does_not_flip_the_verdict():
    # The box's speed varies 2x from round to round (sigma 0.7 on the log scale), each side's own noise
    # is 5 %: the paired per-round ratio cancels the box, so 200 seeded runs at a true ratio of 1.0 are
    # all EQUIVALENT under a 1.5x margin.
    verdicts = {judge(GATE, *_rounds(seed, 7, 1.0, box_sigma=0.7)).verdict for seed in range(200)}
    assert verdicts == {Verdict.EQUIVALENT}


def test_too_few_rounds_is_inconclusive_and_says_how_many():
    assert min_rounds(0.05) == 5  # 2 * 0.5**5 = 0.0625 <= 0.1
    check = judge(GATE, [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    assert check.verdict is Verdict.INCONCLUSIVE
    assert "needs 5" in check.message


def test_failed_rounds_are_not_used():
    legacy, new = _rounds(2, 8, 1.0)
    legacy[0] = np.nan
    got = ratio_interval(legacy, new)
    assert got["n_rounds"] == 8 and got["n_used"] == 7


def test_artifact_size_is_an_exact_ratio():
    gate = CostGate("artifact_size", max_ratio=2.0, reason="disk")
    assert judge(gate, [100], [150]).verdict is Verdict.EQUIVALENT
    assert judge(gate, [100], [250]).verdict is Verdict.NOT_EQUIVALENT
    assert gate.id == "cost/artifact_size"


def test_cost_gate_ids():
    assert CostGate("cpu_per_1k", 1.2, reason="r").id == "cost/cpu_per_1k@1024"
    assert CostGate("peak_rss", 2.0, reason="r").id == "cost/peak_rss"
    check = judge(CostGate("peak_rss", 2.0, reason="r"), *_rounds(3, 5, 1.0))
    assert check.kind == "cost" and check.verdict is Verdict.EQUIVALENT


@pytest.mark.parametrize("make,match", [
    (lambda: ServingGate("p42", reason="r"), "metric must be one of"),
    (lambda: ServingGate("p99", batch_size=0, reason="r"), "batch_size"),
    (lambda: ServingGate("p99", max_ratio=0, reason="r"), "max_ratio"),
    (lambda: ServingGate("p99", max_ratio=float("inf"), reason="r"), "max_ratio"),
    (lambda: ServingGate("p99"), "reason"),
    (lambda: CostGate("watts", reason="r"), "metric must be one of"),
], ids=["metric", "batch", "ratio-0", "ratio-inf", "no-reason", "cost-metric"])
def test_bad_declarations(make, match):
    with pytest.raises(ParityInputError, match=match):
        make()


def test_unmeasured_figures_are_missing_rounds_not_errors():
    check = judge(CostGate("peak_rss", 2.0, reason="r"), [None] * 5, [1.0] * 5)
    assert check.verdict is Verdict.INCONCLUSIVE and check.details["n_used"] == 0
    assert judge(CostGate("artifact_size", 2.0, reason="r"), [None], [10]).verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize("metric", ["p50", "p90", "p99", "p99.9"])
def test_a_round_too_short_to_resolve_its_quantile_is_named_as_its_maximum(metric):
    # Known truth from the histogram the rounds are summarized by: n latencies from 1 ms, each 0.5 %
    # above the last (five times the histogram's precision, so no two share a bucket). A note
    # exactly when fewer than 1 / (1 - q) requests; what it says holds: the quantile is one of the two
    # largest latencies (at most one request beyond it), and the largest below half as many requests.
    import math

    from harness.serving.gates import resolution_note
    from harness.serving.latency import LatencyHistogram

    q = float(metric[1:])
    needed = {"p50": 2, "p90": 10, "p99": 100, "p99.9": 1000}[metric]
    for n in (1, 2, 3, 5, 6, 9, 10, 11, 20, 50, 51, 99, 100, 101, 250, 500, 501, 999, 1000, 1001):
        h = LatencyHistogram()
        values = [1e-3 * 1.005 ** i for i in range(n)]
        h.record_many(values)
        at, tol = h.percentile(q), 2 * h.relative_precision
        beyond = sum(v > at * (1 + tol) for v in values)  # requests beyond the quantile
        note = resolution_note(metric, {"legacy": float(n), "new": 10_000.0})
        assert (note is not None) == (n < needed), (metric, n)
        if note is not None:
            assert f"fewer than the {needed} a {metric} needs" in note
            assert beyond <= 1, (metric, n, at, beyond)  # one of the two largest
            assert (beyond == 0) == math.isclose(at, h.max, rel_tol=tol) == (n < needed // 2 + 1), (metric, n, at)
        else:
            assert beyond >= 1, (metric, n, at, beyond)
    assert resolution_note("max", {"legacy": 1.0, "new": 1.0}) is None
    assert resolution_note(metric, None) is None


def test_a_gate_on_unresolved_quantiles_says_so_in_its_summary_message_and_details():
    from harness.serving.gates import judge

    gate = ServingGate("p99", batch_size=1, max_ratio=1.5, reason="tail")
    slow = judge(gate, [10.0] * 15, [20.0] * 15, requests={"legacy": 21.0, "new": 12.0})
    assert slow.verdict is Verdict.NOT_EQUIVALENT
    assert slow.details["requests_per_round"] == {"legacy": 21.0, "new": 12.0}
    assert "median of 21 legacy / 12 new requests, fewer than the 100 a p99 needs" in slow.details["resolution"]
    assert "(p99 of too few requests per round: a near-maximum)" in slow.summary
    assert "note: each round's p99 rests on" in slow.message and "--duration" in slow.message
    fine = judge(gate, [10.0] * 15, [20.0] * 15, requests={"legacy": 400.0, "new": 150.0})
    assert "resolution" not in fine.details and "near-maximum" not in fine.summary and "note:" not in fine.message
    passing = judge(gate, [10.0] * 15, [10.5] * 15, requests={"legacy": 21.0, "new": 12.0})
    assert passing.verdict is Verdict.EQUIVALENT and passing.message == "" and "near-maximum" in passing.summary
