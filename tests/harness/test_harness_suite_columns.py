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


def test_a_side_scoring_outside_0_1_is_named_by_side_and_key_not_by_argument_and_position():
    import numpy as np

    from harness.golden import load_dataset
    from harness.protocol import ModelPair

    class Side:
        def __init__(self, name, logits):
            self.name, self.logits = name, logits

        def predict(self, batch):
            z = batch["mean_radius"].to_numpy() - 14.0
            return z if self.logits else 1 / (1 + np.exp(-z))

        def featurize(self, batch):
            return None

    frame = load_dataset("breast_cancer").frame("eval")
    z = frame["mean_radius"].to_numpy() - 14.0
    first = str(frame["sample_id"].to_numpy()[np.flatnonzero((z < 0) | (z > 1))[0]])
    suite = _suite(pair=lambda ds: ModelPair(Side("sk_probs", False), Side("keras_logits", True)), prediction_atol=1e3,
                   metrics=[MetricGate("logloss", 0.01)])
    with pytest.raises(ParityInputError) as info:
        run_suite(suite)
    msg = str(info.value)
    assert "suite 'bc', metric checks: the new side's scores ('keras_logits'): expected probabilities in [0, 1]" in msg
    assert f"the row with sample_id={first}" in msg or f"the row with sample_id='{first}'" in msg, msg
    assert "score_new" not in msg and info.value.argument == "score_new" and info.value.reason is not None


@pytest.mark.parametrize("dtype", ["str", "string[python]", "string[pyarrow]", "object"])
def test_a_string_slice_column_gives_the_slices_its_to_numpy_gives(dtype):
    # the runner passes a string column as its distinct strings and a code per row (pd.factorize,
    # SliceCodes): at the aligned rows, the same slices, missing entries included, as the column's own
    # to_numpy() at those rows
    import numpy as np
    import pandas as pd

    from harness.runner import _values
    from harness.stats.compare import slice_rows

    rng = np.random.default_rng(3)
    v = rng.choice(["mobile", "desktop", "tablet"], 500).astype(object)
    v[[4, 200]] = None
    column = pd.Series(v, dtype=dtype)
    pos = rng.permutation(500)[:450]  # aligned rows: a subset, in another order
    got = slice_rows({"device": _values(column, pos)}, 450)
    want = slice_rows({"device": column.to_numpy()[pos]}, 450)
    assert [(sl.values, sl.rows.tolist()) for sl in got] == [(sl.values, sl.rows.tolist()) for sl in want]
    assert [sl.values for sl in got] == [("desktop",), ("mobile",), ("tablet",)] + [(None,)] * (4 in pos or 200 in pos)
