"""Realistic suite results for the report tests, built by hand (not by the code under test).

Plot data comes from numpy's own histogram functions over seeded synthetic scores, and metric details
use the field layout documented in ARCHITECTURE.md ("Result details").
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.results import CheckResult, SuiteResult
from harness.verdicts import Verdict


def _plots(seed: int, n: int = 5000) -> dict:
    rng = np.random.default_rng(seed)
    legacy = rng.beta(2, 8, size=n)
    new = legacy + rng.normal(0, 1e-7, size=n)  # float32-like noise, as after a faithful port
    y = (rng.random(n) < legacy).astype(float)
    lo, hi = min(legacy.min(), new.min()), max(legacy.max(), new.max())  # axes span the data
    edges2 = np.linspace(lo, hi, 41)
    counts, _, _ = np.histogram2d(legacy, new, bins=[edges2, edges2])
    edges1 = np.linspace(lo, hi, 51)
    cal = {}
    for side, p in (("legacy", legacy), ("new", new)):
        bins = np.quantile(p, np.linspace(0, 1, 11))
        idx = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
        cal[side] = {
            "mean_pred": [float(p[idx == b].mean()) for b in range(10)],
            "obs_rate": [float(y[idx == b].mean()) for b in range(10)],
            "count": [int((idx == b).sum()) for b in range(10)],
        }
    # new - legacy by legacy-score decile, one plain loop per bin.
    dedges = np.quantile(legacy, np.linspace(0, 1, 11))
    diff = new - legacy
    per_bin = [diff[(legacy >= lo) & ((legacy < hi) if b < 9 else (legacy <= hi))]
               for b, (lo, hi) in enumerate(zip(dedges[:-1], dedges[1:]))]
    return {
        "hexbin": {"x_edges": edges2.tolist(), "y_edges": edges2.tolist(), "counts": counts.astype(int).tolist()},
        "score_hist": {"edges": edges1.tolist(), "legacy": np.histogram(legacy, edges1)[0].tolist(),
                       "new": np.histogram(new, edges1)[0].tolist()},
        "calibration": cal,
        "diff_by_score": {
            "edges": dedges.tolist(), "count": [len(g) for g in per_bin],
            "min": [float(g.min()) for g in per_bin], "p01": [float(np.percentile(g, 1)) for g in per_bin],
            "median": [float(np.median(g)) for g in per_bin], "p99": [float(np.percentile(g, 99)) for g in per_bin],
            "max": [float(g.max()) for g in per_bin],
        },
    }


def metric_check(metric: str, legacy: float, new: float, ci: tuple[float, float], *, margin: float = 0.005,
                 verdict: Verdict = Verdict.EQUIVALENT, slice_=None, gated: bool = True, test: str = "equivalence",
                 higher_is_better: bool = True, kind: str = "absolute", n: int = 40000) -> CheckResult:
    cid = f"metrics/{metric}" + (f"[{slice_[0]}={slice_[1]}]" if slice_ else "")
    return CheckResult(
        id=cid, kind="metric", verdict=verdict, gated=gated,
        summary=f"{metric}: diff {new - legacy:+.4g}, CI [{ci[0]:+.4g}, {ci[1]:+.4g}] vs margin {margin}",
        message="" if verdict is Verdict.EQUIVALENT else
        f"{cid}: interval [{ci[0]:+.4g}, {ci[1]:+.4g}] is not inside ±{margin}",
        details={
            "metric": metric, "legacy": legacy, "new": new, "diff": new - legacy, "ci": list(ci), "ci_level": 0.9,
            "method": "delong" if metric == "auc" else "paired_bootstrap", "p_value": 0.0004, "p_adjusted": 0.0012,
            "adjustment": "holm",
            "margin": {"value": margin, "kind": kind, "higher_is_better": higher_is_better, "test": test,
                       "absolute_value": margin * (abs(legacy) if kind == "relative" else 1.0)},
            "slice": {"column": slice_[0], "value": slice_[1]} if slice_ else None,
            "n": n, "mdd": 0.002, "n_required": 12000 if verdict is Verdict.INCONCLUSIVE else None,
        },
    )


def feature_check(name: str, *, n_mismatch: int = 0, n: int = 40000, categorical: bool = False) -> CheckResult:
    ok = n_mismatch == 0
    return CheckResult(
        id=f"features/{name}", kind="feature", verdict=Verdict.EQUIVALENT if ok else Verdict.NOT_EQUIVALENT,
        summary=f"{name}: {n_mismatch} of {n} rows differ",
        message="" if ok else f"features/{name}: {n_mismatch} of {n} rows differ beyond 2 ULP",
        details={"feature": name, "type": "categorical" if categorical else "numeric", "n": n, "n_mismatch": n_mismatch,
                 "match_rate": 1 - n_mismatch / n, "max_abs_err": 0.0 if ok else 3.5e-7, "max_rel_err": 0.0 if ok else 1e-7,
                 "max_ulp": 0 if ok else 18446744073709551615, "tolerance": {"max_ulp": 2, "atol": 0.0},
                 "examples": [] if ok else [{"key": 17, "raw": {"price": 12.5}, "legacy": 2.6, "new": None}]},
    )


def make_suite_result(name: str = "ctr_logreg", *, seed: int = 0, failing: bool = False, sample=None,
                      upgrade: dict | None = None, rows: int = 5000) -> SuiteResult:
    checks = [
        CheckResult(id="alignment/keys", kind="alignment", verdict=Verdict.EQUIVALENT, summary="40000 keys aligned",
                    details={"n_legacy": 40000, "n_new": 40000, "n_aligned": 40000, "missing_in_legacy": 0,
                             "missing_in_new": 0, "duplicated_in_legacy": 0, "duplicated_in_new": 0, "examples": {}}),
        feature_check("log_price", n_mismatch=3 if failing else 0),
        feature_check("device_id", categorical=True),
        CheckResult(id="predictions/scores", kind="prediction", verdict=Verdict.EQUIVALENT,
                    summary="max |diff| 3.1e-07, p99 2.693e-07, 0.000% beyond 1e-06 (allowed 0.000%)",
                    details={"n": 40000, "tolerance": {"atol": 1e-6, "max_share": 0.0}, "max_abs_diff": 3.1e-7,
                             "p99_abs_diff": 2.693e-7, "n_beyond_tol": 0, "share_beyond_tol": 0.0,
                             "spearman": 0.99999}),
        metric_check("auc", 0.7312, 0.7309, (-0.0011, 0.0005)),
        metric_check("logloss", 0.4121, 0.4135, (-0.0004, 0.0031), verdict=Verdict.NOT_EQUIVALENT if failing
                     else Verdict.EQUIVALENT, higher_is_better=False, kind="relative", margin=0.01),
        metric_check("auc", 0.70, 0.69, (-0.03, 0.01), slice_=("device", "tablet"), verdict=Verdict.INCONCLUSIVE,
                     gated=False, n=800),
        metric_check("auc", 0.74, 0.7401, (-0.001, 0.0012), slice_=("device", "mobile")),
    ]
    return SuiteResult(
        suite=name, description=f"{name}: logistic regression <b>& friends</b>", seed=seed,
        dataset={"name": "ads_ctr", "version": "1", "split": "eval", "rows": 40000, "files": {"eval": "ab" * 32}},
        checks=checks, sample=sample, alignment=checks[0].details, plots=_plots(seed, n=rows),
        fingerprint={"python": "3.11.7", "packages": {"numpy": "2.4.0", "tensorflow": "2.21.0"}},
        upgrade=upgrade, known_gaps={"features/device_id": "legacy truncates ids > 2^31; accepted in RFC-12"},
    )


def _upgrade() -> dict:
    """An upgrade-gate result as harness.upgrade produces it (its own dataclasses, its to_dict)."""
    from harness.upgrade.findings import Finding, Outcome, UpgradeResult

    findings = [
        Finding(probe="logreg_defaults", output="params", category="configuration", outcome=Outcome.CHANGED,
                size={"changes": [{"path": "root['C']", "change": "values_changed", "old": 1.0, "new": 2.0},
                                  {"path": "root['solver']", "change": "values_changed", "old": "lbfgs",
                                   "new": "<newton|cg>"}], "n_changes": 2},
                packages=["scikit-learn"], explanation="scikit-learn 1.9.0 -> 1.9.1 changed a default"),
        Finding(probe="saved_model_scores", output="scores", category="inference", outcome=Outcome.WITHIN_NOISE,
                size={"n": 1000, "n_diff": 3, "max_abs_diff": 2.2e-16, "max_ulp": 1.0,
                      "reason": "within the stated floating-point tolerance"}, packages=["numpy"]),
        Finding(probe="tokenizer", output="vocab", category="featurization", outcome=Outcome.IDENTICAL),
    ]
    result = UpgradeResult(
        suite="ctr_gbdt", findings=findings,
        baseline_fingerprint={"python": "3.11.7", "packages": {"numpy": "2.3.0", "scikit-learn": "1.9.0"}},
        current_fingerprint={"python": "3.11.7", "packages": {"numpy": "2.4.0", "scikit-learn": "1.9.1"}},
        changed_packages={"numpy": ("2.3.0", "2.4.0"), "scikit-learn": ("1.9.0", "1.9.1")}, environment_diffs={},
        notes=["<script>alert(1)</script>"],
    )
    return result.to_dict()


@pytest.fixture
def suite_results():
    return [make_suite_result("ctr_logreg"), make_suite_result("ctr_gbdt", seed=1, failing=True, upgrade=_upgrade())]


@pytest.fixture
def make_result():
    """The factory itself, for tests that need other variants (sampled, all at parity, more rows)."""
    return make_suite_result
