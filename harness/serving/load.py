"""Load generators: a closed loop (N clients back to back) and an open loop (requests at a fixed rate).

A *target* is a callable ``target(i) -> n_predictions`` that sends request number ``i`` and returns how
many predictions came back; it raises on an error and raises `TimeoutError` (or `socket.timeout`) for a
timeout. Both loops are bounded by a duration and a request count, whichever comes first, so a run
always ends by itself.

Coordinated omission: a closed loop, or an open loop that times each request from when it was actually
sent, measures only the requests the system let it send: while the server stalls, the requests that
would have arrived meanwhile are never issued, and the stall shows up once instead of in every request
it delayed. The open loop here schedules request ``i`` at ``t0 + i / rate`` and measures its latency from
that *scheduled* time (as wrk2 does), so a stall is charged to every request scheduled during it. It
also keeps the naive service time (from the actual send), so the two can be compared.
"""
from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.serving.latency import LatencyHistogram

__all__ = ["LoadResult", "closed_loop", "open_loop"]

Target = Callable[[int], int]


@dataclass
class LoadResult:
    mode: str  # "closed" | "open"
    concurrency: int
    rate: float | None  # requests/s scheduled (open loop)
    duration_s: float  # wall time from the first send to the last answer
    n_requests: int  # requests sent (answered, failed or timed out)
    n_ok: int
    n_errors: int
    n_timeouts: int
    n_predictions: int
    latency: LatencyHistogram  # ok requests; open loop: from the scheduled send time
    service: LatencyHistogram  # ok requests, from the actual send (what a naive client measures)
    n_late: int = 0  # open loop: requests sent more than 1 ms after their scheduled time
    errors: list[str] = field(default_factory=list)  # the first few error messages, verbatim

    @property
    def requests_per_s(self) -> float:
        return self.n_ok / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def predictions_per_s(self) -> float:
        return self.n_predictions / self.duration_s if self.duration_s > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "concurrency": self.concurrency, "rate": self.rate,
            "duration_s": self.duration_s, "n_requests": self.n_requests, "n_ok": self.n_ok,
            "n_errors": self.n_errors, "n_timeouts": self.n_timeouts, "n_late": self.n_late,
            "n_predictions": self.n_predictions, "requests_per_s": self.requests_per_s,
            "predictions_per_s": self.predictions_per_s, "latency_ms": self.latency.summary_ms(),
            "service_ms": self.service.summary_ms(), "errors": list(self.errors),
        }


_MAX_ERRORS_KEPT = 5


def _check_bounds(duration_s: float, max_requests: int, concurrency: int, timeout_s: float) -> None:
    if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number of seconds > 0, got {duration_s!r}")
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        raise ValueError(f"max_requests must be an int >= 1, got {max_requests!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")


class _Run:
    """Shared state of one run: the next request number and the outcomes, under one lock."""

    def __init__(self, max_requests: int) -> None:
        self.lock = threading.Lock()
        self.next = 0
        self.max_requests = max_requests
        self.latencies: list[float] = []
        self.services: list[float] = []
        self.n_ok = self.n_errors = self.n_timeouts = self.n_predictions = self.n_late = 0
        self.errors: list[str] = []
        self.in_flight = 0
        self.first_send = math.inf
        self.last_done = -math.inf
        self.stopped = False

    def take(self) -> int | None:
        with self.lock:
            if self.stopped or self.next >= self.max_requests:
                return None
            i = self.next
            self.next += 1
            self.in_flight += 1
            return i

    def call(self, target: Target, i: int, scheduled: float | None, timeout_s: float) -> None:
        sent = time.perf_counter()
        try:
            n = target(i)
            outcome, message = "ok", ""
        except (TimeoutError, socket.timeout) as exc:
            outcome, message, n = "timeout", f"request {i}: timeout: {exc}", 0
        except Exception as exc:  # noqa: BLE001 - every failure is counted and its text kept
            outcome, message, n = "error", f"request {i}: {type(exc).__name__}: {exc}", 0
        done = time.perf_counter()
        if outcome == "ok" and done - sent > timeout_s:  # an in-process call cannot be interrupted
            outcome, message = "timeout", f"request {i}: took {done - sent:.3f} s > timeout {timeout_s:g} s"
        with self.lock:
            self.in_flight -= 1
            self.first_send = min(self.first_send, sent if scheduled is None else min(sent, scheduled))
            self.last_done = max(self.last_done, done)
            if scheduled is not None and sent - scheduled > 1e-3:
                self.n_late += 1
            if outcome == "ok":
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    self.n_errors += 1
                    self._keep(f"request {i}: the target returned {n!r}, expected a count of predictions")
                    return
                self.n_ok += 1
                self.n_predictions += n
                self.services.append(done - sent)
                self.latencies.append(done - (sent if scheduled is None else scheduled))
            elif outcome == "timeout":
                self.n_timeouts += 1
                self._keep(message)
            else:
                self.n_errors += 1
                self._keep(message)

    def give_up(self, i: int, late_s: float) -> None:
        """An open-loop request already later than the timeout when a connection gets to it: a real client
        would have given up on it, so it is a timeout and is not sent."""
        with self.lock:
            self.in_flight -= 1
            self.n_timeouts += 1
            self._keep(f"request {i}: not sent, already {late_s:.3f} s behind its scheduled time")

    def stop(self) -> int:
        """No request is started after this; returns how many are still running."""
        with self.lock:
            self.stopped = True
            return self.in_flight

    def _keep(self, message: str) -> None:
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(message)

    def result(self, mode: str, concurrency: int, rate: float | None, stuck: int, unsent: int = 0) -> LoadResult:
        with self.lock:
            latency, service = LatencyHistogram(), LatencyHistogram()
            latency.record_many(self.latencies)
            service.record_many(self.services)
            duration = self.last_done - self.first_send if self.last_done > self.first_send else 0.0
            if stuck:
                self._keep(f"{stuck} request(s) still running when the run ended; counted as timeouts")
            if unsent:
                self._keep(f"{unsent} scheduled request(s) never sent before the run's bound; counted as timeouts")
            stuck += unsent
            return LoadResult(mode=mode, concurrency=concurrency, rate=rate, duration_s=duration,
                              n_requests=self.n_ok + self.n_errors + self.n_timeouts + stuck, n_ok=self.n_ok,
                              n_errors=self.n_errors, n_timeouts=self.n_timeouts + stuck,
                              n_predictions=self.n_predictions, latency=latency, service=service,
                              n_late=self.n_late, errors=list(self.errors))


