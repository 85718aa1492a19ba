"""Poisson-bootstrap replicate sums as a mergeable accumulator, keyed by (seed, row key, replicate).

`harness.stats.bootstrap.poisson_weights(keys, seed, replicates)` gives row i's Poisson(1) count in
replicate b from (seed, key_i, b) alone, so a replicate's weighted sum ``sum_i c_bi * v_i`` of a chunk
adds to the other chunks' whatever the chunking and row order. `ReplicateSums` keeps, per replicate
and per value column, that sum exactly: the integer ``sum * 2**_SCALE`` (as `harness.scale._exact`),
built from the mantissa halves of each value times the integer counts with np.bincount (each product
below 2**31, at most `_MAX_ROWS` rows per call, so every float64 partial is an exact integer).

Used by the streamed comparison for the mean-type metrics whose bootstrap replicate is a ratio of
weighted sums (the calibration ratio: ``sum c (w p_new - w p_legacy) / sum c w y``), so their memory
is O(replicates), not O(rows). The in-memory bootstrap sums the same terms in float64, so replicates
agree to a few ulps and the percentile intervals to ~1e-15 (tests/scale/test_scale_replicates.py).
"""
from __future__ import annotations

import numpy as np

from harness.errors import ParityInputError
from harness.scale._exact import _EMIN, _LO_BITS, _SCALE

__all__ = ["BootstrapMean", "ReplicateSums", "bootstrap_estimate"]

_MAX_ROWS = 1 << 21  # counts are < 2**5 in practice; 2**27 * 2**5 * 2**21 = 2**53: exact partial sums
_BLOCK = 32  # replicates whose counts are drawn at once (32 x chunk rows of int32)


class ReplicateSums:
    """Exact ``sum_i c_bi * cols[j, i]`` for replicates b < n_boot and columns j; mergeable."""

    def __init__(self, n_boot: int, n_cols: int, seed: int) -> None:
        self.n_boot, self.n_cols, self.seed = int(n_boot), int(n_cols), int(seed)
        self._total = [[0] * self.n_boot for _ in range(self.n_cols)]

    def add(self, keys: np.ndarray, cols: np.ndarray) -> None:
        """``cols``: (n_cols, n) float64, finite; ``keys``: the n rows' unique keys."""
        from harness.stats.bootstrap import poisson_weights

        cols = np.asarray(cols, dtype=np.float64).reshape(self.n_cols, -1)
        for start in range(0, cols.shape[1], _MAX_ROWS):
            part, k = cols[:, start:start + _MAX_ROWS], keys[start:start + _MAX_ROWS]
            if part.shape[1] == 0:
                continue
            split = [_split(v) for v in part]
            for b0 in range(0, self.n_boot, _BLOCK):
                b1 = min(b0 + _BLOCK, self.n_boot)
                counts = poisson_weights(k, self.seed, np.arange(b0, b1)).astype(np.float64)
                for j, (hi, lo, inv, offs) in enumerate(split):
                    self._add_block(j, b0, counts, hi, lo, inv, offs)

    def _add_block(self, j, b0, counts, hi, lo, inv, offs) -> None:
        nb, r = offs.shape[0], counts.shape[0]
        idx = (inv[None, :] + nb * np.arange(r)[:, None]).reshape(-1)
        s_hi = np.bincount(idx, weights=(counts * hi).reshape(-1), minlength=r * nb).reshape(r, nb)
        s_lo = np.bincount(idx, weights=(counts * lo).reshape(-1), minlength=r * nb).reshape(r, nb)
        shifts = (offs + _EMIN - 53 + _SCALE).tolist()
        total = self._total[j]
        for i in range(r):
            acc = 0
            for q, (h, low) in enumerate(zip(s_hi[i].tolist(), s_lo[i].tolist())):
                if h or low:
                    acc += ((int(h) << _LO_BITS) + int(low)) << shifts[q]
            total[b0 + i] += acc

    def merge(self, other: ReplicateSums) -> ReplicateSums:
        out = ReplicateSums(self.n_boot, self.n_cols, self.seed)
        out._total = [[x + y for x, y in zip(a, b)] for a, b in zip(self._total, other._total)]
        return out

    def ratio(self, num: int, den: int) -> np.ndarray:
        """Per replicate, sum(col num) / sum(col den), each exact sum divided once (inf/nan when 0)."""
        out = np.empty(self.n_boot)
        for b, (x, y) in enumerate(zip(self._total[num], self._total[den])):
            out[b] = (x / y) if y else (np.nan if x == 0 else (np.inf if x > 0 else -np.inf))
        return out


