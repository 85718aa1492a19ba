"""The calibration ratio's Poisson pass on `ctr_logreg`-shaped rows, against its floor: generating the weights.

    .venv/bin/python benchmarks/bench_poisson_pass.py [--rows 74743] [--batches 128,256,512] [--repeats 5]

`harness.stats._poisson_numba.sums_parts` over all rows and three disjoint slices in one pass, with the
calibration ratio's two columns (the numerator new - legacy, dense; the denominator, the 0/1 label at a
4 % rate), timed per 1000 replicates at several batch sizes; beside it, in the same run, a loop that only
generates the same weights (the compiled engine's own `_row_weights`, every row, every replicate) and
folds one of them per row into a counter so nothing is optimized away. Their ratio says how much of the
pass is the weights, which the engines' contract fixes (module docstring of `harness.stats._poisson`).
Minimum of ``--repeats`` runs each. Needs numba.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=74_743)
    p.add_argument("--batches", default="128,256,512")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    import numba

    from harness.stats import _poisson as P
    from harness.stats import _poisson_numba as K

    @numba.njit(nogil=True)
    def weights_only(lo, hi, steps, acc):
        kb = np.empty(steps.shape[0], np.int32)
        for i in range(lo.shape[0]):
            K._row_weights(lo[i], hi[i], steps, kb)
            acc[0] += kb[i % steps.shape[0]]

    rng = np.random.default_rng(0)
    n = args.rows
    lo, hi = P.split(rng.integers(0, 2**63, n, dtype=np.uint64))
    cols = np.ascontiguousarray(np.vstack([rng.normal(0, 1e-3, n), (rng.random(n) < 0.04).astype(float)]))
    seg = rng.integers(0, 3, n).astype(np.int64)
    counter = np.zeros(1, np.int64)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    print(f"# {n:,} rows, 2 columns, all rows + 3 slices; engine {P.engine()}; ms per 1000 replicates, min of "
          f"{args.repeats}")
    for b in (int(x) for x in args.batches.split(",")):
        steps = P.steps(0, b)
        acc_all, acc = np.zeros((2, b)), np.zeros((3, 2, b))
        full = best(lambda: K.sums_parts(lo, hi, steps, cols, seg, True, acc_all, acc)) * 1e6 / b
        weights = best(lambda: weights_only(lo, hi, steps, counter)) * 1e6 / b
        print(f"batch {b:5d}: sums_parts {full:6.1f} ms, weights alone {weights:6.1f} ms, "
              f"weights / pass {weights / full:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
