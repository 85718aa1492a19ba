"""The Poisson bootstrap's weights and the per-replicate sums the metrics need, in one pass over rows.

Weights. Unit i (a row, or a query group) has a 64-bit `base_i`, a hash of (seed, unit key)
(`harness.stats.bootstrap._seed_base`); lo_i and hi_i are its low and high 32 bits. Its weight in
replicate b is, in 32-bit unsigned arithmetic,
    x = mix32(((lo_i + (b + 1) * 0x9E3779B9) mod 2**32) XOR hi_i),
    k = #{j : x >= T_j},  T_j = ceil(P(X <= j) * 2**32) for the j = 0..11 where T_j < 2**32,
with X ~ Poisson(1) and mix32 Wellons' "lowbias32" (x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
x *= 0x846ca68b; x ^= x >> 16), a bijection of 32-bit words with low bias. So k is the inverse CDF of
Poisson(1) on the uniform x / 2**32: exactly Poisson(1) with its CDF rounded up to a multiple of
2**-32 (the mass above 12, 6e-11, is put on 12), and a pure function of (seed, key, b): any row
order, chunking or worker split gives the same weights, which is what streaming and distributed
runs need. For a given unit, replicates 0..2**32-1 walk a Weyl sequence, so they never repeat.
Why 32 bits: the compiled loops generate 8 weights per vector instruction (AVX2 has 32-bit but no
64-bit multiplies), which made a weight about 4x cheaper than a 64-bit SplitMix64 output; the
statistics cannot tell 2**-32 from exact.

Two engines compute the same numbers from the weights: numpy (always there) and compiled loops
(`_poisson_numba`, when numba is importable and PARITY_NUMBA is not 0), which generate a row's
weights for a batch of replicates in registers and fold them into the sums straight away, so
nothing of size n x replicates is ever stored and each row is read once per batch. The order of
every floating-point addition is part of the contract below (addition is not associative), so the
engines agree bit for bit (tested) and a report does not depend on whether numba is installed.

Contract (every "running sum" starts at +0.0 and adds its terms one at a time, in row order; w_i is
the sample weight, 1 when there is none, and a row's term is float(k_i) * w_i times its value):
- `sums`: per replicate and column c, the running sum over rows of float(k_i) * col_c[i].
- `auc_sweep` (rows sorted by score, ascending): running sums CP (of k_i w_i over positives) and
  CN (over negatives); for each run of equal scores that holds a positive, with CP_s, CN_s the
  running sums before its first row and CP_e, CN_e after its last, the term
  (CP_e - CP_s) * (CN_s + 0.5 * (CN_e - CN_s)) goes into a running sum U. AUC = U / (CP * CN).
- `ap_sweep` (rows sorted by score, descending): running sums TP, FP the same way; each run that
  holds a positive adds (TP_e - TP_s) * (TP_e / (TP_e + FP_e)) to a running sum A when
  TP_e - TP_s > 0. AP = A / TP.
- `ece_sweep` (rows sorted by probability, ascending; bins as `harness.stats.metrics.ece`): the
  running weight W; target j (j = 1..n_bins-1) is total * j / n_bins (total: `sums` of the
  weights in input order); the first row where W >= target j closes a bin at the end of its run of
  equal probabilities, and the last row closes the last one; the running sum G of k_i w_i (p_i - y_i)
  gives each bin's gap as G at its last row minus G at the previous bin's; the running sum of the
  gaps' absolute values, over total, is the ECE.
- `logistic_sums` (a calibration fit's Newton pass over one replicate's drawn rows, no weights
  generated): at (a, b), mu_i = 1 / (1 + exp(-(x_i * b + a))) (scipy's expit), m_i = w_i * mu_i,
  q_i = m_i * mu_i, and six running sums of m, m x, q, q x, m (x x), q (x x), each product rounded
  on its own (no fused multiply-add).
"""
from __future__ import annotations

import importlib
import math
import os
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import expit

