"""Inline SVG plots for report.html, generated in Python from the report's aggregated plot data.

No plotting library and no JavaScript: the report must open offline, with no CDN, and its size must not
depend on the number of rows, so every plot draws from fixed-size summaries (bins, one row per metric).
Every plot is an ``<svg data-plot="KIND" id="...">`` so tests and readers can find it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from harness.errors import ParityInputError
from harness.report.format import fmt_ci, fmt_diff, fmt_num

__all__ = ["calibration_plot", "diff_plot", "forest_plot", "heatmap", "histogram_overlay"]

_LEGACY, _NEW = "#7a7a7a", "#1f6fd1"
_VERDICT_COLOR = {"EQUIVALENT": "#1a7f37", "NOT_EQUIVALENT": "#cf222e", "INCONCLUSIVE": "#9a6700"}


def _a(value: Any) -> str:
    return escape(str(value), quote=True)


def _f(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float) -> None:
        if not hi > lo:
            hi = lo + 1.0
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


class _QuantileScale:
    """Piecewise linear through ``edges`` (increasing): each bin gets the same width on the page.

    For bins of equal row count this is a quantile axis: a score distribution packed below 0.05 spreads
    over the whole plot instead of into its first few pixels. Ticks (`_quantile_ticks`) name real scores.
    """

    def __init__(self, edges: Sequence[float], a: float, b: float) -> None:
        self.edges, self.a, self.b = list(edges), a, b
        self.lo, self.hi = self.edges[0], self.edges[-1]

    def __call__(self, v: float) -> float:
        e, n = self.edges, len(self.edges) - 1
        if n < 1 or not e[-1] > e[0]:
            return (self.a + self.b) / 2
        if v <= e[0]:
            pos = 0.0
        elif v >= e[-1]:
            pos = float(n)
        else:
            i = max(k for k in range(n) if e[k] <= v)
            pos = i + ((v - e[i]) / (e[i + 1] - e[i]) if e[i + 1] > e[i] else 0.0)
        return self.a + pos / n * (self.b - self.a)


class _LogScale(_Scale):
    def __call__(self, v: float) -> float:
        return self.a + (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo)) \
            * (self.b - self.a) if v > 0 else self.a


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 x 10^k inside [lo, hi]; only the powers of ten when that alone gives three or more."""
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [m * 10.0 ** k for m in (1, 2, 5) if lo <= m * 10.0 ** k <= hi]
    decades = [t for t in out if math.isclose(math.log10(t), round(math.log10(t)))]
    return [float(f"{t:.1g}") for t in (decades if len(decades) >= 3 else out)]


