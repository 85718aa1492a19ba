"""The streamed comparison on Apache Beam (optional: the ``beam`` extra; imported lazily).

`compare_beam` runs the same checks as `harness.scale.compare_stream` as one Beam pipeline, on the
DirectRunner by default and on Dataflow, Flink or Spark by Beam's own pipeline options:

- exact-sum metrics (logloss, brier, mae: ``paired``; rmse: ``delta``) are one `CombineGlobally` whose
  accumulators are `harness.scale.accumulators.PairedMean` / `DeltaRMSE` (exact integer-scaled sums, so
  any bundling and merge order gives the same state);
- auc is DeLong by a range-partitioned sort, per side: a first pass keeps a deterministic sample (the
  rows with the smallest keys, a mergeable bottom-k) whose quantiles are the range boundaries (they
  only balance the ranges; results do not depend on them); rows are routed to ranges; class counts per
  range are summed (`CombinePerKey`) into prefix counts (a side input); each range is sorted on its own
  and yields its rows' integer component numerators (`harness.scale.beam_delong`). The two sides' rows
  meet by key in hash buckets (`GroupByKey`), each bucket reduces to exact power sums, and a
  `CombineGlobally` adds them: no step holds more than one score range or one key bucket, and DeLong's
  variance comes from the merged sums (AUC bit-identical to `delong_paired`; variances, interval and
  p-values within 1e-12, p-values to the root search's tolerance).

Bad rows do not raise inside the pipeline (a runner would wrap the error in its own): they go to an
error output, and after the run the one with the smallest row key is raised as `ParityInputError`,
naming the file, the column and the row's key; nothing is reported then. Results come back through a
small text file under ``--temp_location`` when the options give one (a remote runner's workers cannot
write to this machine), else under a local temporary folder.

Unweighted, no slices or groups; pr_auc and the bootstrap metrics are refused (run them with
compare_stream). Tests run the DirectRunner in process and multi-process, and skip when apache_beam is
not importable (CI installs the extra in its own venv and requires them).
"""
from __future__ import annotations

import json
import os
import shlex
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.scale import beam_delong as _bd
from harness.scale import range_auc as _ra
from harness.scale.accumulators import DeltaRMSE, PairedMean
from harness.stats import compare as _cmp
from harness.stats._validation import input_error
from harness.stats.compare import DEFAULT_METRICS, ComparisonResult

__all__ = ["compare_beam", "beam_available"]

_SAMPLE = 65536


def beam_available() -> bool:
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        return False
    return True


def _beam():
    try:
        import apache_beam as beam
    except ImportError as exc:
        raise ParityInputError("--runner beam needs Apache Beam: pip install -e \".[beam]\" (the 'beam' extra)",
                               argument="runner", reason="apache_beam is not installed") from exc
    return beam


