"""Findings: how each probe output of the current environment compares with the baseline, and why.

Outcomes, per probe output:

* IDENTICAL — bitwise equal (same sha256) for every seed compared.
* WITHIN_NOISE — different bits, but every element is inside the stated floating-point tolerance
  (``ulps`` / ``rtol`` / ``atol``), or no element moved by more than the larger of the spread between
  the baseline's seeds (max - min over seeds, per element; seeded probes) and its numerical noise
  allowance: `NOISE_FACTOR` x the band the baseline measured under numerics-only perturbations
  (`numeric_allowance`; the method and why: `harness.upgrade.probes`).
* CHANGED — anything else, with its size: max |diff|, max relative diff, max ULP distance and how many
  elements moved; for scalars the old and new values, the delta and an interval against the seed noise;
  for configuration the DeepDiff paths with old and new values.

A finding that is not IDENTICAL names the packages whose versions differ between the two fingerprints
and whose code the probe ran (recorded with each run, `harness.upgrade.evidence`; for a run without
that record, the packages the probe declared, by default its category's); when no package version changed it says so and lists
the environment differences (BLAS, CPU, env vars) instead, or, with none, that the probe itself changed.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.ulp import ulp_distance as _ulp_count
from harness.upgrade.snapshot import Output, ProbeRecord, Snapshot

__all__ = ["Finding", "Outcome", "UpgradeResult", "compare_snapshots", "findings_to_markdown", "ulp_distance"]


class Outcome(str, enum.Enum):
    IDENTICAL = "IDENTICAL"
    WITHIN_NOISE = "WITHIN_NOISE"
    CHANGED = "CHANGED"


_RANK = {Outcome.IDENTICAL: 0, Outcome.WITHIN_NOISE: 1, Outcome.CHANGED: 2}


@dataclass
class Finding:
    probe: str
    output: str
    category: str
    outcome: Outcome
    size: dict[str, Any] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)  # upgraded packages that can explain it
    explanation: str = ""
    # "evidence": ``packages`` are upgraded packages whose code the probe ran; "declared": from the
    # probe's declared (or category default) packages, when no run recorded what it executed.
    attribution: str = ""

    def to_dict(self) -> dict[str, Any]:
        from harness.results import jsonable

        return {"probe": self.probe, "output": self.output, "category": self.category, "outcome": self.outcome.value,
                "size": jsonable(self.size), "packages": list(self.packages), "explanation": self.explanation,
                "attribution": self.attribution}


@dataclass
class UpgradeResult:
    """Everything one check found for one suite. ``findings`` holds one entry per probe output."""

    suite: str
    findings: list[Finding]
    baseline_fingerprint: dict[str, Any]
    current_fingerprint: dict[str, Any]
    changed_packages: dict[str, tuple[str | None, str | None]]
    environment_diffs: dict[str, tuple[Any, Any]]
    notes: list[str] = field(default_factory=list)
    # the `parity baseline accept` command for this suite's folders (`baseline.accept_command`), not in to_dict
    accept_command: str | None = None

    @property
    def changed(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome is Outcome.CHANGED]

    @property
    def within_noise(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome is Outcome.WITHIN_NOISE]

    @property
    def exit_code(self) -> int:
        return 1 if self.changed else 0

    def probe_outcomes(self) -> dict[str, str]:
        """The worst outcome of each probe's outputs."""
        out: dict[str, Outcome] = {}
        for f in self.findings:
            if f.probe not in out or _RANK[f.outcome] > _RANK[out[f.probe]]:
                out[f.probe] = f.outcome
        return {k: v.value for k, v in out.items()}

    @property
    def accept(self) -> str:
        """The command that accepts this suite's changes (its folders named when they are known)."""
        return self.accept_command or f"parity baseline accept --suite {self.suite} --reason '...'"

    def to_check_results(self) -> list[Any]:
        """One `harness.results.CheckResult` (kind "upgrade", id ``upgrade/<probe>``) per probe, for the
        pytest plugin and the report: NOT_EQUIVALENT when any output CHANGED, else EQUIVALENT."""
        from harness.results import CheckResult
        from harness.verdicts import Verdict

        by_probe: dict[str, list[Finding]] = {}
        for f in self.findings:
            by_probe.setdefault(f.probe, []).append(f)
        checks = []
        for probe, fs in by_probe.items():
            changed = [f for f in fs if f.outcome is Outcome.CHANGED]
            noisy = [f for f in fs if f.outcome is Outcome.WITHIN_NOISE]
            category = fs[0].category
            summary = (f"{len(changed)} of {len(fs)} outputs changed" if changed else
                       f"{len(fs) - len(noisy)} of {len(fs)} outputs identical, {len(noisy)} within noise")
            lines = []
            if changed:
                lines.append(f"Upgrade gate: {category} probe {probe!r} of suite {self.suite!r} changed behaviour.")
                lines.append(f"If intended: {self.accept}")
                for f in changed:
                    lines.append(f"  {f.output}: {_size_text(f)} -- {f.explanation}")
            checks.append(CheckResult(
                id=f"upgrade/{probe}", kind="upgrade", verdict=Verdict.NOT_EQUIVALENT if changed else Verdict.EQUIVALENT,
                summary=summary, message="\n".join(lines),
                details={"category": category, "findings": [f.to_dict() for f in fs if f.outcome is not Outcome.IDENTICAL],
                         "changed_packages": {k: list(v) for k, v in self.changed_packages.items()}}))
        return checks

    def to_dict(self) -> dict[str, Any]:
        from harness.results import jsonable

        counts = {o.value: sum(f.outcome is o for f in self.findings) for o in Outcome}
        return {
            "suite": self.suite,
            "verdict": "CHANGED" if self.changed else "UNCHANGED",
            "counts": counts,
            "probes": self.probe_outcomes(),
            "changed_packages": {k: list(v) for k, v in self.changed_packages.items()},
            "environment_diffs": jsonable({k: list(v) for k, v in self.environment_diffs.items()}),
            "findings": [f.to_dict() for f in self.findings if f.outcome is not Outcome.IDENTICAL],
            "identical": sorted(f"{f.probe}/{f.output}" for f in self.findings if f.outcome is Outcome.IDENTICAL),
            "notes": list(self.notes),
            "baseline_fingerprint": jsonable(self.baseline_fingerprint),
            "current_fingerprint": jsonable(self.current_fingerprint),
        }


