"""`parity compare` vs TensorFlow Model Analysis's two-model evaluation on the same generated rows.

    .venv/bin/python benchmarks/bench_tfma.py [--n 1e6] [--tfma-python /tmp/tfma-venv/bin/python]
                                              [--tfma-ci] [--json OUT]

TFMA does not share an environment with this project's pins, so it runs in a venv of its own:

    python3 -m venv /tmp/tfma-venv && /tmp/tfma-venv/bin/pip install "tensorflow-model-analysis==0.52.*" "pandas<3"

The golden split is `bench_stream.py`'s generator (row_id, click, legacy float64, new float32), written
to a temporary Parquet file (deleted afterwards). Each tool runs in a child process started with an
argument list (no shell), one after the other in this session; wall time, CPU time and peak RSS are the
child's own (``RUSAGE_CHILDREN`` around it), imports included, and the time after the imports is given apart:

- parity: ``parity compare FILE --label click --legacy legacy --new new --key row_id
  --metrics auc --margin auc=0.002 --json OUT`` (DeLong, exact AUC, with its interval and verdict);
- TFMA: ``tfma.analyze_raw_data`` on the same three columns with two model specs (``new``, and
  ``legacy`` as the baseline), metric AUC (TFMA's default: 10,000 thresholds), so TFMA reports both
  AUCs and ``auc_diff``; no confidence interval unless ``--tfma-ci`` (TFMA's own resampling, slower).

Both tools' AUCs and differences are printed side by side with the exact values.
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


def _run(cmd: list[str], env: dict | None = None) -> dict:
    """Wall and CPU time of one child (argument list, no shell): CPU from RUSAGE_CHILDREN around it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rc": proc.returncode, "wall_s": wall, "cpu_s": cpu, "stdout": proc.stdout, "stderr": proc.stderr}


def tfma_worker(path: str, out: str, with_ci: bool) -> None:
    """Runs in the TFMA venv: imports only TFMA's own stack."""
    t0, c0 = time.perf_counter(), time.process_time()
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from google.protobuf import wrappers_pb2
    from tensorflow_model_analysis.proto import config_pb2 as cfg

    t_import = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    df = pd.read_parquet(path, columns=["click", "legacy", "new"])
    config = cfg.EvalConfig(
        model_specs=[cfg.ModelSpec(name="new", label_key="click", prediction_key="new"),
                     cfg.ModelSpec(name="legacy", label_key="click", prediction_key="legacy", is_baseline=True)],
        metrics_specs=[cfg.MetricsSpec(metrics=[cfg.MetricConfig(class_name="AUC"),
                                                cfg.MetricConfig(class_name="ExampleCount")])],
        slicing_specs=[cfg.SlicingSpec()],
        options=cfg.Options(compute_confidence_intervals=wrappers_pb2.BoolValue(value=with_ci)))
    with tempfile.TemporaryDirectory(prefix="bench_tfma_") as tmp:
        tfma.analyze_raw_data(df, config, output_path=tmp)
        t_run, c_run = time.perf_counter() - t1, time.process_time() - c1
        metrics = {}
        for model in ("new", "legacy"):
            ((_, by_output),) = tfma.load_eval_result(tmp, model_name=model).slicing_metrics
            metrics[model] = by_output[""][""]
    peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    Path(out).write_text(json.dumps({"import_s": t_import, "run_wall_s": t_run, "run_cpu_s": c_run,
                                     "process_cpu_s": time.process_time() - c0, "peak_rss_mb": peak,
                                     "tfma_version": tfma.__version__, "metrics": metrics}, default=str))


