"""Serving feasibility and cost: latency and throughput of each side's serving path, side by side,
their cost (CPU, memory, disk, cold start), and gates on the ratios new / legacy.

* `latency`: HDR histograms of latencies (the `hdrhistogram` package),
* `load`: closed-loop and open-loop (coordinated-omission-corrected) load generators, bounded runs,
* `targets`: a side in process, or a TF Serving REST predict endpoint,
* `server`: a local REST predict server over a SavedModel or a scorer, in its own process,
* `cost`: CPU seconds, peak RSS, artifact size; `measure_stage` for the runner's stages,
* `gates`: `ServingGate` / `CostGate` and their verdicts on interleaved repeats,
* `bench`: the measurement plan that `parity serve-bench` runs,
* `suite_run`: the same plan, bounded, as part of a suite run (the gates as items of both shells, their
  measurements in the report's measured section),
* `process_rss`: each side in serving processes of its own, for a suite run's peak-RSS gate.

Nothing here imports TensorFlow at module level; the server imports it only to serve a SavedModel.
"""
from harness.serving.cost import measure_stage
from harness.serving.gates import CostGate, ServingGate

__all__ = ["CostGate", "ServingGate", "measure_stage"]
