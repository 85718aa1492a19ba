"""`compare_stream`: `harness.stats.compare_scores` over a Parquet golden set read chunk by chunk.

Each metric keeps the state its estimator needs (`harness.scale.accumulators`): logloss, brier and mae
(method ``paired``) and rmse (``delta``) keep exact sums, O(1) memory; auc and pr_auc (``delong``) and the
bootstrap metrics keep the rows compactly (key, int8 label, scores in their own precision) and run the
in-memory estimator on them sorted by key (auc: DeLong with range-partitioned components,
`harness.scale.range_auc`, the same bits with a fraction of the one sort's memory). The entries are then
gated and Holm-adjusted by
`harness.stats.compare`'s own steps, so the result has `compare_scores`' shape and meaning:

- exact-sum metrics equal the in-memory run to a few ulps (sums are exact here, pairwise there);
- row-keeping metrics equal the in-memory run on the rows in key order bit for bit, and on any other
  row order to float rounding (DeLong's variances sum the components in row order; the Poisson
  bootstrap's weights depend on the key only).

Every chunk is validated as `compare_scores` validates all rows, and an error names the file, the column,
the side, the chunk and the row's key; a side given as a function that fails on a chunk names the chunk
and its key range. Nothing is returned until the last chunk is in. First slice: unweighted, no slices,
no query groups (ranking metrics are refused with that reason).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from harness import progress
from harness.errors import ParityInputError, ScorerError
from harness.scale.accumulators import CompactRows, DeltaRMSE, PairedMean
from harness.scale.range_auc import range_partitioned_auc
from harness.scale.stream import DEFAULT_CHUNK_ROWS, Chunk, count_rows, iter_chunks
from harness.stats import compare as _cmp
from harness.stats._validation import check_alpha
from harness.stats.compare import DEFAULT_METRICS, ComparisonResult

_AUC_RANGES = 64
_MIN_SLICE_SIZE = 1000  # compare_scores' default, reported as is: streamed runs take no slices yet

__all__ = ["compare_stream"]

Side = Union[str, Callable[[dict[str, np.ndarray]], Any]]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _side_name(side: Side, which: str) -> str:
    return f"column {side!r} ({which} side)" if isinstance(side, str) else f"the {which} side"


def _located(exc: ParityInputError, *, path: Path, what: str, column: str | None, chunk: Chunk,
             key: str) -> ParityInputError:
    """The chunk-local error of a validator, re-said for the file: column, side, chunk, row, key."""
    reason = exc.reason or str(exc)
    if exc.row is not None:
        where = chunk.where(key, exc.row)
        shown = "" if not exc.has_value else f" is {exc.value!r}"
        text = f"{path}: {what}: {reason}; {where}{shown}" + (f" {exc.detail}" if exc.detail else "")
        return ParityInputError(text, file=str(path), column=column, row=chunk.start + exc.row,
                                value=exc.value, reason=reason, detail=exc.detail)
    return ParityInputError(f"{path}: {what}: {reason} in {chunk.where()}", file=str(path), column=column,
                            reason=reason)


def _score_chunk(side: Side, which: str, chunk: Chunk, path: Path, key: str) -> np.ndarray:
    if isinstance(side, str):
        return chunk.columns[side]
    try:
        out = np.asarray(side(chunk.columns))
    except Exception as exc:  # the side's own failure, whatever it is: say where the stream stopped
        keys = chunk.columns[key]
        raise ScorerError(f"{path}: the {which} side failed on {chunk.where()}, keys {key}={_plain(keys[0])!r}.."
                          f"{_plain(keys[-1])!r}: "
                          f"{type(exc).__name__}: {exc}; nothing was compared") from exc
    if out.shape != (chunk.n,):
        raise ScorerError(f"{path}: the {which} side returned shape {out.shape} for {chunk.where()}, "
                          f"expected ({chunk.n},), keys {key}={_plain(chunk.columns[key][0])!r}..")
    return out


def _check_keys(keys: np.ndarray, path: Path, key: str) -> None:
    if keys.shape[0] > 1:
        dup = np.flatnonzero(keys[1:] == keys[:-1])
        if dup.size:
            raise ParityInputError(f"{path}: key column {key!r} repeats {key}={keys[dup[0]].item()!r} "
                                   f"({dup.size} repeated key(s)); each row needs its own key", file=str(path),
                                   column=key, reason="repeated key")


def compare_stream(path: str | Path, *, label: str, legacy: Side, new: Side, key: str,
                   metrics: Sequence[str] = DEFAULT_METRICS, margins: Mapping[str, Any] | None = None,
                   alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   method: str | Mapping[str, str] = "auto", power: float = 0.8, ungated: Sequence[str] = (),
                   allow_identical: bool = False, side_columns: Sequence[str] = ()) -> ComparisonResult:
    """`compare_scores(y, legacy, new, keys=key, ...)` on the file's rows, read ``chunk_rows`` at a time.

    ``legacy`` and ``new`` are score columns of the file, or functions from a chunk's columns (a dict of
    numpy arrays: ``key``, ``label``, the score columns named and ``side_columns``) to one score per row (a
    model side scoring the stream). ``key`` is required: it orders
    the kept rows and keys the Poisson bootstrap, so the result does not depend on the file's row order.
    """
    p = Path(path)
    _cmp._validate_options(alpha, n_boot, seed, 0, power)
    alpha = check_alpha(alpha)
    defs = _cmp._metric_defs(metrics)
    ranking = [d.name for d in defs if d.needs_groups]
    if ranking:
        raise ParityInputError(f"metric {ranking[0]!r} needs query groups, which streamed comparisons do not take "
                               "yet; run it in memory (parity compare without --stream)", argument="metrics",
                               value=ranking[0], reason="query groups are not streamed yet")
    margin_of = _cmp._margins(defs, margins)
    informative = frozenset(_cmp.get_metric(u).name for u in ([ungated] if isinstance(ungated, str) else ungated))
    stray = sorted(informative - {d.name for d in defs})
    if stray:
        raise ParityInputError(f"ungated names metric(s) {stray} that are not being compared", argument="ungated",
                               value=stray)
    methods = _cmp._methods(defs, method, False)
    sums = {d.name: (PairedMean(d) if methods[d.name] == "paired" else DeltaRMSE(d))
            for d in defs if methods[d.name] in ("paired", "delta")}
    rows = CompactRows() if len(sums) < len(defs) else None
    keys_only: list[np.ndarray] = []
    columns = [key, label] + [s for s in (legacy, new) if isinstance(s, str)] + list(side_columns)
    total = count_rows(p)
    n, differs = 0, False
    with progress.bar(f"streaming {p.name}", total=total, unit="rows") as pbar:
        for chunk in iter_chunks(p, columns, chunk_rows=chunk_rows):
            pbar.set_description_str(f"streaming {p.name}: chunk {chunk.index}")
            ks = chunk.columns[key]
            try:
                y = _cmp._labels(chunk.columns[label], defs)
            except ParityInputError as exc:
                raise _located(exc, path=p, what=f"label column {label!r}", column=label, chunk=chunk,
                               key=key) from None
            raw, val = {}, {}
            for which, side, arg in (("legacy", legacy, "score_legacy"), ("new", new, "score_new")):
                raw[which] = _score_chunk(side, which, chunk, p, key)
                try:
                    val[which] = _cmp._scores(raw[which], arg, chunk.n, defs)
                except ParityInputError as exc:
                    raise _located(exc, path=p, what=_side_name(side, which),
                                   column=side if isinstance(side, str) else None, chunk=chunk, key=key) from None
            differs = differs or not np.array_equal(val["legacy"], val["new"])
            for acc in sums.values():
                acc.add(y, val["legacy"], val["new"])
            if rows is not None:
                rows.add(ks, y, raw["legacy"], val["legacy"], raw["new"], val["new"])
            else:
                keys_only.append(ks)
            n += chunk.n
            pbar.update(chunk.n)
    if n == 0:
        raise ParityInputError(f"{p}: has no rows; expected at least one", file=str(p), reason="no rows")
    if not differs:
        _cmp._not_identical(np.zeros(1), np.zeros(1), allow_identical)
    if rows is not None:
        kept = rows.result()
        keys, y_all, a_all, b_all = kept.keys, kept.y, kept.a, kept.b
        _cmp._side_checks(a_all, b_all, defs)
    else:
        keys = np.sort(np.concatenate(keys_only))
        y_all = a_all = b_all = np.broadcast_to(np.float64(0.5), (n,))  # never read: every metric is a sum
    _check_keys(keys, p, key)
    inp = _cmp._Inputs(y_all, a_all, b_all, None, None, keys, defs, margin_of, methods, informative, (),
                       float(alpha), float(power), int(n_boot), int(seed), _MIN_SLICE_SIZE)
    estimates = [_estimate(inp, d, sums.get(d.name)) for d in defs]
    entries = [_cmp._gate(inp, d, None, est) for d, est in zip(defs, estimates)]
    entries = _cmp._adjust(inp, entries, estimates)
    notes = [] if margin_of else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=_MIN_SLICE_SIZE, notes=notes)


def _estimate(inp, d, acc):
    a = inp.alpha
    if acc is None:
        if d.name != "auc" or inp.methods[d.name] != "delong":
            return _cmp._estimate(inp, d, None)
        why = _cmp._definedness(inp, d, None)  # raises on all rows, as in memory
        if why is not None:
            return _cmp._Undefined(why)
        # the same bits as delong_paired, with sorts of one score range at a time (a fraction of the memory)
        r = range_partitioned_auc(inp.y, inp.a, inp.b, alpha=a, n_ranges=_AUC_RANGES)
        return _cmp._Estimate(r.auc_a, r.auc_b, r.diff, r.se, tuple(r.ci_at(2 * a)), tuple(r.ci_at(a)), r.method,
                              r.ci_at, p_beyond=r.p_value_beyond)
    if isinstance(acc, PairedMean):
        r = acc.result(2 * a)
        return _cmp._Estimate(r.legacy, r.new, r.new - r.legacy, r.se, tuple(r.ci), tuple(r.ci_at(a)), r.method,
                              r.ci_at, df=r.df)
    r = acc.result()
    diff = r.new - r.legacy
    return _cmp._Estimate(r.legacy, r.new, diff, r.se, _cmp._normal(diff, r.se, 2 * a), _cmp._normal(diff, r.se, a),
                          "delta method (normal)", lambda lv: _cmp._normal(diff, r.se, lv))
