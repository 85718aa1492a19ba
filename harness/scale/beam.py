"""The streamed comparison on Apache Beam (optional: ``pip install apache-beam``; imported lazily).

`compare_beam` runs the same checks as `harness.scale.compare_stream` as a Beam pipeline:

- exact-sum metrics (logloss, brier, mae: ``paired``; rmse: ``delta``) are one `CombineGlobally` whose
  accumulators are `harness.scale.accumulators.PairedMean` / `DeltaRMSE` (exact integer-scaled sums, so
  any bundling and merge order gives the same state);
- auc is DeLong by a range-partitioned sort (`harness.scale.range_auc`): a first pass keeps a
  deterministic sample (the rows with the smallest keys, a mergeable bottom-k) whose quantiles are the
  range boundaries; rows are routed to ranges; class counts per range are summed (`CombinePerKey`) and
  turned into prefix counts (a side input); each range is sorted on its own worker with those counts
  carried in. The per-row components come back and DeLong's variance is taken on them in key order, so
  the result equals `delong_paired` bit for bit (that last step holds the components, 8 bytes a row, in
  one place: a moment-sum form would lift it, at <= 1e-12 instead of bit-identity).

First slice: unweighted, no slices or groups; pr_auc and the bootstrap metrics are refused (run them
with compare_stream). Tests run on the DirectRunner and skip when apache_beam is not importable.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ParityInputError
from harness.scale import range_auc as _ra
from harness.scale.accumulators import DeltaRMSE, PairedMean
from harness.stats import compare as _cmp
from harness.stats import delong as _delong
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
        raise ParityInputError("--runner beam needs Apache Beam: pip install apache-beam (the 'beam' extra)",
                               argument="runner", reason="apache_beam is not installed") from exc
    return beam


def _arrays(table, *, key, label, legacy, new, defs):
    """A Parquet batch as validated arrays (keys, y, legacy, new), errors naming the row key and side."""
    cols = {c: table.column(c).to_numpy() for c in (key, label, legacy, new)}
    keys = cols[key]
    out = [keys]
    for what, col, fn in (("label column", label, lambda v: _cmp._labels(v, defs)),
                          ("legacy side column", legacy, lambda v: _cmp._scores(v, "score_legacy", v.shape[0], defs)),
                          ("new side column", new, lambda v: _cmp._scores(v, "score_new", v.shape[0], defs))):
        try:
            out.append(fn(cols[col]))
        except ParityInputError as exc:
            where = f"; row with {key}={keys[exc.row].item()!r}" if exc.row is not None else ""
            raise ParityInputError(f"{what} {col!r}: {exc.reason or exc}{where}", column=col,
                                   reason=exc.reason) from None
    return tuple(out)


def compare_beam(path: str | Path, *, label: str, legacy: str, new: str, key: str,
                 metrics: Sequence[str] = DEFAULT_METRICS, margins: Mapping[str, Any] | None = None,
                 alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, power: float = 0.8, n_ranges: int = 16,
                 pipeline_options: Any = None) -> ComparisonResult:
    """`compare_stream` (same arguments, score columns only) as a Beam pipeline; the DirectRunner unless
    ``pipeline_options`` says otherwise."""
    beam = _beam()
    from apache_beam.io.parquetio import ReadFromParquetBatched

    _cmp._validate_options(alpha, n_boot, seed, 0, power)
    defs = _cmp._metric_defs(metrics)
    methods = _cmp._methods(defs, "auto", False)
    other = [d.name for d in defs if methods[d.name] not in ("paired", "delta") and d.name != "auc"]
    if other:
        raise ParityInputError(f"metric {other[0]!r} is not on the Beam runner yet (auc, logloss, brier, mae, rmse "
                               "are); use compare_stream", argument="metrics", value=other[0])
    margin_of = _cmp._margins(defs, margins)
    summed = [d for d in defs if methods[d.name] in ("paired", "delta")]
    want_auc = any(d.name == "auc" for d in defs)
    arrays_kw = dict(key=key, label=label, legacy=legacy, new=new, defs=defs)
    with tempfile.TemporaryDirectory(prefix="parity_beam_") as tmp:
        out = Path(tmp)
        with beam.Pipeline(options=pipeline_options) as p:
            rows = (p | "read" >> ReadFromParquetBatched(str(path), columns=[key, label, legacy, new])
                    | "validate" >> beam.Map(_arrays, **arrays_kw))
            (rows | "sums" >> beam.CombineGlobally(_SumsFn(beam, summed))
                  | "write sums" >> beam.Map(_write_json, out / "sums.json"))
            (rows | "count" >> beam.Map(lambda r: (int(r[0].shape[0]), bool(np.array_equal(r[2], r[3]))))
                  | "count all" >> beam.CombineGlobally(_count_combine)
                  | "write count" >> beam.Map(_write_json, out / "count.json"))
            if want_auc:
                for j, side in ((2, "legacy"), (3, "new")):
                    _auc_branch(beam, rows, j, side, n_ranges, out)
        n, identical = json.loads((out / "count.json").read_text())
        sums = _read_sums(out / "sums.json", summed)
        if want_auc:
            keys_y_a = np.load(out / "legacy.npz")
            keys_y_b = np.load(out / "new.npz")
            comp = {side: (d["auc"].item(), d["v10"], d["v01"])
                    for side, d in (("legacy", keys_y_a), ("new", keys_y_b))}
            y = keys_y_a["y"]
            from harness.scale.streamed import _check_keys

            _check_keys(keys_y_a["keys"], Path(path), key)
    if n == 0:
        raise ParityInputError(f"{path}: has no rows; expected at least one", file=str(path), reason="no rows")
    if identical:
        _cmp._not_identical(np.zeros(1), np.zeros(1), False)
    dummy = np.broadcast_to(np.float64(0.5), (n,))
    inp = _cmp._Inputs(y.astype(np.float64) if want_auc else dummy, dummy, dummy, None, None, None, defs, margin_of,
                       methods, frozenset(), (), float(alpha), float(power), int(n_boot), int(seed), 1000)
    from harness.scale.streamed import _estimate as _sum_estimate

    estimates = []
    for d in defs:
        if d.name == "auc":
            yb = inp.y.astype(bool)
            n_pos = int(yb.sum())
            if n_pos < 2 or n_pos > n - 2:
                _cmp.check_classes(inp.y, "y_true", min_pos=2, min_neg=2,
                                   why="DeLong needs at least 2 positives and 2 negatives")
            la, lb = np.zeros(0), np.ones(0)  # stand-ins: _paired asks the components function for each side
            r = _delong._paired(lambda yy, s: comp["legacy" if s is la else "new"], yb, la, lb, n_pos, n - n_pos,
                                alpha, _delong.METHOD)
            estimates.append(_cmp._Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * alpha)),
                                            tuple(r.ci_at(alpha)), r.method, r.ci_at, p_beyond=r.p_value_beyond))
        else:
            estimates.append(_sum_estimate(inp, d, sums[d.name]))
    entries = [_cmp._gate(inp, d, None, est) for d, est in zip(defs, estimates)]
    entries = _cmp._adjust(inp, entries, estimates)
    notes = [] if margin_of else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=1000, notes=notes)


def _count_combine(values):
    n, identical = 0, True
    for k, same in values:
        n += k
        identical = identical and same
    return (n, identical)


def _write_json(value, path: Path) -> None:
    path.write_text(json.dumps(value))


def _read_sums(path: Path, summed) -> dict:
    state = json.loads(path.read_text())
    out = {}
    for d in summed:
        acc = PairedMean(d) if state[d.name]["kind"] == "paired" else DeltaRMSE(d)
        acc.n = state[d.name]["n"]
        for s, total in zip(acc._s, state[d.name]["totals"]):
            s._total = int(total)
        out[d.name] = acc
    return out


def _SumsFn(beam, summed):
    class SumsFn(beam.CombineFn):
        """The exact-sum accumulators of every summed metric, as one combiner."""

        def create_accumulator(self):
            return {d.name: (PairedMean(d) if d.name != "rmse" else DeltaRMSE(d)) for d in summed}

        def add_input(self, acc, rows):
            for a in acc.values():
                a.add(rows[1], rows[2], rows[3])
            return acc

        def merge_accumulators(self, accs):
            accs = list(accs)
            out = accs[0]
            for other in accs[1:]:
                out = {k: v.merge(other[k]) for k, v in out.items()}
            return out

        def extract_output(self, acc):  # the exact integers, as text: JSON has no big ints of its own
            return {k: {"kind": "paired" if isinstance(v, PairedMean) else "delta", "n": v.n,
                        "totals": [str(s._total) for s in v._s]} for k, v in acc.items()}

    return SumsFn()


def _bottom_k(values, k=_SAMPLE):
    """The k rows with the smallest keys among (keys, scores) pairs: a deterministic, mergeable sample."""
    keys = np.concatenate([v[0] for v in values]) if values else np.empty(0)
    scores = np.concatenate([v[1] for v in values]) if values else np.empty(0)
    if keys.shape[0] > k:
        keep = np.argpartition(keys, k - 1)[:k]
        keys, scores = keys[keep], scores[keep]
    return (keys, scores)


def _auc_branch(beam, rows, j: int, side: str, n_ranges: int, out: Path) -> None:
    sample = (rows | f"{side}: sample" >> beam.Map(lambda r: _bottom_k([(r[0], r[j])]))
              | f"{side}: sample all" >> beam.CombineGlobally(_bottom_k)
              | f"{side}: boundaries" >> beam.Map(lambda ks: _ra.boundaries_from_sample(ks[1], n_ranges)))
    bounds = beam.pvalue.AsSingleton(sample)

    def route(r, b):
        rid = _ra.range_of(r[j], b)
        yb = r[1].astype(bool)
        for g in np.unique(rid).tolist():
            m = rid == g
            yield g, (r[0][m], yb[m], r[j][m])

    routed = rows | f"{side}: route" >> beam.FlatMap(route, bounds)
    counts = (routed | f"{side}: counts" >> beam.Map(lambda kv: (kv[0], (int((~kv[1][1]).sum()), int(kv[1][1].sum()))))
              | f"{side}: sum counts" >> beam.CombinePerKey(lambda cs: tuple(map(sum, zip(*cs)))))
    prefix = (counts | f"{side}: all counts" >> beam.combiners.ToList()
              | f"{side}: prefix" >> beam.Map(_prefix))

    def components(kv, pre):
        g, parts = kv
        keys = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        s = np.concatenate([p[2] for p in parts])
        neg_before, pos_after, n_pos, n_neg = pre[g]
        rc = _ra.range_components(y, s, neg_before, pos_after, n_pos, n_neg)
        return keys, y, rc.values, rc.auc_numerator, n_pos, n_neg

    (routed | f"{side}: group" >> beam.GroupByKey()
     | f"{side}: components" >> beam.Map(components, beam.pvalue.AsSingleton(prefix))
     | f"{side}: collect" >> beam.combiners.ToList()
     | f"{side}: write" >> beam.Map(_write_components, out / f"{side}.npz"))


def _prefix(counts):
    counts = sorted(counts)
    ids = [g for g, _ in counts]
    arr = np.array([c for _, c in counts], dtype=np.int64).reshape(-1, 2)
    neg_before, pos_after = _ra.prefix_counts(arr)
    n_neg, n_pos = int(arr[:, 0].sum()), int(arr[:, 1].sum())
    return {g: (int(nb), int(pa), n_pos, n_neg) for g, nb, pa in zip(ids, neg_before, pos_after)}


def _write_components(parts, path: Path) -> None:
    keys = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    numerator = sum(p[3] for p in parts)  # integers and halves: exact in any order
    n_pos, n_neg = parts[0][4], parts[0][5]
    order = np.argsort(keys, kind="stable")
    y, vals = y[order], vals[order]
    auc = numerator / (float(n_pos) * float(n_neg))
    np.savez(path, auc=np.float64(auc), keys=keys[order], y=y.astype(np.float64), v10=vals[y], v01=vals[~y])