# -- numbers -------------------------------------------------------------------------------------------

def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units in the last place between two float arrays of one dtype, as float64 (0 for equal values, inf
    when one is NaN and the other is not): the feature checks' count (`harness.ulp.ulp_distance`,
    in the arrays' own dtype), with inf where that count says "NaN against a number"."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype or a.dtype.kind != "f":
        raise TypeError(f"ulp_distance needs two float arrays of one dtype, got {a.dtype} and {b.dtype}")
    dist = _ulp_count(a, b, dtype=a.dtype).astype(np.float64)
    return np.where(np.isnan(a) ^ np.isnan(b), np.inf, dist)


def _within_tolerance(old: np.ndarray, new: np.ndarray, tol: Mapping[str, Any]) -> np.ndarray:
    if old.dtype.kind != "f":
        return old == new
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(new - old) <= (float(tol.get("atol", 0.0)) + float(tol.get("rtol", 0.0)) * np.abs(old))
        same = (old == new) | (np.isnan(old) & np.isnan(new))
    return same | close | (ulp_distance(old, new) <= int(tol.get("ulps", 0)))


def _as_float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) if a.dtype.kind in "biuf" else a


def _size(old: np.ndarray, new: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(old.size)}
    if old.dtype.kind not in "biuf":
        out["n_diff"] = int(np.sum(old != new))
        return out
    o, n = _as_float(old), _as_float(new)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = np.abs(n - o)
        finite = np.isfinite(d)
        out["n_diff"] = int(np.sum(~((o == n) | (np.isnan(o) & np.isnan(n)))))
        out["max_abs_diff"] = float(d[finite].max()) if finite.any() else None
        out["mean_abs_diff"] = float(d[finite].mean()) if finite.any() else None
        rel = d / np.abs(o)
        rel_ok = np.isfinite(rel)
        out["max_rel_diff"] = float(rel[rel_ok].max()) if rel_ok.any() else None
        out["n_nonfinite_mismatch"] = int(np.sum(~finite & ~(np.isnan(o) & np.isnan(n)) & (o != n)))
    if old.dtype.kind == "f":
        u = ulp_distance(old, new)
        out["max_ulp"] = float(u.max()) if u.size else 0.0
    if old.size == 1:
        out["old"] = float(o.ravel()[0])
        out["new"] = float(n.ravel()[0])
        out["delta"] = float(n.ravel()[0] - o.ravel()[0])
    return out


