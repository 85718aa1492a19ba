"""The streamed comparison on Apache Beam (optional: the ``beam`` extra; imported lazily).

`compare_beam` runs the same checks as `harness.scale.compare_stream` as one Beam pipeline, on the
DirectRunner by default and on Dataflow, Flink or Spark by Beam's own pipeline options. Every metric is
computed per *cell*: all rows, and each value (crossed: each combination present) of every slice spec
(`harness.scale.beam_cells`); each batch's rows are sent on once per cell they belong to.

- exact-sum metrics (logloss, brier, mae: ``paired``; rmse: ``delta``), weighted or not, are one
  `CombinePerKey` by cell whose accumulators are `harness.scale.accumulators.PairedMean` / `DeltaRMSE`
  (exact integer-scaled sums, so any bundling and merge order gives the same state); the calibration
  ratio (a Poisson bootstrap whose replicate is a ratio of two sums) keeps
  `harness.scale.replicates.BootstrapMean`'s exact replicate sums keyed by (seed, row key, replicate);
- unweighted auc is DeLong by a range-partitioned sort, per (cell, side): a first pass keeps a
  deterministic sample (the rows with the smallest keys, a mergeable bottom-k) whose quantiles are the
  range boundaries (they only balance the ranges; results do not depend on them); rows are routed to
  (cell, range); class counts per (cell, range) are summed (`CombinePerKey`) into each cell's prefix
  counts (a side input); each range is sorted on its own and yields its rows' integer component
  numerators (`harness.scale.beam_delong`). The two sides' rows meet by (cell, key bucket)
  (`GroupByKey`), each bucket reduces to exact power sums, and a `CombinePerKey` adds them per cell: no
  step holds more than one score range or one key bucket, and DeLong's variance comes from the merged
  sums (AUC bit-identical to `delong_paired`; variances, interval and p-values within 1e-12, p-values to
  the root search's tolerance);
- weighted auc is `compare_scores`' paired Poisson bootstrap over the same range-partitioned sort, per
  (cell, side): each score range is swept on its own (weights ``c w``, c the Poisson count of (seed, row
  key, replicate); the in-memory compiled sweep), and the ranges' per-replicate sums add up in score
  order, the lower ranges' negatives entering each range's sum once (`harness.scale.beam_wauc`): the
  in-memory replicates to ~1e-15, the same bits for any row order;
- ndcg@K and mrr (``--group``): rows are grouped by (cell, hash bucket of the group id) (`GroupByKey`),
  so each group is whole wherever its rows lie; each group's value per side is the metric's own
  per-group function on its rows in key order (a bucket's groups in one call), and the mean over groups
  and its Poisson bootstrap are exact sums and replicate sums keyed by the group id
  (`harness.scale.beam_groups`): what the in-memory grouped bootstrap computes, to a few ulps.

Then `harness.stats.compare`'s own gate and Holm steps run on the merged states, so verdicts, slices'
order and values, notes and Holm levels are those of `compare_stream` (tested against it and
`compare_scores`: numbers within 1e-12).

Refused (naming the metric, pointing to ``--stream --runner process``): pr_auc (its leave-one-out
components need every row's rank among the positives), ece (quantile bins per replicate) and the
calibration slope and intercept (a Newton fit per replicate).

Bad rows do not raise inside the pipeline (a runner would wrap the error in its own): they go to an
error output (nulls, labels, scores, negative or non-finite weights, missing group ids, weights that
vary within a query group, slice values of a type a slice cannot carry), and after the run one is
raised as `ParityInputError` (bad values before nulls before varying group weights, then the smallest
row key), naming the file, the column and the row's key; nothing is reported then. Results come back through a small text file under ``--temp_location`` when the options give one
(a remote runner's workers cannot write to this machine), else under a local temporary folder.

Tests run the DirectRunner in process and multi-process, and skip when apache_beam is not importable
(CI installs the extra in its own venv and requires them).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
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
from harness.scale import beam_cells as _bc
from harness.scale import beam_delong as _bd
from harness.scale import beam_groups as _bg
from harness.scale import beam_wauc as _bw
from harness.scale import range_auc as _ra
from harness.scale.accumulators import DeltaRMSE, PairedMean
from harness.scale.replicates import BootstrapMean, bootstrap_estimate
from harness.scale.streamed import locate_key, part_weights, varying_group_weight
from harness.stats import compare as _cmp
from harness.stats._validation import check_constant_within_groups, group_codes, input_error
from harness.stats.compare import DEFAULT_METRICS, ComparisonResult

__all__ = ["compare_beam", "beam_available"]

_SAMPLE = 65536
# Set (e.g. to ERROR) by the parity CLI unless --verbose: the Beam workers' log level, unless the flags
# name --default_sdk_harness_log_level themselves.
WORKER_LOG_LEVEL_ENV = "PARITY_BEAM_WORKER_LOG_LEVEL"


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
        text = os.environ.get("PARITY_BEAM_OPTIONS", "")
        try:
            where, flags = "PARITY_BEAM_OPTIONS", shlex.split(text)
        except ValueError as exc:  # shlex: "No closing quotation" / "No escaped character"
            raise ParityInputError(f"PARITY_BEAM_OPTIONS {text!r}: cannot be split like a command line ({exc}: a "
                                   "quote is not closed, or the text ends in a backslash)", argument="PARITY_BEAM_OPTIONS",
                                   value=text, reason="cannot be split like a command line") from None
    elif isinstance(pipeline_options, (list, tuple)) and all(isinstance(a, str) for a in pipeline_options):
        where, flags = "pipeline_options", list(pipeline_options)
    else:
        raise ParityInputError(f"pipeline_options: expected PipelineOptions or a list of flags such as "
                               f"['--runner=DataflowRunner'], got {type(pipeline_options).__name__}",
                               argument="pipeline_options")
    opts = PipelineOptions(flags)
    said = io.StringIO()
    try:  # Beam parses the flags here; a bad value makes its argparse exit the process, so catch that
        with contextlib.redirect_stderr(said):
            known = opts.get_all_options()
    except SystemExit:
        why = (said.getvalue().strip().splitlines() or ["invalid value"])[-1].split("error: ", 1)[-1]
        raise ParityInputError(f"{where} {flags!r}: {why}", argument=where, value=flags,
                               reason="invalid Beam pipeline option", detail=why) from None
    given = opts.get_all_options(retain_unknown_options=True)
    stray = _stray_words(flags, given)
    if stray:  # Beam's parser drops a word that is no flag's value without a word said
        why = f"{stray!r} is not a Beam flag (flags start with --, e.g. --{stray.lstrip('-')})"
        raise ParityInputError(f"{where} {flags!r}: {why}", argument=where, value=flags,
                               reason="invalid Beam pipeline option", detail=why)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ParityInputError(f"{where}: {unknown} are not Beam pipeline options (flags given: {flags})",
                               argument=where, value=unknown, reason="unknown Beam pipeline option")
    level = os.environ.get(WORKER_LOG_LEVEL_ENV)
    if level and given.get("default_sdk_harness_log_level") is None:
        # Worker processes (multi_processing, portable runners) log INFO lines, the pipeline options among
        # them, straight to the stderr they inherit; the parity CLI asks for errors only unless --verbose.
        opts = PipelineOptions([*flags, f"--default_sdk_harness_log_level={level}"])
    return opts


def _stray_words(flags: Sequence[str], parsed: Mapping[str, Any]) -> str | None:
    """The first word that is neither a --flag nor the value Beam took for the flag before it."""
    for i, word in enumerate(flags):
        if word.startswith("--"):
            continue
        before = flags[i - 1] if i else ""
        if before.startswith("--") and "=" not in before:
            taken = parsed.get(before[2:].replace("-", "_"))
            if word in ([str(v) for v in taken] if isinstance(taken, list) else [str(taken)]):
                continue
        return word
    return None


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
# per batch: validation (errors to a side output), row facts, slice cells
# ---------------------------------------------------------------------------------------------

def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _weights(raw: np.ndarray) -> np.ndarray:
    return part_weights(raw, "batch")


def _validate(table, *, path, key, label, legacy, new, defs, weight=None, group=None, specs=(), ranking=(),
              replicated=False):
    """A Parquet batch as one record ``(keys, y, legacy, new, w, group unit keys, cells, numeric)`` (w and
    the group keys None when not asked for; cells: `beam_cells.batch_cells`), or one error record
    ``(order, text, column, reason)`` tagged ``errors``."""
    from apache_beam.pvalue import TaggedOutput

    if table.num_rows == 0:
        return
    slice_cols = list(dict.fromkeys(c for cols in specs for c in cols))
    for c in dict.fromkeys(c for c in (key, label, legacy, new, weight, group) if c):
        col = table.column(c)
        if col.null_count:
            import pyarrow.compute as pc

            i = int(pc.index(pc.is_null(col), True).as_py())
            k = table.column(key)[i].as_py() if c != key else None
            where = f"the row with {key}={k!r}" if c != key else "a batch"
            text = f"{path}: column {c!r} is null at {where}; nulls are not scores, labels, weights, group ids or keys"
            yield TaggedOutput("errors", ((1, k) if k is not None else (1,), text, c, "null"))
            return
    cols = {c: table.column(c).to_numpy(zero_copy_only=False)
            for c in dict.fromkeys(c for c in (key, label, legacy, new, weight, group, *slice_cols) if c)}
    keys = cols[key]

    def bad(what, col, exc):
        row = exc.row if exc.row is not None else 0
        k = _plain(keys[row])
        shown = f" is {exc.value!r}" if exc.row is not None and exc.has_value else ""
        where = (f"; row with {key}={k!r}{shown}" if exc.row is not None
                 else f" in the batch starting at {key}={k!r}")
        return TaggedOutput("errors", ((0, k), f"{path}: {what} {col!r}: {exc.reason or exc}{where}", col,
                                       exc.reason))

    checks = [("label column", label, lambda v: _cmp._labels(v, defs)),
              ("legacy side column", legacy, lambda v: _cmp._scores(v, "score_legacy", v.shape[0], defs)),
              ("new side column", new, lambda v: _cmp._scores(v, "score_new", v.shape[0], defs))]
    if weight:
        checks.append(("weight column", weight, _weights))
    if group:
        checks.append(("group column", group, lambda v: group_codes(v, v.shape[0], "groups")))
    out = []
    for what, col, fn in checks:
        try:
            out.append(fn(cols[col]))
        except ParityInputError as exc:
            yield bad(what, col, exc)
            return
    try:
        cells = _bc.batch_cells(cols, specs, int(keys.shape[0]))
    except TypeError as exc:
        c = next(c for c in slice_cols if _unsupported(cols[c]))
        yield TaggedOutput("errors", ((0, _plain(keys[0])), f"{path}: slice column {c!r} holds {exc} values; a slice "
                                      "value is a string, a number, a bool or missing", c, "unsupported slice type"))
        return
    if replicated:  # the replicate weights are keyed by row: a repeated key is named before they are drawn
        srt = np.sort(keys)
        dup = np.flatnonzero(srt[1:] == srt[:-1])
        if dup.size:
            yield TaggedOutput("errors", ((0, _plain(srt[dup[0]])), f"{path}: key column {key!r} repeats "
                                          f"{key}={_plain(srt[dup[0]])!r}; each row needs its own key", key,
                                          "repeated key"))
            return
    w = out[3] if weight else None
    gkeys = _bg.unit_keys(cols[group]) if group and ranking else None
    yield (keys, out[0], out[1], out[2], w, gkeys, cells, _bc.numeric_columns({c: cols[c] for c in slice_cols}))


def _unsupported(values) -> bool:
    import pandas as pd

    try:
        for u in np.asarray(pd.unique(np.asarray(values)), dtype=object).tolist():
            _bc.slice_value(u)
    except TypeError:
        return True
    return False


def _take(r, rows):
    return tuple(x if x is None or rows is None else x[rows] for x in r[:6])


def _cells(r):
    """(cell, rows of the batch in that cell) for all rows and each slice value present; the all-rows
    record also carries the batch's numeric slice columns."""
    for cell, rows in r[6]:
        yield cell, _take(r, rows) + ((r[7],) if cell == _bc.ALL else ())


