"""A suite's scoring as an Apache Beam pipeline: ``parity run --runner beam`` / ``pytest --parity-runner beam``.

The driver (this process) loads and verifies the dataset, reads the evaluation columns, draws the row
sample and builds and fits the pair, exactly as the streamed run does (`harness.scale.suite_stream`).
The scoring then runs on Beam (the DirectRunner by default; Dataflow, Flink or Spark by Beam's own
pipeline options):

- input: the split's Parquet row groups, one element each (with the sampled rows it keeps); a step
  reads its row group, checks its values as `GoldenDataset.frame` does, and cuts its rows at the
  suite's batch borders (multiples of ``batch_size`` counted from the first kept row, as in memory);
- a `GroupByKey` on the batch number puts each batch back together (a batch can straddle row groups),
  so every batch a side scores holds exactly the rows it holds in memory (a model's float result may
  depend on its batch);
- one DoFn scores each batch with both sides and featurizes it: the two sides' scores for a row meet in
  that DoFn (the equivalent of a CoGroupByKey on the row key: both sides see the same batch anyway, and
  joining afterwards would shuffle every score once more for nothing). It loads the pair once per
  worker in ``setup()``: the pair the driver fitted, carried in the DoFn as cloudpickle bytes, so every
  worker scores with the very sides the in-memory run would use (no refit per worker, any side that
  pickles; a side that does not is refused before the pipeline starts, naming the suite);
- the features of each batch are checked on the worker and the per-batch results merged by a
  `CombineFn` over `FeatureMerge` (order-independent: the result is the one in row order);
- each batch's scores (a key-indexed Series per side, as Arrow IPC) come back through text files under
  ``--temp_location`` when the options give one, else a local temporary folder, as in
  `harness.scale.beam`; the driver puts them back in batch order (by position in the split, never
  arrival order), re-hashes the split and runs the same post-scoring checks as the streamed run
  (`suite_stream.finish`), so report.json is the in-memory run's byte for byte apart from ``measured``.

A side that fails inside the pipeline does not raise there (a runner would retry it, then wrap the
error in its own): its batch goes to an error output, and after the run the earliest one (by row
position) is raised as the streamed run's `ScorerError`, naming the side, the batch, its rows, its keys
and its row groups; nothing of the suite is reported. A row group whose values fail the dataset's checks (a NaN in a
non-nullable column) goes the same way, as the `GoldenDataError` the in-memory run raises.

A runner other than the DirectRunner named in the options is handed to Beam unchanged (tests cover the
DirectRunner only, in process and multi-process). With ``--temp_location`` the split is first copied
there (hashed as it is copied: the bytes the manifest names), so remote workers read it from storage
they can reach, and the results come back through the same folder, which is removed afterwards. The
workers need the harness and the suite's dependencies installed (Beam's ``--setup_file``,
``--requirements_file`` or ``--sdk_container_image``); the suite's own modules travel with the pair.
"""
from __future__ import annotations

import base64
import json
import sys
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import GoldenDataError, ParityInputError, ScorerError
from harness.results import CheckResult
from harness.verdicts import Verdict

__all__ = ["pipeline_options", "run_suite_beam"]

_ERRORS = {"ScorerError": ScorerError, "GoldenDataError": GoldenDataError, "ParityInputError": ParityInputError}


def pipeline_options(flags: Any, *, flag: str = "--beam-options"):
    """`PipelineOptions` from Beam flags (a list of strings, a `PipelineOptions`, or None for
    ``$PARITY_BEAM_OPTIONS``), checked as ``parity compare --runner beam`` checks them; errors name ``flag``
    (a missing extra, an unknown flag, a bad value: Beam's own parser would exit the process)."""
    from harness.scale.beam import _beam, _options

    _beam()
    if isinstance(flags, tuple):
        flags = list(flags)
    try:
        return _options(flags)
    except ParityInputError as exc:
        if flags is None:  # $PARITY_BEAM_OPTIONS: its own words name it
            raise
        if exc.reason == "invalid Beam pipeline option":
            raise ParityInputError(f"{flag} {flags!r}: {exc.detail}", argument=flag, value=flags,
                                   reason=exc.reason, detail=exc.detail) from None
        raise ParityInputError(f"{flag}: {exc.value} are not Beam pipeline options (flags given: {flags})",
                               argument=flag, value=exc.value, reason="unknown Beam pipeline option") from None


