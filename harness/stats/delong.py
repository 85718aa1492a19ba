"""DeLong's test for two correlated ROC AUCs on the same rows, with the fast algorithm of Sun & Xu.

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of paired AUCs from the structural
components V10 (per positive: share of negatives it outranks, ties half) and V01 (per negative:
share of positives that outrank it). Sun & Xu (2014, IEEE Signal Processing Letters 21(11)) compute
them from midranks in O(n log n) instead of O(n_pos * n_neg); here the midranks come from a single
sort per model: with rows sorted by score and grouped into runs of equal score, a positive's V10 is
(negatives in earlier runs + half the negatives in its run) / n_neg, and symmetrically for V01.

Conventions: `diff = auc_b - auc_a` (the harness always reports new - legacy). pROC's `roc.test`
reports roc1 - roc2, so `delong_paired(y, a, b)` has the opposite sign of `roc.test(roc(y, a),
roc(y, b))` for diff, z and the interval, and the same two-sided p-value. Scores are used as given:
larger means "more likely positive" (no automatic direction flipping as pROC does).

Intervals: ``z`` and ``p_value`` are DeLong's normal test of "no difference", as pROC. The interval of
the difference (``ci``, ``ci_at``) is NOT pROC's raw-scale ``diff -/+ z * se``, which is
anti-conservative near AUC = 1 (one-sided misses of 11-17 % instead of 2.5 % at AUC 0.999 with 100
positives): it is the range of auc_b - auc_a over the Wald ellipse of the two AUCs on the logit scale
(DeLong's covariance, delta method), with a Student-t radius at the kurtosis-adjusted Satterthwaite df
of the DeLong variance (`harness.stats.intervals`; ``df`` field). Away from the boundary and with enough
rows it matches the normal interval to about the third digit. ``ci_normal_at`` keeps pROC's interval.

Degenerate cases: fewer than 2 positives or 2 negatives raises ParityInputError (the variance needs
two of each). A standard error of exactly 0 (e.g. identical scores) gives z = 0, p = 1 and the
interval (0, 0) when the difference is 0, and z = +-inf, p = 0 and the interval (diff, diff)
otherwise. An AUC of exactly 0 or 1 has DeLong variance 0: it is held fixed and the interval is the other AUC's
logit-scale interval, shifted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import stdtr
from scipy.stats import norm

from harness.errors import ParityInputError
from harness.stats._validation import as_binary_labels, as_scores, as_weights, check_alpha, check_same_length
from harness.stats.intervals import (ap_structural_components, effective_df, logit_wald_difference, logit_wald_limit,
                                     t_quantile, weighted_ap_structural_components)
from harness.stats.metrics import _dot
from harness.stats.ordering import sort_order

__all__ = ["DeLongResult", "DeLongSingleResult", "delong_paired", "delong_single", "paired_average_precision",
           "paired_average_precision_weighted", "structural_components"]

METHOD = "DeLong (Sun & Xu 2014), logit-scale interval"
AP_METHOD = "DeLong-type (jackknife components) average precision, logit-scale interval"
WEIGHTED_AP_METHOD = "DeLong-type (weighted jackknife components) average precision, logit-scale interval"


@dataclass(frozen=True)
class DeLongResult:
    """Paired DeLong comparison: diff = auc_b - auc_a, two-sided p-value, interval at 1 - alpha.

    ``var_a``, ``var_b``, ``cov`` are DeLong's covariance matrix of (auc_a, auc_b) (``se**2 = var_a +
    var_b - 2 cov``); ``df`` the effective degrees of freedom of ``se**2`` used by the interval.
    """

    auc_a: float
    auc_b: float
    diff: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    n_pos: int
    n_neg: int
    var_a: float = 0.0
    var_b: float = 0.0
    cov: float = 0.0
    df: float = math.inf
    method: str = METHOD

    def ci_at(self, alpha: float) -> tuple[float, float]:
        """Two-sided (1 - alpha) logit-scale interval of diff (module docstring); use 2 * alpha for the
        TOST interval: each limit is then a one-sided level-alpha bound."""
        return _logit_ci(self, check_alpha(alpha))

    def ci_normal_at(self, alpha: float) -> tuple[float, float]:
        """pROC's raw-scale ``diff -/+ z_{1-alpha/2} se`` (for comparison; not used for decisions)."""
        return _normal_ci(self.diff, self.se, check_alpha(alpha))

    def p_value_beyond(self, delta: float, alternative: Literal["greater", "less"]) -> float:
        """One-sided p-value of H0: diff <= delta ("greater") or diff >= delta ("less") that agrees with
        the interval: p < a exactly when the one-sided (1 - a) limit of `ci_at` (at 2 a) is beyond delta.

        TOST against a margin m is ``max(p_value_beyond(-m, "greater"), p_value_beyond(m, "less"))``;
        these p-values, not the normal ones, are the ones to Holm-adjust.
        """
        if alternative not in ("greater", "less"):
            raise ParityInputError(f"alternative: expected 'greater' or 'less', got {alternative!r}")
        return _p_beyond(self, float(delta), alternative)

    def p_value_one_sided(self, alternative: Literal["greater", "less"]) -> float:
        """p-value for H1: auc_b > auc_a ("greater") or auc_b < auc_a ("less")."""
        if alternative == "greater":
            return float(norm.sf(self.z))
        if alternative == "less":
            return float(norm.cdf(self.z))
        raise ParityInputError(f"alternative: expected 'greater' or 'less', got {alternative!r}")


