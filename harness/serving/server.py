"""A local stand-in for TensorFlow Serving's REST predict API, in its own process, bound to 127.0.0.1.

TF Serving's model server cannot be installed here, so the benchmarks and tests serve a SavedModel (or
any scorer) with this small server and measure it through the same client a user points at a real TF
Serving. It is stdlib `http.server.ThreadingHTTPServer`: a thread per connection, HTTP/1.1 keep-alive,
no dependency to install, and nothing in the request path but JSON decoding and the model call -- it
is a floor for an HTTP serving path, not a model of TF Serving's own performance.

Run as ``python -m harness.serving.server --model-name NAME (--saved-model DIR | --noop |
--factory MODULE:CALLABLE) [--port 0]``; it prints ``LISTENING <port>`` once it accepts requests.
Endpoints (TF Serving's): ``GET /v1/models/NAME`` (status), ``POST /v1/models/NAME[/versions/N]:predict``.
A scorer is ``scorer(columns: dict[str, list]) -> list[float]`` (one score per row).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ServerProcess", "noop_scorer", "saved_model_scorer", "serve", "start_server"]

Scorer = Callable[[dict[str, list]], Sequence[float]]
LOOPBACK = "127.0.0.1"


def noop_scorer(columns: dict[str, list]) -> list[float]:
    """Zeros, one per row: the floor of the measurement (HTTP, JSON and the client's own overhead)."""
    n = len(next(iter(columns.values()))) if columns else 0
    return [0.0] * n


def saved_model_scorer(path: str, signature: str = "serving_default", output: str | None = None) -> Scorer:
    """Call a SavedModel's signature as TF Serving does: each named input built from its JSON column with
    the dtype the signature declares; the (single or named) output returned as a list."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if signature not in loaded.signatures:
        raise SystemExit(f"{path}: no signature {signature!r} (has {sorted(loaded.signatures)})")
    fn = loaded.signatures[signature]
    specs = fn.structured_input_signature[1]
    outputs = list(fn.structured_outputs)
    name = output or outputs[0]

    def scorer(columns: dict[str, list]) -> list[float]:
        unknown = sorted(set(columns) - set(specs))
        missing = sorted(set(specs) - set(columns))
        if unknown or missing:
            raise ValueError(f"inputs do not match signature {signature!r}: missing {missing}, unknown {unknown}")
        tensors = {k: tf.constant(columns[k], dtype=spec.dtype) for k, spec in specs.items()}
        return fn(**tensors)[name].numpy().reshape(-1).tolist()

    return scorer


def _columns(doc: Any) -> tuple[dict[str, list], str]:
    if not isinstance(doc, dict):
        raise ValueError("the request body must be a JSON object with 'instances' or 'inputs'")
    if "instances" in doc:
        rows = doc["instances"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError("'instances' must be a non-empty list of objects {input: value}")
        names = list(rows[0])
        if any(list(r) != names for r in rows):
            raise ValueError("every instance must name the same inputs")
        return {n: [r[n] for r in rows] for n in names}, "instances"
    if "inputs" in doc:
        inputs = doc["inputs"]
        if not isinstance(inputs, dict) or not inputs or not all(isinstance(v, list) for v in inputs.values()):
            raise ValueError("'inputs' must be an object {input: [values...]}")
        if len({len(v) for v in inputs.values()}) != 1:
            raise ValueError("every input in 'inputs' must have the same length")
        return dict(inputs), "inputs"
    raise ValueError(f"the request body has neither 'instances' nor 'inputs' (keys: {sorted(doc)})")


def make_handler(model_name: str, scorer: Scorer) -> type[BaseHTTPRequestHandler]:
    predict = re.compile(rf"^/v1/models/{re.escape(model_name)}(?:/versions/\d+)?:predict$")
    status = re.compile(rf"^/v1/models/{re.escape(model_name)}(?:/versions/\d+)?$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's clients use it
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
        # ACK (40 ms on Linux) and every request measures that instead of the model.
        disable_nagle_algorithm = True

        def _send(self, code: int, doc: Any) -> None:
            body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if status.match(self.path):
                self._send(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                           "status": {"error_code": "OK", "error_message": ""}}]})
            else:
                self._send(404, {"error": f"no model at {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not predict.match(self.path):
                self._send(404, {"error": f"no predict endpoint at {self.path}"})
                return
            try:
                columns, fmt = _columns(json.loads(raw))
                scores = list(scorer(columns))
            except Exception as exc:  # noqa: BLE001 - TF Serving answers 400 with the reason
                self._send(400, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._send(200, {"predictions": scores} if fmt == "instances" else {"outputs": scores})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - one line per request is noise
            pass

    return Handler


def serve(model_name: str, scorer: Scorer, *, port: int = 0, ready: Callable[[int], None] | None = None) -> None:
    httpd = ThreadingHTTPServer((LOOPBACK, port), make_handler(model_name, scorer))
    httpd.daemon_threads = True
    if ready is not None:
        ready(httpd.server_address[1])
    httpd.serve_forever()


def _load_factory(spec: str) -> Scorer:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise SystemExit(f"--factory {spec!r}: expected MODULE:CALLABLE")
    return getattr(importlib.import_module(module), attr)()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.serving.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port (printed)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--saved-model", metavar="DIR")
    which.add_argument("--noop", action="store_true", help="answer zeros (the measurement's floor)")
    which.add_argument("--factory", metavar="MODULE:CALLABLE", help="a callable returning a scorer")
    parser.add_argument("--signature", default="serving_default")
    args = parser.parse_args(argv)
    if args.saved_model:
        scorer = saved_model_scorer(args.saved_model, args.signature)
    elif args.noop:
        scorer = noop_scorer
    else:
        scorer = _load_factory(args.factory)

    def ready(port: int) -> None:
        print(f"LISTENING {port}", flush=True)

    serve(args.model_name, scorer, port=args.port, ready=ready)


class ServerProcess:
    """A running `harness.serving.server` child: ``url`` (its predict URL), ``pid``, ``cold_start_s``
    (from spawning it to its first answered prediction, when ``start_server`` probed one), ``stop()``."""

    def __init__(self, proc: subprocess.Popen, port: int, model_name: str, started: float) -> None:
        self.proc = proc
        self.port = port
        self.model_name = model_name
        self.started = started
        self.cold_start_s: float | None = None
        self.output_tail: list[str] = []

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.output_tail = (self.output_tail + [line])[-50:]

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1/models/{self.model_name}:predict"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(model_name: str, *, saved_model: str | None = None, noop: bool = False,
                 factory: str | None = None, timeout_s: float = 120.0,
                 probe: Callable[[str], Any] | None = None) -> ServerProcess:
    """Spawn the server (an argument list, no shell), wait for ``LISTENING``, then call ``probe(url)``
    once (e.g. one prediction) and record the cold start. Raises RuntimeError with the child's output
    if it exits or does not listen within ``timeout_s``."""
    from harness.errors import ParityError

    if sum(x is not None and x is not False for x in (saved_model, noop or None, factory)) != 1:
        raise ValueError("give exactly one of saved_model=, noop=True, factory=")
    argv = [sys.executable, "-m", "harness.serving.server", "--model-name", model_name]
    argv += ["--saved-model", str(saved_model)] if saved_model else ["--noop"] if noop else ["--factory", factory]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, text=True)
    import selectors

    lines: list[str] = []
    port = None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while port is None:
            left = started + timeout_s - time.perf_counter()
            if left <= 0 or not sel.select(timeout=left):
                proc.kill()
                proc.wait()
                raise ParityError(f"serving process did not listen within {timeout_s:g} s; output: {''.join(lines)[-2000:]}")
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                raise ParityError(f"serving process exited with {proc.returncode}: {''.join(lines)[-2000:]}")
            lines.append(line)
            if line.startswith("LISTENING "):
                port = int(line.split()[1])
    server = ServerProcess(proc, port, model_name, started)
    import threading

    # Keep reading the child's output so a chatty model (TF's warnings) never blocks on a full pipe.
    threading.Thread(target=server._drain, daemon=True, name=f"server-{proc.pid}-output").start()
    if probe is not None:
        try:
            probe(server.url)
        except BaseException:
            server.stop()
            raise
        server.cold_start_s = time.perf_counter() - started
    return server


if __name__ == "__main__":  # pragma: no cover
    main()
