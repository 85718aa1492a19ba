"""The Beam runner's overhead: `compare_beam` on the DirectRunner vs `compare_stream` in process, same rows.

    /work/venv-beam/bin/python benchmarks/bench_beam.py [--sizes 1e5,1e6] [--modes stream,beam,beam2] [--json OUT]

Needs a venv with the beam extra (``pip install -e ".[beam,test]"``). The golden split is
`bench_stream.py`'s generator (row_id, click, legacy float64, new float32) in a temporary Parquet file
(deleted afterwards). Each measurement is a fresh child process (argument list, no shell); its wall time
and CPU time (the child's and, for the multi-process runner, its workers') are taken around it, and
the time after the imports is given apart. Modes:

- stream: `harness.scale.compare_stream` (chunks of 262,144 rows; auc keeps the rows compactly);
- beam: `harness.scale.beam.compare_beam` on the DirectRunner, in process (16 score ranges, 16 key buckets);
- beam2: the same with ``--direct_num_workers=2 --direct_running_mode=multi_processing``.

Metrics auc, logloss and brier; every mode's differences and verdicts are printed side by side (they
must agree: AUC bit for bit, the rest within 1e-12).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRICS = ("auc", "logloss", "brier")
MARGINS = {"auc": 0.002, "logloss": 0.002, "brier": 0.001}
MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def worker(mode: str, path: str) -> None:
    from harness.scale import compare_stream
    from harness.scale.beam import compare_beam

    t0, c0 = time.perf_counter(), time.process_time()
    kw = dict(label="click", legacy="legacy", new="new", key="row_id", metrics=METRICS, margins=MARGINS)
    if mode == "stream":
        r = compare_stream(path, chunk_rows=1 << 18, **kw)
    else:
        r = compare_beam(path, pipeline_options=MULTI if mode == "beam2" else None, **kw)
    print(json.dumps({"run_wall_s": time.perf_counter() - t0, "run_cpu_s": time.process_time() - c0,
                      "verdict": r.verdict.value,
                      "metrics": {e.name: {"legacy": e.legacy, "new": e.new, "diff": e.diff, "ci": list(e.ci),
                                           "verdict": e.verdict.value} for e in r.entries}}))


def measure(mode: str, path: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", mode, str(path)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} worker failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(wall_s=wall, cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5,1e6")
    ap.add_argument("--modes", default="stream,beam,beam2")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    import apache_beam

    modes = [m for m in args.modes.split(",") if m]
    print(f"python {platform.python_version()}, apache-beam {apache_beam.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_beam_") as tmp:
        for n in [int(float(s)) for s in args.sizes.split(",")]:
            path = Path(tmp) / f"golden_{n}.parquet"
            subprocess.run([sys.executable, str(HERE / "bench_stream.py"), "--worker", "generate", str(path), "--n",
                            str(n)], check=True)
            row = {"n": n, "load": os.getloadavg()[0], **{m: measure(m, path) for m in modes}}
            path.unlink()
            rows.append(row)
            base = row[modes[0]]
            for m in modes:
                r = row[m]
                print(f"n={n:>9,} {m:7s} {r['wall_s']:8.1f} s wall {r['cpu_s']:8.1f} s CPU "
                      f"(after imports {r['run_wall_s']:7.1f} s wall)  "
                      f"x{r['wall_s'] / base['wall_s']:5.1f} wall x{r['cpu_s'] / base['cpu_s']:5.1f} CPU vs {modes[0]}",
                      flush=True)
            for name in METRICS:
                cells = "  ".join(f"{m} {row[m]['metrics'][name]['diff']:+.12e} {row[m]['metrics'][name]['verdict']}"
                                  for m in modes)
                print(f"    {name:8s} {cells}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
