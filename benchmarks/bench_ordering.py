"""The harness's own sort orders against the numpy and scipy calls they replace, same inputs, same run.

    .venv/bin/python benchmarks/bench_ordering.py [--n 75000,1275239] [--repeats 7] [--json OUT]

Each pair computes the same result (checked here with np.array_equal or ==, as the tests do):
- `harness.stats.ordering.stable_argsort(x)` vs `np.argsort(x, kind="stable")` (continuous scores, and
  scores rounded to 3 decimals: many ties, where it hands over to numpy's own sort);
- `average_ranks` vs `scipy.stats.rankdata`; `spearman_rho` vs `scipy.stats.spearmanr(...).statistic`;
- `harness.stats._validation.group_codes` vs `np.unique(ids, return_inverse=True)` on query-group ids as
  a golden set holds them (wide int64 ids, each group's rows together) and shuffled;
- `harness.stats.metrics._group_score_order` vs `np.lexsort((-score, codes))`.
Times are the minimum over ``--repeats`` calls (process CPU and wall); the ratio is the alternative's
time over the harness's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best(fn, repeats: int) -> tuple[float, float, object]:
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.shape == np.asarray(b).shape and bool(np.array_equal(a, b))
    return a == b


def cases(n: int, rng: np.random.Generator):
    from scipy.stats import rankdata, spearmanr

    from harness.stats._validation import group_codes
    from harness.stats.metrics import _group_score_order
    from harness.stats.ordering import average_ranks, spearman_rho, stable_argsort

    s = rng.random(n)
    tied = np.round(s, 3)
    other = s + rng.normal(scale=0.05, size=n)
    groups = np.repeat(rng.choice(10**12, n // 9 + 1, replace=False), 9)[:n]  # wide ids, rows together
    shuffled = rng.permutation(groups)
    codes = group_codes(groups, n)[0]
    unique = lambda g: (lambda u, c: (c.reshape(-1).astype(np.int64), u))(*np.unique(g, return_inverse=True))  # noqa: E731
    return [
        ("stable argsort, continuous scores", lambda: stable_argsort(s), lambda: np.argsort(s, kind="stable"),
         "np.argsort(kind='stable')"),
        ("stable argsort, 3-decimal scores", lambda: stable_argsort(tied), lambda: np.argsort(tied, kind="stable"),
         "np.argsort(kind='stable')"),
        ("average ranks", lambda: average_ranks(s), lambda: rankdata(s), "scipy.stats.rankdata"),
        ("Spearman rho", lambda: spearman_rho(s, other), lambda: float(spearmanr(s, other).statistic),
         "scipy.stats.spearmanr"),
        ("group codes, grouped wide ids", lambda: group_codes(groups, n), lambda: unique(groups), "np.unique"),
        ("group codes, shuffled wide ids", lambda: group_codes(shuffled, n), lambda: unique(shuffled), "np.unique"),
        ("order by group, then score descending", lambda: _group_score_order(codes, s, int(codes.max()) + 1),
         lambda: np.lexsort((-s, codes)), "np.lexsort"),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="75000,1275239", help="comma-separated row counts")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    env = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
           "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    print(f"# bench_ordering: {env}", flush=True)
    rows = []
    for n in (int(float(v)) for v in args.n.split(",")):
        rng = np.random.default_rng(args.seed)
        for name, ours, theirs, alternative in cases(n, rng):
            w1, c1, r1 = best(ours, args.repeats)
            w2, c2, r2 = best(theirs, args.repeats)
            if not same(r1, r2):
                raise SystemExit(f"{name} at n={n}: the harness's result differs from {alternative}'s")
            rows.append({"n": n, "case": name, "alternative": alternative, "harness_cpu_ms": c1 * 1e3,
                         "alternative_cpu_ms": c2 * 1e3, "ratio_cpu": c2 / c1, "harness_wall_ms": w1 * 1e3,
                         "alternative_wall_ms": w2 * 1e3, "ratio_wall": w2 / w1})
            print(f"n={n:>9,}  {name:40s} harness {c1 * 1e3:8.1f} ms CPU   {alternative:27s} {c2 * 1e3:8.1f} ms CPU"
                  f"   ratio {c2 / c1:5.2f}x (wall {w2 / w1:5.2f}x)", flush=True)
    env["load_avg_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps({"env": env, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
