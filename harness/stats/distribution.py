"""Distribution parity, for when rows cannot be aligned (scores on different traffic, different days).

Four statistics, each compared with an *effect-size* threshold, never with a p-value alone:

=============  ==================================================  ==========  ==========
statistic      what                                                 stable if   shift if
=============  ==================================================  ==========  ==========
``ks``         Kolmogorov-Smirnov D, max |F_ref - F_cand|           D < 0.05    D >= 0.10
``psi``        population stability index on reference deciles    < 0.10      >= 0.25
``js``         Jensen-Shannon distance (base 2) on the same bins    < 0.10      >= 0.20
``wasserstein``  earth mover's distance / std of the reference      < 0.10      >= 0.25
=============  ==================================================  ==========  ==========

Verdicts: below "stable" -> EQUIVALENT; at or above "shift" -> NOT_EQUIVALENT; in between (a moderate
shift that needs a human look) -> INCONCLUSIVE.

Why effect sizes: golden sets hold 1e5-1e7 rows, where the KS test rejects "same distribution" for shifts
far too small to matter (at n = 1e6 per side the 5 % critical D is 0.0019); and on small samples the same
p-value misses shifts that do matter. A threshold on the size of the difference means the same thing at
every n. The p-value of KS is still reported, for context. The other side of the same coin: on small
samples sampling noise alone can exceed the "stable" threshold, so a small value proves nothing; each
result reports ``noise_95`` (`noise_level`: about the 95th percentile of the statistic with no shift at
all, from the effective sample sizes; for Wasserstein `wasserstein_noise_level`, simulated from the
reference) and an EQUIVALENT verdict becomes INCONCLUSIVE when ``noise_95`` reaches the stable threshold
(KS needs roughly 1,500 rows per side for D < 0.05 to mean anything). Likewise a value at or above "shift"
but within ``noise_95`` is INCONCLUSIVE, not NOT_EQUIVALENT: noise alone reaches it, so it shows no shift.
The noise levels assume two independent samples; two models' scores on the same rows are positively
correlated, so their real no-shift noise is smaller and ``noise_95`` errs towards INCONCLUSIVE (which fails
a gate), never towards a verdict.

Why these numbers: PSI < 0.1 / 0.1-0.25 / > 0.25 is the credit-scoring convention (Siddiqi, *Credit Risk
Scorecards*, 2006) used across model-monitoring tools. For small shifts the JS divergence is about PSI / 8
nats (both are second-order in the bin differences: PSI ~ sum d^2/p, JSD ~ sum d^2/(8p)), i.e. a JS
*distance* (base 2) of about 0.13 at PSI 0.1 and 0.21 at PSI 0.25; we round to 0.10 / 0.20. KS 0.05 /
0.10 and Wasserstein 0.1 / 0.25 standard deviations are our choices on the same scale: a shift of the mean
by 0.1 sd of a normal score moves D by 0.04 and PSI by about 0.01; 0.25 sd moves D by 0.10.

Binning (PSI, JS): ``n_bins`` quantile bins of the reference (inverted-CDF quantiles, weighted when
weights are given), right-closed, outer bins open to -inf/+inf so every candidate value falls in a bin;
tied quantiles are merged (and an edge at the reference maximum dropped), so a reference with few
distinct values gets fewer bins (reported as ``n_bins`` in the details). Empty bins
make PSI infinite, so proportions are floored at ``epsilon`` (default 1e-4: one row in 10,000, below the
resolution of a decile at golden-set sizes) for PSI only; JS is finite with empty bins and uses the raw
proportions.

Weights: PSI, JS and Wasserstein (scipy's ``u_weights``/``v_weights``) accept weights. scipy's KS has no
weighted variant; with weights the D statistic is computed from the weighted empirical CDFs here and no
p-value is given.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st
from scipy.spatial.distance import jensenshannon as _jensenshannon

from harness.errors import ParityInputError
from harness.results import CheckResult, jsonable
from harness.verdicts import Verdict

__all__ = [
    "DistributionResult",
    "THRESHOLDS",
    "STATISTICS",
    "ks",
    "psi",
    "jensen_shannon",
    "wasserstein",
    "compare_distributions",
    "quantile_edges",
    "bin_proportions",
    "noise_level",
    "wasserstein_noise_level",
]

#: statistic -> (stable below, shift at or above); see the module docstring for the reasons.
THRESHOLDS: dict[str, tuple[float, float]] = {
    "ks": (0.05, 0.10),
    "psi": (0.10, 0.25),
    "js": (0.10, 0.20),
    "wasserstein": (0.10, 0.25),
}
STATISTICS = tuple(THRESHOLDS)
DEFAULT_EPSILON = 1e-4


@dataclass
class DistributionResult:
    """One statistic comparing a candidate sample with a reference sample."""

    statistic: str
    value: float
    threshold: dict[str, float]  # {"stable_below": ..., "shift_at": ...}
    verdict: Verdict
    p_value: float | None
    n_reference: int
    n_candidate: int
    weighted: bool
    details: dict[str, Any] = field(default_factory=dict)

    def to_check(self, *, prefix: str = "distribution", gated: bool = True) -> CheckResult:
        """A `CheckResult` of kind "distribution" with id ``{prefix}/{statistic}``."""
        verb = {"EQUIVALENT": "stable", "INCONCLUSIVE": "moderate shift", "NOT_EQUIVALENT": "shift"}[self.verdict.value]
        summary = (f"{self.statistic} = {self.value:.4g} ({verb}; stable below {self.threshold['stable_below']:g}, "
                   f"shift at {self.threshold['shift_at']:g})")
        details = {self.statistic: self.value, "threshold": self.threshold, "p_value": self.p_value,
                   "n_reference": self.n_reference, "n_candidate": self.n_candidate, "weighted": self.weighted,
                   **{k: v for k, v in self.details.items() if k not in ("edges",)}}
        return CheckResult(id=f"{prefix}/{self.statistic}", kind="distribution", verdict=self.verdict, gated=gated,
                           summary=summary, details=details)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "verdict": self.verdict,
            "p_value": self.p_value,
            "n_reference": self.n_reference,
            "n_candidate": self.n_candidate,
            "weighted": self.weighted,
            "details": self.details,
        })


def _sample(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ParityInputError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ParityInputError(f"{name} is empty; a distribution needs at least one value")
    try:
        a = a.astype(float, copy=False)
    except (TypeError, ValueError):
        raise ParityInputError(f"{name} must hold numbers, got dtype {a.dtype}") from None
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ParityInputError(f"{name}[{int(bad[0])}] = {float(a[bad[0]])!r}: values must be finite "
                               f"({bad.size} non-finite value(s) in all)")
    return a


def _weights(name: str, w: Any, n: int) -> np.ndarray | None:
    if w is None:
        return None
    a = _sample(name, w)
    if a.size != n:
        raise ParityInputError(f"{name} has {a.size} values but its sample has {n}")
    bad = np.flatnonzero(a < 0)
    if bad.size:
        raise ParityInputError(f"{name}[{int(bad[0])}] = {float(a[bad[0]])!r}: weights must be >= 0")
    if not a.sum() > 0:
        raise ParityInputError(f"{name} sums to 0; at least one weight must be positive")
    return a


def _threshold(statistic: str, thresholds: tuple[float, float] | None) -> tuple[float, float]:
    stable, shift = THRESHOLDS[statistic] if thresholds is None else thresholds
    if not (0 <= stable <= shift):
        raise ParityInputError(f"thresholds for {statistic} must be (stable_below, shift_at) with "
                               f"0 <= stable_below <= shift_at, got {thresholds!r}")
    return float(stable), float(shift)


def _verdict(value: float, stable: float, shift: float) -> Verdict:
    if value >= shift:
        return Verdict.NOT_EQUIVALENT
    if value < stable:
        return Verdict.EQUIVALENT
    return Verdict.INCONCLUSIVE


def _n_eff(w: np.ndarray | None, n: int) -> float:
    # Kish's effective sample size: weights spread the information over fewer "rows"
    return float(n) if w is None else float(w.sum() ** 2 / np.sum(w * w))


def noise_level(statistic: str, n_reference: float, n_candidate: float, *, n_bins: int = 10) -> float | None:
    """About the 95th percentile of the statistic when both samples come from one distribution.

    KS: the asymptotic critical value ``1.358 * sqrt(1/n + 1/m)``. PSI: to second order PSI is
    ``sum (q - p)^2 / p``, a chi-square statistic with ``n_bins - 1`` degrees of freedom scaled by
    ``1/n + 1/m``. JS distance (base 2): ``sqrt(PSI / (8 ln 2))`` of that PSI level (JSD ~ PSI / 8 nats).
    Wasserstein: None here (no distribution-free form; `wasserstein_noise_level` simulates it from the
    reference).
    """
    scale = 1.0 / n_reference + 1.0 / n_candidate
    if statistic == "ks":
        return float(math.sqrt(-math.log(0.025) / 2) * math.sqrt(scale))
    if statistic in ("psi", "js"):
        psi95 = float(_st.chi2.ppf(0.95, max(n_bins - 1, 1))) * scale
        return psi95 if statistic == "psi" else math.sqrt(psi95 / (8 * math.log(2)))
    return None


def _result(statistic: str, value: float, thresholds: tuple[float, float] | None, p_value: float | None,
            n_ref: int, n_cand: int, weighted: bool, details: dict[str, Any], *,
            noise: float | None = None) -> DistributionResult:
    stable, shift = _threshold(statistic, thresholds)
    verdict = _verdict(float(value), stable, shift)
    if noise is not None:
        details = {**details, "noise_95": noise}
        if verdict is Verdict.EQUIVALENT and noise >= stable:
            # the samples are too small for "stable" to mean anything: sampling noise alone reaches the threshold
            verdict = Verdict.INCONCLUSIVE
            details["note"] = (f"samples too small to show stability: with no shift at all, {statistic} reaches "
                               f"{noise:.3g} (95th percentile) >= the stable threshold {stable:g}")
        elif verdict is Verdict.NOT_EQUIVALENT and value <= noise:
            # the mirror case: a value that sampling noise alone reaches is no evidence of a shift
            verdict = Verdict.INCONCLUSIVE
            details["note"] = (f"samples too small to show a shift: {statistic} = {value:.3g} is within what "
                               f"sampling noise alone reaches ({noise:.3g}, 95th percentile with no shift)")
    return DistributionResult(statistic, float(value), {"stable_below": stable, "shift_at": shift},
                              verdict, p_value, n_ref, n_cand, weighted, details)


def _weighted_ecdf_d(x: np.ndarray, wx: np.ndarray, y: np.ndarray, wy: np.ndarray) -> float:
    # Hand-written because scipy's ks_2samp has no weights: both step CDFs evaluated at every pooled
    # value (the supremum of |F - G| is attained at a data point, right-continuously).
    ox, oy = np.argsort(x, kind="stable"), np.argsort(y, kind="stable")
    xs, ys = x[ox], y[oy]
    cx, cy = np.cumsum(wx[ox]) / wx.sum(), np.cumsum(wy[oy]) / wy.sum()
    pooled = np.concatenate([xs, ys])
    ix = np.searchsorted(xs, pooled, side="right")
    iy = np.searchsorted(ys, pooled, side="right")
    fx = np.where(ix > 0, cx[np.maximum(ix - 1, 0)], 0.0)
    fy = np.where(iy > 0, cy[np.maximum(iy - 1, 0)], 0.0)
    return float(np.max(np.abs(fx - fy)))


def ks(reference: Any, candidate: Any, *, reference_weight: Any = None, candidate_weight: Any = None,
       thresholds: tuple[float, float] | None = None) -> DistributionResult:
    """Two-sample Kolmogorov-Smirnov D (scipy.stats.ks_2samp; weighted D by hand, without a p-value)."""
    x, y = _sample("reference", reference), _sample("candidate", candidate)
    wx = _weights("reference_weight", reference_weight, x.size)
    wy = _weights("candidate_weight", candidate_weight, y.size)
    if wx is None and wy is None:
        res = _st.ks_2samp(x, y)
        return _result("ks", float(res.statistic), thresholds, float(res.pvalue), x.size, y.size, False, {},
                       noise=noise_level("ks", x.size, y.size))
    wx = np.ones(x.size) if wx is None else wx
    wy = np.ones(y.size) if wy is None else wy
    return _result("ks", _weighted_ecdf_d(x, wx, y, wy), thresholds, None, x.size, y.size, True,
                   {"note": "weighted D; scipy has no weighted KS test, so no p-value"},
                   noise=noise_level("ks", _n_eff(wx, x.size), _n_eff(wy, y.size)))


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: np.ndarray) -> np.ndarray:
    # Inverted-CDF quantile (numpy's method="inverted_cdf"), weighted; numpy < 2 has no `weights=`.
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    idx = np.searchsorted(cw, qs * cw[-1], side="left")
    return xs[np.minimum(idx, xs.size - 1)]


def quantile_edges(reference: Any, *, n_bins: int = 10, weight: Any = None) -> np.ndarray:
    """Interior bin edges: the reference's (weighted) inverted-CDF quantiles at k/n_bins.

    Tied quantiles are merged and an edge equal to the reference maximum is dropped, so no bin is empty in
    the reference; a reference with a single distinct value gets a single bin (every statistic 0).
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ParityInputError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    x = _sample("reference", reference)
    w = _weights("reference_weight", weight, x.size)
    qs = np.arange(1, n_bins) / n_bins
    w = np.ones(x.size) if w is None else w
    edges = np.unique(_weighted_quantiles(x, w, qs))
    # an edge at the reference maximum would leave the top bin empty in the reference (right-closed bins)
    return edges[edges < x[w > 0].max()]