def _join(threads: list[threading.Thread], deadline: float) -> None:
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))


def closed_loop(target: Target, *, concurrency: int = 1, duration_s: float = 1.0, max_requests: int = 100_000,
                timeout_s: float = 10.0) -> LoadResult:
    """``concurrency`` clients, each sending its next request as soon as the previous one answered.

    The throughput at saturation is this loop's ``predictions_per_s`` with enough clients. A request
    still running ``timeout_s`` after the duration ends is counted as a timeout and left behind (its
    thread is a daemon), so the call returns within about ``duration_s + timeout_s``.
    """
    _check_bounds(duration_s, max_requests, concurrency, timeout_s)
    run = _Run(max_requests)
    end = time.perf_counter() + duration_s

    def client() -> None:
        while time.perf_counter() < end:
            i = run.take()
            if i is None:
                return
            run.call(target, i, None, timeout_s)

    threads = [threading.Thread(target=client, daemon=True, name=f"closed-loop-{k}") for k in range(concurrency)]
    for t in threads:
        t.start()
    _join(threads, end + timeout_s)
    return run.result("closed", concurrency, None, stuck=run.stop())


def open_loop(target: Target, *, rate: float, concurrency: int = 1, duration_s: float = 1.0,
              max_requests: int = 100_000, timeout_s: float = 10.0) -> LoadResult:
    """Requests scheduled at ``rate`` per second (request ``i`` at ``t0 + i / rate``), sent by up to
    ``concurrency`` connections; latency is measured from the scheduled time (see the module docstring).

    Requests are scheduled for ``duration_s`` (at most ``max_requests``); a request whose time comes
    while every connection is busy is sent late and its wait counts in its latency (``n_late``).
    """
    _check_bounds(duration_s, max_requests, concurrency, timeout_s)
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a finite number of requests per second > 0, got {rate!r}")
    n_scheduled = min(max_requests, max(1, int(math.floor(duration_s * rate))))
    run = _Run(n_scheduled)
    t0 = time.perf_counter() + 0.01  # the threads start before the first scheduled time

    def connection() -> None:
        while True:
            i = run.take()
            if i is None:
                return
            scheduled = t0 + i / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif -wait > timeout_s:
                run.give_up(i, -wait)
                continue
            run.call(target, i, scheduled, timeout_s)

    threads = [threading.Thread(target=connection, daemon=True, name=f"open-loop-{k}") for k in range(concurrency)]
    for t in threads:
        t.start()
    # Past the last scheduled time plus the timeout, every request not yet sent would be given up anyway.
    _join(threads, t0 + n_scheduled / rate + 2 * timeout_s)
    stuck = run.stop()
    unsent = n_scheduled - run.next
    return run.result("open", concurrency, float(rate), stuck=stuck, unsent=unsent)
