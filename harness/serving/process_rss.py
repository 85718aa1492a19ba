"""Peak RSS of each side's serving path in a process of its own: what a suite run's ``cost/peak_rss``
gate compares.

A suite run measures latency and CPU with both sides in the harness's process (`harness.serving.suite_run`),
where one process's memory holds both sides and the harness: a peak-RSS ratio read there is 1 by
construction. For that gate each side the run already built is sent (pickled, over a pipe) to a fresh
child Python process of its own (an argument list, no shell; it opens no socket). The child

1. imports the side's runtime (the modules its pickle names, and those it declares in
   ``serving_runtime``: `new_platform.serving.ServingSide` names TensorFlow), reads the golden batches,
   and records its RSS ("after imports": interpreter, runtime and batches). A module that importing its
   name would not find (a suite file `parity run` imported under a synthetic name, `harness.discovery`,
   defining the side's class) is sent as its name and file, and the child loads that file under that
   name, as the parent did; any other module is imported by name, wherever it lies,
2. loads the side (unpickles it: a SavedModel side reloads its artifact) and records its RSS again,
3. predicts the first ``serve_batches`` golden batches once each (batches of the gate's batch size, the
   largest of the plan; it holds all of them, as the in-process targets do), and reports its own
   ``VmHWM``: model + runtime + serving, the figure the gate compares. A few batches reach the serving
   path's steady working set: for ctr_hgb_widedeep's HGB side all 64 gave the same peak (216.6 MB vs
   216.2 MB with 8) at 20.7 CPU s per child instead of 6.9 on the loaded 2-core box.

Children run in rounds, one per side each round (round r pairs each side's r-th child), two at a time
in ABBA order, ``repeats`` rounds: the gate reads the median of per-round ratios with
its order-statistic interval (`harness.serving.gates`), which needs 5 rounds at alpha = 0.05. Peak RSS is
nearly deterministic, so the interval is narrow; the cost is the child's start, mostly importing the
runtime (TensorFlow: several CPU seconds per child).

A side that cannot be sent (pickling fails, or it drags the golden dataset along, whose frames would be
counted as the side's memory) or whose child fails is not measured: the gate is an error of stage
``serving`` (could not judge, exit 2), naming the side and what to do.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.errors import ParityError, ParityInputError

__all__ = ["PROCESS_RUN", "SideNotSendable", "ProcessRunError", "measure_processes", "side_payload"]

SIDES = ("legacy", "new")
# Rounds (5: the fewest whose interval exists at alpha = 0.05), and a child's time limit: importing
# TensorFlow took 17-35 s wall on the loaded 2-core machine (benchmarks/BENCHMARKS.md).
PROCESS_RUN = {"repeats": 5, "timeout_s": 300.0, "serve_batches": 8}
_TAG = "PARITY-PROCESS-RSS "


def _fix(side: Any, who: str) -> str:
    """How else to measure ``side``: ``--serve`` only where it has a SavedModel to serve."""
    from harness.serving.bench import has_saved_model

    serve = f" (or --serve {who}: its SavedModel)" if has_saved_model(side) else ""
    return f"measure that side's own server instead: parity serve-bench SUITE --endpoint {who}=URL --pid {who}=PID{serve}"


class SideNotSendable(ParityInputError):
    """A side that cannot be sent to a serving process of its own."""


class ProcessRunError(ParityError):
    """A side's serving process failed (exit status, timeout, an error while loading or predicting)."""


class _RecordingPickler(pickle.Pickler):
    """Pickles a side and records the modules its objects come from (imported by the child before it
    loads the side, so "after imports" is the runtime and "after load" adds the model)."""

    def __init__(self, file: Any, who: str, fix: str) -> None:
        super().__init__(file, protocol=5)
        self.who, self.fix = who, fix
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        from harness.featurization.spec import FeatureSpec
        from harness.golden.registry import GoldenDataset

        if type(obj) is FeatureSpec:  # its read-only vocabularies (mappingproxy) do not pickle: send its document
            self.modules.add(FeatureSpec.__module__)
            return FeatureSpec.from_dict, (obj.to_dict(),)
        if isinstance(obj, GoldenDataset):
            raise SideNotSendable(
                f"side {self.who}: its object graph holds the golden dataset {obj.name!r} (a lazily built "
                "side keeping its dataset?); its serving process would hold the dataset's frames and count "
                "them as the side's memory. Give the wrapper a __reduce_ex__ that sends only the trained side, "
                f"or {self.fix}")
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            module = getattr(obj, "__module__", None)
        else:
            module = type(obj).__module__
        if isinstance(module, str) and module not in ("builtins", "__main__"):
            self.modules.add(module)
        return NotImplemented


