"""``breast_cancer``: scikit-learn's bundled Wisconsin diagnostic breast cancer data, as a golden dataset.

A real (not synthetic) dataset that ships inside an installed package: 569 samples, 30 float64
features. Recorded with its provenance -- package, version, resource path and the sha256 of the bundled
CSV -- so a change in what scikit-learn ships is caught by `parity golden regenerate --check`.

Choices:
- ``sample_id`` (key) is the sample's 0-based row in the bundled CSV, so every row traces to the source.
- ``malignant`` (label) is 1 for malignant, 0 for benign. scikit-learn's ``target`` codes it the other
  way (0 = malignant, 1 = benign); we flip it because the positive class of a screening model is the
  condition it must detect, which is how AUC / recall are normally reported.
- Feature names are scikit-learn's ``feature_names`` in snake_case ("mean concave points" ->
  "mean_concave_points").
- Split: stratified by label, 30 % eval, from ``numpy.random.default_rng(seed)``; rows in each split are
  in ``sample_id`` order.
"""
from __future__ import annotations

import re

import numpy as np

from harness.golden.manifest import Column

__all__ = ["DEFAULT_SEED", "EVAL_SHARE", "NAME", "RESOURCE", "VERSION", "generate", "snake_case"]

NAME = "breast_cancer"
VERSION = "1.0.0"
DEFAULT_SEED = 569
EVAL_SHARE = 0.3
RESOURCE = "sklearn/datasets/data/breast_cancer.csv"


def snake_case(name: str) -> str:
    """'mean concave points' -> 'mean_concave_points' (lower case, runs of non-alphanumerics -> '_')."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _source_sha256() -> str | None:
    """sha256 of the bundled CSV, or None if the installed package does not expose it as a file."""
    from importlib.resources import files

    from harness.golden.hashing import sha256_bytes

    try:
        return sha256_bytes(files("sklearn.datasets").joinpath("data", "breast_cancer.csv").read_bytes())
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return None


def generate(*, seed: int = DEFAULT_SEED):
    """Build the dataset from ``sklearn.datasets.load_breast_cancer`` (scikit-learn imported here only)."""
    import sklearn
    from sklearn.datasets import load_breast_cancer

    from harness.golden.writer import GeneratedDataset, arrow_table, library_versions

    bunch = load_breast_cancer()
    features = [snake_case(str(n)) for n in bunch.feature_names]
    if len(set(features)) != len(features):  # would silently merge two columns
        raise ValueError(f"breast_cancer: feature names collide after snake_case: {features}")
    x = np.asarray(bunch.data, dtype=np.float64)
    malignant = (np.asarray(bunch.target) == list(bunch.target_names).index("malignant")).astype(np.int64)
    sample_id = np.arange(len(x), dtype=np.int64)

    rng = np.random.default_rng(seed)
    is_eval = np.zeros(len(x), dtype=bool)
    for cls in (0, 1):  # stratified: each class split 70/30 on its own
        members = np.flatnonzero(malignant == cls)
        chosen = rng.choice(members, size=int(round(EVAL_SHARE * len(members))), replace=False)
        is_eval[chosen] = True

    columns = (
        Column("sample_id", "int64", "key", description="0-based row of the sample in the bundled CSV"),
        *(Column(f, "float64", "feature", description=str(orig))
          for f, orig in zip(features, bunch.feature_names)),
        Column("malignant", "int64", "label", description="1 = malignant, 0 = benign (sklearn target flipped)"),
    )
    arrays = {"sample_id": sample_id, **{f: x[:, i] for i, f in enumerate(features)}, "malignant": malignant}
    splits = {
        split: arrow_table(columns, {k: v[mask] for k, v in arrays.items()})
        for split, mask in (("train", ~is_eval), ("eval", is_eval))
    }
    provenance = {
        "kind": "packaged",
        "generator": "harness.golden.generators.breast_cancer:generate",
        "seed": seed,
        "source": {
            "package": "scikit-learn",
            "version": sklearn.__version__,
            "loader": "sklearn.datasets.load_breast_cancer",
            "resource": RESOURCE,
            "sha256": _source_sha256(),
            "citation": "W.N. Street, W.H. Wolberg, O.L. Mangasarian, Nuclear feature extraction for breast "
            "tumor diagnosis, 1993; UCI ML Breast Cancer Wisconsin (Diagnostic)",
        },
        "libraries": library_versions("numpy", "pandas", "pyarrow", "scikit-learn"),
        "label": "malignant = 1 - sklearn target (sklearn: 0 = malignant, 1 = benign)",
        "split": f"stratified by label, eval = {EVAL_SHARE:.0%} of each class",
    }
    description = ("Wisconsin diagnostic breast cancer (569 samples, 30 features), as bundled with "
                   "scikit-learn; binary label malignant.")
    return GeneratedDataset(NAME, VERSION, description, columns, splits, provenance)