def run_suite_beam(suite: Any, *, sample: int | None = None, seed: int = 0, root: Any = None,
                   keep: dict[str, Any] | None = None, beam_options: Any = None):
    """`harness.runner.run_suite` with the scoring on Beam; ``beam_options``: Beam pipeline flags (a list
    of strings, or a `PipelineOptions`; None: ``$PARITY_BEAM_OPTIONS``, as ``parity compare --runner beam``)."""
    from harness.scale import suite_stream as ss
    from harness.scale.beam import _beam
    from harness.scale.stream import DEFAULT_CHUNK_ROWS

    beam = _beam()  # before any data is read: a missing extra is a usage error
    opts = pipeline_options(beam_options)
    split = ss.load_split(suite, sample=sample, seed=seed, root=root, chunk_rows=DEFAULT_CHUNK_ROWS, how="Beam")
    want_rows = ss.serving_rows_wanted(suite, keep)
    head = _head(split, suite, want_rows)
    pair = ss.build_pair(suite, split, head[0])
    split.stages.next(f"scoring {len(split.frame):,} rows with both sides on Beam")
    payload = _pickled_pair(suite, pair)
    out = _run(beam, opts, suite, split, payload)
    split.cost.update(out["spent"])
    feature_checks = out["features"] if suite.features else None
    keep_frame = pd.concat(head, ignore_index=True).iloc[:want_rows] if want_rows else head[0]
    return ss.finish(suite, split, out["scores"], feature_checks, pair=pair, seed=seed, keep=keep,
                     keep_frame=keep_frame)


def _head(split, suite, want_rows: int) -> list[pd.DataFrame]:
    """The first kept rows, read here in whole batches: the first (the pair's checks before scoring read
    its first row) and as many more as the serving gates read; the rest is read on the workers."""
    from harness.scale.suite_stream import _chunks

    out, have, bs = [], 0, suite.batch_size
    for _, chunk in _chunks(split.path, split.keep_pos, bs, bs, lambda t: split.check_values(t, suite.split)):
        out.append(chunk)
        have += len(chunk)
        if have >= want_rows:
            break
    return out


def _pickled_pair(suite, pair) -> bytes:
    """The fitted pair as cloudpickle bytes. The suite's own modules (its file, the helpers next to it)
    cannot be imported by name in a fresh worker process, so they travel by value."""
    import cloudpickle

    modules = _suite_modules(suite)
    for m in modules:
        cloudpickle.register_pickle_by_value(m)
    try:
        return cloudpickle.dumps(pair)
    except Exception as exc:
        raise ParityInputError(f"suite {suite.name!r}: --runner beam carries the fitted pair to the workers by "
                               f"pickling it, and it does not pickle ({type(exc).__name__}: {exc}); run this suite "
                               "in process (--stream for a split larger than memory)", argument="--runner") from exc
    finally:
        for m in modules:
            cloudpickle.unregister_pickle_by_value(m)


def _suite_modules(suite) -> list[Any]:
    where = getattr(sys.modules.get(getattr(suite.pair, "__module__", None) or ""), "__file__", None)
    if where is None:
        return []
    folder = Path(where).resolve().parent
    if {"site-packages", "dist-packages"} & set(folder.parts):  # an installed package: importable everywhere
        return []
    out = []
    for name, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None)
        if f and Path(f).resolve().parent == folder and not name.startswith("harness"):
            out.append(m)
    return out


# ---------------------------------------------------------------------------------------------
# the driver's plan: row groups and the kept rows in each
# ---------------------------------------------------------------------------------------------

