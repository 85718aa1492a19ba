"""A retrained pair declared in a Suite: the plan names the retrained gates, the run produces exactly
those ids, ``predictions/scores`` is reported but not gated (no known_gaps entry), the verdict comes from
the gates; "too good" under non-inferiority is a review item. Real runner, scikit-learn sides, no TF."""
from __future__ import annotations

import numpy as np
import pytest

from harness.checks.retrained import DistributionGate, FlipGate, RankGate, RetrainedPredictionGates, TopKGate
from harness.checks.review_items import TooGood
from harness.errors import ParityInputError
from harness.protocol import ModelPair
from harness.runner import run_suite, slice_values
from harness.suite import MetricGate, Suite


def _dataset(root, n=20000, seed=0):
    from harness.golden import Column, GeneratedDataset, write_dataset
    from harness.golden.writer import arrow_table

    rng = np.random.default_rng(seed)
    columns = (Column("row_id", "int64", "key"), Column("query_id", "int64", "group"),
               Column("device", "string", "feature"), Column("x1", "float64", "feature"),
               Column("x2", "float64", "feature"), Column("click", "int64", "label"))
    splits = {}
    for i, split in enumerate(("train", "eval")):
        x1, x2 = rng.normal(size=n), rng.normal(size=n)
        splits[split] = arrow_table(columns, {
            "row_id": np.arange(i * n, (i + 1) * n, dtype=np.int64),
            "query_id": np.repeat(np.arange(n // 10, dtype=np.int64), 10) + i * n,
            "device": np.array(["mobile", "desktop"], dtype=object)[rng.integers(0, 2, size=n)],
            "x1": x1, "x2": x2,
            "click": (rng.random(n) < 1 / (1 + np.exp(-(x1 - 0.5 * x2)))).astype(np.int64),
        })
    write_dataset(GeneratedDataset(name="retrain", version="1", description="two features, a click",
                                   columns=columns, splits=splits, provenance={"seed": seed}),
                  dest_dir=root / "retrain")
    return root


class _LR:
    """A side trained on its own half of the train split (a retrained model, not a port)."""

    def __init__(self, name, half, leak=False):
        self.name, self.half, self.leak = name, half, leak

    def fit(self, train):
        from sklearn.linear_model import LogisticRegression

        part = train.iloc[self.half::2]
        self.model = LogisticRegression().fit(part[["x1", "x2"]], part["click"])
        return self

    def featurize(self, batch):
        return None

    def predict(self, batch):
        p = self.model.predict_proba(batch[["x1", "x2"]])[:, 1]
        if self.leak:  # the label leaks into the score: "much better", i.e. changed data, not a better model
            p = np.clip(0.7 * p + 0.3 * batch["click"].to_numpy(), 1e-6, 1 - 1e-6)
        return p

    def config(self):
        return {"half": self.half, "leak": self.leak}


def _pair(leak=False):
    def build(dataset):
        train = dataset.frame("train")
        return ModelPair(_LR("legacy", 0).fit(train), _LR("new", 1, leak).fit(train))
    return build


GATES = RetrainedPredictionGates(
    distribution=DistributionGate(statistics=("ks", "wasserstein"), reason="same population, same model class"),
    rank_correlation=RankGate(min_spearman=0.95, reason="two fits of one model class on 10k rows each"),
    topk=TopKGate(k=3, min_mean=0.6, reason="ranking per query must mostly agree"),
    decision_flips=FlipGate(threshold=0.5, max_share=0.05, reason="at most 5 % of decisions may change"),
)


def _suite(**kw):
    base = dict(name="retrained", description="LR retrained on another half", dataset="retrain", pair=_pair(),
                label="click", predictions=GATES, slices=["device"], min_slice_size=1000,
                metrics=[MetricGate("auc", 0.01, reason="10k eval rows resolve ~0.005"),
                         MetricGate("logloss", 0.01, reason="1 % of ~0.55")], n_boot=200)
    base.update(kw)
    return Suite(**base)


def test_a_retrained_pair_is_gated_by_its_gates_not_by_per_row_differences(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(_dataset(tmp_path)))
    suite = _suite()
    planned = suite.plan(slice_values(suite))
    result = run_suite(suite)
    assert [c.id for c in result.checks] == planned
    by_id = {c.id: c for c in result.checks}
    assert {"predictions/distribution/ks", "predictions/spearman", "predictions/topk@3",
            "predictions/flips@0.5"} <= set(by_id)
    scores = by_id["predictions/scores"]
    assert scores.gated is False and scores.details["mode"] == "retrained"
    assert scores.details["max_abs_diff"] > 1e-4  # the two models really differ row by row
    assert result.known_gaps == {}
    gated = [c for c in result.checks if c.gated]
    assert all(c.verdict.value == "EQUIVALENT" for c in gated), [(c.id, c.verdict.value) for c in gated]
    assert result.verdict.value == "EQUIVALENT"


def test_a_label_leak_passes_non_inferiority_but_is_a_too_good_finding(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(_dataset(tmp_path)))
    suite = _suite(pair=_pair(leak=True), predictions="same_model", prediction_atol=1.0, slices=[],
                   metrics=[MetricGate("auc", 0.01, test="non_inferiority", reason="no worse by 0.01")],
                   too_good=TooGood({"auc": 0.01}, reason="a neutral migration does not gain 0.01 AUC", gated=True))
    result = run_suite(suite)
    assert [c.id for c in result.checks] == suite.plan({})
    auc = result.check("metrics/auc")
    assert auc.verdict.value == "EQUIVALENT"  # non-inferior: it is (much) better
    review = result.check("review/too_good/auc")
    assert review.verdict.value == "NOT_EQUIVALENT" and review.gated
    assert result.verdict.value == "NOT_EQUIVALENT"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        pytest.param({"predictions": "retrained"}, "predictions must be 'same_model' or a RetrainedPredictionGates",
                     id="predictions-typo"),
        pytest.param({"too_good": {"auc": 0.01}}, "too_good must be a TooGood", id="too-good-not-declared"),
        pytest.param({"slices": [("device", "device")]}, "tuple of distinct column names", id="crossed-repeat"),
        pytest.param({"metrics": [MetricGate("auc", 0.01), MetricGate("AUC", 0.02)]}, "declared twice",
                     id="metric-twice-in-two-spellings"),
    ],
)
def test_bad_retrained_declarations_fail_when_declared(kw, expected):
    with pytest.raises(ParityInputError, match=expected.replace("(", r"\(")):
        _suite(**kw)


