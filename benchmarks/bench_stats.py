"""Benchmark of the statistics core against scikit-learn, in the same run (ratios, not absolute times).

    .venv/bin/python benchmarks/bench_stats.py [--n 1000000] [--boot 1000] [--loop-resamples 50]
                                               [--scaling 1e5,1e6,1e7] [--json OUT]

(a) delong_paired (AUCs + difference + interval) vs two calls of sklearn roc_auc_score, and the point
    AUCs' agreement with scikit-learn;
(b) paired_bootstrap (the Poisson bootstrap, the only scheme) with --boot replicates (--metrics),
    keyed by row as suite runs and `parity compare --key` key it (ranking metrics by query group), vs a Python loop
    of scikit-learn calls over resamples (ranking metrics: query groups resampled on both sides) (the loop is timed on --loop-resamples resamples and extrapolated linearly to --boot:
    its cost per resample is constant), and tracemalloc's peak for the bootstrap, to compare with the
    n x B matrix it never builds;
(c) scaling of delong_paired and of one bootstrap replicate over the --scaling sizes.

The engine (numba, or numpy when numba is missing or PARITY_NUMBA=0) is printed with the versions.
The naive loop is the textbook bootstrap: draw n indices with replacement, gather, call.

Data: n rows, ~3 % positives, two correlated probability scores (CTR-like). Every timing is the
process CPU time (see `clock`), the minimum over --repeat runs where repeated.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.stats._poisson import engine as poisson_engine  # noqa: E402
from harness.stats.bootstrap import paired_bootstrap  # noqa: E402
from harness.stats.delong import delong_paired  # noqa: E402


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.03).astype(np.int64)
    z = rng.normal(size=n) + 1.5 * y
    a = 1.0 / (1.0 + np.exp(-(z + rng.normal(scale=0.4, size=n) - 4.0)))
    b = 1.0 / (1.0 + np.exp(-(z + rng.normal(scale=0.4, size=n) - 4.0)))
    return y, a, b


# Process CPU time, not wall time: on a shared machine other jobs stretch wall time unevenly between
# the phases being compared, while the CPU time a single-threaded computation needs barely moves.
# (Everything timed here is single-threaded numpy / scikit-learn code.)
clock = time.process_time


def best_time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def bench_delong(y, a, b, repeat):
    from sklearn.metrics import roc_auc_score

    # interleaved, so a burst of background load hits both sides alike
    t_sk = t_dl = math.inf
    for _ in range(repeat):
        t_sk = min(t_sk, best_time(lambda: (roc_auc_score(y, a), roc_auc_score(y, b)), 1))
        t_dl = min(t_dl, best_time(lambda: delong_paired(y, a, b), 1))
    r = delong_paired(y, a, b)
    err = max(abs(r.auc_a - roc_auc_score(y, a)), abs(r.auc_b - roc_auc_score(y, b)))
    return {"clock": "process_time", "sklearn_2_calls_s": t_sk, "delong_paired_s": t_dl, "ratio_delong_over_sklearn": t_dl / t_sk,
            "max_abs_auc_diff_vs_sklearn": err}


def baselines():
    """What a straightforward loop would call per resample: scikit-learn where it has the metric."""
    import sklearn.metrics as skm
    from sklearn.linear_model import LogisticRegression

    from harness.stats.metrics import ece

    def slope(y, p):
        x = np.log(p / (1 - p)).reshape(-1, 1)
        return LogisticRegression(C=np.inf, solver="newton-cholesky").fit(x, y).coef_[0, 0]

    def intercept(y, p):
        x = np.log(p / (1 - p)).reshape(-1, 1)
        return LogisticRegression(C=np.inf, solver="newton-cholesky").fit(x, y).intercept_[0]

    def ratio(y, p):  # scikit-learn has none; what a loop would write: sum(p) / sum(y)
        return np.sum(p) / np.sum(y)

    def ndcg10(y2, s2):  # per-query matrices (queries x items): one scikit-learn call per resample
        # The bench's scores are continuous (no ties), so scikit-learn's fast path (ignore_ties=True)
        # gives the same values as the harness's tie-aware NDCG: the fairest baseline.
        return skm.ndcg_score(y2, s2, k=10, ignore_ties=True)

    return {
        "auc": skm.roc_auc_score, "pr_auc": skm.average_precision_score, "logloss": skm.log_loss,
        "brier": skm.brier_score_loss, "rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error,
        "calibration_slope": slope, "calibration_intercept": intercept, "calibration_ratio": ratio,
        "ece": ece,  # scikit-learn has no ECE: the baseline is harness.stats.metrics.ece per resample
        "ndcg@10": ndcg10,
        "mrr": None,  # scikit-learn has no MRR: the baseline is harness.stats.metrics's mrr per resample
    }


RANKING = ("ndcg@10", "mrr")
GROUP_SIZE = 20


def make_ranking_data(n: int, seed: int = 0):
    """n rows in n / GROUP_SIZE queries of GROUP_SIZE items (ads per request), ~5 % clicked."""
    rng = np.random.default_rng(seed)
    q = n // GROUP_SIZE
    rel = (rng.random((q, GROUP_SIZE)) < 0.05).astype(np.int64)
    z = rng.normal(size=(q, GROUP_SIZE)) + 1.5 * rel
    a = z + rng.normal(scale=0.4, size=z.shape)
    b = z + rng.normal(scale=0.4, size=z.shape)
    return rel, a, b


def key_args(n: int, ranking: bool = False) -> dict:
    """paired_bootstrap's key arguments: Poisson weights keyed by row (ranking: by group, no keys)."""
    return {} if ranking else {"keys": np.arange(n)}


