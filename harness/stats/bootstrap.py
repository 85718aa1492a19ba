"""Paired bootstrap of a metric difference (new - legacy) on the same rows, and paired per-row
differences for decomposable metrics.

Both models are always resampled with the same row (or query-group) weights, so the interval is for
the *paired* difference and the shared sampling noise of the golden set cancels.

Resampling: the Poisson bootstrap, the only scheme. Each unit (a row, or a query group for ranking
metrics) gets a Poisson(1) weight that depends only on (seed, unit key, replicate)
(`harness.stats._poisson` documents the generator), so replicate b does not depend on n_boot, row
order, chunking or workers, and per-replicate sums from chunks simply add (see `poisson_weights`):
what streaming and distributed runs need. Rows are keyed by `keys` (suite runs and `parity compare
--key` pass them), else by their position; query groups by their id. Poisson(1) weights estimate the
same sampling distribution as the classic multinomial resample (tested against a textbook loop).
(A block-wise multinomial engine served `parity compare` without `--key` until it was removed: two
engines for one statistic, and only the Poisson one is order- and chunk-independent.)

Speed (never an n x n_boot matrix; O(n) memory). Replicates go in batches of POISSON_BATCH through
one pass over the rows each (`harness.stats._poisson`; compiled loops with numba installed, the
`fast` extra, else numpy, bit for bit the same): the sums of the mean-type and ranking metrics, and
sweeps in each model's score order for AUC, average precision and ECE (no count arrays, no
per-replicate sort); the calibration fits and user metrics take the replicate's weights as counts.
- AUC and average precision: each model's rows are sorted once; a replicate is one sweep over them
  that accumulates the weighted positives and negatives run by run of tied scores (exact weighted
  AUC / AP). Hand-written because a sort per replicate (what roc_auc_score does) is the bottleneck;
  benchmarks/bench_stats.py has the ratio.
- Decomposable metrics (logloss, brier, rmse, mae, calibration_ratio) and ranking metrics (per-group
  values computed once; groups are the resampling unit): a replicate is one or two weighted sums of
  the units' precomputed values (`_poisson.sums`), added in a documented order.
- ECE: rows stay in each model's probability order; a replicate places the quantile edges from
  cumulative weights (O(n), no sort).
- Calibration slope/intercept: Newton from the full-data fit; the first step's gradient and Hessian
  are mat-vecs of precomputed per-row terms with the counts, and so is the second step's (a
  second-order expansion around the fit), so only the later steps evaluate expit (each one compiled
  pass over the replicate's drawn rows, `_poisson.logistic_sums`; at 1e6 rows usually one), and it
  stops when the next step predicted from quadratic convergence is below 1e-10 (relative):
  replicates agree with the metric on the resample to ~1e-10, far below any bootstrap spread.
- Anything else (user MetricDefs): the metric is called per replicate with the replicate's counts
  as sample weights (exact, but O(n log n) per replicate).

Intervals: "percentile" (numpy linear interpolation, as scipy.stats.bootstrap) and "bca" (Efron's
bias-corrected and accelerated interval with scipy.stats.bootstrap's formulas). The acceleration
comes from an exact leave-one-unit-out jackknife: O(n) for AUC, decomposable and ranking metrics;
for the others (average precision, ECE, calibration fits, user metrics) it costs n metric calls, so
it is refused above BCA_GENERIC_MAX_UNITS units with a clear error.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import expit, ndtr, ndtri
from scipy.stats import t as student_t

from harness.errors import ParityInputError, UndefinedReplicatesError
from harness.progress import bar as progress_bar
from harness.stats import _poisson
from harness.stats import metrics as _m
from harness.stats._poisson import _GAMMA, _GAMMA_INT, _MASK, _mix64  # SplitMix64
from harness.stats.metrics import _dot
from harness.stats._validation import (
    as_binary_labels,
    as_groups,
    as_probabilities,
    as_scores,
    as_weights,
    check_alpha,
    check_same_length,
    group_codes,
)

__all__ = [
    "BootstrapResult",
    "PairedDifferenceResult",
    "paired_bootstrap",
    "paired_bootstrap_subsets",
    "paired_difference_ci",
    "poisson_weights",
    "hash_keys",
    "BCA_GENERIC_MAX_UNITS",
]

BCA_GENERIC_MAX_UNITS = 2000

CIMethod = Literal["percentile", "bca"]


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Paired bootstrap of diff = new - legacy (point estimates on the full data)."""

    metric: str
    legacy: float
    new: float
    diff: float
    ci: tuple[float, float]
    alpha: float
    replicates: np.ndarray  # the n_boot replicate differences, in replicate order
    n_boot: int
    seed: int
    ci_method: str
    method: str
    se: float  # standard deviation of the replicates (ddof=1)
    n: int = 0  # rows
    n_units: int = 0  # resampling units: rows, or query groups for ranking metrics
    bca_z0: float | None = None
    bca_acceleration: float | None = None

    def ci_at(self, alpha: float) -> tuple[float, float]:
        """The interval at another level from the same replicates (2 * alpha gives the TOST interval)."""
        alpha = check_alpha(alpha)
        if self.ci_method == "bca":
            return _bca_ci(self.replicates, self.bca_z0, self.bca_acceleration, alpha)
        return percentile_ci(self.replicates, alpha)


@dataclass(frozen=True)
class PairedDifferenceResult:
    """Mean paired per-row difference (new - legacy) with a Student-t interval (n - 1 df)."""

    legacy: float  # weighted mean per-row loss of each side
    new: float
    diff: float
    ci: tuple[float, float]
    alpha: float
    se: float
    n: int  # rows with positive weight
    df: int
    p_value: float  # two-sided, H0: mean difference 0
    method: str

    def ci_at(self, alpha: float) -> tuple[float, float]:
        alpha = check_alpha(alpha)
        h = float(student_t.ppf(1 - alpha / 2, self.df)) * self.se
        return (self.diff - h, self.diff + h)


# ----------------------------------------------------------------------------------------------
# Poisson weights keyed by (seed, key, replicate)
# ----------------------------------------------------------------------------------------------