def _quantile_ticks(edges: Sequence[float], n: int = 5) -> list[float]:
    """About ``n`` + 1 ticks spread evenly along a quantile axis, each a round score (2 significant
    digits) that lies inside the range, so the labels are readable and their positions exact."""
    out: list[float] = []
    for k in range(n + 1):
        v = edges[round(k * (len(edges) - 1) / n)]
        if v != 0:
            digits = 1 - math.floor(math.log10(abs(v)))
            r = round(v, digits)
            v = r if edges[0] <= r <= edges[-1] else v
        if not out or v > out[-1]:
            out.append(v)
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """'Nice' round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    # Round to the step's own decimals (not a fixed 12, which turned ticks of 1e-13 into 0), multiplying
    # rather than accumulating, so labels read 0.6 and not 0.6000000000000001.
    decimals = max(0, 2 - math.floor(math.log10(step)))
    out, k = [], 0
    while (t := (first + k) * step) <= hi + step * 1e-9:
        out.append(0.0 if abs(t) < step * 1e-9 else round(t, decimals))
        k += 1
    return out


def _open(kind: str, plot_id: str, width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg id="{_a(plot_id)}" data-plot="{_a(kind)}" class="plot" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_a(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def _axes(x: _Scale, y: _Scale, *, x_label: str, y_label: str, x_ticks: Sequence[float], y_ticks: Sequence[float],
          y_label_offset: float = 44) -> list[str]:
    out = [f'<g class="axes" font-size="11" fill="#333">']
    x0, x1, y0, y1 = x.a, x.b, y.a, y.b
    out.append(f'<rect x="{_f(x0)}" y="{_f(y1)}" width="{_f(x1 - x0)}" height="{_f(y0 - y1)}" fill="none" stroke="#999"/>')
    for t in x_ticks:
        px = x(t)
        out.append(f'<line x1="{_f(px)}" y1="{_f(y0)}" x2="{_f(px)}" y2="{_f(y0 + 4)}" stroke="#999"/>')
        out.append(f'<text x="{_f(px)}" y="{_f(y0 + 16)}" text-anchor="middle">{escape(fmt_num(t, digits=3))}</text>')
    for t in y_ticks:
        py = y(t)
        out.append(f'<line x1="{_f(x0 - 4)}" y1="{_f(py)}" x2="{_f(x0)}" y2="{_f(py)}" stroke="#999"/>')
        out.append(f'<text x="{_f(x0 - 6)}" y="{_f(py + 4)}" text-anchor="end">{escape(fmt_num(t, digits=3))}</text>')
    out.append(f'<text x="{_f((x0 + x1) / 2)}" y="{_f(y0 + 32)}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate({_f(x0 - y_label_offset)},{_f((y0 + y1) / 2)}) rotate(-90)" '
               'text-anchor="middle">'
               f"{escape(y_label)}</text>")
    out.append("</g>")
    return out


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> list[str]:
    out = ['<g class="legend" font-size="11">']
    for i, (label, color) in enumerate(items):
        out.append(f'<rect x="{_f(x)}" y="{_f(y + i * 16)}" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{_f(x + 16)}" y="{_f(y + i * 16 + 5)}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _numbers(name: str, values: Any, *, length: int | None = None) -> list[float]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ParityInputError(f"plot data {name}: expected a list of numbers, got {type(values).__name__}")
    if set(map(type, values)) <= {float, int, type(None)}:  # JSON numbers, the usual case: no per-value branches
        out = [math.nan if v is None else float(v) for v in values]
    else:  # name the first value that is not a number (a bool is not one)
        out = []
        for i, v in enumerate(values):
            if v is None:
                out.append(math.nan)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
            else:
                raise ParityInputError(f"plot data {name}[{i}]: expected a number, got {v!r}")
    if length is not None and len(out) != length:
        raise ParityInputError(f"plot data {name}: expected {length} values, got {len(out)}")
    return out


def forest_plot(rows: Sequence[Mapping[str, Any]], *, plot_id: str, title: str = "Metric differences") -> str:
    """One row per metric check: the difference and its interval, divided by that metric's margin.

    Dividing by the margin puts metrics of different units on one axis, where the margin is always at
    ±1 (equivalence: the shaded band; non-inferiority: the shaded side of the one bound). Intervals that
    run past the axis end in an arrow; the exact numbers are in each row's tooltip and in the table.
    Each row: ``check_id, label, diff, ci, margin (absolute, > 0 or None), test, higher_is_better, verdict``.
    """
    width, row_h, top, left, right = 900, 24, 30, 260, 40
    height = top + row_h * max(len(rows), 1) + 50
    finite = [abs(v) / r["margin"] for r in rows if r.get("margin")
              for v in (r.get("diff"), *(r.get("ci") or ())) if v is not None]
    span = min(max([1.5] + [v * 1.1 for v in finite]), 10.0)
    x = _Scale(-span, span, left, width - right)
    y_bottom = top + row_h * max(len(rows), 1)
    out = _open("forest", plot_id, width, height, title)
    out += _axes(x, _Scale(0, 1, y_bottom, top), x_label="(new \u2212 legacy) / margin", y_label="",
                 x_ticks=_ticks(-span, span, 8), y_ticks=[])
    out.append(f'<line x1="{_f(x(0))}" y1="{top}" x2="{_f(x(0))}" y2="{_f(y_bottom)}" stroke="#555" stroke-dasharray="3,3"/>')
    if not rows:
        out.append(f'<text x="{_f((left + width - right) / 2)}" y="{top + 16}" text-anchor="middle">no metric checks</text>')
    for i, r in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        color = _VERDICT_COLOR.get(str(r.get("verdict")), "#333")
        tip = (f"{r.get('label')}: diff {fmt_diff(r.get('diff'))}, CI {fmt_ci(r.get('ci'))}, "
               f"margin {fmt_num(r.get('margin'))} ({r.get('test')}), {r.get('verdict')}")
        out.append(f'<g class="forest-row" data-check="{_a(r.get("check_id"))}" data-verdict="{_a(r.get("verdict"))}">')
        out.append(f"<title>{escape(tip)}</title>")
        out.append(f'<text x="{left - 8}" y="{_f(cy + 4)}" text-anchor="end" font-size="11">{escape(str(r.get("label")))}</text>')
        m = r.get("margin")
        if not m:
            out.append(f'<text x="{_f(x(0) + 6)}" y="{_f(cy + 4)}" font-size="11">no margin</text></g>')
            continue
        if r.get("test") == "non_inferiority":
            bound = -1.0 if r.get("higher_is_better", True) is not False else 1.0
            lo, hi = (bound, span) if bound < 0 else (-span, bound)
        else:
            lo, hi = -1.0, 1.0
        out.append(f'<rect class="margin" x="{_f(x(lo))}" y="{_f(cy - row_h / 2 + 2)}" width="{_f(x(hi) - x(lo))}" '
                   f'height="{row_h - 4}" fill="#1a7f37" fill-opacity="0.10"/>')
        for b in (lo, hi):
            if abs(b) == 1.0:
                out.append(f'<line x1="{_f(x(b))}" y1="{_f(cy - row_h / 2 + 2)}" x2="{_f(x(b))}" '
                           f'y2="{_f(cy + row_h / 2 - 2)}" stroke="#1a7f37"/>')
        ci = r.get("ci") or (None, None)
        if ci[0] is not None and ci[1] is not None:
            a, b = ci[0] / m, ci[1] / m
            ca, cb = max(a, -span), min(b, span)
            out.append(f'<line class="ci" x1="{_f(x(ca))}" y1="{_f(cy)}" x2="{_f(x(cb))}" y2="{_f(cy)}" '
                       f'stroke="{color}" stroke-width="2"/>')
            for end, clipped, sign in ((ca, a < -span, -1), (cb, b > span, 1)):
                if clipped:  # past the axis: an arrow, never a silently shortened interval
                    px = x(end)
                    out.append(f'<path d="M{_f(px)},{_f(cy)} l{_f(-6 * sign)},-4 v8 z" fill="{color}"/>')
                else:
                    out.append(f'<line x1="{_f(x(end))}" y1="{_f(cy - 5)}" x2="{_f(x(end))}" y2="{_f(cy + 5)}" '
                               f'stroke="{color}" stroke-width="2"/>')
        if r.get("diff") is not None:
            d = max(min(r["diff"] / m, span), -span)
            out.append(f'<circle class="diff" cx="{_f(x(d))}" cy="{_f(cy)}" r="4" fill="{color}"/>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def heatmap(hexbin: Mapping[str, Any], *, plot_id: str, title: str = "Legacy vs new scores") -> str:
    """2-D histogram of (legacy score, new score) as a heat map on a log colour scale, with y = x.

    ``counts[i][j]`` holds rows with the legacy score in x bin i and the new score in y bin j (numpy
    ``histogram2d`` layout). A log scale, because parity puts nearly all mass on the diagonal and the
    few rows off it are exactly the ones a reviewer must see.
    """
    xe = _numbers("hexbin.x_edges", hexbin.get("x_edges"))
    ye = _numbers("hexbin.y_edges", hexbin.get("y_edges"))
    counts = hexbin.get("counts")
    if not isinstance(counts, Sequence) or len(counts) != len(xe) - 1:
        raise ParityInputError(f"plot data hexbin.counts: expected {len(xe) - 1} rows (one per x bin)")
    grid = [_numbers(f"hexbin.counts[{i}]", row, length=len(ye) - 1) for i, row in enumerate(counts)]
    size, pad_l, pad_b, pad_t = 360, 60, 44, 12
    width, height = size + pad_l + 110, size + pad_b + pad_t
    log = hexbin.get("axis") == "log" and xe[0] > 0 and ye[0] > 0
    scale = _LogScale if log else _Scale
    x = scale(xe[0], xe[-1], pad_l, pad_l + size)
    y = scale(ye[0], ye[-1], pad_t + size, pad_t)
    peak = max((c for row in grid for c in row if c == c), default=0.0)
    out = _open("hexbin", plot_id, width, height, title)
    for i, row in enumerate(grid):
        for j, c in enumerate(row):
            if not c > 0:
                continue
            out.append(f'<rect class="cell" x="{_f(x(xe[i]))}" y="{_f(y(ye[j + 1]))}" width="{_f(x(xe[i + 1]) - x(xe[i]))}" '
                       f'height="{_f(y(ye[j]) - y(ye[j + 1]))}" fill="{_heat(math.log1p(c) / math.log1p(peak))}">'
                       f"<title>{escape(fmt_num(int(c) if c == int(c) else c))} rows: legacy "
                       f"[{escape(fmt_num(xe[i]))}, {escape(fmt_num(xe[i + 1]))}), new "
                       f"[{escape(fmt_num(ye[j]))}, {escape(fmt_num(ye[j + 1]))})</title></rect>")
    lo, hi = max(xe[0], ye[0]), min(xe[-1], ye[-1])
    if hi > lo:
        out.append(f'<line class="diagonal" x1="{_f(x(lo))}" y1="{_f(y(lo))}" x2="{_f(x(hi))}" y2="{_f(y(hi))}" '
                   f'stroke="#cf222e" stroke-width="1" stroke-dasharray="4,3"/>')
    ticks = _log_ticks if log else _ticks
    out += _axes(x, y, x_label="legacy score" + (" (log scale)" if log else ""),
                 y_label="new score" + (" (log scale)" if log else ""), x_ticks=ticks(xe[0], xe[-1]),
                 y_ticks=ticks(ye[0], ye[-1]))
    out += _colour_scale(pad_l + size + 14, pad_t + 22, size - 40, peak)
    out.append("</svg>")
    return "\n".join(out)


def _heat(t: float) -> str:
    """Colour of a cell whose log count is the fraction ``t`` (0..1] of the peak's: light to dark blue."""
    return f"hsl(215,80%,{95 - 70 * t:.1f}%)"