def _facts(kv) -> tuple:
    """Per cell: (rows, positives, legacy == new on every row, min/max of each side, any positive weight,
    numeric slice columns, positives and negatives with positive weight, relevant rows (label > 0) with
    positive weight)."""
    cell, r = kv
    numeric = r[7] if len(r) > 7 else {}
    counted = r[1] if r[4] is None else r[1][r[4] > 0]  # the classes a weighted metric sees
    pos_w = int(np.count_nonzero(counted == 1))
    return cell, (int(r[0].shape[0]), int(np.count_nonzero(r[1] == 1)), bool(np.array_equal(r[2], r[3])),
                  float(r[2].min()), float(r[2].max()), float(r[3].min()), float(r[3].max()),
                  bool(r[4] is None or (r[4] > 0).any()), numeric, pos_w, int(counted.shape[0]) - pos_w,
                  int(np.count_nonzero(counted > 0)))


def _merge_facts(values) -> tuple:
    n = n_pos = pos_w = neg_w = rel_w = 0
    same, lo_a, hi_a, lo_b, hi_b, weighs, numeric = True, np.inf, -np.inf, np.inf, -np.inf, False, {}
    for v in values:
        n, n_pos, same = n + v[0], n_pos + v[1], same and v[2]
        pos_w, neg_w, rel_w = pos_w + v[9], neg_w + v[10], rel_w + v[11]
        lo_a, hi_a, lo_b, hi_b = min(lo_a, v[3]), max(hi_a, v[4]), min(lo_b, v[5]), max(hi_b, v[6])
        weighs = weighs or v[7]
        numeric = {c: numeric.get(c, True) and v[8].get(c, True) for c in {*numeric, *v[8]}}
    return (n, n_pos, same, lo_a, hi_a, lo_b, hi_b, weighs, numeric, pos_w, neg_w, rel_w)


