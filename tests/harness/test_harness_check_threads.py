"""A suite run computes the feature checks, the prediction checks and the plot data on a second thread
while the metric checks run (`harness.runner._evaluate`), and compare_scores starts its shared bootstraps on a worker
thread (`harness.stats.compare._estimate_and_gate`). Neither may change a result or which error is raised:
checked against the same work done in order on one thread."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import harness.checks.metrics as metrics_mod
import harness.runner as runner
import harness.stats.compare as compare
from harness.errors import ParityInputError
from harness.protocol import ModelPair
from harness.suite import MetricGate, Suite


class _Side:
    def __init__(self, name: str, shift: float, features: bool = False):
        self.name, self.shift, self.features = name, shift, features

    def predict(self, batch):
        return 1 / (1 + np.exp(-(batch["mean_radius"].to_numpy() - 14.0 + self.shift)))

    def featurize(self, batch):
        return batch[["mean_radius"]] if self.features else None

    def config(self):
        return {}


def _suite(features: bool = False) -> Suite:
    return Suite(name="bc_threads", description="", dataset="breast_cancer", label="malignant",
                 pair=lambda ds: ModelPair(_Side("legacy", 0.0, features), _Side("new", 1e-3, features)),
                 prediction_atol=1e-2, features=["mean_radius"] if features else [],
                 metrics=[MetricGate("auc", 0.05), MetricGate("logloss", 0.05), MetricGate("calibration_ratio", 0.2)],
                 n_boot=300)


def _doc(result) -> str:
    return json.dumps({"checks": [c.to_dict() for c in result.checks], "plots": result.plots}, sort_keys=True)


def test_checks_and_plots_are_those_of_a_serial_run(monkeypatch):
    threaded = runner.run_suite(_suite())
    seen = []
    inner = runner.check_predictions
    monkeypatch.setattr(runner, "check_predictions",
                        lambda *a, **k: (seen.append(threading.current_thread().name), inner(*a, **k))[1])
    again = runner.run_suite(_suite())
    assert seen and seen[0].startswith("parity-checks")  # it did run on the second thread
    monkeypatch.setattr(runner, "ThreadPoolExecutor", _Inline)
    seen.clear()
    serial = runner.run_suite(_suite())
    assert seen == [threading.current_thread().name]
    assert _doc(threaded) == _doc(again) == _doc(serial)
    assert threaded.fingerprint == serial.fingerprint  # computed on the second thread meanwhile
    assert [c.kind for c in serial.checks][:2] == ["alignment", "prediction"]


def test_feature_checks_come_first_and_run_on_the_second_thread_before_the_prediction_checks(monkeypatch):
    seen = []
    for name in ("check_features", "check_predictions"):
        inner = getattr(runner, name)
        monkeypatch.setattr(runner, name, lambda *a, _inner=inner, _name=name, **k: (
            seen.append((_name, threading.current_thread().name)), _inner(*a, **k))[1])
    threaded = runner.run_suite(_suite(features=True))
    assert [n for n, _ in seen] == ["check_features", "check_predictions"]
    assert all(t.startswith("parity-checks") for _, t in seen), seen  # beside the metric checks, not before them
    monkeypatch.setattr(runner, "ThreadPoolExecutor", _Inline)
    serial = runner.run_suite(_suite(features=True))
    assert _doc(threaded) == _doc(serial)
    assert [c.kind for c in threaded.checks][:3] == ["alignment", "feature", "prediction"]


class _Inline:
    """ThreadPoolExecutor's interface, running each task at once on the calling thread."""

    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *a, **k):
        from concurrent.futures import Future

        f = Future()
        try:
            f.set_result(fn(*a, **k))
        except BaseException as exc:  # noqa: BLE001
            f.set_exception(exc)
        return f


def _fail(message):
    def fail(*a, **k):
        raise ParityInputError(message)
    return fail


@pytest.mark.parametrize("failing, raised", [
    (("features", "predictions", "metrics", "plots"), "features"),  # the feature checks ran first
    (("features", "plots"), "features"),
    (("features",), "features"),
    (("predictions", "metrics", "plots"), "predictions"),  # the prediction check ran first, and still wins
    (("metrics", "plots"), "metrics"),  # the plot data ran after the metric checks
    (("plots",), "plots"),
    (("predictions",), "predictions"),
    (("metrics",), "metrics"),
])
def test_errors_are_raised_in_the_order_the_steps_ran_in_before(failing, raised, monkeypatch):
    targets = {"features": (runner, "check_features"), "predictions": (runner, "check_predictions"),
               "plots": (runner, "plot_data"), "metrics": (metrics_mod, "check_metrics")}
    for step in failing:
        module, attr = targets[step]
        monkeypatch.setattr(module, attr, _fail(f"{step} failed"))
    with pytest.raises(ParityInputError, match=f"^{raised} failed$"):
        runner.run_suite(_suite(features=True))


