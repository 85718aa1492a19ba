"""Run a suite: load verified data, build the pair, score both sides in batches, align, check.

    SuiteResult = run_suite(SUITE, sample=None, seed=0)

Scoring happens batch by batch (``Suite.batch_size`` rows); each side's predictions are turned into a
key-indexed Series (a positional array gets the batch's keys) and aligned once at the end, so missing and
duplicate keys from score files and external programs are counted, not dropped.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from harness.checks.alignment import align_scores
from harness.checks.features import check_features
from harness._threads import allowed as threads_allowed
from harness._threads import submit as submit_in_context
from harness.checks.predictions import check_predictions
from harness.errors import ParityInputError, ScorerError
from harness.plots import plot_data
from harness.progress import bar as progress_bar
from harness.progress import enabled as progress_enabled
from harness.results import CheckResult, SuiteResult
from harness.suite import Suite, check_declaration, check_feature_declaration, check_labels

__all__ = ["run_suite", "slice_values", "score_frame"]


def slice_values(suite: Suite, *, root: Any = None, sample: int | None = None, seed: int = 0) -> dict[Any, list[Any]]:
    """Distinct values of each slice in the rows the suite's run judges, read without building any
    model: its split, or with ``sample`` the run's own seeded sample of it (the one draw, `_sample`), so
    that the plan has a check for each slice value the run has rows of. A column's values are keyed by
    its name, a crossed slice's value tuples by its tuple of names. A missing value is None, a slice of
    its own (nothing is dropped); the order is the checks' own (`harness.checks.metrics.plan_metric_ids`
    sorts)."""
    if not suite.slices:
        return {}
    from harness.golden import load_dataset

    check_declaration(suite, root=root)
    dataset = load_dataset(suite.dataset, root=root)
    frame = _sample(dataset.frame(suite.split), sample, seed, sample_groups(suite, dataset))
    out: dict[Any, list[Any]] = {}
    for key in suite.slices:
        cells = frame[list(key)].drop_duplicates()
        rows = [tuple(None if pd.isna(v) else v for v in row) for row in cells.itertuples(index=False, name=None)]
        out[key[0] if len(key) == 1 else key] = [r[0] for r in rows] if len(key) == 1 else rows
    return out


def _as_keyed(side_name: str, scores: Any, batch_keys: pd.Index, *, start: int) -> pd.Series:
    """A side's scores for one batch as a float64 Series indexed by key: numbers only (bool is a decision,
    not a score), finite, one per row (or indexed by key); errors name the side, the key and the row."""
    if isinstance(scores, pd.Series):
        if scores.dtype.kind not in "fiu":
            _bad_dtype(side_name, scores.dtype)
        out = scores.astype(np.float64)
    else:
        arr = np.asarray(scores)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or len(arr) != len(batch_keys):
            raise ScorerError(
                f"{side_name}.predict returned shape {arr.shape} for a batch of {len(batch_keys)} rows; "
                "return one score per row (positionally aligned) or a Series indexed by key"
            )
        if arr.dtype.kind not in "fiu":
            _bad_dtype(side_name, arr.dtype)
        # Keep the side's own precision visible: float16 scores stay float16 values, widened exactly.
        out = pd.Series(arr.astype(np.float64), index=batch_keys)
    values = out.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = "in the Series it returned" if isinstance(scores, pd.Series) else f"row {start + i} of the scored rows"
        value, key = (v.item() if isinstance(v, np.generic) else v for v in (values[i], out.index[i]))
        raise ScorerError(f"{side_name}.predict returned {value!r} for key {key!r} ({where}); "
                          f"scores must be finite numbers ({int(bad.sum())} non-finite in this batch)")
    return out


def _bad_dtype(side_name: str, dtype: Any) -> pd.Series:
    hint = " (bool is a decision, not a score: return the score or probability)" if np.dtype(dtype).kind == "b" else ""
    raise ScorerError(f"{side_name}.predict returned non-numeric scores (dtype {dtype}){hint}")


def _featurize(side: Any, batch: pd.DataFrame) -> pd.DataFrame | None:
    feats = side.featurize(batch)
    if feats is None:
        return None
    if not isinstance(feats, pd.DataFrame):
        feats = pd.DataFrame(feats)
    if len(feats) != len(batch):
        raise ScorerError(f"{side.name}.featurize returned {len(feats)} rows for a batch of {len(batch)}")
    return feats.reset_index(drop=True)


def _prepare_pair(suite: Suite, pair: Any, dataset: Any, frame: pd.DataFrame, cost: dict[str, Any] | None = None) -> None:
    """Check the suite's feature declaration against what each side will produce, and fit the sides the
    pair leaves to the runner (`ModelPair.fit`), in that order, so a wrong declaration costs no training.
    Sides that can only name their features once fitted (an unfitted scikit-learn transformer; a side
    without ``feature_names``, asked by featurizing the first row) are checked right after fitting,
    before any row is scored."""
    from harness.protocol import ModelPair, feature_names

    pending = isinstance(pair, ModelPair) and bool(pair.fit)
    sides = {"legacy": pair.legacy, "new": pair.new}
    before = {role: feature_names(side) for role, side in sides.items()} if suite.features else {}
    if suite.features:
        check_feature_declaration(suite, before, when="checked before training" if pending else
                                  "checked when the pair was built, before scoring")
    if pending:
        pair.fit_pending(dataset, stage=None if cost is None else _side_stage(cost))
    if suite.features and None in before.values():
        after = dict(before)
        for role, side in sides.items():
            if after[role] is None:
                after[role] = feature_names(side)
            if after[role] is None:
                feats = _featurize(side, frame.iloc[:1].reset_index(drop=True))
                after[role] = [] if feats is None else [str(c) for c in feats.columns]
        check_feature_declaration(suite, after, when="checked after training, before scoring: a side named its "
                                  "features only once fitted")


def _side_stage(cost: dict[str, Any]) -> Callable[[str], Any]:
    """``stage(role)``: a context manager that records one side's fit as the stage ``train:<role>``."""
    from contextlib import contextmanager

    from harness.serving.cost import measure_stage

    @contextmanager
    def stage(role: str):
        with measure_stage(f"train:{role}") as cost[f"train:{role}"]:
            yield

    return stage


