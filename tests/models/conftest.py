"""Data for the model tests: slices of ``ads_ctr`` (the committed golden files when present, else the same
data from its committed seeded generator), and a spec fitted on the training slice."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ads_ctr_frames() -> dict[str, pd.DataFrame]:
    if (REPO / "golden_data" / "ads_ctr" / "manifest.json").is_file():
        from harness.golden import load_dataset

        dataset = load_dataset("ads_ctr")
        return {split: dataset.frame(split) for split in ("train", "eval")}
    from harness.golden.generators.ads_ctr import generate

    generated = generate()
    return {split: generated.splits[split].to_pandas() for split in ("train", "eval")}


@pytest.fixture(scope="session")
def train_small(ads_ctr_frames) -> pd.DataFrame:
    return ads_ctr_frames["train"].iloc[:5000].reset_index(drop=True)


@pytest.fixture(scope="session")
def eval_small(ads_ctr_frames) -> pd.DataFrame:
    return ads_ctr_frames["eval"].iloc[:3000].reset_index(drop=True)


@pytest.fixture(scope="session")
def spec_small(train_small):
    from legacy_adapter.featurizer import fit_spec

    return fit_spec(train_small)


@pytest.fixture(autouse=True)
def _one_blas_and_openmp_thread():
    # The CI box has 2 cores shared by many jobs: OpenMP/BLAS thread pools spin-waiting against each
    # other made one 20-iteration HGB fit take ~20 s instead of ~1 s. The results do not depend on it.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