def test_compare_scores_with_bootstrap_on_a_worker_thread_is_the_serial_result(monkeypatch):
    rng = np.random.default_rng(11)
    n = 6000
    y = (rng.random(n) < 0.15).astype(int)
    a = np.clip(rng.random(n) * 0.4 + 0.3 * y, 1e-3, 1 - 1e-3)
    b = np.clip(a + rng.normal(scale=0.01, size=n), 1e-3, 1 - 1e-3)
    kw = dict(metrics=["auc", "logloss", "calibration_ratio", "brier"], keys=np.arange(n), n_boot=400,
              margins={"auc": 0.02, "logloss": 0.02, "calibration_ratio": 0.05, "brier": 0.01},
              slices={"part": rng.choice(["x", "y", "z"], n)}, min_slice_size=100)
    bootstrapped_on = []
    inner = compare._shared_bootstrap
    monkeypatch.setattr(compare, "_shared_bootstrap", lambda *a_, **k_: (
        bootstrapped_on.append(threading.current_thread().name), inner(*a_, **k_))[1])
    threaded = compare.compare_scores(y, a, b, **kw)
    assert bootstrapped_on[0].startswith("parity-cells")

    def serial(inp, cells):
        shared = {}
        estimates = [compare._estimate(inp, d, None if sl is None else sl.rows, shared) for d, sl in cells]
        return estimates, [compare._gate(inp, d, sl, est) for (d, sl), est in zip(cells, estimates)]

    monkeypatch.setattr(compare, "_estimate_and_gate", serial)
    assert threaded.to_dict() == compare.compare_scores(y, a, b, **kw).to_dict()


