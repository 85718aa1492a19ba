"""Prediction parity: the two sides' scores on the same rows, aligned by key.

Reported: max, p99 and mean absolute difference, Spearman correlation, top-k overlap per query group,
and the share of rows beyond the tolerance. The verdict is on the tolerance: EQUIVALENT when every
score is finite and at most ``max_share`` of rows differ by more than ``atol``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.checks._format import table
from harness.errors import ParityInputError
from harness.results import CheckResult
from harness.stats.ordering import sort_order, spearman_rho, stable_argsort, stable_argsort_descending
from harness.verdicts import Verdict

__all__ = ["check_predictions", "group_topk_overlaps", "topk_overlap"]


def _group_codes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(groups, return_inverse=True) as (distinct ids, code per row); integer and string ids
    by `harness.stats._validation.group_codes` (the same result without sorting every row when a
    group's rows sit together)."""
    if groups.ndim == 1 and groups.dtype.kind in "iuUS":
        from harness.stats._validation import group_codes

        codes, uniq = group_codes(groups, groups.shape[0])
        return uniq, codes
    uniq, codes = np.unique(groups, return_inverse=True)
    return uniq, codes.reshape(-1)


def group_topk_overlaps(legacy: np.ndarray, new: np.ndarray, groups: np.ndarray, *, k: int,
                        keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query group: (group ids, sizes, |top-k(legacy) & top-k(new)| / min(k, size)), groups sorted.

    Ties in score are broken by key, the same way on both sides, so the result is deterministic.
    Vectorized: rows ordered by (group, -score, key) per side, ranks within groups, a bincount of rows
    in both top-k sets.
    """
    uniq, gcode = _group_codes(np.asarray(groups))
    n_groups = uniq.shape[0]
    sizes = np.bincount(gcode, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    by_key = stable_argsort(keys)  # shared by both sides
    # Group codes as narrow as they fit: numpy's stable sort of 16-bit integers is a radix sort.
    narrow = gcode.astype(np.uint16) if n_groups <= 2**16 else gcode

    def in_topk(score: np.ndarray) -> np.ndarray:
        # Stable sorts from the least significant key up: key, then -score, then group (what
        # np.lexsort((key, -score, group)) does, a third cheaper: no sort of the keys per side).
        order = by_key[stable_argsort_descending(score[by_key])]  # keys in order: the shared sort of score
        order = order[np.argsort(narrow[order], kind="stable")]
        rank_sorted = np.arange(len(order)) - starts[gcode[order]]
        rank = np.empty_like(rank_sorted)
        rank[order] = rank_sorted
        return rank < k

    both = in_topk(legacy) & in_topk(new)
    overlap = np.bincount(gcode, weights=both.astype(np.float64), minlength=n_groups) / np.minimum(k, sizes)
    return uniq, sizes, overlap


def topk_overlap(legacy: np.ndarray, new: np.ndarray, groups: np.ndarray, *, k: int, keys: np.ndarray) -> dict[str, Any]:
    """Per query group, |top-k(legacy) ∩ top-k(new)| / min(k, group size); mean and min over groups
    (`group_topk_overlaps`)."""
    _, _, overlap = group_topk_overlaps(legacy, new, groups, k=k, keys=keys)
    n_groups = overlap.shape[0]
    return {
        "k": int(k),
        "n_groups": n_groups,
        "mean_overlap": float(overlap.mean()) if n_groups else None,
        "min_overlap": float(overlap.min()) if n_groups else None,
        "share_groups_identical": float((overlap == 1.0).mean()) if n_groups else None,
    }


def _largest(x: np.ndarray, m: int) -> np.ndarray:
    """Indices of the m largest values, largest first, ties in row order: the first m of a stable
    argsort of -x, without sorting every row (finite x)."""
    if m <= 0:
        return np.empty(0, dtype=np.intp)
    if m >= x.shape[0]:
        return np.argsort(-x, kind="stable")
    cut = np.partition(x, x.shape[0] - m)[x.shape[0] - m]  # the m-th largest value
    cand = np.flatnonzero(x >= cut)  # every row tied with it too, in row order
    return cand[np.argsort(-x[cand], kind="stable")[:m]]


def check_predictions(
    legacy: Any,
    new: Any,
    *,
    keys: Any,
    groups: Any = None,
    atol: float,
    max_share: float = 0.0,
    k: int = 5,
    n_worst: int = 5,
) -> CheckResult:
    legacy, new, keys = np.asarray(legacy), np.asarray(new), np.asarray(keys)
    if not (legacy.ndim == new.ndim == 1 and len(legacy) == len(new) == len(keys)):
        raise ParityInputError(
            f"predictions: need 1-D arrays of equal length, got legacy {legacy.shape}, new {new.shape}, keys {keys.shape}"
        )
    for side, arr in (("legacy", legacy), ("new", new)):
        if arr.dtype.kind not in "fiub":
            raise ParityInputError(f"predictions: {side} scores must be numeric, got dtype {arr.dtype}")
    n = len(keys)
    details: dict[str, Any] = {"n": n, "tolerance": {"atol": float(atol), "max_share": float(max_share)}}
    if n == 0:
        return CheckResult("predictions/scores", "prediction", Verdict.NOT_EQUIVALENT,
                           summary="no aligned rows", message="predictions: no aligned rows to compare", details=details)
    legacy64, new64 = legacy.astype(np.float64), new.astype(np.float64)
    bad = {side: np.flatnonzero(~np.isfinite(arr)) for side, arr in (("legacy", legacy64), ("new", new64))}
    if any(len(v) for v in bad.values()):
        parts = [f"{side}: {len(idx)} non-finite scores (first keys {keys[idx[:5]].tolist()}, values {arr[idx[:5]].tolist()})"
                 for side, idx in bad.items() for arr in [legacy64 if side == 'legacy' else new64] if len(idx)]
        details["non_finite"] = {side: int(len(v)) for side, v in bad.items()}
        return CheckResult(
            "predictions/scores", "prediction", Verdict.NOT_EQUIVALENT,
            summary="non-finite scores: " + "; ".join(f"{s} {len(v)}" for s, v in bad.items() if len(v)),
            message="predictions contain NaN or inf, which no tolerance can compare.\n" + "\n".join(parts)
            + "\nFix: find why the model produced them (overflow in a logit, a NaN feature).",
            details=details,
        )
    diff = new64 - legacy64
    absdiff = np.abs(diff)
    beyond = absdiff > atol
    share = float(beyond.mean())
    rho = spearman_rho(legacy64, new64) if n > 1 else float("nan")
    details.update(
        max_abs_diff=float(absdiff.max()),
        p99_abs_diff=float(np.quantile(absdiff, 0.99)),
        mean_abs_diff=float(absdiff.mean()),
        spearman=rho,
        n_beyond_tol=int(beyond.sum()),
        share_beyond_tol=share,
    )
    if groups is not None:
        details["topk"] = topk_overlap(legacy64, new64, np.asarray(groups), k=k, keys=keys)
    worst = _largest(absdiff, n_worst)
    details["worst"] = [{"key": keys[i].item(), "legacy": float(legacy64[i]), "new": float(new64[i]), "diff": float(diff[i])} for i in worst]
    # Same multiset of scores but a different order is the signature of rows scored out of order.
    # (sorted values: np.sort's, from the orders the ranks above used when they are shared)
    sorted_gap = float(np.max(np.abs(legacy64[sort_order(legacy64)] - new64[sort_order(new64)])))
    details["sorted_max_abs_diff"] = sorted_gap
    ok = share <= max_share
    verdict = Verdict.EQUIVALENT if ok else Verdict.NOT_EQUIVALENT
    summary = (f"max |diff| {details['max_abs_diff']:.3g}, p99 {details['p99_abs_diff']:.3g}, "
               f"{share:.3%} beyond {atol:g} (allowed {max_share:.3%}), Spearman {rho:.6f}")
    message = ""
    if not ok:
        lines = [
            f"predictions out of parity: {int(beyond.sum())} of {n} rows ({share:.4%}) differ by more than atol={atol:g} "
            f"(allowed: {max_share:.4%}).",
            "Fix: compare the features first (a feature out of parity explains most score gaps); then dtypes "
            "(float16/float32 scoring) and the model's parameters.",
            f"max |diff| {details['max_abs_diff']:.6g}, p99 {details['p99_abs_diff']:.6g}, mean {details['mean_abs_diff']:.6g}, "
            f"Spearman {rho:.6f}",
        ]
        if sorted_gap <= atol < details["max_abs_diff"]:
            lines.append(
                "The two sides produced the same set of scores in a different order (sorted scores agree within "
                f"{sorted_gap:.3g}): rows were probably shuffled or misaligned before scoring."
            )
        if "topk" in details:
            t = details["topk"]
            lines.append(f"top-{t['k']} overlap per group: mean {t['mean_overlap']:.4f}, min {t['min_overlap']:.4f} over {t['n_groups']} groups")
        lines.append("worst rows:")
        lines.append(table(details["worst"], ["key", "legacy", "new", "diff"]))
        message = "\n".join(lines)
    return CheckResult("predictions/scores", "prediction", verdict, summary=summary, message=message, details=details)
