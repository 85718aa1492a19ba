"""Real scikit-learn upgrades, run for real in throwaway virtual environments.

Each environment gets one released scikit-learn plus the same numpy 1.26.4 and scipy 1.13.1 (so the
only package that differs is scikit-learn), and this repository on ``PYTHONPATH``. A baseline of
scikit-learn-only probes is recorded in one environment and checked in another:

* 1.4.2 -> 1.6.1 must report a change. The 1.6 release notes (sklearn.ensemble) and 1.6.1's own
  docstring ("versionchanged:: 1.6 The default value changed ... to "from_dtype"") list the new default
  of ``HistGradientBoostingClassifier(categorical_features=...)``; 1.5's release notes (sklearn.linear_model,
  |API|) deprecate ``LogisticRegression(multi_class=...)``, whose default became "deprecated". The gate
  must name the configuration path, the category and scikit-learn.
* 1.4.1.post1 -> 1.4.2 must be clean: the 1.4.2 release notes say "This release only includes support
  for numpy 2" (https://scikit-learn.org/stable/whats_new/v1.4.html#version-1-4-2).

Venvs are cached under ``$PARITY_UPGRADE_VENVS`` (default ``/tmp/parity-upgrade-venvs``), so a rerun
takes well under a minute; the first run downloads about 60 MB of wheels. The test is skipped only when
pip cannot reach the package index.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from upgrade_venvs import cached_venv, probes_script, run_in  # _venvs.py, loaded by conftest.py

pytestmark = pytest.mark.slow

PINNED = ["numpy==1.26.4", "scipy==1.13.1", "deepdiff", "threadpoolctl", "jsonschema"]

PROBES_SCRIPT = probes_script('''
    import json, sys
    import numpy as np
    from harness.upgrade import (ProbeSet, check_against_baseline, evaluation_cases, record_baseline,
                                 sklearn_config, sklearn_metric_outputs)

    def make():
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss, roc_auc_score

        rng = np.random.default_rng(7)
        X = rng.normal(size=(3000, 8))
        y = (rng.random(3000) < 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3])))).astype(int)
        Xt, yt, Xe, ye = X[:2000], y[:2000], X[2000:], y[2000:]
        probes = ProbeSet("real_upgrade")

        @probes.configuration("defaults")
        def defaults():
            return {"logreg": sklearn_config(LogisticRegression()), "hgb": sklearn_config(HistGradientBoostingClassifier())}

        @probes.learning("logreg_fit", seeds=(0, 1))
        def logreg_fit(seed):
            m = LogisticRegression(random_state=seed, max_iter=200).fit(Xt, yt)
            p = m.predict_proba(Xe)[:, 1]
            return {"coef": m.coef_, "intercept": m.intercept_, "n_iter": m.n_iter_, "scores": p,
                    "auc": roc_auc_score(ye, p), "logloss": log_loss(ye, p)}

        @probes.learning("hgb_fit", seeds=(0, 1))
        def hgb_fit(seed):
            m = HistGradientBoostingClassifier(max_iter=30, early_stopping=True, validation_fraction=0.2,
                                               n_iter_no_change=5, random_state=seed).fit(Xt, yt)
            p = m.predict_proba(Xe)[:, 1]
            return {"scores": p, "n_iter": m.n_iter_, "train_loss": m.train_score_, "auc": roc_auc_score(ye, p)}

        @probes.evaluation("sklearn_metrics")
        def metrics():
            return sklearn_metric_outputs(evaluation_cases(0))

        return probes
''', "real_upgrade")


def _venv(version: str, tmp_path: Path) -> Path:
    """A cached venv with scikit-learn==version and the pinned numpy/scipy; returns its python."""
    return cached_venv(f"sk-{version}", [f"scikit-learn=={version}", *PINNED], tmp_path=tmp_path, want=version,
                       check="import sklearn, numpy, scipy, deepdiff; print(sklearn.__version__)")


def _run(python: Path, *args: str) -> None:
    run_in(python, *args, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})


def _record_and_check(old: str, new: str, tmp_path: Path) -> dict:
    script = tmp_path / "probes_script.py"
    script.write_text(PROBES_SCRIPT)
    root, out = tmp_path / "baselines", tmp_path / "findings.json"
    old_py, new_py = _venv(old, tmp_path), _venv(new, tmp_path)
    start = time.perf_counter()
    _run(old_py, str(script), "record", str(root))
    _run(new_py, str(script), "check", str(root), str(out))
    print(f"record under {old} + check under {new}: {time.perf_counter() - start:.1f}s")
    return json.loads(out.read_text())


def test_minor_upgrade_with_a_changed_default_is_found(tmp_path):
    doc = _record_and_check("1.4.2", "1.6.1", tmp_path)
    assert doc["changed_packages"]["scikit-learn"] == ["1.4.2", "1.6.1"]
    assert "numpy" not in doc["changed_packages"] and "scipy" not in doc["changed_packages"]
    changed = {(f["probe"], f["output"]): f for f in doc["findings"] if f["outcome"] == "CHANGED"}
    hgb = changed[("defaults", "hgb")]
    assert hgb["category"] == "configuration" and hgb["packages"] == ["scikit-learn"]
    assert {"path": "root['params']['categorical_features']", "change": "values_changed", "old": "warn",
            "new": "from_dtype"} in hgb["size"]["changes"]
    logreg = changed[("defaults", "logreg")]
    assert any(c["path"] == "root['params']['multi_class']" and c["old"] == "auto" for c in logreg["size"]["changes"])
    assert doc["verdict"] == "CHANGED"


def test_patch_upgrade_that_only_adds_numpy2_support_is_clean(tmp_path):
    doc = _record_and_check("1.4.1.post1", "1.4.2", tmp_path)
    assert doc["changed_packages"]["scikit-learn"] == ["1.4.1.post1", "1.4.2"]
    assert [f for f in doc["findings"] if f["outcome"] == "CHANGED"] == []
    assert doc["verdict"] == "UNCHANGED"
    assert len(doc["identical"]) > 40  # every output was compared
