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

from harness.upgrade import Outcome, ProbeSet, check_against_baseline, findings_to_markdown, read_baseline, record_baseline
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


# -- declared inputs: the harness perturbs them itself, the probe calls nothing ----------------------

def make_plain_probes() -> ProbeSet:
    """The probes of `make_probes` as a user writes them: inputs declared, no helper call, no tolerance."""
    from sklearn.linear_model import LogisticRegression

    probes = ProbeSet("plain")

    def data():
        Xt, yt, Xe = _data()
        return {"X": Xt, "y": yt, "X_eval": Xe}

    @probes.learning("logreg", seeds=(0, 1), inputs=data, permute=("X", "y"))
    def logreg(seed, X, y, X_eval):
        X, y = Solver.order(X, y)
        m = LogisticRegression(C=Solver.C, random_state=seed).fit(X, y)
        return {"coef": m.coef_, "n_iter": m.n_iter_, "scores": m.predict_proba(X_eval)[:, 1]}

    @probes.inference("mean_score")
    def mean_score():
        return {"mean": np.float64(np.sum(Solver.order(_data()[2], None)[0]) * Solver.C)}

    return probes


def test_declared_inputs_give_a_band_without_any_helper_call(tmp_path, monkeypatch):
    record_baseline(make_plain_probes(), root=tmp_path)
    noise = read_baseline("plain", root=tmp_path).snapshot.probes["logreg"].noise
    assert noise.inputs == ["jitter(X)", "jitter(X_eval)", "permute(X, y)"]  # y is integer: not jittered
    assert noise.band("coef").max() > 0 and noise.band("scores").max() > 0

    found = {(f.probe, f.output): f for f in check_against_baseline("plain", make_plain_probes(), tmp_path).findings}
    assert all(f.outcome is Outcome.IDENTICAL for f in found.values())  # a check hands the inputs over unchanged

    monkeypatch.setattr(Solver, "order", staticmethod(lambda X, y: (X[::-1], None if y is None else y[::-1])))
    result = check_against_baseline("plain", make_plain_probes(), tmp_path)
    moved = [f for f in result.findings if f.probe == "logreg" and f.outcome is not Outcome.IDENTICAL]
    assert moved and any(f.size["max_ulp"] > 4 for f in moved)
    assert all(f.outcome is Outcome.WITHIN_NOISE for f in moved), [(f.output, f.size) for f in moved]

    monkeypatch.setattr(Solver, "C", 0.5)
    found = {(f.probe, f.output): f for f in check_against_baseline("plain", make_plain_probes(), tmp_path).findings}
    assert found[("logreg", "coef")].outcome is Outcome.CHANGED
    assert "floor_note" not in found[("logreg", "coef")].size
    # The probe without inputs: CHANGED, and the finding says its floor is only the ULP default and how to fix it.
    note = found[("mean_score", "mean")].size["floor_note"]
    assert "perturbed none of probe 'mean_score''s inputs" in note and "4-ULP" in note and "inputs=" in note and "re-record" in note
    assert note in findings_to_markdown(check_against_baseline("plain", make_plain_probes(), tmp_path))


def test_input_perturbation_moves_floats_by_one_ulp_and_permutes_rows_together():
    import pandas as pd

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"price": rng.normal(size=300), "n": np.arange(300), "city": ["a", "b", "c"] * 100,
                          "w": rng.random(300).astype(np.float32)}, index=np.arange(300) + 1000)
    frame.loc[1003, "price"] = np.inf
    inputs = {"frame": frame, "X": rng.normal(size=(300, 2)), "labels": np.arange(300) % 2,
              "scale": 2.5, "ser": pd.Series(rng.normal(size=300), name="s")}
    same = perturb.IDENTITY.perturb_inputs(inputs, permute=("frame", "labels"))
    assert all(same[k] is inputs[k] for k in inputs)  # outside a noise run: the very objects

    p = perturb.Perturbation(name="t", seed=1)
    got = p.perturb_inputs(inputs, permute=("frame", "labels"))
    assert p.used == ["jitter(X)", "jitter(frame)", "jitter(ser)", "permute(frame, labels)"]
    order = got["frame"].index.to_numpy() - 1000  # the permutation, read back from the frame's index
    assert sorted(order) == list(range(300)) and not np.array_equal(order, np.arange(300))
    assert np.array_equal(got["labels"], inputs["labels"][order])  # one permutation for both
    for col in ("price", "w"):
        d = ulp_distance(got["frame"][col].to_numpy(), frame[col].to_numpy()[order])
        assert d.max() == 1 and (d == 1).mean() > 0.5 and got["frame"][col].dtype == frame[col].dtype
    assert got["frame"].loc[1003, "price"] == np.inf  # infinities are not moved
    assert np.array_equal(got["frame"]["n"], frame["n"].to_numpy()[order])
    assert list(got["frame"]["city"]) == list(frame["city"].to_numpy()[order])
    assert ulp_distance(got["X"], inputs["X"]).max() == 1 and got["scale"] == 2.5
    assert ulp_distance(got["ser"].to_numpy(), inputs["ser"].to_numpy()).max() == 1 and got["ser"].name == "s"
    again = perturb.Perturbation(name="t", seed=1).perturb_inputs(inputs, permute=("frame", "labels"))
    assert again["frame"].equals(got["frame"]) and np.array_equal(again["X"], got["X"])  # seeded


