"""A suite run whose golden split is streamed: ``parity run --stream`` / ``pytest --parity-stream``.

The in-memory run (`harness.runner`) reads the whole split into one frame, keeps both sides' feature
frames and checks them at the end. Here the split is read in chunks (pyarrow dataset batches, no
read-ahead), both sides score and featurize chunk by chunk, and what each check needs is kept compactly:

- features: one `FeatureMerge` per feature, fed by `check_features` on each chunk (counts of rows and
  mismatches, the largest absolute / relative / ULP error, the first mismatching rows in file order),
  so the feature frames and the raw columns never exist for the whole split;
- alignment, predictions, metrics, plots: each side's scores keyed by row key (16 bytes a row) and the
  evaluation columns (key, labels, group, weight, slice columns); duplicated and missing keys across
  chunks are found by the same `align_scores` on the whole key set, and the rank metrics, Spearman
  and top-k per query (which need every row of a query together, whichever chunk it came in) run on
  those compact rows. They are then checked by the runner's own evaluation step
  (`harness.runner._evaluate`), on the same arrays in the same order, so the report is the in-memory
  run's byte for byte (tests/scale/test_scale_suite_stream.py).

Chunks are cut at multiples of the suite's ``batch_size`` counted from the first (sampled) row, so
every batch a side scores holds exactly the rows it holds in memory (a model's float result may
depend on its batch). A side that raises mid-stream stops the run with a `ScorerError` naming the
side, the chunk, its row range and key range; the suite then reports errors only (exit 2), never a
partial result as complete.

The steps before and after scoring (`load_split`, `build_pair`, `finish`) and `FeatureMerge` (which
merges partial results in any order) are shared with the Beam suite run (`harness.scale.beam_suite`).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import GoldenDataError, ParityInputError, ScorerError
from harness.results import CheckResult
from harness.scale.stream import DEFAULT_CHUNK_ROWS
from harness.verdicts import Verdict

__all__ = ["FeatureMerge", "run_suite_streamed"]


class FeatureMerge:
    """The `check_feature` result of one feature over all chunks, from the chunks' own results.

    Each part comes with its position (chunk or batch index) and the result is the one the parts give
    in position order, whatever order they are added or merged in: the streamed run adds them in file
    order, a Beam run merges partial states from its workers (`merge`) in no particular order."""

    def __init__(self, n_examples: int = 5) -> None:
        self._n_examples = n_examples
        self._first: tuple[Any, CheckResult] | None = None  # (position, part) of the earliest part
        self._n = self._n_mismatch = 0  # these, and the rest, over the parts that have the feature
        self._abs: float | None = None
        self._ulp: int | None = None
        self._rel: float | None = None  # the largest non-NaN max_rel_err (np.nanmax over all rows)
        self._examples: list[tuple[Any, int, dict[str, Any]]] = []  # (position, order, example)

    def add(self, part: CheckResult, at: Any) -> FeatureMerge:
        d = part.details
        if self._first is None or at < self._first[0]:
            self._first = (at, part)
        if "missing_on" in d:  # a side without the feature: the same result whatever the chunk
            return self
        self._n += d["n"]
        self._n_mismatch += d["n_mismatch"]
        if d.get("max_abs_err") is not None:
            self._abs = d["max_abs_err"] if self._abs is None else max(self._abs, d["max_abs_err"])
            self._ulp = d["max_ulp"] if self._ulp is None else max(self._ulp, d["max_ulp"])
            r = d["max_rel_err"]
            if r == r:
                self._rel = r if self._rel is None else max(self._rel, r)
        self._examples = self._first_examples(self._examples + [(at, i, e) for i, e in enumerate(d["examples"])])
        return self

    def merge(self, other: FeatureMerge) -> FeatureMerge:
        if other._first is not None and (self._first is None or other._first[0] < self._first[0]):
            self._first = other._first
        self._n += other._n
        self._n_mismatch += other._n_mismatch
        for name, pick in (("_abs", max), ("_ulp", max), ("_rel", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        self._examples = self._first_examples(self._examples + other._examples)
        return self

    def _first_examples(self, examples):
        return sorted(examples, key=lambda e: (e[0], e[1]))[:self._n_examples]

    def result(self) -> CheckResult:
        if self._first is None:
            raise ValueError("FeatureMerge: no chunk was added")
        first = self._first[1]
        if "missing_on" in first.details:
            return first
        d = dict(first.details)  # the first part's keys, in its order
        d["n"], d["n_mismatch"] = self._n, self._n_mismatch
        if d.get("max_abs_err") is not None:
            d["max_abs_err"], d["max_ulp"] = self._abs, self._ulp
            d["max_rel_err"] = float("nan") if self._rel is None else self._rel
        d["match_rate"] = 1.0 - self._n_mismatch / self._n if self._n else 1.0
        d["examples"] = [e for _, _, e in self._examples]
        return _feature_check(d)


def _feature_check(details: dict[str, Any]) -> CheckResult:
    # check_feature's verdict, summary and message, from the merged numbers
    from harness.checks._format import table
    from harness.checks.features import _raw_text

    name, n, n_mismatch = details["feature"], details["n"], details["n_mismatch"]
    categorical = details["type"] == "categorical"
    examples = details["examples"]
    if categorical:
        tol = "exact match"
    else:
        unit = "" if details["ulp_dtype"] == "float64" else f" {details['ulp_dtype']}"
        t = details["tolerance"]
        tol = f"<= {t['max_ulp']}{unit} ULP or |err| <= {t['atol']:g}"
    verdict = Verdict.EQUIVALENT if n_mismatch == 0 and n > 0 else Verdict.NOT_EQUIVALENT
    summary = f"{name}: {n - n_mismatch}/{n} rows match ({tol})"
    message = ""
    if n == 0:
        message = f"feature {name!r}: no rows to compare"
    elif n_mismatch:
        lines = [
            f"feature {name!r} out of parity: {n_mismatch} of {n} rows differ ({n_mismatch / n:.4%}); "
            f"tolerance: {tol}.",
            "Fix: make the TF featurization compute this feature exactly as the legacy one (boundaries, vocabulary, "
            "hash, dtype).",
        ]
        if not categorical:
            lines.append(
                f"max |err| {details['max_abs_err']:.6g}, max rel err {details['max_rel_err']:.6g}, "
                f"max ULP distance {details['max_ulp']} (in {details['ulp_dtype']} ULPs)"
            )
        lines.append("first mismatching rows:")
        lines.append(table([{"key": e["key"], "legacy": e["legacy"], "new": e["new"], "raw": _raw_text(e.get("raw"))}
                            for e in examples], ["key", "legacy", "new", "raw"]))
        message = "\n".join(lines)
    return CheckResult(id=f"features/{name}", kind="feature", verdict=verdict, summary=summary, message=message,
                       details=details)


def _eval_columns(suite: Any, dataset: Any) -> list[str]:
    cols = [dataset.key, suite.label, dataset.group, dataset.weight if suite.use_weights else None]
    cols += [c for key in suite.slices for c in key]
    return [c for c in dict.fromkeys(cols) if c]


def _read_columns(path, columns: list[str], chunk_rows: int) -> pd.DataFrame:
    """The evaluation columns of the whole split (compact: no raw feature is read)."""
    import pyarrow as pa

    tables = [pa.Table.from_batches([b]) for b in _batches(path, columns, chunk_rows)]
    table = pa.concat_tables(tables) if tables else None
    if table is None:
        return pd.DataFrame({c: [] for c in columns})
    return table.to_pandas()


def _batches(path, columns: list[str] | None, chunk_rows: int):
    from harness.scale.stream import _dataset

    ds = _dataset(path)
    yield from ds.to_batches(columns=columns, batch_size=int(chunk_rows), batch_readahead=0, fragment_readahead=0)


def _chunks(path, keep: np.ndarray | None, size: int, chunk_rows: int,
            check=None) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first row, frame) of ``size`` rows each (the last one shorter), of the kept rows in file order;
    ``check(table)`` sees each chunk's Arrow table before pandas does (the dataset's value checks)."""
    import pyarrow as pa

    def emit(table):
        if check is not None:
            check(table)
        return table.to_pandas()

    buf: list[Any] = []
    have, pos, start = 0, 0, 0
    for batch in _batches(path, None, chunk_rows):
        if keep is not None:
            lo, hi = np.searchsorted(keep, [pos, pos + batch.num_rows])
            pos += batch.num_rows
            batch = batch.take(pa.array(keep[lo:hi] - (pos - batch.num_rows)))
        if batch.num_rows == 0:
            continue
        buf.append(batch)
        have += batch.num_rows
        while have >= size:
            table = pa.Table.from_batches(buf)
            yield start, emit(table.slice(0, size))
            rest = table.slice(size)
            buf, have, start = rest.to_batches(), have - size, start + size
    if have:
        yield start, emit(pa.Table.from_batches(buf))