# -- comparison ----------------------------------------------------------------------------------------

def _config_changes(old: Any, new: Any, limit: int = 50) -> list[dict[str, Any]]:
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    tree = DeepDiff(old, new, view="tree", ignore_order=False)
    changes = []
    for change, levels in sorted(tree.items()):
        for level in levels:
            changes.append({"path": level.path(), "change": change,
                            "old": None if level.t1 is notpresent else level.t1,
                            "new": None if level.t2 is notpresent else level.t2})
    changes.sort(key=lambda c: c["path"])
    return changes[:limit]


def _describe(out: Output) -> Any:
    if out.kind == "json":
        return out.value
    if out.array is not None and out.array.size <= 10:
        return out.array.tolist()
    return {"dtype": out.dtype, "shape": list(out.shape or ()), "summary": out.summary}


def _compare_output(name: str, base: ProbeRecord, pairs: Sequence[tuple[Output, Output]],
                    baseline_all: Sequence[Output], *, paired_all_seeds: bool) -> tuple[Outcome, dict[str, Any]]:
    """Outcome and size of one output; ``pairs`` are (baseline, current) per compared seed."""
    if all(o.sha256 == n.sha256 for o, n in pairs):
        return Outcome.IDENTICAL, {}
    o0, n0 = pairs[0]
    if o0.kind != n0.kind:  # e.g. raised before ("error: ValueError"), returns a number now
        return Outcome.CHANGED, {"kind": [o0.kind, n0.kind], "old": _describe(o0), "new": _describe(n0)}
    if o0.kind == "json":
        changes = [c for o, n in pairs for c in _config_changes(o.value, n.value)]
        return Outcome.CHANGED, {"changes": changes, "n_changes": len(changes)}
    if any(o.dtype != n.dtype or o.shape != n.shape for o, n in pairs):
        size = {"dtype": [o0.dtype, n0.dtype], "shape": [list(o0.shape or ()), list(n0.shape or ())]}
        if all(x.array is not None and x.array.size <= 10 for x in (o0, n0)):  # small: the values say more
            size["old_values"], size["new_values"] = o0.array.tolist(), n0.array.tolist()
        return Outcome.CHANGED, size
    if any(o.array is None or n.array is None for o, n in pairs):
        return Outcome.CHANGED, {"note": "array too large to store; sized from summaries only",
                                 "old_summary": o0.summary, "new_summary": n0.summary}
    tol = base.tolerance
    if all(_within_tolerance(o.array, n.array, tol).all() for o, n in pairs):
        size = _size(o0.array, n0.array)
        size["reason"] = "within the stated floating-point tolerance"
        size["tolerance"] = dict(tol)
        return Outcome.WITHIN_NOISE, size

    old_stack = np.stack([o.array for o, _ in pairs])
    new_stack = np.stack([n.array for _, n in pairs])
    if paired_all_seeds and len(pairs) > 1:  # compare seed means: what the seeds agree on
        old_c, new_c = _as_float(old_stack).mean(axis=0), _as_float(new_stack).mean(axis=0)
    else:
        old_c, new_c = old_stack[0], new_stack[0]
    size = _size(old_c, new_c)
    size["tolerance"] = dict(tol)
    numeric = base.noise.band(name) if base.noise is not None else None
    if numeric is not None and numeric.shape != tuple(o0.shape or ()):
        numeric = None
    k = len(baseline_all)
    seeded = k >= 2 and o0.dtype is not None and np.dtype(o0.dtype).kind in "biuf"
    if not seeded and numeric is None:
        size["n_beyond_tolerance"] = int(np.sum(~_within_tolerance(np.asarray(old_c), np.asarray(new_c), tol)))
        if base.noise is not None and name in base.noise.varies:
            size["floor_note"] = _varies_note(name, base.noise)
        return Outcome.CHANGED, size
    band = np.zeros(np.shape(old_c))
    reasons = []
    if seeded:
        seeds = np.stack([_as_float(b.array) for b in baseline_all if b.array is not None])
        band = seeds.max(axis=0) - seeds.min(axis=0)
        size["noise"] = {"k_seeds": k, "max_seed_range": float(np.nanmax(band)) if band.size else 0.0}
        reasons.append(f"the spread between the baseline's {k} seeds")
        if old_c.size == 1:
            sd = float(seeds.std(ddof=1))
            # Difference of two single runs, each with the seed-to-seed sd: Student t with k-1 d.o.f.
            from scipy.stats import t as student_t

            half = float(student_t.ppf(0.975, k - 1)) * sd * math.sqrt(2.0 if not paired_all_seeds else 2.0 / k)
            size["noise"].update({"seed_sd": sd, "seed_values": [float(v) for v in seeds.ravel()],
                                  "interval_95": [size["delta"] - half, size["delta"] + half]})
    if numeric is not None:
        allowed = numeric_allowance(np.asarray(old_c), numeric)
        band = np.maximum(band, allowed)
        size.setdefault("noise", {})["numeric"] = {
            "perturbations": list(base.noise.perturbations), "factor": NOISE_FACTOR,
            "max_band": float(np.nanmax(numeric)) if numeric.size else 0.0,
            "max_allowed": float(np.nanmax(allowed)) if allowed.size else 0.0,
            "floor_ulps": int(tol.get("ulps", 0))}
        if base.noise.inputs is not None:
            size["noise"]["numeric"]["inputs"] = list(base.noise.inputs)
        reasons.append(f"{NOISE_FACTOR} x its numerical noise band (re-runs under {', '.join(base.noise.perturbations)})"
                       if np.nanmax(numeric, initial=0.0) > 0 else
                       f"its numerical noise band, which is 0 (re-runs under {', '.join(base.noise.perturbations)} "
                       "moved nothing): only the ULP floor")
    with np.errstate(invalid="ignore"):
        delta = np.abs(_as_float(new_c) - _as_float(old_c))
        moved = ~(delta <= band) & ~_within_tolerance(np.asarray(old_c), np.asarray(new_c), tol)
    size["n_beyond_noise"] = int(np.sum(moved))
    if not moved.any():
        size["reason"] = "inside " + " and ".join(reasons) if len(reasons) < 2 else \
            f"inside the larger of {reasons[0]} and {reasons[1]}"
        return Outcome.WITHIN_NOISE, size
    if numeric is not None and base.noise.inputs == [] and o0.dtype is not None and np.dtype(o0.dtype).kind == "f":
        size["floor_note"] = _no_inputs_note(base, tol)
    return Outcome.CHANGED, size


