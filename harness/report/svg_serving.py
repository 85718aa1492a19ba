"""Inline SVG plots of the report's measured section: latency CDFs, throughput against batch size, cost
per stage. Drawn with `harness.report.svg`'s scales and axes, no JavaScript; each is an ``<svg
data-plot="KIND">`` like the other plots.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report.format import fmt_num
from harness.report.svg import (_LEGACY, _NEW, _axes, _f, _legend, _log_ticks, _LogScale, _marked_line, _numbers, _open,
                                _Scale, _ticks)

__all__ = ["cost_bars", "latency_cdf", "throughput_plot"]

_SIDES = (("legacy", _LEGACY), ("new", _NEW))
_BOTH = "#8250df"  # a stage that builds or checks both sides at once (load, train, evaluate)


def _points(name: str, cdf: Any) -> list[tuple[float, float]]:
    if not isinstance(cdf, Sequence) or isinstance(cdf, str):
        return []
    out = []
    for i, p in enumerate(cdf):
        x, y = _numbers(f"{name}[{i}]", p, length=2)
        if x == x and y == y and x > 0:
            out.append((x, y))
    return out


def _log_range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    return (lo, hi * 10) if hi <= lo else (lo, hi)


def latency_cdf(per_side: Mapping[str, Mapping[str, Any]], *, plot_id: str, title: str) -> str:
    """The closed-loop latency CDF of both sides at one batch size (HDR percentile points), x on a log
    axis so the tail stays readable; the open loop's (latency from the scheduled send time) dashed."""
    width, height, pad_l, pad_b, pad_t, pad_r = 460, 260, 56, 44, 12, 110
    curves = {}
    for side, _ in _SIDES:
        entry = per_side.get(side) or {}
        curves[(side, "closed")] = _points(f"{side}.cdf_closed_ms", entry.get("cdf_closed_ms"))
        curves[(side, "open")] = _points(f"{side}.cdf_open_ms", entry.get("cdf_open_ms"))
    xs = [x for pts in curves.values() for x, _ in pts]
    lo, hi = _log_range(xs) if xs else (0.1, 10.0)
    x = _LogScale(lo, hi, pad_l, width - pad_r)
    y = _Scale(0.0, 1.0, height - pad_b, pad_t)
    out = _open("latency_cdf", plot_id, width, height, title)
    legend = []
    for side, color in _SIDES:
        for mode, dash in (("closed", ""), ("open", ' stroke-dasharray="4,3"')):
            pts = curves[(side, mode)]
            if not pts:
                continue
            # A CDF is a step function: hold each level until the next latency.
            path = [f"{_f(x(pts[0][0]))},{_f(y(0.0))}"]
            prev = 0.0
            for a, b in pts:
                path += [f"{_f(x(a))},{_f(y(prev))}", f"{_f(x(a))},{_f(y(b))}"]
                prev = b
            out.append(f'<polyline class="{side} {mode}" points="{" ".join(path)}" fill="none" stroke="{color}" '
                       f'stroke-width="1.5"{dash}><title>{escape(side)}, {mode} loop</title></polyline>')
            if (side, color) not in legend:
                legend.append((side, color))
    out += _axes(x, y, x_label="latency, ms (log scale)", y_label="fraction of requests",
                 x_ticks=_log_ticks(lo, hi), y_ticks=[0.0, 0.25, 0.5, 0.75, 1.0])
    out += _legend(width - pad_r + 10, pad_t + 4, legend)
    notes = ["solid: closed loop"] + (["dashed: open loop"] if any(curves[(s, "open")] for s, _ in _SIDES) else [])
    for k, note in enumerate(notes):
        out.append(f'<text x="{_f(width - pad_r + 10)}" y="{_f(pad_t + 48 + 14 * k)}" font-size="10" '
                   f'fill="#57606a">{note}</text>')
    out.append("</svg>")
    return "\n".join(out)


def throughput_plot(batch_sizes: Mapping[str, Mapping[str, Any]], *, plot_id: str,
                    title: str = "Throughput against batch size") -> str:
    """Predictions per second (closed loop, median over rounds) against batch size, both sides, log-log."""
    width, height, pad_l, pad_b, pad_t, pad_r = 460, 260, 64, 44, 12, 90
    series: dict[str, list[tuple[float, float]]] = {side: [] for side, _ in _SIDES}
    for b, per_side in sorted(batch_sizes.items(), key=lambda kv: int(kv[0])):
        for side, _ in _SIDES:
            v = ((per_side.get(side) or {}).get("median") or {}).get("predictions_per_s")
            if isinstance(v, (int, float)) and v > 0:
                series[side].append((float(b), float(v)))
    bs = [float(b) for b in batch_sizes] or [1.0]
    ys = [v for pts in series.values() for _, v in pts] or [1.0]
    xlo, xhi = _log_range(bs)
    ylo, yhi = _log_range(ys)
    x = _LogScale(xlo, xhi, pad_l, width - pad_r)
    y = _LogScale(ylo, yhi, height - pad_b, pad_t)
    out = _open("throughput", plot_id, width, height, title)
    for side, color in _SIDES:
        pts = series[side]
        if not pts:
            continue
        out += _marked_line(side, color, pts, x, y, lambda a, b: f"batch {fmt_num(a)}, {fmt_num(b)} predictions/s")
    out += _axes(x, y, x_label="batch size (log scale)", y_label="predictions / s (log scale)",
                 x_ticks=_log_ticks(xlo, xhi), y_ticks=_log_ticks(ylo, yhi), y_label_offset=52)
    out += _legend(width - pad_r + 10, pad_t + 4, list(_SIDES))
    out.append("</svg>")
    return "\n".join(out)


def cost_bars(cost: Mapping[str, Mapping[str, Any]], *, plot_id: str, measure: str = "cpu_s",
              title: str = "CPU seconds per stage") -> str:
    """One bar per stage and side (``measure``: ``cpu_s``, ``wall_s`` or ``peak_rss_mb``), horizontal,
    stages in the run's order; a stage of both sides at once (load, train, evaluate) in its own colour."""
    rows = []
    for stage, figures in cost.items():
        v = (figures or {}).get(measure)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            name, _, side = stage.partition(":")
            color = dict(_SIDES).get(side, _BOTH)
            rows.append((stage, float(v), color))
    bar, gap, pad_l, pad_r, pad_t, pad_b, width = 14, 6, 130, 24, 10, 44, 460
    height = pad_t + pad_b + max(1, len(rows)) * (bar + gap)
    peak = max([v for _, v, _ in rows] + [1e-9])
    x = _Scale(0.0, peak, pad_l, width - pad_r)
    y = _Scale(0.0, 1.0, height - pad_b, pad_t)
    out = _open("cost_bars", plot_id, width, height, title)
    for i, (stage, v, color) in enumerate(rows):
        top = pad_t + i * (bar + gap)
        out.append(f'<rect class="bar" x="{_f(x(0))}" y="{_f(top)}" width="{_f(max(0.5, x(v) - x(0)))}" '
                   f'height="{bar}" fill="{color}"><title>{escape(stage)}: {fmt_num(v)}</title></rect>')
        out.append(f'<text x="{_f(pad_l - 6)}" y="{_f(top + bar - 3)}" font-size="11" text-anchor="end">'
                   f"{escape(stage)}</text>")
    out += _axes(x, y, x_label=title, y_label="", x_ticks=_ticks(0.0, peak, 4), y_ticks=[])
    out.append("</svg>")
    return "\n".join(out)
