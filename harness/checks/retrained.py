"""Prediction parity for a retrained pair: the two models differ row by row by design; what must hold is
that their predictions behave alike where a launch depends on them.

A suite says what prediction parity means for its pair. A port of the same model (same parameters, another
runtime) keeps `harness.checks.predictions.check_predictions`: every row within a tolerance. A retrained
model (new training code, a refit on the new platform) cannot meet a per-row tolerance, so here the per-row
differences are reported (``predictions/scores``, ``gated=False``) and the gates are these, each with a
stated threshold and the reason for it (`RetrainedPredictionGates`):

==================================  =====================================================================
check id                            EQUIVALENT when
==================================  =====================================================================
``predictions/distribution/<s>``    the score distributions match: statistic ``s`` (KS, PSI, JS,
                                    Wasserstein; `harness.stats.distribution`) below its "stable"
                                    effect-size threshold and above its no-shift noise level
``predictions/spearman``            the (1-2a) interval of Spearman's rho lies above ``min_spearman``
``predictions/topk@K``              over query groups, the (1-2a) interval of the mean top-K overlap lies
                                    above ``min_mean``, and few groups fall below ``min_floor``
``predictions/flips@T``             the (1-2a) interval of the share of rows whose decision (score >= T)
                                    changes lies below ``max_share``
==================================  =====================================================================

Every interval is read as the metric gates read theirs (two one-sided tests): wholly on the good side of
the threshold -> EQUIVALENT (a one-sided test at level a); wholly on the bad side -> NOT_EQUIVALENT;
straddling -> INCONCLUSIVE (the golden set is too small to tell), which fails the gate. Thresholds are on
effect sizes, never on p-values: at golden-set sizes any difference is "significant". Every gate must hold
on its own (an intersection-union test), so the claim "all hold" has error at most a without a
multiplicity adjustment.

Intervals: Spearman by Fisher's z with the standard error of Bonett & Wright (2000), sqrt((1 + r^2/2) /
(n - 3)), which holds its level for the high correlations that matter here (Fieller's 1.06 / sqrt(n - 3)
is too narrow above ~0.8); the flip share (and the share of groups below the top-K floor) by
Clopper-Pearson (beta quantiles, the interval `scipy.stats.binomtest` gives), exact and conservative, so
coverage is at least nominal at any share, also near 0 where the normal interval fails; the mean top-K
overlap by Student's t over query groups. The golden set's rows (for top-K, its query groups) stand for
independent draws from the traffic. Rows of one query are not independent of each other: when query groups
are given, the flip interval uses the Korn & Graubard (1998) effective sample size (the groups' design
effect, reported as ``design_effect``), since a query whose rows sit near the threshold flips together.
Spearman's interval assumes independent rows.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from harness.checks._format import table
from harness.checks.predictions import check_predictions, group_topk_overlaps
from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.stats.distribution import THRESHOLDS, compare_distributions
from harness.verdicts import Verdict, combine

__all__ = [
    "DistributionGate",
    "FlipGate",
    "RankGate",
    "RetrainedPredictionGates",
    "TopKGate",
    "check_retrained_predictions",
    "group_topk_overlaps",
]


def _reason(gate: str, reason: Any) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ParityInputError(f"{gate}: reason must say why this threshold (a non-empty string), got {reason!r}",
                               argument="reason")


def _number(gate: str, name: str, value: Any, lo: float, hi: float, *, closed: str = "") -> float:
    # closed: which ends are allowed ("", "lo", "hi", "both")
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
          and math.isfinite(value))
    if ok:
        v = float(value)
        ok = (v >= lo if closed in ("lo", "both") else v > lo) and (v <= hi if closed in ("hi", "both") else v < hi)
    if not ok:
        lb = "[" if closed in ("lo", "both") else "("
        rb = "]" if closed in ("hi", "both") else ")"
        raise ParityInputError(f"{gate}: {name} must be a number in {lb}{lo:g}, {hi:g}{rb}, got {value!r}",
                               argument=name, value=value)
    return float(value)


@dataclass(frozen=True)
class DistributionGate:
    """Score-distribution parity, one check per statistic; ``thresholds`` overrides the defaults
    (`harness.stats.distribution.THRESHOLDS`, statistic -> (stable_below, shift_at)) per statistic."""

    statistics: Sequence[str] = ("ks", "psi", "wasserstein")
    reason: str = ""
    thresholds: Mapping[str, tuple[float, float]] | None = None
    n_bins: int = 10

    def __post_init__(self) -> None:
        stats_ = (self.statistics,) if isinstance(self.statistics, str) else tuple(self.statistics)
        object.__setattr__(self, "statistics", stats_)
        unknown = [s for s in stats_ if s not in THRESHOLDS]
        if not stats_ or unknown or len(set(stats_)) != len(stats_):
            raise ParityInputError(f"DistributionGate: statistics must be distinct names from {list(THRESHOLDS)}, "
                                   f"got {list(stats_)!r}", argument="statistics")
        for s, pair in (self.thresholds or {}).items():
            if s not in stats_:
                raise ParityInputError(f"DistributionGate: thresholds given for {s!r}, which is not among the "
                                       f"statistics {list(stats_)}", argument="thresholds")
            ok = (isinstance(pair, (tuple, list)) and len(pair) == 2
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
                  and 0 <= pair[0] <= pair[1])
            if not ok:
                raise ParityInputError(f"DistributionGate: thresholds[{s!r}] must be (stable_below, shift_at) with "
                                       f"0 <= stable_below <= shift_at, got {pair!r}", argument="thresholds")
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 2:
            raise ParityInputError(f"DistributionGate: n_bins must be an integer >= 2, got {self.n_bins!r}",
                                   argument="n_bins")
        _reason("DistributionGate", self.reason)


@dataclass(frozen=True)
class RankGate:
    """Rank agreement over all rows: Spearman's rho at least ``min_spearman``."""

    min_spearman: float
    reason: str = ""

    def __post_init__(self) -> None:
        _number("RankGate", "min_spearman", self.min_spearman, -1.0, 1.0)
        _reason("RankGate", self.reason)