def _first_error(values):
    values = list(values)
    return min(values, key=lambda e: e[0]) if values else None


def _SumsFn(beam, summed, weighted, n_boot, seed):
    class SumsFn(beam.CombineFn):
        """The exact-sum accumulators of every summed metric (exact replicate sums for the ratio-type
        bootstrap metrics), as one combiner."""

        def create_accumulator(self):
            return {d.name: _sum_acc(d, weighted, n_boot, seed) for d in summed}

        def add_input(self, acc, rows):
            keys, y, a, b, w = rows[:5]
            for v in acc.values():
                if isinstance(v, BootstrapMean):
                    v.add(y.astype(np.float64), a, b, w, keys=keys)
                else:
                    v.add(y.astype(np.float64), a, b, w)
            return acc

        def merge_accumulators(self, accs):
            accs = list(accs)
            out = accs[0]
            for other in accs[1:]:
                out = {k: _merge_sum(v, other[k]) for k, v in out.items()}
            return out

        def extract_output(self, acc):  # the exact integers, as text
            return {k: _sum_state(v) for k, v in acc.items()}

    return SumsFn()


def _sum_acc(d, weighted, n_boot, seed):
    if d.name in _REPLICATED:
        return BootstrapMean(d, n_boot=n_boot, seed=seed, weighted=weighted)
    return DeltaRMSE(d, weighted=weighted) if d.name == "rmse" else PairedMean(d, weighted=weighted)


