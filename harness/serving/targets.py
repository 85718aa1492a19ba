"""What the load generators call: a side in this process, or an HTTP endpoint that speaks TensorFlow
Serving's REST predict API.

Both are callables ``target(i) -> n_predictions`` over a fixed list of golden batches (request ``i``
sends batch ``i % len(batches)``), prepared before the clock starts: slicing a DataFrame or encoding JSON
is the client's cost, not the serving path's.

The REST client is written to the protocol (https://www.tensorflow.org/tfx/serving/api_rest), so it
can be pointed at a real TF Serving: ``POST {base}/v1/models/{name}[/versions/{v}]:predict`` with
``{"instances": [{column: value, ...}, ...]}`` (row format, answered by ``{"predictions": [...]}``) or
``{"inputs": {column: [values...]}}`` (columnar format, answered by ``{"outputs": ...}``). A missing
float is sent as JSON ``NaN``, which TF Serving's parser accepts; a missing string has no JSON form a
string tensor accepts and is refused here, naming the column and row.
"""
from __future__ import annotations

import http.client
import json
import math
import re
import socket
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ParityInputError

__all__ = ["InProcessTarget", "RestPredictTarget", "golden_batches", "parse_predict_url"]

_PREDICT_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:predict$")


def golden_batches(frame: Any, batch_size: int, *, max_batches: int = 64) -> list[Any]:
    """Up to ``max_batches`` consecutive, non-overlapping slices of ``batch_size`` golden rows (fewer when
    the frame is shorter; a frame shorter than one batch is an error, not a smaller batch)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParityInputError(f"batch size must be an int >= 1, got {batch_size!r}")
    n = len(frame)
    if n < batch_size:
        raise ParityInputError(f"batch size {batch_size} needs at least {batch_size} golden rows; the split has {n}")
    count = min(max_batches, n // batch_size)
    return [frame.iloc[k * batch_size:(k + 1) * batch_size] for k in range(count)]


def _count(out: Any, expected: int, who: str) -> int:
    try:
        n = len(out)
    except TypeError:
        raise ValueError(f"{who}: predict returned {type(out).__name__}, not a sequence of scores") from None
    if n != expected:
        raise ValueError(f"{who}: {n} predictions for a batch of {expected} rows")
    return n


class InProcessTarget:
    """``side.predict(batch)`` in this process: for the legacy side featurize + predict, for the new side
    the SavedModel's serving signature (`new_platform.serving.ServingSide`)."""

    kind = "in_process"

    def __init__(self, side: Any, batches: Sequence[Any]) -> None:
        if not callable(getattr(side, "predict", None)):
            raise ParityInputError(f"in-process target: {side!r} has no predict(batch) method")
        if not batches:
            raise ParityInputError("in-process target: no batches to send")
        self.side = side
        self.batches = list(batches)
        self.name = str(getattr(side, "name", type(side).__name__))

    def __call__(self, i: int) -> int:
        batch = self.batches[i % len(self.batches)]
        return _count(self.side.predict(batch), len(batch), self.name)


def parse_predict_url(url: str) -> tuple[str, int, str]:
    """``http://HOST:PORT/v1/models/NAME[/versions/V]:predict`` -> (host, port, path); anything else is a
    ParityInputError saying what was expected."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ParityInputError(f"endpoint {url!r}: expected http://HOST:PORT/v1/models/NAME:predict "
                               "(TF Serving's REST predict URL; https is not supported)")
    if not _PREDICT_PATH.match(parts.path):
        raise ParityInputError(f"endpoint {url!r}: the path must be /v1/models/NAME:predict or "
                               f"/v1/models/NAME/versions/N:predict, got {parts.path!r}")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ParityInputError(f"endpoint {url!r}: bad port ({exc})") from None
    return parts.hostname, port, parts.path


def _json_value(value: Any, column: str, row: Any, na: Any) -> Any:
    if value is None or value is na:
        raise ParityInputError(f"column {column!r}, row {row!r}: a missing value has no TF Serving JSON form "
                               "(only a missing float can be sent, as NaN)")
    if hasattr(value, "item"):  # numpy scalar -> Python
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return value  # json writes Infinity, which TF Serving also parses
    return value


def encode_batch(batch: Any, columns: Sequence[str], fmt: str) -> bytes:
    """The request body for ``batch`` (a DataFrame) in the ``"instances"`` or ``"inputs"`` format."""
    import pandas as pd

    missing = [c for c in columns if c not in batch.columns]
    if missing:
        raise ParityInputError(f"columns {missing} are not in the golden rows (have {list(batch.columns)})")
    data = {c: [_json_value(v, c, k, pd.NA) for k, v in zip(batch.index, batch[c].tolist())] for c in columns}
    if fmt == "inputs":
        body: dict[str, Any] = {"inputs": data}
    elif fmt == "instances":
        body = {"instances": [{c: data[c][k] for c in columns} for k in range(len(batch))]}
    else:
        raise ParityInputError(f"format must be 'instances' or 'inputs', got {fmt!r}")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def decode_predictions(payload: bytes, fmt: str, output: str | None = None) -> list[Any]:
    """Scores from a predict response: ``predictions`` (row format) or ``outputs`` (columnar); a model with
    several outputs answers with named ones, and ``output`` says which to read."""
    doc = json.loads(payload)
    if not isinstance(doc, dict):
        raise ValueError(f"predict response is not a JSON object: {payload[:200]!r}")
    if "error" in doc:
        raise ValueError(f"server error: {doc['error']}")
    key = "predictions" if fmt == "instances" else "outputs"
    if key not in doc:
        raise ValueError(f"predict response has no {key!r} (keys: {sorted(doc)})")
    values = doc[key]
    if isinstance(values, dict):  # columnar, several outputs
        values = values[output] if output else next(iter(values.values()))
    elif values and isinstance(values[0], dict):  # rows, several outputs
        name = output or next(iter(values[0]))
        values = [row[name] for row in values]
    return values


class RestPredictTarget:
    """A TF Serving REST predict client: one keep-alive connection per client thread."""

    kind = "http"

    def __init__(self, url: str, batches: Sequence[Any], *, columns: Sequence[str], fmt: str = "instances",
                 output: str | None = None, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.path = parse_predict_url(url)
        if not batches:
            raise ParityInputError("HTTP target: no batches to send")
        self.url = url
        self.name = url
        self.fmt = fmt
        self.output = output
        self.timeout_s = float(timeout_s)
        self.bodies = [encode_batch(b, list(columns), fmt) for b in batches]
        self.sizes = [len(b) for b in batches]
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            conn.connect()
            # No Nagle delay on our side either (a small request must not wait for the server's ACK).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __call__(self, i: int) -> int:
        k = i % len(self.bodies)
        conn = self._connection()
        try:
            conn.request("POST", self.path, body=self.bodies[k], headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        except BaseException:
            self.close()  # a broken keep-alive connection is not reused
            raise
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}: {payload[:300].decode('utf-8', 'replace')}")
        return _count(decode_predictions(payload, self.fmt, self.output), self.sizes[k], self.url)