def hash_keys(keys: Any, name: str = "keys") -> np.ndarray:
    """Stable uint64 per key: integers map to themselves (two's complement), strings and bytes to the
    first 8 bytes of BLAKE2b (never Python's salted hash()). Keys must be unique."""
    arr = np.asarray(keys)
    if arr.ndim != 1 or arr.size == 0:
        raise ParityInputError(f"{name}: expected a non-empty 1-D array of row keys, got shape {arr.shape}")
    if arr.dtype == bool:
        raise ParityInputError(f"{name}: expected integer or string keys, got dtype bool")
    if arr.dtype == object and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in arr.tolist()):
        try:  # e.g. a pandas nullable Int64 column without missing values
            arr = arr.astype(np.int64)
        except OverflowError:
            arr = arr.astype(np.uint64)
    if np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.int64).view(np.uint64)
    elif arr.dtype.kind in ("U", "S", "O"):
        out = np.empty(arr.shape[0], dtype=np.uint64)
        for i, k in enumerate(arr.tolist()):
            if isinstance(k, str):
                b = k.encode("utf-8")
            elif isinstance(k, bytes):
                b = k
            else:
                raise ParityInputError(f"{name}: row {i} is {k!r}; expected integer or string keys")
            out[i] = int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")
    else:
        raise ParityInputError(f"{name}: expected integer or string keys, got dtype {arr.dtype}")
    if out.shape[0] < 2 or bool(np.all(out[1:] > out[:-1])):  # rows in key order (a suite's): unique
        return out
    srt = np.sort(out)
    dup = np.flatnonzero(srt[1:] == srt[:-1])
    if dup.size:
        row = int(np.flatnonzero(out == srt[dup[0]])[1])
        value = arr[row].item() if isinstance(arr[row], np.generic) else arr[row]  # an object array holds str
        raise ParityInputError(
            f"{name}: keys must be unique (row {row} repeats {value!r}); Poisson weights are keyed by row"
        )
    return out


def _seed_base(hashed: np.ndarray, seed: int) -> np.ndarray:
    """Each unit's 64-bit base (`harness.stats._poisson`): a SplitMix64 hash of (seed, key hash)."""
    s = _mix64(np.array([(seed + _GAMMA_INT) & _MASK], dtype=np.uint64))[0]
    return _mix64((hashed ^ s) + _GAMMA)