def _merge_sum(x, y):
    if not isinstance(x, BootstrapMean):
        return x.merge(y)
    out = BootstrapMean(x.metric, n_boot=x.n_boot, seed=x.seed, weighted=x.weighted)
    out.reps = x.reps.merge(y.reps)
    out._point = [s.merge(t) for s, t in zip(x._point, y._point)]
    out.n_pos, out.n_neg = x.n_pos + y.n_pos, x.n_neg + y.n_neg
    return out


def _sum_state(v) -> dict:
    if isinstance(v, BootstrapMean):
        return {"kind": "bootstrap", "n": [v.n_pos, v.n_neg], "totals": [str(s._total) for s in v._point],
                "reps": [[str(t) for t in col] for col in v.reps._total]}
    return {"kind": "paired" if isinstance(v, PairedMean) else "delta", "n": [v.n, v.m],
            "totals": [str(s._total) for s in v._s]}


def _read_sums(state: dict, summed, weighted, n_boot, seed) -> dict:
    out = {}
    for d in summed:
        st = state[d.name]
        acc = _sum_acc(d, weighted, n_boot, seed)
        if st["kind"] == "bootstrap":
            acc.n_pos, acc.n_neg = st["n"]
            acc.reps._total = [[int(t) for t in col] for col in st["reps"]]
            parts = acc._point
        else:
            acc.n, acc.m = st["n"]
            parts = acc._s
        for s, total in zip(parts, st["totals"]):
            s._total = int(total)
        out[d.name] = acc
    return out


# ---------------------------------------------------------------------------------------------
# auc: range-partitioned components per (cell, side), joined by key bucket into exact power sums
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


def _route(kv, bounds, j):
    cell, r = kv
    rid = _ra.range_of(r[j], bounds)
    y = r[1].astype(bool)
    for g in np.unique(rid).tolist():
        m = rid == g
        yield (cell, g), (r[0][m], y[m], r[j][m])


def _range_counts(kv):
    y = kv[1][1]
    return kv[0], (int(y.shape[0] - y.sum()), int(y.sum()))


def _add_pairs(pairs):
    neg = pos = 0
    for a, b in pairs:
        neg, pos = neg + a, pos + b
    return (neg, pos)


def _prefix(counts):
    """{(cell, range): (negatives in the cell's lower ranges, positives in its higher ranges)}."""
    by_cell: dict = {}
    for (cell, g), c in counts:
        by_cell.setdefault(cell, []).append((g, c))
    out = {}
    for cell, parts in by_cell.items():
        parts.sort()
        arr = np.array([c for _, c in parts], dtype=np.int64).reshape(-1, 2)
        neg_before, pos_after = _ra.prefix_counts(arr)
        out.update({(cell, g): (int(nb), int(pa)) for (g, _), nb, pa in zip(parts, neg_before, pos_after)})
    return out


def _range_rows(kv, prefix, side, n_buckets):
    """One score range of one cell: its rows' component numerators, sent on by (cell, key bucket)."""
    (cell, g), parts = kv
    parts = list(parts)
    keys = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    s = np.concatenate([p[2] for p in parts])
    neg_before, pos_after = prefix[(cell, g)]
    k = _bd.integer_components(y, s, neg_before, pos_after)
    bucket = _bd.key_buckets(keys, n_buckets)
    for b in np.unique(bucket).tolist():
        m = bucket == b
        yield (cell, b), (side, keys[m], y[m], k[m])


def _bucket_sums(kv):
    (cell, _), parts = kv
    parts = list(parts)
    sides = []
    for side in (0, 1):
        mine = [p for p in parts if p[0] == side]
        sides.append(tuple(np.concatenate([p[i] for p in mine]) for i in (1, 2, 3)))
    pos, neg, dup = _bd.join_bucket(sides[0], sides[1])
    return cell, (pos.to_list(), neg.to_list(), dup)


def _bucket_keys(r, n_buckets):
    bucket = _bd.key_buckets(r[0], n_buckets)
    for b in np.unique(bucket).tolist():
        yield b, r[0][bucket == b]


def _bucket_repeats(kv):
    keys = np.sort(np.concatenate(list(kv[1])), kind="stable")
    rep = np.flatnonzero(keys[1:] == keys[:-1])
    return _bc.ALL, ([], [], [keys[rep[0]].item() if rep.size else None, int(rep.size)])


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


def _bounds(beam, rows, j: int, side: str, n_ranges: int):
    return (rows | f"{side}: sample" >> beam.Map(lambda r, j=j: _bottom_k([(r[0], r[j])]))
            | f"{side}: sample all" >> beam.CombineGlobally(_bottom_k)
            | f"{side}: boundaries" >> beam.Map(lambda ks, k=n_ranges: _ra.boundaries_from_sample(ks[1], k)))