@dataclass(frozen=True)
class TopKGate:
    """Top-``k`` overlap per query group (|top-k(legacy) & top-k(new)| / min(k, group size)).

    The mean over groups must be at least ``min_mean``; with ``min_floor``, at most a share
    ``max_share_below_floor`` of the groups may fall below it (0: none of the golden set's groups may, a
    worst-case rule read on the golden set as it is, without an interval).
    """

    k: int
    min_mean: float
    reason: str = ""
    min_floor: float | None = None
    max_share_below_floor: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ParityInputError(f"TopKGate: k must be an integer >= 1, got {self.k!r}", argument="k", value=self.k)
        _number("TopKGate", "min_mean", self.min_mean, 0.0, 1.0)
        if self.min_floor is not None:
            _number("TopKGate", "min_floor", self.min_floor, 0.0, 1.0, closed="hi")
        _number("TopKGate", "max_share_below_floor", self.max_share_below_floor, 0.0, 1.0, closed="lo")
        _reason("TopKGate", self.reason)


@dataclass(frozen=True)
class FlipGate:
    """Decisions at an operating threshold (score >= ``threshold`` is positive): at most a share
    ``max_share`` of rows may change decision between the two sides."""

    threshold: float
    max_share: float
    reason: str = ""

    def __post_init__(self) -> None:
        _number("FlipGate", "threshold", self.threshold, -math.inf, math.inf)
        # 0 would demand a zero-width interval no sample can give; "no row may flip" is the same-model check
        _number("FlipGate", "max_share", self.max_share, 0.0, 1.0)
        _reason("FlipGate", self.reason)

    @property
    def check_id(self) -> str:
        return f"predictions/flips@{self.threshold:g}"


