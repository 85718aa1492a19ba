"""The multinomial bootstrap's resamples, drawn block by block, and sums over them.

A replicate's resample is n unit indices drawn uniformly with replacement, by the protocol in
`draw`'s docstring. Two engines compute the same things from it:
- numpy (always there): `indices` materializes the resample; `column_sums` gathers each column
  and adds it up in the documented order;
- numba (when importable, and not disabled with PARITY_NUMBA=0): compiled loops that produce the
  same indices, and the same sums bit for bit without materializing anything. Hand-written because
  a replicate of a mean-type metric (RMSE, MAE, the calibration ratio) is only "draw 1e6 indices,
  gather, add", which numpy does in many passes over memory, while the compiled loop draws in
  registers and reads each block of the data once per batch of replicates: 10-20x faster per
  replicate at 1e6 rows (benchmarks/BENCHMARKS.md). The tests check that both engines agree
  exactly, so a report does not depend on whether numba is installed.

The order of the additions is part of the contract, because floating-point addition is not
associative: draw j of the resample goes to lane j % 4; each lane is added up sequentially in draw
order, starting from +0.0; the sum is (lane0 + lane1) + (lane2 + lane3). (Four lanes let the
compiled loop overlap four additions; numpy reproduces the order with a cumulative sum, whose
sequential definition is documented.)
"""
from __future__ import annotations

import importlib
import os
from functools import lru_cache
from typing import Any, NamedTuple, Sequence

import numpy as np

RESAMPLE_BLOCK_BITS = 12  # resamples are drawn block by block, 2**12 consecutive units per block

# SplitMix64 (Steele, Lea & Flood 2014): output t of the stream seeded with s is _mix64(s + t * gamma).
_GAMMA_INT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_GAMMA = np.uint64(_GAMMA_INT)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LANES = 4


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function; wraps modulo 2**64 on purpose."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class Resample(NamedTuple):
    """One replicate's resample, not yet materialized (`draw`)."""

    n_units: int
    bits: int
    counts: np.ndarray | None  # draws per full block (None: fewer units than one block)
    key: int  # seeds the SplitMix64 stream of the in-block offsets
    tail: np.ndarray  # the last partial block's draws (all draws when counts is None), intp

    @property
    def n_in_blocks(self) -> int:
        return 0 if self.counts is None else self.n_units - int(self.tail.shape[0])