def _components(beam, rows, cells, j: int, side: str, n_ranges: int, n_buckets: int):
    bounds = _bounds(beam, rows, j, side, n_ranges)
    routed = cells | f"{side}: route" >> beam.FlatMap(_route, beam.pvalue.AsSingleton(bounds), j)
    prefix = (routed | f"{side}: counts" >> beam.Map(_range_counts)
              | f"{side}: sum counts" >> beam.CombinePerKey(_add_pairs)
              | f"{side}: all counts" >> beam.combiners.ToList()
              | f"{side}: prefix" >> beam.Map(_prefix))
    return (routed | f"{side}: by range" >> beam.GroupByKey()
            | f"{side}: components" >> beam.FlatMap(_range_rows, beam.pvalue.AsSingleton(prefix), j - 2, n_buckets))


# ---------------------------------------------------------------------------------------------
# weighted auc: the Poisson bootstrap's sweeps per (cell, side, score range), added in score order
# ---------------------------------------------------------------------------------------------

def _route_weighted(kv, bounds, j):
    cell, r = kv
    rid = _ra.range_of(r[j], bounds)
    for g in np.unique(rid).tolist():
        m = rid == g
        yield (cell, g), (r[0][m], r[1][m], r[j][m], r[4][m])


def _weighted_range(kv):
    (cell, g), parts = kv
    parts = list(parts)
    return (cell, g), _bw.sorted_range(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def _weighted_auc(beam, rows, cells, j: int, side: str, n_ranges: int, n_boot: int, seed: int):
    bounds = _bounds(beam, rows, j, f"weighted {side}", n_ranges)
    return (cells | f"weighted {side}: route" >> beam.FlatMap(_route_weighted, beam.pvalue.AsSingleton(bounds), j)
            | f"weighted {side}: by range" >> beam.GroupByKey()
            | f"weighted {side}: sorted" >> beam.Map(_weighted_range)
            | f"weighted {side}: whole" >> beam.Filter(lambda kv: kv[1] is not None)  # repeats: reported after
            | f"weighted {side}: sweep" >> beam.Map(
                lambda kv: (kv[0][0], (kv[0][1], _bw.range_sweep(kv[1], n_boot, seed))))
            | f"weighted {side}: by cell" >> beam.GroupByKey()
            | f"weighted {side}: finish" >> beam.Map(lambda kv: (kv[0], _bw.finish(dict(kv[1])).tolist())))


# ---------------------------------------------------------------------------------------------
# query groups: each group whole (GroupByKey by (cell, group id)), its statistic, replicate sums per cell
# ---------------------------------------------------------------------------------------------

def _by_group(kv, n_buckets):
    """A cell's rows by bucket of group ids (every row of a group lands in its group's bucket)."""
    cell, r = kv
    bucket = _bd.key_buckets(r[5], n_buckets)
    for b in np.unique(bucket).tolist():
        m = bucket == b
        yield (cell, b), tuple(None if x is None else x[m] for x in r[:6])


def _group_stats(kv, *, names, path, key, weight):
    """One bucket of whole groups of one cell: ``(cell, (group keys, gw, {metric: (gw v_legacy, gw v_new)}))``,
    or an error record when a group's weights are not constant (the ranking weights are per group)."""
    from apache_beam.pvalue import TaggedOutput

    (cell, _), parts = kv
    parts = list(parts)
    keys, y, a, b, gk = (np.concatenate([p[i] for p in parts]) for i in (0, 1, 2, 3, 5))
    w = None if parts[0][4] is None else np.concatenate([p[4] for p in parts])
    ids, codes = np.unique(gk, return_inverse=True)
    order = np.lexsort((keys, codes.reshape(-1)))  # by group, each group's rows in key order
    keys, y, a, b, codes = keys[order], y[order], a[order], b[order], codes.reshape(-1)[order]
    if w is not None:
        w = w[order]
        try:
            check_constant_within_groups(w, codes)
        except ParityInputError as exc:
            k = _plain(keys[exc.row])
            yield TaggedOutput("errors", ((2, k), varying_group_weight(path, key, weight, k, ids[codes[exc.row]], exc,
                                                                    locate=False),
                                          weight, exc.reason))
            return
    gw, vals = _bg.group_values(names, y, a, b, w, codes)
    yield cell, (ids, gw, vals)


def _GroupsFn(beam, names, n_boot, seed):
    class GroupsFn(beam.CombineFn):
        """Per cell: `beam_groups.GroupMeans` over its groups."""

        def create_accumulator(self):
            return _bg.GroupMeans(names, n_boot, seed)

        def add_input(self, acc, item):
            acc.add(*item)
            return acc

        def merge_accumulators(self, accs):
            accs = list(accs)
            out = accs[0]
            for other in accs[1:]:
                out = out.merge(other)
            return out

        def extract_output(self, acc):
            return acc.to_state()

    return GroupsFn()


# ---------------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------------

def _tagged(name):
    return lambda kv: json.dumps([name, list(kv[0]), kv[1]])


def _run(beam, opts, path: str, files, columns, validate_kw, plan) -> list:
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.io.parquetio import ReadAllFromParquetBatched, ReadFromParquetBatched
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    temp = opts.view_as(GoogleCloudOptions).temp_location
    local = None if temp else tempfile.TemporaryDirectory(prefix="parity_beam_")
    where = FileSystems.join(temp, f"parity-results-{uuid.uuid4().hex}") if temp else local.name
    target = FileSystems.join(where, "results.jsonl")
    n_ranges, n_buckets = plan["n_ranges"], plan["n_buckets"]
    try:
        with beam.Pipeline(options=opts) as p:
            if files is None:
                tables = p | "read" >> ReadFromParquetBatched(path, columns=columns)
            else:
                tables = (p | "files" >> beam.Create(files)
                          | "read" >> ReadAllFromParquetBatched(columns=columns))
            checked = tables | "validate" >> beam.FlatMap(_validate, **validate_kw).with_outputs("errors", main="rows")
            rows = checked.rows
            cells = rows | "cells" >> beam.FlatMap(_cells)
            errors = [checked.errors]
            results = [cells | "facts" >> beam.Map(_facts) | "merge facts" >> beam.CombinePerKey(_merge_facts)
                       | "tag facts" >> beam.Map(_tagged("facts"))]
            if plan["summed"]:
                results.append(cells | "sums" >> beam.CombinePerKey(_SumsFn(beam, plan["summed"], plan["weighted"],
                                                                             plan["n_boot"], plan["seed"]))
                               | "tag sums" >> beam.Map(_tagged("sums")))
            if plan["auc"]:
                parts = [_components(beam, rows, cells, j, side, n_ranges, n_buckets)
                         for j, side in ((2, "legacy"), (3, "new"))]
                results.append(parts | "both sides" >> beam.Flatten() | "by key bucket" >> beam.GroupByKey()
                               | "bucket sums" >> beam.Map(_bucket_sums)
                               | "all sums" >> beam.CombinePerKey(_merge_bucket_sums)
                               | "tag auc" >> beam.Map(_tagged("auc")))
            else:  # the keys still have to be unique, as compare_stream checks
                results.append(rows | "keys" >> beam.FlatMap(_bucket_keys, n_buckets)
                               | "keys by bucket" >> beam.GroupByKey() | "repeats" >> beam.Map(_bucket_repeats)
                               | "all repeats" >> beam.CombinePerKey(_merge_bucket_sums)
                               | "tag keys" >> beam.Map(_tagged("auc")))
            if plan["wauc"]:
                for j, side in ((2, "legacy"), (3, "new")):
                    results.append(_weighted_auc(beam, rows, cells, j, side, n_ranges, plan["n_boot"], plan["seed"])
                                   | f"tag weighted {side}" >> beam.Map(_tagged(f"wauc_{side}")))
            if plan["ranking"]:
                stats = (cells | "by group" >> beam.FlatMap(_by_group, n_buckets) | "groups whole" >> beam.GroupByKey()
                         | "group stats" >> beam.FlatMap(_group_stats, names=plan["ranking"], path=path,
                                                         key=validate_kw["key"], weight=validate_kw["weight"])
                         .with_outputs("errors", main="stats"))
                errors.append(stats.errors)
                results.append(stats.stats | "groups" >> beam.CombinePerKey(_GroupsFn(beam, plan["ranking"],
                                                                                    plan["n_boot"], plan["seed"]))
                               | "tag groups" >> beam.Map(_tagged("groups")))
            results.append(errors | "errors" >> beam.Flatten() | "first error" >> beam.CombineGlobally(_first_error)
                           | "tag error" >> beam.Map(lambda e: json.dumps(["error", list(_bc.ALL), e])))
            (results | "results" >> beam.Flatten()
             | "write" >> beam.io.WriteToText(target, shard_name_template="", num_shards=1))
        with FileSystems.open(target) as fh:
            return [json.loads(line) for line in fh.read().decode("utf-8").splitlines() if line]
    finally:
        cleanup(FileSystems, local, where)


def cleanup(filesystems, local, where: str) -> None:
    """Remove a run's result folder: the local temporary one, or ``where`` under ``--temp_location``."""
    if local is not None:
        local.cleanup()
        return
    try:
        filesystems.delete([where])
    except Exception:  # best effort: a leftover file under temp_location is not a wrong result
        pass


# ---------------------------------------------------------------------------------------------
# the entry point: plan, run, then compare_scores' own gate and Holm steps on the merged states
# ---------------------------------------------------------------------------------------------

_REPLICATED = ("calibration_ratio",)  # bootstrap replicate = a ratio of two sums keyed by row


def _plan(defs, methods, weighted: bool) -> dict:
    """Which pipeline form each metric takes; a metric with none here is refused, naming it."""
    summed, ranking, auc, wauc = [], [], False, False
    for d in defs:
        how = methods[d.name]
        if how in ("paired", "delta") or (how == "bootstrap" and d.name in _REPLICATED):
            summed.append(d)
        elif d.name == "auc" and how == "delong":
            auc = True
        elif d.name == "auc" and how == "bootstrap":
            wauc = True
        elif d.needs_groups and how == "bootstrap":
            ranking.append(d.name)
        else:
            raise ParityInputError(
                f"metric {d.name!r} is not on the Beam runner yet (it runs auc, logloss, brier, mae, rmse, "
                "calibration_ratio, ndcg@K and mrr, weighted or not, per slice); run it with --runner process "
                "(parity compare --stream --runner process; harness.scale.compare_stream from Python)",
                argument="metrics", value=d.name, reason="not on the Beam runner yet")
    return {"summed": summed, "ranking": ranking, "auc": auc, "wauc": wauc}


def compare_beam(path: str | Path, *, label: str, legacy: str, new: str, key: str,
                 metrics: Sequence[str] = DEFAULT_METRICS, margins: Mapping[str, Any] | None = None,
                 alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, power: float = 0.8, n_ranges: int = 16,
                 n_buckets: int = 16, allow_identical: bool = False, weight: str | None = None,
                 group: str | None = None, slices: Sequence[Any] = (), min_slice_size: int = 1000,
                 pipeline_options: Any = None) -> ComparisonResult:
    """`compare_stream` (same arguments, score columns only) as a Beam pipeline; the DirectRunner unless
    ``pipeline_options`` (a `PipelineOptions`, or its flags as a list of strings; default: the flags in
    ``$PARITY_BEAM_OPTIONS``) says otherwise. ``weight``, ``group`` and ``slices`` (column names; a tuple of
    names for a crossed slice) mean what they mean there.
    ``n_ranges`` score ranges per side and ``n_buckets`` key buckets set the parallelism, not the result."""
    from harness.scale.streamed import _estimate as _sum_estimate
    from harness.scale.streamed import _slice_columns, _slice_estimate

    beam = _beam()
    _cmp._validate_options(alpha, n_boot, seed, min_slice_size, power)
    for name, v in (("n_ranges", n_ranges), ("n_buckets", n_buckets)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ParityInputError(f"{name} must be an integer >= 1, got {v!r}", argument=name, value=v)
    defs = _cmp._metric_defs(metrics)
    needs_groups = [d.name for d in defs if d.needs_groups]
    if needs_groups and group is None:
        raise ParityInputError(f"metric {needs_groups[0]!r} is computed per query group: pass groups (--group COL)",
                               argument="groups", reason=f"metric {needs_groups[0]!r} is computed per query group")
    methods = _cmp._methods(defs, "auto", weight is not None)
    plan = _plan(defs, methods, weight is not None)
    margin_of = _cmp._margins(defs, margins)
    specs = _slice_columns(slices)
    plan.update(n_ranges=int(n_ranges), n_buckets=int(n_buckets), weighted=weight is not None, n_boot=int(n_boot),
                seed=int(seed))
    opts = _options(pipeline_options)
    path = str(path)
    columns = list(dict.fromkeys([key, label, legacy, new] + [c for c in (weight, group) if c]
                                 + [c for cols in specs for c in cols]))
    files = _source(path, columns)
    validate_kw = dict(path=path, key=key, label=label, legacy=legacy, new=new, defs=defs, weight=weight, group=group,
                       specs=specs, ranking=plan["ranking"],
                       replicated=any(d.name in _REPLICATED for d in plan["summed"]))
    out: dict[str, dict] = {}
    for name, cell, value in _run(beam, opts, path, files, columns, validate_kw, plan):
        out.setdefault(name, {})[_bc.cell_from_json(cell)] = value
    error = out.get("error", {}).get(_bc.ALL)
    if error is not None:
        order, text, column, reason = error
        if order[0] == 2:  # a group's varying weights: its row named by chunk and file here, once (not per bucket)
            text = locate_key(path, key, order[1], text)
        raise ParityInputError(text, file=path, column=column, reason=reason)
    facts = out.get("facts", {})
    if _bc.ALL not in facts:
        raise ParityInputError(f"{path}: has no rows; expected at least one", file=path, reason="no rows")
    n, _, same, _, _, _, _, weighs, numeric = facts[_bc.ALL][:9]
    if weight and not weighs:
        raise ParityInputError(f"{path}: weight column {weight!r}: all {n} weights are zero; at least one row needs "
                               "positive weight", file=path, column=weight, reason="all weights are zero")
    if same:
        _cmp._not_identical(np.zeros(1), np.zeros(1), allow_identical)
    _, _, (dup_key, n_dup) = out["auc"][_bc.ALL]
    if n_dup:  # compare_stream's words (harness.scale.streamed._check_keys)
        from harness.scale.streamed import rows_holding

        raise ParityInputError(f"{path}: key column {key!r} repeats {key}={dup_key!r}"
                               f"{rows_holding(Path(path), key, dup_key)} ({n_dup} repeated key(s)); "
                               "each row needs its own key", file=path, column=key, reason="repeated key")
    if plan["auc"] and n >= _bd.MAX_ROWS:
        raise ParityInputError(f"{path}: {n} rows; the Beam runner's exact DeLong sums take fewer than "
                               f"{_bd.MAX_ROWS}", file=path, reason="too many rows")
    ordered = _bc.ordered_slices(specs, {c: f[0] for c, f in facts.items() if c != _bc.ALL}, numeric)
    dummy = np.broadcast_to(np.float64(0.5), (n,))  # only the row count is read from these
    inp = _cmp._Inputs(dummy, dummy, dummy, None, None, None, defs, margin_of, methods, frozenset(),
                       tuple(sl for sl, _ in ordered), float(alpha), float(power), int(n_boot), int(seed),
                       int(min_slice_size))
    sums = {cell: _read_sums(state, plan["summed"], weight is not None, n_boot, seed)
            for cell, state in out.get("sums", {}).items()}
    groups = {cell: _bg.GroupMeans.from_state(plan["ranking"], n_boot, seed, state)
              for cell, state in out.get("groups", {}).items()}
    cells = [(d, None, _bc.ALL) for d in defs] + [(d, sl, cell) for sl, cell in ordered for d in defs]
    estimates = []
    for d, sl, cell in cells:
        everything = sl is None
        if d.name in sums.get(cell, {}):
            acc = sums[cell][d.name]
            estimates.append(_sum_estimate(inp, d, acc) if everything else _slice_estimate(inp, d, acc))
        elif d.name == "auc" and plan["wauc"]:
            estimates.append(_weighted_auc_estimate(inp, d, facts[cell], (out["wauc_legacy"][cell],
                                                                          out["wauc_new"][cell]), everything))
        elif d.name == "auc":
            estimates.append(_auc_estimate(inp, d, facts[cell], out["auc"][cell], alpha, everything))
        else:
            why = _no_relevant_rows(d, facts[cell], weight is not None, everything) or _constant_sides(inp, d,
                                                                                                     facts[cell])
            estimates.append(_cmp._Undefined(why) if why else groups[cell].estimate(d, alpha, all_rows=everything))
    entries = []
    for (d, sl, cell), est in zip(cells, estimates):
        e = _cmp._gate(inp, d, sl, est)
        entries.append(dataclasses.replace(e, n_groups=groups[cell].n_groups) if d.needs_groups else e)
    entries = _cmp._adjust(inp, entries, estimates)
    notes = [] if margin_of else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=int(min_slice_size), notes=notes)


def _stub(inp, fact):
    """Inputs whose few rows give `_definedness` a cell's score ranges (its classes are checked apart)."""
    lo_a, hi_a, lo_b, hi_b = fact[3:7]
    return _cmp._Inputs(np.array([1.0, 1.0, 0.0, 0.0]), np.array([lo_a, hi_a]), np.array([lo_b, hi_b]), None, None,
                        None, inp.defs, inp.margins, inp.methods, inp.informative, (), inp.alpha, inp.power,
                        inp.n_boot, inp.seed, inp.min_slice_size)


def _no_relevant_rows(d, fact, weighted: bool, all_rows: bool) -> str | None:
    """`compare_scores`' words for a ranking cell with no relevant row; raised on all rows, as in memory."""
    exc = _cmp.relevance_error(d, fact[11], fact[9] + fact[10], weighted=weighted)
    if exc is not None and all_rows:
        raise exc
    return None if exc is None else exc.reason + (f" {exc.detail}" if exc.detail else "")


def _constant_sides(inp, d, fact) -> str | None:
    return _cmp._definedness(_stub(inp, fact), d, None)  # both sides constant: the in-memory words


def _auc_estimate(inp, d, fact, moments, alpha, all_rows: bool):
    """compare_scores' DeLong estimate (or its reason for none) on one cell, from its merged sums."""
    n, n_pos = fact[0], fact[1]
    min_pos, min_neg, why, detail = _cmp._DELONG_CLASSES
    if n_pos < min_pos or n - n_pos < min_neg:
        exc = input_error("y_true", f"{why} (got {n_pos} positive, {n - n_pos} negative)", detail=detail)
        if all_rows:
            raise exc
        return _cmp._Undefined(exc.reason + (f" {exc.detail}" if exc.detail else ""))
    undefined = _constant_sides(inp, d, fact)
    if undefined is not None:
        return _cmp._Undefined(undefined)
    try:
        r = _bd.delong_from_moments(_bd.ClassMoments(*moments[0]), _bd.ClassMoments(*moments[1]), alpha=alpha)
    except ParityInputError as exc:
        if all_rows:
            raise
        return _cmp._Undefined(str(exc))
    return _cmp._Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * alpha)), tuple(r.ci_at(alpha)), r.method,
                          r.ci_at, p_beyond=r.p_value_beyond)


def _weighted_auc_estimate(inp, d, fact, sweeps, all_rows: bool):
    """compare_scores' paired bootstrap of weighted auc on one cell, from both sides' merged sweeps."""
    min_pos, min_neg, why, detail = _cmp._classes_needed(d, "bootstrap")
    pos_w, neg_w = fact[9], fact[10]
    try:
        if pos_w < min_pos or neg_w < min_neg:
            raise input_error("y_true", f"{why} (got {pos_w} positive, {neg_w} negative)",
                              detail=_cmp._join(detail, "among the rows with positive weight"))
        undefined = _constant_sides(inp, d, fact)
        if undefined is not None:
            return _cmp._Undefined(undefined)
        legacy, new = (_bw.aucs(np.asarray(s)) for s in sweeps)
        return bootstrap_estimate(d.name, float(legacy[-1]), float(new[-1]), new[:-1] - legacy[:-1], inp.n_boot,
                                      inp.seed, inp.alpha)
    except ParityInputError as exc:
        if all_rows:
            raise
        return _cmp._Undefined(exc.reason + (f" {exc.detail}" if exc.detail else "") if exc.reason else str(exc))
