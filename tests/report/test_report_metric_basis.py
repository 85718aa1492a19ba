"""What the metrics were computed on, said in the report.

A suite with ``use_weights=True`` says which column weighted its metrics: ``details.weights`` in
report.json (null when unweighted, schema 2.2), "weighted by column ..." after the method in report.md,
report.html and a failing metric's text; the weighted values are scikit-learn's with that column's
weights. A suite whose sides did not score every row says that its metrics are on the rows both scored."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from harness.protocol import ModelPair
from harness.report import build_report, render_html, render_markdown, validate_report
from harness.runner import run_suite
from harness.suite import MetricGate, Suite


class _Side:
    def __init__(self, name, noise_seed, drop=()):
        self.name, self.noise_seed, self.drop = name, noise_seed, set(drop)

    def featurize(self, batch):
        return pd.DataFrame({"x": batch["x"].to_numpy()})

    def predict(self, batch):
        x = batch["x"].to_numpy()
        noise = np.random.default_rng(self.noise_seed).normal(scale=0.3, size=x.shape[0])
        scores = pd.Series(1.0 / (1.0 + np.exp(-(x + noise))), index=batch["row_id"].to_numpy())
        return scores[~scores.index.isin(self.drop)]  # keys it leaves out stay missing

    def config(self):
        return {"noise_seed": self.noise_seed}


def _pair(_dataset):
    return ModelPair(_Side("legacy", 1), _Side("new", 2))


def _dropping_pair(_dataset):
    return ModelPair(_Side("legacy", 1, drop=(7, 12)), _Side("new", 2))


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    from harness.golden.manifest import Column
    from harness.golden.writer import GeneratedDataset, arrow_table, write_dataset

    root = tmp_path_factory.mktemp("golden")
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    frame = pd.DataFrame({"row_id": np.arange(n) * 5 + 2, "x": x,
                          "click": (rng.random(n) < 1 / (1 + np.exp(-x))).astype(np.int64),
                          "impressions": rng.integers(1, 40, size=n).astype(np.float64)})
    roles = {"row_id": "key", "x": "feature", "click": "label", "impressions": "weight"}
    columns = tuple(Column(c, str(frame[c].dtype), roles[c]) for c in frame.columns)
    write_dataset(GeneratedDataset("weighted_ctr", "1.0.0", "weights test", columns,
                                   {"eval": arrow_table(columns, frame)}), dest_dir=root / "weighted_ctr")
    return root, frame


def _run(golden, use_weights, margin=0.05, pair=_pair):
    root, _ = golden
    suite = Suite(name="w", description="", dataset="weighted_ctr", pair=pair, label="click", features=["x"],
                  use_weights=use_weights, metrics=[MetricGate("auc", margin), MetricGate("logloss", margin)],
                  n_boot=50)
    return run_suite(suite, root=root)


def test_weighted_metrics_name_their_column_everywhere_the_method_is_shown(golden):
    _, frame = golden
    result = _run(golden, True, margin=1e-6)  # a margin too tight to pass: the failure text is shown too
    doc = build_report([result])
    validate_report(doc)
    metric = {c["id"]: c for c in doc["suites"][0]["checks"] if c["kind"] == "metric"}
    assert {c["details"]["weights"] for c in metric.values()} == {"impressions"}
    legacy = _Side("legacy", 1).predict(frame).to_numpy()
    w = frame["impressions"].to_numpy()
    assert metric["metrics/auc"]["details"]["legacy"] == pytest.approx(
        roc_auc_score(frame["click"], legacy, sample_weight=w), abs=1e-12)
    assert metric["metrics/logloss"]["details"]["legacy"] == pytest.approx(
        log_loss(frame["click"], legacy, sample_weight=w), abs=1e-12)
    assert metric["metrics/auc"]["details"]["legacy"] != pytest.approx(roc_auc_score(frame["click"], legacy),
                                                                       abs=1e-6)
    assert "weighted by column 'impressions'" in metric["metrics/auc"]["message"]
    for text in (render_markdown(doc), render_html(doc)):
        assert text.count("weighted by column &#x27;impressions&#x27;" if "<html" in text
                          else "weighted by column 'impressions'") >= 2


def test_unweighted_metrics_say_nothing_of_weights(golden):
    doc = build_report([_run(golden, False, margin=1e-6)])
    validate_report(doc)
    metric = [c for c in doc["suites"][0]["checks"] if c["kind"] == "metric"]
    assert [c["details"]["weights"] for c in metric] == [None, None]
    assert all("weighted by" not in c["message"] for c in metric)
    assert "weighted by" not in render_markdown(doc) and "weighted by" not in render_html(doc)


def test_metrics_on_fewer_rows_than_the_split_say_so_where_the_metrics_are_shown(golden):
    _, frame = golden
    doc = build_report([_run(golden, False, pair=_dropping_pair)])  # legacy left out keys 7 and 12
    validate_report(doc)
    checks = {c["id"]: c for c in doc["suites"][0]["checks"]}
    assert checks["alignment/keys"]["verdict"] == "NOT_EQUIVALENT"
    assert checks["metrics/auc"]["details"]["n"] == len(frame) - 2
    said = (f"The metrics of suite 'w' are computed on the {len(frame) - 2:,} of {len(frame):,} rows both sides "
            "scored once: alignment/keys failed (missing in legacy 2).")
    assert said in render_markdown(doc)
    assert said.replace("'", "&#x27;") in render_html(doc)
    clean = build_report([_run(golden, False)])
    assert "rows both sides scored once" not in render_markdown(clean) + render_html(clean)