_STEP = 0x9E3779B9  # 2**32 / golden ratio: the Weyl increment between replicates
_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)

# SplitMix64 (Steele, Lea & Flood 2014), which hashes (seed, unit key) into base_i
# (`harness.stats.bootstrap._seed_base`): output t of the stream seeded with s is _mix64(s + t * gamma).
_GAMMA_INT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_GAMMA = np.uint64(_GAMMA_INT)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function; wraps modulo 2**64 on purpose."""
    z = (z ^ (z >> np.uint64(30))) * _SM_M1
    z = (z ^ (z >> np.uint64(27))) * _SM_M2
    return z ^ (z >> np.uint64(31))


def _thresholds() -> np.ndarray:
    """T_j = ceil(P(X <= j) * 2**32), X ~ Poisson(1), for every j where that is below 2**32."""
    k, term, acc, out = 0, math.exp(-1.0), 0.0, []
    while True:
        acc += term
        t = math.ceil(acc * 2.0**32)
        if t >= 2**32:
            break
        out.append(t)
        k += 1
        term /= k
    return np.array(out, dtype=np.uint32)


THRESHOLDS = _thresholds()


def split(base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): the low and high 32 bits of each unit's 64-bit base."""
    base = np.asarray(base, dtype=np.uint64)
    return (base & np.uint64(0xFFFFFFFF)).astype(np.uint32), (base >> np.uint64(32)).astype(np.uint32)


