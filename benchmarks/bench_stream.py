"""Streamed vs in-memory two-model comparison on generated golden sets of 1e5, 1e6 and 1e7 rows.

    .venv/bin/python benchmarks/bench_stream.py [--sizes 1e5,1e6,1e7] [--memory-sizes 1e5,1e6]
                                                [--chunk-rows 262144] [--json OUT]
                                                [--suite-like [--bootstrap 200]]
    .venv/bin/python benchmarks/bench_stream.py --worker generate FILE --n 10000000 --suite-like
    .venv/bin/python benchmarks/bench_stream.py --worker phases FILE --suite-like   # memory per phase

For each size a golden split is generated (in a subprocess) into a temporary Parquet file (deleted afterwards, never
committed): row_id (int64 key, shuffled), click (0/1 from a logistic truth), legacy (float64), new
(float32, a perturbed legacy, as a TF side writes it), and two feature columns the comparison does not
read. Each measurement runs in a fresh subprocess (argument list, no shell) whose peak RSS is
VmHWM (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` beside it; the imports' share is printed apart);
times start after the imports:

- stream: `harness.scale.compare_stream` over the file (auc by DeLong keeps the rows compactly;
  logloss and brier are exact sums);
- memory: what `parity compare` does today: `pandas.read_parquet` of the columns, then
  `harness.stats.compare_scores` on the whole arrays.

``--suite-like`` adds what a suite's metric checks take: a request_id (query groups of 10 rows, scattered
through the file), a weight per request (gamma), a device column (3 values) sliced on, and the metrics
auc (weighted: the paired bootstrap), logloss, brier (weighted exact sums, per slice value) and ndcg@10
(query groups, bootstrap), with ``--bootstrap`` replicates.

Both runs' verdicts and intervals are printed side by side (they must agree); time is also given per
n log2 n so growth can be read against n log n.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRICS = ("auc", "logloss", "brier")
MARGINS_ALL = {"auc": 0.002, "logloss": 0.002, "brier": 0.001, "ndcg@10": 0.005}
MARGINS = MARGINS_ALL
SUITE_METRICS = ("auc", "logloss", "brier", "ndcg@10")
SUITE = {"weight": "weight", "group": "request_id", "slices": ["device"]}


def generate(path: Path, n: int, seed: int = 0, piece: int = 1_000_000, suite_like: bool = False) -> None:
    """Written piece by piece so that generating 1e7 rows needs no 1e7-row frame."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    keys = rng.permutation(n).astype(np.int64)
    group_weight = rng.gamma(2.0, size=n // 10 + 1)
    extra = [("request_id", pa.int64()), ("weight", pa.float64()), ("device", pa.string())] if suite_like else []
    with pq.ParquetWriter(path, pa.schema([("row_id", pa.int64()), ("click", pa.int64()), ("legacy", pa.float64()),
                                           ("new", pa.float32()), ("price", pa.float64()),
                                           ("position", pa.int64()), *extra])) as w:
        for start in range(0, n, piece):
            m = min(piece, n - start)
            z = rng.normal(size=m) - 2.5
            click = (rng.random(m) < 1 / (1 + np.exp(-z))).astype(np.int64)
            legacy = 1 / (1 + np.exp(-(z + rng.normal(scale=0.8, size=m))))
            new = np.clip(legacy * np.exp(rng.normal(scale=0.02, size=m)), 0, 1).astype(np.float32)
            cols = {"row_id": keys[start:start + m], "click": click, "legacy": legacy, "new": new,
                    "price": rng.lognormal(size=m), "position": rng.integers(1, 30, m)}
            if suite_like:
                request = keys[start:start + m] // 10  # groups of 10 keys: rows of a group lie far apart
                cols.update(request_id=request, weight=group_weight[request],
                            device=rng.choice(np.array(["mobile", "desktop", "tablet"]), size=m, p=[0.6, 0.3, 0.1]))
            w.write_table(pa.table(cols), row_group_size=1 << 17)


def _summary(result) -> dict:
    from harness.stats.compare import entry_id

    return {"verdict": str(result.verdict.value),
            "metrics": {entry_id(e.name, e.slice): {"diff": e.diff, "ci": None if e.ci is None else list(e.ci),
                                                    "verdict": e.verdict.value} for e in result.entries}}


def worker(mode: str, path: str, chunk_rows: int, suite_like: bool = False, n_boot: int = 1000) -> None:
    from harness.scale import compare_stream
    from harness.stats.compare import compare_scores

    if mode == "memory":
        import pandas as pd

    rss_imports = _peak_mb()  # the interpreter and libraries
    t0, c0 = time.perf_counter(), time.process_time()
    extra = SUITE if suite_like else {}
    if mode == "stream":
        r = compare_stream(path, label="click", legacy="legacy", new="new", key="row_id", metrics=METRICS,
                           margins=MARGINS, chunk_rows=chunk_rows, n_boot=n_boot, **extra)
    else:
        cols = ["row_id", "click", "legacy", "new"] + ([SUITE["weight"], SUITE["group"], *SUITE["slices"]]
                                                        if suite_like else [])
        f = pd.read_parquet(path, columns=cols)
        kw = (dict(sample_weight=f[SUITE["weight"]].to_numpy(), groups=f[SUITE["group"]].to_numpy(),
                   slices={c: f[c].to_numpy() for c in SUITE["slices"]}) if suite_like else {})
        r = compare_scores(f["click"].to_numpy(), f["legacy"].to_numpy(), f["new"].to_numpy(),
                           keys=f["row_id"].to_numpy(), metrics=METRICS, margins=MARGINS, n_boot=n_boot, **kw)
    out = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rss_imports_mb": rss_imports,
           "peak_rss_mb": _peak_mb(), "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           **_summary(r)}
    print(json.dumps(out))


def phases(path: str, chunk_rows: int, n_boot: int) -> None:
    """The suite-like stream with its memory per phase: VmHWM is reset (``/proc/self/clear_refs``, Linux)
    before sorting the kept rows, building the slices and each metric x slice estimate, and read after;
    the streaming phase's peak is the VmHWM before the first reset. Prints one line per phase."""
    import harness.scale.streamed as streamed
    import harness.stats.compare as cmp
    from harness.scale.accumulators import CompactRows

    def rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise OSError("no VmRSS in /proc/self/status")

    def timed(owner, name, label):
        fn = getattr(owner, name)

        def run(*args, **kwargs):
            what = label(*args)
            before, c0 = rss_mb(), time.process_time()
            if what.startswith("sort"):
                print(f"streaming: peak {_peak_mb():.0f} MB, then {before:.0f} MB", flush=True)
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            try:
                return fn(*args, **kwargs)
            finally:
                print(f"{what}: {before:.0f} MB -> peak {_peak_mb():.0f} MB, after {rss_mb():.0f} MB, "
                      f"{time.process_time() - c0:.2f} s CPU", flush=True)
        setattr(owner, name, run)

    timed(CompactRows, "result", lambda *a: "sort the kept rows by key (CompactRows.result)")
    timed(streamed, "_slices", lambda *a: "slices from the codes")
    timed(cmp, "_estimate", lambda inp, d, rows, *a: f"{d.name} on " + ("all rows" if rows is None else
                                                                         f"{len(rows)} rows"))
    from harness.scale import compare_stream

    compare_stream(path, label="click", legacy="legacy", new="new", key="row_id", metrics=METRICS, margins=MARGINS,
                   chunk_rows=chunk_rows, n_boot=n_boot, **SUITE)


def _peak_mb() -> float:
    """Peak RSS of this process: VmHWM where Linux has it (reset by exec), else ru_maxrss (on Linux a
    child's ru_maxrss starts at its parent's RSS at fork, which is why the files are generated in a
    subprocess of their own)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, path: Path, chunk_rows: int, suite_like: bool = False, n_boot: int = 1000) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, str(path), "--chunk-rows", str(chunk_rows),
                           "--metrics", ",".join(METRICS), "--bootstrap", str(n_boot),
                           *(["--suite-like"] if suite_like else [])],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} worker failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    global METRICS, MARGINS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5,1e6,1e7")
    ap.add_argument("--memory-sizes", default="1e5,1e6", help="sizes also run in memory (1e7 needs several GB)")
    ap.add_argument("--chunk-rows", type=int, default=1 << 18)
    ap.add_argument("--metrics", default=",".join(METRICS),
                    help="auc keeps the rows compactly; logloss,brier alone are exact sums (constant memory)")
    ap.add_argument("--suite-like", action="store_true",
                    help="weights, query groups and a slice, as a suite's metric checks (metrics default to "
                         "auc,logloss,brier,ndcg@10)")
    ap.add_argument("--bootstrap", type=int, default=None, help="bootstrap replicates (default 1000; 200 with "
                    "--suite-like)")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.suite_like and args.metrics == ",".join(METRICS):
        args.metrics = ",".join(SUITE_METRICS)
    n_boot = args.bootstrap or (200 if args.suite_like else 1000)
    METRICS = tuple(m for m in args.metrics.split(",") if m)
    MARGINS = {m: v for m, v in MARGINS_ALL.items() if m in METRICS}
    if args.worker:
        if args.worker[0] == "generate":
            generate(Path(args.worker[1]), args.n, suite_like=args.suite_like)
        elif args.worker[0] == "phases":
            phases(args.worker[1], args.chunk_rows, n_boot)
        else:
            worker(args.worker[0], args.worker[1], args.chunk_rows, args.suite_like, n_boot)
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    in_memory = {int(float(s)) for s in args.memory_sizes.split(",") if s}
    rows = []
    print(f"python {platform.python_version()}, {platform.machine()}, load average {os.getloadavg()[0]:.1f}, "
          f"chunk_rows {args.chunk_rows}, metrics {','.join(METRICS)}"
          + (f", suite-like (weight, groups, slice device), {n_boot} bootstrap replicates" if args.suite_like else ""))
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        for n in sizes:
            path = Path(tmp) / f"golden_{n}.parquet"
            subprocess.run([sys.executable, __file__, "--worker", "generate", str(path), "--n", str(n),
                            *(["--suite-like"] if args.suite_like else [])], check=True)
            row = {"n": n, "file_mb": path.stat().st_size / 2**20,
                   "stream": measure("stream", path, args.chunk_rows, args.suite_like, n_boot)}
            if n in in_memory:
                row["memory"] = measure("memory", path, args.chunk_rows, args.suite_like, n_boot)
            path.unlink()
            rows.append(row)
            s = row["stream"]
            m = row.get("memory")
            nlogn = n * math.log2(n)
            print(f"n={n:>9,}: stream {s['wall_s']:7.2f} s wall {s['cpu_s']:7.2f} s CPU, "
                  f"peak RSS {s['peak_rss_mb']:7.0f} MB, "
                  f"{1e9 * s['cpu_s'] / nlogn:6.2f} ns CPU per n log2 n"
                  + (f" | memory {m['wall_s']:7.2f} s wall {m['cpu_s']:7.2f} s CPU, peak RSS {m['peak_rss_mb']:7.0f} MB"
                     if m else ""))
            for name, e in s["metrics"].items():
                other = f" | in memory {m['metrics'][name]['diff']:+.6e} {m['metrics'][name]['verdict']}" if m else ""
                if e["ci"] is None:
                    print(f"    {name:8s} {e['verdict']}{other}")
                    continue
                print(f"    {name:8s} diff {e['diff']:+.6e} ci [{e['ci'][0]:+.6e}, {e['ci'][1]:+.6e}] "
                      f"{e['verdict']}{other}")
    print(f"peak RSS of the imports alone: {rows[0]['stream']['rss_imports_mb']:.0f} MB")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
