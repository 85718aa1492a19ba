"""``parity serve-bench`` through harness.cli.main: the table, the JSON, the gates and the exit codes."""
from __future__ import annotations

import json

import pytest

from harness.cli import main

pytest.importorskip("hdrh")

def _rc(argv):
    """Exit status of ``parity ARGV`` (argparse's own usage errors exit 2 through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


FAST = ["--duration", "0.05", "--repeats", "5", "--batch-sizes", "1,32", "--no-progress"]


def test_in_process_sides_pass_a_loose_gate(serve_project, capsys, tmp_path):
    suites = serve_project("sb_ok", gates='ServingGate("p99", batch_size=1, max_ratio=1000.0, reason="loose"), '
                                          'CostGate("cpu_per_1k", max_ratio=1000.0, batch_size=32, reason="loose")')
    rc = main(["serve-bench", "sb_ok", "--suites-dir", str(suites), *FAST, "--json", str(tmp_path / "b.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "p99.9 ms" in out and "serving/p99@1" in out and "cost/cpu_per_1k@32" in out
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["suite"] == "sb_ok" and doc["schema"] == "parity.serve-bench/1"
    assert set(doc["batch_sizes"]) == {"1", "32"}
    per = doc["batch_sizes"]["1"]["legacy"]
    assert len(per["rounds"]) == 5 and per["closed_ms"]["count"] > 0 and per["cdf_closed_ms"][-1][1] == 1.0
    assert per["open_ms"]["count"] > 0  # the open loop ran at the derived rate
    assert [c["id"] for c in doc["checks"]] == ["serving/p99@1", "cost/cpu_per_1k@32"]
    assert all(c["verdict"] == "EQUIVALENT" and c["kind"] in ("serving", "cost") for c in doc["checks"])


def test_a_slower_new_side_fails_its_gate(serve_project, capsys):
    # The new side sleeps 5 ms per request, the legacy one answers in microseconds: p50 ratio >> 1.5.
    suites = serve_project("sb_slow", delay=0.005,
                           gates='ServingGate("p50", batch_size=1, max_ratio=1.5, reason="test")')
    rc = main(["serve-bench", "sb_slow", "--suites-dir", str(suites), *FAST])
    out = capsys.readouterr().out
    assert rc == 1
    assert "NOT_EQUIVALENT" in out and "serving/p50@1: new / legacy p50 at batch 1 exceeds 1.5x" in out


def test_a_failing_gate_the_suite_names_a_known_gap_is_shown_but_not_counted(serve_project, capsys, tmp_path):
    # As in a suite run: `parity run` on this suite exits 0 on serving; serve-bench exited 1 before.
    suites = serve_project("sb_gap", delay=0.005, gates='ServingGate("p50", batch_size=1, max_ratio=1.5, reason="t")',
                           extra='SUITE.known_gaps = {"serving/p50@1": "the new server is tuned next quarter"}')
    rc = main(["serve-bench", "sb_gap", "--suites-dir", str(suites), *FAST, "--json", str(tmp_path / "g.json")])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    assert "serving/p50@1: new / legacy p50 at batch 1 exceeds 1.5x" in captured.out  # still shown
    assert ("serve-bench: serving/p50@1 is a known gap of suite 'sb_gap' (the new server is tuned next quarter): "
            "not counted in the exit status") in captured.err
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["checks"][0]["verdict"] == "NOT_EQUIVALENT" and doc["verdict"] is None
    assert doc["known_gaps"] == {"serving/p50@1": "the new server is tuned next quarter"}


def test_no_gates_is_measured_only(serve_project, capsys):
    suites = serve_project("sb_none")
    rc = main(["serve-bench", "sb_none", "--suites-dir", str(suites), *FAST, "--json", "-"])
    captured = capsys.readouterr()
    assert rc == 0
    assert json.loads(captured.out)["checks"] == []  # stdout is the JSON alone
    assert "declares no serving or cost gates" in captured.err


def test_a_side_that_never_answers_is_exit_2(serve_project, capsys):
    suites = serve_project("sb_down", fail=True)
    rc = main(["serve-bench", "sb_down", "--suites-dir", str(suites), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "the new side answered no request" in err and "scorer is down" in err


def test_an_endpoint_side_over_http(serve_project, capsys):
    from harness.serving.server import start_server

    suites = serve_project("sb_http")
    with start_server("noop", noop=True) as server:
        rc = main(["serve-bench", "sb_http", "--suites-dir", str(suites), *FAST,
                   "--endpoint", f"new={server.url}", "--pid", f"new={server.pid}", "--json", "-"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert doc["sides"]["new"]["kind"] == "http" and doc["sides"]["new"]["measures_process"] is True
    assert doc["batch_sizes"]["32"]["new"]["errors"] == 0
    assert doc["batch_sizes"]["32"]["new"]["median"]["cpu_per_1k"] is not None


@pytest.mark.parametrize("extra,match", [
    (["--batch-sizes", "0"], "batch sizes >= 1"),
    (["--batch-sizes", "1,x"], "comma-separated ints"),
    (["--endpoint", "old=http://127.0.0.1:1/v1/models/m:predict"], "legacy=VALUE or new=VALUE"),
    (["--endpoint", "new=http://127.0.0.1:1/models/m"], "the path must be"),
    (["--pid", "new=12"], "new has no --endpoint"),
    (["--duration", "-1"], "a number > 0"),
    (["--serve", "new"], "has no SavedModel path"),
], ids=["bs-0", "bs-text", "side-name", "url-path", "pid-without-endpoint", "duration", "serve-no-savedmodel"])
def test_bad_arguments_are_exit_2_with_a_message(serve_project, capsys, extra, match):
    suites = serve_project("sb_args")
    rc = _rc(["serve-bench", "sb_args", "--suites-dir", str(suites), "--no-progress", *extra])
    assert rc == 2
    assert match in capsys.readouterr().err


def test_a_gate_on_a_batch_size_not_measured_is_exit_2(serve_project, capsys):
    suites = serve_project("sb_gap", gates='ServingGate("p99", batch_size=1024, max_ratio=2.0, reason="r")')
    rc = main(["serve-bench", "sb_gap", "--suites-dir", str(suites), *FAST])
    assert rc == 2 and "gates need batch size(s) [1024]" in capsys.readouterr().err


def test_unknown_suite_is_exit_2(serve_project, capsys):
    suites = serve_project("sb_known")
    assert main(["serve-bench", "nope", "--suites-dir", str(suites), *FAST]) == 2


SAVED_MODEL_SUITE = '''
import tempfile
from pathlib import Path

import numpy as np

from harness.protocol import ModelPair
from harness.suite import Suite


class Legacy:
    name = "legacy"

    def featurize(self, batch):
        return None

    def predict(self, batch):
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {}


class Exported(Legacy):
    """A side with a SavedModel on disk (``path``), as new_platform's ServingSide has."""

    name = "exported"

    def __init__(self, path):
        self.path = path


