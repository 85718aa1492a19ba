"""The numerical noise floor against real upgrades, run for real in throwaway virtual environments.

A baseline is recorded in one environment and checked in another that differs in one package. The
probes are general ones (a default lbfgs LogisticRegression, an early-stopping HistGradientBoosting,
a default KMeans), written plainly: each declares its data with ``inputs=`` (the harness perturbs it
for the noise floor; no helper call), none states a tolerance, none was tuned for these pairs:

* numerics-only upgrades must not be CHANGED: scipy 1.13.1 -> 1.15.3 (L-BFGS-B rewritten from Fortran
  to C in 1.15.0; scikit-learn and numpy fixed) moves the lbfgs coefficients by tens of ULPs, beyond
  the 4-ULP default, which the noise band must absorb; numpy 1.26.4 -> 2.0.2 (scipy and scikit-learn
  fixed; measured: these probes come out bit for bit identical, so this pair shows only that the band
  raises no alarm); scipy 1.14.1 -> 1.15.3, the same rewrite from another base.
* behaviour-changing upgrades must be CHANGED: scikit-learn 1.4.2 -> 1.6.1 (new default
  ``categorical_features="from_dtype"``, see test_upgrade_real.py) and scikit-learn 1.3.2 -> 1.4.2,
  whose release notes change ``KMeans(n_init=...)``'s default from 10 to "auto" (one k-means++ start):
  the KMeans fit itself, a learning probe, must be CHANGED, not only its configuration.
  (Measured on this pair: the lbfgs LogisticRegression fit is CHANGED too.)

Venvs are cached under ``$PARITY_UPGRADE_VENVS`` (default ``/tmp/parity-upgrade-venvs``), named like
test_upgrade_real.py's. Skipped only when pip cannot reach the package index.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from upgrade_venvs import cached_venv, probes_script, run_in  # _venvs.py, loaded by conftest.py

pytestmark = pytest.mark.slow

EXTRA = ["deepdiff", "threadpoolctl", "jsonschema"]
BASE = {"scikit-learn": "1.6.1", "numpy": "1.26.4", "scipy": "1.13.1"}

PROBES_SCRIPT = probes_script('''
    import json, sys
    import numpy as np
    from harness.upgrade import ProbeSet, check_against_baseline, record_baseline, sklearn_config

    def make():
        # Written as a user would: the data declared as inputs, no perturbation helper, no tolerance.
        from sklearn.cluster import KMeans
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(11)
        X = rng.normal(size=(3000, 6))
        y = (rng.random(3000) < 1 / (1 + np.exp(-(X[:, 0] - 0.7 * X[:, 1] + 0.4 * X[:, 2] * X[:, 4])))).astype(int)
        data = {"X": X[:2000], "y": y[:2000], "X_eval": X[2000:]}
        blobs = np.concatenate([rng.normal(c, 1.0, size=(300, 2)) for c in ((0, 0), (3, 0), (0, 3), (3, 3), (1.5, 1.5))])
        probes = ProbeSet("noise_real")

        @probes.configuration("defaults")
        def defaults():
            return {"logreg": sklearn_config(LogisticRegression()), "hgb": sklearn_config(HistGradientBoostingClassifier()),
                    "kmeans": sklearn_config(KMeans())}

        @probes.learning("logreg_fit", seeds=(0, 1), inputs=data, permute=("X", "y"))
        def logreg_fit(seed, X, y, X_eval):
            m = LogisticRegression(random_state=seed).fit(X, y)
            return {"coef": m.coef_, "intercept": m.intercept_, "n_iter": m.n_iter_, "scores": m.predict_proba(X_eval)[:, 1]}

        # The issue's kind of suite: raw, unscaled features of very different sizes and two nearly
        # collinear columns, a default LogisticRegression (raised max_iter, as users do when lbfgs warns).
        raw = X * np.array([1.0, 30.0, 0.02, 5.0, 1.0, 1.0])
        raw[:, 5] = raw[:, 4] + 1e-3 * rng.normal(size=3000)
        raw_data = {"X": raw[:2000], "y": y[:2000], "X_eval": raw[2000:]}

        # Scores on the eval rows, never on the permuted training rows: those come back in another order.
        @probes.learning("logreg_raw_fit", seeds=(0,), inputs=raw_data, permute=("X", "y"))
        def logreg_raw_fit(seed, X, y, X_eval):
            m = LogisticRegression(max_iter=5000, random_state=seed).fit(X, y)
            return {"coef": m.coef_, "intercept": m.intercept_, "scores": m.predict_proba(X_eval)[:, 1]}

        @probes.learning("hgb_fit", seeds=(0, 1), inputs=data)  # no permute: the early-stopping split is by position
        def hgb_fit(seed, X, y, X_eval):
            m = HistGradientBoostingClassifier(max_iter=40, early_stopping=True, random_state=seed).fit(X, y)
            return {"scores": m.predict_proba(X_eval)[:, 1], "n_iter": m.n_iter_, "train_loss": m.train_score_}

        @probes.learning("kmeans_fit", seeds=(0, 1), inputs={"points": blobs})  # k-means++ samples rows by index
        def kmeans_fit(seed, points):
            m = KMeans(n_clusters=5, random_state=seed).fit(points)
            return {"inertia": m.inertia_, "centers": m.cluster_centers_, "n_iter": m.n_iter_}

        return probes
''', "noise_real")


def _name(pins: dict[str, str]) -> str:
    if pins["numpy"] == BASE["numpy"] and pins["scipy"] == BASE["scipy"]:
        return f"sk-{pins['scikit-learn']}"  # the layout test_upgrade_real.py uses: shared, not duplicated
    return f"sk-{pins['scikit-learn']}_np-{pins['numpy']}_sp-{pins['scipy']}"


def _venv(tmp_path: Path, **changes: str) -> Path:
    pins = {**BASE, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return cached_venv(_name(pins), [*(f"{k}=={v}" for k, v in pins.items()), *EXTRA], tmp_path=tmp_path,
                       want=f"{pins['scikit-learn']} {pins['numpy']} {pins['scipy']}",
                       check="import sklearn, numpy, scipy, deepdiff, jsonschema, threadpoolctl; "
                             "print(sklearn.__version__, numpy.__version__, scipy.__version__)")


def _run(python: Path, *args: str) -> None:
    run_in(python, *args)  # no thread-count variables: the baseline's thread perturbation needs the default pools


def _record_and_check(old: Path, new: Path, tmp_path: Path) -> dict:
    script = tmp_path / "noise_script.py"
    script.write_text(PROBES_SCRIPT)
    root, out = tmp_path / "baselines", tmp_path / "findings.json"
    _run(old, str(script), "record", str(root))
    _run(new, str(script), "check", str(root), str(out))
    doc = json.loads(out.read_text())
    print(json.dumps([{k: f[k] for k in ("probe", "output", "outcome")} | {"size": {
        k: f["size"].get(k) for k in ("max_ulp", "max_abs_diff", "noise", "reason")}} for f in doc["findings"]], indent=1))
    return doc


def _outcomes(doc: dict) -> dict[tuple[str, str], str]:
    return {(f["probe"], f["output"]): f["outcome"] for f in doc["findings"]}


def _assert_numerics_only(doc: dict, package: str) -> None:
    assert list(doc["changed_packages"]) == [package]
    changed = [(f["probe"], f["output"], f["size"]) for f in doc["findings"] if f["outcome"] == "CHANGED"]
    assert changed == []
    assert doc["verdict"] == "UNCHANGED"
    for f in doc["findings"]:  # every difference was judged against a measured band, not only the ULP floor
        if f["category"] == "learning" and f["size"].get("max_ulp", 0) > 4:
            assert "numeric" in f["size"]["noise"], f


def test_scipy_lbfgs_rewrite_is_within_noise(tmp_path):
    doc = _record_and_check(_venv(tmp_path), _venv(tmp_path, scipy="1.15.3"), tmp_path)
    _assert_numerics_only(doc, "scipy")
    # The lbfgs fit moved beyond the 4-ULP default (the false alarm of issue 15; measured: the intercept
    # by 86 ULP) and the measured band absorbed it.
    moved = [f for f in doc["findings"] if f["probe"] == "logreg_fit" and f["size"].get("max_ulp", 0) > 4]
    assert moved and all(f["outcome"] == "WITHIN_NOISE" and "numeric" in f["size"]["noise"] for f in moved)


def test_scipy_lbfgs_rewrite_from_1_14_is_within_noise(tmp_path):
    # The same rewrite from another base: 1.13.1 and 1.14.1 fit these probes bit for bit alike (measured).
    doc = _record_and_check(_venv(tmp_path, scipy="1.14.1"), _venv(tmp_path, scipy="1.15.3"), tmp_path)
    _assert_numerics_only(doc, "scipy")
    moved = [f for f in doc["findings"] if f["probe"] == "logreg_fit" and f["size"].get("max_ulp", 0) > 4]
    assert moved and all(f["outcome"] == "WITHIN_NOISE" for f in moved)


def test_numpy_2_is_within_noise(tmp_path):
    doc = _record_and_check(_venv(tmp_path), _venv(tmp_path, numpy="2.0.2"), tmp_path)
    _assert_numerics_only(doc, "numpy")


def _assert_sklearn_named(doc: dict) -> None:
    assert list(doc["changed_packages"]) == ["scikit-learn"]
    changed = [f for f in doc["findings"] if f["outcome"] == "CHANGED"]
    assert changed and all(f["packages"] == ["scikit-learn"] and f["attribution"] == "evidence" for f in changed), changed


def test_sklearn_changed_defaults_are_changed(tmp_path):
    doc = _record_and_check(_venv(tmp_path, scikit_learn="1.4.2"), _venv(tmp_path), tmp_path)
    assert doc["verdict"] == "CHANGED"
    assert _outcomes(doc)[("defaults", "hgb")] == "CHANGED"
    _assert_sklearn_named(doc)


def test_kmeans_n_init_default_change_is_changed_in_the_fit(tmp_path):
    doc = _record_and_check(_venv(tmp_path, scikit_learn="1.3.2"), _venv(tmp_path, scikit_learn="1.4.2"), tmp_path)
    assert doc["verdict"] == "CHANGED"
    outcomes = _outcomes(doc)
    assert outcomes[("defaults", "kmeans")] == "CHANGED"
    # One k-means++ start instead of ten finds other centers. (The inertia, measured, stays inside the
    # spread between seeds: on well-separated blobs the optima are near-equal; that is seed noise.)
    assert outcomes[("kmeans_fit", "centers")] == "CHANGED"
    # Measured too: 1.4's lbfgs LogisticRegression fits differently (coefficients 1.6e-5 apart, 10^12
    # ULPs, far outside a band of ~1e-16); a learning probe, not only configuration, reports the upgrade.
    assert outcomes[("logreg_fit", "coef")] == "CHANGED"
    _assert_sklearn_named(doc)
