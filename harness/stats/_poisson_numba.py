"""Compiled loops of the Poisson bootstrap (`harness.stats._poisson`, whose docstring is the
contract); importing this module imports numba. Each computes exactly what the numpy engine there
computes (tested): the same weights, and the same additions in the same order.

Shape of every loop: rows outer, a batch of R replicates inner. For each row the R weights go into a
small int32 buffer first (`_row_weights`: pure 32-bit integer work, which LLVM vectorizes 8 lanes
wide), then a second loop folds them into R running sums per column that stay in L1, while the
row's values sit in registers. Each row is read from memory once per batch."""
from __future__ import annotations

import math

import numba
import numpy as np

from harness.stats._numba_cache import cached_jit
from harness.stats._poisson import _M1, _M2, THRESHOLDS

_u32 = np.uint32
_i32 = np.int32
_FLIP = np.uint32(0x80000000)
# Signed thresholds: x >= T_j (unsigned) is (x ^ 2**31) >= T_j - 2**31 (signed), one instruction in AVX2.
_S = (THRESHOLDS.astype(np.int64) - 2**31).astype(np.int32)
assert _S.shape[0] == 12, "the unrolled comparisons below assume 12 thresholds"
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9, _S10, _S11 = (np.int32(v) for v in _S)

_inline = numba.njit(inline="always")


# Every intermediate is cast back to 32 bits: numba widens integer arithmetic to 64 bits, and the
# casts let LLVM narrow it again (32-bit multiplies vectorize in AVX2, 64-bit ones do not).
@_inline
def _mixed(lo, hi, step):
    x = _u32(_u32(lo + step) ^ hi)
    x = _u32(x ^ (x >> _u32(16)))
    x = _u32(x * _M1)
    x = _u32(x ^ (x >> _u32(15)))
    x = _u32(x * _M2)
    x = _u32(x ^ (x >> _u32(16)))
    return _i32(_u32(x ^ _FLIP))


@_inline
def _k6(s):
    """min(k, 6) from the signed word s."""
    k = _i32(_i32(s >= _S0) + _i32(s >= _S1))
    k = _i32(k + _i32(_i32(s >= _S2) + _i32(s >= _S3)))
    return _i32(k + _i32(_i32(s >= _S4) + _i32(s >= _S5)))


@_inline
def _k_tail(s):
    """k - 6 for a word with k >= 6 (one draw in 1700)."""
    k = _i32(_i32(s >= _S6) + _i32(s >= _S7))
    k = _i32(k + _i32(_i32(s >= _S8) + _i32(s >= _S9)))
    return _i32(k + _i32(_i32(s >= _S10) + _i32(s >= _S11)))


@_inline
def _row_weights(lo, hi, steps, kb):
    """kb[r] = the row's weight in the batch's replicate r."""
    top = _i32(0)
    for r in range(steps.shape[0]):
        v = _k6(_mixed(lo, hi, steps[r]))
        kb[r] = v
        top = max(top, v)
    if top == 6:  # the rare tail, only for the rows that need it, so the loop above stays short
        for r in range(steps.shape[0]):
            if kb[r] == 6:
                kb[r] = _i32(6 + _k_tail(_mixed(lo, hi, steps[r])))


@_inline
def x_nonzero(x):
    """Whether a row's term k * x can change a running sum. It cannot for x = +-0.0: the sums start
    at +0.0 and a sum of finite terms is -0.0 only when every term is, so adding +-0.0 leaves every
    running sum (finite, inf or NaN) as it is, bit for bit. Skipping those rows is exact, and a 0/1
    label column (the calibration ratio's denominator) then costs only its positive rows."""
    return x != 0.0


@cached_jit
def fill_counts(lo, hi, step, out):
    for i in range(lo.shape[0]):
        s = _mixed(lo[i], hi[i], step)
        v = _k6(s)
        out[i] = v if v < 6 else _i32(6 + _k_tail(s))


@cached_jit
def drawn(lo, hi, step, cols, keep, k, out):
    """The units with a positive weight, their weights and cols there; returns how many."""
    n = lo.shape[0]
    for i in range(n):  # the weights first (k >= 6 left at 6): a loop that vectorizes
        k[i] = _k6(_mixed(lo[i], hi[i], step))
    m = 0
    for i in range(n):
        v = k[i]
        if v == 6:
            v = _i32(6 + _k_tail(_mixed(lo[i], hi[i], step)))
        # Written for every unit and kept only when drawn: a third of the units are not, at random,
        # so a branch on it would be mispredicted that often.
        keep[m] = i
        k[m] = v
        m += v != 0
    for c in range(cols.shape[0]):
        col = cols[c]
        o = out[c]
        for j in range(m):
            o[j] = col[keep[j]]
    return m


@cached_jit
def sums(lo, hi, steps, cols, acc):
    """acc[c, r] += float(k_ir) * cols[c, i], rows in order (acc starts at +0.0)."""
    nrep = steps.shape[0]
    ncol = cols.shape[0]
    kb = np.empty(nrep, np.int32)
    for i in range(lo.shape[0]):
        _row_weights(lo[i], hi[i], steps, kb)
        if ncol == 2 and x_nonzero(cols[0, i]) and x_nonzero(cols[1, i]):
            x0, x1 = cols[0, i], cols[1, i]
            a0, a1 = acc[0], acc[1]
            for r in range(nrep):
                k = np.float64(kb[r])
                a0[r] += k * x0
                a1[r] += k * x1
        else:
            for c in range(ncol):
                x = cols[c, i]
                if not x_nonzero(x):
                    continue
                a = acc[c]
                for r in range(nrep):
                    a[r] += np.float64(kb[r]) * x