def _colour_scale(left: float, top: float, height: float, peak: float, steps: int = 32) -> list[str]:
    """The heat map's colour bar: rows per cell on the same log scale as the cells, ticks at 1, 10, ...
    and the peak, so a reader can read a count off a colour."""
    out = ['<g class="colour-scale" font-size="11" fill="#333">',
           f'<text x="{_f(left - 4)}" y="{_f(top - 10)}">rows per cell</text>']
    if not peak > 0:
        out += [f'<text x="{_f(left)}" y="{_f(top + 12)}">no rows</text>', "</g>"]
        return out
    step_h = height / steps
    for k in range(steps):  # bottom (few rows) to top (the peak)
        t = (k + 1) / steps
        out.append(f'<rect x="{_f(left)}" y="{_f(top + height - (k + 1) * step_h)}" width="12" '
                   f'height="{_f(step_h + 0.3)}" fill="{_heat(t)}"/>')
    out.append(f'<rect x="{_f(left)}" y="{_f(top)}" width="12" height="{_f(height)}" fill="none" stroke="#999"/>')
    ticks = [10 ** k for k in range(0, int(math.log10(peak)) + 1) if 10 ** k <= peak]
    if not ticks or peak / ticks[-1] >= 2:
        ticks.append(peak)
    scale = math.log1p(peak)
    for c in ticks:
        py = top + height - math.log1p(c) / scale * height
        out.append(f'<line x1="{_f(left + 12)}" y1="{_f(py)}" x2="{_f(left + 16)}" y2="{_f(py)}" stroke="#999"/>')
        out.append(f'<text x="{_f(left + 19)}" y="{_f(py + 4)}">{escape(fmt_num(int(c) if c == int(c) else c))}</text>')
    out.append(f'<text x="{_f(left - 4)}" y="{_f(top + height + 16)}">(log scale)</text>')
    out.append("</g>")
    return out


