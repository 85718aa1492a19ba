"""Golden sets larger than memory, streamed in one process (issue 14).

`stream` reads a Parquet file or dataset in bounded chunks; `accumulators` holds the per-check state that
chunks add to and that partial states merge into (exact, order-independent sums; compact rows for the
rank metrics); `streamed.compare_stream` runs `harness.stats.compare_scores`' metric comparison over a
stream and returns the same `ComparisonResult`; `range_auc` computes DeLong's structural components range
by range (the step a distributed runner runs per score range); `replicates` keeps Poisson-bootstrap
replicate sums exactly (keyed by seed, row key and replicate); `codes` holds slice values as int32
codes across chunks; `suite_stream` runs a whole suite on a streamed split (``parity run --stream``);
`beam` runs the comparison on Apache Beam (optional;
`beam_cells`, `beam_groups` and `beam_wauc` hold its pure steps: slice cells, query-group replicate sums,
weighted AUC's range sweeps); `beam_suite` runs a suite's scoring on Beam
(``parity run --runner beam``); `cli` is the ``parity compare --stream`` entry.
"""
from harness.scale.range_auc import range_partitioned_auc, range_partitioned_components
from harness.scale.streamed import compare_stream

__all__ = ["compare_stream", "range_partitioned_auc", "range_partitioned_components"]