def _retrained_inputs():
    from harness.checks.retrained import DistributionGate, RankGate, RetrainedPredictionGates, TopKGate

    rng = np.random.default_rng(3)
    n = 4000
    legacy = rng.random(n)
    new = np.clip(legacy + rng.normal(scale=0.05, size=n), 0, 1)
    gates = RetrainedPredictionGates(
        distribution=DistributionGate(statistics=("ks", "psi", "wasserstein"), reason="r"),
        rank_correlation=RankGate(min_spearman=0.85, reason="r"),
        topk=TopKGate(k=5, min_mean=0.6, min_floor=0.2, reason="r"))
    return dict(legacy=legacy, new=new, keys=np.arange(n), groups=np.repeat(np.arange(n // 10), 10), gates=gates)


def test_retrained_checks_with_the_distribution_on_a_second_thread_are_the_serial_checks(monkeypatch):
    import harness.checks.retrained as retrained

    threaded = retrained.check_retrained_predictions(**_retrained_inputs())
    monkeypatch.setattr("concurrent.futures.ThreadPoolExecutor", _Inline)
    serial = retrained.check_retrained_predictions(**_retrained_inputs())
    assert [c.to_dict() for c in threaded] == [c.to_dict() for c in serial]
    assert [c.id for c in serial][:2] == ["predictions/scores", "predictions/distribution/ks"]


@pytest.mark.parametrize("failing, raised", [(("distribution", "topk"), "distribution"), (("topk",), "topk"),
                                             (("distribution",), "distribution")])
def test_retrained_errors_are_raised_in_the_old_order(failing, raised, monkeypatch):
    import harness.checks.retrained as retrained

    for step in failing:
        monkeypatch.setattr(retrained, f"_{step}", _fail(f"{step} failed"))
    with pytest.raises(ParityInputError, match=f"^{raised} failed$"):
        retrained.check_retrained_predictions(**_retrained_inputs())


def test_compare_scores_ranking_cells_on_worker_threads_are_the_serial_result(monkeypatch):
    rng = np.random.default_rng(12)
    groups = np.repeat(rng.choice(10**9, 800, replace=False), 8)  # wide ids, grouped rows
    n = groups.size
    y = (rng.random(n) < 0.2).astype(int)
    a = rng.random(n) + 0.3 * y
    b = a + rng.normal(scale=0.05, size=n)
    kw = dict(metrics=["ndcg@5", "mrr", "auc"], groups=groups, n_boot=300,
              margins={"ndcg@5": 0.05, "mrr": 0.05, "auc": 0.05},
              slices={"part": np.repeat(rng.choice(["x", "y"], 800), 8)}, min_slice_size=100)
    threads = set()
    inner = compare._estimate
    monkeypatch.setattr(compare, "_estimate", lambda *a_, **k_: (threads.add(threading.current_thread().name),
                                                                  inner(*a_, **k_))[1])
    threaded = compare.compare_scores(y, a, b, **kw)
    assert all(t.startswith("parity-cells") for t in threads) and len(threads) == 2

    def serial(inp, cells):
        shared = {}
        estimates = [inner(inp, d, None if sl is None else sl.rows, shared) for d, sl in cells]
        return estimates, [compare._gate(inp, d, sl, est) for (d, sl), est in zip(cells, estimates)]

    monkeypatch.setattr(compare, "_estimate_and_gate", serial)
    assert threaded.to_dict() == compare.compare_scores(y, a, b, **kw).to_dict()


@pytest.mark.parametrize("failing, raised", [(("scores", "distribution"), "scores")])
def test_a_failing_scores_check_is_raised_before_the_distributions_error(failing, raised, monkeypatch):
    import harness.checks.retrained as retrained

    monkeypatch.setattr(retrained, "check_predictions", _fail("scores failed"))
    monkeypatch.setattr(retrained, "_distribution", _fail("distribution failed"))
    with pytest.raises(ParityInputError, match="^scores failed$"):
        retrained.check_retrained_predictions(**_retrained_inputs())


def test_non_finite_scores_are_not_computed_with_or_without_the_early_distribution():
    import harness.checks.retrained as retrained

    inputs = _retrained_inputs()
    inputs["new"] = inputs["new"].copy()
    inputs["new"][5] = np.nan
    checks = retrained.check_retrained_predictions(**inputs)
    assert checks[0].id == "predictions/scores" and "non_finite" in checks[0].details
    assert all(c.details.get("not_computed") == "non-finite scores" for c in checks[1:])


def test_parity_threads_1_runs_every_step_on_the_calling_thread(monkeypatch):
    monkeypatch.setenv("PARITY_THREADS", "1")
    seen = set()
    for module, attr in ((runner, "check_predictions"), (runner, "plot_data"), (compare, "_estimate")):
        inner = getattr(module, attr)
        monkeypatch.setattr(module, attr, lambda *a, _inner=inner, **k: (seen.add(threading.current_thread().name),
                                                                         _inner(*a, **k))[1])
    serial = runner.run_suite(_suite())
    assert seen == {threading.current_thread().name}
    monkeypatch.delenv("PARITY_THREADS")
    assert _doc(serial) == _doc(runner.run_suite(_suite()))


@pytest.mark.parametrize("value", ["0", "x", "-1"])
def test_parity_threads_is_checked_before_any_model_is_built(value, monkeypatch):
    monkeypatch.setenv("PARITY_THREADS", value)
    built = []
    suite = _suite()
    pair = suite.pair
    import dataclasses

    suite = dataclasses.replace(suite, pair=lambda ds: (built.append(1), pair(ds))[1])
    with pytest.raises(ParityInputError, match=f"PARITY_THREADS: expected a positive integer, got '{value}'"):
        runner.run_suite(suite)
    assert built == []


def test_work_moved_to_a_thread_keeps_the_callers_progress_setting(monkeypatch):
    # `parity run` on a terminal turns the bars on for the block; the bootstrap's bar must still show
    # when its cell runs on a worker thread.
    from harness import progress

    seen = []
    inner = compare._estimate
    monkeypatch.setattr(compare, "_estimate", lambda *a_, **k_: (
        seen.append((threading.current_thread().name, progress.is_enabled())), inner(*a_, **k_))[1])
    side = []
    inner_pred = runner.check_predictions
    monkeypatch.setattr(runner, "check_predictions", lambda *a_, **k_: (
        side.append((threading.current_thread().name, progress.is_enabled())), inner_pred(*a_, **k_))[1])
    runner.run_suite(_suite(), progress=True)
    assert seen and all(name.startswith("parity-cells") and on for name, on in seen)
    assert side and all(name.startswith("parity-checks") and on for name, on in side)


def test_a_bad_parity_threads_is_named_by_the_cli_before_any_file_is_read(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setenv("PARITY_THREADS", "abc")
    missing = tmp_path / "never-read.csv"
    assert main(["compare", str(missing), "--label", "y", "--legacy", "a", "--new", "b"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "parity compare: error: PARITY_THREADS: expected a positive integer, got 'abc'"


_WARM_CHECKS = (
    "import importlib, sys\nfrom harness import runner\nF = importlib.import_module('harness.upgrade.fingerprint')\n"
    "fresh = 'harness.checks.metrics' not in sys.modules and F._versions_once.cache_info().currsize == 0\n"
    "runner._warm_up_checks(); runner._warm_up_checks()\n[t.join() for t in runner._WARMING]\n"
    "print(fresh, len(runner._WARMING), 'harness.checks.metrics' in sys.modules, 'harness.report.html' in sys.modules,"
    " F._versions_once.cache_info().currsize, F._cpu_once.cache_info().currsize)"
)


def _fresh(code: str, **env: str) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2])
    return out.stdout.strip()


def test_the_checks_warm_up_loads_their_modules_and_readings_once_per_process():
    assert _fresh(_WARM_CHECKS, PARITY_THREADS="2") == "True 1 True True 1 1"


def test_the_checks_warm_up_does_nothing_on_one_thread():
    assert _fresh(_WARM_CHECKS, PARITY_THREADS="1") == "True 0 False False 0 0"


def test_a_suite_run_starts_the_checks_warm_up_once_the_sides_are_built(monkeypatch):
    events = []
    monkeypatch.setattr(runner, "_warm_up_checks", lambda: events.append("warm"))
    real_score = runner.score_frame

    def score(*args, **kwargs):
        events.append("score")
        return real_score(*args, **kwargs)

    monkeypatch.setattr(runner, "score_frame", score)

    def pair(ds):
        events.append("pair")
        return ModelPair(_Side("legacy", 0.0), _Side("new", 0.0))

    suite = Suite(name="bc_warm_checks", description="", dataset="breast_cancer", label="malignant", pair=pair,
                  prediction_atol=1e-9)
    runner.run_suite(suite)
    assert events == ["pair", "warm", "score"]
