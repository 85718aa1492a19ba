"""Query-group metrics (ndcg@K, mrr) for the Beam runner (no Beam here): one group's statistic, and the
mean over groups with its Poisson bootstrap as exact, mergeable replicate sums.

The in-memory estimator (`harness.stats.bootstrap.paired_bootstrap` with ``groups``) computes each
group's value ``v`` once per side and its weight ``gw`` (the group's constant row weight, 1 unweighted),
then replicate b is ``sum_g c_gb (gw v_new - gw v_legacy) / sum_g c_gb gw`` with ``c_gb`` the Poisson
count of (seed, group id, b) (`_SumsKernel` with `_mean_finalize`), and the point value
``sum_g gw v / sum_g gw`` (`metrics._group_mean`, no_relevant="zero"). That is a ratio of sums over
groups keyed by the group id, so a pipeline that holds each group whole (GroupByKey by a hash bucket of
the id) computes the same per-group values (`group_values`, the metric's own per-group functions on each
group's rows in key order) and adds them into `harness.scale.replicates.ReplicateSums` keyed by the same group ids
(`unit_key`: group_codes' ids, float ids by repr): the replicates equal the in-memory ones to a few ulps
(exact sums there, float64 sums here) and so do the percentile limits.
"""
from __future__ import annotations

import numpy as np

from harness.errors import ParityInputError
from harness.scale._exact import ExactSum
from harness.scale.replicates import ReplicateSums, bootstrap_estimate

__all__ = ["GroupMeans", "group_values", "unit_keys"]


def unit_keys(groups: np.ndarray) -> np.ndarray:
    """Per row, the id its group's Poisson weights are keyed by, as `group_codes` and `_Run.words` key it."""
    arr = np.asarray(groups)
    if arr.dtype == object:
        return arr.astype(str)
    if arr.dtype.kind == "f":
        return np.array([repr(float(v)) for v in arr])
    return arr


def group_values(names, y: np.ndarray, a: np.ndarray, b: np.ndarray, w: np.ndarray | None, codes: np.ndarray):
    """Whole groups' rows (each group's rows in key order; ``codes`` 0..G-1 per row): per group ``gw`` and,
    per metric, ``(gw * v_legacy, gw * v_new)``, from the metric's own per-group functions (a group's
    value depends on its rows alone, in the order they come)."""
    from harness.stats import metrics as _m

    if w is not None and not (w > 0).any():  # groups without weight add nothing; their values need none
        w = None
        zero = True
    else:
        zero = False
    gl, gn = _m._rank_inputs(y, a, codes, w), _m._rank_inputs(y, b, codes, w)
    gw = np.zeros(gl[2].n_groups) if zero else gl[2].group_weight.astype(np.float64)
    out = {}
    for name in names:
        if name == "mrr":
            va, vb = _m._rr_per_group(gl[0], gl[1], gl[2])[0], _m._rr_per_group(gn[0], gn[1], gn[2])[0]
        else:
            k = int(name.split("@")[1])
            va, vb = _m._ndcg_per_group(gl[0], gl[1], gl[2], k)[0], _m._ndcg_per_group(gn[0], gn[1], gn[2], k)[0]
        out[name] = (gw * va, gw * vb)
    return gw, out


class GroupMeans:
    """Per metric, exact sums over groups of ``gw v`` per side and replicate sums of ``gw v_new - gw v_legacy``,
    plus those of ``gw`` (the shared denominator); mergeable; JSON-able state (`to_state` / `from_state`)."""

    def __init__(self, names, n_boot: int, seed: int) -> None:
        self.names, self.n_boot, self.seed = list(names), int(n_boot), int(seed)
        self.reps = ReplicateSums(self.n_boot, len(self.names) + 1, self.seed)
        self.point = [[ExactSum(), ExactSum()] for _ in self.names]
        self.weight = ExactSum()
        self.n_groups = 0

    def add(self, keys: np.ndarray, gw: np.ndarray, values: dict) -> None:
        """Whole groups, each once: their unit keys, weights and `group_values`."""
        cols = []
        for j, name in enumerate(self.names):
            la, lb = values[name]
            self.point[j][0].add(la)
            self.point[j][1].add(lb)
            cols.append(lb - la)  # the in-memory kernel's diff column, rounded the same way
        self.reps.add(np.asarray(keys), np.stack(cols + [gw]))
        self.weight.add(gw)
        self.n_groups += int(gw.shape[0])

    def merge(self, other: GroupMeans) -> GroupMeans:
        out = GroupMeans(self.names, self.n_boot, self.seed)
        out.reps = self.reps.merge(other.reps)
        out.point = [[x.merge(u), y.merge(v)] for (x, y), (u, v) in zip(self.point, other.point)]
        out.weight = self.weight.merge(other.weight)
        out.n_groups = self.n_groups + other.n_groups
        return out

    def to_state(self) -> dict:
        return {"n_groups": self.n_groups, "weight": str(self.weight._total),
                "point": [[str(s._total) for s in p] for p in self.point],
                "reps": [[str(t) for t in col] for col in self.reps._total]}

    @classmethod
    def from_state(cls, names, n_boot: int, seed: int, state: dict) -> GroupMeans:
        out = cls(names, n_boot, seed)
        out.n_groups = int(state["n_groups"])
        out.weight._total = int(state["weight"])
        for p, totals in zip(out.point, state["point"]):
            for s, t in zip(p, totals):
                s._total = int(t)
        out.reps._total = [[int(t) for t in col] for col in state["reps"]]
        return out

    def estimate(self, d, alpha: float, *, all_rows: bool):
        """`compare_scores`' bootstrap estimate of ``d`` on these groups (or why it has none)."""
        from harness.stats import compare as _cmp

        j = self.names.index(d.name)
        sw = self.weight.fraction()
        try:
            if sw == 0:  # the in-memory metric's words (its weight check comes first)
                raise ParityInputError(f"metric {d.name!r} on score_legacy: sample_weight: all weights are zero; at "
                                       "least one row needs positive weight")
            legacy, new = (float(s.fraction() / sw) for s in self.point[j])
            return bootstrap_estimate(d.name, legacy, new, self.reps.ratio(j, len(self.names)), self.n_boot,
                                      self.seed, alpha, ", resampling query groups")
        except ParityInputError as exc:
            if all_rows:
                raise
            return _cmp._Undefined(str(exc))
