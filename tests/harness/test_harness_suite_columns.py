"""A suite that names a column its dataset lacks fails before any model is built, with a message that
names the suite, the column, the dataset and the columns it does have."""
from __future__ import annotations

import pytest

from harness.errors import ParityInputError
from harness.runner import run_suite, slice_values
from harness.suite import MetricGate, Suite


def _never_built(dataset):
    raise AssertionError("the model pair must not be built when the suite names a missing column")


def _suite(**overrides) -> Suite:
    options = dict(name="bc", description="", dataset="breast_cancer", pair=_never_built, split="eval",
                   label="malignant", metrics=[MetricGate("auc", 0.01)])
    options.update(overrides)
    return Suite(**options)


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"label": "malig"}, r"suite 'bc': label column 'malig' is not a column of dataset 'breast_cancer' \(split 'eval'\)"),
        ({"slices": ["mean_radius", "nope"]}, r"suite 'bc': slice column 'nope' is not a column of dataset 'breast_cancer'"),
        ({"use_weights": True}, r"use_weights=True, but dataset 'breast_cancer' declares no weight column"),
    ],
    ids=["label", "slice", "weights"],
)
def test_missing_columns_are_named_before_the_pair_is_built(overrides, match):
    with pytest.raises(ParityInputError, match=match) as info:
        run_suite(_suite(**overrides))
    if "column" in match and "weight" not in match:
        assert "'malignant'" in str(info.value) and "'sample_id'" in str(info.value)  # what it does have


def test_slice_values_names_the_missing_column():
    with pytest.raises(ParityInputError, match=r"slice column 'device' is not a column of dataset 'breast_cancer'"):
        slice_values(_suite(slices=["device"]))
