"""The gate against known, injected changes — one at a time — on small fast probes.

Each injection imitates what a library upgrade does (a changed default, a changed metric
implementation, a changed featurizer, a changed optimizer constant, a last-bit difference) by
monkeypatching the library, and each test asserts that exactly the outputs that must move are
flagged, with the right category, path and outcome, and that nothing else is.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from harness.upgrade import (
    Outcome,
    ProbeSet,
    check_against_baseline,
    evaluation_cases,
    findings_to_markdown,
    harness_metric_outputs,
    read_baseline,
    record_baseline,
    sklearn_config,
    sklearn_metric_outputs,
)

SUITE = "injected"
N_ROWS = 3000
PRICE_BOUNDARIES = [5.0, 20.0, 100.0]
DEVICES = ["desktop", "mobile", "tablet"]


def _data(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, 8))
    logit = X @ np.array([1.0, -0.5, 0.25, 0.0, 0.8, 0.0, -1.2, 0.3]) + 0.5 * X[:, 0] * X[:, 1]
    y = (rng.random(N_ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return X[:2000], y[:2000], X[2000:], y[2000:]


def _raw_frame(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 500
    return pd.DataFrame({
        "price": rng.lognormal(3.0, 1.2, size=n),
        "device": rng.choice(DEVICES + ["watch"], size=n, p=[0.4, 0.4, 0.15, 0.05]),
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(30.0, size=n)),
    })


def tiny_featurizer(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A small pandas featurizer of the legacy kind: log, buckets, vocabulary codes, imputation."""
    return {
        "log_price": np.log1p(frame["price"].to_numpy()),
        "price_bucket": np.searchsorted(np.asarray(PRICE_BOUNDARIES), frame["price"].to_numpy(), side="right"),
        "device_code": pd.Categorical(frame["device"].where(frame["device"].isin(DEVICES)), categories=DEVICES).codes.astype(np.int64),
        "age_imputed": frame["age"].fillna(frame["age"].median()).to_numpy(),
    }


def make_probes() -> ProbeSet:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    X, y, X_eval, y_eval = _data()
    raw = _raw_frame()
    # The "saved model" of the inference probe: fitted once, with explicit parameters, before any injection.
    saved = LogisticRegression(C=1.0, tol=1e-4, max_iter=200).fit(X, y)
    probes = ProbeSet(SUITE)

    @probes.featurization("tiny_featurizer")
    def featurize():
        return tiny_featurizer(raw)

    @probes.inference("saved_logreg")
    def infer():
        return {"scores": saved.predict_proba(X_eval)[:, 1]}

    @probes.learning("logreg_fit", seeds=(0, 1, 2))
    def logreg_fit(seed):
        model = LogisticRegression(random_state=seed, max_iter=200).fit(X, y)
        scores = model.predict_proba(X_eval)[:, 1]
        return {"coef": model.coef_, "intercept": model.intercept_, "n_iter": model.n_iter_,
                "eval_auc": roc_auc_score(y_eval, scores)}

    @probes.learning("hgb_fit", seeds=(0, 1, 2))
    def hgb_fit(seed):
        # Early stopping on a validation split drawn from the seed: real run-to-run noise to measure.
        model = HistGradientBoostingClassifier(max_iter=25, early_stopping=True, validation_fraction=0.25,
                                               n_iter_no_change=3, random_state=seed).fit(X, y)
        scores = model.predict_proba(X_eval)[:, 1]
        return {"eval_scores": scores, "eval_auc": roc_auc_score(y_eval, scores)}

    @probes.evaluation("metrics")
    def metrics():
        cases = evaluation_cases(0)
        return {**sklearn_metric_outputs(cases), **harness_metric_outputs(cases, metrics=["auc", "logloss", "brier"])}

    @probes.configuration("defaults")
    def defaults():
        return {"logreg": sklearn_config(LogisticRegression()), "hgb": sklearn_config(HistGradientBoostingClassifier()),
                "scaler": sklearn_config(StandardScaler())}

    return probes


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    record_baseline(make_probes(), root=root)
    return root


def _check(root):
    return check_against_baseline(SUITE, make_probes(), root)


def _changed(result) -> dict[tuple[str, str], object]:
    return {(f.probe, f.output): f for f in result.changed}


@pytest.mark.slow
def test_two_checks_in_the_same_environment_find_nothing(recorded):
    for _ in range(2):
        result = _check(recorded)
        assert [f for f in result.findings if f.outcome is not Outcome.IDENTICAL] == []
        assert result.exit_code == 0
        assert len(result.findings) > 50  # every output was compared, not skipped