def bench_ranking(name, n, n_boot, loop_resamples, repeat):
    from harness.stats.metrics import get_metric

    rel, a, b = make_ranking_data(n)
    q = rel.shape[0]
    groups = np.repeat(np.arange(q), GROUP_SIZE)
    flat = (rel.reshape(-1), a.reshape(-1), b.reshape(-1))
    kw = key_args(n, ranking=True)
    first = best_time(lambda: paired_bootstrap(name, *flat, groups=groups, n_boot=2, seed=0, **kw), 1)
    t_ours = best_time(lambda: paired_bootstrap(name, *flat, groups=groups, n_boot=n_boot, seed=0, **kw), repeat)
    if name == "ndcg@10":
        fn = baselines()[name]
    else:
        mrr = get_metric("mrr").fn
        fn = None

    def loop():
        rng = np.random.default_rng(1)
        for _ in range(loop_resamples):
            i = rng.integers(0, q, q)  # resample whole queries
            if fn is not None:
                fn(rel[i], b[i]) - fn(rel[i], a[i])
            else:
                g = np.repeat(np.arange(q), GROUP_SIZE)
                mrr(rel[i].reshape(-1), b[i].reshape(-1), g) - mrr(rel[i].reshape(-1), a[i].reshape(-1), g)

    t_loop = best_time(loop, 1) * n_boot / loop_resamples
    tracemalloc.start()
    paired_bootstrap(name, *flat, groups=groups, n_boot=min(n_boot, 20), seed=0, **kw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ours_s": t_ours, "sklearn_loop_extrapolated_s": t_loop, "speedup": t_loop / t_ours,
            "peak_mb": peak / 1e6, "n_x_B_matrix_mb": n * n_boot * 8 / 1e6, "queries": q, "first_call_s": first}


def bench_bootstrap(y, a, b, n_boot, loop_resamples, repeat, metrics=("auc", "logloss")):
    base = baselines()
    n = y.shape[0]
    kw = key_args(n)
    out = {}
    for name in metrics:
        if name in RANKING:
            out[name] = bench_ranking(name, n, n_boot, loop_resamples, repeat)
            continue
        fn = base[name]
        # The first call in a process also compiles (or loads from numba's cache) the compiled engine's
        # loops: timed on its own, outside the replicates' time.
        first = best_time(lambda: paired_bootstrap(name, y, a, b, n_boot=2, seed=0, **kw), 1)
        t_ours = best_time(lambda: paired_bootstrap(name, y, a, b, n_boot=n_boot, seed=0, **kw), repeat)

        def loop():
            rng = np.random.default_rng(1)
            for _ in range(loop_resamples):
                i = rng.integers(0, n, n)
                yi = y[i]
                fn(yi, b[i]) - fn(yi, a[i])

        t_loop = best_time(loop, 1) * n_boot / loop_resamples  # already an average over resamples
        tracemalloc.start()
        paired_bootstrap(name, y, a, b, n_boot=min(n_boot, 20), seed=0, **kw)  # peak does not grow with B
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {"ours_s": t_ours, "sklearn_loop_extrapolated_s": t_loop, "speedup": t_loop / t_ours,
                     "peak_mb": peak / 1e6, "n_x_B_matrix_mb": n * n_boot * 8 / 1e6, "first_call_s": first}
    return out