def _varies_note(output: str, noise: Any) -> str:
    return (f"output {output!r} has no noise band: under the baseline's perturbations "
            f"({', '.join(noise.perturbations)}) it changed shape or type, or moved by more than last-bit noise "
            "can (its values follow a permuted input's row order, or a tie flipped); only the tolerance applies. "
            "If it is computed on permuted rows, compute it on rows that are not in permute=")


def _no_inputs_note(base: ProbeRecord, tol: Mapping[str, Any]) -> str:
    """Why a CHANGED on a probe that gave the baseline nothing to perturb may be a false alarm, and the fix."""
    runs = [p for p in base.noise.perturbations if not p.startswith("inputs(")] if base.noise else []
    also = f" and what {', '.join(runs)} moved" if runs else ""
    return (f"the baseline perturbed none of probe {base.name!r}'s inputs (it declares no inputs= and calls no "
            "perturb helper, or its jitter= and permute= leave nothing to move), so its noise floor is only the "
            f"{int(tol.get('ulps', 0))}-ULP tolerance{also}, and a numerics-only upgrade can move a fit further. "
            "To measure a real floor: without inputs=, declare its data, "
            f"@probes.{base.category}(\"{base.name}\", inputs=lambda: {{\"X\": X, \"y\": y}}) with the function "
            "taking X, y as arguments; with jitter=False, jitter the inputs no bin edge or threshold reads "
            "(jitter=(\"X_eval\",)) or permute= rows that are exchangeable; then re-record the baseline "
            "(harness.upgrade.probes)")


