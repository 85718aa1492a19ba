"""The serve-bench measurement plan: both sides, every batch size, interleaved rounds, then the gates.

One round measures, for each batch size, each side (legacy then new in even rounds, new then legacy in
odd ones: ABBA, so a drift of the machine's speed hits both sides alike):

1. a warm-up (``warmup_requests`` requests, not recorded: lazy initialization, caches, JIT),
2. a closed loop with ``concurrency`` clients for ``duration_s`` (at most ``max_requests``): latency,
   throughput at that concurrency, CPU seconds per 1,000 predictions and the peak RSS of the serving
   process while it ran,
3. an open loop at ``qps`` requests/s (default: half the slower side's closed-loop rate in round 0 at
   this batch size, the same offered load for both sides), latency from the scheduled send time, with
   its errors and timeouts.

Per-round figures feed the gates (`harness.serving.gates`); the histograms of all rounds are merged for
the latency CDFs. The whole plan is bounded: rounds x batch sizes x 2 sides x (warm-up + 2 runs), each
run bounded by its duration and request count (and ``timeout_s`` for a request that hangs).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ParityInputError
from harness.serving.cost import ProcessMeter
from harness.serving.gates import LATENCY_METRICS, CostGate, ServingGate, judge
from harness.serving.latency import LatencyHistogram
from harness.serving.load import closed_loop, open_loop
from harness.verdicts import combine

__all__ = ["BenchConfig", "SideBench", "SIDES", "format_table", "has_saved_model", "http_side", "in_process_side",
           "run_bench"]

SIDES = ("legacy", "new")
SCHEMA = "parity.serve-bench/1"


@dataclass(frozen=True)
class BenchConfig:
    batch_sizes: tuple[int, ...] = (1, 32, 1024)
    concurrency: int = 1
    qps: float | None = None  # open-loop requests/s; None: half the slower side's closed-loop rate
    duration_s: float = 1.0
    max_requests: int = 20_000
    warmup_requests: int = 10
    repeats: int = 5
    timeout_s: float = 10.0
    alpha: float = 0.05
    open_loop: bool = True  # False: closed loops only (a suite run spends its bounded time where the gates look)

    def __post_init__(self) -> None:
        if not self.batch_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.batch_sizes):
            raise ParityInputError(f"batch sizes must be ints >= 1, got {self.batch_sizes!r}")
        for name in ("concurrency", "max_requests", "repeats"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParityInputError(f"{name} must be an int >= 1, got {v!r}")
        if isinstance(self.warmup_requests, bool) or not isinstance(self.warmup_requests, int) or self.warmup_requests < 0:
            raise ParityInputError(f"warmup_requests must be an int >= 0, got {self.warmup_requests!r}")
        for name in ("duration_s", "timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ParityInputError(f"{name} must be a number of seconds > 0, got {v!r}")
        if self.qps is not None and not (isinstance(self.qps, (int, float)) and math.isfinite(self.qps) and self.qps > 0):
            raise ParityInputError(f"qps must be a number of requests per second > 0, got {self.qps!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"batch_sizes": list(self.batch_sizes), "concurrency": self.concurrency, "qps": self.qps,
                "duration_s": self.duration_s, "max_requests": self.max_requests,
                "warmup_requests": self.warmup_requests, "repeats": self.repeats, "timeout_s": self.timeout_s,
                "alpha": self.alpha, "open_loop": self.open_loop}


@dataclass
class SideBench:
    """One side's serving path as the bench drives it.

    ``make_target(batch_size)`` returns a target for that batch size (`harness.serving.targets`);
    ``meter`` reads the serving process (this one for an in-process side, the server's pid for a local
    server, None for a remote endpoint whose CPU and memory cannot be read from here);
    ``cold_start`` (optional) loads the serving path anew and answers one prediction, returning seconds.
    """

    kind: str  # "in_process" | "http"
    describe: str  # the side's name or the endpoint URL
    make_target: Callable[[int], Callable[[int], int]]
    meter: ProcessMeter | None
    artifact_bytes: int | None = None
    cold_start: Callable[[], float] | None = None
    cold_start_once: float | None = None  # measured once outside the rounds (a server's start)
    notes: list[str] = field(default_factory=list)
    saved_model: bool = False  # an in-process side with a SavedModel on disk (what --serve SIDE serves)


def _run_once(side: SideBench, target: Callable[[int], int], cfg: BenchConfig, rate: float | None) -> dict[str, Any]:
    """One side, one batch size, one round: warm-up, closed loop (+ the process meter), open loop."""
    if cfg.warmup_requests:
        closed_loop(target, concurrency=1, duration_s=max(cfg.duration_s, cfg.timeout_s),
                    max_requests=cfg.warmup_requests, timeout_s=cfg.timeout_s)
    meter = side.meter
    if meter is not None:
        scoped = meter.reset_peak()
        cpu0 = meter.cpu_s()
    result = closed_loop(target, concurrency=cfg.concurrency, duration_s=cfg.duration_s,
                         max_requests=cfg.max_requests, timeout_s=cfg.timeout_s)
    row: dict[str, Any] = {"closed": result.to_dict(), "_closed": result}
    summary = row["closed"]["latency_ms"]
    for name in LATENCY_METRICS:
        row[name] = summary[name]
    row["predictions_per_s"] = result.predictions_per_s
    row["time_per_1k"] = 1000.0 / result.predictions_per_s if result.n_predictions else math.nan
    if meter is not None:
        cpu = meter.cpu_s() - cpu0
        row["cpu_s"] = cpu
        row["cpu_per_1k"] = 1000.0 * cpu / result.n_predictions if result.n_predictions else math.nan
        row["peak_rss"] = meter.peak_rss_mb()
        row["peak_rss_scope"] = "run" if scoped else "process"
    else:
        row["cpu_s"] = row["cpu_per_1k"] = row["peak_rss"] = math.nan
        row["peak_rss_scope"] = None
    if rate is not None:
        _open_loop(row, target, cfg, rate)
    return row


def _open_loop(row: dict[str, Any], target: Callable[[int], int], cfg: BenchConfig, rate: float) -> None:
    opened = open_loop(target, rate=rate, concurrency=cfg.concurrency, duration_s=cfg.duration_s,
                       max_requests=cfg.max_requests, timeout_s=cfg.timeout_s)
    row["open"], row["_open"] = opened.to_dict(), opened


def run_bench(sides: dict[str, SideBench], cfg: BenchConfig, *, gates: Sequence[ServingGate | CostGate] = (),
              progress: Any = None) -> tuple[dict[str, Any], list[Any]]:
    """Run the plan and judge ``gates``; returns the serve-bench document (JSON-able through
    `harness.results.jsonable`) and the gates' `CheckResult` rows (also in the document as dicts)."""
    if set(sides) != set(SIDES):
        raise ParityInputError(f"need both sides {SIDES}, got {sorted(sides)}")
    missing = sorted({g.batch_size for g in gates if isinstance(g, ServingGate) or g.metric in ("cpu_per_1k", "time_per_1k")}
                     - set(cfg.batch_sizes))
    if missing:
        raise ParityInputError(f"gates need batch size(s) {missing}, which --batch-sizes {list(cfg.batch_sizes)} leaves out")
    rounds: dict[int, dict[str, list[dict[str, Any]]]] = {b: {s: [] for s in SIDES} for b in cfg.batch_sizes}
    merged = {b: {s: {"closed": LatencyHistogram(), "open": LatencyHistogram(), "open_service": LatencyHistogram()}
                  for s in SIDES} for b in cfg.batch_sizes}
    rates: dict[int, float | None] = {b: cfg.qps if cfg.open_loop else None for b in cfg.batch_sizes}
    cold: dict[str, list[float]] = {s: [] if sides[s].cold_start_once is None else [sides[s].cold_start_once]
                                    for s in SIDES}
    targets = {b: {s: sides[s].make_target(b) for s in SIDES} for b in cfg.batch_sizes}
    for r in range(cfg.repeats):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        for b in cfg.batch_sizes:
            measured = {}
            for s in order:
                # Round 0 without a --qps first learns each side's closed-loop rate, then runs its open loop.
                measured[s] = _run_once(sides[s], targets[b][s], cfg, rates[b])
                if progress is not None:
                    progress.update(1)
            if rates[b] is None and cfg.open_loop:
                rps = [measured[s]["closed"]["requests_per_s"] for s in SIDES]
                ok = [x for x in rps if isinstance(x, float) and math.isfinite(x) and x > 0]
                rates[b] = 0.5 * min(ok) if ok else None
                if rates[b] is not None:
                    for s in order:
                        _open_loop(measured[s], targets[b][s], cfg, rates[b])
            for s in SIDES:
                row = measured[s]
                merged[b][s]["closed"].merge(row["_closed"].latency)
                if "_open" in row:
                    merged[b][s]["open"].merge(row["_open"].latency)
                    merged[b][s]["open_service"].merge(row["_open"].service)
                rounds[b][s].append({k: v for k, v in row.items() if not k.startswith("_")})
        for s in order:
            if sides[s].cold_start is not None:
                cold[s].append(float(sides[s].cold_start()))
    checks = [_judge(g, rounds, cold, sides, cfg) for g in gates]
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "config": cfg.to_dict(),
        "sides": {s: {"kind": sides[s].kind, "target": sides[s].describe, "artifact_bytes": sides[s].artifact_bytes,
                      "cold_start_s": cold[s], "measures_process": sides[s].meter is not None,
                      "notes": list(sides[s].notes)} for s in SIDES},
        "open_loop_qps": {str(b): rates[b] for b in cfg.batch_sizes},
        "batch_sizes": {str(b): {s: _side_summary(rounds[b][s], merged[b][s]) for s in SIDES} for b in cfg.batch_sizes},
        "checks": [c.to_dict() for c in checks],
        "verdict": combine([c.verdict for c in checks if c.gated]).value if checks else None,
    }
    return doc, checks