def _import_name_finds(name: str, file: str) -> bool:
    """Whether importing ``name`` afresh (as the child does, with this sys.path) finds ``file``: asks the
    import system's finders directly, since ``importlib.util.find_spec`` answers from ``sys.modules``."""
    parent, _, _ = name.rpartition(".")
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and path is None:
        return False
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, path, None)
        except Exception:  # noqa: BLE001 - a finder that cannot answer does not find it
            continue
        if spec is not None:
            origin = spec.origin or ""
            return os.path.isfile(origin) and os.path.samefile(origin, file)
    return False


def _preload_entry(name: str) -> list[str | None]:
    """``[name, None]`` for a module the child imports by name; ``[name, file]`` for one it cannot (a suite
    file that `parity run` imported under a synthetic name, `harness.discovery`): the child loads that
    file under that name, as this process did, before it unpickles the side."""
    file = getattr(sys.modules.get(name), "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py") or not os.path.isfile(file):
        return [name, None]  # built in, compiled, or not loaded here: the child imports it by name
    return [name, None] if _import_name_finds(name, file) else [name, file]


def side_payload(side: Any, who: str) -> tuple[bytes, list[str]]:
    """``side`` pickled for its serving process, and the modules the child imports before loading it.
    Raises `SideNotSendable` naming ``who`` and the pickling error."""
    buf = io.BytesIO()
    pickler = _RecordingPickler(buf, who, _fix(side, who))
    try:
        pickler.dump(side)
    except SideNotSendable:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever pickle raises, the side cannot be sent
        raise SideNotSendable(
            f"side {who} ({type(side).__name__}) cannot be sent to a serving process of its own: pickling "
            f"failed ({type(exc).__name__}: {exc}), so its peak RSS was not measured. Make it picklable "
            f"(a __reduce__ that reloads it from its artifact, as new_platform.serving.ServingSide has), or "
            f"{pickler.fix}"
        ) from exc
    declared = getattr(side, "serving_runtime", ())
    runtime = [declared] if isinstance(declared, str) else list(declared or ())
    return buf.getvalue(), list(dict.fromkeys(["numpy", "pandas", *runtime, *sorted(pickler.modules)]))


def _run_child(stdin_bytes: bytes, who: str, timeout_s: float) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "harness.serving.process_rss"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(stdin_bytes, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ProcessRunError(f"side {who}: its serving process did not finish within {timeout_s:g} s") from None
    except BrokenPipeError:  # the child died before reading everything; its output says why
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.startswith(_TAG)]
    doc = json.loads(lines[-1][len(_TAG):]) if lines else None
    tail = err.decode("utf-8", "replace")[-1500:].strip()
    if doc is None or "error" in doc or proc.returncode != 0:
        what = doc["error"] if doc and "error" in doc else f"exit status {proc.returncode}"
        raise ProcessRunError(f"side {who}: its serving process failed ({what}); stderr: "
                              + (f"(last 1500 characters)\n{tail}" if tail else "(no output)"))
    doc["wall_s"] = wall
    doc["pid"] = proc.pid
    return doc