@dataclass
class LoadedSplit:
    """What a chunked suite run knows before scoring: the verified dataset, the split's file, the
    evaluation columns of the kept rows (``frame``), the split's row count, the sampled positions."""

    dataset: Any
    path: Any
    frame: pd.DataFrame
    total: int
    keep_pos: np.ndarray | None
    cost: dict[str, Any]
    stages: Any

    def check_values(self, table, split: str) -> None:
        """Non-nullable columns free of null and NaN, as GoldenDataset.frame checks (row numbers in the
        message count from the table's first row)."""
        self.dataset._check_values(table, split, self.path)


def load_split(suite: Any, *, sample: int | None, seed: int, root: Any, chunk_rows: int,
               how: str = "streamed") -> LoadedSplit:
    """The load stage of a run that reads the split in parts (streamed here, or on Beam): every split
    file's sha256, the declaration, unique keys, labels and weights, the row sample."""
    from harness import runner
    from harness.golden import load_dataset
    from harness.serving.cost import measure_stage
    from harness.suite import check_declaration, check_labels

    cost: dict[str, Any] = {}
    stages = runner._Stages(suite.name)
    stages.next(f"loading and verifying golden data ({how})")
    with measure_stage("load") as cost["load"]:
        dataset = load_dataset(suite.dataset, root=root)  # every split file's sha256, read in chunks
        check_declaration(suite, root=root)
        path = dataset.split_path(suite.split)
        full = _read_columns(path, _eval_columns(suite, dataset), chunk_rows)
        total = len(full)
        if not full[dataset.key].is_unique:
            import pyarrow as pa

            from harness.golden.registry import check_unique_key

            check_unique_key(pa.Array.from_pandas(full[dataset.key]), dataset.key,
                             f"golden dataset {dataset.name!r} split {suite.split!r} ({path})")
        check_labels(suite, full, weight=dataset.weight, group=dataset.group, key=dataset.key, source=path)
        group = runner.sample_groups(suite, dataset)  # the in-memory run's draw: the same rows for the same seed
        keep_pos = runner.sample_positions(total, sample, seed, None if group is None else full[group].to_numpy())
        frame = full if keep_pos is None else full.iloc[keep_pos].reset_index(drop=True)
        del full
        if len(frame) == 0:
            raise ParityInputError(f"suite {suite.name!r}: split {suite.split!r} of {suite.dataset!r} has no rows")
    return LoadedSplit(dataset, path, frame, total, keep_pos, cost, stages)