def draw(seed: int, b: int, n_units: int, bits: int = RESAMPLE_BLOCK_BITS) -> Resample:
    """Replicate b's resample: n_units unit indices drawn uniformly with replacement, grouped by
    block of 2**bits consecutive units. Exactly the classic multinomial bootstrap: the counts are
    Multinomial(n, 1/n, ..., 1/n); only the order of the draws differs, and no metric depends on it.

    Protocol, with rng = default_rng(SeedSequence(seed, spawn_key=(b,))) (the b-th child of
    SeedSequence(seed).spawn(...), so replicate b does not depend on the number of replicates),
    1 <= bits <= 16:
      1. G = n // 2**bits full blocks and a last block of r = n - G * 2**bits units. If G == 0 the
         resample is rng.integers(0, n, n). Otherwise the number of draws landing in each block is
         N = rng.multinomial(n, [2**bits / n] * G + [r / n]);
      2. key = rng.bit_generator.random_raw() (one 64-bit word). The F = N[:G].sum() draws inside
         the full blocks are the top `bits` bits of the consecutive 16-bit fields, least
         significant field first, of the SplitMix64 outputs w_t = mix64(key + t * 0x9E3779B97F4A7C15),
         t = 1, 2, ..., ceil(F / 4): the first N[0] are offsets into block 0, the next N[1] into
         block 1, and so on;
      3. the N[G] draws inside the last block are rng.integers(0, r, N[G]).
    Given the block totals, the draws in a block are iid uniform over it, so the resample is exact.

    Why blocks: every gather and scatter a metric does then stays inside a 2**12-unit window that
    stays in cache. Why SplitMix64 for the offsets: it is a counter-based stream (output t is a
    function of t), so the compiled engine generates it in registers, about 2x cheaper than
    numpy's bit generators; its outputs are published test vectors (tests), so the protocol does
    not depend on any numpy version."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits: expected 1..16, got {bits}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b,)))
    size = 1 << bits
    n_full, rest = divmod(n_units, size)
    if n_full == 0:
        return Resample(n_units, bits, None, 0, rng.integers(0, n_units, size=n_units, dtype=np.intp))
    pvals = np.full(n_full + 1, size / n_units)
    pvals[-1] = rest / n_units
    counts = rng.multinomial(n_units, pvals)
    key = int(rng.bit_generator.random_raw())
    tail = n_full * size + rng.integers(0, rest, size=int(counts[-1]), dtype=np.intp)
    return Resample(n_units, bits, counts[:-1].astype(np.int64, copy=False), key, tail)


# ----------------------------------------------------------------------------------------------
# numpy engine: the reference, and the fallback
# ----------------------------------------------------------------------------------------------

def _np_words(key: int, n_words: int) -> np.ndarray:
    """SplitMix64 outputs 1..n_words of the stream seeded with key, little-endian (in-place steps:
    each temporary of this size costs as much as the arithmetic)."""
    z = np.arange(1, n_words + 1, dtype=np.uint64)
    z *= _GAMMA
    z += np.uint64(key)
    tmp = np.empty_like(z)
    for shift, mult in ((30, _M1), (27, _M2), (31, None)):
        np.right_shift(z, np.uint64(shift), out=tmp)
        z ^= tmp
        if mult is not None:
            z *= mult
    return z.astype("<u8", copy=False)


def _np_indices(r: Resample) -> np.ndarray:
    if r.counts is None:
        return r.tail
    f = r.n_in_blocks
    idx = np.empty(r.n_units, dtype=np.intp)
    fields = _np_words(r.key, -(-f // 4)).view("<u2")[:f]  # least significant field first
    np.right_shift(fields, 16 - r.bits, out=idx[:f], casting="unsafe")
    start = 0
    for g, c in enumerate(r.counts.tolist()):
        if g:
            idx[start: start + c] += g << r.bits
        start += c
    idx[f:] = r.tail
    return idx


def _np_column_sums(r: Resample, cols: Sequence[np.ndarray]) -> np.ndarray:
    idx = _np_indices(r)
    n = idx.shape[0]
    # Row 0 of `vals` is the lanes' +0.0 start; zeros pad the last row (x + 0.0 == x for every x a
    # lane can hold: a lane that starts at +0.0 never becomes -0.0).
    vals = np.empty((1 + -(-n // _LANES), _LANES))
    flat = vals.reshape(-1)
    out = np.empty(len(cols))
    for k, col in enumerate(cols):
        flat[:_LANES] = 0.0
        flat[_LANES + n:] = 0.0
        np.take(col, idx, out=flat[_LANES: _LANES + n])
        with np.errstate(all="ignore"):  # inf - inf is NaN here as in the compiled loop, silently
            np.cumsum(vals, axis=0, out=vals)  # sequential down each lane, by definition of cumsum
        lanes = vals[-1]
        out[k] = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    return out


# ----------------------------------------------------------------------------------------------
# numba engine
# ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _numba_kernels() -> Any:
    """The compiled kernels, or None when numba is missing, broken (e.g. older than the installed
    numpy) or disabled with PARITY_NUMBA=0."""
    if os.environ.get("PARITY_NUMBA", "").strip().lower() in ("0", "off", "false", "no"):
        return None
    try:
        return importlib.import_module("harness.stats._resample_numba")
    except Exception:  # numba raises ImportError, or others, when it does not support this numpy
        return None


def engine() -> str:
    """"numba" or "numpy": which engine `indices` and `column_sums` use here."""
    return "numpy" if _numba_kernels() is None else "numba"


def indices(r: Resample) -> np.ndarray:
    """The resample's unit indices (intp), in protocol order."""
    kern = _numba_kernels()
    if kern is None or r.counts is None:
        return _np_indices(r)
    idx = np.empty(r.n_units, dtype=np.intp)
    kern.fill_indices(np.uint64(r.key), r.counts, r.bits, idx)
    idx[r.n_in_blocks:] = r.tail
    return idx


def column_sums(rs: Sequence[Resample], cols: Sequence[np.ndarray]) -> np.ndarray:
    """Shape (len(rs), len(cols)): sum_j float(col[idx_j]) over each resample's draws, added in the
    order the module docstring documents. The resamples must have the same n_units and bits; cols are
    1-D contiguous float64, one value per unit. Batches are cheaper per replicate for
    the compiled engine (it reads each block once per batch)."""
    out = np.empty((len(rs), len(cols)))
    kern = _numba_kernels()
    if kern is None:
        for b, r in enumerate(rs):
            out[b] = _np_column_sums(r, cols)
        return out
    if len({(r.n_units, r.bits) for r in rs}) > 1:
        raise ValueError("column_sums: the resamples of one batch must have the same n_units and bits")
    bits = rs[0].bits
    if rs[0].counts is None:
        keys, counts = np.zeros(len(rs), dtype=np.uint64), np.zeros((len(rs), 0), dtype=np.int64)
    else:
        keys = np.array([r.key for r in rs], dtype=np.uint64)
        counts = np.stack([r.counts for r in rs])
    tails = np.concatenate([r.tail for r in rs])
    tail_starts = np.zeros(len(rs) + 1, dtype=np.int64)
    np.cumsum([r.tail.shape[0] for r in rs], out=tail_starts[1:])
    for k in range(0, len(cols), 2):  # two columns per pass over the resamples
        pair = k + 1 < len(cols)
        acc = np.zeros((len(rs), 2 * _LANES))
        kern.batch_sums(keys, counts, bits, tails, tail_starts, cols[k], cols[k + 1] if pair else None, acc)
        out[:, k] = (acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])
        if pair:
            out[:, k + 1] = (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
    return out
