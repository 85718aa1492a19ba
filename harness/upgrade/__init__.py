"""The library-upgrade gate: fingerprint the environment, run the suites' behaviour probes, record
baselines, and say what changed (and which upgraded package can explain it) when libraries move.

Quick use (see `harness.upgrade.probes` for how to declare probes)::

    from harness.upgrade import check_against_baseline, findings_to_markdown, record_baseline
    record_baseline(probes)                       # once, in the reference environment
    result = check_against_baseline("my_suite", probes)   # after an upgrade
    print(findings_to_markdown(result)); assert not result.changed

Importing this package imports neither TensorFlow nor scikit-learn; probes import what they use.
"""
from __future__ import annotations

from harness.upgrade.baseline import (
    Baseline,
    BaselineFileError,
    NoBaselineError,
    accept_baseline,
    baseline_dir_for,
    check_against_baseline,
    default_baseline_root,
    read_baseline,
    read_history,
    record_baseline,
    record_command,
    write_baseline,
)
from harness.upgrade.configs import keras_config, sklearn_config, to_config_json
from harness.upgrade.evaluation import (
    EvalCase,
    evaluation_cases,
    harness_metric_outputs,
    keras_metric_outputs,
    sklearn_metric_outputs,
)
from harness.upgrade.findings import Finding, Outcome, UpgradeResult, compare_snapshots, findings_to_markdown, ulp_distance
from harness.upgrade.fingerprint import changed_packages, environment_diffs, fingerprint
from harness.upgrade.probes import CATEGORIES, DEFAULT_PACKAGES, Probe, ProbeSet, Tolerance
from harness.upgrade.snapshot import Output, ProbeRecord, Snapshot, take_snapshot

__all__ = [
    "Baseline", "BaselineFileError", "NoBaselineError", "baseline_dir_for", "record_command", "CATEGORIES", "DEFAULT_PACKAGES", "EvalCase", "Finding", "Outcome", "Output", "Probe", "ProbeRecord",
    "ProbeSet", "Snapshot", "Tolerance", "UpgradeResult", "accept_baseline", "changed_packages",
    "check_against_baseline", "compare_snapshots", "default_baseline_root", "environment_diffs", "evaluation_cases",
    "findings_to_markdown", "fingerprint", "harness_metric_outputs", "keras_config", "keras_metric_outputs",
    "read_baseline", "read_history", "record_baseline", "sklearn_config", "sklearn_metric_outputs", "take_snapshot",
    "to_config_json", "ulp_distance", "write_baseline",
]