@dataclass(frozen=True)
class DeLongSingleResult:
    """One AUC with its DeLong standard error and normal interval at 1 - alpha (not clipped to [0, 1])."""

    auc: float
    se: float
    ci: tuple[float, float]
    alpha: float
    n_pos: int
    n_neg: int
    method: str = METHOD

    def ci_at(self, alpha: float) -> tuple[float, float]:
        return _normal_ci(self.auc, self.se, check_alpha(alpha))


def _normal_ci(center: float, se: float, alpha: float) -> tuple[float, float]:
    h = float(norm.ppf(1.0 - alpha / 2.0)) * se
    return (float(center - h), float(center + h))


def _logit_ci(r: DeLongResult, alpha: float) -> tuple[float, float]:
    if r.se == 0:  # the documented degenerate interval
        return (0.0, 0.0) if r.diff == 0 else (float(r.diff), float(r.diff))
    return logit_wald_difference(r.auc_a, r.auc_b, r.var_a, r.var_b, r.cov, t_quantile(alpha, r.df))


def _p_beyond(r: DeLongResult, delta: float, alternative: str) -> float:
    # The limits are monotone in the radius q; the p-value is the one-sided t tail at the radius whose
    # limit lands on delta (negative radius: delta on the estimate's side of the estimate).
    sign = 1.0 if alternative == "greater" else -1.0
    if r.se == 0:
        return 0.0 if sign * (r.diff - delta) > 0 else 1.0
    if delta == r.diff:
        return 0.5
    toward = sign * (r.diff - delta) > 0  # delta lies on the side the limit moves to
    pick = 0 if (alternative == "greater") == toward else 1

    seen: dict[float, float] = {}

    def limit(q: float) -> float:  # memoized: the bracket search re-asks q = 0 on every doubling
        if q not in seen:
            seen[q] = logit_wald_limit(r.auc_a, r.auc_b, r.var_a, r.var_b, r.cov, q, pick) - delta
        return seen[q]

    def tail_at(q: float) -> float:
        return float(stdtr(r.df, -q)) if math.isfinite(r.df) else float(norm.sf(q))

    # The root is bracketed by [0, hi], hi the first of 1, 2, 4, ..., 2**19 whose limit has crossed delta
    # (the lower limit can only reach -1, the upper +1; none by 2**19: p is 0, or 1). The limit is
    # monotone in q, so that hi is found by bisection over the exponent rather than a scan (brentq gets
    # the same bracket, so the same root). And once the t tail is 0.0 in float64 at a radius the limit
    # has not crossed by, the root lies beyond it and p is exactly 0 (or 1) whatever the root: the usual
    # case for a near-identical pair, whose root sits at a radius of thousands.
    def crossed(k: int) -> bool:
        return limit(2.0**k) * limit(0.0) <= 0

    last = 19  # 2**19 <= 1e6 < 2**20
    zero = next((k for k in range(last + 1) if tail_at(2.0**k) == 0.0), None)
    if not crossed(last if zero is None else zero):
        return 0.0 if toward else 1.0
    lo, hi = -1, last if zero is None else zero  # limit(2**lo) not crossed (2**-1: stands for q = 0), 2**hi crossed
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if crossed(mid) else (mid, hi)
    q = brentq(limit, 0.0, 2.0**hi, xtol=1e-12, rtol=1e-12)
    tail = tail_at(q)
    return tail if toward else 1.0 - tail