def measure_processes(pair: Any, batches: Sequence[Any], *, repeats: int = PROCESS_RUN["repeats"],
                      timeout_s: float = PROCESS_RUN["timeout_s"],
                      serve_batches: int = PROCESS_RUN["serve_batches"]) -> dict[str, Any]:
    """Each side of ``pair`` served by ``repeats`` fresh child processes of its own (two at a time, in ABBA
    order), holding ``batches`` and predicting the first ``serve_batches`` of them;
    returns per side the runs, their medians and what the child imported. Raises `SideNotSendable` or
    `ProcessRunError` naming the side."""
    import numpy as np

    payloads = {s: side_payload(getattr(pair, s), s) for s in SIDES}
    batches_bytes = pickle.dumps(list(batches), protocol=5)
    # What each child reads from stdin, in order: where to import from and what, the batches, the side.
    header = {"sys_path": list(sys.path), "serve": serve_batches}
    stdin = {s: pickle.dumps({**header, "preload": [_preload_entry(m) for m in payloads[s][1]]}, protocol=5)
             + batches_bytes + payloads[s][0] for s in SIDES}
    # Two children at a time, queued in ABBA order with no barrier between rounds: a side whose child
    # starts faster (no TensorFlow to import) does not leave a core idle while the other one imports.
    with ThreadPoolExecutor(max_workers=len(SIDES), thread_name_prefix="serving-process") as pool:
        futures: dict[str, list[Any]] = {s: [] for s in SIDES}
        for r in range(repeats):
            for s in (SIDES if r % 2 == 0 else SIDES[::-1]):
                futures[s].append(pool.submit(_run_child, stdin[s], s, timeout_s))
        try:
            runs = {s: [f.result() for f in futures[s]] for s in SIDES}
        except BaseException:
            for f in (f for fs in futures.values() for f in fs):
                f.cancel()  # a failed side fails the gate: the queued children would only cost time
            raise
    keys = ("peak_rss_mb", "rss_after_imports_mb", "rss_after_load_mb", "cpu_s", "wall_s", "imports_s", "load_s",
            "serve_s")
    sides = {}
    for s in SIDES:
        median = {k: float(np.median([run[k] for run in runs[s]])) for k in keys}
        sides[s] = {"runtime_modules": payloads[s][1], "payload_bytes": len(payloads[s][0]),
                    "median": median, "runs": [{k: run[k] for k in (*keys, "predictions", "pid")} for run in runs[s]]}
    return {"scope": "process", "repeats": repeats, "batch_size": len(batches[0]) if batches else 0,
            "n_batches": len(batches), "n_served": min(serve_batches, len(batches)), "sides": sides,
            "note": "each side served by fresh child processes of its own: peak RSS is the child's VmHWM "
                    "(runtime + model + serving); after imports: interpreter, runtime and golden batches, "
                    "before the side is loaded"}


# -- the child ----------------------------------------------------------------------------------------------

def _status_mb(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process; without /proc (macOS), the peak so far (``ru_maxrss``), which
    over-states the current RSS only by what was freed since the peak."""
    from harness.serving.cost import _maxrss_mb

    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mb()


def _load_file(name: str, file: str) -> None:
    """Import ``file`` as module ``name`` (how `harness.discovery` imported it in the parent), so that
    the classes the side's pickle names under ``name`` resolve."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file} as {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def _child() -> int:
    import importlib
    import resource

    stdin = sys.stdin.buffer
    clock = [time.perf_counter()]
    stage = "header"
    try:
        # Unpickling here trusts nothing new: the bytes come over a pipe from the harness process that
        # spawned this one, and are objects that process built in this run (never a file).
        header = pickle.load(stdin)
        sys.path[:] = header["sys_path"]
        stage = "imports"
        for module, file in header["preload"]:
            if file is None:
                importlib.import_module(module)
            elif module not in sys.modules:
                _load_file(module, file)
        stage = "batches"
        batches = pickle.load(stdin)
        after_imports = _status_mb("VmRSS")
        clock.append(time.perf_counter())
        stage = "load"
        side = pickle.load(stdin)
        after_load = _status_mb("VmRSS")
        clock.append(time.perf_counter())
        stage = "predict"
        n = 0
        for batch in batches[:header["serve"]]:
            scores = side.predict(batch)
            if len(scores) != len(batch):
                raise ValueError(f"{len(scores)} predictions for a batch of {len(batch)} rows")
            n += len(scores)
        peak = _status_mb("VmHWM")
        clock.append(time.perf_counter())
    except BaseException as exc:  # noqa: BLE001 - the parent reports it, naming the side
        print(_TAG + json.dumps({"error": f"{stage}: {type(exc).__name__}: {exc}"}), flush=True)
        return 1
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(_TAG + json.dumps({"peak_rss_mb": peak, "rss_after_imports_mb": after_imports,
                             "rss_after_load_mb": after_load, "cpu_s": use.ru_utime + use.ru_stime,
                             "predictions": n, "imports_s": clock[1] - clock[0], "load_s": clock[2] - clock[1],
                             "serve_s": clock[3] - clock[2]}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as the child, in its own process
    sys.exit(_child())