def steps(lo: int, hi: int) -> np.ndarray:
    """(b + 1) * 0x9E3779B9 mod 2**32 for replicates b = lo..hi-1 (uint32)."""
    b = np.arange(lo + 1, hi + 1, dtype=np.uint64)
    return ((b * np.uint64(_STEP)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def mix32(x: np.ndarray) -> np.ndarray:
    """lowbias32, in place on a uint32 array (wraps modulo 2**32 on purpose)."""
    x ^= x >> np.uint32(16)
    x *= _M1
    x ^= x >> np.uint32(15)
    x *= _M2
    x ^= x >> np.uint32(16)
    return x


def counts(lo: np.ndarray, hi: np.ndarray, b: int) -> np.ndarray:
    """Replicate b's weights (int32), one per unit (numpy engine)."""
    x = lo + steps(b, b + 1)[0]
    x ^= hi
    x = mix32(x)
    # Two comparisons settle 92 % of units; only the rest go through searchsorted (same result).
    k = (x >= THRESHOLDS[0]).astype(np.int32)
    k += x >= THRESHOLDS[1]
    tail = np.flatnonzero(x >= THRESHOLDS[2])
    k[tail] = np.searchsorted(THRESHOLDS, x[tail], side="right")
    return k


def _running(x: np.ndarray) -> np.ndarray:
    """[0, x0, x0 + x1, ...]: running sums from +0.0, one addition at a time (cumsum is sequential
    by definition; the leading +0.0 makes even the sign of a zero sum agree with the loops)."""
    out = np.empty(x.shape[0] + 1)
    out[0] = 0.0
    out[1:] = x
    return np.cumsum(out, out=out)


# ----------------------------------------------------------------------------------------------
# engine choice
# ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _kernels() -> Any:
    """The compiled loops, or None when numba is missing, broken (e.g. older than the installed
    numpy) or disabled with PARITY_NUMBA=0."""
    if os.environ.get("PARITY_NUMBA", "").strip().lower() in ("0", "off", "false", "no"):
        return None
    try:
        return importlib.import_module("harness.stats._poisson_numba")
    except Exception:  # numba raises ImportError, or others, when it does not support this numpy
        return None


_WARMING: list[Any] = []  # the warm-up thread, once per process


def warm_up() -> None:
    """Load the compiled engine on a background thread, once per process: numba's import and the set-up
    at its first cached loop take ~0.8 s of CPU, which a suite run then spends while it loads its data,
    builds its sides and scores (`harness.runner`), on a core the scoring leaves idle, rather than after
    scoring. Nothing depends on it having finished: a loop called earlier waits for numba's own locks.
    Nothing happens where numba is missing or PARITY_NUMBA=0."""
    if _WARMING or os.environ.get("PARITY_NUMBA", "").strip().lower() in ("0", "off", "false", "no"):
        return
    import threading

    def load() -> None:
        kern = _kernels()
        if kern is None:
            return
        # the loop a suite's sums bootstraps call (the calibration ratio, ...), with the argument types of
        # the real calls: loading it from the cache also sets numba itself up
        lo = hi = np.zeros(1, dtype=np.uint32)
        try:
            kern.sums_parts(lo, hi, steps(0, 1), np.zeros((1, 1)), np.zeros(1, dtype=np.int64), True,
                            np.zeros((1, 1)), np.zeros((1, 1, 1)))
        except Exception:  # noqa: BLE001  (the real call reports it, in the run, where it belongs)
            return

    # not a daemon: a process that ends meanwhile waits for it (under a second) rather than stopping it
    # inside numba's import
    _WARMING.append(threading.Thread(target=load, name="parity-numba-warm-up"))
    _WARMING[0].start()


def threads() -> int:
    """How many threads the bootstrap's batches may run on: `harness._threads.allowed()` with the
    compiled engine (its loops release the GIL), 1 with numpy, whose batches hold the GIL between
    operations."""
    if _kernels() is None:
        return 1
    from harness._threads import allowed

    return allowed()


def engine() -> str:
    """"numba" or "numpy": which engine computes the Poisson bootstrap here."""
    return "numpy" if _kernels() is None else "numba"


# ----------------------------------------------------------------------------------------------
# the operations (numpy engine inline; the compiled one when available)
# ----------------------------------------------------------------------------------------------

def fill_counts(lo: np.ndarray, hi: np.ndarray, b: int) -> np.ndarray:
    """Replicate b's weights (int32) with whichever engine is active."""
    kern = _kernels()
    if kern is None:
        return counts(lo, hi, b)
    out = np.empty(lo.shape[0], dtype=np.int32)
    kern.fill_counts(lo, hi, steps(b, b + 1)[0], out)
    return out


def drawn(lo: np.ndarray, hi: np.ndarray, b: int, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replicate b's units with a positive weight: (their indices, their weights (int32), cols
    (k, n) gathered at them), in unit order. One pass instead of weights, nonzero and k gathers."""
    kern = _kernels()
    n = lo.shape[0]
    # Both engines return views of arrays laid out alike: numpy's reductions over the gathered
    # columns can depend on where in memory an array starts (SIMD loops), and the engines must agree.
    out = np.empty((cols.shape[0], n))
    if kern is None:
        k_all = counts(lo, hi, b)
        keep = np.flatnonzero(k_all)
        m = keep.shape[0]
        np.take(cols, keep, axis=1, out=out[:, :m])
        return keep, k_all[keep], out[:, :m]
    keep = np.empty(n, dtype=np.intp)
    k = np.empty(n, dtype=np.int32)
    m = kern.drawn(lo, hi, steps(b, b + 1)[0], np.ascontiguousarray(cols), keep, k, out)
    return keep[:m], k[:m], out[:, :m]


def sums(lo: np.ndarray, hi: np.ndarray, b0: int, b1: int, cols: np.ndarray) -> np.ndarray:
    """Shape (b1 - b0, k): replicate b's running sum of float(k_i) * cols[c, i] (cols: (k, n) float64)."""
    kern = _kernels()
    out = np.zeros((b1 - b0, cols.shape[0]))
    if kern is not None:
        acc = np.zeros((cols.shape[0], b1 - b0))  # one contiguous row per column: the loop vectorizes
        kern.sums(lo, hi, steps(b0, b1), np.ascontiguousarray(cols), acc)
        out[:] = acc.T
        return out
    for r, b in enumerate(range(b0, b1)):
        k = counts(lo, hi, b).astype(np.float64)
        for c in range(cols.shape[0]):
            with np.errstate(all="ignore"):  # 0 * inf and inf - inf are NaN here as in the loops, silently
                out[r, c] = _running(k * cols[c])[-1]
    return out


def sums_parts(lo: np.ndarray, hi: np.ndarray, b0: int, b1: int, cols: np.ndarray, seg: np.ndarray, n_parts: int,
               with_all: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """`sums` over all rows (when with_all; else None) and over each part's rows, in one pass that
    generates each row's weights once: part g holds the rows with seg == g (seg < 0: in no part).
    Shapes (b1 - b0, k) and (n_parts, b1 - b0, k); each equals `sums` of those rows' columns, bit
    for bit (a part's running sums add its rows in row order, as `sums` on them would)."""
    kern = _kernels()
    seg = np.ascontiguousarray(seg, dtype=np.int64)
    if kern is None:
        parts = np.stack([sums(lo[seg == g], hi[seg == g], b0, b1, cols[:, seg == g]) for g in range(n_parts)]) \
            if n_parts else np.zeros((0, b1 - b0, cols.shape[0]))
        return (sums(lo, hi, b0, b1, cols) if with_all else None), parts
    acc_all = np.zeros((cols.shape[0], b1 - b0))
    acc = np.zeros((max(n_parts, 1), cols.shape[0], b1 - b0))
    kern.sums_parts(lo, hi, steps(b0, b1), np.ascontiguousarray(cols), seg, with_all, acc_all, acc)
    parts = np.ascontiguousarray(acc[:n_parts].transpose(0, 2, 1))
    return (np.ascontiguousarray(acc_all.T) if with_all else None), parts


class Sweep:
    """One model's rows in score order for the AUC / AP / ECE sweeps: the units' lo / hi words and
    sample weights (None: unweighted) in that order, and one flag byte per row: bit 0 positive, bit 1
    the first row of a run of equal scores that holds a positive, bit 2 that run's last row, bit 3 the
    last row of any run. Nothing else row-sized is kept (a 1e7-row bootstrap holds two of these at
    once): the positives, the runs' bounds and each row's run end are derived from the flags when an
    engine asks for them."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, order: np.ndarray, score: np.ndarray,
                 pos: np.ndarray, w: np.ndarray | None):
        order = np.ascontiguousarray(order)
        self.lo, self.hi = np.ascontiguousarray(lo[order]), np.ascontiguousarray(hi[order])
        self.w = None if w is None else np.ascontiguousarray(w[order], dtype=np.float64)
        pos = np.asarray(pos, dtype=bool)
        kern = _kernels()
        if kern is None:
            self.flags = _run_flags(score[order], pos[order])
        else:  # one pass, no run-sized temporaries
            self.flags = np.empty(order.shape[0], dtype=np.int8)
            kern.run_flags(score, order, pos, self.flags)

    @property
    def pos(self) -> np.ndarray:
        return (self.flags & 1).astype(bool)

    @property
    def run_start(self) -> np.ndarray:
        return np.flatnonzero(self.flags & 2)

    @property
    def run_end(self) -> np.ndarray:
        return np.flatnonzero(self.flags & 4)

    @property
    def run_end_all(self) -> np.ndarray:
        """Each row's last row of its run (int64)."""
        last = (self.flags & 8) != 0
        first = np.empty_like(last)
        first[0] = True
        first[1:] = last[:-1]
        return np.ascontiguousarray(np.flatnonzero(last)[np.cumsum(first) - 1])

    def weights(self, b: int) -> np.ndarray:
        k = counts(self.lo, self.hi, b).astype(np.float64)
        return k if self.w is None else k * self.w


def _run_flags(s: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """`Sweep`'s flags from the scores and positive flags in sweep order (numpy engine)."""
    n = s.shape[0]
    first = np.ones(n, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    run = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:] - 1, n - 1)
    has_pos = np.bincount(run, weights=pos, minlength=starts.shape[0]) > 0
    flags = pos.astype(np.int8)
    flags[starts[has_pos]] |= 2
    flags[ends[has_pos]] |= 4
    flags[ends] |= 8
    return flags


def auc_sweep(sw: Sweep, b0: int, b1: int) -> np.ndarray:
    """Shape (b1 - b0, 3): U, CP, CN per replicate (AUC = U / (CP * CN))."""
    return _rank_sweep(sw, b0, b1, ap=False)


def ap_sweep(sw: Sweep, b0: int, b1: int) -> np.ndarray:
    """Shape (b1 - b0, 2): A, TP per replicate (AP = A / TP); `sw` in descending score order."""
    return _rank_sweep(sw, b0, b1, ap=True)


def _rank_sweep(sw: Sweep, b0: int, b1: int, ap: bool) -> np.ndarray:
    """The AUC and AP sweeps share their running sums (CP / TP over positives, CN / FP over
    negatives) and differ only in the term a run with a positive adds."""
    kern = _kernels()
    out = np.zeros((b1 - b0, 2 if ap else 3))
    if kern is not None:
        kern.rank_sweep(sw.lo, sw.hi, sw.flags, sw.w, steps(b0, b1), ap, out)
        return out
    pos, s, e = sw.pos, sw.run_start, sw.run_end + 1
    for r, b in enumerate(range(b0, b1)):
        wk = sw.weights(b)
        cp = _running(np.where(pos, wk, 0.0))
        cn = _running(np.where(pos, 0.0, wk))
        if ap:
            p = cp[e] - cp[s]
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = np.where(p > 0, p * (cp[e] / (cp[e] + cn[e])), 0.0)
            out[r] = (_running(terms)[-1], cp[-1])
        else:
            terms = (cp[e] - cp[s]) * (cn[s] + 0.5 * (cn[e] - cn[s]))
            out[r] = (_running(terms)[-1], cp[-1], cn[-1])
    return out


def ece_sweep(sw: Sweep, gap: np.ndarray, targets: np.ndarray, b0: int, b1: int) -> np.ndarray:
    """Shape (b1 - b0,): the running sum of |bin gap| per replicate (ECE = that / total).
    gap: p - y in `sw`'s order; targets: (b1 - b0, n_bins - 1)."""
    kern = _kernels()
    out = np.zeros(b1 - b0)
    if kern is not None:
        kern.ece_sweep(sw.lo, sw.hi, sw.w, gap, sw.run_end_all, np.ascontiguousarray(targets.T),
                       steps(b0, b1), out)
        return out
    n = gap.shape[0]
    run_end = sw.run_end_all
    for r, b in enumerate(range(b0, b1)):
        ws = sw.weights(b)
        e = np.minimum(np.searchsorted(_running(ws)[1:], targets[r], side="left"), n - 1)
        ends = np.unique(np.append(run_end[e], n - 1))
        starts = np.append(0, ends[:-1] + 1)
        g = _running(ws * gap)
        out[r] = _running(np.abs(g[ends + 1] - g[starts]))[-1]
    return out


def logistic_sums(x: np.ndarray, ww: np.ndarray, a: float, b: float) -> np.ndarray:
    """Shape (6,): the running sums of `logistic_sums` (module docstring) over rows in order:
    m, m x, q, q x, m x^2, q x^2 at intercept a and slope b; x and ww contiguous float64."""
    kern = _kernels()
    out = np.zeros(6)
    if kern is not None:
        kern.logistic_sums(x, ww, float(a), float(b), out)
        return out
    z = x * b
    z += a
    mu = expit(z)
    m = ww * mu
    q = m * mu
    xx = x * x
    for j, t in enumerate((m, m * x, q, q * x, m * xx, q * xx)):
        out[j] = _running(t)[-1]
    return out