def _options(pipeline_options):
    """PipelineOptions from an object, a list of flags, or (None) ``$PARITY_BEAM_OPTIONS`` split as a shell
    would split it (never run by one), so ``parity compare --stream --runner beam`` reaches any runner;
    a flag no Beam options class knows is refused (Beam itself would drop it with a warning)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    if isinstance(pipeline_options, PipelineOptions):
        return pipeline_options
    if pipeline_options is None:
        where, flags = "PARITY_BEAM_OPTIONS", shlex.split(os.environ.get("PARITY_BEAM_OPTIONS", ""))
    elif isinstance(pipeline_options, (list, tuple)) and all(isinstance(a, str) for a in pipeline_options):
        where, flags = "pipeline_options", list(pipeline_options)
    else:
        raise ParityInputError(f"pipeline_options: expected PipelineOptions or a list of flags such as "
                               f"['--runner=DataflowRunner'], got {type(pipeline_options).__name__}",
                               argument="pipeline_options")
    opts = PipelineOptions(flags)
    known = opts.get_all_options()
    unknown = sorted(set(opts.get_all_options(retain_unknown_options=True)) - set(known))
    if unknown:
        raise ParityInputError(f"{where}: {unknown} are not Beam pipeline options (flags given: {flags})",
                               argument=where, value=unknown, reason="unknown Beam pipeline option")
    return opts


def _source(path: str, columns: Sequence[str]) -> list[str] | None:
    """The files of a local file or folder, its columns checked first (None for a remote pattern such as
    gs://bucket/golden/*.parquet, which the workers read)."""
    if "://" in path:
        return None
    from harness.scale.stream import _check_columns, _dataset

    ds = _dataset(path)
    _check_columns(ds, Path(path), list(dict.fromkeys(columns)))
    return sorted(ds.files)


# ---------------------------------------------------------------------------------------------
# per batch: validation (errors to a side output), row facts
# ---------------------------------------------------------------------------------------------

def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _validate(table, *, path, key, label, legacy, new, defs):
    """A Parquet batch as (keys, y bool, legacy, new) float arrays, or one error record
    ``(row key, text, column, reason)`` tagged ``errors``."""
    from apache_beam.pvalue import TaggedOutput

    if table.num_rows == 0:
        return
    for c in dict.fromkeys((key, label, legacy, new)):
        col = table.column(c)
        if col.null_count:
            import pyarrow.compute as pc

            i = int(pc.index(pc.is_null(col), True).as_py())
            first = table.column(key)[0].as_py() if c != key else None
            where = f"row {i} of the batch starting at {key}={first!r}" if c != key else "a batch"
            yield TaggedOutput("errors", ((1, first), f"{path}: column {c!r} is null at {where}; nulls are not "
                                          "scores, labels or keys", c, "null"))
            return
    cols = {c: table.column(c).to_numpy() for c in (key, label, legacy, new)}
    keys = cols[key]
    out = [keys]
    for what, col, fn in (("label column", label, lambda v: _cmp._labels(v, defs)),
                          ("legacy side column", legacy, lambda v: _cmp._scores(v, "score_legacy", v.shape[0], defs)),
                          ("new side column", new, lambda v: _cmp._scores(v, "score_new", v.shape[0], defs))):
        try:
            out.append(fn(cols[col]))
        except ParityInputError as exc:
            row = exc.row if exc.row is not None else 0
            k = _plain(keys[row])
            shown = f" is {exc.value!r}" if exc.row is not None and exc.has_value else ""
            where = (f"; row with {key}={k!r}{shown}" if exc.row is not None
                     else f" in the batch starting at {key}={k!r}")
            yield TaggedOutput("errors", ((0, k), f"{path}: {what} {col!r}: {exc.reason or exc}{where}", col,
                                          exc.reason))
            return
    out[1] = out[1].astype(bool)
    yield tuple(out)


def _facts(r) -> tuple:
    """(rows, positives, legacy == new on every row, min/max of each side) of a batch."""
    return (int(r[0].shape[0]), int(r[1].sum()), bool(np.array_equal(r[2], r[3])),
            float(r[2].min()), float(r[2].max()), float(r[3].min()), float(r[3].max()))


def _merge_facts(values) -> tuple:
    n = n_pos = 0
    same, lo_a, hi_a, lo_b, hi_b = True, np.inf, -np.inf, np.inf, -np.inf
    for v in values:
        n, n_pos, same = n + v[0], n_pos + v[1], same and v[2]
        lo_a, hi_a, lo_b, hi_b = min(lo_a, v[3]), max(hi_a, v[4]), min(lo_b, v[5]), max(hi_b, v[6])
    return (n, n_pos, same, lo_a, hi_a, lo_b, hi_b)


def _first_error(values):
    values = list(values)
    return min(values, key=lambda e: e[0]) if values else None


def _SumsFn(beam, summed):
    class SumsFn(beam.CombineFn):
        """The exact-sum accumulators of every summed metric, as one combiner."""

        def create_accumulator(self):
            return {d.name: (PairedMean(d) if d.name != "rmse" else DeltaRMSE(d)) for d in summed}

        def add_input(self, acc, rows):
            for a in acc.values():
                a.add(rows[1].astype(np.float64), rows[2], rows[3])
            return acc

        def merge_accumulators(self, accs):
            accs = list(accs)
            out = accs[0]
            for other in accs[1:]:
                out = {k: v.merge(other[k]) for k, v in out.items()}
            return out

        def extract_output(self, acc):  # the exact integers, as text
            return {k: {"kind": "paired" if isinstance(v, PairedMean) else "delta", "n": v.n,
                        "totals": [str(s._total) for s in v._s]} for k, v in acc.items()}

    return SumsFn()


def _read_sums(state: dict, summed) -> dict:
    out = {}
    for d in summed:
        acc = PairedMean(d) if state[d.name]["kind"] == "paired" else DeltaRMSE(d)
        acc.n = state[d.name]["n"]
        for s, total in zip(acc._s, state[d.name]["totals"]):
            s._total = int(total)
        out[d.name] = acc
    return out


# ---------------------------------------------------------------------------------------------
# auc: range-partitioned components per side, joined by key bucket into exact power sums
# ---------------------------------------------------------------------------------------------

def _bottom_k(values, k=_SAMPLE):
    """The k rows with the smallest keys among (keys, scores) pairs: a deterministic, mergeable sample."""
    values = list(values)
    keys = np.concatenate([v[0] for v in values]) if values else np.empty(0)
    scores = np.concatenate([v[1] for v in values]) if values else np.empty(0)
    if keys.shape[0] > k:
        keep = np.argpartition(keys, k - 1)[:k]
        keys, scores = keys[keep], scores[keep]
    return (keys, scores)


def _route(r, bounds, j):
    rid = _ra.range_of(r[j], bounds)
    for g in np.unique(rid).tolist():
        m = rid == g
        yield g, (r[0][m], r[1][m], r[j][m])


def _range_counts(kv):
    y = kv[1][1]
    return kv[0], (int(y.shape[0] - y.sum()), int(y.sum()))


def _add_pairs(pairs):
    neg = pos = 0
    for a, b in pairs:
        neg, pos = neg + a, pos + b
    return (neg, pos)


def _prefix(counts):
    counts = sorted(counts)
    arr = np.array([c for _, c in counts], dtype=np.int64).reshape(-1, 2)
    neg_before, pos_after = _ra.prefix_counts(arr)
    return {g: (int(nb), int(pa)) for (g, _), nb, pa in zip(counts, neg_before, pos_after)}


def _range_rows(kv, prefix, side, n_buckets):
    """One score range: its rows' component numerators, sent on by key bucket."""
    g, parts = kv
    parts = list(parts)
    keys = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    s = np.concatenate([p[2] for p in parts])
    neg_before, pos_after = prefix[g]
    k = _bd.integer_components(y, s, neg_before, pos_after)
    bucket = _bd.key_buckets(keys, n_buckets)
    for b in np.unique(bucket).tolist():
        m = bucket == b
        yield b, (side, keys[m], y[m], k[m])


def _bucket_sums(kv):
    _, parts = kv
    sides = []
    for side in (0, 1):
        mine = [p for p in parts if p[0] == side]
        sides.append(tuple(np.concatenate([p[i] for p in mine]) for i in (1, 2, 3)))
    pos, neg, dup = _bd.join_bucket(sides[0], sides[1])
    return pos.to_list(), neg.to_list(), dup


def _bucket_keys(r, n_buckets):
    bucket = _bd.key_buckets(r[0], n_buckets)
    for b in np.unique(bucket).tolist():
        yield b, r[0][bucket == b]


def _bucket_repeats(kv):
    keys = np.sort(np.concatenate(list(kv[1])), kind="stable")
    rep = np.flatnonzero(keys[1:] == keys[:-1])
    return [], [], [keys[rep[0]].item() if rep.size else None, int(rep.size)]


def _merge_bucket_sums(values):
    pos, neg, dup = _bd.ClassMoments(), _bd.ClassMoments(), [None, 0]
    for p, q, d in values:  # p, q empty: a bucket of keys only (no auc), checked for repeats
        if p:
            pos, neg = pos.merge(_bd.ClassMoments(*p)), neg.merge(_bd.ClassMoments(*q))
        if d[0] is not None:
            dup = [d[0] if dup[0] is None else min(dup[0], d[0]), dup[1] + d[1]]
        else:
            dup = [dup[0], dup[1] + d[1]]
    return pos.to_list(), neg.to_list(), dup


def _components(beam, rows, j: int, side: str, n_ranges: int, n_buckets: int):
    bounds = (rows | f"{side}: sample" >> beam.Map(lambda r, j=j: _bottom_k([(r[0], r[j])]))
              | f"{side}: sample all" >> beam.CombineGlobally(_bottom_k)
              | f"{side}: boundaries" >> beam.Map(lambda ks, k=n_ranges: _ra.boundaries_from_sample(ks[1], k)))
    routed = rows | f"{side}: route" >> beam.FlatMap(_route, beam.pvalue.AsSingleton(bounds), j)
    prefix = (routed | f"{side}: counts" >> beam.Map(_range_counts)
              | f"{side}: sum counts" >> beam.CombinePerKey(_add_pairs)
              | f"{side}: all counts" >> beam.combiners.ToList()
              | f"{side}: prefix" >> beam.Map(_prefix))
    return (routed | f"{side}: by range" >> beam.GroupByKey()
            | f"{side}: components" >> beam.FlatMap(_range_rows, beam.pvalue.AsSingleton(prefix), j - 2, n_buckets))


# ---------------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------------

def _tagged(name):
    return lambda v: json.dumps([name, v])


def _run(beam, opts, path: str, files, columns, validate_kw, summed, want_auc, n_ranges, n_buckets) -> dict:
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.io.parquetio import ReadAllFromParquetBatched, ReadFromParquetBatched
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    temp = opts.view_as(GoogleCloudOptions).temp_location
    local = None if temp else tempfile.TemporaryDirectory(prefix="parity_beam_")
    where = FileSystems.join(temp, f"parity-results-{uuid.uuid4().hex}") if temp else local.name
    target = FileSystems.join(where, "results.jsonl")
    try:
        with beam.Pipeline(options=opts) as p:
            if files is None:
                tables = p | "read" >> ReadFromParquetBatched(path, columns=columns)
            else:
                tables = (p | "files" >> beam.Create(files)
                          | "read" >> ReadAllFromParquetBatched(columns=columns))
            checked = tables | "validate" >> beam.FlatMap(_validate, **validate_kw).with_outputs("errors", main="rows")
            rows = checked.rows
            results = [checked.errors | "first error" >> beam.CombineGlobally(_first_error)
                       | "tag error" >> beam.Map(_tagged("error")),
                       rows | "facts" >> beam.Map(_facts) | "all facts" >> beam.CombineGlobally(_merge_facts)
                       | "tag facts" >> beam.Map(_tagged("facts"))]
            if summed:
                results.append(rows | "sums" >> beam.CombineGlobally(_SumsFn(beam, summed))
                               | "tag sums" >> beam.Map(_tagged("sums")))
            if want_auc:
                parts = [_components(beam, rows, j, side, n_ranges, n_buckets)
                         for j, side in ((2, "legacy"), (3, "new"))]
                results.append(parts | "both sides" >> beam.Flatten() | "by key bucket" >> beam.GroupByKey()
                               | "bucket sums" >> beam.Map(_bucket_sums)
                               | "all sums" >> beam.CombineGlobally(_merge_bucket_sums)
                               | "tag auc" >> beam.Map(_tagged("auc")))
            else:  # the keys still have to be unique, as compare_stream checks
                results.append(rows | "keys" >> beam.FlatMap(_bucket_keys, n_buckets)
                               | "keys by bucket" >> beam.GroupByKey() | "repeats" >> beam.Map(_bucket_repeats)
                               | "all repeats" >> beam.CombineGlobally(_merge_bucket_sums)
                               | "tag keys" >> beam.Map(_tagged("auc")))
            (results | "results" >> beam.Flatten()
             | "write" >> beam.io.WriteToText(target, shard_name_template="", num_shards=1))
        with FileSystems.open(target) as fh:
            return dict(json.loads(line) for line in fh.read().decode("utf-8").splitlines() if line)
    finally:
        if local is not None:
            local.cleanup()
        else:
            try:
                FileSystems.delete([where])
            except Exception:  # best effort: a leftover file under temp_location is not a wrong result
                pass


def compare_beam(path: str | Path, *, label: str, legacy: str, new: str, key: str,
                 metrics: Sequence[str] = DEFAULT_METRICS, margins: Mapping[str, Any] | None = None,
                 alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, power: float = 0.8, n_ranges: int = 16,
                 n_buckets: int = 16, allow_identical: bool = False, pipeline_options: Any = None) -> ComparisonResult:
    """`compare_stream` (same arguments, score columns only) as a Beam pipeline; the DirectRunner unless
    ``pipeline_options`` (a `PipelineOptions`, or its flags as a list of strings; default: the flags in
    ``$PARITY_BEAM_OPTIONS``) says otherwise.
    ``n_ranges`` score ranges per side and ``n_buckets`` key buckets set the parallelism, not the result."""
    beam = _beam()
    _cmp._validate_options(alpha, n_boot, seed, 0, power)
    for name, v in (("n_ranges", n_ranges), ("n_buckets", n_buckets)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ParityInputError(f"{name} must be an integer >= 1, got {v!r}", argument=name, value=v)
    defs = _cmp._metric_defs(metrics)
    methods = _cmp._methods(defs, "auto", False)
    other = [d.name for d in defs if methods[d.name] not in ("paired", "delta") and d.name != "auc"]
    if other:
        raise ParityInputError(f"metric {other[0]!r} is not on the Beam runner yet (auc, logloss, brier, mae, rmse "
                               "are); use compare_stream", argument="metrics", value=other[0])
    margin_of = _cmp._margins(defs, margins)
    summed = [d for d in defs if methods[d.name] in ("paired", "delta")]
    want_auc = any(d.name == "auc" for d in defs)
    opts = _options(pipeline_options)
    path = str(path)
    columns = list(dict.fromkeys([key, label, legacy, new]))
    files = _source(path, columns)
    out = _run(beam, opts, path, files, columns,
               dict(path=path, key=key, label=label, legacy=legacy, new=new, defs=defs), summed, want_auc,
               int(n_ranges), int(n_buckets))
    if out.get("error") is not None:
        _, text, column, reason = out["error"]
        raise ParityInputError(text, file=path, column=column, reason=reason)
    n, n_pos, same, lo_a, hi_a, lo_b, hi_b = out["facts"]
    if n == 0:
        raise ParityInputError(f"{path}: has no rows; expected at least one", file=path, reason="no rows")
    if same:
        _cmp._not_identical(np.zeros(1), np.zeros(1), allow_identical)
    _, _, (dup_key, n_dup) = out["auc"]
    if n_dup:  # compare_stream's words (harness.scale.streamed._check_keys)
        raise ParityInputError(f"{path}: key column {key!r} repeats {key}={dup_key!r} ({n_dup} repeated key(s)); "
                               "each row needs its own key", file=path, column=key, reason="repeated key")
    if want_auc and n >= _bd.MAX_ROWS:
        raise ParityInputError(f"{path}: {n} rows; the Beam runner's exact DeLong sums take fewer than "
                               f"{_bd.MAX_ROWS}", file=path, reason="too many rows")
    dummy = np.broadcast_to(np.float64(0.5), (n,))  # only the row count is read from these
    inp = _cmp._Inputs(dummy, dummy, dummy, None, None, None, defs, margin_of, methods, frozenset(), (),
                       float(alpha), float(power), int(n_boot), int(seed), 1000)
    sums = _read_sums(out["sums"], summed) if summed else {}
    from harness.scale.streamed import _estimate as _sum_estimate

    estimates = []
    for d in defs:
        estimates.append(_auc_estimate(inp, d, n, n_pos, (lo_a, hi_a, lo_b, hi_b), out["auc"][:2], alpha)
                         if d.name == "auc" else _sum_estimate(inp, d, sums[d.name]))
    entries = [_cmp._gate(inp, d, None, est) for d, est in zip(defs, estimates)]
    entries = _cmp._adjust(inp, entries, estimates)
    notes = [] if margin_of else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=1000, notes=notes)


def _auc_estimate(inp, d, n, n_pos, ranges, moments, alpha):
    """compare_scores' DeLong estimate (or its reason for none) from the merged sums."""
    min_pos, min_neg, why, detail = _cmp._DELONG_CLASSES
    if n_pos < min_pos or n - n_pos < min_neg:
        raise input_error("y_true", f"{why} (got {n_pos} positive, {n - n_pos} negative)", detail=detail)
    lo_a, hi_a, lo_b, hi_b = ranges
    stub = _cmp._Inputs(np.array([1.0, 1.0, 0.0, 0.0]), np.array([lo_a, hi_a]), np.array([lo_b, hi_b]), None, None,
                        None, inp.defs, inp.margins, inp.methods, inp.informative, (), inp.alpha, inp.power,
                        inp.n_boot, inp.seed, inp.min_slice_size)
    undefined = _cmp._definedness(stub, d, None)  # both sides constant: the in-memory reason, word for word
    if undefined is not None:
        return _cmp._Undefined(undefined)
    r = _bd.delong_from_moments(_bd.ClassMoments(*moments[0]), _bd.ClassMoments(*moments[1]), alpha=alpha)
    return _cmp._Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * alpha)), tuple(r.ci_at(alpha)), r.method,
                          r.ci_at, p_beyond=r.p_value_beyond)
