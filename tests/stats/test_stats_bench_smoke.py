"""The statistics benchmark still runs (tiny sizes; the numbers themselves live in BENCHMARKS.md)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_stats.py"


def test_bench_stats_runs_and_writes_json(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_stats_smoke", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.json"
    assert mod.main(["--n", "3000", "--boot", "4", "--loop-resamples", "2", "--repeat", "1",
                     "--metrics", "auc,logloss,ece,mrr", "--scaling", "2000", "--scaling-boot", "2",
                     "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["delong"]["max_abs_auc_diff_vs_sklearn"] < 1e-12
    assert set(res["bootstrap"]) == {"auc", "logloss", "ece", "mrr"}
    assert res["scaling"][0]["n"] == 2000