@dataclass(frozen=True)
class RetrainedPredictionGates:
    """What prediction parity means for a retrained pair (see the module docstring).

    ``decision_flips``: one `FlipGate` or several (one per operating threshold). ``row_atol``: only for the
    ungated ``predictions/scores`` row, whose ``share_beyond_tol`` counts rows differing by more than it
    (0: any difference).
    """

    distribution: DistributionGate | None = None
    rank_correlation: RankGate | None = None
    topk: TopKGate | None = None
    decision_flips: FlipGate | Sequence[FlipGate] = ()
    row_atol: float = 0.0

    def __post_init__(self) -> None:
        flips = (self.decision_flips,) if isinstance(self.decision_flips, FlipGate) else tuple(self.decision_flips)
        object.__setattr__(self, "decision_flips", flips)
        for name, value, cls in (("distribution", self.distribution, DistributionGate),
                                 ("rank_correlation", self.rank_correlation, RankGate),
                                 ("topk", self.topk, TopKGate)):
            if value is not None and not isinstance(value, cls):
                raise ParityInputError(f"RetrainedPredictionGates: {name} must be a {cls.__name__} or None, "
                                       f"got {type(value).__name__}", argument=name)
        bad = [f for f in flips if not isinstance(f, FlipGate)]
        if bad:
            raise ParityInputError(f"RetrainedPredictionGates: decision_flips must be FlipGate objects, got "
                                   f"{type(bad[0]).__name__}", argument="decision_flips")
        ids = [f.check_id for f in flips]
        if len(set(ids)) != len(ids):
            raise ParityInputError(f"RetrainedPredictionGates: two FlipGates share a threshold ({ids})",
                                   argument="decision_flips")
        if self.distribution is None and self.rank_correlation is None and self.topk is None and not flips:
            raise ParityInputError("RetrainedPredictionGates: declare at least one gate (distribution, "
                                   "rank_correlation, topk or decision_flips); per-row differences alone are "
                                   "not gated in retrained mode", argument="gates")
        _number("RetrainedPredictionGates", "row_atol", self.row_atol, 0.0, math.inf, closed="lo")

    def check_ids(self) -> list[str]:
        """The ids `check_retrained_predictions` returns, in its order (for ``Suite.plan``)."""
        ids = ["predictions/scores"]
        if self.distribution is not None:
            ids += [f"predictions/distribution/{s}" for s in self.distribution.statistics]
        if self.rank_correlation is not None:
            ids.append("predictions/spearman")
        if self.topk is not None:
            ids.append(f"predictions/topk@{self.topk.k}")
        ids += [f.check_id for f in self.decision_flips]
        return ids


def _interval_verdict(lo: float, hi: float, bound: float, *, good: str) -> Verdict:
    # good="above": the quantity must exceed bound; good="below": it must stay under it
    if good == "above":
        lo, hi, bound = -hi, -lo, -bound
    if hi < bound:
        return Verdict.EQUIVALENT
    if lo > bound:
        return Verdict.NOT_EQUIVALENT
    return Verdict.INCONCLUSIVE


def _share_ci(count: float, n: float, alpha: float) -> tuple[float, float]:
    """The (1-2a) Clopper-Pearson interval from its beta quantiles (what ``scipy.stats.binomtest``'s
    ``proportion_ci(method="exact")`` finds by root search, ~100x slower); ``count`` and ``n`` may be
    effective (non-integer) sizes."""
    lo = 0.0 if count <= 0 else float(stats.beta.ppf(alpha, count, n - count + 1))
    hi = 1.0 if count >= n else float(stats.beta.ppf(1 - alpha, count + 1, n - count))
    return lo, hi


_TOO_SMALL = ("The interval straddles the threshold: the golden set is too small to decide (INCONCLUSIVE fails "
              "the gate).")


def _tail(verdict: Verdict, fix: str, reason: str) -> list[str]:
    lines = [_TOO_SMALL] if verdict is Verdict.INCONCLUSIVE else [fix] if verdict is Verdict.NOT_EQUIVALENT else []
    return lines + [f"Threshold rationale: {reason}"]