# A numerics-only upgrade moves an output by an amount of the order of what the perturbed re-runs move
# it, not exactly that: the re-runs sample a few reorderings, an upgrade is one other. The factor covers
# that sampling; a changed default or algorithm moves fits by orders of magnitude more (see probes.py).
NOISE_FACTOR = 8


def numeric_allowance(old: np.ndarray, band: np.ndarray) -> np.ndarray:
    """How far each element may move and still be numerical noise: ``NOISE_FACTOR`` times the larger of
    its own band and the output's relative band (the largest band relative to the output's largest
    magnitude) times its magnitude; integers (iteration counts) get their band exactly, no factor."""
    old = np.asarray(old)
    if old.dtype.kind in "biu":
        return band
    mag = np.abs(_as_float(old))
    finite = np.isfinite(mag) & np.isfinite(band)
    scale = float(mag[finite].max()) if finite.any() else 0.0
    relative = float(band[finite].max()) / scale if finite.any() and scale > 0 else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        return NOISE_FACTOR * np.maximum(band, relative * mag)


def _suspects(base: ProbeRecord, cur: ProbeRecord) -> tuple[set[str], str]:
    """The packages that can explain a change in this probe, and on what basis: "evidence" (the
    distributions whose code either run executed, plus any the suite named with ``packages=``), else
    "declared" (the probe's packages: its category's defaults unless named)."""
    runs = [r.executed for r in (base, cur) if r.executed is not None]
    if not runs:
        return set(cur.packages), "declared"
    executed = set().union(*runs)
    return executed | (set(cur.packages) if cur.declared_packages else set()), "evidence"


def _explain(outcome: Outcome, plausible: Iterable[str], changed_pkgs: Mapping[str, tuple[Any, Any]],
             env_diffs: Mapping[str, tuple[Any, Any]], basis: str = "declared", suite: str = "SUITE"
             ) -> tuple[list[str], str]:
    if outcome is Outcome.IDENTICAL:
        return [], ""
    pkgs = sorted(set(plausible) & set(changed_pkgs))
    env = _environment_text(env_diffs)
    if pkgs:
        text = ", ".join(f"{p} {changed_pkgs[p][0]} -> {changed_pkgs[p][1]}" for p in pkgs)
        how = " (the probe ran its code)" if basis == "evidence" else ""
        if len(pkgs) > 1:  # e.g. TensorFlow and Keras: one probe runs both, so what it ran cannot tell them apart
            how += (f" -- the probe ran the code of all {len(pkgs)}, so attribution cannot tell which one; "
                    f"bisection can (parity baseline bisect --suite {suite}, or --bisect / --parity-bisect on the run)")
        if env_diffs:  # another machine or setting moves last bits too: the packages are not the only suspect
            how += (f"; or by the environment, which differs too ({env}): a baseline recorded in this environment "
                    "before the upgrade tells the two apart")
        return pkgs, f"can be explained by: {text}{how}"
    env = env or "none recorded"
    if changed_pkgs:
        others = ", ".join(f"{p} {v[0]} -> {v[1]}" for p, v in changed_pkgs.items())
        whose = "the probe ran code of none of the upgraded packages" if basis == "evidence" else \
            f"none of this probe's plausible packages {sorted(plausible)} changed"
        return [], f"{whose} (changed: {others}); environment differences: {env}"
    if not env_diffs:
        return [], ("no package version changed and no recorded environment setting (BLAS, CPU, env vars) "
                    "differs: the change comes from the probe itself (its code, its inputs, or code or data it "
                    "reads, a suite's own edit included) or from randomness its seeds do not fix")
    return [], f"no package version changed: environment (BLAS, CPU, env vars) differs: {env}"


