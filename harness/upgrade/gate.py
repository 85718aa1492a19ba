"""The ``upgrade/baseline`` check of a suite with probes: check the probes against the recorded baseline,
or (asked to update) record / re-record it. Used by `harness.session` for both shells, so the check and
its text are the same under pytest and ``parity run``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.results import CheckResult
from harness.verdicts import Verdict

__all__ = ["UPGRADE_ID", "run_upgrade_gate"]

UPGRADE_ID = "upgrade/baseline"


def run_upgrade_gate(suite: Any, *, baseline_dir: Path | None, suite_file: str | Path | None, update: bool,
                     reason: str | None, bisect: Any = None) -> dict[str, Any]:
    """``{"upgrade": <findings document>, "check": <CheckResult dict>}`` for ``suite.probes``.

    ``bisect`` (a `harness.upgrade.bisect.BisectSettings`, the shells' ``--bisect``): when outputs
    CHANGED and several packages changed, bisect them (`_bisected`); the check's message and details
    then name the package set behind each change, and what could not be installed.

    ``baseline_dir`` None: `harness.upgrade.baseline`'s default ($PARITY_BASELINE_DIR, else baselines/
    next to ``suite_file``). Raises what the baseline layer raises when no judgement is possible
    (`NoBaselineError`, an unreadable baseline, a probe that raised); the session turns that into an
    error check."""
    from harness.upgrade import accept_baseline, check_against_baseline, findings_to_markdown, read_baseline, record_baseline
    from harness.upgrade.baseline import BaselineFileError, NoBaselineError

    probes = suite.probes
    if update:
        try:
            read_baseline(suite.name, root=baseline_dir, probeset=probes, suite_file=suite_file)
            exists = True
        except (NoBaselineError, BaselineFileError):  # nothing, or nothing readable: record (repairs it)
            exists = False
        if exists:
            directory, accepted = accept_baseline(probes, reason=reason or "", root=baseline_dir, suite_file=suite_file)
            findings = [dict(f.to_dict(), accepted=True) for f in accepted]
            summary = f"baseline re-recorded, {len(findings)} finding(s) accepted: {reason}"
        else:
            directory = record_baseline(probes, root=baseline_dir, reason=reason, suite_file=suite_file)
            findings = []
            summary = f"baseline recorded: {reason}"
        upgrade = {"action": "accepted" if exists else "recorded", "reason": reason, "findings": findings}
        check = CheckResult(id=UPGRADE_ID, kind="upgrade", verdict=Verdict.EQUIVALENT, summary=summary,
                            details={"action": upgrade["action"], "reason": reason, "n_accepted": len(findings)})
        return {"upgrade": upgrade, "check": check.to_dict()}
    result = check_against_baseline(suite.name, probes, baseline_dir, suite_file=suite_file)
    upgrade = result.to_dict()
    changed = result.changed
    summary = (f"{len(changed)} probe output(s) CHANGED since the baseline" if changed
               else f"no behaviour change ({len(result.within_noise)} within noise)")
    message = ""
    if changed:
        message = (findings_to_markdown(result) + f"\n\nIf the change is intended: `{result.accept}` "
                   "(pytest: --parity-update-baseline --parity-reason '...').")
    details = {"counts": upgrade.get("counts"), "changed": [f"{f.probe}/{f.output}" for f in changed],
               "changed_packages": upgrade.get("changed_packages")}
    if changed and bisect is not None:
        if suite_file is None:
            raise ValueError(f"suite {suite.name!r}: bisection needs the suite's file (the throwaway environments "
                             "import the suite from its folder)")
        found, text = _bisected(suite.name, result, suite_file=suite_file, baseline_dir=baseline_dir, settings=bisect)
        details["bisect"] = found
        upgrade["bisect"] = found
        message += "\n\n" + text
        if found.get("outputs"):
            summary += "; bisected: " + "; ".join(
                f"{o['output']} <- {' / '.join(' + '.join(c) for c in o['causes']) or 'no package'}"
                for o in found["outputs"])
    check = CheckResult(
        id=UPGRADE_ID, kind="upgrade", verdict=Verdict.NOT_EQUIVALENT if changed else Verdict.EQUIVALENT,
        summary=summary, message=message, details=details,
    )
    return {"upgrade": upgrade, "check": check.to_dict()}


def _bisected(suite: str, result: Any, *, suite_file: str | Path, baseline_dir: Path | None, settings: Any
              ) -> tuple[dict[str, Any], str]:
    """The bisection of a check's changes as (JSON-able details, Markdown for the message). With one
    package changed (or none) there is nothing to split, and the details say why it did not run."""
    import sys

    from harness.upgrade.bisect import bisect_check, bisect_to_markdown

    changed = dict(result.changed_packages)
    if settings.packages:
        changed = {p: v for p, v in changed.items() if p in settings.packages}
    if len(changed) < 2:
        why = ("one package changed (" + next(iter(changed)) + "): the attribution above is the bisection's answer"
               if changed else "no package version changed: there is nothing to bisect over")
        return {"ran": False, "why": why}, f"Bisection not run: {why}."
    found = bisect_check(suite, result, suite_file=suite_file, baseline_dir=baseline_dir, settings=settings,
                         log=lambda line: print(line, file=sys.stderr))
    doc = {"ran": True, **found.to_dict()}
    return doc, bisect_to_markdown(found).replace("# Upgrade bisection", "## Bisection", 1)
