"""Time a suite's checks after scoring (`harness.runner._evaluate`) for the code in a checkout, to compare
two commits under the same conditions.

    .venv/bin/python benchmarks/bench_evaluate.py [--root DIR] [--suite ctr_logreg] [--repeats 15]

Runs the suite once through `harness.runner.run_suite` with the code under ``--root`` (default: this
checkout; another commit: ``git worktree add /tmp/old <commit>`` and ``--root /tmp/old``, which puts
that checkout first on sys.path), captures what `_evaluate` was given (the scored rows, the pair, the
frame), then calls `_evaluate` again ``--repeats`` times after two warm-up calls and prints the median
and minimum wall and process CPU time. Alternate the commits in one session (A, B, A, B): on a shared
machine the spread between sessions is larger than the difference being measured.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--suite", default="ctr_logreg")
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    from harness import runner
    from harness.discovery import load_suite_file

    if not str(Path(runner.__file__).resolve()).startswith(str(root)):
        raise SystemExit(f"harness was imported from {runner.__file__}, not from {root}: set PYTHONPATH={root}")
    suite = load_suite_file(root / "parity_suites" / f"test_{args.suite}.py")
    captured: dict = {}
    evaluate = runner._evaluate

    def capture(*a, **k):
        captured.update(args=a, kwargs=k)
        return evaluate(*a, **k)

    runner._evaluate = capture
    runner.run_suite(suite, seed=0)
    a, k = captured["args"], captured["kwargs"]

    def once():
        kk = dict(k, cost={}, stages=runner._Stages(args.suite))
        return evaluate(a[0], a[1], a[2], dict(a[3]), **kk)

    once(), once()
    walls, cpus = [], []
    for _ in range(args.repeats):
        w, c = time.perf_counter(), time.process_time()
        once()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    print(f"{root} ({args.suite}, {len(a[2]):,} rows): evaluate wall median {statistics.median(walls) * 1e3:.1f} ms "
          f"(min {min(walls) * 1e3:.1f}), CPU median {statistics.median(cpus) * 1e3:.1f} ms (min {min(cpus) * 1e3:.1f})",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