def _distribution(legacy: np.ndarray, new: np.ndarray, gate: DistributionGate, seed: int) -> list[CheckResult]:
    try:
        results = compare_distributions(legacy, new, statistics=gate.statistics, n_bins=gate.n_bins,
                                        thresholds=dict(gate.thresholds or {}), seed=seed)
    except ParityInputError as e:
        raise e.with_fields(f"predictions/distribution: {e} (reference: the legacy scores; candidate: the new "
                            f"scores)") from e
    out = []
    for r in results:
        check = r.to_check(prefix="predictions/distribution")
        check.details.update(gate="distribution", reason=gate.reason)
        if check.verdict is not Verdict.EQUIVALENT:
            noise = check.details.get("noise_95")
            lines = [f"{check.id}: {check.verdict}: {r.statistic} = {r.value:.4g} between the legacy and the new "
                     f"score distributions (stable below {r.threshold['stable_below']:g}, shift at "
                     f"{r.threshold['shift_at']:g}" + (f"; no-shift noise at this size {noise:.3g}" if noise else "")
                     + f"; {r.n_reference} rows).",
                     *([check.details["note"]] if check.details.get("note") else [])]
            lines += _tail(check.verdict, "The new model's scores are distributed differently: thresholds, "
                           "budgets and calibration downstream of the score will behave differently. Compare the "
                           "report's score histograms; recalibrate, or change the thresholds with the launch.",
                           gate.reason)
            check.message = "\n".join(lines)
        out.append(check)
    return out


def _spearman(legacy: np.ndarray, new: np.ndarray, rho: float, gate: RankGate, alpha: float) -> CheckResult:
    n = legacy.size
    details: dict[str, Any] = {"gate": "spearman", "n": n, "min_spearman": gate.min_spearman, "reason": gate.reason,
                               "ci_level": 1 - 2 * alpha, "method": "Fisher z, Bonett-Wright standard error"}
    constant = [side for side, a in (("legacy", legacy), ("new", new)) if np.ptp(a) == 0]
    if constant:
        details.update(spearman=None, ci=None)
        return CheckResult("predictions/spearman", "prediction", Verdict.NOT_EQUIVALENT,
                           summary=f"Spearman undefined: constant {' and '.join(constant)} scores",
                           message=f"predictions/spearman: the {' and '.join(constant)} scores are constant over "
                                   f"{n} rows, so they rank nothing; a model that scores every row alike cannot "
                                   f"keep the legacy ranking.\nThreshold rationale: {gate.reason}",
                           details=details)
    if n <= 3:
        lo, hi = -1.0, 1.0  # Fisher's z needs n > 3: no information on rho
    elif abs(rho) >= 1.0:
        lo = hi = rho
    else:
        half = float(stats.norm.ppf(1 - alpha)) * math.sqrt((1 + rho * rho / 2) / (n - 3))
        lo, hi = math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)
    details.update(spearman=rho, ci=[lo, hi])
    verdict = _interval_verdict(lo, hi, gate.min_spearman, good="above")
    level = f"{1 - 2 * alpha:.0%}"
    summary = f"Spearman {rho:.4f} ({level} interval [{lo:.4f}, {hi:.4f}]; at least {gate.min_spearman:g})"
    message = ""
    if verdict is not Verdict.EQUIVALENT:
        message = "\n".join([
            f"predictions/spearman: {verdict}: rank correlation {rho:.4f} between legacy and new scores, {level} "
            f"interval [{lo:.4f}, {hi:.4f}] by Fisher z over {n} rows; required at least {gate.min_spearman:g}.",
            *_tail(verdict, "The new model orders rows differently from legacy: every ranking and every "
                   "threshold decision built on the order changes. Compare features first, then training data.",
                   gate.reason)])
    return CheckResult("predictions/spearman", "prediction", verdict, summary=summary, message=message, details=details)