@pytest.mark.slow
def test_crossed_slices_are_planned_from_the_data_and_produced(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(_dataset(tmp_path, n=6000)))
    suite = _suite(predictions="same_model", prediction_atol=1.0, slices=["device", ("device", "query_id")],
                   metrics=[MetricGate("auc", 0.05)], min_slice_size=100000)
    values = slice_values(suite)
    assert values["device"] == ["desktop", "mobile"]
    assert len(values[("device", "query_id")]) > 600  # every (device, query) pair that occurs
    planned = suite.plan(values)
    assert "metrics/auc[device=mobile]" in planned
    assert any(i.startswith("metrics/auc[device=desktop,query_id=") for i in planned)
    result = run_suite(suite)
    assert [c.id for c in result.checks] == planned
    crossed = [c for c in result.checks if ",query_id=" in c.id]
    assert crossed and not any(c.gated for c in crossed)  # below min_slice_size: reported, not gated


def test_platform_metrics_are_planned_and_gated_on_their_gap_to_the_exact_metric(tmp_path, monkeypatch):
    from harness.checks.platform_metrics import histogram_auc, sklearn_metric

    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(_dataset(tmp_path, n=6000)))
    suite = _suite(predictions="same_model", prediction_atol=1.0, slices=[],
                   metrics=[MetricGate("auc", 0.01, reason="6k rows")],
                   platform_metrics=[sklearn_metric("roc_auc_score"), histogram_auc(n_buckets=4)])
    planned = suite.plan({})
    result = run_suite(suite)
    assert [c.id for c in result.checks] == planned
    platform = [c for c in result.checks if c.id.startswith("platform/")]
    assert len(platform) == 2
    by_impl = {c.details["implementation"]: c for c in platform}
    exact = [c for c in platform if abs(c.details["gap"]) < 1e-12]
    coarse = [c for c in platform if abs(c.details["gap"]) > 1e-3]  # 4 buckets: a visibly biased AUC
    assert len(exact) == 1 and exact[0].verdict.value == "EQUIVALENT", by_impl
    assert len(coarse) == 1 and coarse[0].verdict.value == "NOT_EQUIVALENT", by_impl
    from sklearn.metrics import roc_auc_score

    from harness.golden import load_dataset

    dataset = load_dataset("retrain")
    new = suite.pair(dataset).new  # the same seeded fit the run scored
    frame = dataset.frame("eval")
    assert exact[0].details["exact"] == pytest.approx(roc_auc_score(frame["click"], new.predict(frame)), abs=1e-12)