def _environment_text(env_diffs: Mapping[str, tuple[Any, Any]]) -> str:
    """The environment differences as a finding names them: a setting with short values as old -> new,
    a long one (CPU flag lists, thread pools) by its name only, since the report's header lists each in
    full once."""
    short, named = [], []
    for k, (a, b) in env_diffs.items():
        pair = f"{k}: {a!r} -> {b!r}"
        (short.append(pair) if len(pair) <= 100 else named.append(k))
    if named:
        short.append(f"{' and '.join([', '.join(named[:-1]), named[-1]] if len(named) > 1 else named)} "
                     f"differ{'s' if len(named) == 1 else ''} (in full under the environment differences)")
    return "; ".join(short)


def compare_snapshots(baseline: Snapshot, current: Snapshot, *, changed_pkgs: Mapping[str, tuple[Any, Any]],
                      env_diffs: Mapping[str, tuple[Any, Any]], all_seeds: bool = False) -> tuple[list[Finding], list[str]]:
    """Findings (one per probe output, sorted by probe then output) and notes (probes not compared)."""
    findings: list[Finding] = []
    notes: list[str] = []
    for name in sorted(set(baseline.probes) | set(current.probes)):
        base, cur = baseline.probes.get(name), current.probes.get(name)
        if cur is None:
            notes.append(f"probe {name!r} is in the baseline but was not run")
            continue
        if base is None:
            notes.append(f"probe {name!r} is new: not in the baseline (record or accept to add it)")
            continue
        category = cur.category
        suspects, basis = _suspects(base, cur)

        def finding(output: str, outcome: Outcome, size: dict[str, Any]) -> None:
            pkgs, text = _explain(outcome, suspects, changed_pkgs, env_diffs, basis, suite=current.suite)
            findings.append(Finding(probe=name, output=output, category=category, outcome=outcome, size=size,
                                    packages=pkgs, explanation=text,
                                    attribution=basis if outcome is not Outcome.IDENTICAL else ""))

        if cur.error is not None:
            finding("*", Outcome.CHANGED, {"error": cur.error, "baseline_error": base.error})
            continue
        seeds = [s for s, _ in cur.runs]
        missing = [s for s in seeds if s not in [b for b, _ in base.runs]]
        if missing:
            notes.append(f"probe {name!r}: seeds {missing} not in the baseline (seeds changed? re-record)")
            continue
        names = sorted(set(base.outputs(seeds[0])) | set(cur.outputs(seeds[0])))
        for out in names:
            if out not in cur.outputs(seeds[0]):
                finding(out, Outcome.CHANGED, {"change": "output no longer produced"})
                continue
            if out not in base.outputs(seeds[0]):
                finding(out, Outcome.CHANGED, {"change": "new output, not in the baseline"})
                continue
            pairs = [(base.outputs(s)[out], cur.outputs(s)[out]) for s in seeds]
            baseline_all = [outs[out] for _, outs in base.runs if out in outs]
            outcome, size = _compare_output(out, base, pairs, baseline_all, paired_all_seeds=all_seeds)
            finding(out, outcome, size)
    return findings, notes


