"""The REST predict server (its own process on 127.0.0.1) and the client, round trip: TF Serving's
request and response formats, its errors, and a tiny SavedModel scored the same over HTTP as in process."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError
from harness.serving.load import closed_loop, open_loop
from harness.serving.server import start_server
from harness.serving.targets import InProcessTarget, RestPredictTarget, encode_batch, golden_batches, parse_predict_url

pytest.importorskip("hdrh")

FRAME = pd.DataFrame({"x": [0.5, np.nan, -1.0, 2.0], "s": ["a", "bb", "", "dddd"], "other": [1, 2, 3, 4]},
                     index=[10, 11, 12, 13])


@pytest.fixture(scope="module")
def noop_server():
    with start_server("noop", noop=True) as server:
        yield server


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("fmt", ["instances", "inputs"])
def test_round_trip_both_formats(noop_server, fmt):
    target = RestPredictTarget(noop_server.url, [FRAME, FRAME.iloc[:1]], columns=["x", "s"], fmt=fmt)
    assert target(0) == 4 and target(1) == 1
    assert noop_server.url.startswith("http://127.0.0.1:")


def test_request_bodies_are_tf_serving_s():
    rows = json.loads(encode_batch(FRAME, ["x", "s"], "instances").decode().replace("NaN", "null"))
    assert rows == {"instances": [{"x": 0.5, "s": "a"}, {"x": None, "s": "bb"}, {"x": -1.0, "s": ""},
                                  {"x": 2.0, "s": "dddd"}]}
    cols = json.loads(encode_batch(FRAME, ["x"], "inputs").decode().replace("NaN", "null"))
    assert cols == {"inputs": {"x": [0.5, None, -1.0, 2.0]}}


def test_server_errors_are_tf_serving_s(noop_server):
    status, doc = _post(noop_server.url, b'{"rows": []}')
    assert status == 400 and "neither 'instances' nor 'inputs'" in doc["error"]
    status, doc = _post(noop_server.url, b"not json")
    assert status == 400 and "error" in doc
    status, doc = _post(noop_server.url.replace("/noop:", "/other:"), b'{"instances": [{"x": 1}]}')
    assert status == 404
    with urllib.request.urlopen(noop_server.url.replace(":predict", ""), timeout=10) as response:
        assert json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_a_server_error_is_counted_as_an_error(noop_server):
    target = RestPredictTarget(noop_server.url.replace("/noop:", "/missing:"), [FRAME], columns=["x"])
    result = closed_loop(target, duration_s=30, max_requests=3)
    assert result.n_errors == 3 and "HTTP 404" in result.errors[0]


def test_load_over_http_both_loops(noop_server):
    target = RestPredictTarget(noop_server.url, golden_batches(FRAME, 2), columns=["x", "s"])
    closed = closed_loop(target, concurrency=2, duration_s=30, max_requests=50)
    assert closed.n_ok == 50 and closed.n_predictions == 100
    opened = open_loop(target, rate=100, concurrency=2, duration_s=0.3)
    assert opened.n_ok == opened.n_requests == 30


@pytest.mark.slow
@pytest.mark.tf
def test_a_saved_model_scores_the_same_over_http_as_in_process(tmp_path):
    tf = pytest.importorskip("tensorflow")

    class Tiny(tf.Module):
        @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float64, name="x"),
                                       "s": tf.TensorSpec([None], tf.string, name="s")}])
        def serve(self, raw):
            x = tf.where(tf.math.is_nan(raw["x"]), tf.zeros_like(raw["x"]), raw["x"])
            length = tf.cast(tf.strings.length(raw["s"]), tf.float64)
            return {"score": tf.sigmoid(2.0 * x - 0.5 * length)}

    module = Tiny()
    tf.saved_model.save(module, str(tmp_path / "m"), signatures={"serving_default": module.serve})
    loaded = tf.saved_model.load(str(tmp_path / "m")).signatures["serving_default"]
    expected = loaded(x=tf.constant(FRAME["x"].to_numpy()), s=tf.constant(FRAME["s"].tolist()))["score"].numpy()

    seen = {}

    def probe(url):
        seen["scores"] = _post(url, encode_batch(FRAME, ["x", "s"], "instances"))[1]["predictions"]

    with start_server("tiny", saved_model=str(tmp_path / "m"), probe=probe) as server:
        assert server.cold_start_s is not None and server.cold_start_s > 0
        np.testing.assert_array_equal(np.asarray(seen["scores"]), expected)  # JSON floats round-trip exactly
        status, doc = _post(server.url, encode_batch(FRAME, ["x", "s", "other"], "inputs"))
        assert status == 400 and "unknown ['other']" in doc["error"]


def test_in_process_target_checks_the_count():
    class Short:
        name = "short"

        def predict(self, batch):
            return np.zeros(len(batch) - 1)

    target = InProcessTarget(Short(), [FRAME])
    with pytest.raises(ValueError, match="3 predictions for a batch of 4 rows"):
        target(0)


@pytest.mark.parametrize("url,match", [
    ("https://127.0.0.1:1/v1/models/m:predict", "https is not supported"),
    ("127.0.0.1:8501/v1/models/m:predict", "expected http://"),
    ("http://127.0.0.1:8501/v1/models/m", "the path must be"),
    ("http://127.0.0.1:8501/v1/models/m/versions/x:predict", "the path must be"),
    ("http://127.0.0.1:99999/v1/models/m:predict", "bad port"),
], ids=["https", "no-scheme", "no-verb", "bad-version", "bad-port"])
def test_bad_endpoint_urls(url, match):
    with pytest.raises(ParityInputError, match=match):
        parse_predict_url(url)


def test_versioned_url_is_accepted():
    assert parse_predict_url("http://localhost:8501/v1/models/ctr/versions/3:predict") == (
        "localhost", 8501, "/v1/models/ctr/versions/3:predict")


def test_a_missing_string_is_refused_naming_column_and_row():
    frame = pd.DataFrame({"s": pd.array(["a", None], dtype="string")}, index=[7, 8])
    with pytest.raises(ParityInputError, match=r"column 's', row 8"):
        encode_batch(frame, ["s"], "instances")


def test_golden_batches():
    batches = golden_batches(FRAME, 2)
    assert [list(b.index) for b in batches] == [[10, 11], [12, 13]]
    with pytest.raises(ParityInputError, match="needs at least 5 golden rows"):
        golden_batches(FRAME, 5)
