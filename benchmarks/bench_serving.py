"""Serving measurements: the measurement's own floor, and a suite's two serving paths side by side.

    .venv/bin/python benchmarks/bench_serving.py floor [--repeats 5] [--duration 2] [--json OUT]
    .venv/bin/python benchmarks/bench_serving.py suite ctr_logreg [serve-bench options...]

``floor``: a no-op side (predict returns zeros) measured exactly as serve-bench measures a real one --
in process (`InProcessTarget`) and over HTTP (the local REST predict server with ``--noop``, through
the TF Serving REST client) -- at batch 1 and 1024, closed loop with one client and an open loop at a
fixed rate. Its p50 at batch 1 is the smallest latency serve-bench can report on this machine: a side
whose figures are near it is measured mostly as overhead. ``suite``: runs ``parity serve-bench`` on the
named suite (it trains the suite's pair) with the given options, the same code path as the CLI.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class NoopSide:
    name = "noop"

    def predict(self, batch):
        import numpy as np

        return np.zeros(len(batch))


def _frame(n: int = 4096):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "s": np.array(["a", "bb", "ccc"], dtype=object)[rng.integers(0, 3, n)]})


def floor(args: argparse.Namespace) -> dict:
    import numpy as np

    from harness.serving.cost import ProcessMeter
    from harness.serving.load import closed_loop, open_loop
    from harness.serving.server import start_server
    from harness.serving.targets import InProcessTarget, RestPredictTarget, golden_batches

    frame = _frame()
    out: dict = {"machine": {"python": platform.python_version(), "machine": platform.machine(),
                             "cpus": os.cpu_count(), "load_avg_start": os.getloadavg()},
                 "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "rows": {}}
    with start_server("noop", noop=True) as server:
        meters = {"in_process": ProcessMeter(), "http": ProcessMeter(server.pid)}
        for batch in (1, 1024):
            batches = golden_batches(frame, batch, max_batches=4)
            targets = {"in_process": InProcessTarget(NoopSide(), batches),
                       "http": RestPredictTarget(server.url, batches, columns=["x", "s"])}
            for name, target in targets.items():
                closed_loop(target, max_requests=50, duration_s=10)  # warm-up
                rows = []
                for _ in range(args.repeats):
                    cpu0 = meters[name].cpu_s()
                    c = closed_loop(target, concurrency=1, duration_s=args.duration, max_requests=200_000)
                    cpu = meters[name].cpu_s() - cpu0
                    o = open_loop(target, rate=args.rate, concurrency=1, duration_s=args.duration)
                    rows.append({"closed_ms": c.latency.summary_ms(), "requests_per_s": c.requests_per_s,
                                 "cpu_per_1k_requests": 1000 * cpu / max(c.n_ok, 1),
                                 "open_ms": o.latency.summary_ms(), "open_service_ms": o.service.summary_ms(),
                                 "open_errors": o.n_errors + o.n_timeouts})
                med = {k: float(np.median([r["closed_ms"][k] for r in rows])) for k in ("p50", "p99", "p99.9")}
                out["rows"][f"{name}@{batch}"] = {
                    "closed_median_ms": med,
                    "requests_per_s_median": float(np.median([r["requests_per_s"] for r in rows])),
                    "cpu_per_1k_requests_median": float(np.median([r["cpu_per_1k_requests"] for r in rows])),
                    "open_p50_ms_median": float(np.median([r["open_ms"]["p50"] for r in rows])),
                    "open_p99_ms_median": float(np.median([r["open_ms"]["p99"] for r in rows])),
                    "rounds": rows}
                print(f"{name:>10} batch {batch:>4}: closed p50 {med['p50']:.4f} ms p99 {med['p99']:.4f} ms; "
                      f"{out['rows'][f'{name}@{batch}']['requests_per_s_median']:.0f} req/s; open@{args.rate:g}/s "
                      f"p50 {out['rows'][f'{name}@{batch}']['open_p50_ms_median']:.4f} ms "
                      f"p99 {out['rows'][f'{name}@{batch}']['open_p99_ms_median']:.4f} ms", flush=True)
    out["load_avg_end"] = os.getloadavg()
    out["finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return out


def suite(argv: list[str]) -> int:
    from harness.cli import quiet_tensorflow
    from harness.cli.serve_bench import register

    quiet_tensorflow(False)
    parser = argparse.ArgumentParser(prog="bench_serving.py suite")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve-bench", *argv])
    return int(args.func(args))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("floor")
    f.add_argument("--repeats", type=int, default=5)
    f.add_argument("--duration", type=float, default=2.0)
    f.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    f.add_argument("--json", default=None)
    sub.add_parser("suite", add_help=False)
    known, rest = parser.parse_known_args()
    if known.what == "suite":
        return suite(rest)
    if rest:
        parser.error(f"unrecognized arguments: {rest}")
    doc = floor(known)
    if known.json:
        Path(known.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
