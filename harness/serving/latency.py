"""Latency histograms: an HdrHistogram (the `hdrhistogram` package) of latencies in microseconds.

HDR (high dynamic range) keeps a fixed relative precision over the whole range: with 3 significant
figures every recorded value is represented within 0.1 % of itself, from 1 us to an hour, in a few tens
of kilobytes and with O(1) recording. The percentiles are those of the recorded values to that precision
(the library's definition: the smallest bucket whose cumulative count reaches ``round(p/100 * n)``,
reported as the highest value equivalent to it).

A value the histogram cannot hold (negative, NaN, above the highest trackable value) is an error, not a
dropped sample: the library itself returns False and would lose it silently.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["LatencyHistogram", "PERCENTILES"]

# The report's fixed set: p50/p90/p99/p99.9 and the max (a p100 the library gives exactly).
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))

_US_PER_S = 1_000_000
_HIGHEST_US = 3_600 * _US_PER_S  # an hour: anything slower is a hang, and the runs are bounded far below


class LatencyHistogram:
    """Latencies recorded in seconds, stored as whole microseconds in an `hdrh.histogram.HdrHistogram`."""

    def __init__(self, *, significant_figures: int = 3, highest_s: float = _HIGHEST_US / _US_PER_S) -> None:
        from hdrh.histogram import HdrHistogram

        if isinstance(significant_figures, bool) or significant_figures not in (1, 2, 3, 4, 5):
            raise ValueError(f"significant_figures must be an int in 1..5, got {significant_figures!r}")
        if not (isinstance(highest_s, (int, float)) and math.isfinite(highest_s) and highest_s > 1e-6):
            raise ValueError(f"highest_s must be a finite number of seconds above 1e-6, got {highest_s!r}")
        self.significant_figures = significant_figures
        self.highest_us = int(math.ceil(highest_s * _US_PER_S))
        self._h = HdrHistogram(1, self.highest_us, significant_figures)
        # The exact sum of the recorded microseconds: the library's mean walks every bucket in Python.
        self._sum_us = 0

    @property
    def relative_precision(self) -> float:
        """Largest relative gap between a value and the value the histogram reports for it."""
        # The library keeps sub_bucket_half_count distinct values per power of two.
        return 1.0 / self._h.sub_bucket_half_count

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def record(self, seconds: float) -> None:
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"latency must be a finite number of seconds >= 0, got {seconds!r}")
        us = int(round(seconds * _US_PER_S))
        if us > self.highest_us or not self._h.record_value(us):
            raise ValueError(f"latency {seconds!r} s is above the histogram's highest trackable value "
                             f"({self.highest_us / _US_PER_S:g} s)")
        self._sum_us += us

    def record_many(self, seconds: Iterable[float]) -> None:
        for s in seconds:
            self.record(float(s))

    def merge(self, other: LatencyHistogram) -> None:
        if not isinstance(other, LatencyHistogram):
            raise TypeError(f"can only merge a LatencyHistogram, got {type(other).__name__}")
        self._h.add(other._h)
        self._sum_us += other._sum_us

    def percentile(self, p: float) -> float:
        """Latency in seconds at percentile ``p`` (0..100); NaN when nothing was recorded."""
        if not (isinstance(p, (int, float)) and 0 <= p <= 100):
            raise ValueError(f"percentile must be in [0, 100], got {p!r}")
        if self.count == 0:
            return math.nan
        if p == 100:
            return self.max
        return self._h.get_value_at_percentile(float(p)) / _US_PER_S

    @property
    def max(self) -> float:
        return self._h.get_max_value() / _US_PER_S if self.count else math.nan

    @property
    def mean(self) -> float:
        """Mean of the recorded values (whole microseconds), exact rather than from the buckets."""
        return self._sum_us / self.count / _US_PER_S if self.count else math.nan

    def summary_ms(self) -> dict[str, Any]:
        """``{"count", "p50", "p90", "p99", "p99.9", "max", "mean"}``, latencies in milliseconds."""
        out: dict[str, Any] = {"count": self.count}
        # One pass over the buckets for all percentiles (the library's faster query, same definition).
        values = self._h.get_percentile_to_value_dict([p for _, p in PERCENTILES]) if self.count else {}
        for name, p in PERCENTILES:
            out[name] = values[p] / 1e3 if self.count else math.nan
        out["max"] = self.max * 1e3
        out["mean"] = self.mean * 1e3
        return out

    def cdf_ms(self, *, ticks_per_half_distance: int = 5) -> list[list[float]]:
        """``[[latency_ms, cumulative fraction], ...]`` at the library's percentile iterator points: dense
        towards the tail (each halving of the remaining fraction gets as many points), which is what a
        log-axis CDF plot needs; its size depends on the tail, not on the number of requests."""
        if self.count == 0:
            return []
        points: list[list[float]] = []
        for item in self._h.get_percentile_iterator(ticks_per_half_distance):
            point = [item.value_iterated_to / 1e3, item.percentile_level_iterated_to / 100.0]
            if not points or point != points[-1]:
                points.append(point)
        return points

    def encode(self) -> str:
        """The standard compressed, base64 HdrHistogram encoding (readable by every HdrHistogram port)."""
        return self._h.encode().decode("ascii")