@cached_jit
def sums_parts(lo, hi, steps, cols, seg, with_all, acc_all, acc):
    """`sums` into acc_all (every row, when with_all) and into acc[seg[i]] (rows with seg >= 0),
    each row's weights generated once for both."""
    nrep = steps.shape[0]
    ncol = cols.shape[0]
    kb = np.empty(nrep, np.int32)
    for i in range(lo.shape[0]):
        g = seg[i]
        if g < 0 and not with_all:
            continue
        _row_weights(lo[i], hi[i], steps, kb)
        for c in range(ncol):
            x = cols[c, i]
            if not x_nonzero(x):
                continue
            a = acc_all[c]
            if g >= 0:
                p = acc[g, c]
                if with_all:
                    for r in range(nrep):
                        t = np.float64(kb[r]) * x  # one product, added to both sums
                        a[r] += t
                        p[r] += t
                else:
                    for r in range(nrep):
                        p[r] += np.float64(kb[r]) * x
            else:
                for r in range(nrep):
                    a[r] += np.float64(kb[r]) * x


@cached_jit
def run_flags(score, order, pos, flags):
    """`_poisson.Sweep`'s flag byte per row, rows taken in `order`: runs of equal scores in one pass."""
    n = order.shape[0]
    i = 0
    while i < n:
        s = score[order[i]]
        j = i
        has = False
        while j < n and score[order[j]] == s:
            p = pos[order[j]]
            flags[j] = 1 if p else 0
            has = has or p
            j += 1
        flags[j - 1] |= 8
        if has:
            flags[i] |= 2
            flags[j - 1] |= 4
        i = j


@cached_jit
def rank_sweep(lo, hi, flags, w, steps, ap, out):
    """out[r] = (U, CP, CN) of `_poisson.auc_sweep`, or with ap (rows in descending score order)
    (A, TP) of `_poisson.ap_sweep`; flags: bit 0 positive, bit 1 first row of a run with a
    positive, bit 2 its last row."""
    nrep = steps.shape[0]
    kb = np.empty(nrep, np.int32)
    cp = np.zeros(nrep)  # TP for AP
    cn = np.zeros(nrep)  # FP for AP
    cp_s = np.zeros(nrep)
    cn_s = np.zeros(nrep)
    u = np.zeros(nrep)  # A for AP
    for i in range(lo.shape[0]):
        f = flags[i]
        if f & 2:
            cp_s[:] = cp
            cn_s[:] = cn
        _row_weights(lo[i], hi[i], steps, kb)
        acc = cp if f & 1 else cn
        if w is None:
            for r in range(nrep):
                acc[r] += np.float64(kb[r])
        else:
            wi = w[i]
            for r in range(nrep):
                acc[r] += np.float64(kb[r]) * wi
        if f & 4:
            if ap:
                for r in range(nrep):
                    p = cp[r] - cp_s[r]
                    if p > 0:
                        u[r] += p * (cp[r] / (cp[r] + cn[r]))
            else:
                for r in range(nrep):
                    u[r] += (cp[r] - cp_s[r]) * (cn_s[r] + 0.5 * (cn[r] - cn_s[r]))
    for r in range(nrep):
        out[r, 0], out[r, 1] = u[r], cp[r]
        if not ap:
            out[r, 2] = cn[r]


@cached_jit
def ece_sweep(lo, hi, w, gap, run_end, targets, steps, out):
    """out[r] = the running sum of |bin gap| of `_poisson.ece_sweep`; targets (n_bins - 1, R)."""
    n = lo.shape[0]
    nrep = steps.shape[0]
    nt = targets.shape[0]
    kb = np.empty(nrep, np.int32)
    cw = np.zeros(nrep)
    g = np.zeros(nrep)
    g_prev = np.zeros(nrep)
    nxt = np.zeros(nrep, np.int64)
    close = np.full(nrep, -1, np.int64)
    for i in range(n):
        _row_weights(lo[i], hi[i], steps, kb)
        wi = 1.0 if w is None else w[i]
        gi = gap[i]
        last = run_end[i]
        for r in range(nrep):
            ws = np.float64(kb[r]) if w is None else np.float64(kb[r]) * wi
            cw[r] += ws
            while nxt[r] < nt and cw[r] >= targets[nxt[r], r]:
                if close[r] < last:
                    close[r] = last
                nxt[r] += 1
            g[r] += ws * gi
            if close[r] == i or i == n - 1:
                out[r] += abs(g[r] - g_prev[r])
                g_prev[r] = g[r]


@cached_jit
def logistic_sums(x, ww, a, b, out):
    """out = the six running sums of `_poisson.logistic_sums` at (a, b): one pass, one exp per row."""
    s0 = s1 = s2 = s3 = s4 = s5 = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        mu = 1.0 / (1.0 + math.exp(-(xi * b + a)))  # scipy's expit, term for term
        m = ww[i] * mu
        q = m * mu
        xx = xi * xi
        s0 += m
        s1 += m * xi
        s2 += q
        s3 += q * xi
        s4 += m * xx
        s5 += q * xx
    out[0], out[1], out[2], out[3], out[4], out[5] = s0, s1, s2, s3, s4, s5