def _value(m: dict, name: str):
    v = m.get(name)
    if v is None:
        return None, None
    if "boundedValue" in v:
        b = v["boundedValue"]
        return float(b["value"]), (float(b["lowerBound"]), float(b["upperBound"]))
    return float(v["doubleValue"]), None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1e6")
    ap.add_argument("--tfma-python", default="/tmp/tfma-venv/bin/python")
    ap.add_argument("--tfma-ci", action="store_true", help="TFMA computes confidence intervals too")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--tfma-worker", nargs=2, metavar=("PATH", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tfma_worker:
        tfma_worker(*args.tfma_worker, args.tfma_ci)
        return 0
    n = int(float(args.n))
    if not Path(args.tfma_python).exists():
        raise SystemExit(f"--tfma-python {args.tfma_python}: not found; create the TFMA venv (module docstring)")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, n={n:,}")
    row: dict = {"n": n, "load_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench_tfma_") as tmp:
        path = Path(tmp) / "golden.parquet"
        subprocess.run([sys.executable, str(HERE / "bench_stream.py"), "--worker", "generate", str(path), "--n",
                        str(n)], check=True)
        parity_json = Path(tmp) / "parity.json"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        parity = [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]
        p = _run([*parity, "compare", str(path), "--label", "click", "--legacy", "legacy", "--new", "new",
                  "--key", "row_id", "--metrics", "auc", "--margin", "auc=0.002", "--json", str(parity_json)], env=env)
        if p["rc"] not in (0, 1) or not parity_json.exists():
            raise SystemExit(f"parity compare failed (exit {p['rc']}):\n{p['stderr'][-3000:]}")
        (entry,) = json.loads(parity_json.read_text())["metrics"]
        row["parity"] = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "legacy": entry["legacy"], "new": entry["new"],
                         "diff": entry["diff"], "ci": entry["ci"], "verdict": entry["verdict"]}
        print(f"parity compare: {p['wall_s']:8.1f} s wall {p['cpu_s']:8.1f} s CPU (imports included)", flush=True)
        tfma_json = Path(tmp) / "tfma.json"
        t = _run([args.tfma_python, str(Path(__file__).resolve()), "--tfma-worker", str(path), str(tfma_json),
                  *(["--tfma-ci"] if args.tfma_ci else [])], env=env)
        if t["rc"] != 0:
            raise SystemExit(f"TFMA worker failed (exit {t['rc']}):\n{t['stderr'][-3000:]}")
        w = json.loads(tfma_json.read_text())
        new, new_ci = _value(w["metrics"]["new"], "auc")
        legacy, legacy_ci = _value(w["metrics"]["legacy"], "auc")
        diff, diff_ci = _value(w["metrics"]["new"], "auc_diff")
        row["tfma"] = {"wall_s": t["wall_s"], "cpu_s": t["cpu_s"], "import_s": w["import_s"],
                       "run_wall_s": w["run_wall_s"], "run_cpu_s": w["run_cpu_s"], "peak_rss_mb": w["peak_rss_mb"],
                       "version": w["tfma_version"], "legacy": legacy, "new": new, "diff": diff,
                       "ci": {"legacy": legacy_ci, "new": new_ci, "diff": diff_ci}, "with_ci": bool(args.tfma_ci)}
        print(f"TFMA {w['tfma_version']}:  {t['wall_s']:8.1f} s wall {t['cpu_s']:8.1f} s CPU (imports included; "
              f"after imports {w['run_wall_s']:.1f} s wall, {w['run_cpu_s']:.1f} s CPU in its own process; "
              f"peak RSS {w['peak_rss_mb']:.0f} MB)")
    row["load_end"] = os.getloadavg()[0]
    pr, tf = row["parity"], row["tfma"]
    print(f"ratio TFMA / parity: {tf['wall_s'] / pr['wall_s']:.0f}x wall, {tf['cpu_s'] / pr['cpu_s']:.0f}x CPU")
    print(f"{'':8s} {'AUC legacy':>14s} {'AUC new':>14s} {'diff':>14s}")
    print(f"{'parity':8s} {pr['legacy']:14.10f} {pr['new']:14.10f} {pr['diff']:+14.6e}  CI {pr['ci']} {pr['verdict']}")
    print(f"{'TFMA':8s} {tf['legacy']:14.10f} {tf['new']:14.10f} {tf['diff']:+14.6e}"
          + (f"  CI {tf['ci']['diff']}" if tf["ci"]["diff"] else "  (no interval)"))
    print(f"TFMA - exact: legacy {tf['legacy'] - pr['legacy']:+.3e}, new {tf['new'] - pr['new']:+.3e}, "
          f"diff {tf['diff'] - pr['diff']:+.3e}")
    print(f"load average {row['load_start']:.1f} at the start, {row['load_end']:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
