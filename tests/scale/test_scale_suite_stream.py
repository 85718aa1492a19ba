"""A streamed suite run (harness.scale.suite_stream) against the in-memory run (harness.runner) on the
shipped ads_ctr golden split: the same SuiteResult, byte for byte as JSON, whatever the chunk size; a
side failing mid-stream names the side, the chunk, its rows and keys.

The pair is pandas only (no TensorFlow): both sides featurize with the legacy featurizer; the new side
moves one price bucket boundary and nudges log_price by one ULP above a price, so feature mismatches,
their first rows (across chunk borders) and the largest errors have to be merged, and the scores
differ, so predictions, top-k per request and weighted, sliced metrics have something to measure.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness import progress
from harness.errors import ScorerError
from harness.protocol import ModelPair
from harness.runner import run_suite
from harness.scale.suite_stream import run_suite_streamed
from harness.suite import MetricGate, Suite
from harness.verdicts import Verdict

SAMPLE = 4000


def _score(f: pd.DataFrame) -> np.ndarray:
    logit = (-2.0 + 0.3 * f["log_price"].to_numpy() - 0.05 * f["price_bucket"].to_numpy()
             + 0.2 * f["hist_ctr_imputed"].to_numpy() - 0.1 * f["position_log"].to_numpy())
    return 1.0 / (1.0 + np.exp(-logit))


@dataclasses.dataclass
class _Side:
    name: str
    featurizer: Any
    defect: bool = False
    fail_on_call: int | None = None
    calls: int = 0

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        f = self.featurizer.transform(batch)
        if self.defect:
            price = batch["price"].to_numpy()
            f["price_bucket"] = np.where((price >= 10) & (price < 11), f["price_bucket"] + 1, f["price_bucket"])
            lp = f["log_price"].to_numpy()
            f["log_price"] = np.where(price > 40, np.nextafter(lp, np.inf), lp)
        return f

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise RuntimeError("model server went away")
        return _score(self.featurize(batch))

    def config(self) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def spec():
    from harness.golden import load_dataset
    from legacy_adapter.featurizer import fit_spec

    return fit_spec(load_dataset("ads_ctr").frame("train"))


def _suite(spec, fail_on_call=None, **kw) -> Suite:
    from legacy_adapter.featurizer import LegacyFeaturizer

    def pair(_dataset):
        return ModelPair(_Side("legacy", LegacyFeaturizer(spec)),
                         _Side("new", LegacyFeaturizer(spec), defect=True, fail_on_call=fail_on_call))

    fields = dict(name="streamed", description="streamed against in memory", dataset="ads_ctr", pair=pair,
                  label="click", use_weights=True, features=list(spec.feature_names),
                  categorical_features=list(spec.categorical_features), prediction_atol=1e-9, top_k=3,
                  metrics=[MetricGate("auc", 0.02), MetricGate("logloss", 0.02), MetricGate("calibration_ratio", 0.1)],
                  slices=["device", ("device", "country")], min_slice_size=300, n_boot=40, batch_size=500)
    fields.update(kw)
    return Suite(**fields)


def _bytes(result) -> str:
    return json.dumps(result.to_dict(), sort_keys=False, allow_nan=True)


@pytest.fixture(scope="module")
def in_memory(spec):
    return run_suite(_suite(spec), sample=SAMPLE, seed=3)


@pytest.mark.parametrize("chunk_rows", [1, 777, 10**6])
@pytest.mark.slow
def test_streamed_suite_result_is_the_in_memory_one_byte_for_byte(spec, in_memory, chunk_rows):
    streamed = run_suite_streamed(_suite(spec), sample=SAMPLE, seed=3, chunk_rows=chunk_rows)
    assert _bytes(streamed) == _bytes(in_memory)


def test_the_comparison_measures_something(in_memory):
    failing = {c.id for c in in_memory.checks if c.kind == "feature" and c.verdict is not Verdict.EQUIVALENT}
    assert failing == {"features/price_bucket", "features/log_price"}
    assert len(in_memory.check("features/log_price").details["examples"]) == 5
    assert any(c.id.startswith("metrics/auc[device=") for c in in_memory.checks)
    assert in_memory.check("predictions/scores").details["topk"]["n_groups"] > 100


def test_unsampled_split_streams_too(spec):
    suite = _suite(spec, metrics=[MetricGate("logloss", 0.02)], slices=[], batch_size=20000)
    assert _bytes(run_suite_streamed(suite, chunk_rows=30000)) == _bytes(run_suite(suite))


def test_a_side_failing_mid_stream_names_side_chunk_rows_and_keys(spec):
    with pytest.raises(ScorerError) as e:
        run_suite_streamed(_suite(spec, fail_on_call=5), sample=SAMPLE, seed=3, chunk_rows=1000)
    msg = str(e.value)
    # batches of 500, chunks of 1000: the new side's 5th predict call is the first batch of chunk 2
    assert "the new side 'new' failed on chunk 2 (rows 2000-2999, keys row_id=" in msg
    assert "model server went away" in msg and "nothing of this suite is reported" in msg


def test_progress_shows_rows_and_chunks(spec, capsys):
    with progress.enabled():
        run_suite_streamed(_suite(spec, metrics=[], slices=[]), sample=2000, seed=3, chunk_rows=1000)
    err = capsys.readouterr().err
    assert "chunk 1" in err and "/2000" in err


_SUITE_FILE = '''
import numpy as np
from harness.golden import load_dataset
from harness.protocol import ModelPair
from harness.suite import MetricGate, Suite
from legacy_adapter.featurizer import LegacyFeaturizer, fit_spec

SPEC = fit_spec(load_dataset("ads_ctr").frame("train"))


class Side:
    def __init__(self, name, shift):
        self.name, self.shift, self.featurizer = name, shift, LegacyFeaturizer(SPEC)

    def featurize(self, batch):
        return self.featurizer.transform(batch)

    def predict(self, batch):
        f = self.featurize(batch)
        return 1 / (1 + np.exp(-(-2 + 0.3 * f["log_price"].to_numpy() + self.shift * f["position_log"].to_numpy())))

    def config(self):
        return {}


SUITE = Suite(name="streamed_cli", description="parity run --stream", dataset="ads_ctr", label="click",
              pair=lambda ds: ModelPair(Side("legacy", 0.0), Side("new", 1e-4)), features=list(SPEC.feature_names),
              categorical_features=list(SPEC.categorical_features), prediction_atol=1e-9, use_weights=True,
              metrics=[MetricGate("logloss", 0.02), MetricGate("auc", 0.02)], slices=["device"], n_boot=30,
              batch_size=1000)
'''


def test_parity_run_stream_writes_the_same_report_json(tmp_path):
    from harness.cli import main

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_streamed_cli.py").write_text(_SUITE_FILE)
    common = ["run", "--suites-dir", str(suites), "--sample", "3000", "--no-progress"]
    rc_mem = main([*common, "--report", str(tmp_path / "mem")])
    rc_stream = main([*common, "--report", str(tmp_path / "stream"), "--stream", "--chunk-rows", "1500"])
    assert rc_mem == rc_stream
    mem, streamed = ((tmp_path / d / "report.json").read_text() for d in ("mem", "stream"))
    # byte for byte up to "measured", the last section: cost per stage, outside the byte-identity contract
    assert mem.rindex('"measured"') > len(mem) // 2
    assert streamed[:streamed.rindex('"measured"')] == mem[:mem.rindex('"measured"')]
    assert main([*common, "--chunk-rows", "10"]) == 2  # --chunk-rows without --stream: bad usage, named


def test_a_split_changed_on_disk_during_the_stream_is_refused(spec, tmp_path, monkeypatch):
    import shutil

    from harness.errors import GoldenDataError
    from harness.golden import load_dataset

    root = tmp_path / "golden"
    shutil.copytree(load_dataset("ads_ctr").root, root / "ads_ctr")
    import harness.scale.suite_stream as ss

    real = ss._score_stream

    def tamper(*args, **kw):
        out = real(*args, **kw)
        target = root / "ads_ctr" / load_dataset("ads_ctr", root=root).manifest["splits"]["eval"]["file"]
        target.write_bytes(target.read_bytes() + b"x")  # after the last chunk, before the re-hash
        return out

    monkeypatch.setattr(ss, "_score_stream", tamper)
    with pytest.raises(GoldenDataError, match="changed on disk during the streamed run"):
        run_suite_streamed(_suite(spec, metrics=[], slices=[]), sample=500, seed=3, chunk_rows=1000, root=root)


def test_the_serving_gates_get_the_rows_they_would_get_in_memory(spec, monkeypatch):
    import harness.serving.suite_run as sr

    monkeypatch.setattr(sr, "rows_needed", lambda gates: 1700)
    from harness.serving import ServingGate

    suite = _suite(spec, metrics=[], slices=[], serving=[ServingGate("p99", batch_size=1, max_ratio=1.5, reason="r")])
    kept_mem, kept_stream = {}, {}
    run_suite(suite, sample=2000, seed=3, keep=kept_mem)
    run_suite_streamed(suite, sample=2000, seed=3, chunk_rows=600, keep=kept_stream)
    pd.testing.assert_frame_equal(kept_stream["frame"], kept_mem["frame"].iloc[:1700].reset_index(drop=True))


@pytest.mark.slow
def test_a_ranking_suite_samples_whole_queries_alike_in_memory_and_streamed(spec):
    from harness.golden import load_dataset

    dataset = load_dataset("ads_ctr")
    group = dataset.group
    suite = _suite(spec, use_weights=False, slices=[], metrics=[MetricGate("ndcg@5", 0.05), MetricGate("mrr", 0.05)])
    kept_mem: dict = {}
    in_memory = run_suite(suite, sample=SAMPLE, seed=3, keep=kept_mem)
    streamed = run_suite_streamed(suite, sample=SAMPLE, seed=3, chunk_rows=777)
    assert _bytes(streamed) == _bytes(in_memory)
    frame = kept_mem["frame"]
    full_sizes = dataset.frame("eval")[group].value_counts()
    sizes = frame[group].value_counts()
    assert (sizes == full_sizes[sizes.index]).all()  # every sampled query whole
    assert SAMPLE <= len(frame) < SAMPLE + full_sizes.max()  # the shortest run of whole queries reaching SAMPLE
    assert in_memory.sample == {"rows": len(frame), "seed": 3}