@pytest.mark.slow
def test_changed_default_is_found_by_its_path(recorded, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression.__init__.__kwdefaults__["C"] == 1.0
    monkeypatch.setitem(LogisticRegression.__init__.__kwdefaults__, "C", 0.05)
    result = _check(recorded)
    changed = _changed(result)
    config = changed.pop(("defaults", "logreg"))
    assert config.category == "configuration"
    assert config.size["changes"] == [{"path": "root['params']['C']", "change": "values_changed", "old": 1.0, "new": 0.05}]
    # A smaller C really changes the fitted model: the learning probe moves too, and nothing else does.
    assert {k for k in changed} <= {("logreg_fit", o) for o in ("coef", "intercept", "n_iter", "eval_auc")}
    assert ("logreg_fit", "coef") in changed
    assert all(f.category == "learning" for f in changed.values())
    coef = changed[("logreg_fit", "coef")]
    assert coef.size["max_abs_diff"] > 1e-3
    assert "no package version changed" in config.explanation
    assert result.exit_code == 1


@pytest.mark.slow
def test_changed_tol_default_moves_learning_not_inference(recorded, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setitem(LogisticRegression.__init__.__kwdefaults__, "tol", 0.5)
    changed = _changed(_check(recorded))
    assert changed.pop(("defaults", "logreg")).size["changes"][0]["path"] == "root['params']['tol']"
    assert ("logreg_fit", "n_iter") in changed  # a looser tolerance stops earlier
    assert {p for p, _ in changed} == {"logreg_fit"}


@pytest.mark.slow
def test_perturbed_sklearn_metric_flags_exactly_the_cases_it_affects(recorded, monkeypatch):
    import sklearn.metrics

    real = sklearn.metrics.log_loss

    def old_clipping_log_loss(y_true, y_pred, *, sample_weight=None, **kw):
        # scikit-learn before 1.2 clipped at 1e-15 instead of the dtype's epsilon.
        return real(y_true, np.clip(y_pred, 1e-15, 1 - 1e-15), sample_weight=sample_weight, **kw)

    monkeypatch.setattr(sklearn.metrics, "log_loss", old_clipping_log_loss)
    changed = _changed(_check(recorded))
    # Independent expectation: exactly the cases with a 0 or 1 score (where clipping decides the value)
    # and two classes present (log_loss raises on one_class either way).
    cases = evaluation_cases(0)
    expected = {("metrics", f"log_loss/{c.name}") for c in cases.values()
                if np.any((c.y_score == 0) | (c.y_score == 1)) and len(np.unique(c.y_true)) == 2}
    assert expected and set(changed) == expected
    for f in changed.values():
        assert f.category == "evaluation"
        assert f.size["delta"] != 0 and "interval_95" not in f.size.get("noise", {})


@pytest.mark.slow
def test_perturbed_harness_metric_is_found(recorded, monkeypatch):
    from harness.stats import metrics as hm

    auc = hm.METRICS["auc"]
    monkeypatch.setitem(hm.METRICS, "auc", dataclasses.replace(auc, fn=lambda y, s, *, sample_weight=None: auc.fn(
        y, s, sample_weight=sample_weight) * (1 + 1e-9)))
    changed = _changed(_check(recorded))
    # Every case where the harness AUC is defined and non-zero moves; nothing else.
    assert changed and all(p == "metrics" and o.startswith("harness.auc/") for p, o in changed)
    assert ("metrics", "harness.auc/smooth") in changed
    assert changed[("metrics", "harness.auc/smooth")].size["max_rel_diff"] == pytest.approx(1e-9, rel=1e-3)


@pytest.mark.slow
def test_featurizer_change_names_the_feature(recorded, monkeypatch):
    monkeypatch.setitem(globals(), "PRICE_BOUNDARIES", [5.0, 25.0, 100.0])
    changed = _changed(_check(recorded))
    assert set(changed) == {("tiny_featurizer", "price_bucket")}
    f = changed[("tiny_featurizer", "price_bucket")]
    assert f.category == "featurization"
    raw = _raw_frame()["price"].to_numpy()
    assert f.size["n_diff"] == int(np.sum((raw >= 20.0) & (raw < 25.0)))  # rows between the two boundaries


@pytest.mark.slow
def test_last_bit_perturbation_is_within_noise(recorded, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    real = LogisticRegression.predict_proba
    monkeypatch.setattr(LogisticRegression, "predict_proba", lambda self, X: np.nextafter(real(self, X), np.inf))
    result = _check(recorded)
    noisy = {(f.probe, f.output): f for f in result.within_noise}
    assert ("saved_logreg", "scores") in noisy
    assert noisy[("saved_logreg", "scores")].size["max_ulp"] == 1
    assert noisy[("saved_logreg", "scores")].category == "inference"
    # The learning probe predicts through the same method: its AUC is rank-based and does not move.
    assert result.changed == []
    assert result.exit_code == 0


@pytest.mark.slow
def test_shift_inside_seed_noise_is_within_noise_and_outside_is_changed(recorded, monkeypatch):
    from sklearn.ensemble import HistGradientBoostingClassifier

    real = HistGradientBoostingClassifier.predict_proba
    monkeypatch.setattr(HistGradientBoostingClassifier, "predict_proba", lambda self, X: real(self, X) + 1e-7)
    result = _check(recorded)
    noisy = {(f.probe, f.output): f for f in result.within_noise}
    f = noisy[("hgb_fit", "eval_scores")]
    assert f.size["noise"]["k_seeds"] == 3 and "spread" in f.size["reason"]
    assert result.changed == []

    monkeypatch.setattr(HistGradientBoostingClassifier, "predict_proba", lambda self, X: real(self, X) * 0.5)
    changed = _changed(_check(recorded))
    assert ("hgb_fit", "eval_scores") in changed
    f = changed[("hgb_fit", "eval_scores")]
    assert f.size["n_beyond_noise"] > 0 and f.category == "learning"


@pytest.mark.slow
def test_findings_name_the_upgraded_package(recorded, monkeypatch):
    """With a baseline fingerprint that says scikit-learn was another version, a changed default is
    attributed to scikit-learn (a configuration probe's plausible package), and the Markdown says so."""
    from sklearn.linear_model import LogisticRegression

    import harness.upgrade.baseline as baseline_mod

    real_fp = baseline_mod.fingerprint

    def upgraded(**kw):
        fp = real_fp(**kw)
        fp["packages"] = {**fp["packages"], "scikit-learn": "99.0.0", "pyarrow": "0.0.1"}
        return fp

    monkeypatch.setattr(baseline_mod, "fingerprint", upgraded)
    monkeypatch.setitem(LogisticRegression.__init__.__kwdefaults__, "C", 0.05)
    result = _check(recorded)
    config = _changed(result)[("defaults", "logreg")]
    assert config.packages == ["scikit-learn"]  # pyarrow changed too but cannot explain a configuration change
    assert set(result.changed_packages) == {"scikit-learn", "pyarrow"}
    md = findings_to_markdown(result)
    assert "| CHANGED | configuration | `defaults/logreg` | `root['params']['C']`: 1.0 -> 0.05" in md
    assert "Packages changed: pyarrow 0.0.1 -> " in md or "Packages changed: pyarrow" in md
    doc = result.to_dict()
    assert doc["verdict"] == "CHANGED"
    assert {(f["probe"], f["output"]) for f in doc["findings"] if f["outcome"] == "CHANGED"} == set(_changed(result))


@pytest.mark.tf
@pytest.mark.slow
def test_keras_adam_epsilon_change(tmp_path, monkeypatch):
    """A tiny Keras model: a different Adam epsilon default is a configuration change (its path) and a
    learning change (losses per epoch); with the default restored, two checks are identical."""
    keras = pytest.importorskip("keras")
    from harness.upgrade import keras_config

    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 4)).astype("float32")
    y = (X[:, 0] - X[:, 1] > 0).astype("float32")
    probes = ProbeSet("keras_tiny")

    def build(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy")
        return model

    @probes.configuration("keras_defaults")
    def cfg():
        return {"model": keras_config(build(0))}

    @probes.learning("keras_fit", seeds=(0, 1))
    def fit(seed):
        # Fixed initial weights; the seed drives batch order only. (With the seed also drawing the initial
        # weights, this tiny model's seed-to-seed spread of the loss, ~0.24, swallows the epsilon change,
        # and the gate rightly calls it WITHIN_NOISE; the configuration probe still names the path.)
        model = build(0)
        keras.utils.set_random_seed(seed)
        hist = model.fit(X, y, epochs=3, batch_size=32, shuffle=True, verbose=0)
        return {"loss": hist.history["loss"]}

    record_baseline(probes, root=tmp_path)
    assert check_against_baseline("keras_tiny", probes, tmp_path).changed == []

    init = keras.optimizers.Adam.__init__
    names = init.__code__.co_varnames[1:init.__code__.co_argcount]
    defaults = list(init.__defaults__)
    i = names.index("epsilon") - (len(names) - len(defaults))
    defaults[i] = 0.5
    monkeypatch.setattr(init, "__defaults__", tuple(defaults))
    changed = _changed(check_against_baseline("keras_tiny", probes, tmp_path))
    cfg_f = changed[("keras_defaults", "model")]
    paths = [c["path"] for c in cfg_f.size["changes"]]
    assert "root['optimizer']['config']['epsilon']" in paths
    loss = changed[("keras_fit", "loss")]
    assert loss.category == "learning" and loss.size["n_beyond_noise"] == 3
    assert set(changed) == {("keras_defaults", "model"), ("keras_fit", "loss")}


def _scaler_probes():
    probes = ProbeSet("evidence_suite")

    @probes.featurization("scaled")  # category defaults: numpy, pandas, pyarrow, tensorflow; no scikit-learn
    def scaled():
        from sklearn.preprocessing import StandardScaler

        x = np.linspace(1.0, 5.0, 20).reshape(-1, 1)
        return {"x": StandardScaler().fit_transform(x).ravel()}

    return probes


def _upgrade(monkeypatch, **versions):
    import harness.upgrade.baseline as baseline_mod

    real_fp = baseline_mod.fingerprint

    def upgraded(**kw):
        fp = real_fp(**kw)
        fp["packages"] = {**fp["packages"], **versions}
        return fp

    monkeypatch.setattr(baseline_mod, "fingerprint", upgraded)


def test_a_change_is_attributed_to_the_upgraded_package_whose_code_the_probe_ran(tmp_path, monkeypatch):
    """A featurization probe that runs scikit-learn: a scikit-learn change is attributed to scikit-learn
    (no packages= override), not to TensorFlow, which also 'changed' and is in the category's list but
    whose code the probe never ran."""
    from sklearn.preprocessing import StandardScaler

    probes = _scaler_probes()
    record_baseline(probes, root=tmp_path)
    stored = read_baseline("evidence_suite", root=tmp_path).snapshot.probes["scaled"]
    assert "scikit-learn" in stored.executed and "numpy" in stored.executed and "tensorflow" not in stored.executed
    _upgrade(monkeypatch, **{"scikit-learn": "99.0.0", "tensorflow": "99.0.0"})
    monkeypatch.setitem(StandardScaler.__init__.__kwdefaults__, "with_mean", False)  # the "upgrade"
    (f,) = check_against_baseline("evidence_suite", probes, tmp_path).changed
    assert f.packages == ["scikit-learn"] and f.attribution == "evidence"
    assert "ran its code" in f.explanation and "tensorflow" not in f.explanation.split("(changed")[0]


def test_without_evidence_the_category_list_is_the_fallback(tmp_path, monkeypatch):
    """Runs not watched (another profiler held the hook; baselines from before): the declared list."""
    from contextlib import contextmanager

    from sklearn.preprocessing import StandardScaler

    import harness.upgrade.evidence as evidence

    @contextmanager
    def unwatched():
        yield evidence.Evidence()  # files None: nothing recorded

    monkeypatch.setattr(evidence, "watch", unwatched)
    probes = _scaler_probes()
    record_baseline(probes, root=tmp_path)
    assert read_baseline("evidence_suite", root=tmp_path).snapshot.probes["scaled"].executed is None
    _upgrade(monkeypatch, **{"scikit-learn": "99.0.0", "tensorflow": "99.0.0"})
    monkeypatch.setitem(StandardScaler.__init__.__kwdefaults__, "with_mean", False)
    (f,) = check_against_baseline("evidence_suite", probes, tmp_path).changed
    assert f.packages == ["tensorflow"] and f.attribution == "declared"


def test_a_profiler_already_running_is_left_alone():
    """Under someone else's profiler, no evidence is taken (and their hook stays in place)."""
    import sys

    from harness.upgrade.evidence import watch

    def theirs(frame, event, arg):
        return None

    sys.setprofile(theirs)
    try:
        with watch() as evidence:
            np.arange(3).sum()
        assert sys.getprofile() is theirs
    finally:
        sys.setprofile(None)
    assert evidence.files is None and evidence.distributions() is None


def test_two_upgraded_packages_one_probe_ran_point_to_bisection():
    # TensorFlow and Keras: a probe that runs both cannot tell them apart by what it ran; the finding says so
    from harness.upgrade.findings import Outcome, _explain

    pkgs, text = _explain(Outcome.CHANGED, {"keras", "tensorflow", "numpy"},
                          {"keras": ("3.12.0", "3.15.1"), "tensorflow": ("2.20.0", "2.21.0")}, {}, "evidence",
                          suite="ctr_logreg")
    assert pkgs == ["keras", "tensorflow"]
    assert "cannot tell which one" in text and "parity baseline bisect --suite ctr_logreg" in text
    assert "--parity-bisect" in text
    one, text = _explain(Outcome.CHANGED, {"keras"}, {"keras": ("3.12.0", "3.15.1")}, {}, "evidence")
    assert one == ["keras"] and "bisect" not in text


def test_a_change_with_no_package_or_environment_difference_points_at_the_probe_itself():
    # e.g. a suite's own edit (n_estimators 20 -> 25): nothing upgraded, nothing in the environment
    from harness.upgrade.findings import Outcome, _explain

    pkgs, text = _explain(Outcome.CHANGED, {"scikit-learn"}, {}, {})
    assert pkgs == [] and "no package version changed" in text and "the probe itself" in text
    assert "none recorded" not in text
    pkgs, text = _explain(Outcome.CHANGED, {"scikit-learn"}, {}, {"OMP_NUM_THREADS": ("1", "4")})
    assert pkgs == [] and "OMP_NUM_THREADS: '1' -> '4'" in text and "the probe itself" not in text


def test_an_upgraded_package_is_not_the_only_suspect_when_the_environment_differs_too():
    # A baseline recorded on another CPU: last-bit moves appear with or without the upgrade, so a finding
    # that names the package must name the environment beside it (seen: scikit-learn blamed on a new CPU).
    from harness.upgrade.findings import Outcome, _explain

    flags = ("avx avx2 fma sse4_2 " * 10, "avx avx2 avx512f fma sse4_2 " * 10)  # long: named, not repeated
    env = {"cpu.model": ("AMD EPYC", "Intel(R) Xeon(R) Processor"), "cpu.flags": flags}
    pkgs, text = _explain(Outcome.WITHIN_NOISE, {"scikit-learn", "numpy"}, {"scikit-learn": ("1.9.1", "1.8.0")},
                          env, "evidence")
    assert pkgs == ["scikit-learn"]
    assert text.startswith("can be explained by: scikit-learn 1.9.1 -> 1.8.0 (the probe ran its code); or by the "
                           "environment, which differs too (cpu.model: 'AMD EPYC' -> 'Intel(R) Xeon(R) Processor'; "
                           "cpu.flags differs (in full under the environment differences))"), text
    assert "baseline recorded in this environment before the upgrade" in text and "avx512f" not in text
    _, alone = _explain(Outcome.WITHIN_NOISE, {"scikit-learn"}, {"scikit-learn": ("1.9.1", "1.8.0")}, {}, "evidence")
    assert alone == "can be explained by: scikit-learn 1.9.1 -> 1.8.0 (the probe ran its code)"
    _, none_ran = _explain(Outcome.WITHIN_NOISE, {"pandas"}, {"scikit-learn": ("1.9.1", "1.8.0")}, env, "evidence")
    assert "ran code of none of the upgraded packages" in none_ran and "cpu.flags differs" in none_ran
    assert "avx512f" not in none_ran


def test_the_markdown_points_to_bisection_when_packages_share_a_change():
    from harness.upgrade.findings import Finding, Outcome, UpgradeResult, findings_to_markdown

    both = Finding("p", "x", "inference", Outcome.CHANGED, {"change": "output no longer produced"},
                   packages=["keras", "tensorflow"], explanation="...")
    r = UpgradeResult("ctr_logreg", [both], {}, {}, {"keras": ("1", "2"), "tensorflow": ("1", "2")}, {})
    md = findings_to_markdown(r)
    assert "`parity baseline accept --suite ctr_logreg" in md
    assert "1 change(s) could come from any of several upgraded packages the probe ran (keras, tensorflow): " \
           "`parity baseline bisect --suite ctr_logreg`" in md
    alone = Finding("p", "x", "inference", Outcome.CHANGED, {"change": "output no longer produced"}, packages=["keras"])
    assert "bisect" not in findings_to_markdown(UpgradeResult("s", [alone], {}, {}, {"keras": ("1", "2")}, {}))