class SideClock:
    """Wall and CPU seconds each side spends predicting and featurizing: the cost stages
    ``predict:<side>`` and ``featurize:<side>``, summed over batches (in memory or streamed)."""

    def __init__(self) -> None:
        self.spent = {f"{stage}:{role}": [0.0, 0.0] for stage in ("predict", "featurize") for role in ("legacy", "new")}

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.spent[name][0] += time.perf_counter() - w0
            self.spent[name][1] += time.process_time() - c0

    def stages(self, featurized: bool) -> dict[str, dict[str, float]]:
        """The stages as cost entries; featurize stages only when the run featurized."""
        return {name: {"wall_s": w, "cpu_s": c} for name, (w, c) in self.spent.items()
                if featurized or name.startswith("predict")}


def score_frame(pair: Any, frame: pd.DataFrame, *, key: str, batch_size: int, want_features: bool,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Score ``frame`` with both sides in batches; features are kept only when ``want_features``."""
    scores: dict[str, list[pd.Series]] = {"legacy": [], "new": []}
    features: dict[str, list[pd.DataFrame]] = {"legacy": [], "new": []}
    clock = SideClock()
    timed = clock.timed

    for start in range(0, len(frame), batch_size):
        batch = frame.iloc[start:start + batch_size].reset_index(drop=True)
        keys = pd.Index(batch[key].to_numpy())
        for role, side in (("legacy", pair.legacy), ("new", pair.new)):
            predicted = timed(f"predict:{role}", lambda: side.predict(batch))
            scores[role].append(_as_keyed(f"{role} side {side.name!r}", predicted, keys, start=start))
            if want_features:
                feats = timed(f"featurize:{role}", lambda: _featurize(side, batch))
                if feats is not None:
                    features[role].append(feats)
        if progress is not None:
            progress(len(batch))
    out: dict[str, Any] = {role: pd.concat(parts) if parts else pd.Series(dtype=np.float64) for role, parts in scores.items()}
    for role, parts in features.items():
        out[f"{role}_features"] = pd.concat(parts, ignore_index=True) if parts else None
    out["spent"] = clock.stages(want_features)
    return out


def sample_groups(suite: Suite, dataset: Any) -> str | None:
    """The column whose query groups a ``--sample`` keeps whole: the dataset's group column when a metric
    or gate of ``suite`` averages over query groups (a ranking metric on a fragment of a query is another
    metric: a query that lost its relevant rows counts 0), else None (rows are drawn one by one)."""
    ranking = any(g.needs_groups for g in suite.metrics)
    topk = suite.retrained and getattr(suite.predictions, "topk", None) is not None
    return getattr(dataset, "group", None) if ranking or topk else None


def sample_positions(total: int, rows: int | None, seed: int, groups: Any = None) -> np.ndarray | None:
    """Sorted positions of a seeded sample of ``rows`` of ``total`` rows (None: every row), the one draw
    of every engine (in memory, streamed, Beam). With ``groups`` (one query id per row) whole groups: the
    distinct ids in sorted order, permuted with the seed, and the shortest prefix of that order holding
    at least ``rows`` rows."""
    if rows is None or rows >= total:
        return None
    rng = np.random.default_rng(seed)
    if groups is None:
        return np.sort(rng.choice(total, size=rows, replace=False))
    codes, uniques = pd.factorize(np.asarray(groups), sort=True, use_na_sentinel=False)
    order = rng.permutation(len(uniques))
    taken = int(np.searchsorted(np.cumsum(np.bincount(codes, minlength=len(uniques))[order]), rows)) + 1
    chosen = np.zeros(len(uniques), dtype=bool)
    chosen[order[:taken]] = True
    return np.flatnonzero(chosen[codes])


def _sample(frame: pd.DataFrame, rows: int | None, seed: int, group: str | None = None) -> pd.DataFrame:
    keep = sample_positions(len(frame), rows, seed, None if group is None else frame[group].to_numpy())
    return frame if keep is None else frame.iloc[keep].reset_index(drop=True)


class _Stages:
    """A stage-level progress bar for the long steps of a suite run: data, training, scoring, checks."""

    def __init__(self, name: str, total: int = 4) -> None:
        self._bar = progress_bar(name, total=total, unit="stage")
        self._name = name
        self._started = False

    def next(self, what: str) -> None:
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_description_str(f"{self._name}: {what}")

    def close(self) -> None:
        self._bar.close()


def run_suite(suite: Suite, *, sample: int | None = None, seed: int = 0, progress: bool = False,
              root: Any = None, keep: dict[str, Any] | None = None, stream: bool = False,
              chunk_rows: int | None = None, runner: str = "process",
              beam_options: tuple[str, ...] | None = None) -> SuiteResult:
    """Run one suite; ``progress`` shows bars on stderr for data, training, scoring and bootstrap work.
    ``stream`` reads the split in chunks of about ``chunk_rows`` rows (`harness.scale.suite_stream`);
    ``runner="beam"`` scores it as a Beam pipeline with ``beam_options`` (`harness.scale.beam_suite`).
    ``keep`` (a dict) receives the built ``pair`` and the scored ``frame``, for the serving gates that
    measure the same sides on the same rows after the accuracy checks (`harness.serving.suite_run`)."""
    from harness.options import RunOptions

    RunOptions(seed=seed, sample=sample, stream=stream, chunk_rows=chunk_rows, runner=runner, beam_options=beam_options,
               prefix="")  # as in both shells
    threads_allowed()  # a bad PARITY_THREADS is named before any model is built
    with progress_enabled(progress):
        if runner == "beam":  # the same result, the scoring on Beam
            from harness.scale.beam_suite import run_suite_beam

            return run_suite_beam(suite, sample=sample, seed=seed, root=root, keep=keep, beam_options=beam_options)
        if stream:  # the split read in chunks: golden sets larger than memory, the same result
            from harness.scale.suite_stream import run_suite_streamed

            return run_suite_streamed(suite, sample=sample, seed=seed, root=root, keep=keep, chunk_rows=chunk_rows)
        return _run_suite(suite, sample=sample, seed=seed, root=root, keep=keep)


def _run_suite(suite: Suite, *, sample: int | None, seed: int, root: Any,
               keep: dict[str, Any] | None = None) -> SuiteResult:
    from harness.golden import load_dataset
    from harness.serving.cost import measure_stage

    cost: dict[str, Any] = {}  # stage -> {wall_s, cpu_s, peak_rss_mb, ...}: varies run to run, kept out of report.json
    if suite.metrics:  # the bootstrap's compiled engine loads meanwhile, on a core the scoring leaves idle
        from harness.stats._poisson import warm_up

        warm_up()
    stages = _Stages(suite.name)
    stages.next("loading and verifying golden data")
    with measure_stage("load") as cost["load"]:
        dataset = load_dataset(suite.dataset, root=root)
        full = dataset.frame(suite.split)
        check_declaration(suite, root=root)  # before the pair is built: training can take minutes
        check_labels(suite, full, weight=dataset.weight, group=dataset.group, key=dataset.key,
                     source=dataset.split_path(suite.split))
        frame = _sample(full, sample, seed, sample_groups(suite, dataset))
        if len(frame) == 0:
            raise ParityInputError(f"suite {suite.name!r}: split {suite.split!r} of {suite.dataset!r} has no rows")
    stages.next("building the model pair (training, export)")
    # Both sides: the pair factory, and the fits a pair leaves to the runner (each also its own stage,
    # train:<side>); a factory that trains both sides itself is one figure.
    with measure_stage("train") as cost["train"]:
        pair = suite.pair(dataset)
        _prepare_pair(suite, pair, dataset, frame, cost)  # the feature declaration, then the runner's own fits

    stages.next(f"scoring {len(frame):,} rows with both sides")
    _warm_up_checks()
    with progress_bar(f"scoring {suite.name}", total=len(frame), unit="row") as bar:
        scored = score_frame(pair, frame, key=dataset.key, batch_size=suite.batch_size,
                             want_features=bool(suite.features), progress=bar.update)
    cost.update(scored.pop("spent"))
    return _evaluate(suite, dataset, frame, scored, full_rows=len(full), pair=pair, cost=cost, stages=stages,
                     seed=seed, keep=keep)


def _evaluate(suite: Suite, dataset: Any, frame: pd.DataFrame, scored: dict[str, Any], *, full_rows: int, pair: Any,
              cost: dict[str, Any], stages: _Stages, seed: int, keep: dict[str, Any] | None = None,
              keep_frame: pd.DataFrame | None = None, feature_checks: list[CheckResult] | None = None) -> SuiteResult:
    """Every check after scoring, and the SuiteResult. ``frame`` needs the key and the evaluation columns
    (and the raw features unless ``feature_checks`` are given: a streamed run checks features chunk by
    chunk, `harness.scale.suite_stream`)."""
    from harness.serving.cost import measure_stage

    stages.next("checks: alignment, features, predictions, metrics (intervals, bootstrap)")
    from harness.stats.ordering import shared_orders

    # shared_orders: the checks sort the same score columns several times; each contents is sorted once
    with measure_stage("evaluate") as cost["evaluate"], shared_orders():  # everything after scoring
        keys = frame[dataset.key].to_numpy()
        aligned = align_scores(keys, scored["legacy"], scored["new"])
        checks: list[CheckResult] = [aligned.check]
        pos = aligned.positions
        groups = frame[dataset.group].to_numpy()[pos] if dataset.group else None
        labels = frame[suite.label].to_numpy()[pos] if suite.label else None
        weights = frame[dataset.weight].to_numpy()[pos] if (dataset.weight and suite.use_weights) else None

        def feature_checks_found() -> list[CheckResult]:
            if feature_checks is not None:
                return feature_checks
            if not suite.features:
                return []
            lf, nf = scored["legacy_features"], scored["new_features"]
            if lf is None or nf is None:
                raise ParityInputError(
                    f"suite {suite.name!r} declares features, but the "
                    f"{'legacy' if lf is None else 'new'} side cannot featurize (featurize returned None)"
                )
            raw_cols = [c for c in dataset.features if c in frame.columns]
            return check_features(lf, nf, keys=keys, features=suite.features, categorical=suite.categorical_features,
                                  raw=frame[raw_cols], max_ulp=suite.feature_max_ulp, atol=suite.feature_atol,
                                  feature_map=suite.feature_map)

        def prediction_checks() -> list[CheckResult]:
            if suite.retrained:
                from harness.checks.retrained import check_retrained_predictions

                return check_retrained_predictions(aligned.legacy, aligned.new, keys=keys[pos], groups=groups,
                                                   labels=labels, gates=suite.predictions, alpha=suite.alpha,
                                                   seed=seed)
            return [check_predictions(aligned.legacy, aligned.new, keys=keys[pos], groups=groups,
                                      atol=suite.prediction_atol, max_share=suite.prediction_max_share, k=suite.top_k)]

        def plots() -> Any:
            return plot_data(aligned.legacy, aligned.new, labels=labels, weights=weights)

        def metric_checks() -> list[CheckResult]:
            if not suite.metrics:
                return []
            from harness.checks.metrics import check_metrics

            try:
                return check_metrics(labels, aligned.legacy, aligned.new, gates=suite.metrics, sample_weight=weights,
                                     groups=groups, keys=keys[pos], slices=_slice_arrays(suite, frame, pos),
                                     min_slice_size=suite.min_slice_size, alpha=suite.alpha, n_boot=suite.n_boot,
                                     seed=seed, weight_column=dataset.weight if weights is not None else None)
            except ParityInputError as exc:
                raise _in_suite_terms(exc, suite, dataset, pair, keys[pos]) from exc

        # The steps in their old order, each an (output, error) pair: the feature checks, the prediction
        # checks, the metric checks, the plot data. The feature checks, the prediction checks and the plot
        # data run on a second thread (when threads are allowed) while this one checks the metrics: pure
        # functions of the aligned rows (numpy releases the GIL in its sorts and loops), and together
        # shorter than the metric checks, which are what the run waits for. Outputs are collected in the
        # same order, and the first error in that order is raised, as in the serial run (which stops at a
        # failing feature or prediction check; threaded, the metric checks then ran for nothing). The
        # environment's fingerprint is taken on that thread after them.
        def outcome(step: Callable[[], Any]) -> tuple[Any, Exception | None]:
            try:
                return step(), None
            except Exception as exc:  # noqa: BLE001  (raised below, in the old order)
                return None, exc

        def side() -> list[tuple[Any, Exception | None]]:
            done = [outcome(prediction_checks)]
            return done if done[0][1] is not None else done + [outcome(plots)]

        def features_then_side() -> tuple[tuple[Any, Exception | None], list[tuple[Any, Exception | None]]]:
            features = outcome(feature_checks_found)
            return features, (side() if features[1] is None else [])

        fingerprint_work = None
        if threads_allowed() > 1:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-checks") as pool:
                side_work = submit_in_context(pool, features_then_side)
                fingerprint_work = submit_in_context(pool, _fingerprint)
                metrics_done = outcome(metric_checks)
                features_done, side_done = side_work.result()
        else:
            features_done, side_done = features_then_side()
            metrics_done = outcome(metric_checks) if len(side_done) == 2 else None
        steps = [features_done, *side_done[:1], metrics_done, *side_done[1:]]
        for done in steps:
            if done is not None and done[1] is not None:
                raise done[1]
        features_found, prediction_found, metrics_found, plots_found = (out for out, _ in steps)
        checks += features_found
        checks += prediction_found
        checks += metrics_found
        if suite.too_good is not None:
            from harness.checks.review_items import too_good_items

            checks += too_good_items([c for c in checks if c.kind == "metric"], suite.too_good)
        if suite.platform_metrics:
            from harness.checks.platform_metrics import check_platform_metrics, margins_from_metric_checks

            checks += check_platform_metrics(labels, aligned.new, metrics=suite.platform_metrics,
                                             margins=margins_from_metric_checks(checks), sample_weight=weights)
    stages.close()
    result = SuiteResult(
        suite=suite.name,
        description=suite.description,
        dataset={
            "name": dataset.name,
            "version": dataset.version,
            "split": suite.split,
            "rows": int(len(frame)),
            "files": {s: dataset.manifest["splits"][s].get("sha256") for s in dataset.splits},
        },
        seed=seed,
        checks=checks,
        sample={"rows": int(len(frame)), "seed": seed} if len(frame) < full_rows else None,
        alignment=aligned.check.details,
        plots=plots_found,
        fingerprint=_fingerprint() if fingerprint_work is None else fingerprint_work.result(),
        known_gaps=dict(suite.known_gaps),
    )
    result.cost = cost
    if keep is not None:
        keep.update(pair=pair, frame=frame if keep_frame is None else keep_frame)
    result.side_cache = list((getattr(pair, "extra", None) or {}).get("side_cache", []))
    return result


def _in_suite_terms(exc: ParityInputError, suite: Suite, dataset: Any, pair: Any, keys: np.ndarray) -> ParityInputError:
    """A metric check's input error in the words of the suite: `compare_scores` names its arguments
    (score_new) and row positions (of the aligned rows, which the user never sees); the suite's user
    knows the sides, the columns and the keys. Errors that name no row go through as they are."""
    sides = {role: getattr(getattr(pair, role, None), "name", None) or role for role in ("legacy", "new")}
    what = {"score_legacy": f"the legacy side's scores ({sides['legacy']!r})",
            "score_new": f"the new side's scores ({sides['new']!r})",
            "y_true": f"label column {suite.label!r}",
            "sample_weight": f"weight column {getattr(dataset, 'weight', None)!r}"}.get(exc.argument or "")
    if what is None or exc.row is None or exc.reason is None or not 0 <= exc.row < keys.shape[0]:
        return exc
    key = keys[exc.row]
    key = key.item() if hasattr(key, "item") else key
    value = f" is {exc.value!r}" if exc.has_value else ""
    detail = f" {exc.detail}" if exc.detail else ""
    return exc.with_fields(f"suite {suite.name!r}, metric checks: {what}: {exc.reason}; the row with "
                           f"{dataset.key}={key!r}{value}{detail}")


_WARMING: list[Any] = []  # the checks' warm-up thread, once per process


def _warm_up_checks() -> None:
    """Load, on a background thread, what the checks and the report after scoring need and that does
    not depend on the run: their modules (~60 ms of imports in a fresh process: the metric checks'
    statistics and scipy.stats, the report's renderers) and the environment fingerprint's package
    versions and CPU, which `harness.upgrade.fingerprint` reads once per process (~30 ms). Started
    when scoring starts, once the sides are built (their own imports, TensorFlow's and
    scikit-learn's, are done: no two threads import the same packages at once), it runs on the core
    the scoring leaves idle instead of after scoring. Nothing waits for it: an import that is under
    way when the checks need it is finished by whichever thread gets there first, and the cached
    readings are the same whenever they are read. Not started where threads are not allowed
    (PARITY_THREADS=1)."""
    if _WARMING or threads_allowed() < 2:
        return
    import threading

    def load() -> None:
        try:
            import harness.checks.metrics  # noqa: F401  (the statistics: compare, bootstrap, DeLong, scipy.stats)
            import harness.report.build  # noqa: F401
            import harness.report.html  # noqa: F401
            import harness.report.markdown  # noqa: F401
            from harness.report.provenance import harness_version
            from harness.upgrade.fingerprint import NUMERIC_PACKAGES, _cpu, _versions

            harness_version(), _versions(NUMERIC_PACKAGES), _cpu()
        except Exception:  # noqa: BLE001  (the checks import and read these themselves, and report there)
            return

    _WARMING.append(threading.Thread(target=load, name="parity-checks-warm-up"))
    _WARMING[0].start()


def _slice_arrays(suite: Suite, frame: pd.DataFrame, pos: np.ndarray) -> dict[Any, Any]:
    """The suite's slice columns at the aligned rows, as `check_metrics` takes them."""
    return {key[0] if len(key) == 1 else key:
            _values(frame[key[0]], pos) if len(key) == 1 else tuple(_values(frame[c], pos) for c in key)
            for key in suite.slices}


def _values(column: pd.Series, pos: np.ndarray) -> Any:
    """``column.to_numpy()[pos]``; a string column as its few distinct strings and a code per row
    (pandas' factorize, `harness.stats.compare.SliceCodes`): no Python string per row, and the slices
    are found by sorting the distinct strings, not by hashing every row's."""
    if not isinstance(column.dtype, pd.StringDtype):
        return column.to_numpy()[pos]
    from harness.stats.compare import SliceCodes

    codes, distinct = pd.factorize(column)
    return SliceCodes(list(distinct), codes[pos])


def _fingerprint() -> dict[str, Any]:
    try:
        from harness.upgrade.fingerprint import fingerprint
    except ImportError:  # the upgrade gate is optional for a plain parity run
        return {}
    return fingerprint()