def diff_plot(diff: Mapping[str, Any], *, plot_id: str, atol: float | None = None,
              title: str = "new \u2212 legacy by score") -> str:
    """The difference new − legacy (what the prediction gate tests) against the legacy score.

    The score axis is a quantile axis (each bin, of about equal rows, the same width). Per bin: the band from the 1st to the 99th percentile of the difference, its
    median, and a whisker to the extremes, so the worst rows are never hidden. The shaded horizontal band
    is the gate's tolerance ±``atol`` (absent when the suite states none).
    """
    edges = _numbers("diff_by_score.edges", diff.get("edges"))
    n_bins = len(edges) - 1
    series = {k: _numbers(f"diff_by_score.{k}", diff.get(k), length=n_bins)
              for k in ("min", "p01", "median", "p99", "max")}
    counts = _numbers("diff_by_score.count", diff.get("count"), length=n_bins)
    width, height, pad_l, pad_b, pad_t, pad_r = 520, 300, 84, 44, 12, 130
    values = [abs(v) for vals in series.values() for v in vals if v == v]
    if atol is not None and atol > 0:
        values.append(atol)
    span = max(values, default=0.0) * 1.15 or 1.0
    x = _QuantileScale(edges, pad_l, width - pad_r)
    y = _Scale(-span, span, height - pad_b, pad_t)
    out = _open("diff_by_score", plot_id, width, height, title)
    if atol is not None and atol > 0:
        out.append(f'<rect class="tolerance" x="{_f(x.a)}" y="{_f(y(atol))}" width="{_f(x.b - x.a)}" '
                   f'height="{_f(y(-atol) - y(atol))}" fill="#1a7f37" fill-opacity="0.10"/>')
        for b in (atol, -atol):
            out.append(f'<line x1="{_f(x.a)}" y1="{_f(y(b))}" x2="{_f(x.b)}" y2="{_f(y(b))}" stroke="#1a7f37"/>')
    out.append(f'<line x1="{_f(x.a)}" y1="{_f(y(0))}" x2="{_f(x.b)}" y2="{_f(y(0))}" stroke="#555" '
               'stroke-dasharray="3,3"/>')
    for i in range(n_bins):
        lo, p01, med, p99, hi = (series[k][i] for k in ("min", "p01", "median", "p99", "max"))
        if med != med:
            continue
        xa, xb = x(edges[i]), x(edges[i + 1])
        xm = (xa + xb) / 2
        tip = (f"legacy score [{fmt_num(edges[i])}, {fmt_num(edges[i + 1])}{']' if i == n_bins - 1 else ')'}: "
               f"{fmt_num(int(counts[i]))} rows; new \u2212 legacy median {fmt_diff(med)}, "
               f"1st\u201399th percentile [{fmt_diff(p01)}, {fmt_diff(p99)}], min {fmt_diff(lo)}, max {fmt_diff(hi)}")
        out.append(f'<g class="diff-bin"><title>{escape(tip)}</title>')
        out.append(f'<line class="extremes" x1="{_f(xm)}" y1="{_f(y(hi))}" x2="{_f(xm)}" y2="{_f(y(lo))}" '
                   'stroke="#57606a"/>')
        out.append(f'<rect class="p01-p99" x="{_f(xa)}" y="{_f(y(p99))}" width="{_f(max(xb - xa, 1.0))}" '
                   f'height="{_f(max(y(p01) - y(p99), 1.0))}" fill="{_NEW}" fill-opacity="0.35"/>')
        out.append(f'<line class="median" x1="{_f(xa)}" y1="{_f(y(med))}" x2="{_f(xa + max(xb - xa, 1.0))}" '
                   f'y2="{_f(y(med))}" stroke="#0b3d91" stroke-width="2"/>')
        out.append("</g>")
    out += _axes(x, y, x_label="legacy score (quantile scale: equal rows per bin)", y_label="new \u2212 legacy",
                 x_ticks=_quantile_ticks(edges),
                 y_ticks=_ticks(-span, span, 4), y_label_offset=70)
    legend = [("median", "#0b3d91"), ("1st\u201399th pct", _NEW), ("min\u2013max", "#57606a")]
    if atol is not None and atol > 0:
        legend.append((f"tolerance \u00b1{fmt_num(atol)}", "#1a7f37"))
    out += _legend(width - pad_r + 10, pad_t + 4, legend)
    out.append("</svg>")
    return "\n".join(out)


