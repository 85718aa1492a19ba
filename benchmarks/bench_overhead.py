"""Harness overhead on a real suite: scoring both sides vs everything the harness does after.

    .venv/bin/python benchmarks/bench_overhead.py [--suite ctr_logreg] [--suites-dir parity_suites]
                                                  [--seed 0] [--json OUT] [--report DIR]

Runs the suite at full size through the real runner (`harness.runner.run_suite`: golden data,
training, scoring, checks), then builds and writes the report (JSON, Markdown, HTML) as a run does.
The runner is not edited: its pieces are wrapped with timers in this process only. Figures:
(a) scoring both sides (`score_frame`: featurize + predict, both sides, every batch), and
(b) everything after both sides have scored, up to a written report: alignment, feature,
    prediction and metric checks (intervals, bootstrap), plot data, the suite result, the report
    document and its three renderings on disk,
and the ratio (b) / (a), without and with numba's one-time import and initialization (timed on its
own before the run: a fresh process running one suite pays it inside (b)), in wall time and in process CPU time (CPU time counts every thread, so a
multi-threaded scorer's CPU time exceeds its wall time; on a shared machine wall time also includes
waiting for the CPU). (b) is broken down by step. Training is timed too, for context.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Clock:
    """Wall and process CPU time of named phases (a phase may run several times: times add up)."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.marks: dict[str, tuple[float, float]] = {}

    @contextmanager
    def phase(self, name: str):
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

    def mark(self, name: str) -> None:
        self.marks[name] = (time.perf_counter(), time.process_time())

    def wrap(self, module, attr: str, name: str, after=None):
        """Replace module.attr by a timed call of it (phase `name`); `after` runs on its return."""
        inner = getattr(module, attr)

        def timed(*args, **kwargs):
            with self.phase(name):
                out = inner(*args, **kwargs)
            if after is not None:
                after()
            return out

        setattr(module, attr, timed)


def warm_up() -> None:
    """Import numba and load every compiled bootstrap loop from its cache (compiling it if absent)."""
    import numpy as np

    from harness.stats.bootstrap import paired_bootstrap

    y = np.arange(400) % 4 == 0
    p = np.linspace(0.05, 0.95, 400)
    for name in ("calibration_ratio", "logloss", "auc", "pr_auc", "ece", "calibration_slope"):
        paired_bootstrap(name, y, p, p[::-1], n_boot=2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="ctr_logreg")
    p.add_argument("--suites-dir", type=Path, default=Path(__file__).resolve().parents[1] / "parity_suites")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--report", type=Path, help="keep the written report here (to compare its bytes across code changes)")
    args = p.parse_args(argv)

    import harness.checks.metrics as check_metrics_mod
    from harness import runner
    from harness.discovery import load_suite_file
    from harness.report import build_report, write_report
    from harness.stats._poisson import engine

    suite = load_suite_file(args.suites_dir / f"test_{args.suite}.py")
    if suite is None:
        raise SystemExit(f"no SUITE in {args.suites_dir / f'test_{args.suite}.py'}")
    clock = Clock()
    # (a) scoring; its end starts (b), which runs to the end of run_suite
    clock.wrap(runner, "score_frame", "score", after=lambda: clock.mark("scored"))
    for attr in ("align_scores", "check_features", "check_predictions", "plot_data"):
        if hasattr(runner, attr):
            clock.wrap(runner, attr, f"after.{attr}")
    clock.wrap(check_metrics_mod, "check_metrics", "after.check_metrics")
    build_pair = suite.pair

    def timed_pair(dataset):
        with clock.phase("train"):
            return build_pair(dataset)

    suite = dataclasses.replace(suite, pair=timed_pair)

    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_avg_at_start": os.getloadavg(), "bootstrap_engine": engine()}
    print(f"# bench_overhead: suite {args.suite}, seed {args.seed}, {env}", flush=True)
    # numba's import and first-call initialization are paid once per process, by whichever bootstrap
    # runs first: timed here on their own (a tiny bootstrap per compiled loop), so that (b) below is
    # the per-suite work, and (b) + this is what a fresh process running one suite pays.
    with clock.phase("numba_init"):
        warm_up()
    with clock.phase("run_suite"):
        result = runner.run_suite(suite, seed=args.seed)
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    scored_wall, scored_cpu = clock.marks["scored"]
    with tempfile.TemporaryDirectory() as tmp, clock.phase("after.report"):
        write_report(build_report([result]), args.report or tmp)

    after_wall = end_wall - scored_wall + clock.wall["after.report"]
    after_cpu = end_cpu - scored_cpu + clock.cpu["after.report"]
    res = {
        "env": env, "suite": args.suite, "rows": result.dataset["rows"], "checks": len(result.checks),
        "verdict": result.verdict.value,
        "score_wall_s": clock.wall["score"], "score_cpu_s": clock.cpu["score"],
        "after_wall_s": after_wall, "after_cpu_s": after_cpu,
        "ratio_wall": after_wall / clock.wall["score"], "ratio_cpu": after_cpu / clock.cpu["score"],
        "train_wall_s": clock.wall.get("train"), "train_cpu_s": clock.cpu.get("train"),
        "numba_init_wall_s": clock.wall["numba_init"], "numba_init_cpu_s": clock.cpu["numba_init"],
        "ratio_cpu_with_numba_init": (after_cpu + clock.cpu["numba_init"]) / clock.cpu["score"],
        "ratio_wall_with_numba_init": (after_wall + clock.wall["numba_init"]) / clock.wall["score"],
        "breakdown_wall_s": {k.split(".", 1)[1]: v for k, v in clock.wall.items() if k.startswith("after.")},
        "breakdown_cpu_s": {k.split(".", 1)[1]: v for k, v in clock.cpu.items() if k.startswith("after.")},
        "load_avg_at_end": os.getloadavg(),
    }
    print(f"(a) scoring both sides: {res['score_wall_s']:.2f} s wall, {res['score_cpu_s']:.2f} s CPU "
          f"({res['rows']:,} rows)")
    print(f"(b) everything after scoring (alignment, checks, intervals, plots, report): "
          f"{after_wall:.2f} s wall, {after_cpu:.2f} s CPU")
    print(f"ratio (b) / (a): {res['ratio_wall']:.3f} wall, {res['ratio_cpu']:.3f} CPU (target <= 0.25)")
    print(f"numba import + first-call initialization (once per process, timed before the run): "
          f"{res['numba_init_wall_s']:.2f} s wall, {res['numba_init_cpu_s']:.2f} s CPU; with it, (b) / (a) = "
          f"{res['ratio_wall_with_numba_init']:.3f} wall, {res['ratio_cpu_with_numba_init']:.3f} CPU")
    print("(b) by step, wall / CPU s: " + ", ".join(
        f"{k} {res['breakdown_wall_s'][k]:.2f} / {res['breakdown_cpu_s'][k]:.2f}" for k in res["breakdown_wall_s"]))
    print(f"(training, for context: {res['train_wall_s']:.1f} s wall)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
