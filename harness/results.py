"""Result objects shared by the checks, the runner, the report and the shells.

Every check returns a `CheckResult`; a suite run returns a `SuiteResult`. Both serialize to plain JSON
(`to_dict`) in a fixed key order, so the same inputs give the same report byte for byte. The `details`
of each kind of check are documented in ARCHITECTURE.md ("Result details") and in the report's JSON
Schema (`harness/report/schema.json`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.verdicts import Verdict, combine

__all__ = ["CheckResult", "SuiteResult", "error_check", "is_failing", "jsonable"]

KINDS = ("alignment", "feature", "prediction", "metric", "distribution", "upgrade", "serving", "cost")


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, enums and tuples to JSON types; non-finite floats become None.

    JSON has no NaN/inf; writing None keeps the document valid and makes "not computable" explicit.
    """
    if isinstance(value, Verdict):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


@dataclass
class CheckResult:
    """One check (one pytest test, one JUnit case, one report row)."""

    id: str  # e.g. "features/log_price", "predictions/scores", "metrics/auc", "metrics/auc[device=mobile]"
    kind: str  # one of KINDS
    verdict: Verdict
    gated: bool = True  # False: reported, never fails the run (small slices, informative metrics)
    summary: str = ""  # one line for tables and the terminal summary
    message: str = ""  # the review-style failure message (headline, fix, numbers, worst rows)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"CheckResult.kind must be one of {KINDS}, got {self.kind!r}")
        self.verdict = Verdict(self.verdict)

    @property
    def passed(self) -> bool:
        return (not self.gated) or self.verdict is Verdict.EQUIVALENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "verdict": self.verdict.value,
            "gated": self.gated,
            "summary": self.summary,
            "message": self.message,
            "details": jsonable(self.details),
        }


@dataclass
class SuiteResult:
    """Everything one suite run found; the report is a list of these."""

    suite: str
    description: str
    dataset: dict[str, Any]  # name, version, split, rows, files' sha256
    seed: int
    checks: list[CheckResult]
    sample: dict[str, Any] | None = None  # {"rows": n, "seed": s} when a row sample was used
    alignment: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)  # aggregated: size independent of row count
    fingerprint: dict[str, Any] = field(default_factory=dict)
    upgrade: dict[str, Any] | None = None  # findings of the upgrade gate, when it ran
    known_gaps: dict[str, str] = field(default_factory=dict)  # check id -> reason (xfail)
    # Sides served from the trained-side cache (harness.cache): [{side, key, reused, reason}].
    side_cache: list[dict[str, Any]] = field(default_factory=list)
    # Wall / CPU seconds and peak memory per stage (load, train, predict:<side>, featurize:<side>,
    # evaluate). They vary from run to run, so they are not in to_dict (the report's bytes): they go to
    # the report's measured section (`harness.report.measured`), outside the byte-identity contract.
    cost: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def verdict(self) -> Verdict:
        gated = [c.verdict for c in self.checks if c.gated and c.id not in self.known_gaps]
        return combine(gated)

    def check(self, check_id: str) -> CheckResult:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(f"suite {self.suite!r} has no check {check_id!r}; it has {[c.id for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "description": self.description,
            "verdict": self.verdict.value,
            "dataset": jsonable(self.dataset),
            "seed": self.seed,
            "sample": jsonable(self.sample),
            "alignment": jsonable(self.alignment),
            "checks": [c.to_dict() for c in self.checks],
            "known_gaps": dict(sorted(self.known_gaps.items())),
            "plots": jsonable(self.plots),
            "fingerprint": jsonable(self.fingerprint),
            "upgrade": jsonable(self.upgrade),
            **({"side_cache": jsonable(self.side_cache)} if self.side_cache else {}),
        }


def is_failing(check: CheckResult | Mapping[str, Any], known_gaps: Mapping[str, str]) -> bool:
    """The one meaning of "failing", in every shell and the report: gated, not a declared known gap, and
    not EQUIVALENT (NOT_EQUIVALENT, INCONCLUSIVE, or an error, which is NOT_EQUIVALENT)."""
    if isinstance(check, CheckResult):
        gated, verdict, cid = check.gated, check.verdict.value, check.id
    else:
        gated, verdict, cid = check["gated"], check["verdict"], check["id"]
    return bool(gated) and verdict != Verdict.EQUIVALENT.value and cid not in known_gaps


_KIND_BY_PREFIX = {"alignment": "alignment", "features": "feature", "predictions": "prediction", "metrics": "metric",
                   "distribution": "distribution", "upgrade": "upgrade", "review": "metric",
                   "platform": "metric", "serving": "serving", "cost": "cost"}


def error_check(check_id: str, *, stage: str, cause: BaseException, text: str, kind: str | None = None) -> CheckResult:
    """The report's row for a check that failed without a result: NOT_EQUIVALENT, gated, ``details.error``
    ({stage, type, message}).

    NOT_EQUIVALENT because the verdicts are three (harness.verdicts) and an error must fail the gate;
    ``details.error`` tells it apart from a computed difference. Stages: ``suite`` (the suite could not
    run), ``upgrade_gate``, ``not_produced``, ``check``, ``declaration`` (a mistake in SUITE itself).
    """
    message = str(cause)
    first = message.splitlines()[0] if message else ""
    return CheckResult(
        id=check_id, kind=kind or ("distribution" if check_id.startswith("predictions/distribution/")
                                   else _KIND_BY_PREFIX.get(check_id.split("/", 1)[0], "alignment")),
        verdict=Verdict.NOT_EQUIVALENT, gated=True,
        summary=f"ERROR ({stage}): {type(cause).__name__}" + (f": {first}" if first else ""),
        message=text, details={"error": {"stage": stage, "type": type(cause).__name__, "message": message}},
    )