def _plan(path, keep_pos: np.ndarray | None) -> list[tuple[int, int, int, int, Any]]:
    """(row group, its first row in the file, its rows, its first kept row, the kept rows' offsets in it
    or None for all) of every row group that keeps a row."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(str(path)).metadata
    plan, pos, kept = [], 0, 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if keep_pos is None:
            take, m = None, n
        else:
            lo, hi = np.searchsorted(keep_pos, [pos, pos + n])
            take, m = (keep_pos[lo:hi] - pos).astype(np.int64), int(hi - lo)
        if m:
            plan.append((g, pos, n, kept, take))
        pos, kept = pos + n, kept + m
    return plan


# ---------------------------------------------------------------------------------------------
# the pipeline's steps (module level: Beam pickles them by reference)
# ---------------------------------------------------------------------------------------------

def _error(at: tuple, cls: str, text: str):
    from apache_beam.pvalue import TaggedOutput

    return TaggedOutput("errors", (at, cls, text))


def _read_row_group(unit, *, source: str, path: str, split: str, dataset: Any, batch_size: int):
    """One row group's kept rows, cut at the suite's batch borders: (batch, (first kept row, group, table)).
    ``source`` is read (the split, or its copy staged under temp_location); ``path`` names it in errors."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    g, pos, n, kept, take = unit
    try:
        with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            table = pq.ParquetFile(fh).read_row_group(g)
        if take is not None:
            table = table.take(pa.array(take))
        dataset._check_values(table, split, path)  # row numbers in its message count from the row group
    except Exception as exc:
        cls = type(exc).__name__ if type(exc).__name__ in _ERRORS else "GoldenDataError"
        yield _error((kept, 0), cls, f"row group {g} (rows {pos}-{pos + n - 1} of the file): {exc}")
        return
    end = kept + table.num_rows
    b = kept // batch_size
    while b * batch_size < end:
        lo, hi = max(kept, b * batch_size), min(end, (b + 1) * batch_size)
        yield b, (lo, g, table.slice(lo - kept, hi - lo))
        b += 1


def _ScoreFn(beam):
    class ScoreFn(beam.DoFn):
        """Both sides' scores and features for one whole batch; the pair is loaded once per worker."""

        def __init__(self, payload: bytes, params: SimpleNamespace, n_rows: int) -> None:
            self._payload, self._p, self._n_rows = payload, params, n_rows
            self._pair = None

        def setup(self) -> None:
            import cloudpickle

            # Bytes this run's driver pickled (its own fitted pair) and carried inside this DoFn, never a
            # file: not an untrusted input.
            self._pair = cloudpickle.loads(self._payload)

        def process(self, element):
            b, pieces = element
            yield from _score_batch(self._pair, self._p, self._n_rows, b, sorted(pieces, key=lambda p: p[0]))

    return ScoreFn


def _score_batch(pair, p, n_rows: int, b: int, pieces):
    import pyarrow as pa
    from apache_beam.pvalue import TaggedOutput

    from harness import runner
    from harness.checks.features import check_features
    from harness.scale.suite_stream import _chunk_features

    start = b * p.batch_size
    rows = min(p.batch_size, n_rows - start)
    if sum(t.num_rows for _, _, t in pieces) != rows:  # a row group of it failed its checks: reported there
        return
    batch = pa.concat_tables([t for _, _, t in pieces]).to_pandas().reset_index(drop=True)
    groups = sorted({g for _, g, _ in pieces})
    keys = pd.Index(batch[p.key].to_numpy())
    clock = runner.SideClock()
    feats: dict[str, list[pd.DataFrame]] = {"legacy": [], "new": []}
    scores = {}
    for order, (role, side) in enumerate((("legacy", pair.legacy), ("new", pair.new))):
        try:
            predicted = clock.timed(f"predict:{role}", lambda: side.predict(batch))
            scores[role] = runner._as_keyed(f"{role} side {side.name!r}", predicted, keys, start=start)
            if p.want_features:
                f = clock.timed(f"featurize:{role}", lambda: runner._featurize(side, batch))
                if f is not None:
                    feats[role].append(f)
        except Exception as exc:
            yield _error((start, 1 + order), "ScorerError", _stopped(p, role, side, b, start, batch, groups, exc))
            return
    if p.want_features:
        try:
            parts = _chunk_features(p.suite, p.dataset, batch, feats, check_features)
        except ParityInputError as exc:
            yield _error((start, 3), "ParityInputError", str(exc))
            return
        yield TaggedOutput("features", (b, parts))
    for role, s in scores.items():
        try:
            data = _series_bytes(s)
        except Exception as exc:  # an index Arrow cannot hold (mixed types)
            yield _error((start, 4), "ScorerError", f"suite {p.suite.name!r}: the {role} side's scores for batch "
                         f"{b} (rows {start}-{start + rows - 1}) cannot be carried back from the Beam workers: "
                         f"{type(exc).__name__}: {exc}")
            return
        yield TaggedOutput("scores", json.dumps(["scores", b, role, data]))
    yield TaggedOutput("spent", clock.stages(p.want_features))