def bin_proportions(values: np.ndarray, edges: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) share of ``values`` in each right-closed bin (-inf, e1], (e1, e2], ..., (e_k, inf)."""
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, weights=weight, minlength=edges.size + 1).astype(float)
    return counts / counts.sum()


def _binned(reference: Any, candidate: Any, reference_weight: Any, candidate_weight: Any,
            n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, bool, tuple[float, float]]:
    x, y = _sample("reference", reference), _sample("candidate", candidate)
    wx = _weights("reference_weight", reference_weight, x.size)
    wy = _weights("candidate_weight", candidate_weight, y.size)
    edges = quantile_edges(x, n_bins=n_bins, weight=wx)
    noise_n = (_n_eff(wx, x.size), _n_eff(wy, y.size))
    return (bin_proportions(x, edges, wx), bin_proportions(y, edges, wy), edges, x.size, y.size,
            wx is not None or wy is not None, noise_n)


def psi(reference: Any, candidate: Any, *, n_bins: int = 10, epsilon: float = DEFAULT_EPSILON,
        reference_weight: Any = None, candidate_weight: Any = None,
        thresholds: tuple[float, float] | None = None) -> DistributionResult:
    """Population stability index ``sum (q - p) * ln(q / p)`` over reference-quantile bins.

    ``p``/``q`` are the reference/candidate proportions, each floored at ``epsilon`` (empty bins).
    """
    if not (isinstance(epsilon, (int, float)) and 0 < epsilon < 1):
        raise ParityInputError(f"epsilon must be in (0, 1), got {epsilon!r}")
    p, q, edges, n_ref, n_cand, weighted, ne = _binned(reference, candidate, reference_weight, candidate_weight, n_bins)
    pf, qf = np.maximum(p, epsilon), np.maximum(q, epsilon)
    value = float(np.sum((qf - pf) * np.log(qf / pf)))
    return _result("psi", value, thresholds, None, n_ref, n_cand, weighted,
                   {"n_bins": int(p.size), "edges": edges, "reference_share": p, "candidate_share": q,
                    "epsilon": float(epsilon)}, noise=noise_level("psi", *ne, n_bins=int(p.size)))


def jensen_shannon(reference: Any, candidate: Any, *, n_bins: int = 10, reference_weight: Any = None,
                   candidate_weight: Any = None, thresholds: tuple[float, float] | None = None) -> DistributionResult:
    """Jensen-Shannon distance, base 2 (in [0, 1]), of the binned distributions (scipy)."""
    p, q, edges, n_ref, n_cand, weighted, ne = _binned(reference, candidate, reference_weight, candidate_weight, n_bins)
    value = float(_jensenshannon(p, q, base=2))
    if not math.isfinite(value):  # identical one-point distributions can give nan from 0/0 in scipy
        value = 0.0
    return _result("js", value, thresholds, None, n_ref, n_cand, weighted,
                   {"n_bins": int(p.size), "edges": edges, "reference_share": p, "candidate_share": q,
                    "base": 2}, noise=noise_level("js", *ne, n_bins=int(p.size)))


_BRIDGE_GRID = 512  # quantile cells of the reference: fine enough that the integral's grid error is ~1 %
_BRIDGE_REPLICATES = 4000  # Monte Carlo error of the 95th percentile about 1-2 %


def wasserstein_noise_level(reference: Any, n_reference: float, n_candidate: float, *, weight: Any = None,
                            seed: int = 0) -> float:
    """About the 95th percentile of the *scaled* Wasserstein distance when both samples share the reference's
    distribution, at these (effective) sizes.

    Unlike KS, W1 has no distribution-free null: it is ``sqrt(1/n + 1/m) * integral |B(F(x))| dx`` for a
    Brownian bridge ``B`` (del Barrio, Gine & Matran 1999, for F with ``integral sqrt(F(1-F)) dx`` finite),
    so it depends on F through the spacing of its quantiles. The integral is simulated on
    `_BRIDGE_GRID` quantile cells of the reference (trapezoids; ``B(0) = B(1) = 0``), `_BRIDGE_REPLICATES`
    times from ``seed``, and divided by the reference's standard deviation like `wasserstein` itself.
    """
    x = _sample("reference", reference)
    w = _weights("reference_weight", weight, x.size)
    w = np.ones(x.size) if w is None else w
    u = np.arange(_BRIDGE_GRID + 1) / _BRIDGE_GRID
    xq = _weighted_quantiles(x, w, u)
    xq[0] = x[w > 0].min()  # the 0-quantile is the minimum, also when leading rows carry zero weight
    dx = np.diff(xq)
    mean = float(np.average(x, weights=w))
    sd = math.sqrt(float(np.average((x - mean) ** 2, weights=w)))
    if not sd > 0:
        raise ParityInputError("reference is constant (standard deviation 0), so the Wasserstein distance "
                               "cannot be scaled; compare with ks or psi instead")
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal((_BRIDGE_REPLICATES, _BRIDGE_GRID)), axis=1) / math.sqrt(_BRIDGE_GRID)
    bridge = np.abs(walk - u[1:] * walk[:, -1:])  # B at u_1..u_G; B(u_G) = 0 up to rounding
    heights = np.concatenate([np.zeros((_BRIDGE_REPLICATES, 1)), bridge], axis=1)
    integral = ((heights[:, :-1] + heights[:, 1:]) / 2) @ dx
    return float(np.quantile(integral, 0.95)) * math.sqrt(1.0 / n_reference + 1.0 / n_candidate) / sd


def wasserstein(reference: Any, candidate: Any, *, reference_weight: Any = None, candidate_weight: Any = None,
                thresholds: tuple[float, float] | None = None, seed: int = 0) -> DistributionResult:
    """Earth mover's distance (scipy.stats.wasserstein_distance) divided by the reference's (weighted) std.

    Dividing by the reference spread makes the threshold unit-free; a constant reference has no spread and
    is rejected. ``noise_95`` comes from `wasserstein_noise_level` (simulated from ``seed``).
    """
    x, y = _sample("reference", reference), _sample("candidate", candidate)
    wx = _weights("reference_weight", reference_weight, x.size)
    wy = _weights("candidate_weight", candidate_weight, y.size)
    raw = float(_st.wasserstein_distance(x, y, wx, wy))
    ww = np.ones(x.size) if wx is None else wx
    mean = float(np.average(x, weights=ww))
    sd = math.sqrt(float(np.average((x - mean) ** 2, weights=ww)))
    if not sd > 0:
        raise ParityInputError("reference is constant (standard deviation 0), so the Wasserstein distance "
                               "cannot be scaled; compare with ks or psi instead")
    noise = wasserstein_noise_level(x, _n_eff(wx, x.size), _n_eff(wy, y.size), weight=wx, seed=seed)
    return _result("wasserstein", raw / sd, thresholds, None, x.size, y.size, wx is not None or wy is not None,
                   {"distance": raw, "reference_std": sd}, noise=noise)


def compare_distributions(reference: Any, candidate: Any, *, statistics: Sequence[str] = STATISTICS,
                          n_bins: int = 10, reference_weight: Any = None, candidate_weight: Any = None,
                          thresholds: dict[str, tuple[float, float]] | None = None,
                          seed: int = 0) -> list[DistributionResult]:
    """Every requested statistic, in the order given (``seed``: Wasserstein's simulated noise level)."""
    if isinstance(statistics, str):
        statistics = (statistics,)
    unknown = [s for s in statistics if s not in THRESHOLDS]
    if unknown:
        raise ParityInputError(f"unknown statistic(s) {unknown}; choose from {list(STATISTICS)}")
    thresholds = thresholds or {}
    unknown = [s for s in thresholds if s not in THRESHOLDS]
    if unknown:
        raise ParityInputError(f"thresholds given for unknown statistic(s) {unknown}; choose from {list(STATISTICS)}")
    out = []
    for s in statistics:
        kw: dict[str, Any] = {"reference_weight": reference_weight, "candidate_weight": candidate_weight,
                              "thresholds": thresholds.get(s)}
        if s in ("psi", "js"):
            kw["n_bins"] = n_bins
        if s == "wasserstein":
            kw["seed"] = seed
        out.append({"ks": ks, "psi": psi, "js": jensen_shannon, "wasserstein": wasserstein}[s](
            reference, candidate, **kw))
    return out
