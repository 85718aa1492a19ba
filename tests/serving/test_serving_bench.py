"""The serve-bench plan: sides interleaved ABBA per round, every run bounded, gates fed per round."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError
from harness.serving.bench import BenchConfig, SideBench, run_bench
from harness.serving.cost import ProcessMeter
from harness.serving.gates import ServingGate

pytest.importorskip("hdrh")


def _sides(log):
    def side(label):
        def make_target(batch_size):
            def target(i):
                log.append((label, batch_size))
                return batch_size
            return target
        return SideBench(kind="in_process", describe=label, make_target=make_target, meter=ProcessMeter())
    return {"legacy": side("legacy"), "new": side("new")}


def test_rounds_interleave_abba_and_feed_the_gates():
    log = []
    cfg = BenchConfig(batch_sizes=(1, 8), duration_s=0.02, max_requests=5, warmup_requests=2, repeats=4, qps=500)
    doc, checks = run_bench(_sides(log), cfg, gates=[ServingGate("p50", 8, 2.0, reason="r")])
    order = [k for k, _ in itertools.groupby(log)]
    L, N = "legacy", "new"
    expected = [(L, 1), (N, 1), (L, 8), (N, 8), (N, 1), (L, 1), (N, 8), (L, 8)] * 2
    assert order == expected
    # Per side, batch and round: warm-up 2 + closed 5 + open 5 (0.02 s at 500/s is 10, capped by max_requests).
    assert len(log) == 4 * 2 * 2 * (2 + 5 + 5)
    rounds = doc["batch_sizes"]["8"]["legacy"]["rounds"]
    assert len(rounds) == 4 and all(r["closed"]["n_predictions"] == 40 for r in rounds)
    assert checks[0].details["n_rounds"] == 4 and len(checks[0].details["legacy"]) == 4


def test_without_the_open_loop_only_warm_up_and_closed_loops_run():
    log = []
    cfg = BenchConfig(batch_sizes=(1,), duration_s=0.02, max_requests=5, warmup_requests=1, repeats=3, qps=500,
                      open_loop=False)
    doc, _ = run_bench(_sides(log), cfg)
    assert len(log) == 3 * 2 * (1 + 5)  # rounds x sides x (warm-up + closed), no open loop even with --qps
    assert doc["open_loop_qps"] == {"1": None} and doc["config"]["open_loop"] is False
    assert all("open" not in r for r in doc["batch_sizes"]["1"]["legacy"]["rounds"])
    assert doc["batch_sizes"]["1"]["new"]["cdf_open_ms"] == []


def test_derived_open_loop_rate_is_half_the_slower_side_s():
    log = []
    cfg = BenchConfig(batch_sizes=(1,), duration_s=0.05, max_requests=50, warmup_requests=0, repeats=1)
    doc, _ = run_bench(_sides(log), cfg)
    closed = [doc["batch_sizes"]["1"][s]["rounds"][0]["closed"]["requests_per_s"] for s in ("legacy", "new")]
    assert doc["open_loop_qps"]["1"] == pytest.approx(0.5 * min(closed))


def test_a_remote_endpoint_has_no_process_figures():
    sides = _sides([])
    sides["new"].meter = None
    doc, _ = run_bench(sides, BenchConfig(batch_sizes=(1,), duration_s=0.02, max_requests=5, repeats=1, qps=100))
    assert np.isnan(doc["batch_sizes"]["1"]["new"]["median"]["cpu_per_1k"])


@pytest.mark.parametrize("kwargs,match", [({"batch_sizes": ()}, "batch sizes"), ({"repeats": 0}, "repeats"),
                                          ({"duration_s": 0}, "duration_s"), ({"qps": -1.0}, "qps"),
                                          ({"warmup_requests": -1}, "warmup_requests")])
def test_bad_config(kwargs, match):
    with pytest.raises(ParityInputError, match=match):
        BenchConfig(**kwargs)


def test_both_sides_are_needed():
    with pytest.raises(ParityInputError, match="need both sides"):
        run_bench({"legacy": _sides([])["legacy"]}, BenchConfig())
