"""Multiple testing across the metrics and slices of a suite: Holm's step-down adjustment.

A suite gates several metrics, each possibly on several slices; claiming EQUIVALENT for all of them at
level alpha each would let the chance of at least one false claim grow with their number. Holm (1979)
controls that family-wise error rate at alpha under any dependence between the tests (the metrics of one
suite are computed on the same rows and are strongly dependent, so methods that assume independence or
positive dependence are not used), and it is uniformly more powerful than Bonferroni.

The hypotheses adjusted are the equivalence (TOST) or non-inferiority nulls: "not equivalent". Only an
EQUIVALENT verdict is a claim the adjustment protects, so `holm_verdicts` downgrades EQUIVALENT to
INCONCLUSIVE when the adjusted p-value exceeds alpha and leaves NOT_EQUIVALENT and INCONCLUSIVE alone
(a NOT_EQUIVALENT verdict blocks a release; multiplicity only makes blocking more likely, the safe side).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import ParityInputError
from harness.verdicts import Verdict

__all__ = ["holm", "holm_verdicts", "holm_level", "METHOD"]

METHOD = "Holm"


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, in the input order.

    With the p-values sorted ascending ``p_(1) <= ... <= p_(k)``, the adjusted value of ``p_(i)`` is
    ``max_{j <= i} min(1, (k - j + 1) * p_(j))``; rejecting where it is ``<= alpha`` is Holm's step-down
    procedure. Ties are handled by a stable sort, which gives tied p-values the same adjusted value.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ParityInputError(f"p_values must be one-dimensional, got shape {p.shape}")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        i = int(bad[0])
        raise ParityInputError(f"p_values[{i}] = {float(p[i])!r} is not a probability in [0, 1]")
    k = p.size
    if k == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (k - np.arange(k)) * p[order])
    adjusted_sorted = np.maximum.accumulate(scaled)
    out = np.empty(k)
    out[order] = adjusted_sorted
    return out


def holm_verdicts(p_values: Sequence[float | None], verdicts: Sequence[Verdict | str], *,
                  alpha: float = 0.05) -> tuple[list[float | None], list[Verdict]]:
    """Adjust a family of TOST p-values and apply the result to interval verdicts.

    ``p_values[i] is None`` leaves member i out of the family (not gated, or no p-value). Returns
    ``(p_adjusted, verdicts)``: an EQUIVALENT whose adjusted p-value exceeds ``alpha`` becomes
    INCONCLUSIVE; every other verdict is unchanged.
    """
    if len(p_values) != len(verdicts):
        raise ParityInputError(f"p_values ({len(p_values)}) and verdicts ({len(verdicts)}) differ in length")
    if not 0 < alpha < 1:
        raise ParityInputError(f"alpha must be in (0, 1), got {alpha!r}")
    members = [i for i, p in enumerate(p_values) if p is not None]
    adj = holm([p_values[i] for i in members]) if members else np.empty(0)
    p_adjusted: list[float | None] = [None] * len(p_values)
    out = [Verdict(v) for v in verdicts]
    for i, a in zip(members, adj):
        p_adjusted[i] = float(a)
        if out[i] is Verdict.EQUIVALENT and a > alpha:
            out[i] = Verdict.INCONCLUSIVE
    return p_adjusted, out


def holm_level(p_value: float, p_adjusted: float, alpha: float, family_size: int) -> float:
    """The level at which Holm tests this member of a family of ``family_size``: ``alpha * p_value /
    p_adjusted``, and ``alpha / family_size`` when both are 0.

    ``p_adjusted <= alpha`` iff ``p_value <= alpha * p_value / p_adjusted``, so the member's claim stands
    exactly when its own test passes at this level; for a TOST that is the ``1 - 2 * level`` interval
    lying inside the margin. Shells show that interval next to a Holm-adjusted verdict, so the interval
    and the verdict never disagree. A p-value of 0 (a TOST p-value that underflows) sorts first, where
    Holm tests at ``alpha / family_size``: the limit of the ratio as p goes to 0, for it and for every
    member tied with it (their adjusted values are the same running maximum).
    """
    if not (0 <= p_value <= p_adjusted <= 1):
        raise ParityInputError(f"expected 0 <= p_value <= p_adjusted <= 1, got {p_value!r} and {p_adjusted!r}")
    if not (isinstance(family_size, (int, np.integer)) and family_size >= 1):
        raise ParityInputError(f"family_size must be a positive integer, got {family_size!r}")
    if p_adjusted == 0:
        return alpha / family_size
    # p == p_adjusted (the member Holm tests at alpha itself): alpha * p / p can be one ulp off alpha
    return alpha if p_value == p_adjusted else alpha * p_value / p_adjusted
