"""Saved legacy models: JSON LR, skops HGB, and pickle only behind a trusted sha256."""
from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from harness.errors import ParityInputError
from legacy_adapter.artifacts import (
    load_hgb_skops,
    load_logreg_json,
    load_pickle,
    save_hgb_skops,
    save_logreg_json,
)
from legacy_adapter.models import LegacyHistGradientBoosting, LegacyLogisticRegression


@pytest.fixture(scope="module")
def logreg(spec_small, train_small):
    return LegacyLogisticRegression(spec_small, C=0.5).fit(train_small.iloc[:2000])


@pytest.fixture(scope="module")
def hgb(spec_small, train_small):
    return LegacyHistGradientBoosting(spec_small, max_iter=10).fit(train_small.iloc[:2000])


def test_logreg_json_round_trip_gives_identical_predictions(logreg, eval_small, tmp_path):
    path = save_logreg_json(logreg, tmp_path / "lr.json")
    document = json.loads(path.read_text())
    assert document["format"] == "parity.legacy_logreg/1"
    assert len(document["coef"]) == sum(width for _, width in document["layout"])
    reloaded = load_logreg_json(path)
    np.testing.assert_array_equal(reloaded.predict(eval_small), logreg.predict(eval_small))
    assert reloaded.spec == logreg.spec and reloaded.standardization == logreg.standardization
    assert reloaded.config()["params"] == logreg.config()["params"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(lambda d: d.update(format="other/9"), r"format is 'other/9'; expected 'parity.legacy_logreg/1'",
                     id="format"),
        pytest.param(lambda d: d.pop("coef"), r"missing key\(s\) \['coef'\]", id="missing-coef"),
        pytest.param(lambda d: d["coef"].pop(), r"coef has \d+ entries but the spec and standardization need \d+",
                     id="short-coef"),
        pytest.param(lambda d: d["coef"].__setitem__(3, "NaN"), r"'coef': entry 3 is nan", id="nan-coef"),
    ],
)
def test_logreg_json_bad_files_are_refused(logreg, tmp_path, edit, message):
    path = save_logreg_json(logreg, tmp_path / "lr.json")
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    with pytest.raises(ParityInputError, match=message):
        load_logreg_json(path)


def test_logreg_json_not_json(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ParityInputError, match=r"x.json' is not valid JSON"):
        load_logreg_json(tmp_path / "x.json")


@pytest.mark.slow
def test_hgb_skops_round_trip_gives_identical_predictions(hgb, eval_small, tmp_path):
    path = save_hgb_skops(hgb, tmp_path / "hgb.skops")
    reloaded = load_hgb_skops(path)
    np.testing.assert_array_equal(reloaded.predict(eval_small), hgb.predict(eval_small))
    assert reloaded.params == hgb.params and reloaded.spec == hgb.spec


@pytest.mark.slow
def test_hgb_skops_refuses_types_outside_the_trusted_list(hgb, tmp_path):
    path = save_hgb_skops(hgb, tmp_path / "hgb.skops")
    with pytest.raises(ParityInputError, match=r"outside the trusted list: \[.*TreePredictor.*\]"):
        load_hgb_skops(path, trusted=())
    (tmp_path / "junk.skops").write_bytes(b"not a zip file")
    with pytest.raises(ParityInputError, match="cannot be read as a skops file"):
        load_hgb_skops(tmp_path / "junk.skops")


class _Tripwire:
    """Unpickling this object creates a directory: it shows whether code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_load_pickle_only_with_the_right_sha256(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "trip": _Tripwire(marker)}))
    right = hashlib.sha256(path.read_bytes()).hexdigest()  # computed independently of the module
    wrong = "0" * 64
    with pytest.raises(ParityInputError, match="refusing to unpickle without trusted_sha256"):
        load_pickle(path, trusted_sha256=None)
    with pytest.raises(ParityInputError, match=f"sha256 is {right}, expected \\(trusted\\) {wrong}"):
        load_pickle(path, trusted_sha256=wrong)
    with pytest.raises(ParityInputError, match="expected 64 hexadecimal digits"):
        load_pickle(path, trusted_sha256="abc")
    with pytest.raises(ParityInputError, match="does not exist"):
        load_pickle(tmp_path / "missing.pkl", trusted_sha256=right)
    assert not marker.exists()
    loaded = load_pickle(path, trusted_sha256=right.upper())
    assert loaded["weights"] == [1.0, 2.0] and marker.is_dir()