# -- Markdown ------------------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _change_text(c: Mapping[str, Any]) -> str:
    """One DeepDiff change in words: an added or removed item says so (its value is not "None")."""
    kind = str(c.get("change", ""))
    if kind.endswith("_added"):
        return f"`{c['path']}`: added {c['new']!r}"
    if kind.endswith("_removed"):
        return f"`{c['path']}`: removed {c['old']!r}"
    if kind == "type_changes":
        return f"`{c['path']}`: {c['old']!r} ({type(c['old']).__name__}) -> {c['new']!r} ({type(c['new']).__name__})"
    return f"`{c['path']}`: {c['old']!r} -> {c['new']!r}"


def _dtype_name(dtype: str) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def _fmt_values(v: Any) -> str:
    """Stored values as written (repr: 1.0 stays 1.0 beside an int 2); one element without brackets."""
    return repr(v[0]) if isinstance(v, list) and len(v) == 1 else repr(v)


def _layout_text(s: Mapping[str, Any]) -> str:
    """A shape or dtype change in words, saying only what changed."""
    (old_dtype, new_dtype), (old_shape, new_shape) = s["dtype"], s["shape"]
    parts = []
    if "old_values" in s and "new_values" in s:  # a number that became an int: 1.0 -> 2, not just its dtype
        parts.append(f"{_fmt_values(s['old_values'])} -> {_fmt_values(s['new_values'])}")
    if old_shape != new_shape:
        text = f"shape {tuple(old_shape)} -> {tuple(new_shape)}"
        if len(old_shape) == len(new_shape) == 1:
            d = new_shape[0] - old_shape[0]
            text += f" ({abs(d)} element{'s' if abs(d) != 1 else ''} {'added' if d > 0 else 'removed'})"
        parts.append(text)
    if old_dtype != new_dtype:
        parts.append(f"dtype {_dtype_name(old_dtype)} -> {_dtype_name(new_dtype)}")
    return ", ".join(parts) or "layout changed"


def _size_text(f: Finding) -> str:
    s = f.size
    if "changes" in s:
        parts = [_change_text(c) for c in s["changes"][:5]]
        more = f" (+{len(s['changes']) - 5} more)" if len(s["changes"]) > 5 else ""
        return "; ".join(parts) + more
    if "error" in s:
        return f"raises now: {s['error']}"
    if "change" in s:
        return s["change"]
    if "kind" in s:
        return f"{s['old']!r} -> {s['new']!r}"
    parts = []
    if "delta" in s:
        parts.append(f"{_fmt(s['old'])} -> {_fmt(s['new'])} (delta {_fmt(s['delta'])})")
    elif s.get("max_abs_diff") is not None:
        parts.append(f"max |diff| {_fmt(s['max_abs_diff'])}, {s.get('n_diff')}/{s.get('n')} elements differ")
    if s.get("max_ulp") is not None:
        parts.append(f"max {_fmt(s['max_ulp'])} ulp")
    noise = s.get("noise")
    if noise:
        if "interval_95" in noise:
            lo, hi = noise["interval_95"]
            parts.append(f"95% interval vs seed noise [{_fmt(lo)}, {_fmt(hi)}]")
        if "max_seed_range" in noise:
            parts.append(f"seed range {_fmt(noise['max_seed_range'])} over {noise['k_seeds']} seeds")
        if "numeric" in noise:
            nb = noise["numeric"]
            parts.append(f"numerical noise band {_fmt(nb['max_band'])} (x {nb['factor']}: moves up to {_fmt(nb['max_allowed'])} "
                         f"allowed; floor {nb['floor_ulps']} ulp)")
    if "reason" in s:
        parts.append(s["reason"])
    if "floor_note" in s:
        parts.append(s["floor_note"])
    if "note" in s:
        parts.append(s["note"])
    if "shape" in s and "dtype" in s:
        parts.append(_layout_text(s))
    return "; ".join(parts)


