"""`compare_stream`: `harness.stats.compare_scores` over a Parquet golden set read chunk by chunk.

Each metric keeps the state its estimator needs (`harness.scale.accumulators`): logloss, brier and mae
(method ``paired``) and rmse (``delta``) keep exact sums, O(1) memory, weighted or not, for all rows and
for every slice value seen (crossed slices: every combination seen); auc and pr_auc (``delong``) and the
bootstrap metrics (weighted auc, ece, calibration, ndcg@K, mrr) keep the rows compactly (key, int8
label, scores and weights in their own precision, the group id, slice values as int32 codes) and run
the in-memory estimator on them sorted by key (unweighted auc: DeLong with range-partitioned
components, `harness.scale.range_auc`, the same bits with a fraction of the one sort's memory). The
entries are then gated and Holm-adjusted by `harness.stats.compare`'s own steps, so the result has
`compare_scores`' shape and meaning:

- exact-sum metrics equal the in-memory run to a few ulps (sums are exact here, pairwise there);
- row-keeping metrics equal the in-memory run on the rows in key order bit for bit, and on any other
  row order to float rounding (DeLong's variances sum the components in row order; the Poisson
  bootstrap's weights depend on the key only).

Query groups (ndcg@K, mrr): the ranking metrics need every row of a group together. Rather than
require a group-sorted file, the kept rows carry the group id and the estimator runs once all chunks
are in, so a group split across chunk borders, or scattered through the file, is whole; per-group
weights are checked constant over the whole group then (an error names the row by its key). The cost is
the compact rows (about 30-40 bytes a row), which the bootstrap metrics need anyway.

Every chunk is validated as `compare_scores` validates all rows, and an error names the file, the column,
the side, the chunk and the row's key; a side given as a function that fails on a chunk names the chunk
and its key range. Nothing is returned until the last chunk is in.

Bootstrap metrics whose replicate is a ratio of two weighted sums (calibration_ratio; logloss, brier
and mae when the bootstrap is asked for) keep exact replicate sums keyed by (seed, row key, replicate)
(`harness.scale.replicates`): O(n_boot) memory, any chunking the same bits, the in-memory replicates
to a few ulps. Those that need a sort or all rows of a group (weighted auc, pr_auc, ece, calibration
slope/intercept, ndcg@K, mrr) keep the compact rows.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from harness import progress
from harness.errors import ParityInputError, ScorerError
from harness.scale.accumulators import CompactRows, DeltaRMSE, KeyedColumns, PairedMean
from harness.scale.codes import ValueCodes
from harness.scale.replicates import BootstrapMean
from harness.scale.range_auc import range_partitioned_auc
from harness.scale.stream import DEFAULT_CHUNK_ROWS, Chunk, count_rows, iter_chunks
from harness.stats import compare as _cmp
from harness.stats._validation import as_scores, check_alpha, group_codes, input_error
from harness.stats.compare import DEFAULT_METRICS, ComparisonResult

_AUC_RANGES = 64
_MIN_SLICE_SIZE = 1000  # compare_scores' default

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


def _check_keys(keys: np.ndarray, path: Path, key: str, chunk: Chunk | None = None) -> None:
    """Refuse repeated keys in ``keys`` (sorted). ``chunk``: they are that chunk's keys (sorted), and the
    message names the chunk and the first two rows that hold the first repeated key."""
    if keys.shape[0] > 1:
        dup = np.flatnonzero(keys[1:] == keys[:-1])
        if dup.size:
            where = ""
            if chunk is not None:
                first, second = np.flatnonzero(chunk.columns[key] == keys[dup[0]])[:2]
                where = f" in {chunk.where()}, rows {chunk.start + int(first)} and {chunk.start + int(second)}"
            else:  # the stream's rows are in key order here: read the key column again to say where
                where = rows_holding(path, key, keys[dup[0]])
            raise ParityInputError(f"{path}: key column {key!r} repeats {key}={keys[dup[0]].item()!r}{where} "
                                   f"({dup.size} repeated key(s){' in that chunk' if chunk is not None else ''}); "
                                   "each row needs its own key", file=str(path), column=key, reason="repeated key")


def rows_with_key(path: Path, key: str, value: Any, limit: int) -> list[str]:
    """Where the first ``limit`` stream rows whose key is ``value`` are ("chunk 2, row 250 (id=7) in
    b.parquet (its row 50)", the file for a folder), by a second read of the key column: for error paths
    only, so that a message names the file and row, not just the folder or the key."""
    found: list[str] = []
    for chunk in iter_chunks(path, [key]):
        for row in np.flatnonzero(chunk.columns[key] == value)[:limit - len(found)].tolist():
            found.append(chunk.where(key, row))
        if len(found) == limit:
            break
    return found


def locate_key(path: Path | str, key: str, value: Any, text: str) -> str:
    """``text`` with its first "KEY=VALUE" naming the first stream row whose key is ``value`` by chunk,
    row and file (`rows_with_key`); as it is when no row has that key."""
    found = rows_with_key(Path(path), key, value, 1)
    return text.replace(f"{key}={_plain(value)!r}", found[0], 1) if found else text


def rows_holding(path: Path, key: str, value: Any) -> str:
    """" at chunk 0, row 3 (id=7) in a.parquet (its row 3) and chunk 2, row 250 (id=7) in b.parquet (its
    row 50)": the first two stream rows whose key is ``value`` (a key repeated across a folder's files
    names both files); "" when there are not two."""
    found = rows_with_key(path, key, value, 2)
    return f" at {found[0]} and {found[1]}" if len(found) == 2 else ""


def varying_group_weight(path: Path | str, key: str, weight: str, key_value: Any, group_value: Any,
                         exc: ParityInputError, *, locate: bool = True) -> str:
    """The text for a query group whose rows carry different weights (`check_constant_within_groups`'
    error ``exc`` at the row whose key is ``key_value``): the file, column, row, key, value and group, in
    the same words from the streamed and the Beam run. ``locate=False``: the row named by its key only
    ("at id=7"; `locate_key` names its chunk and file later, once)."""
    at = f"{key}={_plain(key_value)!r}"
    if locate:
        at = locate_key(path, key, key_value, at)
    return (f"{path}: column {weight!r}: {exc.reason}; at {at} is {_plain(exc.value)!r} {exc.detail} "
            f"(group {_plain(group_value)!r})")


SliceSpec = Union[str, Sequence[str]]


def _slice_columns(slices: Sequence[SliceSpec]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for spec in slices:
        cols = (spec,) if isinstance(spec, str) else tuple(spec)
        if not cols or cols in out:
            raise ParityInputError(f"slices: {spec!r} is empty or given twice", argument="slices", value=spec)
        out.append(cols)
    return out


def part_weights(raw: np.ndarray, part: str = "chunk") -> np.ndarray:
    """One chunk's (or Beam batch's) weights: finite, non-negative (all zero is allowed here: only the whole
    file must weigh something)."""
    w = as_scores(raw, "sample_weight")
    bad = w < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise input_error("sample_weight", "weights must be non-negative", row=i, value=w[i],
                          detail=f"({int(bad.sum())} negative in this {part})")
    return w


_REPLICATED = ("calibration_ratio", "logloss", "brier", "mae")  # bootstrap replicate = a ratio of two sums


class _Sums:
    """The accumulators of the summed metrics (exact sums; for the ratio-type bootstrap metrics, exact
    replicate sums), for all rows and for each slice value seen."""

    def __init__(self, defs, methods, weighted: bool, n_specs: int, n_boot: int, seed: int) -> None:
        def make(d):
            how = methods[d.name]
            if how == "paired":
                return lambda: PairedMean(d, weighted=weighted)
            if how == "delta":
                return lambda: DeltaRMSE(d, weighted=weighted)
            if how == "bootstrap" and d.name in _REPLICATED:
                return lambda: BootstrapMean(d, n_boot=n_boot, seed=seed, weighted=weighted)
            return None

        self._make = {d.name: f for d in defs if (f := make(d)) is not None}
        self.replicated = any(methods[d.name] == "bootstrap" for d in defs if d.name in self._make)
        self.all = self._new()
        self.by_slice: list[dict[tuple[int, ...], dict[str, Any]]] = [{} for _ in range(n_specs)]

    def __contains__(self, name: str) -> bool:
        return name in self._make

    def __len__(self) -> int:
        return len(self._make)

    def _new(self) -> dict[str, Any]:
        return {name: make() for name, make in self._make.items()}

    @staticmethod
    def _add(accs, keys, y, a, b, w) -> None:
        for acc in accs.values():
            if isinstance(acc, BootstrapMean):
                acc.add(y, a, b, w, keys=keys)
            else:
                acc.add(y, a, b, w)

    def add(self, keys, y, a, b, w, spec_codes: list[list[np.ndarray]]) -> None:
        if not self._make:
            return
        self._add(self.all, keys, y, a, b, w)
        for table, codes in zip(self.by_slice, spec_codes):
            combos, inv = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            order = np.argsort(inv, kind="stable")
            bounds = np.searchsorted(inv[order], np.arange(combos.shape[0] + 1))
            for j, combo in enumerate(map(tuple, combos.tolist())):
                idx = order[bounds[j]:bounds[j + 1]]
                accs = table.get(combo)
                if accs is None:
                    accs = table[combo] = self._new()
                self._add(accs, keys[idx], y[idx], a[idx], b[idx], None if w is None else w[idx])


def compare_stream(path: str | Path, *, label: str, legacy: Side, new: Side, key: str,
                   metrics: Sequence[str] = DEFAULT_METRICS, margins: Mapping[str, Any] | None = None,
                   alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   method: str | Mapping[str, str] = "auto", power: float = 0.8, ungated: Sequence[str] = (),
                   allow_identical: bool = False, side_columns: Sequence[str] = (), weight: str | None = None,
                   group: str | None = None, slices: Sequence[SliceSpec] = (),
                   min_slice_size: int = _MIN_SLICE_SIZE) -> ComparisonResult:
    """`compare_scores(y, legacy, new, keys=key, sample_weight=weight, groups=group, slices=..., ...)` on the
    file's rows, read ``chunk_rows`` at a time.

    ``legacy`` and ``new`` are score columns of the file, or functions from a chunk's columns (a dict of
    numpy arrays: ``key``, ``label``, the score columns named and ``side_columns``) to one score per row (a
    model side scoring the stream). ``key`` is required: it orders
    the kept rows and keys the Poisson bootstrap, so the result does not depend on the file's row order.
    ``weight`` and ``group`` name columns; ``slices`` lists slice columns, a tuple of names for a crossed
    slice (``("device", "country")``).
    """
    p = Path(path)
    _cmp._validate_options(alpha, n_boot, seed, min_slice_size, power)
    alpha = check_alpha(alpha)
    defs = _cmp._metric_defs(metrics)
    ranking = [d.name for d in defs if d.needs_groups]
    if ranking and group is None:
        raise ParityInputError(f"metric {ranking[0]!r} is computed per query group: pass groups (--group COL)",
                               argument="groups", reason=f"metric {ranking[0]!r} is computed per query group")
    margin_of = _cmp._margins(defs, margins)
    informative = frozenset(_cmp.get_metric(u).name for u in ([ungated] if isinstance(ungated, str) else ungated))
    stray = sorted(informative - {d.name for d in defs})
    if stray:
        raise ParityInputError(f"ungated names metric(s) {stray} that are not being compared", argument="ungated",
                               value=stray)
    methods = _cmp._methods(defs, method, weight is not None)
    specs = _slice_columns(slices)
    slice_cols = list(dict.fromkeys(c for cols in specs for c in cols))
    encoders = {c: ValueCodes(c) for c in slice_cols}
    sums = _Sums(defs, methods, weight is not None, len(specs), n_boot, seed)
    keep_rows = len(sums) < len(defs)
    extra = ([weight] if weight and keep_rows else []) + ([group] if group and keep_rows else [])
    code_names = [f"slice:{c}" for c in slice_cols]
    total = count_rows(p)
    rows = CompactRows(extra + code_names, capacity=total) if keep_rows else None
    index = KeyedColumns(code_names) if not keep_rows else None
    columns = [key, label] + [s for s in (legacy, new) if isinstance(s, str)] + list(side_columns)
    columns += [c for c in (weight, group) if c] + slice_cols
    n, differs, weighs = 0, False, False
    with progress.bar(f"streaming {p.name}", total=total, unit="rows") as pbar:
        for chunk in iter_chunks(p, columns, chunk_rows=chunk_rows, nullable=slice_cols, key=key):
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
            w = None
            kept: dict[str, np.ndarray] = {}
            if weight:
                try:
                    w = part_weights(chunk.columns[weight])
                except ParityInputError as exc:
                    raise _located(exc, path=p, what=f"weight column {weight!r}", column=weight, chunk=chunk,
                                   key=key) from None
                weighs = weighs or bool((w > 0).any())
                kept[weight] = CompactRows._score(chunk.columns[weight], w)
            if group:
                try:
                    group_codes(chunk.columns[group], chunk.n, "groups")
                except ParityInputError as exc:
                    raise _located(exc, path=p, what=f"group column {group!r}", column=group, chunk=chunk,
                                   key=key) from None
                kept[group] = chunk.columns[group]
            codes = {c: encoders[c].encode(chunk.columns[c]) for c in slice_cols}
            differs = differs or not np.array_equal(val["legacy"], val["new"])
            if sums.replicated:  # the replicate weights are keyed by row: a repeated key is named here first
                _check_keys(np.sort(ks), p, key, chunk)
            sums.add(ks, y, val["legacy"], val["new"], w, [[codes[c] for c in cols] for cols in specs])
            kept.update({f"slice:{c}": v for c, v in codes.items()})
            if rows is not None:
                rows.add(ks, y, raw["legacy"], val["legacy"], raw["new"], val["new"],
                         **{k: kept[k] for k in extra + code_names})
            else:
                index.add(ks, **{k: kept[k] for k in code_names})
            n += chunk.n
            pbar.update(chunk.n)
    _release_arrow_memory()
    if n == 0:
        raise ParityInputError(f"{p}: has no rows; expected at least one", file=str(p), reason="no rows")
    if weight and not weighs:
        raise ParityInputError(f"{p}: weight column {weight!r}: all {n} weights are zero; at least one row needs "
                               "positive weight", file=str(p), column=weight, reason="all weights are zero")
    if not differs:
        _cmp._not_identical(np.zeros(1), np.zeros(1), allow_identical)
    w_all = g_all = None
    if rows is not None:
        kept_rows = rows.result()
        keys, y_all, a_all, b_all, cols = kept_rows.keys, kept_rows.y, kept_rows.a, kept_rows.b, kept_rows.extra
        _cmp._side_checks(a_all, b_all, defs)
        if weight:
            w_all = cols[weight].astype(np.float64, copy=False)
        if group:
            g_all = cols[group]
            try:
                _cmp._ranking(defs, g_all, w_all, n)
            except ParityInputError as exc:  # rows here are in key order: name the row by its key
                column = weight if exc.argument == "sample_weight" else group
                if column == weight and exc.row is not None and exc.has_value and exc.detail:
                    raise ParityInputError(varying_group_weight(p, key, weight, keys[exc.row], g_all[exc.row], exc),
                                           file=str(p), column=column, reason=exc.reason, detail=exc.detail,
                                           value=exc.value) from None
                where = "" if exc.row is None else f"; at {key}={_plain(keys[exc.row])!r}" + (
                    f" is {_plain(exc.value)!r}" if exc.has_value else "")
                raise ParityInputError(f"{p}: column {column!r}: {exc.reason or exc}{where}"
                                       + (f" {exc.detail}" if exc.detail else ""), file=str(p), column=column,
                                       reason=exc.reason, detail=exc.detail, value=exc.value) from None
    else:
        keys, cols = index.result()
        y_all = a_all = b_all = np.broadcast_to(np.float64(0.5), (n,))  # never read: every metric is a sum
    _check_keys(keys, p, key)
    sl_objs = _slices(specs, encoders, cols, n)
    for c in slice_cols:  # the codes are not read again: they go before the estimators' peak
        cols.pop(f"slice:{c}", None)
    by_values = {(cs, tuple(encoders[c].value(code) for c, code in zip(cs, combo))): accs
                 for cs, table in zip(specs, sums.by_slice) for combo, accs in table.items()}
    inp = _cmp._Inputs(y_all, a_all, b_all, w_all, g_all, keys, defs, margin_of, methods, informative, sl_objs,
                       float(alpha), float(power), int(n_boot), int(seed), int(min_slice_size))
    cells = [(d, None) for d in defs] + [(d, sl) for sl in sl_objs for d in defs]
    estimates = []
    for d, sl in cells:
        if sl is None:
            estimates.append(_estimate(inp, d, sums.all.get(d.name)))
        elif d.name in sums:
            estimates.append(_slice_estimate(inp, d, by_values[(sl.columns, sl.values)][d.name]))
        else:
            estimates.append(_cmp._estimate(inp, d, sl.rows))
    entries = [_cmp._gate(inp, d, sl, est) for (d, sl), est in zip(cells, estimates)]
    entries = _cmp._adjust(inp, entries, estimates)
    notes = [] if margin_of else ["no margins given: nothing is gated, so the overall verdict is INCONCLUSIVE"]
    return ComparisonResult(entries, n_rows=n, seed=int(seed), alpha=float(alpha), n_boot=int(n_boot),
                            min_slice_size=int(min_slice_size), notes=notes)


def _slices(specs, encoders, cols, n: int) -> tuple:
    """`harness.stats.compare.slice_rows` of the decoded slice values, from the rows' int32 codes.

    slice_rows orders and validates the distinct values (or crossed combinations) only, one entry
    each, and each slice's rows are then found from the codes: decoding every row (an object array)
    and sorting its codes cost ~50 B a row at the stream's peak. Same slices, same order, same rows
    (increasing, as slice_rows gives them)."""
    out = []
    for cs in specs:
        codes = [cols[f"slice:{c}"] for c in cs]
        sizes = [len(encoders[c]) for c in cs]
        if len(cs) == 1:
            combined = codes[0]
            present = np.flatnonzero(np.bincount(combined, minlength=sizes[0]))
        else:  # one int64 per row, mixed-radix in the columns' code counts
            combined = np.zeros(n, dtype=np.int64)
            for code, size in zip(codes, sizes):
                combined *= size
                combined += code
            present = np.unique(combined)
        digits = np.unravel_index(present, sizes) if len(cs) > 1 else (present,)
        values = [encoders[c].decode(d) for c, d in zip(cs, digits)]
        table = _cmp.slice_rows({(cs[0] if len(cs) == 1 else cs): (values[0] if len(cs) == 1 else tuple(values))},
                                present.shape[0])
        which = np.empty(present.shape[0], dtype=np.int32)  # entry of `present` -> its slice
        for j, sl in enumerate(table):
            which[sl.rows] = j
        if len(cs) == 1:
            lut = np.full(sizes[0], -1, dtype=np.int32)
            lut[present] = which
            row_slice = lut[combined]
        else:
            row_slice = which[np.searchsorted(present, combined)]
        del combined
        order = np.argsort(row_slice, kind="stable")
        bounds = np.zeros(len(table) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_slice, minlength=len(table)), out=bounds[1:])
        del row_slice
        out += [_cmp._Slice(sl.columns, sl.values, order[bounds[j]:bounds[j + 1]]) for j, sl in enumerate(table)]
    return tuple(out)


def _release_arrow_memory() -> None:
    """Hand the memory Arrow's pool kept from decoding the chunks back to the system.

    Its allocator (mimalloc) keeps freed pages for reuse: after the last chunk of a 1e7-row file that
    was ~600 MB of resident memory that nothing reads again, under the estimators' peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _slice_estimate(inp, d, acc):
    """A summed metric on one slice: undefined there (not bad input) when its interval cannot be formed."""
    try:
        return _estimate(inp, d, acc, all_rows=False)
    except ParityInputError as exc:
        return _cmp._Undefined(str(exc))


def _estimate(inp, d, acc, *, all_rows: bool = True):
    a = inp.alpha
    if isinstance(acc, BootstrapMean):
        return acc.estimate(a, all_rows=all_rows)
    if acc is None:
        if d.name != "auc" or inp.methods[d.name] != "delong" or inp.w is not None:
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
    return _cmp.delta_estimate(r.legacy, r.new, r.se, acc.m if acc.weighted else acc.n, a)