def _split(v: np.ndarray):
    """(hi, lo) mantissa halves as float64, the exponent bin of each row and the bins' exponent offsets."""
    if not np.isfinite(v).all():
        raise ValueError("ReplicateSums: values must be finite")
    m, e = np.frexp(v)
    mant = np.ldexp(m, 53).astype(np.int64)
    hi = (mant >> _LO_BITS).astype(np.float64)
    lo = (mant & ((1 << _LO_BITS) - 1)).astype(np.float64)
    offs, inv = np.unique(e - _EMIN, return_inverse=True)
    return hi, lo, inv.reshape(-1), offs


class BootstrapMean:
    """A metric that is a ratio of weighted sums (the calibration ratio; a mean of per-row losses when
    the bootstrap is asked for) under `harness.stats.bootstrap.paired_bootstrap`'s Poisson scheme:
    replicate sums of ``w * (value_new - value_legacy)`` and of the denominator, exact; point sums of each
    side's numerator; the rows with positive weight counted by class (what the metric's label check needs).
    ``estimate`` returns what `harness.stats.compare` builds from ``paired_bootstrap`` (percentile interval)."""

    def __init__(self, metric, *, n_boot: int, seed: int, weighted: bool) -> None:
        from harness.scale._exact import ExactSum

        self.metric, self.n_boot, self.seed, self.weighted = metric, int(n_boot), int(seed), weighted
        self.reps = ReplicateSums(n_boot, 2, seed)
        self._point = [ExactSum(), ExactSum(), ExactSum()]
        self.n_pos = self.n_neg = 0

    def _columns(self, y, a, b, w):
        ww = np.ones(y.shape[0]) if w is None else w
        if self.metric.name == "calibration_ratio":
            return ww * a, ww * b, ww * y
        return ww * self.metric.per_row(y, a), ww * self.metric.per_row(y, b), ww

    def add(self, y, a, b, w=None, *, keys) -> None:
        na, nb, den = self._columns(y, a, b, w)
        self.reps.add(np.asarray(keys), np.stack([nb - na, den]))
        for s, v in zip(self._point, (na, nb, den)):
            s.add(v)
        counted = y if w is None else y[w > 0]
        pos = int(np.count_nonzero(counted == 1.0))
        self.n_pos += pos
        self.n_neg += int(counted.shape[0]) - pos

    def estimate(self, alpha: float, *, all_rows: bool):
        from harness.stats import compare as _cmp
        from harness.stats._validation import input_error

        need = _cmp._classes_needed(self.metric, "bootstrap")
        if need is not None and (self.n_pos < need[0] or self.n_neg < need[1]):
            detail = _cmp._join(need[3], "among the rows with positive weight" if self.weighted else "")
            exc = input_error("y_true", f"{need[2]} (got {self.n_pos} positive, {self.n_neg} negative)",
                              detail=detail)
            if all_rows:
                raise exc
            return _cmp._Undefined(exc.reason + (f" {exc.detail}" if exc.detail else ""))
        sa, sb, sd = (s.fraction() for s in self._point)
        if sd == 0:
            raise ParityInputError(f"{self.metric.name}: the denominator is 0 on these rows")
        legacy, new = float(sa / sd), float(sb / sd)
        return bootstrap_estimate(self.metric.name, legacy, new, self.reps.ratio(0, 1), self.n_boot, self.seed, alpha)


def bootstrap_estimate(name: str, legacy: float, new: float, reps: np.ndarray, n_boot: int, seed: int, alpha: float,
                       unit: str = ""):
    """`compare_scores`' percentile-bootstrap estimate from the point values and the replicates of
    ``new - legacy``; a replicate left undefined makes the estimate undefined, in `paired_bootstrap`'s
    words (as `compare_scores` does with that error, on all rows as on a slice)."""
    from harness.stats import compare as _cmp

    from harness.stats.bootstrap import percentile_ci, undefined_replicates_error

    bad = ~np.isfinite(reps)
    if bad.any():  # paired_bootstrap's own words
        return _cmp._Undefined(str(undefined_replicates_error(name, int(bad.sum()), n_boot, groups=bool(unit))))

    def interval_at(level: float) -> tuple[float, float]:
        return percentile_ci(reps, level)

    method = f"paired Poisson bootstrap (percentile, {n_boot} replicates, seed {seed}{unit})"
    return _cmp.resampled_estimate(legacy, new, new - legacy, float(np.std(reps, ddof=1)), interval_at(2 * alpha),
                                   interval_at, alpha, method, len(reps))