def _median(values: list[float]) -> float:
    import numpy as np

    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _side_summary(rows: list[dict[str, Any]], hists: dict[str, LatencyHistogram]) -> dict[str, Any]:
    keys = list(LATENCY_METRICS) + ["predictions_per_s", "cpu_per_1k", "peak_rss", "time_per_1k"]
    out: dict[str, Any] = {"median": {k: _median([r[k] for r in rows]) for k in keys}}
    out["errors"] = sum(r["closed"]["n_errors"] + r.get("open", {}).get("n_errors", 0) for r in rows)
    out["timeouts"] = sum(r["closed"]["n_timeouts"] + r.get("open", {}).get("n_timeouts", 0) for r in rows)
    out["closed_ms"] = hists["closed"].summary_ms()
    out["open_ms"] = hists["open"].summary_ms()
    out["open_service_ms"] = hists["open_service"].summary_ms()
    out["cdf_closed_ms"] = hists["closed"].cdf_ms()
    out["cdf_open_ms"] = hists["open"].cdf_ms()
    out["hdr_closed"] = hists["closed"].encode() if hists["closed"].count else None
    out["rounds"] = rows
    return out


def _judge(gate: ServingGate | CostGate, rounds: dict, cold: dict, sides: dict, cfg: BenchConfig) -> Any:
    shared = [s for s in SIDES if sides[s].kind == "in_process"]
    if gate.metric == "peak_rss" and shared:
        return _not_measured(gate, f"side(s) {', '.join(shared)} run in this process, whose peak RSS holds both "
                                   "sides and the load generator, not one side's serving path", cfg, sides)
    if gate.metric == "artifact_size":
        values = {s: [sides[s].artifact_bytes if sides[s].artifact_bytes is not None else math.nan] for s in SIDES}
    elif gate.metric == "cold_start":
        values = {s: cold[s] or [math.nan] * cfg.repeats for s in SIDES}
    elif gate.metric == "peak_rss":
        # The largest batch size is where memory peaks; each round's figure is that run's high-water mark.
        b = max(cfg.batch_sizes)
        values = {s: [r["peak_rss"] for r in rounds[b][s]] for s in SIDES}
    else:
        values = {s: [r[gate.metric] for r in rounds[gate.batch_size][s]] for s in SIDES}
    requests = None
    if gate.kind == "serving":  # how many requests a round's latency quantile rests on (gates.resolution_note)
        requests = {s: float(statistics.median([r["closed"]["n_ok"] for r in rounds[gate.batch_size][s]]))
                    for s in SIDES}
    return judge(gate, values["legacy"], values["new"], alpha=cfg.alpha, requests=requests)