def histogram_overlay(hist: Mapping[str, Any], *, plot_id: str, title: str = "Score distributions") -> str:
    """Both sides' score histograms on shared bins: legacy filled grey, new as a blue outline."""
    edges = _numbers("score_hist.edges", hist.get("edges"))
    series = {side: _numbers(f"score_hist.{side}", hist.get(side), length=len(edges) - 1) for side in ("legacy", "new")}
    width, height, pad_l, pad_b, pad_t, pad_r = 460, 260, 60, 44, 12, 110
    peak = max([v for vals in series.values() for v in vals if v == v] + [1.0])
    log = hist.get("axis") == "log" and edges[0] > 0
    x = (_LogScale if log else _Scale)(edges[0], edges[-1], pad_l, width - pad_r)
    y = _Scale(0, peak, height - pad_b, pad_t)
    out = _open("score_hist", plot_id, width, height, title)

    def steps(vals: Sequence[float]) -> str:
        pts = [f"{_f(x(edges[0]))},{_f(y(0))}"]
        for i, v in enumerate(vals):
            v = 0.0 if v != v else v
            pts += [f"{_f(x(edges[i]))},{_f(y(v))}", f"{_f(x(edges[i + 1]))},{_f(y(v))}"]
        pts.append(f"{_f(x(edges[-1]))},{_f(y(0))}")
        return " ".join(pts)

    out.append(f'<polygon class="legacy" points="{steps(series["legacy"])}" fill="{_LEGACY}" fill-opacity="0.35" '
               f'stroke="{_LEGACY}"/>')
    out.append(f'<polyline class="new" points="{steps(series["new"])}" fill="none" stroke="{_NEW}" stroke-width="1.5"/>')
    out += _axes(x, y, x_label="score (log scale)" if log else "score", y_label="rows",
                 x_ticks=_log_ticks(edges[0], edges[-1]) if log else _ticks(edges[0], edges[-1]),
                 y_ticks=_ticks(0, peak, 4))
    out += _legend(width - pad_r + 10, pad_t + 4, [("legacy", _LEGACY), ("new", _NEW)])
    out.append("</svg>")
    return "\n".join(out)