def _topk(legacy: np.ndarray, new: np.ndarray, keys: np.ndarray, groups: Any, gate: TopKGate,
          alpha: float) -> CheckResult:
    check_id = f"predictions/topk@{gate.k}"
    if groups is None:
        raise ParityInputError(f"{check_id}: a TopKGate needs query groups (the dataset's group column), and none "
                               f"were given", argument="groups")
    groups = np.asarray(groups)
    if groups.shape != legacy.shape:
        raise ParityInputError(f"{check_id}: groups has shape {groups.shape}, the scores {legacy.shape}",
                               argument="groups")
    gid, sizes, overlap = group_topk_overlaps(legacy, new, groups, k=gate.k, keys=keys)
    g = overlap.size
    mean = float(overlap.mean())
    level = 1 - 2 * alpha
    if g >= 2:
        half = float(stats.t.ppf(1 - alpha, g - 1)) * float(overlap.std(ddof=1)) / math.sqrt(g)
        lo, hi = mean - half, mean + half
    else:
        lo, hi = -math.inf, math.inf  # one group: no spread, no interval
    verdicts = [_interval_verdict(lo, hi, gate.min_mean, good="above")]
    details: dict[str, Any] = {
        "gate": "topk", "k": gate.k, "n_groups": g, "mean_overlap": mean, "ci": [lo, hi], "ci_level": level,
        "method": "Student t over query groups", "min_mean": gate.min_mean, "min_overlap": float(overlap.min()),
        "min_floor": gate.min_floor, "max_share_below_floor": gate.max_share_below_floor, "reason": gate.reason,
    }
    floor_text = ""
    if gate.min_floor is not None:
        below = int(np.count_nonzero(overlap < gate.min_floor))
        if gate.max_share_below_floor == 0:
            floor_ci = None
            verdicts.append(Verdict.NOT_EQUIVALENT if below else Verdict.EQUIVALENT)
        else:
            floor_ci = list(_share_ci(below, g, alpha))
            verdicts.append(_interval_verdict(*floor_ci, gate.max_share_below_floor, good="below"))
        details.update(n_groups_below_floor=below, share_below_floor=below / g, share_below_floor_ci=floor_ci)
        floor_text = (f"; {below} of {g} groups below the floor {gate.min_floor:g} (allowed "
                      f"{gate.max_share_below_floor:.1%})")
    worst = np.argsort(overlap, kind="stable")[:5]
    details["worst_groups"] = [{"group": gid[i].item(), "size": int(sizes[i]), "overlap": float(overlap[i])}
                               for i in worst]
    verdict = combine(verdicts)
    summary = (f"top-{gate.k} overlap mean {mean:.4f} ({level:.0%} interval [{lo:.4f}, {hi:.4f}]; at least "
               f"{gate.min_mean:g}) over {g} groups" + floor_text)
    message = ""
    if verdict is not Verdict.EQUIVALENT:
        message = "\n".join([
            f"{check_id}: {verdict}: " + summary + ".",
            *_tail(verdict, "The new model puts other items at the top of its queries: what users see changes. "
                   "Look at the worst queries below.", gate.reason),
            "worst query groups:", table(details["worst_groups"], ["group", "size", "overlap"])])
    return CheckResult(check_id, "prediction", verdict, summary=summary, message=message, details=details)


def _label_reading(flipped: np.ndarray, new_pos: np.ndarray, labels: Any, n: int) -> dict[str, Any] | None:
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ParityInputError(f"predictions/flips: labels has shape {y.shape}, the scores ({n},)", argument="labels")
    if y.dtype.kind not in "iubf" or not np.all(np.isin(y, (0, 1))):
        return {"note": "labels are not 0/1, so which side decided a flipped row correctly is not computed"}
    yf = y[flipped].astype(bool)
    new_right = int(np.count_nonzero(new_pos[flipped] == yf))
    return {"new_correct": new_right, "legacy_correct": int(yf.size - new_right)}