def _not_measured(gate: CostGate, why: str, cfg: BenchConfig, sides: dict[str, SideBench]) -> Any:
    """INCONCLUSIVE (gated: never a pass) for a gate these sides cannot give evidence on, saying how to
    measure it (``--serve`` only for a side with a SavedModel); its details are those of a gate with no
    usable round."""
    check = judge(gate, [math.nan] * cfg.repeats, [math.nan] * cfg.repeats, alpha=cfg.alpha)
    servable = [s for s in SIDES if sides[s].kind == "in_process" and sides[s].saved_model]
    fix = ("parity serve-bench SUITE with both sides in process serves each in processes of its own, as a suite "
           "run (pytest parity_suites, parity run) does; or put each side behind a server of its own: "
           "--endpoint SIDE=URL with --pid SIDE=PID"
           + "".join(f", or --serve {s} (its SavedModel)" for s in servable))
    check.summary = f"not measured: {why}"
    check.message = f"{gate.id}: not measured: {why}.\n  to measure it: {fix}"
    check.details["not_measured"] = why
    return check


def in_process_side(side: Any, frame: Any, *, max_batches: int = 64) -> SideBench:
    """A pair's side called in this process on golden batches of ``frame``. Cold start is measured for a
    side that can be rebuilt from its artifact (it has ``path`` and ``spec``, as `ServingSide` does):
    load the artifact, answer one row."""
    import time

    from harness.serving.cost import artifact_size_bytes
    from harness.serving.targets import InProcessTarget, golden_batches

    name = str(getattr(side, "name", type(side).__name__))
    path = getattr(side, "path", None)
    cold_start = None
    notes = ["in process: CPU and peak RSS are this process's (both sides loaded, the load generator included)"]
    if path is not None and getattr(side, "spec", None) is not None:
        def cold_start() -> float:
            t0 = time.perf_counter()
            fresh = type(side)(path, side.spec, name=name)
            fresh.predict(frame.iloc[:1])
            return time.perf_counter() - t0
    else:
        notes.append("no artifact to load (built in memory by the suite's pair): no cold start")
    return SideBench(kind="in_process", describe=name,
                     make_target=lambda b: InProcessTarget(side, golden_batches(frame, b, max_batches=max_batches)),
                     meter=ProcessMeter(), artifact_bytes=artifact_size_bytes(path) if path is not None else None,
                     cold_start=cold_start, notes=notes, saved_model=has_saved_model(side))