def findings_to_markdown(results: UpgradeResult | Sequence[UpgradeResult],
                         unjudged: Sequence[Mapping[str, Any]] = ()) -> str:
    """A review-style Markdown report: headline, how to fix, then a table per suite of what changed.

    ``unjudged``: suites that could not be compared, as ``{"suite", "verdict" (NO_BASELINE | UNREADABLE
    | ERROR), "message", "record_command"?}``; they come first, and no headline calls the run clean."""
    if isinstance(results, UpgradeResult):
        results = [results]
    n_changed = sum(len(r.changed) for r in results)
    lines = ["# Upgrade gate", ""]
    if unjudged:
        lines += [f"**{len(unjudged)} suite(s) could not be judged** "
                  f"({', '.join(sorted({str(u['verdict']) for u in unjudged}))}): the gate has not passed.", ""]
        for u in unjudged:
            lines += [f"## {u['suite']}: {u['verdict']}", "", str(u["message"]).splitlines()[0] if u["verdict"] != "NO_BASELINE"
                      else f"No baseline at `{u.get('baseline')}`. Record it with:", ""]
            if u.get("record_command"):
                lines += ["```", str(u["record_command"]), "```", ""]
    if n_changed:
        accept = results[0].accept if len(results) == 1 else "parity baseline accept --suite SUITE --reason '...'"
        lines += [f"**{n_changed} behaviour{'' if n_changed == 1 else 's'} changed.** Review each below; if the change is intended, re-record with "
                  f"`{accept}`.", ""]
    elif results and not unjudged:
        lines += ["**No behaviour changed beyond noise.**", ""]
    elif results:
        lines += ["No behaviour changed beyond noise in the suites that were judged.", ""]
    for r in results:
        counts = {o: sum(f.outcome is o for f in r.findings) for o in Outcome}
        lines += [f"## {r.suite}", "",
                  f"{counts[Outcome.CHANGED]} changed, {counts[Outcome.WITHIN_NOISE]} within noise, "
                  f"{counts[Outcome.IDENTICAL]} identical.", ""]
        if r.changed_packages:
            lines.append("Packages changed: " + ", ".join(f"{p} {a} -> {b}" for p, (a, b) in r.changed_packages.items()) + ".")
        else:
            tracked = sorted(set(r.current_fingerprint.get("packages", {})) | set(r.baseline_fingerprint.get("packages", {})))
            lines.append("No version changed among the packages the fingerprint tracks"
                         + (f" ({', '.join(tracked)})." if tracked else "."))
        if r.environment_diffs:
            lines.append("Environment differences: " + "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in r.environment_diffs.items()) + ".")
        lines.append("")
        shown = [f for f in r.findings if f.outcome is not Outcome.IDENTICAL]
        if shown:
            lines += ["| outcome | category | probe / output | size | can be explained by |", "|---|---|---|---|---|"]
            for f in sorted(shown, key=lambda f: (-_RANK[f.outcome], f.category, f.probe, f.output)):
                expl = ", ".join(f.packages) if f.packages else f.explanation
                cell = _size_text(f).replace("|", "\\|")
                lines.append(f"| {f.outcome.value} | {f.category} | `{f.probe}/{f.output}` | {cell} | {expl.replace('|', '/')} |")
            lines.append("")
            shared = [f for f in r.changed if len(f.packages) > 1]
            if shared:  # the table names every package a probe ran; only an experiment can split them
                lines += [f"{len(shared)} change(s) could come from any of several upgraded packages the probe ran "
                          f"({', '.join(sorted({p for f in shared for p in f.packages}))}): `parity baseline bisect "
                          f"--suite {r.suite}` (or `--bisect` / `--parity-bisect` on the run) names which one.", ""]
        for note in r.notes:
            lines.append(f"- note: {note}")
        if r.notes:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
