"""`legacy_adapter.adapters.Columns` and `new_platform.sides.KerasSide`: the plain-columns sides the
README's example suite uses."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.errors import ParityInputError, ScorerError
from legacy_adapter.adapters import Columns


def _frame(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n), "s": ["x"] * n})


def test_columns_selects_in_order_as_float64():
    f = _frame()
    out = Columns(["b", "a"]).transform(f)
    assert list(out.columns) == ["b", "a"] and (out.dtypes == np.float64).all()
    assert np.array_equal(out["b"].to_numpy(), f["b"].to_numpy().astype(float))


@pytest.mark.parametrize("cols,match", [(["a", "zz"], r"no column\(s\) \['zz'\]"), (["s"], r"column\(s\) \['s'\] are not numeric"),
                                        ([], "non-empty list")])
def test_columns_errors_name_the_column(cols, match):
    with pytest.raises(ParityInputError, match=match):
        Columns(cols).transform(_frame())


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _dense(keras, units=1, activation="sigmoid", seed=0):
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units, activation=activation)])
    w, b = rng.normal(size=(2, units)), rng.normal(size=units)
    model.layers[-1].set_weights([w, b])
    return model, w, b


@pytest.mark.tf
def test_keras_side_scores_match_numpy_and_are_repeatable(keras):
    from new_platform.sides import KerasSide

    f = _frame(n=23)
    model, w, b = _dense(keras)
    x = f[["a", "b"]].to_numpy(np.float64)
    want = 1 / (1 + np.exp(-(x @ w[:, 0] + b[0])))
    one = KerasSide("k", model, ["a", "b"]).predict(f)
    chunked = KerasSide("k", model, ["a", "b"], batch_size=5).predict(f)
    assert one.dtype == np.float64 and one.shape == (23,)
    assert np.max(np.abs(one - want)) < 1e-6  # float32 serving of a float64 formula
    # TF picks its matmul kernel by batch shape: other chunks may move a score by a float32 ULP,
    # the same chunks give the same bits.
    assert np.max(np.abs(one - chunked)) < 1e-6
    assert np.array_equal(chunked, KerasSide("k", model, ["a", "b"], batch_size=5).predict(f))
    f64 = KerasSide("k", model, ["a", "b"], dtype="float64").featurize(f)
    assert (f64.dtypes == np.float64).all()
    assert KerasSide("k", model, ["a", "b"]).config()["columns"] == ["a", "b"]


@pytest.mark.tf
def test_keras_side_errors(keras):
    from new_platform.sides import KerasSide

    model, _, _ = _dense(keras, units=2, activation="softmax")
    with pytest.raises(ScorerError, match="2 outputs per row; choose one with output_index="):
        KerasSide("k", model, ["a", "b"]).predict(_frame())
    p1 = KerasSide("k", model, ["a", "b"], output_index=1).predict(_frame())
    assert p1.shape == (20,) and np.all((p1 > 0) & (p1 < 1))
    with pytest.raises(ParityInputError, match=r"KerasSide\('k'\): the batch has no column\(s\) \['zz'\]"):
        KerasSide("k", model, ["a", "zz"]).predict(_frame())
    with pytest.raises(ParityInputError, match=r"column\(s\) \['s'\] are not numeric"):
        KerasSide("k", model, ["a", "s"]).predict(_frame())
    for bad, match in [({"columns": []}, "non-empty list"), ({"batch_size": 0}, "batch_size"), ({"dtype": "int8"}, "dtype")]:
        kwargs = {"columns": ["a", "b"], **bad}
        with pytest.raises(ParityInputError, match=match):
            KerasSide("k", model, **kwargs)