def build_pair(suite: Any, split: LoadedSplit, head: pd.DataFrame) -> Any:
    """The pair, built and fitted as the in-memory run builds it (``head``: the first kept rows)."""
    from harness import runner
    from harness.serving.cost import measure_stage

    split.stages.next("building the model pair (training, export)")
    with measure_stage("train") as split.cost["train"]:
        pair = suite.pair(split.dataset)
        runner._prepare_pair(suite, pair, split.dataset, head, split.cost)
    return pair


def serving_rows_wanted(suite: Any, keep: dict[str, Any] | None) -> int:
    """How many first rows the serving gates read (0 when nothing is kept for them), as in memory."""
    if keep is None or not getattr(suite, "serving", None):
        return 0
    from harness.serving.suite_run import rows_needed

    return rows_needed(suite.serving)


def finish(suite: Any, split: LoadedSplit, scored: dict[str, pd.Series], feature_checks: list[CheckResult] | None,
           *, pair: Any, seed: int, keep: dict[str, Any] | None, keep_frame: pd.DataFrame):
    """After scoring: the file unchanged, then the in-memory run's own checks on the compact rows."""
    from harness import runner

    _unchanged(split.dataset, suite.split, split.path)
    return runner._evaluate(suite, split.dataset, split.frame, scored, full_rows=split.total, pair=pair,
                            cost=split.cost, stages=split.stages, seed=seed, keep=keep, feature_checks=feature_checks,
                            keep_frame=keep_frame)


def run_suite_streamed(suite: Any, *, sample: int | None = None, seed: int = 0, root: Any = None,
                       keep: dict[str, Any] | None = None, chunk_rows: int | None = None):
    """`harness.runner.run_suite` with the split streamed in chunks of about ``chunk_rows`` rows."""
    from harness.progress import bar as progress_bar

    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else chunk_rows
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ParityInputError(f"chunk rows must be an integer >= 1, got {chunk_rows!r}", argument="--chunk-rows")
    split = load_split(suite, sample=sample, seed=seed, root=root, chunk_rows=chunk_rows)
    size = whole_batches(chunk_rows, suite.batch_size)
    chunks = _chunks(split.path, split.keep_pos, size, chunk_rows, lambda t: split.check_values(t, suite.split))
    first = next(chunks)
    pair = build_pair(suite, split, first[1])
    split.stages.next(f"scoring {len(split.frame):,} rows with both sides, {size:,} rows a chunk")
    serving_rows: list[pd.DataFrame] = []
    want_rows = serving_rows_wanted(suite, keep)

    def kept(stream):
        have = 0
        for start, chunk in stream:
            if have < want_rows:
                serving_rows.append(chunk.iloc[:want_rows - have])
                have += len(serving_rows[-1])
            yield start, chunk

    scores, features, spent = _score_stream(suite, split.dataset, pair, kept(_chain(first, chunks)), len(split.frame),
                                            size, progress_bar)
    split.cost.update(spent)
    scored = {"legacy": scores["legacy"], "new": scores["new"]}
    feature_checks = [features[name].result() for name in suite.features] if suite.features else None
    return finish(suite, split, scored, feature_checks, pair=pair, seed=seed, keep=keep,
                  keep_frame=pd.concat(serving_rows, ignore_index=True) if serving_rows else first[1])


