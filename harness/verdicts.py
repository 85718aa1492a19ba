"""The three outcomes of every gated check.

Three, never two: a golden set too small to decide must not be reported as a pass (EQUIVALENT) nor as a
fail (NOT_EQUIVALENT).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Verdict", "combine"]


class Verdict(str, enum.Enum):
    EQUIVALENT = "EQUIVALENT"
    NOT_EQUIVALENT = "NOT_EQUIVALENT"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:  # so f-strings and JSON show the bare word
        return self.value


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Overall verdict: any NOT_EQUIVALENT wins, then any INCONCLUSIVE, else EQUIVALENT.

    An empty collection is INCONCLUSIVE: nothing was shown.
    """
    vs = [Verdict(v) for v in verdicts]
    if not vs:
        return Verdict.INCONCLUSIVE
    if Verdict.NOT_EQUIVALENT in vs:
        return Verdict.NOT_EQUIVALENT
    if Verdict.INCONCLUSIVE in vs:
        return Verdict.INCONCLUSIVE
    return Verdict.EQUIVALENT