def poisson_weights(keys: Any, seed: int, replicates: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """Poisson(1) bootstrap weights, shape (len(replicates), len(keys)), int32.

    `replicates` is a count (replicates 0..R-1) or explicit replicate indices. Weight (b, i) depends
    only on (seed, keys[i], b), so any row order or split into chunks gives the same weights.
    Request replicates in blocks: the result has len(replicates) * len(keys) entries.
    """
    seed = _check_seed(seed)
    reps = np.arange(replicates) if isinstance(replicates, (int, np.integer)) else np.asarray(replicates)
    if reps.ndim != 1 or (reps.size and (not np.issubdtype(reps.dtype, np.integer) or reps.min() < 0)):
        raise ParityInputError(f"replicates: expected a count or non-negative integer indices, got {replicates!r}")
    lo, hi = _poisson.split(_seed_base(hash_keys(keys), seed))
    out = np.empty((reps.shape[0], lo.shape[0]), dtype=np.int32)
    for j, b in enumerate(reps.tolist()):
        out[j] = _poisson.counts(lo, hi, b)
    return out


# ----------------------------------------------------------------------------------------------
# kernels: one replicate's (legacy, new) metric values from unit weights
# ----------------------------------------------------------------------------------------------

class _Kernel:
    n_units: int

    def from_counts(self, c: np.ndarray) -> tuple[float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def diffs_poisson(self, lo: np.ndarray, hi: np.ndarray, b0: int, b1: int) -> np.ndarray:
        """new - legacy for Poisson replicates b0..b1-1 (lo, hi: the units' words, `_poisson`).
        Kernels with a one-pass form override this; the rest take each replicate's counts."""
        out = np.empty(b1 - b0)
        for r, b in enumerate(range(b0, b1)):
            a, n = self.from_counts(_poisson.fill_counts(lo, hi, b))
            out[r] = n - a
        return out

    def jackknife(self) -> np.ndarray:  # leave-one-unit-out diffs
        raise NotImplementedError


class _AUCKernel(_Kernel):
    """Exact weighted ROC AUC ("auc") or average precision ("ap") per replicate: one sweep per model
    over its rows in score order (`_poisson.auc_sweep` / `ap_sweep`)."""

    def __init__(self, y: np.ndarray, s_legacy: np.ndarray, s_new: np.ndarray, w: np.ndarray | None,
                 stat: str = "auc", mdef: _m.MetricDef | None = None):
        self.stat, self.mdef = stat, mdef
        self.n_units = y.shape[0]
        self.y, self.w = y.astype(bool), w
        self.scores = (s_legacy, s_new)

    def diffs_poisson(self, lo, hi, b0, b1):
        # No count array, no per-replicate sort: the sweeps are set up once per bootstrap.
        if getattr(self, "_sweeps", None) is None or self._sweeps[0] is not lo:
            sweeps = []
            for s in self.scores:
                order = np.argsort(s, kind="stable")
                if self.stat == "ap":
                    order = order[::-1]
                sweeps.append(_poisson.Sweep(lo, hi, order, s, self.y, self.w))
                del order  # before the next side's sort
            self._sweeps = (lo, sweeps)
        vals = []
        for sw in self._sweeps[1]:
            with np.errstate(divide="ignore", invalid="ignore"):  # undefined: NaN, reported by the caller
                if self.stat == "auc":
                    u, cp, cn = _poisson.auc_sweep(sw, b0, b1).T
                    den = cp * cn
                    vals.append(np.where(den > 0, u / den, np.nan))
                else:
                    a, tp = _poisson.ap_sweep(sw, b0, b1).T
                    vals.append(np.where(tp > 0, a / tp, np.nan))
        return vals[1] - vals[0]

    def jackknife(self):
        if self.stat == "ap":  # no O(n) leave-one-out formula for AP: evaluate, within the limit
            return _GenericKernel(self.mdef, self.y.astype(np.float64), *self.scores, self.w, None).jackknife()
        return _auc_loo(self.y, self.scores[1], self.w) - _auc_loo(self.y, self.scores[0], self.w)


def _auc_loo(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Exact leave-one-row-out weighted AUCs in O(n log n): removing a positive row i takes away its
    w_i * (weighted negatives below + half the tied ones) from the Mann-Whitney sum; symmetric for
    negatives."""
    ww = np.ones(y.shape[0]) if w is None else w
    order = np.argsort(s, kind="stable")
    ss, ys, ws = s[order], y[order], ww[order]
    new_run = np.ones(ss.shape[0], dtype=bool)
    new_run[1:] = ss[1:] != ss[:-1]
    run = np.cumsum(new_run) - 1
    pos_run = np.bincount(run, weights=ws * ys)
    neg_run = np.bincount(run, weights=ws * ~ys)
    wpos, wneg = pos_run.sum(), neg_run.sum()
    below = (np.cumsum(neg_run) - neg_run + 0.5 * neg_run)[run]
    above = (wpos - np.cumsum(pos_run) + 0.5 * pos_run)[run]
    u = float(_dot(pos_run, np.cumsum(neg_run) - 0.5 * neg_run))
    with np.errstate(divide="ignore", invalid="ignore"):
        loo_sorted = np.where(ys, (u - ws * below) / ((wpos - ws) * wneg), (u - ws * above) / (wpos * (wneg - ws)))
    out = np.empty_like(loo_sorted)
    out[order] = loo_sorted
    return out


class _SumsKernel(_Kernel):
    """Metrics that are a function of a few weighted sums over units."""

    def __init__(self, cols: np.ndarray, finalize: Callable[[np.ndarray], tuple[Any, Any]]):
        self.cols = np.ascontiguousarray(cols.T)  # (k, n_units): one contiguous row per sum
        self.finalize = finalize
        self.n_units = cols.shape[0]
        # Two ratios over the same denominator: their difference is sum(num_new - num_legacy) / sum(den),
        # one sum fewer (and no cancellation between two nearly equal sums).
        self.diff_col = (self.cols[1] - self.cols[0]) if finalize is _mean_finalize else None

    def summed(self) -> np.ndarray:
        """The columns whose weighted sums a replicate needs, (k, n_units)."""
        return np.stack([self.diff_col, self.cols[2]] if self.diff_col is not None else list(self.cols))

    def finish(self, sums: np.ndarray) -> np.ndarray:
        """new - legacy per replicate from the sums of `summed`'s columns, shape (replicates, k)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.diff_col is not None:
                return sums[:, 0] / sums[:, 1]
            a, b = self.finalize(sums.T)
        return np.asarray(b) - np.asarray(a)

    def diffs_poisson(self, lo, hi, b0, b1):
        # A handful of weighted sums of the units' values per replicate, one pass for the batch.
        return self.finish(_poisson.sums(lo, hi, b0, b1, self.summed()))

    def jackknife(self):
        total = self.cols.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = self.finalize(total[:, None] - self.cols)
        return np.asarray(b) - np.asarray(a)


def _mean_finalize(sums):
    return sums[0] / sums[2], sums[1] / sums[2]


def _root_mean_finalize(sums):
    return np.sqrt(sums[0] / sums[2]), np.sqrt(sums[1] / sums[2])


class _ECEKernel(_Kernel):
    """ECE per replicate without re-sorting: rows stay in each model's probability order and the
    replicate's quantile edges come from the cumulative replicate weight (same rule as metrics.ece)."""

    def __init__(self, mdef, y, p_legacy, p_new, w, n_bins: int = 10):
        self.mdef, self.y, self.w, self.n_bins = mdef, y, w, n_bins
        self.n_units = y.shape[0]
        self.scores = (p_legacy, p_new)
        self.orders = [np.argsort(p, kind="stable") for p in (p_legacy, p_new)]

    def diffs_poisson(self, lo, hi, b0, b1):
        # One sweep per model over its rows in probability order (`_poisson.ece_sweep`); the total
        # weight, which places the quantile edges, is one sum over the rows in input order.
        if getattr(self, "_sweeps", None) is None or self._sweeps[0] is not lo:
            sweeps = []
            for order, p in zip(self.orders, self.scores):
                sw = _poisson.Sweep(lo, hi, order, p, self.y > 0, self.w)
                sweeps.append((sw, np.ascontiguousarray(p[order] - self.y[order])))
            self._sweeps = (lo, sweeps)
        col = np.ones(self.n_units) if self.w is None else self.w
        total = _poisson.sums(lo, hi, b0, b1, col[None, :])[:, 0]
        targets = total[:, None] * np.arange(1, self.n_bins) / self.n_bins  # as metrics.ece
        vals = []
        for sw, gap in self._sweeps[1]:
            gaps = _poisson.ece_sweep(sw, gap, targets, b0, b1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vals.append(np.where(total > 0, gaps / total, np.nan))
        return vals[1] - vals[0]

    def jackknife(self):
        return _GenericKernel(self.mdef, self.y, *self.scores, self.w, None).jackknife()


class _CalibrationFitKernel(_Kernel):
    """Calibration slope or intercept per replicate: Newton's method from the full-data fit (a few
    iterations instead of a cold start), falling back to the full solver if it stalls.

    The first Newton step needs the gradient and Hessian at the full-data fit, whose per-row terms
    do not depend on the replicate: they are precomputed, and the step costs one mat-vec with the
    replicate's counts instead of a pass with expit over the drawn rows (the expensive part). The
    second step's gradient and Hessian come from the same pass (second-order terms at the fit); the
    passes after it are real Newton steps, and they decide convergence."""

    def __init__(self, mdef, y, p_legacy, p_new, w, which: int):
        self.mdef, self.y, self.w, self.which = mdef, y, w, which
        self.n_units = y.shape[0]
        self.scores = (np.asarray(p_legacy, dtype=np.float64), np.asarray(p_new, dtype=np.float64))
        ww = np.ones_like(y) if w is None else w
        self.sides = []
        # rows 6k..6k+5 for model k: g0, g1, h00, h01, h11 at its full-data fit, and the label term
        # sum w y x, which no Newton step changes; row 12: sum w y, shared. All per unit of count, in
        # one array so that the Poisson path gets every replicate's first step from one pass.
        # Rows 13 + 4k..16 + 4k: sum w mu'' x^j (j = 0..3, mu'' = mu (1 - mu) (1 - 2 mu)) at model k's
        # fit, the second-order terms that carry the gradient and Hessian from the fit to the first
        # step's end (`_fit`), so that a replicate's second step needs no pass over the rows either.
        self.first_all = np.empty((21, self.n_units))
        for k, p_raw in enumerate((p_legacy, p_new)):
            p, eps = as_probabilities(p_raw)  # the metric's clipping rule, eps of the input dtype
            pc = np.clip(p, eps, 1 - eps)
            x = np.log(pc) - np.log1p(-pc)
            slope, intercept = _m._logistic_fit(x, y, ww)
            mu = expit(intercept + slope * x)
            r0 = ww * (y - mu)
            v0 = ww * mu * (1.0 - mu)
            first = self.first_all[6 * k: 6 * k + 6]
            first[:] = [r0, r0 * x, v0, v0 * x, v0 * x * x, ww * y * x]
            c0 = v0 * (1.0 - 2.0 * mu)
            self.first_all[13 + 4 * k: 17 + 4 * k] = [c0, c0 * x, c0 * x * x, c0 * x * x * x]
            self.sides.append((x, intercept, slope, first))
        self.first_all[12] = ww * y
        self.wy = self.first_all[12]

    @staticmethod
    def _step(g0, g1, h00, h01, h11):
        det = h00 * h11 - h01 * h01
        if not det > 0:
            return None
        return (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det

    @staticmethod
    def _size(step, a, b) -> float:
        return max(abs(step[0]) / (1 + abs(a)), abs(step[1]) / (1 + abs(b)))

    def _fit(self, ww, keep, side, wy, first_terms, x, second=None) -> float:
        """ww: the replicate's weights (counts x sample weights) on the drawn rows `keep`; wy: sum of
        ww y; first_terms: the first step's six sums; x: the model's logits on `keep`; second: the
        replicate's sums of the second-order terms T_j = sum ww mu'' x^j (j = 0..3) at the fit."""
        x_all, a, b, first = side
        *terms, wyx = first_terms
        step = self._step(*terms)
        if step is not None:
            a, b = a + step[0], b + step[1]
            prev = self._size(step, a, b)
            k_est = None  # Newton's constant (e_next ~ K e^2), once two steps have measured it
            if second is not None:
                # The second step without a pass: at theta1 = fit + d (u = d_a + d_b x), a Taylor
                # expansion gives mu = mu0 + mu0' u + mu0'' u^2 / 2, so the gradient is
                # -sum ww mu0'' u^2 [1, x] / 2 (the first step zeroed the linear part) and the Hessian
                # H0 + sum ww mu0'' u [1, x; x, x^2]: error O(d^3) instead of O(d^2) after it.
                t0, t1, t2, t3 = second
                da, db = step
                g0 = -0.5 * (da * da * t0 + 2.0 * da * db * t1 + db * db * t2)
                g1 = -0.5 * (da * da * t1 + 2.0 * da * db * t2 + db * db * t3)
                step2 = self._step(g0, g1, terms[2] + da * t0 + db * t1, terms[3] + da * t1 + db * t2,
                                   terms[4] + da * t2 + db * t3)
                if step2 is not None:
                    a, b = a + step2[0], b + step2[1]
                    size2 = self._size(step2, a, b)
                    # The step from theta1 is a Newton step up to O(d^3): it measures K as size2 / prev^2.
                    k_est = size2 / prev ** 2 if prev > 0 else None
                    prev = size2
            x = np.ascontiguousarray(x)
            ww = np.ascontiguousarray(ww, dtype=np.float64)
            for _ in range(25):
                # One compiled pass per Newton step (`_poisson.logistic_sums`): mu = expit(a + b x),
                # m = w mu, q = w mu^2, so that w mu (1 - mu) = m - q.
                sm, sx, sq, sqx, smxx, sqxx = _poisson.logistic_sums(x, ww, a, b)
                step = self._step(wy - sm, wyx - sx, sm - sq, sx - sqx, smxx - sqxx)
                if step is None:
                    break
                a, b = a + step[0], b + step[1]
                size = self._size(step, a, b)
                # Stop once the step, or the next one predicted from quadratic convergence
                # (e_next ~ K e^2, K estimated from the last two Newton steps as size / prev^2), is
                # below 1e-10 relative: the prediction needs the last two steps to have shrunk like
                # Newton's (size <= 1e-5 and size <= 0.1 prev), and saves the pass that would only
                # confirm convergence.
                k = size / prev ** 2 if k_est is None else k_est
                if size <= 1e-10 or (size <= 1e-5 and size <= 0.1 * prev and k * size ** 2 <= 1e-10):
                    return float((b, a)[self.which])
                prev, k_est = size, None
        try:  # not converging from the warm start: the careful solver decides (or refuses)
            return float(_m._logistic_fit(x_all[keep], self.y[keep], ww)[self.which])
        except ParityInputError:
            return math.nan

    def diffs_poisson(self, lo, hi, b0, b1):
        # Every replicate's first-step sums in one pass over the rows (`_poisson.sums`, 21 columns);
        # only the later Newton steps need each replicate's weights.
        sums = _poisson.sums(lo, hi, b0, b1, self.first_all)
        if getattr(self, "_logits", None) is None:
            cols = [self.sides[0][0], self.sides[1][0]] + ([] if self.w is None else [self.w])
            self._logits = np.stack(cols)
        out = np.empty(b1 - b0)
        for r, b in enumerate(range(b0, b1)):
            keep, k, at = _poisson.drawn(lo, hi, b, self._logits)  # the drawn rows' logits (and weights)
            ww = k.astype(np.float64) if self.w is None else k * at[2]
            a = self._fit(ww, keep, self.sides[0], sums[r, 12], sums[r, 0:6], at[0], sums[r, 13:17])
            n = self._fit(ww, keep, self.sides[1], sums[r, 12], sums[r, 6:12], at[1], sums[r, 17:21])
            out[r] = n - a
        return out

    def jackknife(self):
        return _GenericKernel(self.mdef, self.y, *self.scores, self.w, None).jackknife()


class _GenericKernel(_Kernel):
    """Calls the metric per replicate with counts x weights as sample weights (zero rows dropped)."""

    def __init__(self, mdef: _m.MetricDef, y, s_legacy, s_new, w, groups):
        self.mdef, self.y, self.sl, self.sn, self.w, self.groups = mdef, y, s_legacy, s_new, w, groups
        if mdef.needs_groups:
            self.codes = as_groups(groups, y.shape[0])
            self.n_units = int(self.codes.max()) + 1
        else:
            self.codes = None
            self.n_units = y.shape[0]

    def _eval(self, roww: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
        args = (self.y[keep],)
        extra = (np.asarray(self.groups)[keep],) if self.mdef.needs_groups else ()
        out = []
        for s in (self.sl, self.sn):
            try:
                out.append(float(self.mdef.fn(*args, s[keep], *extra, sample_weight=roww[keep])))
            except ParityInputError:
                out.append(math.nan)  # e.g. a replicate that drew one class only; counted below
        return out[0], out[1]

    def from_counts(self, c):
        rc = c[self.codes] if self.codes is not None else c
        roww = rc.astype(np.float64) * (1.0 if self.w is None else self.w)
        return self._eval(roww, roww > 0)

    def jackknife(self):
        if self.n_units > BCA_GENERIC_MAX_UNITS:
            raise ParityInputError(
                f"ci_method: 'bca' for metric {self.mdef.name!r} needs a jackknife of {self.n_units} "
                f"metric evaluations; it is refused above {BCA_GENERIC_MAX_UNITS} resampling units. "
                "Use ci_method='percentile'"
            )
        out = np.empty(self.n_units)
        for i in range(self.n_units):
            c = np.ones(self.n_units)
            c[i] = 0
            a, b = self.from_counts(c)
            out[i] = b - a
        return out


def _fast(mdef: _m.MetricDef) -> bool:
    """Whether the metric has a one-pass kernel: a registered metric, or ndcg@K for any K."""
    return mdef is _m.METRICS.get(mdef.name) or (
        re.fullmatch(r"ndcg@[1-9][0-9]*", mdef.name) is not None and mdef.fn.__qualname__.startswith("_ndcg_def"))


def _ranked_side(mdef: _m.MetricDef, which: str, y_true, score, groups, sample_weight
                 ) -> tuple[float, np.ndarray, np.ndarray]:
    """A built-in ranking metric on one side, as mdef.fn computes it (ndcg_at_k or mrr, no_relevant
    "zero"), with the per-group values and group weights its kernel sums: the point estimate and the
    kernel share one grouping of the rows (grouping 1e7 rows costs seconds and ~100 B a row)."""
    try:
        y, s, grouped = _m._rank_inputs(y_true, score, groups, sample_weight)
        if mdef.name == "mrr":
            vals, has_rel = _m._rr_per_group(y, s, grouped)
            what = "MRR"
        else:
            k = int(mdef.name.split("@")[1])
            vals, has_rel = _m._ndcg_per_group(y, s, grouped, k)
            what = f"NDCG@{k}"
        return _m._group_mean(vals, has_rel, grouped.group_weight, "zero", what), vals, grouped.group_weight
    except ParityInputError as exc:  # in `_point`'s words
        raise ParityInputError(f"metric {mdef.name!r} on {which}: {exc}") from exc


def _build_kernel(mdef: _m.MetricDef, y_true, s_legacy, s_new, w_raw, groups, ranked=None) -> _Kernel:
    """ranked: (per-group values of each side, group weights) when `_Run.prepare` has them already."""
    name = mdef.name
    if not _fast(mdef):
        return _GenericKernel(mdef, *_generic_arrays(mdef, y_true, s_legacy, s_new, w_raw), groups)
    if mdef.task == "ranking":
        if ranked is None:  # one side's grouping at a time: each holds several row-sized arrays
            (_, va, gw), (_, vb, _) = (_ranked_side(mdef, which, y_true, s, groups, w_raw)
                                       for which, s in (("score_legacy", s_legacy), ("score_new", s_new)))
        else:
            va, vb, gw = ranked
        return _SumsKernel(np.column_stack([gw * va, gw * vb, gw]), _mean_finalize)
    if name in ("auc", "pr_auc"):
        y = as_binary_labels(y_true, "y_true")
        return _AUCKernel(y, as_scores(s_legacy, "score_legacy"), as_scores(s_new, "score_new"),
                          as_weights(w_raw, y.shape[0]), stat="auc" if name == "auc" else "ap", mdef=mdef)
    y = np.asarray(y_true, dtype=np.float64)
    ww = np.ones(y.shape[0]) if w_raw is None else np.asarray(w_raw, dtype=np.float64)
    if name == "ece":
        return _ECEKernel(mdef, y, np.asarray(s_legacy, dtype=np.float64), np.asarray(s_new, dtype=np.float64),
                          None if w_raw is None else ww)
    if name in ("calibration_slope", "calibration_intercept"):
        return _CalibrationFitKernel(mdef, y, s_legacy, s_new, None if w_raw is None else ww,
                                     which=0 if name == "calibration_slope" else 1)
    if name == "calibration_ratio":
        pl = np.asarray(s_legacy, dtype=np.float64)
        pn = np.asarray(s_new, dtype=np.float64)
        return _SumsKernel(np.column_stack([ww * pl, ww * pn, ww * y]), _mean_finalize)
    if mdef.per_row is not None:
        ll = mdef.per_row(y_true, s_legacy)
        ln = mdef.per_row(y_true, s_new)
        fin = _root_mean_finalize if name == "rmse" else _mean_finalize
        return _SumsKernel(np.column_stack([ww * ll, ww * ln, ww]), fin)
    return _GenericKernel(mdef, *_generic_arrays(mdef, y_true, s_legacy, s_new, w_raw), groups)


def _generic_arrays(mdef, y_true, s_legacy, s_new, w_raw):
    # The metric already validated these arrays when computing the point estimates.
    y = np.asarray(y_true)
    return (y, np.asarray(s_legacy, dtype=np.float64), np.asarray(s_new, dtype=np.float64),
            None if w_raw is None else np.asarray(w_raw, dtype=np.float64))


# ----------------------------------------------------------------------------------------------
# intervals
# ----------------------------------------------------------------------------------------------

def resolvable(tail: float, n_replicates: int) -> bool:
    """Whether ``n_replicates`` replicates can place a percentile limit with ``tail`` probability beyond
    it: the most extreme of B replicates stands for a tail of 1/(B + 1), so a smaller tail would be an
    extrapolation, which np.percentile silently clips to the extreme replicate (it let 2 replicates
    decide a margin). Such a limit is unbounded; and a bootstrap p-value is never below 1/(B + 1)
    (Phipson & Smyth 2010, "Permutation p-values should never be zero"; `compare._p_by_inversion`)."""
    return tail * (n_replicates + 1) >= 1.0


def percentile_ci(reps: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile interval at 1 - alpha; a limit the replicates cannot resolve (`resolvable`) is
    infinite."""
    lo, hi = np.percentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    if not resolvable(alpha / 2, reps.shape[0]):
        return (-math.inf, math.inf)
    return (float(lo), float(hi))


def _bca_params(reps: np.ndarray, theta_hat: float, jack: np.ndarray) -> tuple[float, float]:
    """(z0, acceleration) exactly as scipy.stats.bootstrap(method='BCa') computes them."""
    B = reps.shape[0]
    pct = (np.count_nonzero(reps < theta_hat) + np.count_nonzero(reps <= theta_hat)) / (2 * B)
    z0 = float(ndtri(pct))
    n = float(jack.shape[0])
    u = (n - 1) * (jack.mean() - jack)
    den = np.sum(u**2) / n**2
    a = 0.0 if den == 0 else float(1 / 6 * (np.sum(u**3) / n**3) / den**1.5)
    if not (math.isfinite(z0) and math.isfinite(a)):
        raise ParityInputError(
            "ci_method: the BCa interval is undefined here (all replicates on one side of the point "
            "estimate, or a degenerate jackknife); use ci_method='percentile'"
        )
    return z0, a


def _bca_ci(reps, z0, a, alpha):
    za = float(ndtri(alpha / 2))
    n1, n2 = z0 + za, z0 - za
    a1 = ndtr(z0 + n1 / (1 - a * n1))
    a2 = ndtr(z0 + n2 / (1 - a * n2))
    lo, hi = np.percentile(reps, [100 * a1, 100 * a2])
    b = reps.shape[0]
    return (float(lo) if resolvable(a1, b) else -math.inf, float(hi) if resolvable(1 - a2, b) else math.inf)


# ----------------------------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------------------------

POISSON_BATCH = 256  # Poisson replicates per pass over the rows (their running sums stay in L1)


def _in_batches(n_boot: int, batch: Callable[[int, int], None], bar: Any, *, threaded: bool) -> None:
    """batch(lo, hi) for replicates lo..hi-1, every POISSON_BATCH of them. ``threaded`` (a batch that
    only writes its own replicates' slots and shares no scratch space) runs them on up to
    `_poisson.threads()` threads when the compiled engine is active, whose loops release the GIL:
    each replicate is computed by the same additions on any thread, so the result is the same bit
    for bit (tested) and about halves the wall time of a suite's bootstrap on two cores."""
    spans = [(lo, min(lo + POISSON_BATCH, n_boot)) for lo in range(0, n_boot, POISSON_BATCH)]
    workers = min(_poisson.threads(), len(spans)) if threaded else 1
    if workers <= 1:
        for lo, hi in spans:
            batch(lo, hi)
            bar.update(hi - lo)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parity-bootstrap") as pool:
        for (lo, hi), done in zip(spans, [pool.submit(batch, lo, hi) for lo, hi in spans]):
            done.result()  # in order: the first failing batch's error is the one raised
            bar.update(hi - lo)


def undefined_replicates_error(metric: str, n_bad: int, n_boot: int, *, groups: bool = False
                               ) -> UndefinedReplicatesError:
    """The error for replicates a metric is undefined on (shared by the in-memory and streamed bootstraps)."""
    why = ("a resample that draws no query group the metric is defined on" if groups
           else "a resample with one class only")
    return UndefinedReplicatesError(f"{n_bad} of {n_boot} bootstrap replicates left {metric!r} undefined (e.g. {why}); "
                            "the data are too small or too unbalanced for this bootstrap")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (0 <= seed < 2**63):
        raise ParityInputError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _point(mdef, which, y_true, score, extra, sample_weight) -> float:
    try:
        return float(mdef.fn(y_true, score, *extra, sample_weight=sample_weight))
    except ParityInputError as exc:  # say which side the metric's own argument names refer to
        raise ParityInputError(f"metric {mdef.name!r} on {which}: {exc}") from exc


def paired_bootstrap(metric, y_true, score_legacy, score_new, *, sample_weight=None, groups=None,
                     keys=None, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                     ci_method: CIMethod = "percentile") -> BootstrapResult:
    """Paired bootstrap interval of metric(new) - metric(legacy) (module docstring for the details).

    metric: a name from METRICS ("ndcg@K" for any K) or a MetricDef. groups: query group per row,
    required for ranking metrics, whose resampling unit is the group. keys: unique row keys (int or
    str) that the Poisson weights of row-level metrics are keyed by (without them, the row positions
    0..n-1); ranking metrics key the weights by the group id instead. Replicates in which a metric is
    undefined (e.g. one class drawn) raise ParityInputError: the golden set is too small for this
    bootstrap.
    """
    run = _Run.prepare(metric, y_true, score_legacy, score_new, sample_weight=sample_weight, groups=groups,
                       keys=keys, n_boot=n_boot, alpha=alpha, seed=seed, ci_method=ci_method)
    kernel = _build_kernel(run.mdef, y_true, score_legacy, score_new, sample_weight, groups, run.ranked)
    lo_words, hi_words = run.words(groups, keys)
    reps = np.empty(run.n_boot)

    def batch(lo: int, hi: int) -> None:
        reps[lo:hi] = kernel.diffs_poisson(lo_words, hi_words, lo, hi)

    bar = progress_bar(f"bootstrap {run.mdef.name}", total=run.n_boot, unit="replicate")
    _in_batches(run.n_boot, batch, bar, threaded=isinstance(kernel, _SumsKernel))
    bar.close()
    return run.result(reps, kernel.n_units, kernel.jackknife)


@dataclass(frozen=True)
class _Run:
    """One bootstrap's validated settings and point estimates (what `paired_bootstrap` checks first)."""

    mdef: _m.MetricDef
    legacy: float
    new: float
    n: int
    n_boot: int
    alpha: float
    seed: int
    ci_method: str
    ranked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def prepare(metric, y_true, score_legacy, score_new, *, sample_weight, groups, keys, n_boot, alpha, seed,
                ci_method) -> _Run:
        mdef = _m.get_metric(metric)
        alpha = check_alpha(alpha)
        seed = _check_seed(seed)
        if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
            raise ParityInputError(f"n_boot: expected an integer >= 2, got {n_boot!r}")
        if ci_method not in ("percentile", "bca"):
            raise ParityInputError(f"ci_method: expected 'percentile' or 'bca', got {ci_method!r}")
        if mdef.needs_groups and groups is None:
            raise ParityInputError(f"groups: metric {mdef.name!r} is computed per query group; pass groups=")
        extra = (groups,) if mdef.needs_groups else ()
        # The metric validates every input (and names the argument) before anything else happens.
        ranked = None
        if mdef.task == "ranking" and _fast(mdef):  # the same values, and the kernel's per-group ones
            legacy, va, gw = _ranked_side(mdef, "score_legacy", y_true, score_legacy, groups, sample_weight)
            new, vb, _ = _ranked_side(mdef, "score_new", y_true, score_new, groups, sample_weight)
            ranked = (va, vb, gw)
        else:
            legacy = _point(mdef, "score_legacy", y_true, score_legacy, extra, sample_weight)
            new = _point(mdef, "score_new", y_true, score_new, extra, sample_weight)
        n = int(np.asarray(y_true).shape[0])
        check_same_length(y_true=np.asarray(y_true), score_legacy=np.asarray(score_legacy),
                          score_new=np.asarray(score_new))
        if mdef.needs_groups and keys is not None:
            raise ParityInputError("keys: for ranking metrics the Poisson weights are keyed by the group id; "
                                   "do not pass keys")
        return _Run(mdef, legacy, new, n, int(n_boot), alpha, seed, ci_method, ranked)

    def words(self, groups, keys) -> tuple[np.ndarray, np.ndarray]:
        """The resampling units' (lo, hi) words (`_poisson`): rows by key (or position), groups by id."""
        if self.mdef.needs_groups:
            unit_keys = group_codes(groups, self.n)[1]  # the distinct ids, in the order of the group codes
            if unit_keys.dtype.kind == "f":  # float ids (validated finite): key them by their repr
                unit_keys = np.array([repr(float(v)) for v in unit_keys])
        else:
            # Without keys a row is known only by its position: the replicates then depend on the
            # row order, but not on how the rows are chunked.
            unit_keys = np.arange(self.n) if keys is None else np.asarray(keys)
            if unit_keys.ndim != 1 or unit_keys.shape[0] != self.n:
                raise ParityInputError(f"keys: expected one key per row ({self.n}), got shape {unit_keys.shape}")
        return _poisson.split(_seed_base(hash_keys(unit_keys), self.seed))

    def result(self, reps: np.ndarray, n_units: int, jackknife: Callable[[], np.ndarray]) -> BootstrapResult:
        mdef, n_boot = self.mdef, self.n_boot
        bad = ~np.isfinite(reps)
        if bad.any():
            raise undefined_replicates_error(mdef.name, int(bad.sum()), n_boot, groups=mdef.needs_groups)
        diff = self.new - self.legacy
        z0 = acc = None
        if self.ci_method == "bca":
            z0, acc = _bca_params(reps, diff, jackknife())
            ci = _bca_ci(reps, z0, acc, self.alpha)
        else:
            ci = percentile_ci(reps, self.alpha)
        unit = ", resampling query groups" if mdef.needs_groups else ""
        method = f"paired Poisson bootstrap ({self.ci_method}, {n_boot} replicates, seed {self.seed}{unit})"
        return BootstrapResult(metric=mdef.name, legacy=self.legacy, new=self.new, diff=diff, ci=ci,
                               alpha=self.alpha, replicates=reps, n_boot=n_boot, seed=self.seed,
                               ci_method=self.ci_method, method=method, se=float(np.std(reps, ddof=1)), n=self.n,
                               n_units=n_units, bca_z0=z0, bca_acceleration=acc)


def paired_bootstrap_subsets(metric, y_true, score_legacy, score_new, subsets: Sequence[np.ndarray | None], *,
                             sample_weight=None, groups=None, keys=None, n_boot: int = 1000, alpha: float = 0.05,
                             seed: int = 0, ci_method: CIMethod = "percentile"
                             ) -> list[BootstrapResult | ParityInputError]:
    """`paired_bootstrap` on each row subset (an increasing array of row indices; None: all rows): per
    subset, the result that call returns on those rows, or the ParityInputError it raises, bit for bit.

    For the metrics that are weighted sums over rows (logloss, brier, rmse, mae, the calibration ratio),
    disjoint subsets (a slice column's values) and all rows share one pass over the rows: a row's
    weights depend on (seed, key, replicate), not on which subset it is counted in, so each weight is
    generated once instead of once per subset. Other metrics take one `paired_bootstrap` per subset.
    """
    y = np.asarray(y_true)
    arrays = (y, np.asarray(score_legacy), np.asarray(score_new),
              None if sample_weight is None else np.asarray(sample_weight),
              None if groups is None else np.asarray(groups), None if keys is None else np.asarray(keys))

    def take(rows):
        return arrays if rows is None else tuple(None if a is None else a[rows] for a in arrays)

    def one(rows):
        yy, a, b, w, g, k = take(rows)
        try:
            return paired_bootstrap(metric, yy, a, b, sample_weight=w, groups=g, keys=k, n_boot=n_boot,
                                    alpha=alpha, seed=seed, ci_method=ci_method)
        except ParityInputError as exc:
            return exc

    mdef = _m.get_metric(metric)
    subsets = list(subsets)
    if len(subsets) < 2 or not _sums_metric(mdef) or ci_method != "percentile" or not all(
            r is None or (r.ndim == 1 and (r.size < 2 or bool(np.all(r[1:] > r[:-1])))) for r in subsets):
        return [one(rows) for rows in subsets]
    try:
        full = _Run.prepare(mdef, *arrays[:3], sample_weight=arrays[3], groups=None, keys=arrays[5],
                            n_boot=n_boot, alpha=alpha, seed=seed, ci_method=ci_method)
        lo_words, hi_words = full.words(None, arrays[5])
        kernel = _build_kernel(mdef, *arrays[:4], None)
    except ParityInputError:  # bad input on all rows: let each subset's own call say what
        return [one(rows) for rows in subsets]
    out: list[Any] = [None] * len(subsets)
    runs: dict[int, _Run] = {}
    for i, rows in enumerate(subsets):
        yy, a, b, w, _, k = take(rows)
        try:
            runs[i] = full if rows is None else _Run.prepare(mdef, yy, a, b, sample_weight=w, groups=None, keys=k,
                                                             n_boot=n_boot, alpha=alpha, seed=seed,
                                                             ci_method=ci_method)
        except ParityInputError as exc:
            out[i] = exc
    reps = _shared_sums(kernel, lo_words, hi_words, [subsets[i] for i in runs], n_boot, mdef.name)
    for (i, run), r in zip(runs.items(), reps):
        try:
            out[i] = run.result(r, run.n, lambda: None)
        except ParityInputError as exc:
            out[i] = exc
    return out


def _sums_metric(mdef: _m.MetricDef) -> bool:
    """Whether `_build_kernel` gives this metric a `_SumsKernel` over rows (elementwise columns)."""
    return (mdef is _m.METRICS.get(mdef.name) and mdef.task != "ranking"
            and (mdef.name == "calibration_ratio" or (mdef.per_row is not None and mdef.name not in
                                                      ("auc", "pr_auc", "ece", "calibration_slope",
                                                       "calibration_intercept"))))


def _shared_sums(kernel: _SumsKernel, lo_words, hi_words, subsets, n_boot: int, name: str) -> list[np.ndarray]:
    """Each subset's replicates from `kernel`'s columns, in passes over the rows that each serve all
    rows (if asked) and a set of disjoint subsets."""
    n = lo_words.shape[0]
    layers: list[dict[str, Any]] = []  # each: the subset that is all rows (or None), parts, segment per row
    for j, rows in enumerate(subsets):
        if rows is None:
            layer = next((x for x in layers if x["all"] is None), None)
        else:
            layer = next((x for x in layers if bool(np.all(x["seg"][rows] < 0))), None)
        if layer is None:
            layer = {"all": None, "parts": [], "seg": np.full(n, -1, dtype=np.int64)}
            layers.append(layer)
        if rows is None:
            layer["all"] = j
        else:
            layer["seg"][rows] = len(layer["parts"])
            layer["parts"].append(j)
    out: list[np.ndarray | None] = [None] * len(subsets)
    cols = kernel.summed()
    per = {j: np.empty(n_boot) for j in range(len(subsets))}

    def batch(lo: int, hi: int) -> None:
        for layer in layers:
            all_sums, part_sums = _poisson.sums_parts(lo_words, hi_words, lo, hi, cols, layer["seg"],
                                                      len(layer["parts"]), layer["all"] is not None)
            if layer["all"] is not None:
                per[layer["all"]][lo:hi] = kernel.finish(all_sums)
            for g, j in enumerate(layer["parts"]):
                per[j][lo:hi] = kernel.finish(part_sums[g])

    bar = progress_bar(f"bootstrap {name}", total=n_boot, unit="replicate")
    _in_batches(n_boot, batch, bar, threaded=True)
    bar.close()
    for j in per:
        out[j] = per[j]
    return out


def paired_difference_ci(loss_legacy, loss_new, *, sample_weight=None, alpha: float = 0.05) -> PairedDifferenceResult:
    """Interval for the weighted mean of per-row differences d = loss_new - loss_legacy.

    For decomposable metrics (logloss, brier, MSE, MAE) this is the exact paired analysis without
    resampling. Unweighted: the paired t interval (equals scipy.stats.ttest_rel). Weighted: weights
    are importance (not frequency) weights; se = sqrt(m/(m-1) * sum w_i^2 (d_i - dbar)^2) / sum w
    (the linearized ratio-estimator variance, which reduces to the t formula for unit weights) with
    m - 1 degrees of freedom, m = rows with positive weight.
    """
    alpha = check_alpha(alpha)
    la = as_scores(loss_legacy, "loss_legacy")
    ln = as_scores(loss_new, "loss_new")
    n = check_same_length(loss_legacy=la, loss_new=ln)
    w = as_weights(sample_weight, n)
    ww = np.ones(n) if w is None else w
    m = int(np.count_nonzero(ww > 0))
    if m < 2:
        raise ParityInputError(f"loss_legacy: need at least 2 rows with positive weight for a paired interval, got {m}")
    W = ww.sum()
    d = ln - la
    dbar = float(_dot(ww, d) / W)
    se = float(math.sqrt(m / (m - 1) * _dot(ww**2, (d - dbar) ** 2)) / W)
    df = m - 1
    if se > 0:
        h = float(student_t.ppf(1 - alpha / 2, df)) * se
        p = float(2 * student_t.sf(abs(dbar) / se, df))
    else:
        h, p = 0.0, (1.0 if dbar == 0 else 0.0)
    return PairedDifferenceResult(legacy=float(_dot(ww, la) / W), new=float(_dot(ww, ln) / W), diff=dbar,
                                  ci=(dbar - h, dbar + h), alpha=alpha, se=se, n=m, df=df, p_value=p,
                                  method=f"paired per-row differences (t interval, {df} df)")