def whole_batches(chunk_rows: int, batch_size: int) -> int:
    """``chunk_rows`` rounded up to whole batches, so each side sees the in-memory batches."""
    return max(1, -(-chunk_rows // batch_size)) * batch_size


def _unchanged(dataset, split: str, path) -> None:
    """The file streamed is the file verified: its sha256 again, after the last chunk (the in-memory run
    hashes the very bytes it parses; a stream cannot hold them, so it checks that nothing changed)."""
    from harness.golden import sha256_file

    expected = dataset.manifest["splits"][split]["sha256"]
    actual = sha256_file(path)
    if actual != expected:
        raise GoldenDataError(f"golden dataset {dataset.name!r} split {split!r}: file {path}: sha256 {actual} does "
                              f"not match the manifest's {expected}; it changed on disk during the streamed run")


def _chain(first, rest):
    yield first
    yield from rest


def _score_stream(suite, dataset, pair, chunks, n_rows: int, size: int, progress_bar):
    from harness import runner
    from harness.checks.features import check_features

    key = dataset.key
    scores: dict[str, list[pd.Series]] = {"legacy": [], "new": []}
    features: dict[str, FeatureMerge] = {name: FeatureMerge() for name in suite.features}
    want = bool(suite.features)
    clock = runner.SideClock()
    timed = clock.timed

    with progress_bar(f"scoring {suite.name} (streamed)", total=n_rows, unit="row") as bar:
        for index, (start, chunk) in enumerate(chunks):
            bar.set_description_str(f"scoring {suite.name}: chunk {index}")
            feats: dict[str, list[pd.DataFrame]] = {"legacy": [], "new": []}
            for off in range(0, len(chunk), suite.batch_size):
                batch = chunk.iloc[off:off + suite.batch_size].reset_index(drop=True)
                keys = pd.Index(batch[key].to_numpy())
                for role, side in (("legacy", pair.legacy), ("new", pair.new)):
                    try:
                        predicted = timed(f"predict:{role}", lambda: side.predict(batch))
                        scores[role].append(runner._as_keyed(f"{role} side {side.name!r}", predicted, keys,
                                                             start=start + off))
                        if want:
                            f = timed(f"featurize:{role}", lambda: runner._featurize(side, batch))
                            if f is not None:
                                feats[role].append(f)
                    except Exception as exc:
                        raise _stopped(suite, role, side, index, start, chunk, key, exc) from exc
                bar.update(len(batch))
            if want:
                for part in _chunk_features(suite, dataset, chunk, feats, check_features):
                    features[part.details["feature"]].add(part, at=index)
    out = {role: pd.concat(parts) if parts else pd.Series(dtype=np.float64) for role, parts in scores.items()}
    return out, features, clock.stages(want)


def _chunk_features(suite, dataset, chunk, feats, check_features) -> list[CheckResult]:
    """The feature checks of one chunk (or batch) from both sides' feature frames."""
    lf = pd.concat(feats["legacy"], ignore_index=True) if feats["legacy"] else None
    nf = pd.concat(feats["new"], ignore_index=True) if feats["new"] else None
    if lf is None or nf is None:
        raise ParityInputError(f"suite {suite.name!r} declares features, but the "
                               f"{'legacy' if lf is None else 'new'} side cannot featurize (featurize returned None)")
    raw_cols = [c for c in dataset.features if c in chunk.columns]
    return check_features(lf, nf, keys=chunk[dataset.key].to_numpy(), features=suite.features,
                          categorical=suite.categorical_features, raw=chunk[raw_cols], max_ulp=suite.feature_max_ulp,
                          atol=suite.feature_atol, feature_map=suite.feature_map)


def _stopped(suite, role, side, index, start, chunk, key, exc) -> ScorerError:
    k = chunk[key]
    return ScorerError(f"suite {suite.name!r}: the {role} side {getattr(side, 'name', role)!r} failed on chunk "
                       f"{index} (rows {start}-{start + len(chunk) - 1}, keys {key}={_plain(k.iloc[0])!r}.."
                       f"{_plain(k.iloc[-1])!r}): {type(exc).__name__}: {exc}; the streamed run stopped there "
                       "and nothing of this suite is reported")


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
