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
and the ratio (b) / (a), in wall time and in process CPU time (CPU time counts every thread, so a
multi-threaded scorer's CPU time exceeds its wall time; on a shared machine wall time also includes
waiting for the CPU), for two runs in one process: run 1 is a fresh process's (the runner starts
loading the bootstrap's compiled engine on a background thread when the suite starts,
`harness.stats._poisson.warm_up`; whatever of numba's import and first cached loops is not done when
scoring ends falls inside its (b), and the warm-up's share of the cores inside (a)), run 2 the steady
state (the same pair, built once, scored and checked again). (b) is broken down by step; the feature checks, the
prediction checks and the plot data run on a second thread while the metric checks run (`harness.runner._evaluate`), so
those steps overlap and their times add up to more than (b). Training is timed too, for context;
--report DIR keeps both runs' reports (DIR/run1, DIR/run2) to compare bytes.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="ctr_logreg")
    p.add_argument("--suites-dir", type=Path, default=Path(__file__).resolve().parents[1] / "parity_suites")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--report", type=Path,
                   help="keep both runs' reports here (DIR/run1, DIR/run2), to compare their bytes across code changes")
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
    numba_before_b = []

    warm_done_before_b = []

    def scored():
        clock.mark("scored")
        numba_before_b.append("numba" in sys.modules)
        from harness.stats import _poisson

        warm_done_before_b.append(bool(_poisson._WARMING) and not _poisson._WARMING[0].is_alive())

    clock.wrap(runner, "score_frame", "score", after=scored)
    for attr in ("align_scores", "check_features", "check_predictions", "plot_data"):
        if hasattr(runner, attr):
            clock.wrap(runner, attr, f"after.{attr}")
    clock.wrap(check_metrics_mod, "check_metrics", "after.check_metrics")
    build_pair = suite.pair

    def timed_pair(dataset):
        with clock.phase("train"):
            return build_pair(dataset)

    suite = dataclasses.replace(suite, pair=timed_pair)

    # (the bootstrap engine is asked after the runs: asking imports numba, which run 1 must pay itself;
    # "numba imported before (b)" below says whether the runner's warm-up had imported it by then)
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_avg_at_start": os.getloadavg()}
    print(f"# bench_overhead: suite {args.suite}, seed {args.seed}, {env}", flush=True)
    runs = []
    # Run 1 is what a fresh process pays: what the runner's warm-up has not finished of numba's import
    # and the first calls of the compiled loops the suite uses (loaded from numba's cache) falls inside
    # its (b). Run 2 is the steady state: the same pair (built once, not retrained), scored and checked
    # again in the same process.
    built: list = []

    def pair_once(dataset):
        if not built:
            built.append(timed_pair(dataset))
        return built[0]

    for i in range(2):
        clock.wall.clear(), clock.cpu.clear(), clock.marks.clear()
        with clock.phase("run_suite"):
            result = runner.run_suite(dataclasses.replace(suite, pair=pair_once), seed=args.seed)
        end_wall, end_cpu = time.perf_counter(), time.process_time()
        scored_wall, scored_cpu = clock.marks["scored"]
        with tempfile.TemporaryDirectory() as tmp, clock.phase("after.report"):
            write_report(build_report([result]), args.report / f"run{i + 1}" if args.report else tmp)
        after_wall = end_wall - scored_wall + clock.wall["after.report"]
        after_cpu = end_cpu - scored_cpu + clock.cpu["after.report"]
        runs.append({
            "score_wall_s": clock.wall["score"], "score_cpu_s": clock.cpu["score"],
            "after_wall_s": after_wall, "after_cpu_s": after_cpu,
            "ratio_wall": after_wall / clock.wall["score"], "ratio_cpu": after_cpu / clock.cpu["score"],
            "breakdown_wall_s": {k.split(".", 1)[1]: v for k, v in clock.wall.items() if k.startswith("after.")},
            "breakdown_cpu_s": {k.split(".", 1)[1]: v for k, v in clock.cpu.items() if k.startswith("after.")},
        })
        if i == 0:
            train = (clock.wall.get("train"), clock.cpu.get("train"))
    env["bootstrap_engine"] = engine()
    env["numba_imported_before_b_of_run_1"] = numba_before_b[0]
    env["engine_warm_up_done_before_b_of_run_1"] = warm_done_before_b[0]
    res = {"env": env, "suite": args.suite, "rows": result.dataset["rows"], "checks": len(result.checks),
           "verdict": result.verdict.value, "fresh": runs[0], "steady": runs[1],
           "train_wall_s": train[0], "train_cpu_s": train[1], "load_avg_at_end": os.getloadavg()}
    for name, r in (("fresh process (run 1)", runs[0]), ("steady state (run 2)", runs[1])):
        print(f"{name}: (a) scoring both sides {r['score_wall_s']:.3f} s wall, {r['score_cpu_s']:.3f} s CPU "
              f"({res['rows']:,} rows); (b) everything after scoring (alignment, checks, intervals, plots, report) "
              f"{r['after_wall_s']:.3f} s wall, {r['after_cpu_s']:.3f} s CPU; (b) / (a) = {r['ratio_wall']:.3f} wall, "
              f"{r['ratio_cpu']:.3f} CPU (target <= 0.25)")
        print("  (b) by step (overlapping: see the docstring), wall / CPU s: " + ", ".join(
            f"{k} {r['breakdown_wall_s'][k]:.3f} / {r['breakdown_cpu_s'][k]:.3f}" for k in r["breakdown_wall_s"]))
    print(f"(training, for context: {res['train_wall_s']:.1f} s wall; engine {env['bootstrap_engine']}; numba "
          f"imported before (b) of run 1: {env['numba_imported_before_b_of_run_1']}; the runner's engine warm-up "
          f"done by then: {env['engine_warm_up_done_before_b_of_run_1']})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