def structural_components(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUC, V10 per positive row, V01 per negative row), both in the rows' original order.

    `y` is a bool array, `s` float scores; inputs are trusted (validated by the callers).
    """
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    order = sort_order(s)  # any sort will do: equal scores are aggregated into runs below
    ss = s[order]
    ys = y[order]
    new_run = np.empty(ss.shape[0], dtype=bool)
    new_run[0] = True
    np.not_equal(ss[1:], ss[:-1], out=new_run[1:])
    if new_run.all():  # no tied scores (the usual case for a model's scores): each row is its own run
        run = None  # the same counts as below, without the run ids and their two gathers
        pos_run = ys.astype(np.float64)
        neg_run = 1.0 - pos_run
    else:
        run = np.cumsum(new_run) - 1
        pos_run = np.bincount(run, weights=ys)
        neg_run = np.bincount(run) - pos_run
    neg_below = np.cumsum(neg_run) - neg_run
    pos_above = n_pos - np.cumsum(pos_run)
    # Counts are integers and halves, so these sums are exact in float64 below 2**52 rows.
    v10_run = (neg_below + 0.5 * neg_run) / n_neg
    v01_run = (pos_above + 0.5 * pos_run) / n_pos
    vals = np.empty(ss.shape[0])
    vals[order] = np.where(ys, v10_run, v01_run) if run is None else np.where(ys, v10_run[run], v01_run[run])
    auc = float(_dot(pos_run, neg_below + 0.5 * neg_run) / (float(n_pos) * float(n_neg)))
    return auc, vals[y], vals[~y]


def _inputs(y_true, scores: dict[str, object]):
    y = as_binary_labels(y_true, "y_true")
    arrs = {k: as_scores(v, k) for k, v in scores.items()}
    check_same_length(y_true=y, **arrs)
    yb = y.astype(bool)
    n_pos = int(yb.sum())
    n_neg = yb.shape[0] - n_pos
    if n_pos < 2 or n_neg < 2:
        raise ParityInputError(
            f"y_true: DeLong needs at least 2 positives and 2 negatives (got {n_pos} positive, "
            f"{n_neg} negative); with one class the AUC is not defined, with one row of a class its "
            "variance cannot be estimated"
        )
    return yb, arrs, n_pos, n_neg


def delong_paired(y_true, score_a, score_b, *, alpha: float = 0.05) -> DeLongResult:
    """DeLong test of auc_b - auc_a on the same rows (paired); O(n log n)."""
    alpha = check_alpha(alpha)
    y, arrs, n_pos, n_neg = _inputs(y_true, {"score_a": score_a, "score_b": score_b})
    return _paired(structural_components, y, arrs["score_a"], arrs["score_b"], n_pos, n_neg, alpha, METHOD)


def paired_average_precision(y_true, score_a, score_b, *, alpha: float = 0.05) -> DeLongResult:
    """DeLong's construction for average precision: ap_b - ap_a (in the ``auc_a``/``auc_b`` fields) with
    the stratified-jackknife covariance and the same logit-scale interval; no resampling, O(n log n).

    The structural components are the exact leave-one-row-out pseudo-values
    (`harness.stats.intervals.ap_structural_components`); for AUC those are DeLong's V10 and V01, so this
    is DeLong's method with AP in place of AUC. Unweighted only (weights: the paired bootstrap).
    """
    alpha = check_alpha(alpha)
    y, arrs, n_pos, n_neg = _inputs(y_true, {"score_a": score_a, "score_b": score_b})
    return _paired(ap_structural_components, y, arrs["score_a"], arrs["score_b"], n_pos, n_neg, alpha, AP_METHOD)


def paired_average_precision_weighted(y_true, score_a, score_b, *, sample_weight, alpha: float = 0.05
                                      ) -> DeLongResult:
    """`paired_average_precision` with ``sample_weight``: weighted AP (as sklearn's
    ``average_precision_score(sample_weight=...)``) with the weighted infinitesimal-jackknife components of
    `harness.stats.intervals.weighted_ap_structural_components`, the same covariance, df and interval.

    Rows of weight 0 are not in the metric; ``n_pos`` / ``n_neg`` count the rows with positive weight,
    of which at least 2 of each class are needed.
    """
    alpha = check_alpha(alpha)
    y = as_binary_labels(y_true, "y_true")
    w = as_weights(sample_weight, y.shape[0])
    keep = w > 0
    yk, wk = y[keep], w[keep]
    ak, bk = as_scores(score_a, "score_a"), as_scores(score_b, "score_b")
    check_same_length(y_true=y, score_a=ak, score_b=bk)
    try:
        yb, arrs, n_pos, n_neg = _inputs(yk, {"score_a": ak[keep], "score_b": bk[keep]})
    except ParityInputError as exc:
        raise ParityInputError(f"{exc} (counted among the rows with positive sample_weight)") from None
    return _paired(lambda yy, s: weighted_ap_structural_components(yy, s, wk), yb, arrs["score_a"],
                   arrs["score_b"], n_pos, n_neg, alpha, WEIGHTED_AP_METHOD)


def _cov2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """np.cov(np.vstack([x, y])) without BLAS: OpenBLAS's threaded product spins on a loaded machine
    (as in harness.stats.metrics._dot); measured 0.45 -> 0.31 s CPU for compare_scores on ctr_logreg."""
    d = np.vstack([x, y])
    d = d - d.mean(axis=1, keepdims=True)
    return np.einsum("ik,jk->ij", d, d) / (d.shape[1] - 1)


def z_test(diff: float, se: float) -> tuple[float, float]:
    """(z, two-sided p) of ``diff`` with standard error ``se``; a zero SE gives z = 0, p = 1 for no
    difference and an infinite z, p = 0 otherwise (shared with the Beam runner's DeLong)."""
    if se > 0:
        z = diff / se
        return z, float(2.0 * norm.sf(abs(z)))
    if diff == 0:
        return 0.0, 1.0
    return math.copysign(math.inf, diff), 0.0


def _paired(components, y, sa, sb, n_pos, n_neg, alpha, method) -> DeLongResult:
    auc_a, v10_a, v01_a = components(y, sa)
    auc_b, v10_b, v01_b = components(y, sb)
    # var(auc_b - auc_a) = var(V10_b - V10_a)/n_pos + var(V01_b - V01_a)/n_neg: the contrast
    # [-1, 1] applied to DeLong's covariance matrix S10/n_pos + S01/n_neg (sample covariances, n-1).
    u10, u01 = v10_b - v10_a, v01_b - v01_a
    var = float(np.var(u10, ddof=1) / n_pos + np.var(u01, ddof=1) / n_neg)
    se = math.sqrt(max(var, 0.0))
    diff = auc_b - auc_a
    z, p = z_test(diff, se)
    cov = _cov2(v10_a, v10_b) / n_pos + _cov2(v01_a, v01_b) / n_neg
    r = DeLongResult(auc_a=auc_a, auc_b=auc_b, diff=float(diff), se=se, z=float(z), p_value=p, ci=(0.0, 0.0),
                     alpha=alpha, n_pos=n_pos, n_neg=n_neg, var_a=float(cov[0, 0]), var_b=float(cov[1, 1]),
                     cov=float(cov[0, 1]), df=effective_df([u10, u01]), method=method)
    return replace(r, ci=_logit_ci(r, alpha))


def delong_single(y_true, score, *, alpha: float = 0.05) -> DeLongSingleResult:
    """One AUC with DeLong's standard error and a normal (1 - alpha) interval (as pROC's ci.auc)."""
    alpha = check_alpha(alpha)
    y, arrs, n_pos, n_neg = _inputs(y_true, {"score": score})
    auc, v10, v01 = structural_components(y, arrs["score"])
    se = math.sqrt(float(np.var(v10, ddof=1) / n_pos + np.var(v01, ddof=1) / n_neg))
    return DeLongSingleResult(auc=auc, se=se, ci=_normal_ci(auc, se, alpha), alpha=alpha,
                              n_pos=n_pos, n_neg=n_neg)