def bench_scaling(sizes, boot, repeat):
    rows = []
    for n in sizes:
        y, a, b = make_data(n, seed=2)
        kw = key_args(n)
        t_dl = best_time(lambda: delong_paired(y, a, b), repeat if n <= 1_000_000 else 1)
        row = {"n": n, "delong_s": t_dl, "delong_ns_per_nlogn": t_dl / (n * math.log2(n)) * 1e9}
        reps = repeat if n <= 1_000_000 else 1
        for name in ("auc", "logloss"):
            # marginal cost of a replicate = (T(2B) - T(B)) / B; the rest of T(B) is the one-off setup.
            # A first call outside the timing loads the compiled engine.
            paired_bootstrap(name, y, a, b, n_boot=2, seed=0, **kw)
            t1 = best_time(lambda: paired_bootstrap(name, y, a, b, n_boot=boot, seed=0, **kw), reps)
            t2 = best_time(lambda: paired_bootstrap(name, y, a, b, n_boot=2 * boot, seed=0, **kw), reps)
            per = max(t2 - t1, 0.0) / boot
            row[f"bootstrap_{name}_s_per_replicate"] = per
            row[f"bootstrap_{name}_setup_s"] = max(t1 - boot * per, 0.0)
        rows.append(row)
        del y, a, b
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=float, default=1e6)
    p.add_argument("--boot", type=int, default=1000)
    p.add_argument("--loop-resamples", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--metrics", default="auc,logloss", help="metrics for (b): " + ", ".join(
        ["auc", "pr_auc", "logloss", "brier", "rmse", "mae", "ece", "calibration_slope", "calibration_intercept",
         "calibration_ratio", "ndcg@10", "mrr"]) + f" (ranking: n rows in queries of {GROUP_SIZE} items)")
    p.add_argument("--skip-delong", action="store_true")
    p.add_argument("--scaling", default="1e5,1e6,1e7", help="comma-separated sizes; empty to skip")
    p.add_argument("--scaling-boot", type=int, default=32, help="replicates B in (c): timed at B and 2B")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    n = int(args.n)

    import numpy, scipy, sklearn  # noqa: E401 - versions for the record

    env = {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
           "sklearn": sklearn.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_avg_at_start": os.getloadavg(), "engine": poisson_engine(),
           "numba": importlib.metadata.version("numba") if poisson_engine() == "numba" else None}
    print(f"# bench_stats: n={n:,}, boot={args.boot}, loop_resamples={args.loop_resamples}, {env}")
    y, a, b = make_data(n)
    res = {"env": env, "n": n, "positives": int(y.sum())}
    if not args.skip_delong:
        res["delong"] = bench_delong(y, a, b, args.repeat)
        d = res["delong"]
        print(f"(a) delong_paired {d['delong_paired_s']:.3f}s vs 2x roc_auc_score {d['sklearn_2_calls_s']:.3f}s "
              f"-> ratio {d['ratio_delong_over_sklearn']:.2f}; max |AUC - sklearn| = {d['max_abs_auc_diff_vs_sklearn']:.1e}",
              flush=True)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    res["bootstrap"] = (bench_bootstrap(y, a, b, args.boot, args.loop_resamples, args.repeat, metrics)
                        if metrics else {})
    for name, r in res["bootstrap"].items():
        print(f"(b) {name}: paired_bootstrap {args.boot} reps {r['ours_s']:.1f}s vs sklearn loop "
              f"{r['sklearn_loop_extrapolated_s']:.1f}s (extrapolated from {args.loop_resamples}) -> "
              f"{r['speedup']:.1f}x; peak {r['peak_mb']:.0f} MB vs n x B matrix {r['n_x_B_matrix_mb']:.0f} MB; "
              f"first call (2 replicates) {r['first_call_s']:.2f}s", flush=True)
    del y, a, b
    sizes = [int(float(s)) for s in args.scaling.split(",") if s.strip()]
    res["scaling"] = bench_scaling(sizes, args.scaling_boot, args.repeat)
    for r in res["scaling"]:
        print(f"(c) n={r['n']:>10,}: delong {r['delong_s']:.3f}s ({r['delong_ns_per_nlogn']:.2f} ns per n log2 n); "
              f"bootstrap per replicate: auc {r['bootstrap_auc_s_per_replicate'] * 1e3:.1f} ms "
              f"(setup {r['bootstrap_auc_setup_s']:.2f}s), logloss {r['bootstrap_logloss_s_per_replicate'] * 1e3:.1f} ms "
              f"(setup {r['bootstrap_logloss_setup_s']:.2f}s)", flush=True)
    res["load_avg_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
