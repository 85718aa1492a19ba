"""Row alignment by key: what each side scored, what it missed, what it scored twice.

Score files and external programs drop rows, repeat them and invent keys. Nothing is dropped
silently: every such key is counted, examples are named, and the alignment check fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.results import CheckResult
from harness.verdicts import Verdict

__all__ = ["Aligned", "align_scores"]


@dataclass
class Aligned:
    positions: np.ndarray  # positions (into the reference frame) of rows scored exactly once by both sides
    legacy: np.ndarray
    new: np.ndarray
    check: CheckResult


def _side_report(name: str, ref: pd.Index, scores: pd.Series, n_examples: int) -> dict[str, Any]:
    idx = scores.index
    dup_mask = idx.duplicated(keep=False)
    duplicated = pd.Index(idx[dup_mask]).unique()
    missing = ref.difference(idx, sort=False)
    extra = pd.Index(idx).unique().difference(ref, sort=False)
    return {
        f"n_{name}": int(len(scores)),
        f"missing_in_{name}": int(len(missing)),
        f"duplicated_in_{name}": int(len(duplicated)),
        f"unexpected_in_{name}": int(len(extra)),
        "_examples": {
            f"missing_in_{name}": [_plain(k) for k in missing[:n_examples]],
            f"duplicated_in_{name}": [_plain(k) for k in duplicated[:n_examples]],
            f"unexpected_in_{name}": [_plain(k) for k in extra[:n_examples]],
        },
        "_single": ~dup_mask,
    }


def _in_reference_order(ref_keys: np.ndarray, scores: pd.Series) -> bool:
    """Whether a side scored exactly the reference keys, in their order (what a suite run's scoring
    gives): then, with unique reference keys, nothing is missing, repeated or unexpected."""
    idx = scores.index.to_numpy()
    return idx.shape == ref_keys.shape and idx.dtype == ref_keys.dtype and bool(np.array_equal(idx, ref_keys))


def _clean_report(name: str, n: int) -> dict[str, Any]:
    """`_side_report` of a side in reference order over unique reference keys."""
    return {f"n_{name}": n, f"missing_in_{name}": 0, f"duplicated_in_{name}": 0, f"unexpected_in_{name}": 0,
            "_examples": {f"missing_in_{name}": [], f"duplicated_in_{name}": [], f"unexpected_in_{name}": []}}


def align_scores(reference_keys: Any, legacy: pd.Series, new: pd.Series, *, n_examples: int = 5) -> Aligned:
    """Align both sides' scores (Series indexed by key) to the reference rows' keys.

    When both sides scored exactly the reference keys in their order and those are unique (a suite
    run's scoring), every row aligns as it stands: the same result as the index set operations below,
    without them (tested against them)."""
    ref = pd.Index(np.asarray(reference_keys))
    details: dict[str, Any] = {"n_reference": int(len(ref))}
    examples: dict[str, list] = {}
    ref_arr = ref.to_numpy()  # what pandas made of the keys (str keys become object), as a side's index holds them
    clean = _in_reference_order(ref_arr, legacy) and _in_reference_order(ref_arr, new) and ref.is_unique
    if clean:
        for name in ("legacy", "new"):
            rep = _clean_report(name, int(len(ref)))
            examples.update(rep.pop("_examples"))
            details.update(rep)
        positions = np.arange(len(ref), dtype=np.intp)
        legacy_vals, new_vals = legacy.to_numpy(copy=True), new.to_numpy(copy=True)
    else:
        singles = {}
        for name, scores in (("legacy", legacy), ("new", new)):
            rep = _side_report(name, ref, scores, n_examples)
            examples.update(rep.pop("_examples"))
            singles[name] = scores[rep.pop("_single")]
            details.update(rep)
        common = ref.intersection(singles["legacy"].index, sort=False).intersection(singles["new"].index, sort=False)
        positions = np.sort(ref.get_indexer(common))
        keys = ref[positions]
        legacy_vals = singles["legacy"].reindex(keys).to_numpy()
        new_vals = singles["new"].reindex(keys).to_numpy()
    details["n_aligned"] = int(len(positions))
    details["examples"] = examples
    problems = {k: v for k, v in details.items() if k.split("_in_")[0] in ("missing", "duplicated", "unexpected") and v}
    ok = not problems and len(positions) > 0
    summary = f"{len(positions)}/{len(ref)} rows aligned by key" + (
        "" if ok else ": " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in problems.items())
    )
    message = ""
    if not ok:
        lines = [f"key alignment failed: {summary}.",
                 "Fix: every reference row must be scored exactly once by each side; rows are never dropped silently."]
        for k, v in problems.items():
            lines.append(f"  {k.replace('_', ' ')}: {v} keys, e.g. {examples.get(k, [])}")
        if not len(positions):
            lines.append("  no row was scored by both sides")
        message = "\n".join(lines)
    check = CheckResult("alignment/keys", "alignment", Verdict.EQUIVALENT if ok else Verdict.NOT_EQUIVALENT,
                        summary=summary, message=message, details=details)
    return Aligned(positions=positions, legacy=legacy_vals, new=new_vals, check=check)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
