"""Golden datasets: versioned Parquet + manifest, verified (sha256, schema) before anything is returned.

See ARCHITECTURE.md "Golden data" and golden_data/README.md. Importing this package imports neither
pandas-heavy code paths nor scikit-learn nor TensorFlow; pyarrow is imported when data is touched.
"""
from __future__ import annotations

from harness.golden.hashing import content_sha256, sha256_file
from harness.golden.manifest import DTYPES, ROLES, Column, Manifest, SplitEntry, read_manifest
from harness.golden.regenerate import RegenerationCheck, check_regeneration, regenerate
from harness.golden.registry import ENV_VAR, GoldenDataset, default_root, list_datasets, load_dataset, verify_dataset
from harness.golden.writer import GeneratedDataset, write_dataset

__all__ = [
    "DTYPES",
    "ENV_VAR",
    "ROLES",
    "Column",
    "GeneratedDataset",
    "GoldenDataset",
    "Manifest",
    "RegenerationCheck",
    "SplitEntry",
    "check_regeneration",
    "content_sha256",
    "default_root",
    "list_datasets",
    "load_dataset",
    "read_manifest",
    "regenerate",
    "sha256_file",
    "verify_dataset",
    "write_dataset",
]
