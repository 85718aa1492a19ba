"""`Suite`: the declarative specification a parity suite file exports as ``SUITE``.

A suite reads like a specification: which data, which pair, which tolerances and margins, and why.
The same object drives `pytest parity_suites` (one test per check, via the plugin), `parity run`
(no pytest) and the upgrade gate (its ``probes``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ParityInputError

__all__ = ["MetricGate", "Suite", "check_declaration", "check_feature_declaration", "check_labels"]


@dataclass(frozen=True)
class MetricGate:
    """One metric compared between the two sides, with its margin and why that margin.

    ``metric`` is a name of `harness.stats.metrics.METRICS` (or ``ndcg@K``), in any case; it is stored
    canonical ("AUC" -> "auc"), which is the name in check ids and results. An unknown name is an
    error here, when the suite file is imported.
    ``margin`` is absolute (same unit as the metric) or relative (fraction of the legacy value).
    ``test`` is "equivalence" (two one-sided tests: the (1-2a) interval inside +-margin) or
    "non_inferiority" (one-sided: the new side is not worse than legacy by more than the margin).
    """

    metric: str
    margin: float
    kind: str = "absolute"
    test: str = "equivalence"
    gated: bool = True
    reason: str = ""

    def __post_init__(self) -> None:
        from harness.stats.metrics import get_metric

        try:
            canonical = get_metric(self.metric).name
        except ParityInputError as exc:
            raise ParityInputError(f"MetricGate({self.metric!r}): {exc}") from None
        object.__setattr__(self, "metric", canonical)
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) or not (self.margin > 0):
            raise ParityInputError(f"MetricGate({self.metric!r}): margin must be a number > 0, got {self.margin!r}")
        if self.kind not in ("absolute", "relative"):
            raise ParityInputError(f"MetricGate({self.metric!r}): kind must be 'absolute' or 'relative', got {self.kind!r}")
        if self.test not in ("equivalence", "non_inferiority"):
            raise ParityInputError(
                f"MetricGate({self.metric!r}): test must be 'equivalence' or 'non_inferiority', got {self.test!r}"
            )

    @property
    def needs_groups(self) -> bool:
        from harness.stats.metrics import get_metric

        return get_metric(self.metric).needs_groups


@dataclass
class Suite:
    """One parity suite: which data, which pair of models, which tolerances and margins, and why.

    Data: ``dataset`` names a golden dataset (``$PARITY_GOLDEN_DIR``, default the repo's golden_data/);
    ``split`` is the split scored (default "eval"); ``label`` its label column (needed by ``metrics``);
    ``use_weights`` weights the metrics by the dataset's weight column. A column the dataset lacks is
    an error before any model is built.

    ``pair(dataset) -> ModelPair`` builds (and may train) both sides; import TensorFlow inside it.

    Features (``features``: the names both sides' ``featurize`` return): ``categorical_features``
    must match exactly; the others within ``feature_max_ulp`` ULPs (of the narrower float dtype of the
    two sides) or ``feature_atol``. ``feature_map`` declares features the two sides encode differently
    (`OneHot` columns <-> an index, `Rename`); list a mapped index in ``categorical_features``. Both are
    checked against the names each side says it produces (`harness.protocol.feature_names`) before
    training, or right after it for a side that names them only once fitted (`check_feature_declaration`).
    Predictions: with ``predictions="same_model"`` (a port of one model), every row within
    ``prediction_atol`` (up to a share ``prediction_max_share`` beyond it), top-``top_k`` overlap per
    query group reported. A retrained pair declares
    ``predictions=RetrainedPredictionGates(...)`` (`harness.checks.retrained`): per-row differences are
    reported, not gated, and the gates are score-distribution parity, rank correlation, top-k overlap
    per query and decision flips at an operating threshold, each with its reason.
    Metrics: one `MetricGate` per metric, equivalence or non-inferiority at ``alpha`` with a stated
    margin; per value of each ``slices`` entry too (a column, or a tuple of columns for crossed slices),
    gated only from ``min_slice_size`` rows, Holm over every gated entry; bootstrap metrics use
    ``n_boot`` replicates. ``too_good`` (`harness.checks.review_items.TooGood`) makes a gain beyond a
    stated bound under non-inferiority a review item (``review/too_good/<metric>``).

    ``known_gaps`` ({check id: reason}) report those checks as expected failures (xfail).
    ``probes`` (a `harness.upgrade.ProbeSet` named like the suite) adds the ``upgrade/baseline`` check
    against the baseline recorded with ``parity baseline record``. ``batch_size``: rows per scoring call.
    """

    name: str
    description: str
    dataset: str | None = None  # None: a probes-only suite (the upgrade gate alone)
    pair: Callable[[Any], Any] | None = None  # GoldenDataset -> harness.protocol.ModelPair (may train)
    split: str = "eval"
    label: str | None = None
    use_weights: bool = False  # weight metrics by the dataset's weight column
    # Feature parity: which features, which are categorical (exact match), tolerance for numeric ones.
    features: Sequence[str] = ()
    categorical_features: Sequence[str] = ()
    feature_max_ulp: int = 0
    feature_atol: float = 0.0
    feature_map: Sequence[Any] = ()  # harness.checks.features.OneHot / Rename: features encoded differently
    # Prediction parity: "same_model" (a port: every row within prediction_atol), or a retrained pair's
    # gates (harness.checks.retrained.RetrainedPredictionGates: per-row differences reported, not gated).
    predictions: Any = "same_model"
    prediction_atol: float = 1e-6
    prediction_max_share: float = 0.0  # share of rows allowed beyond prediction_atol
    top_k: int = 5
    # Metric parity.
    metrics: Sequence[MetricGate] = ()
    slices: Sequence[str | tuple[str, ...]] = ()  # a column, or a tuple of columns (crossed slices)
    min_slice_size: int = 1000
    alpha: float = 0.05
    n_boot: int = 1000
    # Under non-inferiority, a gain beyond a stated bound is a review item (harness.checks.review_items.TooGood).
    too_good: Any = None
    # Metric implementations teams read (harness.checks.platform_metrics.PlatformMetric): platform/<name>
    # checks of each one's gap to the exact metric, against a fraction of that metric's margin.
    platform_metrics: Sequence[Any] = ()
    # Serving and cost gates (harness.serving ServingGate / CostGate), judged in every suite run after the
    # accuracy checks (`harness.serving.suite_run`) and by `parity serve-bench`.
    serving: Sequence[Any] = ()
    known_gaps: Mapping[str, str] = field(default_factory=dict)  # check id -> reason; shown as xfail
    probes: Any = None  # harness.upgrade.probes.ProbeSet, for the upgrade gate
    batch_size: int = 65536

    def __post_init__(self) -> None:
        where = f"Suite {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name:
            raise ParityInputError(f"Suite(name={self.name!r}): name must be a non-empty string without '/'")
        if (self.dataset is None) != (self.pair is None):
            raise ParityInputError(f"{where}: dataset and pair go together (both, or neither for a probes-only suite)")
        if self.dataset is None and self.probes is None:
            raise ParityInputError(f"{where}: declares no dataset and pair and no probes: nothing to check")
        if self.probes is not None:  # the baseline is kept per suite, under the ProbeSet's name
            from harness.upgrade.probes import ProbeSet

            if not isinstance(self.probes, ProbeSet):
                raise ParityInputError(f"{where}: probes must be a harness.upgrade.ProbeSet, got "
                                       f"{type(self.probes).__name__}")
            if self.probes.suite != self.name:
                raise ParityInputError(f"{where}: its ProbeSet is named {self.probes.suite!r}; a suite's probes carry its "
                                       f"name (the baseline is kept per suite): use ProbeSet({self.name!r})")
        if self.pair is not None and not callable(self.pair):
            raise ParityInputError(f"{where}: pair must be a function dataset -> ModelPair, got {type(self.pair).__name__}")
        if self.dataset is None:
            checks = {"features": self.features, "metrics": self.metrics, "slices": self.slices}
            declared = sorted(k for k, v in checks.items() if v)
            if declared:
                raise ParityInputError(f"{where}: {declared} need a dataset and a pair (dataset=..., pair=...)")
        missing = set(self.categorical_features) - set(self.features)
        if missing:
            raise ParityInputError(
                f"{where}: categorical_features {sorted(missing)} are not in features"
            )
        from harness.checks.features import OneHot, Rename

        for entry in self.feature_map:
            if not isinstance(entry, (OneHot, Rename)):
                raise ParityInputError(f"{where}: feature_map entries must be OneHot(...) or Rename(...), got {entry!r}")
            if entry.feature not in self.features:
                raise ParityInputError(f"{where}: feature_map {entry!r} maps {entry.feature!r}, which is not in "
                                       f"features {list(self.features)}")
            if entry.side not in ("legacy", "new"):
                raise ParityInputError(f"{where}: feature_map {entry!r}: side must be 'legacy' or 'new', "
                                       f"got {entry.side!r}")
            if isinstance(entry.columns, str) or not entry.columns or len(set(entry.columns)) != len(entry.columns):
                raise ParityInputError(f"{where}: feature_map {entry!r}: columns must be a non-empty list of "
                                       "column names without repeats")
        twice = sorted({(e.side, e.feature) for e in self.feature_map
                        if sum((o.side, o.feature) == (e.side, e.feature) for o in self.feature_map) > 1})
        if twice:
            raise ParityInputError(f"{where}: feature_map maps the same feature on the same side twice: "
                                   f"{[f'{f!r} ({side})' for side, f in twice]}")
        if self.metrics and not self.label:
            raise ParityInputError(f"{where}: metrics need a label column (label=...)")
        for gate in self.metrics:
            if not isinstance(gate, MetricGate):
                raise ParityInputError(f"{where}: metrics must be MetricGate(...) entries, got {gate!r}")
        names = [g.metric for g in self.metrics]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ParityInputError(f"{where}: metrics {dup} are declared twice")
        self.slices = tuple(_slice_key(where, s) for s in self.slices)
        from harness.checks.retrained import RetrainedPredictionGates

        if not (isinstance(self.predictions, RetrainedPredictionGates)
                or (isinstance(self.predictions, str) and self.predictions == "same_model")):
            raise ParityInputError(f"{where}: predictions must be 'same_model' or a RetrainedPredictionGates(...), "
                                   f"got {self.predictions!r}")
        if self.too_good is not None:
            from harness.checks.review_items import TooGood

            if not isinstance(self.too_good, TooGood):
                raise ParityInputError(f"{where}: too_good must be a TooGood(...), got {self.too_good!r}")
            self.too_good.check_declared(self.metrics)
        if self.serving:
            from harness.serving.gates import CostGate, ServingGate

            self.serving = tuple(self.serving)
            bad = [g for g in self.serving if not isinstance(g, (ServingGate, CostGate))]
            if bad:
                raise ParityInputError(f"{where}: serving= takes ServingGate/CostGate entries, got {bad[0]!r}")
            gate_ids = [g.id for g in self.serving]
            if len(set(gate_ids)) != len(gate_ids):
                raise ParityInputError(f"{where}: serving gates repeat an id: {gate_ids}")
        if self.platform_metrics:
            from harness.checks.platform_metrics import check_platform_declared

            self.platform_metrics = tuple(self.platform_metrics)
            check_platform_declared(self.platform_metrics, self.metrics, where=where)
        if isinstance(self.min_slice_size, bool) or not isinstance(self.min_slice_size, int) or self.min_slice_size < 1:
            raise ParityInputError(f"{where}: min_slice_size must be a positive integer, got {self.min_slice_size!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParityInputError(f"{where}: batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 0.5):
            raise ParityInputError(f"{where}: alpha must be in (0, 0.5), got {self.alpha!r}")
        self.known_gaps = _canonical_gaps(where, self.known_gaps)

    @property
    def slice_columns(self) -> list[str]:
        """Every column a slice names, once each, in declaration order."""
        out: list[str] = []
        for key in self.slices:
            for c in key:
                if c not in out:
                    out.append(c)
        return out

    def plan(self, slice_values: Mapping[Any, Sequence[Any]] | None = None) -> list[str]:
        """The ids of the checks this suite will produce, known before any model runs.

        ``slice_values`` maps each slice (a column name, or a tuple of names for a crossed slice) to its
        distinct values (tuples for a crossed slice; None for a missing value, a slice of its own), read
        cheaply from the data
        (`harness.runner.slice_values`); the shells create one check per id at collection time.
        """
        if self.dataset is None:
            return []
        ids = ["alignment/keys"]
        ids += [f"features/{f}" for f in self.features]
        ids += self.predictions.check_ids() if self.retrained else ["predictions/scores"]
        from harness.checks.metrics import plan_metric_ids

        sv = slice_values or {}
        by_slice = {}
        for key in self.slices:  # a column's values under its name, a crossed slice's under its tuple
            values = sv.get(key, sv.get(key[0], ())) if len(key) == 1 else sv.get(key, ())
            by_slice[key[0] if len(key) == 1 else key] = values
        # The ids check_metrics will produce, in its order: plan and results cannot disagree.
        ids += plan_metric_ids(self.metrics, by_slice) if self.metrics else []
        if self.too_good is not None:
            ids += self.too_good.check_ids()
        if self.platform_metrics:
            from harness.checks.platform_metrics import plan_platform_ids

            ids += plan_platform_ids(self.platform_metrics)
        return ids

    @property
    def retrained(self) -> bool:
        """Whether the pair is a retrained model (its predictions gated by distribution, rank, top-k, flips)."""
        return not isinstance(self.predictions, str)


def _canonical_gaps(where: str, gaps: Any) -> dict[str, str]:
    """``known_gaps`` with each metric named as check ids name it: "metrics/AUC[device=tablet]" ->
    "metrics/auc[device=tablet]", as ``MetricGate("AUC")`` plans ``metrics/auc`` (also
    ``review/too_good/<metric>``). A name no metric has stays as written (the run reports it as naming
    no planned check); two entries for one id are an error."""
    from harness.stats.metrics import get_metric

    if not isinstance(gaps, Mapping):
        raise ParityInputError(f"{where}: known_gaps must map check ids to reasons, got {gaps!r}")
    out: dict[str, str] = {}
    for raw, reason in gaps.items():
        if not isinstance(raw, str) or not isinstance(reason, str):
            raise ParityInputError(f"{where}: known_gaps must map check ids (str) to reasons (str), got "
                                   f"{raw!r}: {reason!r}")
        cid = raw
        for prefix in ("metrics/", "review/too_good/"):
            if raw.startswith(prefix):
                name, bracket, rest = raw[len(prefix):].partition("[")
                try:
                    cid = prefix + get_metric(name).name + bracket + rest
                except ParityInputError:
                    pass
        if cid in out:
            raise ParityInputError(f"{where}: known_gaps names {cid!r} twice ({raw!r} is the same check id)")
        out[cid] = reason
    return out


def _slice_key(where: str, s: Any) -> tuple[str, ...]:
    """A slice as a tuple of column names: "device" -> ("device",); ("device", "country") stays."""
    key = (s,) if isinstance(s, str) else tuple(s) if isinstance(s, (tuple, list)) else None
    if not key or not all(isinstance(c, str) and c for c in key) or len(set(key)) != len(key):
        raise ParityInputError(f"{where}: slices entries must be a column name or a tuple of distinct column "
                               f"names (a crossed slice), got {s!r}")
    return key


def check_declaration(suite: Suite, *, root: Any = None) -> None:
    """Every name ``suite`` declares exists where it must, checked against its dataset's manifest before
    any model is built: label, slice and weight columns, a group column for ranking metrics. Messages
    name the suite, the field and the choices. The manifest lists raw columns only: feature names are
    checked against the sides (`check_feature_declaration`), label values against the data (`check_labels`)."""
    if suite.dataset is None:
        return
    from harness.golden.registry import dataset_manifest

    try:
        manifest = dataset_manifest(suite.dataset, root=root)
    except ParityInputError as exc:  # unknown dataset, missing folder: name the suite and the field
        raise exc.with_fields(f"suite {suite.name!r}: dataset={suite.dataset!r}: {exc}", argument="dataset") from None
    columns = [c.name for c in manifest.columns]
    roles = {c.name: c.role for c in manifest.columns}
    splits = [s.name for s in manifest.splits]
    where = f"suite {suite.name!r}"
    if suite.split not in splits:
        raise ParityInputError(f"{where}: split={suite.split!r} is not a split of dataset {suite.dataset!r}; "
                               f"its splits are {splits}", argument="split", value=suite.split)

    # ``argument``: the Suite field at fault, so that a shell can point at it in the suite file
    def need(field: str, argument: str, column: str) -> None:
        if column not in columns:
            raise ParityInputError(f"{where}: {field} {column!r} is not a column of dataset {suite.dataset!r} "
                                   f"(split {suite.split!r}); its columns are {sorted(columns)}",
                                   argument=argument, column=column)

    if suite.label:
        need("label column", "label", suite.label)
    for column in suite.slice_columns:
        need("slice column", "slices", column)
    if suite.use_weights and "weight" not in roles.values():
        raise ParityInputError(f"{where}: use_weights=True, but dataset {suite.dataset!r} declares no weight "
                               "column (a manifest column with role 'weight')", argument="use_weights")
    ranking = [g.metric for g in suite.metrics if g.needs_groups]
    what = [f"metrics {ranking}"] if ranking else []
    if suite.retrained and suite.predictions.topk is not None:
        what.append(f"the top-k gate predictions/topk@{suite.predictions.topk.k}")
    if what and "group" not in roles.values():
        raise ParityInputError(f"{where}: {' and '.join(what)} average over query groups, but dataset "
                               f"{suite.dataset!r} declares no group column (a manifest column with role 'group')",
                               argument="metrics" if ranking else "predictions")


def check_labels(suite: Suite, frame: Any, *, weight: str | None = None, group: str | None = None,
                 key: str | None = None, source: Any = None) -> None:
    """The label column's values suit the declared metrics, checked on the scored split before any model
    is built (the metrics would refuse them only after training): 0/1 for a binary metric (AUC, log loss,
    calibration, ...), finite numbers for a regression or ranking metric; with ``use_weights``, the
    ``weight`` column finite, non-negative and not all zero, and, where a ranking metric averages over
    the ``group`` column's query groups, one weight per group. Names the suite, the column, the metrics,
    the split's file (``source``, where given) and the first offending row (with its ``key`` where
    given); the error's fields carry the file, column, row and value."""
    if not suite.metrics or not suite.label or suite.label not in getattr(frame, "columns", ()):
        return
    split = f"split {suite.split!r}" + (f" ({source})" if source is not None else "")
    file = None if source is None else str(source)

    def keyed(row: int) -> str:
        if key is None or key not in frame.columns:
            return ""
        k = frame[key].iloc[row]
        return f" ({key}={(k.item() if hasattr(k, 'item') else k)!r})"

    from harness.stats._validation import as_weights, check_constant_within_groups, group_codes

    ranking = [g.metric for g in suite.metrics if g.needs_groups]
    codes = None
    if ranking and group is not None and group in frame.columns:  # the metrics' own check, before training
        name = f"suite {suite.name!r}: group column {group!r} ({split})"
        try:
            codes, _ = group_codes(frame[group].to_numpy(), len(frame), name=name)
        except ParityInputError as exc:
            text = exc.message if exc.row is None else (
                f"{name}: metrics {ranking} average over query groups, and each row needs its group: "
                f"{exc.reason}; row {exc.row}{keyed(exc.row)} is {exc.value!r}" + (f" {exc.detail}" if exc.detail else ""))
            raise exc.with_fields(text, column=group, file=file) from None
    if suite.use_weights and weight is not None and weight in frame.columns:
        name = f"suite {suite.name!r}: weight column {weight!r} (use_weights=True, {split})"
        try:
            w = as_weights(frame[weight].to_numpy(), len(frame), name=name)
        except ParityInputError as exc:
            text = exc.message if exc.row is None else (f"{name}: {exc.reason}; row {exc.row}{keyed(exc.row)} is "
                                                        f"{exc.value!r}" + (f" {exc.detail}" if exc.detail else ""))
            raise exc.with_fields(text, column=weight, file=file) from None
        if codes is not None:
            try:
                check_constant_within_groups(w, codes, name=name)
            except ParityInputError as exc:
                if exc.row is None:
                    raise
                raise exc.with_fields(f"{name}: metrics {ranking} average over query groups ({group!r}), and "
                                      f"{exc.reason}; row {exc.row}{keyed(exc.row)} is {exc.value!r} "
                                      f"{exc.detail}", column=weight, file=file) from None
    import numpy as np

    from harness.stats.metrics import get_metric

    tasks: dict[str, list[str]] = {}
    for gate in suite.metrics:
        tasks.setdefault(get_metric(gate.metric).task, []).append(gate.metric)
    values = frame[suite.label].to_numpy()
    where = f"suite {suite.name!r}: label column {suite.label!r}"
    if values.dtype.kind not in "fiub":
        raise ParityInputError(f"{where} of {split} has dtype {values.dtype}; metrics "
                               f"{sorted(sum(tasks.values(), []))} need numbers", file=file, column=suite.label)
    as_float = values.astype(np.float64)
    checks = [("binary", ~((as_float == 0.0) | (as_float == 1.0)), "0/1 labels"),
              ("regression", ~np.isfinite(as_float), "finite numbers"),
              ("ranking", ~np.isfinite(as_float), "finite relevance values")]
    for task, bad, what in checks:
        if task in tasks and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParityInputError(f"{where}: metrics {tasks[task]} need {what}, but row {i}{keyed(i)} of {split} "
                                   f"holds {values[i].item()!r} ({int(bad.sum())} such rows)", file=file,
                                   column=suite.label, row=i, value=values[i].item(), reason=f"expected {what}")


def check_feature_declaration(suite: Suite, produced: Mapping[str, Sequence[str] | None], *, when: str) -> None:
    """``features`` and ``feature_map`` against the names each side will produce (``produced``: role ->
    the names its ``featurize`` will return, None where not known yet), so a wrong declaration fails
    before training (``when`` says at which point, for the message). Errors: a side that produces no
    features at all; a ``feature_map`` entry whose source columns its side does not produce, whose side
    already has the mapped name, or whose mapped name the other side produces neither itself nor through
    its own entry (nothing to compare it with); a feature that neither side produces. A feature only one
    side produces, unmapped, is not an error here: the check reports it as a parity failure. Messages
    name the suite, the field, the entry and what each side produces."""
    if not suite.features:
        return
    where = f"suite {suite.name!r}"
    known = {role: list(names) for role, names in produced.items() if names is not None}

    def sides() -> str:
        return "; ".join(f"the {role} side produces {names}" for role, names in known.items())

    for role, names in known.items():
        if not names:
            raise ParityInputError(f"{where}: features={list(suite.features)} are declared, but the {role} side "
                                   f"cannot featurize (it produces no features; {when})")
    mapped = {(e.side, e.feature) for e in suite.feature_map}
    for entry in suite.feature_map:
        other = "new" if entry.side == "legacy" else "legacy"
        own = known.get(entry.side)
        if own is not None:
            missing = [c for c in entry.columns if c not in own]
            if missing:
                raise ParityInputError(
                    f"{where}: feature_map entry {entry!r} reads column(s) {missing}, which the {entry.side} side "
                    f"does not produce, so feature {entry.feature!r} is produced by neither side ({when}); {sides()}")
            if entry.feature in own:
                raise ParityInputError(
                    f"{where}: feature_map entry {entry!r} maps to {entry.feature!r}, which the {entry.side} side "
                    f"already produces; map to a name it does not produce, or map the other side ({when}); {sides()}")
        theirs = known.get(other)
        if theirs is not None and entry.feature not in theirs and (other, entry.feature) not in mapped:
            raise ParityInputError(
                f"{where}: feature_map entry {entry!r} maps the {entry.side} side's columns to {entry.feature!r}, "
                f"but the {other} side produces no {entry.feature!r} (nor does a feature_map entry of its side), "
                f"so there is nothing to compare it with ({when}); {sides()}")
    if len(known) == 2:
        for name in suite.features:
            if not any(name in names or (role, name) in mapped for role, names in known.items()):
                raise ParityInputError(f"{where}: features entry {name!r} is produced by neither side and no "
                                       f"feature_map entry maps to it ({when}); {sides()}")