def _marked_line(side: str, color: str, pts: Sequence[tuple[float, float]], x: Callable[[float], float],
                 y: Callable[[float], float], label: Callable[[float, float], str]) -> list[str]:
    """One side's line through ``pts`` and a circle at each point, titled ``"<side>: " + label(a, b)``."""
    out = [f'<polyline class="{side}" points="{" ".join(f"{_f(x(a))},{_f(y(b))}" for a, b in pts)}" '
           f'fill="none" stroke="{color}" stroke-width="1.5"/>']
    for a, b in pts:
        out.append(f'<circle cx="{_f(x(a))}" cy="{_f(y(b))}" r="3" fill="{color}">'
                   f"<title>{side}: {label(a, b)}</title></circle>")
    return out


def calibration_plot(calibration: Mapping[str, Any], *, plot_id: str, title: str = "Calibration") -> str:
    """Observed rate against mean predicted score per bin, for both sides, with the diagonal."""
    width, height, pad_l, pad_b, pad_t, pad_r = 460, 300, 60, 44, 12, 110
    curves = {}
    for side in ("legacy", "new"):
        c = calibration.get(side)
        if c is None:
            continue
        mp = _numbers(f"calibration.{side}.mean_pred", c.get("mean_pred"))
        obs = _numbers(f"calibration.{side}.obs_rate", c.get("obs_rate"), length=len(mp))
        curves[side] = [(a, b) for a, b in zip(mp, obs) if a == a and b == b]
    values = [v for pts in curves.values() for p in pts for v in p]
    lo, hi = (min(values + [0.0]), max(values + [1e-9])) if values else (0.0, 1.0)
    x = _Scale(lo, hi, pad_l, width - pad_r)
    y = _Scale(lo, hi, height - pad_b, pad_t)
    out = _open("calibration", plot_id, width, height, title)
    out.append(f'<line class="diagonal" x1="{_f(x(lo))}" y1="{_f(y(lo))}" x2="{_f(x(hi))}" y2="{_f(y(hi))}" '
               f'stroke="#999" stroke-dasharray="4,3"/>')
    for side, color in (("legacy", _LEGACY), ("new", _NEW)):
        pts = curves.get(side) or []
        if not pts:
            continue
        out += _marked_line(side, color, pts, x, y, lambda a, b: f"mean score {fmt_num(a)}, observed {fmt_num(b)}")
    out += _axes(x, y, x_label="mean predicted score", y_label="observed rate", x_ticks=_ticks(lo, hi),
                 y_ticks=_ticks(lo, hi))
    out += _legend(width - pad_r + 10, pad_t + 4, [(s, c) for s, c in (("legacy", _LEGACY), ("new", _NEW)) if s in curves])
    out.append("</svg>")
    return "\n".join(out)