def _stopped(p, role, side, b, start, batch, groups, exc) -> str:
    from harness.scale.suite_stream import _plain

    k = batch[p.key]
    where = f"row group {groups[0]}" if len(groups) == 1 else f"row groups {groups[0]}-{groups[-1]}"
    return (f"suite {p.suite.name!r}: the {role} side {getattr(side, 'name', role)!r} failed on batch {b} "
            f"(rows {start}-{start + len(batch) - 1}, keys {p.key}={_plain(k.iloc[0])!r}..{_plain(k.iloc[-1])!r}, "
            f"{where} of {p.path}): {type(exc).__name__}: {exc}; the Beam run's results were discarded and "
            "nothing of this suite is reported")


def _series_bytes(s: pd.Series) -> str:
    """A key-indexed score Series as base64 Arrow IPC: the index keeps its dtype (the Series' name is
    read by no check and is not kept)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(pd.DataFrame({"score": s.to_numpy()}, index=s.index), preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def _series(text: str) -> pd.Series:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(base64.b64decode(text))) as r:
        return r.read_all().to_pandas()["score"].rename(None)


def _FeatureCombine(beam, features: list[str]):
    from harness.scale.suite_stream import FeatureMerge

    class FeatureCombine(beam.CombineFn):
        """Every feature's `FeatureMerge` over the batches (merged in any order, the result in row order)."""

        def create_accumulator(self):
            return {name: FeatureMerge() for name in features}

        def add_input(self, acc, element):
            b, parts = element
            for part in parts:
                acc[part.details["feature"]].add(part, at=b)
            return acc

        def merge_accumulators(self, accs):
            accs = list(accs)
            out = accs[0]
            for other in accs[1:]:
                for name, m in other.items():
                    out[name].merge(m)
            return out

        def extract_output(self, acc):  # plain JSON: the check, its message already written
            try:
                checks = [acc[name].result() for name in features]
            except ValueError:  # no batch was scored: an error says why
                return json.dumps(["features", None])
            return json.dumps(["features", [_check_doc(c) for c in checks]], allow_nan=True, default=_plain_json)

    return FeatureCombine()


def _check_doc(c: CheckResult) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "verdict": c.verdict.value, "gated": c.gated, "summary": c.summary,
            "message": c.message, "details": c.details}