def make_pair(dataset):
    import tensorflow as tf

    class Tiny(tf.Module):
        @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float64, name="x"),
                                       "device": tf.TensorSpec([None], tf.string, name="device")}])
        def serve(self, raw):
            return {"score": tf.sigmoid(raw["x"])}

    module = Tiny()
    path = Path(tempfile.mkdtemp(prefix="sb_saved_")) / "m"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return ModelPair(Legacy(), Exported(path))


SUITE = Suite(name="sb_saved", description="a SavedModel side", dataset="servetiny", pair=make_pair, label="click")
'''


KERAS_PREPROCESSING_SUITE = SAVED_MODEL_SUITE.split("def make_pair")[0] + '''
def make_pair(dataset):
    import keras
    import tensorflow as tf

    from new_platform.preprocessing import KerasPreprocessingSide

    @tf.function
    def prep(raw):
        return {"x": raw["x"]}

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,), dtype="float32"), keras.layers.Dense(1, activation="sigmoid")])
    return ModelPair(Legacy(), KerasPreprocessingSide("keras", model, prep, raw_inputs={"x": "float64"}))


SUITE = Suite(name="sb_keras", description="a KerasPreprocessingSide", dataset="servetiny", pair=make_pair,
              label="click")
'''


@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.parametrize("name, source", [("sb_saved", SAVED_MODEL_SUITE), ("sb_keras", KERAS_PREPROCESSING_SUITE)],
                         ids=["saved-model-side", "keras-preprocessing-side"])
def test_serve_puts_a_side_s_saved_model_behind_the_local_server(serve_project, capsys, name, source):
    # A KerasPreprocessingSide (seen: "--serve new: the new side ('keras') has no SavedModel path to
    # serve") is served from its export and sent only the raw columns its signature takes (not 'device').
    pytest.importorskip("tensorflow")
    suites = serve_project("sb_placeholder")
    (suites / f"test_{name}.py").write_text(source, encoding="utf-8")
    rc = main(["serve-bench", name, "--suites-dir", str(suites), *FAST, "--serve", "new", "--json", "-"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    new = doc["sides"]["new"]
    assert new["kind"] == "http" and new["target"].startswith("http://127.0.0.1:")
    assert new["measures_process"] is True and new["artifact_bytes"] > 0 and new["cold_start_s"][0] > 0
    assert all(doc["batch_sizes"][b]["new"]["errors"] == 0 for b in ("1", "32"))
    assert doc["batch_sizes"]["32"]["new"]["median"]["peak_rss"] > 0  # the server process's own
