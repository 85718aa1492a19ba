"""`new_platform.serving.ServingSide` in a serving process of its own: it pickles as its SavedModel's path
and spec, unpickles by loading the SavedModel again (the same scores), and its serving process imports
TensorFlow before loading it, so "after imports" holds the runtime and "after load" adds the model."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.slow]

tf = pytest.importorskip("tensorflow")

from harness.protocol import ModelPair  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from harness.featurization.standardization import Standardization
    from harness.golden import load_dataset
    from legacy_adapter.featurizer import fit_spec
    from new_platform.export import export_model
    from new_platform.featurizer import TFFeaturizer
    from new_platform.models import keras_logistic_regression
    from new_platform.serving import ServingSide

    if not (REPO / "golden_data" / "ads_ctr" / "manifest.json").is_file():
        pytest.skip("golden_data/ads_ctr is not generated (parity golden regenerate ads_ctr)")
    frame = load_dataset("ads_ctr").frame("eval").iloc[:2000].reset_index(drop=True)
    spec = fit_spec(frame)
    featurizer = TFFeaturizer(spec)
    model = keras_logistic_regression(spec, Standardization.fit(featurizer.transform(frame), spec.numeric_features))
    path = export_model(featurizer, model, tmp_path_factory.mktemp("rss") / "saved_model")
    return ServingSide(path, spec, name="keras_lr", batch_size=500), frame


def test_serving_side_round_trips_through_pickle_with_the_same_scores(served):
    side, frame = served
    again = pickle.loads(pickle.dumps(side, protocol=5))
    assert type(again) is type(side) and again is not side
    assert (again.path, again.name, again.batch_size) == (side.path, side.name, side.batch_size)
    assert again.spec.to_dict() == side.spec.to_dict()
    np.testing.assert_array_equal(again.predict(frame), side.predict(frame))


def test_its_serving_process_imports_tensorflow_before_loading_it(served, monkeypatch):
    from harness.serving.process_rss import measure_processes
    from harness.serving.targets import golden_batches

    side, frame = served
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import rss_sides

    procs = measure_processes(ModelPair(rss_sides.ZeroSide("legacy"), side), golden_batches(frame, 256), repeats=1)
    tf_side, small = procs["sides"]["new"], procs["sides"]["legacy"]
    assert "tensorflow" in tf_side["runtime_modules"] and "tensorflow" not in small["runtime_modules"]
    tf_run, small_run = tf_side["runs"][0], small["runs"][0]
    assert tf_run["predictions"] == small_run["predictions"] == 256 * (2000 // 256)
    # TensorFlow's runtime is in its process before the model is: hundreds of MB more than numpy + pandas.
    assert tf_run["rss_after_imports_mb"] > small_run["rss_after_imports_mb"] + 100
    assert tf_run["rss_after_imports_mb"] <= tf_run["rss_after_load_mb"] <= tf_run["peak_rss_mb"]
