"""Serving and cost gates: ``new / legacy`` ratios with a margin, judged on interleaved repeats.

A measurement on a shared machine moves with everything else the machine does. The two sides are
therefore measured in rounds, one side right after the other (ABBA order across rounds, so a slow
drift hits both equally), and the statistic is the **median of the per-round ratios** ``new_r /
legacy_r``: a round in which the whole box was slow scales both of its numbers and leaves their ratio
alone, and the median ignores a round spoiled for one side only.

Its interval is the distribution-free confidence interval of a median (order statistics of the ratios,
via the binomial distribution: `scipy.stats.quantile_test`): exact for any continuous distribution, no
resampling and no seed. The verdict reads the (1 - 2 alpha) interval as the accuracy checks do:

* EQUIVALENT: the whole interval is <= ``max_ratio`` (the new side is shown to be within the margin),
* NOT_EQUIVALENT: the whole interval is > ``max_ratio``,
* INCONCLUSIVE: the interval straddles it, or there are too few rounds for an interval at this level
  (5 rounds at alpha = 0.05).

These rows are *not* part of the byte-identical determinism contract: they measure a machine.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.verdicts import Verdict

__all__ = ["CostGate", "ServingGate", "ratio_interval", "judge", "min_rounds"]

LATENCY_METRICS = ("p50", "p90", "p99", "p99.9", "max")
# Per-round, lower is better: CPU per 1,000 predictions, peak RSS of the serving path, load to first
# prediction, and seconds per 1,000 predictions at saturation (1 / throughput).
COST_METRICS = ("cpu_per_1k", "peak_rss", "cold_start", "time_per_1k")
UNITS = {"cpu_per_1k": "CPU s / 1k predictions", "peak_rss": "MB", "cold_start": "s",
         "time_per_1k": "s / 1k predictions at saturation", "artifact_size": "bytes"}


def _check_ratio(owner: str, max_ratio: Any, reason: Any) -> None:
    if isinstance(max_ratio, bool) or not isinstance(max_ratio, (int, float)) or not (math.isfinite(max_ratio) and max_ratio > 0):
        raise ParityInputError(f"{owner}: max_ratio must be a finite number > 0 (new / legacy), got {max_ratio!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise ParityInputError(f"{owner}: reason must say why this margin (a non-empty string), got {reason!r}")


@dataclass(frozen=True)
class ServingGate:
    """``new.<metric> / legacy.<metric> <= max_ratio`` for the latency of one batch size (closed loop)."""

    metric: str
    batch_size: int = 1
    max_ratio: float = 1.5
    reason: str = ""
    gated: bool = True

    def __post_init__(self) -> None:
        owner = f"ServingGate({self.metric!r}, batch_size={self.batch_size!r})"
        if self.metric not in LATENCY_METRICS:
            raise ParityInputError(f"{owner}: metric must be one of {LATENCY_METRICS}, got {self.metric!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParityInputError(f"{owner}: batch_size must be an int >= 1")
        _check_ratio(owner, self.max_ratio, self.reason)

    @property
    def id(self) -> str:
        return f"serving/{self.metric}@{self.batch_size}"

    kind = "serving"
    unit = "ms"


@dataclass(frozen=True)
class CostGate:
    """``new.<metric> / legacy.<metric> <= max_ratio`` for a cost of the serving path (see COST_METRICS;
    ``cpu_per_1k`` and ``time_per_1k`` at ``batch_size``). ``artifact_size`` is one exact number per side,
    its ratio needs no interval."""

    metric: str
    max_ratio: float = 1.2
    reason: str = ""
    batch_size: int = 1024
    gated: bool = True

    def __post_init__(self) -> None:
        owner = f"CostGate({self.metric!r})"
        if self.metric not in COST_METRICS + ("artifact_size",):
            raise ParityInputError(f"{owner}: metric must be one of {COST_METRICS + ('artifact_size',)}, got {self.metric!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParityInputError(f"{owner}: batch_size must be an int >= 1")
        _check_ratio(owner, self.max_ratio, self.reason)

    @property
    def id(self) -> str:
        return f"cost/{self.metric}@{self.batch_size}" if self.metric in ("cpu_per_1k", "time_per_1k") else f"cost/{self.metric}"

    kind = "cost"

    @property
    def unit(self) -> str:
        return UNITS[self.metric]


def min_rounds(alpha: float) -> int:
    """Fewest rounds whose extreme ratios already make a (1 - 2 alpha) interval for the median."""
    n = 1
    while 2 * 0.5 ** n > 2 * alpha:
        n += 1
    return n


def ratio_interval(legacy: Sequence[float], new: Sequence[float], *, alpha: float = 0.05) -> dict[str, Any]:
    """Per-round ratios ``new / legacy``, their median and its (1 - 2 alpha) distribution-free interval
    (``lo``/``hi`` NaN when the rounds are too few). Rounds are paired by position."""
    from scipy.stats import quantile_test

    a = np.asarray(legacy, dtype=np.float64)
    b = np.asarray(new, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ParityInputError(f"legacy and new need one value per round each, got {a.shape} and {b.shape}")
    if not (0 < alpha < 0.5):
        raise ParityInputError(f"alpha must be in (0, 0.5), got {alpha!r}")
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b >= 0)
    ratios = b[ok] / a[ok]
    out: dict[str, Any] = {"n_rounds": int(a.size), "n_used": int(ratios.size), "ratios": ratios.tolist(),
                           "ratio": math.nan, "lo": math.nan, "hi": math.nan, "level": 1 - 2 * alpha,
                           "method": "median of per-round ratios; order-statistic (binomial) interval"}
    if ratios.size == 0:
        return out
    out["ratio"] = float(np.median(ratios))
    if ratios.size >= min_rounds(alpha):
        ci = quantile_test(ratios, q=out["ratio"], p=0.5).confidence_interval(1 - 2 * alpha)
        out["lo"], out["hi"] = float(ci.low), float(ci.high)
    return out


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.3g}"


def resolution_note(metric: str, requests: Mapping[str, float] | None) -> str | None:
    """Why a round's latency quantile ``metric`` ("p99") is not a tail quantile: a q-quantile needs at
    least 1 / (1 - q) requests (100 for p99, 1000 for p99.9), one expected beyond it; with fewer, the
    HDR quantile (rank round(q n)) is one of the round's two largest latencies, its largest below half.
    ``requests``: side -> median requests per round. None when every side has enough."""
    if not requests or not metric.startswith("p"):
        return None
    q = float(metric[1:]) / 100.0
    needed = math.ceil(1.0 / (1.0 - q) - 1e-9)
    if all(n >= needed for n in requests.values()):
        return None
    counts = " / ".join(f"{n:g} {side}" for side, n in requests.items())
    return (f"each round's {metric} rests on a median of {counts} requests, fewer than the {needed} a {metric} "
            f"needs: it is one of the round's two largest latencies (the largest below "
            f"{needed // 2 + 1} requests), so the gate compares near-maxima; longer rounds resolve it "
            "(parity serve-bench SUITE --duration S)")


def judge(gate: ServingGate | CostGate, legacy: Sequence[float], new: Sequence[float], *,
          alpha: float = 0.05, requests: Mapping[str, float] | None = None) -> Any:
    """A `harness.results.CheckResult` (kind "serving" or "cost") for one gate over the rounds' values;
    ``requests`` (side -> median requests per round), for a latency quantile, says whether a round
    resolves it (`resolution_note`, in the summary, the message and the details)."""
    from harness.results import CheckResult

    # A figure that could not be measured (None: a process that could not be read) is a missing round.
    legacy = [math.nan if x is None else float(x) for x in legacy]
    new = [math.nan if x is None else float(x) for x in new]
    if gate.metric == "artifact_size":
        a, b = (float(legacy[0]) if len(legacy) else math.nan), (float(new[0]) if len(new) else math.nan)
        r = b / a if a > 0 and math.isfinite(b) else math.nan
        stats: dict[str, Any] = {"n_rounds": 1, "n_used": int(math.isfinite(r)), "ratios": [r], "ratio": r,
                                 "lo": r, "hi": r, "level": 1.0, "method": "exact (one size per side)"}
    else:
        stats = ratio_interval(legacy, new, alpha=alpha)
    lo, hi, ratio = stats["lo"], stats["hi"], stats["ratio"]
    what = f"{gate.metric}" + (f" at batch {gate.batch_size}" if gate.kind == "serving" or "per_1k" in gate.metric else "")
    if math.isfinite(hi) and hi <= gate.max_ratio:
        verdict, headline = Verdict.EQUIVALENT, f"new / legacy {what} is within {gate.max_ratio:g}x"
    elif math.isfinite(lo) and lo > gate.max_ratio:
        verdict, headline = Verdict.NOT_EQUIVALENT, f"new / legacy {what} exceeds {gate.max_ratio:g}x"
    elif stats["n_used"] < (1 if gate.metric == "artifact_size" else min_rounds(alpha)):
        verdict = Verdict.INCONCLUSIVE
        headline = (f"{what}: {stats['n_used']} usable round(s) of {stats['n_rounds']}; a "
                    f"{100 * (1 - 2 * alpha):g}% interval needs {min_rounds(alpha)} (parity serve-bench SUITE --repeats N)")
    else:
        verdict, headline = Verdict.INCONCLUSIVE, f"new / legacy {what}: the interval straddles {gate.max_ratio:g}x"
    interval = f"[{_fmt(lo)}, {_fmt(hi)}]"
    summary = f"ratio {_fmt(ratio)} {interval} vs max {gate.max_ratio:g}x"
    med_a = float(np.nanmedian(legacy)) if len(legacy) and np.isfinite(legacy).any() else math.nan
    med_b = float(np.nanmedian(new)) if len(new) and np.isfinite(new).any() else math.nan
    message = "" if verdict is Verdict.EQUIVALENT else (
        f"{gate.id}: {headline}.\n"
        f"  ratio new/legacy {_fmt(ratio)}, {100 * stats['level']:g}% interval {interval}, allowed <= {gate.max_ratio:g}x "
        f"({gate.reason})\n"
        f"  medians over {stats['n_rounds']} round(s): legacy {_fmt(med_a)} {gate.unit}, new {_fmt(med_b)} {gate.unit}\n"
        "  to fix: make the new serving path cheaper; if the interval straddles the margin, measure more rounds "
        "on a quieter machine (parity serve-bench SUITE --repeats N; a suite run measures a fixed 15)")
    details = {"metric": gate.metric, "batch_size": gate.batch_size, "unit": gate.unit,
               "max_ratio": gate.max_ratio, "reason": gate.reason, "legacy": [float(x) for x in legacy],
               "new": [float(x) for x in new], **stats}
    note = resolution_note(gate.metric, requests) if gate.kind == "serving" else None
    if requests:
        details["requests_per_round"] = {side: float(n) for side, n in requests.items()}
    if note:
        details["resolution"] = note
        summary += f" ({gate.metric} of too few requests per round: a near-maximum)"
        message += f"\n  note: {note}" if message else ""
    return CheckResult(id=gate.id, kind=gate.kind, verdict=verdict, gated=gate.gated, summary=summary,
                       message=message, details=details)
