"""LatencyHistogram: percentiles of the recorded values to the histogram's stated precision (reference:
numpy's inverted-CDF percentile of the same values), and nothing recorded silently out of range."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.serving.latency import LatencyHistogram

pytest.importorskip("hdrh")


def _values(seed: int, n: int) -> np.ndarray:
    # Latencies from 10 us to seconds: lognormal around 2 ms with a heavy tail.
    return np.random.default_rng(seed).lognormal(mean=math.log(2e-3), sigma=1.2, size=n)


@pytest.mark.parametrize("seed,n", [(0, 1000), (1, 20_000), (2, 7)])
@pytest.mark.parametrize("p", [50.0, 90.0, 99.0, 99.9])
def test_percentiles_match_numpy_within_precision(seed, n, p):
    seconds = _values(seed, n)
    h = LatencyHistogram()
    h.record_many(seconds)
    us = np.sort(np.round(seconds * 1e6))
    got = h.percentile(p) * 1e6
    # The histogram may round the target rank to the nearest rather than up: a neighbour's value is
    # as right as numpy's; it reports the top of the value's bucket (<= relative precision above it).
    rank = int(np.searchsorted(us, np.percentile(us, p, method="inverted_cdf"), side="left"))
    candidates = us[max(0, rank - 1):rank + 2]
    ok = [(ref <= got + 1) and (got <= ref * (1 + h.relative_precision) + 1) for ref in candidates]
    assert any(ok), (p, got, candidates)


def test_max_count_and_mean():
    seconds = _values(3, 5000)
    h = LatencyHistogram()
    h.record_many(seconds)
    assert h.count == seconds.size
    assert h.max == pytest.approx(seconds.max(), rel=h.relative_precision, abs=1e-6)
    assert h.mean == pytest.approx(seconds.mean(), rel=2 * h.relative_precision)
    summary = h.summary_ms()
    assert list(summary) == ["count", "p50", "p90", "p99", "p99.9", "max", "mean"]
    assert summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["p99.9"] <= summary["max"]


def test_merge_equals_recording_everything_in_one():
    a, b = _values(4, 3000), _values(5, 1000) * 10
    one, h1, h2 = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    one.record_many(np.concatenate([a, b]))
    h1.record_many(a)
    h2.record_many(b)
    h1.merge(h2)
    assert h1.count == one.count
    for p in (50, 90, 99, 99.9, 100):
        assert h1.percentile(p) == one.percentile(p)


def test_cdf_is_monotone_and_ends_at_one():
    h = LatencyHistogram()
    h.record_many(_values(6, 10_000))
    cdf = h.cdf_ms()
    xs, qs = [c[0] for c in cdf], [c[1] for c in cdf]
    assert xs == sorted(xs) and qs == sorted(qs)
    assert qs[-1] == 1.0
    assert len(cdf) < 500  # aggregated: does not grow with the request count


def test_encoding_is_the_standard_one():
    from hdrh.histogram import HdrHistogram

    h = LatencyHistogram()
    h.record_many(_values(7, 2000))
    decoded = HdrHistogram.decode(h.encode())
    assert decoded.get_total_count() == h.count
    assert decoded.get_value_at_percentile(99) / 1e6 == h.percentile(99)


def test_empty_histogram_has_no_percentiles():
    h = LatencyHistogram()
    assert math.isnan(h.percentile(50)) and math.isnan(h.max)
    assert h.cdf_ms() == []


@pytest.mark.parametrize("value", [-1e-3, float("nan"), float("inf"), 7200.0, "1"],
                         ids=["negative", "nan", "inf", "above-an-hour", "string"])
def test_a_value_it_cannot_hold_is_an_error_not_dropped(value):
    h = LatencyHistogram()
    with pytest.raises(ValueError, match="latency"):
        h.record(value)
    assert h.count == 0


@pytest.mark.parametrize("kwargs,match", [({"significant_figures": 0}, "significant_figures"),
                                          ({"significant_figures": True}, "significant_figures"),
                                          ({"highest_s": 0}, "highest_s")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LatencyHistogram(**kwargs)


def test_bad_percentile():
    with pytest.raises(ValueError, match="percentile"):
        LatencyHistogram().percentile(101)


def test_summary_agrees_with_single_percentile_queries():
    h = LatencyHistogram()
    h.record_many(_values(8, 3000))
    summary = h.summary_ms()
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        assert summary[name] == pytest.approx(h.percentile(p) * 1e3, rel=1e-12)
