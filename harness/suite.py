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

__all__ = ["MetricGate", "Suite"]


@dataclass(frozen=True)
class MetricGate:
    """One metric compared between the two sides, with its margin and why that margin.

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
        if not (self.margin > 0):
            raise ParityInputError(f"MetricGate({self.metric!r}): margin must be > 0, got {self.margin!r}")
        if self.kind not in ("absolute", "relative"):
            raise ParityInputError(f"MetricGate({self.metric!r}): kind must be 'absolute' or 'relative', got {self.kind!r}")
        if self.test not in ("equivalence", "non_inferiority"):
            raise ParityInputError(
                f"MetricGate({self.metric!r}): test must be 'equivalence' or 'non_inferiority', got {self.test!r}"
            )


@dataclass
class Suite:
    """One parity suite: which data, which pair of models, which tolerances and margins, and why.

    Data: ``dataset`` names a golden dataset (``$PARITY_GOLDEN_DIR``, default the repo's golden_data/);
    ``split`` is the split scored (default "eval"); ``label`` its label column (needed by ``metrics``);
    ``use_weights`` weights the metrics by the dataset's weight column. A column the dataset lacks is
    an error before any model is built.

    ``pair(dataset) -> ModelPair`` builds (and may train) both sides; import TensorFlow inside it.

    Features (``features``: the names both sides' ``featurize`` return): ``categorical_features``
    must match exactly; the others within ``feature_max_ulp`` ULPs or ``feature_atol``.
    Predictions: every row within ``prediction_atol`` (up to a share ``prediction_max_share`` beyond
    it); top-``top_k`` overlap per query group. Metrics: one `MetricGate` per metric, equivalence or
    non-inferiority at ``alpha`` with a stated margin; per value of each ``slices`` column too, gated
    only from ``min_slice_size`` rows; bootstrap metrics use ``n_boot`` replicates.

    ``known_gaps`` ({check id: reason}) report those checks as expected failures (xfail).
    ``probes`` (a `harness.upgrade.ProbeSet` named like the suite) adds the ``upgrade/baseline`` check
    against the baseline recorded with ``parity baseline record``. ``batch_size``: rows per scoring call.
    """

    name: str
    description: str
    dataset: str
    pair: Callable[[Any], Any]  # GoldenDataset -> harness.protocol.ModelPair (may train)
    split: str = "eval"
    label: str | None = None
    use_weights: bool = False  # weight metrics by the dataset's weight column
    # Feature parity: which features, which are categorical (exact match), tolerance for numeric ones.
    features: Sequence[str] = ()
    categorical_features: Sequence[str] = ()
    feature_max_ulp: int = 0
    feature_atol: float = 0.0
    # Prediction parity.
    prediction_atol: float = 1e-6
    prediction_max_share: float = 0.0  # share of rows allowed beyond prediction_atol
    top_k: int = 5
    # Metric parity.
    metrics: Sequence[MetricGate] = ()
    slices: Sequence[str] = ()
    min_slice_size: int = 1000
    alpha: float = 0.05
    n_boot: int = 1000
    known_gaps: Mapping[str, str] = field(default_factory=dict)  # check id -> reason; shown as xfail
    probes: Any = None  # harness.upgrade.probes.ProbeSet, for the upgrade gate
    batch_size: int = 65536

    def __post_init__(self) -> None:
        missing = set(self.categorical_features) - set(self.features)
        if missing:
            raise ParityInputError(
                f"Suite {self.name!r}: categorical_features {sorted(missing)} are not in features"
            )
        if self.metrics and not self.label:
            raise ParityInputError(f"Suite {self.name!r}: metrics need a label column (label=...)")

    def plan(self, slice_values: Mapping[str, Sequence[Any]] | None = None) -> list[str]:
        """The ids of the checks this suite will produce, known before any model runs.

        ``slice_values`` maps each slice column to its distinct values (read cheaply from the data);
        the plugin uses the ids to create one pytest test per check at collection time.
        """
        ids = ["alignment/keys"]
        ids += [f"features/{f}" for f in self.features]
        ids.append("predictions/scores")
        for gate in self.metrics:
            ids.append(f"metrics/{gate.metric}")
        for column in self.slices:
            for value in (slice_values or {}).get(column, ()):
                for gate in self.metrics:
                    ids.append(f"metrics/{gate.metric}[{column}={value}]")
        return ids
