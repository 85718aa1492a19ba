"""The numerical noise floor (issue 15): injected numerics-only and behaviour changes on small probes.

A numerics-only change is imitated by what such upgrades do: the same computation with its sums in
another order (rows fed to the solver reversed; a reduction taken in float64 pairs in another order).
A behaviour change is a changed default (``C``). The baseline measures each probe's band under
`harness.upgrade.perturb`'s perturbations; the check must call the first WITHIN_NOISE and the second
CHANGED, with no per-probe tolerance.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.upgrade import Outcome, ProbeSet, check_against_baseline, read_baseline, record_baseline
from harness.upgrade import perturb
from harness.upgrade.findings import NOISE_FACTOR, numeric_allowance, ulp_distance

SUITE = "noise"


def _data(seed: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, 6))
    # Two nearly collinear columns: an ill-conditioned fit, where a reordered sum moves more than 4 ULPs.
    X[:, 5] = X[:, 4] + 1e-3 * rng.normal(size=1500)
    y = (rng.random(1500) < 1 / (1 + np.exp(-(X @ np.array([1.0, -0.6, 0.3, 0.0, 0.5, -0.2]))))).astype(int)
    return X[:1000], y[:1000], X[1000:]


class Solver:
    """A stand-in library whose internals an injected upgrade replaces."""

    order = staticmethod(lambda X, y: (X, y))  # the rows the solver sees, in the order it sums them
    C = 1.0


def make_probes() -> ProbeSet:
    from sklearn.linear_model import LogisticRegression

    Xt, yt, Xe = _data()
    probes = ProbeSet(SUITE)

    @probes.learning("logreg", seeds=(0, 1))
    def logreg(seed):
        X, y = Solver.order(perturb.current().jitter(Xt), yt)
        m = LogisticRegression(C=Solver.C, random_state=seed).fit(X, y)
        return {"coef": m.coef_, "n_iter": m.n_iter_, "scores": m.predict_proba(Xe)[:, 1]}

    @probes.inference("mean_score")
    def mean_score():  # deterministic, never uses the helpers: its band is 0, only the ULP floor remains
        return {"mean": np.float64(np.sum(Solver.order(Xe, Xe)[0]) * Solver.C)}

    return probes


@pytest.fixture
def recorded(tmp_path):
    record_baseline(make_probes(), root=tmp_path)
    return tmp_path


def _findings(root):
    r = check_against_baseline(SUITE, make_probes(), root)
    return {(f.probe, f.output): f for f in r.findings}, r


def test_the_baseline_measures_a_band_per_output(recorded):
    noise = read_baseline(SUITE, root=recorded).snapshot.probes["logreg"].noise
    assert noise.perturbations[-2:] == ["inputs(seed=1)", "inputs(seed=2)"]
    coef = noise.band("coef")
    assert coef.shape == (1, 6) and coef.max() > 0  # last-bit input jitter moves an lbfgs fit
    assert noise.band("n_iter").max() == 0
    assert read_baseline(SUITE, root=recorded).snapshot.probes["mean_score"].noise.band("mean").max() == 0


def test_reordered_sums_are_within_noise_and_a_changed_default_is_changed(recorded, monkeypatch):
    base, _ = _findings(recorded)
    assert all(f.outcome is Outcome.IDENTICAL for f in base.values())

    monkeypatch.setattr(Solver, "order", staticmethod(lambda X, y: (X[::-1], y[::-1])))
    found, result = _findings(recorded)
    moved = [f for f in found.values() if f.probe == "logreg" and f.outcome is not Outcome.IDENTICAL]
    assert moved, "reversing the rows should move the fit's last bits"
    assert all(f.outcome is Outcome.WITHIN_NOISE for f in moved), [(f.output, f.size) for f in moved]
    assert any(f.size["max_ulp"] > 4 for f in moved)  # beyond the ULP default: the band decided
    assert all("numeric" in f.size["noise"] for f in moved if f.size["max_ulp"] > 4)
    assert result.exit_code == 0

    monkeypatch.setattr(Solver, "C", 0.5)
    found, result = _findings(recorded)
    coef = found[("logreg", "coef")]
    assert coef.outcome is Outcome.CHANGED and coef.size["n_beyond_noise"] == 6
    assert coef.size["noise"]["numeric"]["factor"] == NOISE_FACTOR
    assert found[("mean_score", "mean")].outcome is Outcome.CHANGED
    assert result.exit_code == 1


def test_a_zero_band_leaves_the_ulp_floor(recorded, monkeypatch):
    Xe = _data()[2]
    exact = np.sum(Xe)
    # 2 ULPs: inside the default floor of 4; 64 ULPs: outside it, and the band (0) adds nothing.
    for steps, outcome in ((2, Outcome.WITHIN_NOISE), (64, Outcome.CHANGED)):
        target = exact
        for _ in range(steps):
            target = np.nextafter(target, np.inf)
        monkeypatch.setattr(Solver, "C", float(target / exact))
        found, _ = _findings(recorded)
        f = found[("mean_score", "mean")]
        got = np.float64(exact * Solver.C)
        assert ulp_distance(np.array([got]), np.array([exact]))[0] > 0
        assert f.outcome is (outcome if ulp_distance(np.array([got]), np.array([exact]))[0] > 4 else Outcome.WITHIN_NOISE)


def test_a_baseline_without_bands_compares_as_before(recorded, monkeypatch):
    path = recorded / SUITE / "baseline.json"
    doc = json.loads(path.read_text())
    for p in doc["snapshot"]["probes"].values():
        p.pop("numeric_noise", None)
    path.write_text(json.dumps(doc))
    assert read_baseline(SUITE, root=recorded).snapshot.probes["logreg"].noise is None
    monkeypatch.setattr(Solver, "order", staticmethod(lambda X, y: (X[::-1], y[::-1])))
    found, _ = _findings(recorded)
    beyond = [f for f in found.values() if f.probe == "logreg" and f.size.get("max_ulp", 0) > 4]
    # Seeds do not move an lbfgs fit: without a band, what moved beyond 4 ULP is CHANGED, as it was.
    assert beyond and all(f.outcome is Outcome.CHANGED and "numeric" not in f.size.get("noise", {}) for f in beyond)


def test_an_output_whose_shape_moves_under_perturbation_has_no_band(tmp_path):
    probes = ProbeSet("varies")

    @probes.inference("picky")
    def picky():
        x = perturb.current().jitter(np.array([1.0, 2.0, 3.0]))
        return {"kept": x[x != 2.0], "total": np.float64(x.sum())}

    record_baseline(probes, root=tmp_path)
    noise = read_baseline("varies", root=tmp_path).snapshot.probes["picky"].noise
    assert "kept" in noise.varies and noise.band("kept") is None and noise.band("total") is not None


def test_helpers_change_nothing_outside_a_perturbed_run_and_one_ulp_inside():
    x = np.random.default_rng(0).normal(size=(200, 3))
    assert perturb.current() is perturb.IDENTITY
    assert perturb.current().jitter(x) is x and perturb.current().permute(x) is x
    with perturb.perturbed(perturb.Perturbation(name="t", seed=3)) as p:
        j = perturb.current().jitter(x)
        a, b = perturb.current().permute(x, np.arange(200))
    assert p.used == ["jitter", "permute"]
    d = ulp_distance(j, x)
    assert d.max() == 1 and (d == 1).mean() > 0.5 and j.dtype == x.dtype
    assert np.array_equal(a, x[b])  # one permutation for every array
    ints = np.arange(5)
    with perturb.perturbed(perturb.Perturbation(name="t", seed=3)):
        assert perturb.current().jitter(ints) is ints


def test_allowance_matches_an_elementwise_loop():
    rng = np.random.default_rng(1)
    old = rng.normal(size=40) * np.logspace(-3, 2, 40)
    band = np.abs(rng.normal(size=40)) * 1e-16
    band[::7] = 0.0
    expected = np.empty(40)
    scale = max(abs(v) for v in old)
    rel = max(band) / scale
    for i in range(40):
        expected[i] = NOISE_FACTOR * max(band[i], rel * abs(old[i]))
    assert np.array_equal(numeric_allowance(old, band), expected)
    assert np.array_equal(numeric_allowance(np.array([3, 4]), np.array([1.0, 0.0])), np.array([1.0, 0.0]))