def has_saved_model(side: Any) -> bool:
    """Whether ``side`` has a SavedModel on disk at its ``path`` (what ``--serve`` serves)."""
    from pathlib import Path

    path = getattr(side, "path", None)
    return path is not None and (Path(path) / "saved_model.pb").is_file()


def http_side(url: str, frame: Any, columns: Sequence[str], *, pid: int | None = None, fmt: str = "instances",
              timeout_s: float = 10.0, artifact_bytes: int | None = None, cold_start_s: float | None = None,
              max_batches: int = 64) -> SideBench:
    """A TF Serving REST predict endpoint. ``pid``: the serving process, when it runs on this machine, for
    its CPU and peak RSS (without it those figures are not measured)."""
    from harness.serving.targets import RestPredictTarget, golden_batches, parse_predict_url

    parse_predict_url(url)
    notes = [] if pid is not None else ["remote endpoint: CPU and peak RSS not measured (no pid)"]
    side = SideBench(kind="http", describe=url, meter=ProcessMeter(pid) if pid is not None else None,
                     make_target=lambda b: RestPredictTarget(url, golden_batches(frame, b, max_batches=max_batches),
                                                             columns=columns, fmt=fmt, timeout_s=timeout_s),
                     artifact_bytes=artifact_bytes, notes=notes)
    if cold_start_s is not None:
        side.cold_start_once = float(cold_start_s)
        side.notes.append("cold start: process start to first prediction, measured once (a gate on it needs rounds)")
    return side


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def format_table(doc: dict[str, Any]) -> list[str]:
    """The console table: per batch size and side the closed-loop latency (medians over rounds), throughput,
    CPU per 1k and peak RSS; then the open-loop p99 at the offered rate, then the gates."""
    head = ["batch", "side", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "pred/s", "CPU s/1k",
            "peak RSS MB", "open qps", "open p99 ms", "err", "timeout"]
    rows = [head]
    for b, per_side in doc["batch_sizes"].items():
        for s in SIDES:
            m = per_side[s]["median"]
            rows.append([b, s] + [_fmt(m[k]) for k in LATENCY_METRICS] + [
                _fmt(m["predictions_per_s"], ".4g"), _fmt(m["cpu_per_1k"]), _fmt(m["peak_rss"], ".4g"),
                _fmt(doc["open_loop_qps"].get(b), ".4g"), _fmt(per_side[s]["open_ms"].get("p99")),
                str(per_side[s]["errors"]), str(per_side[s]["timeouts"])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    for s in SIDES:
        info = doc["sides"][s]
        extra = [f"artifact {info['artifact_bytes']} bytes" if info["artifact_bytes"] is not None else "no artifact on disk"]
        if info["cold_start_s"]:
            extra.append(f"cold start median {_median(info['cold_start_s']):.3g} s")
        lines.append(f"{s}: {info['kind']} {info['target']}; " + "; ".join(extra))
    for s, own in ((doc.get("processes") or {}).get("sides") or {}).items():
        m = own["median"]
        lines.append(f"{s}: {len(own['runs'])} serving processes of its own: peak RSS median {m['peak_rss_mb']:.4g} MB "
                     f"(after imports {m['rss_after_imports_mb']:.4g} MB, after load {m['rss_after_load_mb']:.4g} MB)")
    if doc["checks"]:
        lines.append("")
        width = max(len(c["id"]) for c in doc["checks"])
        for c in doc["checks"]:
            lines.append(f"{c['id'].ljust(width)}  {c['verdict']:<14}  {c['summary']}")
    return lines
