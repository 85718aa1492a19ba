"""A suite's serving and cost gates as part of a suite run (`harness.session`): bounded defaults, the
measured section of the report, and the serving stage's cost per side.

A suite run measures both sides' latency and CPU **in this process** on the suite's scored golden rows,
right after the accuracy checks, with the pair the run already built (nothing is trained twice). One
process holding both sides cannot tell their memory apart, so a ``cost/peak_rss`` gate is judged on
each side served by fresh child processes of its own (`harness.serving.process_rss`: the same built
sides, sent over a pipe; 5 rounds, each a child per side). `parity serve-bench` measures the same way
with longer runs (its peak-RSS gate too, on serving processes of each side's own, when both sides are in
process), or with each side behind its own server (`--serve`, `--endpoint`), whose own process it reads;
the gates and their verdict rule are the same (`harness.serving.gates`).

Bounded by default so that ``pytest parity_suites`` stays within its budget: only the batch sizes the
gates need (and 1, for the batch-1 latency CDF), 15 interleaved rounds (ABBA) of a 0.2 s closed loop per
side and batch size after one warm-up request. Many short rounds rather than a few long ones: with 5
rounds the 90 % interval of the median ratio is [min, max] of the rounds, so one round spoiled by the
machine decides; with 15 it is [4th, 12th], which drops three on each side (on the loaded 2-core box, 9
rounds of 0.15 s left ``ctr_logreg``'s ``serving/p99@1`` INCONCLUSIVE at [0.597, 1.69]). The gates judge
closed loops only, so the open loop (latency from the scheduled send time) is left to
``parity serve-bench``. Per suite: 15 x |batch sizes| x 2 sides x ~0.25 s, about 15 s for two batch
sizes (cold start is measured only when a gate asks for it: reloading a SavedModel costs seconds). A
peak-RSS gate adds 5 rounds of one child per side: mostly the children's imports (TensorFlow's several
CPU seconds per child), measured in benchmarks/BENCHMARKS.md.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.serving.bench import SIDES, BenchConfig, in_process_side, run_bench
from harness.serving.gates import CostGate, ServingGate, judge

__all__ = ["MAX_BATCHES", "SUITE_RUN", "bench_config", "is_process_gate", "judge_process_gates", "measured_serving",
           "rows_needed", "run_suite_serving", "serving_stage_cost"]

# The bounded defaults of a suite run (see the module docstring for what they cost).
SUITE_RUN = {"duration_s": 0.2, "repeats": 15, "warmup_requests": 1, "max_requests": 2000, "timeout_s": 5.0,
             "open_loop": False}


MAX_BATCHES = 64  # distinct golden batches per batch size that the requests cycle through


def rows_needed(gates: Sequence[ServingGate | CostGate]) -> int:
    """Golden rows the suite run's serving plan reads (the rest of the scored frame need not be kept)."""
    return MAX_BATCHES * max(bench_config(gates).batch_sizes)


def bench_config(gates: Sequence[ServingGate | CostGate], **overrides: Any) -> BenchConfig:
    """The suite run's plan for ``gates``: batch 1 plus every batch size a gate names, bounded runs."""
    sizes = {1} | {g.batch_size for g in gates
                   if isinstance(g, ServingGate) or g.metric in ("cpu_per_1k", "time_per_1k")}
    return BenchConfig(batch_sizes=tuple(sorted(sizes)), **{**SUITE_RUN, **overrides})


def is_process_gate(gate: ServingGate | CostGate) -> bool:
    """A gate judged on each side's own serving processes rather than on the in-process rounds."""
    return isinstance(gate, CostGate) and gate.metric == "peak_rss"


def run_suite_serving(gates: Sequence[ServingGate | CostGate], pair: Any, frame: Any, *,
                      cfg: BenchConfig | None = None,
                      process_run: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[Any]]:
    """Measure both sides of ``pair`` in process on ``frame``'s rows and judge ``gates`` (a peak-RSS gate
    on each side's own serving processes, `process_rss.PROCESS_RUN` overridden by ``process_run``);
    returns the report's serving entry (`measured_serving`) and the gates' `CheckResult` rows, in the
    gates' order."""
    cfg = cfg or bench_config(gates)
    wants_cold = any(g.metric == "cold_start" for g in gates)
    sides = {s: in_process_side(getattr(pair, s), frame, max_batches=MAX_BATCHES) for s in SIDES}
    if not wants_cold:
        for s in SIDES:
            sides[s].cold_start = None
            sides[s].notes.append("cold start not measured (no gate on it; reloading costs seconds per round)")
    doc, checks = run_bench(sides, cfg, gates=[g for g in gates if not is_process_gate(g)])
    processes, checks = judge_process_gates(gates, checks, pair, frame, cfg, process_run)
    return measured_serving(doc, processes), checks