def _plain_json(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


# CombineGlobally applies these to their own partial results too: each returns what it takes.

def _add_spent(values) -> dict[str, dict[str, float]]:
    total: dict[str, dict[str, float]] = {}
    for v in values:
        for name, t in v.items():
            acc = total.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            acc["wall_s"] += t["wall_s"]
            acc["cpu_s"] += t["cpu_s"]
    return total


def _first_error(values):
    """The error at the earliest row position (then stage), or None."""
    values = [v for v in values if v is not None]
    return min(values, key=lambda e: tuple(e[0])) if values else None


def _tagged(name):
    return lambda v: json.dumps([name, v])


def _run(beam, opts, suite, split, payload: bytes) -> dict[str, Any]:
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    from harness.golden.registry import GoldenDataset

    dataset = split.dataset
    path = str(split.path)
    plan = _plan(split.path, split.keep_pos)
    n_rows = len(split.frame)
    # a fresh dataset object for the workers' value checks: the driver's may cache frames the pair read
    checker = GoldenDataset(dataset._manifest, dataset.root)
    params = SimpleNamespace(
        key=dataset.key, batch_size=suite.batch_size, want_features=bool(suite.features), path=path,
        suite=SimpleNamespace(name=suite.name, features=list(suite.features),
                              categorical_features=list(suite.categorical_features),
                              feature_max_ulp=suite.feature_max_ulp, feature_atol=suite.feature_atol,
                              feature_map=list(suite.feature_map)),
        dataset=SimpleNamespace(key=dataset.key, features=list(dataset.features)))
    temp = opts.view_as(GoogleCloudOptions).temp_location
    local = None if temp else tempfile.TemporaryDirectory(prefix="parity_beam_suite_")
    where = FileSystems.join(temp, f"parity-suite-{uuid.uuid4().hex}") if temp else local.name
    target = FileSystems.join(where, "results")
    try:
        source = _stage(FileSystems, split, suite.split, where) if temp else path
        with beam.Pipeline(options=opts) as p:
            pieces = (p | "row groups" >> beam.Create(plan)
                      | "read" >> beam.FlatMap(_read_row_group, source=source, path=path, split=suite.split,
                                               dataset=checker, batch_size=suite.batch_size)
                      .with_outputs("errors", main="pieces"))
            scored = (pieces.pieces | "by batch" >> beam.GroupByKey()
                      | "score" >> beam.ParDo(_ScoreFn(beam)(payload, params, n_rows)).with_outputs(
                          "scores", "features", "spent", "errors", main="none"))
            results = [(pieces.errors, scored.errors) | "errors" >> beam.Flatten()
                       | "first error" >> beam.CombineGlobally(_first_error)
                       | "tag error" >> beam.Map(_tagged("error")),
                       scored.spent | "all spent" >> beam.CombineGlobally(_add_spent)
                       | "tag spent" >> beam.Map(_tagged("spent")),
                       scored.scores]
            if suite.features:
                results.append(scored.features | "features" >> beam.CombineGlobally(
                    _FeatureCombine(beam, list(suite.features))))
            results | "results" >> beam.Flatten() | "write" >> beam.io.WriteToText(target)
        return _read_results(FileSystems, target)
    finally:
        from harness.scale.beam import cleanup

        cleanup(FileSystems, local, where)


def _stage(FileSystems, split, name: str, where: str) -> str:
    """The split copied under temp_location, where a remote runner's workers can read it (they cannot
    read this machine's disk); the bytes copied are the bytes the manifest's sha256 names."""
    import hashlib

    from apache_beam.io.filesystems import CompressionTypes

    target = FileSystems.join(where, "split.parquet")
    digest = hashlib.sha256()
    raw = CompressionTypes.UNCOMPRESSED
    with open(split.path, "rb") as src, FileSystems.create(target, compression_type=raw) as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    expected = split.dataset.manifest["splits"][name]["sha256"]
    if digest.hexdigest() != expected:
        raise GoldenDataError(f"golden dataset {split.dataset.name!r} split {name!r}: file {split.path}: sha256 "
                              f"{digest.hexdigest()} does not match the manifest's {expected}; it changed on disk "
                              "during the Beam run")
    return target


def _read_results(FileSystems, target: str) -> dict[str, Any]:
    import io

    parts: dict[str, list[tuple[int, pd.Series]]] = {"legacy": [], "new": []}
    out: dict[str, Any] = {"features": None, "spent": {}}
    error = None
    files = sorted(m.path for r in FileSystems.match([target + "*"]) for m in r.metadata_list)
    for name in files:
        with FileSystems.open(name) as fh:
            for line in io.TextIOWrapper(fh, encoding="utf-8"):
                if not line.strip():
                    continue
                doc = json.loads(line)
                if doc[0] == "scores":
                    parts[doc[2]].append((doc[1], _series(doc[3])))
                elif doc[0] == "error":
                    error = doc[1]
                elif doc[0] == "features" and doc[1] is not None:
                    out["features"] = [CheckResult(id=d["id"], kind=d["kind"], verdict=Verdict(d["verdict"]),
                                                   gated=d["gated"], summary=d["summary"], message=d["message"],
                                                   details=d["details"]) for d in doc[1]]
                elif doc[0] == "spent":
                    out["spent"] = doc[1]
    if error is not None:
        _, cls, text = error
        raise _ERRORS[cls](text)
    out["scores"] = {role: pd.concat([s for _, s in sorted(ps, key=lambda x: x[0])]) if ps
                     else pd.Series(dtype=np.float64) for role, ps in parts.items()}
    return out