def _clustered_share_ci(flipped: np.ndarray, groups: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Clopper-Pearson on the Korn & Graubard (1998) effective sample size: rows of one query group flip
    together more often than independent rows would, which narrows the plain interval below its level.

    The design effect is the cluster-robust variance of the share (a ratio estimator over groups) over the
    binomial one, floored at 1 as Korn & Graubard do; ``n_eff = n / deff`` and ``k_eff = share * n_eff``
    enter the beta quantiles of the exact interval. Returns (lo, hi, deff).
    """
    n = flipped.size
    count = int(np.count_nonzero(flipped))
    _, gcode = np.unique(groups, return_inverse=True)
    gcode = gcode.reshape(-1)
    g = int(gcode.max()) + 1
    share = count / n
    deff = 1.0
    if 0 < count < n and g > 1:
        per_group = np.bincount(gcode, weights=flipped.astype(np.float64), minlength=g)
        sizes = np.bincount(gcode, minlength=g)
        var_cluster = g / (g - 1) * float(np.sum((per_group - share * sizes) ** 2)) / n ** 2
        deff = max(1.0, var_cluster / (share * (1 - share) / n))
    n_eff = n / deff
    return (*_share_ci(share * n_eff, n_eff, alpha), deff)


def _flips(legacy: np.ndarray, new: np.ndarray, keys: np.ndarray, groups: Any, labels: Any, gate: FlipGate,
           alpha: float) -> CheckResult:
    n = legacy.size
    legacy_pos, new_pos = legacy >= gate.threshold, new >= gate.threshold
    flipped = legacy_pos != new_pos
    count = int(np.count_nonzero(flipped))
    if groups is None:
        (lo, hi), deff = _share_ci(count, n, alpha), None
        method = "Clopper-Pearson"
    else:
        lo, hi, deff = _clustered_share_ci(flipped, np.asarray(groups), alpha)
        method = "Clopper-Pearson on the Korn-Graubard effective sample size (rows clustered by query group)"
    verdict = _interval_verdict(lo, hi, gate.max_share, good="below")
    idx = np.flatnonzero(flipped)
    worst = idx[np.argsort(-np.abs(new[idx] - legacy[idx]), kind="stable")[:5]]
    details: dict[str, Any] = {
        "gate": "flips", "threshold": gate.threshold, "n": n, "n_flips": count, "share": count / n, "ci": [lo, hi],
        "ci_level": 1 - 2 * alpha, "method": method, "design_effect": deff, "max_share": gate.max_share,
        "flips_to_positive": int(np.count_nonzero(new_pos & ~legacy_pos)),
        "flips_to_negative": int(np.count_nonzero(legacy_pos & ~new_pos)),
        "legacy_positive_share": float(legacy_pos.mean()), "new_positive_share": float(new_pos.mean()),
        "labels": _label_reading(flipped, new_pos, labels, n), "reason": gate.reason,
        "examples": [{"key": keys[i].item(), "legacy": float(legacy[i]), "new": float(new[i])} for i in worst],
    }
    level = f"{1 - 2 * alpha:.0%}"
    summary = (f"{count / n:.3%} of rows change decision at {gate.threshold:g} ({level} interval [{lo:.3%}, "
               f"{hi:.3%}]; at most {gate.max_share:.3%})")
    message = ""
    if verdict is not Verdict.EQUIVALENT:
        lines = [f"{gate.check_id}: {verdict}: {count} of {n} rows ({count / n:.4%}) change decision (score >= "
                 f"{gate.threshold:g}); {level} interval [{lo:.4%}, {hi:.4%}] ({method}); allowed "
                 f"{gate.max_share:.4%}.",
                 f"  to positive {details['flips_to_positive']}, to negative {details['flips_to_negative']}; positive "
                 f"share legacy {details['legacy_positive_share']:.4%}, new {details['new_positive_share']:.4%}"]
        lab = details["labels"]
        if lab and "new_correct" in lab:
            lines.append(f"  of the flipped rows the new side decides {lab['new_correct']} correctly, legacy "
                         f"{lab['legacy_correct']}")
        lines += _tail(verdict, "Too many rows get another decision at this operating point: the launch changes "
                       "who is affected. Recalibrate the new scores or move the threshold with the launch.",
                       gate.reason)
        if details["examples"]:
            lines += ["flipped rows with the largest score change:",
                      table(details["examples"], ["key", "legacy", "new"])]
        message = "\n".join(lines)
    return CheckResult(gate.check_id, "prediction", verdict, summary=summary, message=message, details=details)


def _not_computed(gates: RetrainedPredictionGates, why: str) -> list[CheckResult]:
    return [CheckResult(cid, "distribution" if cid.startswith("predictions/distribution/") else "prediction",
                        Verdict.NOT_EQUIVALENT, summary=f"not computed: {why} (see predictions/scores)",
                        message=f"{cid}: not computed because of {why}; see predictions/scores.",
                        details={"gate": cid.split("/")[1].split("@")[0], "not_computed": why})
            for cid in gates.check_ids()[1:]]


def check_retrained_predictions(
    legacy: Any,
    new: Any,
    *,
    keys: Any,
    gates: RetrainedPredictionGates,
    groups: Any = None,
    labels: Any = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[CheckResult]:
    """The checks of ``gates.check_ids()``, in that order: ``predictions/scores`` (per-row differences,
    reported with ``gated=False``), then one check per declared gate.

    ``groups`` (query group per row) is needed by a `TopKGate`; ``labels`` (optional, 0/1) only adds to the
    flip details which side decided the flipped rows correctly. ``seed`` drives Wasserstein's simulated
    noise level. Scores that are empty or not finite fail every check (``predictions/scores`` stays gated).
    """
    if not isinstance(gates, RetrainedPredictionGates):
        raise ParityInputError(f"gates must be a RetrainedPredictionGates, got {type(gates).__name__}",
                               argument="gates")
    _number("check_retrained_predictions", "alpha", alpha, 0.0, 0.5)
    if groups is not None and np.shape(groups) != np.shape(keys):
        raise ParityInputError(f"predictions: groups has shape {np.shape(groups)}, keys {np.shape(keys)}; one "
                               f"query group per row is expected", argument="groups")
    # The distribution statistics (each sorts both score columns) run on a second thread meanwhile when the
    # scores are finite numbers: the same checks in the same order, and the errors the serial order raised
    # first (the scores check's, then the distribution's, then the other gates').
    a, b = np.asarray(legacy), np.asarray(new)
    from harness._threads import allowed, submit

    early = (gates.distribution is not None and allowed() > 1 and a.ndim == 1 and a.shape == b.shape and a.size > 0
             and a.dtype.kind in "fiu" and b.dtype.kind in "fiu" and bool(np.isfinite(a).all())
             and bool(np.isfinite(b).all()))
    if not early:
        return _retrained_checks(legacy, new, keys, gates, groups, labels, alpha, seed, None)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-distribution") as pool:
        distribution = submit(pool, _distribution, a.astype(np.float64), b.astype(np.float64), gates.distribution,
                              seed)
        return _retrained_checks(legacy, new, keys, gates, groups, labels, alpha, seed, distribution)


def _retrained_checks(legacy: Any, new: Any, keys: Any, gates: RetrainedPredictionGates, groups: Any, labels: Any,
                      alpha: float, seed: int, distribution: Any) -> list[CheckResult]:
    """`check_retrained_predictions`' checks; ``distribution``: the distribution checks' future, when they
    were started already (None: computed here, in their place)."""
    # with a TopKGate its own row carries the overlap; computing it here too would sort every group twice more
    scores = check_predictions(legacy, new, keys=keys, groups=None if gates.topk is not None else groups,
                               atol=gates.row_atol, max_share=0.0)
    if scores.details["n"] == 0 or "non_finite" in scores.details:
        return [scores, *_not_computed(gates, "no aligned rows" if scores.details["n"] == 0 else "non-finite scores")]
    gated_by = gates.check_ids()[1:]
    scores.gated = False
    scores.details.update(mode="retrained", gated_by=gated_by)
    d = scores.details
    scores.summary = (f"reported, not gated (retrained pair): max |diff| {d['max_abs_diff']:.3g}, p99 "
                      f"{d['p99_abs_diff']:.3g}, mean {d['mean_abs_diff']:.3g}; {d['share_beyond_tol']:.3%} of rows "
                      f"differ by more than {gates.row_atol:g}")
    scores.message = ("predictions/scores: a retrained pair differs row by row by design, so these per-row "
                      "differences are reported, not gated; prediction parity is gated by " + ", ".join(gated_by) + ".")
    legacy64 = np.asarray(legacy).astype(np.float64)
    new64 = np.asarray(new).astype(np.float64)
    keys = np.asarray(keys)
    out = [scores]
    if gates.distribution is not None and distribution is None:
        out += _distribution(legacy64, new64, gates.distribution, seed)
    try:
        rest = []
        if gates.rank_correlation is not None:
            # predictions/scores computed it already (scipy.stats.spearmanr's value on the same float64 scores)
            rest.append(_spearman(legacy64, new64, float(d["spearman"]), gates.rank_correlation, alpha))
        if gates.topk is not None:
            rest.append(_topk(legacy64, new64, keys, groups, gates.topk, alpha))
        rest += [_flips(legacy64, new64, keys, groups, labels, f, alpha) for f in gates.decision_flips]
    except BaseException:
        if distribution is not None:
            distribution.result()  # its error, if it has one, came first
        raise
    return out + ([] if distribution is None else distribution.result()) + rest