def judge_process_gates(gates: Sequence[ServingGate | CostGate], bench_checks: Sequence[Any], pair: Any, frame: Any,
                        cfg: BenchConfig, process_run: Mapping[str, Any] | None = None
                        ) -> tuple[dict[str, Any] | None, list[Any]]:
    """``gates``' checks in their order: ``bench_checks`` (`run_bench`'s, for the gates that are not
    `is_process_gate`) and the peak-RSS gates judged on each side of ``pair`` served by processes of
    its own (`process_rss.PROCESS_RUN` overridden by ``process_run``); with those processes'
    measurements (None when no gate needed them). Run it after the in-process rounds: children
    starting meanwhile would slow the latencies measured."""
    process_gates = [g for g in gates if is_process_gate(g)]
    by_gate = dict(zip([g for g in gates if not is_process_gate(g)], bench_checks))
    processes = None
    if process_gates:
        processes, rss_checks = _process_checks(process_gates, pair, frame, cfg, process_run or {})
        by_gate.update(zip(process_gates, rss_checks))
    return processes, [by_gate[g] for g in gates]


def _process_checks(gates: Sequence[CostGate], pair: Any, frame: Any, cfg: BenchConfig,
                    overrides: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The peak-RSS gates judged on each side's own serving processes, at the plan's largest batch size
    (where the bench reads peak RSS too); a side that could not be measured makes each gate an error of
    stage ``serving`` (could not judge), and the report's entry says why."""
    from harness.results import error_check
    from harness.serving.process_rss import PROCESS_RUN, ProcessRunError, SideNotSendable, measure_processes
    from harness.serving.targets import golden_batches

    settings = {**PROCESS_RUN, **overrides}
    batches = golden_batches(frame, max(cfg.batch_sizes), max_batches=MAX_BATCHES)
    try:
        processes = measure_processes(pair, batches, repeats=settings["repeats"], timeout_s=settings["timeout_s"],
                                      serve_batches=settings["serve_batches"])
    except (SideNotSendable, ProcessRunError) as exc:
        checks = [error_check(g.id, stage="serving", cause=exc, kind="cost",
                              text=f"{g.id}: peak RSS per serving process could not be measured.\n  {exc}")
                  for g in gates]
        return {"scope": "process", "error": f"{type(exc).__name__}: {exc}"}, checks
    peaks = {s: [run["peak_rss_mb"] for run in processes["sides"][s]["runs"]] for s in SIDES}
    checks = []
    for g in gates:
        check = judge(g, peaks["legacy"], peaks["new"], alpha=cfg.alpha)
        check.details["scope"] = "process"  # each side's own child, not this process
        checks.append(check)
    return processes, checks


def measured_serving(doc: dict[str, Any], processes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The serve-bench document as the report keeps it: configuration, sides, per batch size and side the
    medians, the merged latency summaries, CDF points and the encoded HDR histogram, error and timeout
    counts, and the gates' verdict. The per-round rows stay out (each gate's details keep the per-round
    values it was judged on; the gates' rows and verdict are the suite's measured checks). ``processes``
    (`process_rss.measure_processes`, or an ``error``): each side's own serving processes, when a
    peak-RSS gate ran."""
    per_batch = {}
    for b, per_side in doc["batch_sizes"].items():
        per_batch[b] = {s: {k: v for k, v in per_side[s].items() if k != "rounds"} for s in SIDES}
    out = {"config": doc["config"], "sides": doc["sides"], "open_loop_qps": doc["open_loop_qps"],
           "batch_sizes": per_batch, "stage_cost": serving_stage_cost(doc, processes)}
    if processes is not None:
        out["processes"] = processes
    return out


def serving_stage_cost(doc: dict[str, Any], processes: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The serving stage's cost per side (``serving:legacy`` / ``serving:new``), summed over every run of
    the bench: wall seconds under load, CPU seconds of the serving process during the closed loops (in
    process: this process's, the load generator included), and the highest peak RSS seen; with
    ``processes``, ``serving_process:<side>``: its children's wall and CPU seconds summed, their highest
    peak RSS (each child's own)."""
    out: dict[str, dict[str, Any]] = {}
    for s in SIDES:
        wall = cpu = 0.0
        peak = math.nan
        for per_side in doc["batch_sizes"].values():
            for r in per_side[s]["rounds"]:
                wall += r["closed"]["duration_s"] + (r.get("open") or {}).get("duration_s", 0.0)
                cpu += r["cpu_s"] if math.isfinite(r["cpu_s"]) else 0.0
                if r["peak_rss"] is not None and math.isfinite(r["peak_rss"]):
                    peak = r["peak_rss"] if not math.isfinite(peak) else max(peak, r["peak_rss"])
        out[f"serving:{s}"] = {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak,
                               "peak_rss_scope": "process" if doc["sides"][s]["kind"] == "in_process" else "run"}
    for s, side in ((processes or {}).get("sides") or {}).items():
        runs = side["runs"]
        out[f"serving_process:{s}"] = {"wall_s": sum(r["wall_s"] for r in runs), "cpu_s": sum(r["cpu_s"] for r in runs),
                                       "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "peak_rss_scope": "process"}
    return out