@pytest.mark.parametrize("declare, call, match", [
    (dict(permute=("X",)), None, "needs inputs="),
    (dict(inputs={"X": np.zeros(3)}, permute=("Z",)), None, r"permute names \['Z'\]"),
    (dict(inputs=[1, 2]), None, "inputs must be a mapping"),
    (dict(inputs=lambda: {"X": np.zeros(3)}), lambda: None, "cannot take its declared inputs"),
    (dict(inputs=lambda: {"X": np.zeros(3), "y": np.zeros(2)}, permute=("X", "y")), lambda X, y: None, "one number of rows"),
    (dict(inputs=lambda: 3), lambda: None, "non-empty mapping"),
])
def test_bad_input_declarations_name_the_probe(declare, call, match):
    from harness.errors import ParityInputError

    probes = ProbeSet("bad")
    with pytest.raises(ParityInputError, match=match) as info:
        probes.inference("p", **declare)(call or (lambda X: {"x": X}))
        noise_run = perturb.Perturbation(name="t", seed=1)
        with perturb.perturbed(noise_run):
            probes["p"].run()
    assert "probe 'p'" in str(info.value)


def test_jitter_can_be_narrowed_to_columns_or_turned_off():
    import pandas as pd

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"price": rng.normal(size=50), "ctr": rng.random(50)})
    X = rng.normal(size=(50, 2))
    p = perturb.Perturbation(name="t", seed=1)
    got = p.perturb_inputs({"rows": frame, "X": X}, jitter=("rows.ctr",))
    assert p.used == ["jitter(rows.ctr)"]
    assert got["rows"]["price"].equals(frame["price"]) and got["X"] is X
    assert ulp_distance(got["rows"]["ctr"].to_numpy(), frame["ctr"].to_numpy()).max() == 1
    p = perturb.Perturbation(name="t", seed=1)
    got = p.perturb_inputs({"rows": frame, "X": X}, jitter=False, permute=("rows", "X"))
    assert p.used == ["permute(rows, X)"]
    assert np.array_equal(got["rows"]["ctr"].to_numpy(), frame["ctr"].to_numpy()[got["rows"].index.to_numpy()])
    from harness.errors import ParityInputError

    for bad, fragment in ((("rows.city",), "not among 'rows''s columns"), (("Z",), "jitter names 'Z'"),
                          (("X.a",), "is not a DataFrame")):
        with pytest.raises(ParityInputError, match=fragment):
            perturb.Perturbation(name="t", seed=1).perturb_inputs({"rows": frame, "X": X}, jitter=bad, where="probe 'p'")


def test_an_output_on_permuted_rows_gets_no_band_and_its_finding_says_why(tmp_path, monkeypatch):
    # scores of the permuted training rows come back in another order: the "band" would be the spread of
    # the scores themselves and hide any change, so the baseline keeps none for them
    from sklearn.linear_model import LogisticRegression

    Xt, yt, _ = _data()
    probes = ProbeSet("onperm")

    @probes.learning("fit", seeds=(0,), inputs={"X": Xt, "y": yt}, permute=("X", "y"))
    def fit(seed, X, y):
        m = LogisticRegression(C=Solver.C).fit(X, y)
        return {"coef": m.coef_, "train_scores": m.predict_proba(X)[:, 1]}

    record_baseline(probes, root=tmp_path)
    noise = read_baseline("onperm", root=tmp_path).snapshot.probes["fit"].noise
    assert "train_scores" in noise.varies and noise.band("train_scores") is None
    assert noise.band("coef") is not None and noise.band("coef").max() < 1e-10
    monkeypatch.setattr(Solver, "C", 0.999)  # a small real change: the scores move by ~1e-5
    found = {f.output: f for f in check_against_baseline("onperm", probes, tmp_path).findings}
    assert found["train_scores"].outcome is Outcome.CHANGED
    assert "has no noise band" in found["train_scores"].size["floor_note"]


def test_a_probe_with_inputs_but_jitter_off_is_told_how_to_get_a_floor_not_to_declare_inputs(tmp_path, monkeypatch):
    # A quantile-binning fit declares its inputs with jitter=False (README: edges compare floats), and
    # nothing is permuted: the baseline perturbed nothing, and the note must name that case's fix too.
    def make():
        probes = ProbeSet("binned")

        @probes.learning("bins", seeds=(0,), inputs=lambda: {"X": _data()[0]}, jitter=False)
        def bins(seed, X):
            return {"edges": np.quantile(X[:, 0], [0.25, 0.5, 0.75]) * Solver.C}

        return probes

    record_baseline(make(), root=tmp_path)
    assert read_baseline("binned", root=tmp_path).snapshot.probes["bins"].noise.inputs == []
    monkeypatch.setattr(Solver, "C", Solver.C * 1.5)
    (finding,) = [f for f in check_against_baseline("binned", make(), tmp_path).findings if f.output == "edges"]
    assert finding.outcome is Outcome.CHANGED
    note = finding.size["floor_note"]
    assert "perturbed none of probe 'bins''s inputs" in note and "with jitter=False" in note and "permute=" in note
