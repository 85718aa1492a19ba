"""Load generators: coordinated omission is corrected in the open loop, every run is bounded, and every
request is counted as ok, error or timeout."""
from __future__ import annotations

import threading
import time

import pytest

from harness.serving.load import closed_loop, open_loop

pytest.importorskip("hdrh")

STALL_S = 0.2


def _stall_once(at: int):
    def target(i: int) -> int:
        if i == at:
            time.sleep(STALL_S)
        return 1
    return target


def test_open_loop_charges_a_stall_to_every_request_it_delayed():
    # One connection at 500 requests/s for 2 s; request 100 stalls 200 ms, so the ~100 requests
    # scheduled during the stall wait for it. The naive service time sees one slow request in 1000
    # (below its p99); the latency from the scheduled send time sees the whole queue.
    result = open_loop(_stall_once(100), rate=500, concurrency=1, duration_s=2.0)
    assert result.n_ok == result.n_requests == 1000
    corrected, naive = result.latency.percentile(99), result.service.percentile(99)
    assert corrected >= STALL_S / 2
    assert naive < corrected / 4
    assert result.service.max >= STALL_S  # the stall itself is in both
    assert result.n_late > 10


def test_closed_loop_sees_the_stall_once():
    result = closed_loop(_stall_once(5), concurrency=1, duration_s=60.0, max_requests=1000)
    assert result.n_requests == result.n_ok == 1000  # bounded by the request count, not the duration
    assert result.latency.max >= STALL_S
    assert result.latency.percentile(99) < STALL_S / 4


def test_closed_loop_stops_at_its_duration():
    result = closed_loop(lambda i: 1, concurrency=2, duration_s=0.2, max_requests=10**12)
    assert 0 < result.n_requests < 10**12
    assert result.n_errors == result.n_timeouts == 0


def test_open_loop_sends_exactly_the_scheduled_requests():
    result = open_loop(lambda i: 3, rate=200, concurrency=2, duration_s=0.5)
    assert result.n_requests == result.n_ok == 100
    assert result.n_predictions == 300
    capped = open_loop(lambda i: 1, rate=1000, duration_s=10.0, max_requests=20)
    assert capped.n_requests == 20


@pytest.mark.parametrize("loop", ["closed", "open"])
def test_a_hung_target_ends_the_run_as_timeouts(loop):
    release = threading.Event()

    def hang(i: int) -> int:
        release.wait(30)
        return 1

    try:
        if loop == "closed":
            result = closed_loop(hang, concurrency=2, duration_s=0.1, timeout_s=0.2)
            assert result.n_timeouts == 2
        else:
            result = open_loop(hang, rate=50, concurrency=1, duration_s=0.2, timeout_s=0.2)
            assert result.n_timeouts == result.n_requests == 10  # 1 stuck, 9 never sent
        assert result.n_ok == 0
        assert result.errors and "counted as timeouts" in " ".join(result.errors)
    finally:
        release.set()


def test_errors_and_timeouts_are_counted_and_kept_verbatim():
    def flaky(i: int) -> int:
        if i % 3 == 0:
            raise ValueError(f"bad row in request {i}")
        if i % 3 == 1:
            raise TimeoutError("no answer")
        return 1

    result = closed_loop(flaky, duration_s=30.0, max_requests=30)
    assert (result.n_ok, result.n_errors, result.n_timeouts) == (10, 10, 10)
    assert result.latency.count == 10  # failed requests are not latencies
    assert any("ValueError: bad row in request 0" in e for e in result.errors)


def test_a_target_that_returns_no_count_is_an_error():
    result = closed_loop(lambda i: None, duration_s=30.0, max_requests=3)
    assert result.n_errors == 3 and "expected a count" in result.errors[0]


def test_in_process_call_slower_than_the_timeout_is_a_timeout():
    result = closed_loop(lambda i: time.sleep(0.05) or 1, duration_s=30.0, max_requests=2, timeout_s=0.01)
    assert result.n_timeouts == 2 and result.n_ok == 0


@pytest.mark.parametrize("kwargs,match", [
    ({"duration_s": 0}, "duration_s"), ({"duration_s": float("inf")}, "duration_s"),
    ({"max_requests": 0}, "max_requests"), ({"concurrency": 0}, "concurrency"),
    ({"timeout_s": -1}, "timeout_s"), ({"rate": 0}, "rate"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        open_loop(lambda i: 1, **{"rate": 10, **kwargs})


def test_result_to_dict_is_json_ready():
    import json

    result = open_loop(lambda i: 1, rate=100, duration_s=0.1)
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["mode"] == "open" and doc["n_requests"] == 10
    assert set(doc["latency_ms"]) == {"count", "p50", "p90", "p99", "p99.9", "max", "mean"}
