"""``parity run --runner beam`` (harness.scale.beam_suite) against the in-memory run on the same suite:
report.json byte for byte apart from ``measured``, on the DirectRunner in process and multi-process; a
side failing inside the pipeline is exit 2 naming the side, the batch's rows and keys; bad flag
combinations are exit 2 naming the flag.

The suite is a user's: a file in a suites folder, its sides defined there (numpy only, no TensorFlow),
on a generated golden set whose Parquet row groups (700 rows) do not line up with the suite's batches
(256 rows), so batches straddle row groups and the row sample leaves row groups uneven. The new side
has a feature defect on some rows and its scores differ, so features, predictions, sliced metrics and
a bootstrap metric all have something to measure, and the suite fails (exit 1) on both runners.

The Beam tests skip when Apache Beam is not installed (an optional extra), except where
PARITY_REQUIRE_BEAM=1 (CI's Beam venv), where a missing Beam fails; the missing-extra test runs
everywhere (Beam's absence is simulated).
"""
from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.scale.beam import beam_available

needs_beam = pytest.mark.skipif(not beam_available() and os.environ.get("PARITY_REQUIRE_BEAM") != "1",
                                reason="apache_beam is not installed (optional extra: pip install -e '.[beam]'); "
                                "the Beam runner is not tested here")

MULTI = "--direct_num_workers=2 --direct_running_mode=multi_processing"

_SUITE = '''
import numpy as np
import pandas as pd

from harness.protocol import ModelPair
from harness.suite import MetricGate, Suite

FAIL_ON_KEYS = {fail_on_keys!r}


class Side:
    def __init__(self, name, defect):
        self.name, self.defect = name, defect

    def featurize(self, batch):
        x1, x2 = batch["x1"].to_numpy(), batch["x2"].to_numpy()
        f = pd.DataFrame({{"f1": 2.0 * x1, "f2": np.log1p(np.abs(x2)),
                          "dev": (batch["device"] == "mobile").astype(np.int64).to_numpy()}})
        if self.defect:  # one ULP on large x1, a wrong code on some tablets: mismatches to merge
            f["f1"] = np.where(x1 > 1.5, np.nextafter(f["f1"].to_numpy(), np.inf), f["f1"].to_numpy())
            f["dev"] = np.where((batch["device"] == "tablet") & (x2 > 1.8), 1, f["dev"].to_numpy())
        return f

    def predict(self, batch):
        if self.defect and batch["row_id"].isin(FAIL_ON_KEYS).any():
            raise RuntimeError("model server went away")
        f = self.featurize(batch)
        z = 0.8 * f["f1"].to_numpy() - 0.5 * f["f2"].to_numpy() + 0.3 * f["dev"].to_numpy()
        if self.defect:  # and a batch effect, as a model's float result can have: wrong batches show
            z = z + 0.02 * np.sin(z) + 1e-9 * z.mean()
        return 1.0 / (1.0 + np.exp(-z))

    def config(self):
        return {{}}


SUITE = Suite(name="beam_toy", description="parity run --runner beam", dataset="beam_toy", label="y",
              pair=lambda ds: ModelPair(Side("legacy", False), Side("new", True)), features=["f1", "f2", "dev"],
              categorical_features=["dev"], prediction_atol=1e-9, top_k=3,
              metrics=[MetricGate("auc", 0.02), MetricGate("logloss", 0.02), MetricGate("calibration_ratio", 0.1)],
              slices=["device"], min_slice_size=200, n_boot=30, batch_size=256)
'''


@pytest.fixture
def golden(tmp_path, monkeypatch):
    """A golden set in row groups of 700 rows, named by $PARITY_GOLDEN_DIR."""
    return _golden(tmp_path, monkeypatch)


def _golden(tmp_path, monkeypatch, nan_at=None):
    from harness.golden import writer
    from harness.golden.manifest import Column

    rng = np.random.default_rng(11)
    n = 5000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"row_id": rng.permutation(n) * 3 + 17, "x1": x1, "x2": x2,
                          "device": rng.choice(["desktop", "mobile", "tablet"], size=n),
                          "y": (rng.random(n) < 1 / (1 + np.exp(-(1.6 * x1 - 0.5 * np.abs(x2))))).astype(np.int64),
                          "q": rng.integers(0, 400, size=n)})
    columns = (Column("row_id", "int64", "key"), Column("x1", "float64", "feature"),
               Column("x2", "float64", "feature"), Column("device", "string", "feature"),
               Column("y", "int64", "label"), Column("q", "int64", "group"))
    table = writer.arrow_table(columns, frame)
    if nan_at is not None:  # a NaN in a non-nullable column, which the writer refuses: written past it below
        import pyarrow as pa

        x1 = frame["x1"].to_numpy().copy()
        x1[nan_at] = np.nan
        table = table.set_column(1, table.schema.field("x1"), pa.array(x1))
    monkeypatch.setitem(writer.PARQUET_OPTIONS, "row_group_size", 700)
    with monkeypatch.context() as m:
        if nan_at is not None:  # a corrupt file as a producer other than write_dataset could leave it
            from harness.golden import registry

            m.setattr(registry, "check_values", lambda *a, **k: None)
        writer.write_dataset(writer.GeneratedDataset("beam_toy", "1.0.0", "Beam suite test data", columns,
                                                     {s: table for s in ("train", "eval")}),
                             dest_dir=tmp_path / "golden" / "beam_toy")
    monkeypatch.setenv("PARITY_GOLDEN_DIR", str(tmp_path / "golden"))
    return frame


def _suites(tmp_path, fail_on_keys=()):
    folder = tmp_path / ("failing" if fail_on_keys else "suites")
    folder.mkdir(exist_ok=True)
    (folder / "test_beam_toy.py").write_text(_SUITE.format(fail_on_keys=list(fail_on_keys)))
    return folder


def _run(tmp_path, suites, out, *extra):
    rc = main(["run", "--suites-dir", str(suites), "--sample", "3000", "--seed", "4", "--no-progress",
               "--report", str(tmp_path / out), *extra])
    return rc, (tmp_path / out / "report.json").read_text()


def _without_measured(text: str) -> str:
    # "measured" is the report's last section (cost per stage), outside the byte-identity contract
    assert text.rindex('"measured"') > len(text) // 2
    return text[:text.rindex('"measured"')]


@pytest.fixture
def in_memory(tmp_path, golden):
    suites = _suites(tmp_path)
    rc, text = _run(tmp_path, suites, "mem")
    return suites, rc, text


@needs_beam
@pytest.mark.slow
@pytest.mark.parametrize("options", ["", MULTI], ids=["in_process", "multi_process"])
def test_beam_report_json_is_the_in_memory_one_byte_for_byte(tmp_path, in_memory, options):
    suites, rc_mem, mem = in_memory
    rc, beam = _run(tmp_path, suites, "beam", "--runner", "beam", *([f"--beam-options={options}"] if options else []))
    assert rc == rc_mem == 1  # the defect fails the suite on both runners
    assert _without_measured(beam) == _without_measured(mem)
    doc = json.loads(mem)
    checks = {c["id"]: c for s in doc["suites"] for c in s["checks"]}
    # the comparison measures something: merged feature mismatches, slices, the bootstrap metric
    assert checks["features/f1"]["verdict"] == "NOT_EQUIVALENT" and checks["features/dev"]["details"]["n_mismatch"]
    assert len(checks["features/f1"]["details"]["examples"]) == 5
    assert "metrics/auc[device=tablet]" in checks and "metrics/calibration_ratio" in checks


@needs_beam
@pytest.mark.slow
def test_with_a_temp_location_the_split_is_staged_there_and_the_results_come_back_through_it(tmp_path, in_memory):
    # a remote runner's workers read the staged copy and write their results there (here: a local folder)
    suites, rc_mem, mem = in_memory
    temp = tmp_path / "bucket"
    temp.mkdir()
    rc, beam = _run(tmp_path, suites, "beam", "--runner", "beam", f"--beam-options=--temp_location={temp}")
    assert rc == rc_mem and _without_measured(beam) == _without_measured(mem)
    assert list(temp.iterdir()) == []  # the run's folder there is removed afterwards


@needs_beam
@pytest.mark.slow
def test_a_side_failing_in_the_pipeline_is_exit_2_naming_side_rows_and_keys(tmp_path, golden, capsys):
    keys = golden["row_id"].to_numpy()
    suites = _suites(tmp_path, fail_on_keys=keys[2100:2200].tolist())  # in row group 3, some of them sampled
    rc, text = _run(tmp_path, suites, "beam_fail", "--runner", "beam")
    assert rc == 2
    doc = json.loads(text)
    checks = doc["suites"][0]["checks"]
    assert checks and all(c["details"].get("error") for c in checks)  # nothing reported as complete
    msg = checks[0]["details"]["error"]["message"]
    assert re.search(r"the new side 'new' failed on batch \d+ \(rows \d+-\d+, keys row_id=\d+\.\.\d+, "
                     r"row groups? (2-)?3 of ", msg), msg
    assert "model server went away" in msg and "nothing of this suite is reported" in msg


@needs_beam
def test_flags_that_make_no_sense_with_the_beam_runner_are_exit_2_naming_them(tmp_path, golden, capsys, monkeypatch):
    suites = _suites(tmp_path)
    assert main(["run", "--suites-dir", str(suites), "--runner", "beam", "--stream"]) == 2
    assert "--stream" in capsys.readouterr().err
    assert main(["run", "--suites-dir", str(suites), "--beam-options=--direct_num_workers=2"]) == 2
    assert "--beam-options only used with --runner beam" in capsys.readouterr().err
    assert main(["run", "--suites-dir", str(suites), "--runner", "beam", "--beam-options=--no_such_flag=1"]) == 2
    err = capsys.readouterr().err
    assert "--beam-options" in err and "no_such_flag" in err
    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "--no_such_flag=1")  # read as parity compare --runner beam reads it
    assert main(["run", "--suites-dir", str(suites), "--runner", "beam"]) == 2
    assert "PARITY_BEAM_OPTIONS: ['no_such_flag'] are not Beam pipeline options" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error, exit 2
        main(["run", "--suites-dir", str(suites), "--runner", "spark"])
    assert usage.value.code == 2
    assert "argument --runner: expected one of process, beam, got 'spark'" in capsys.readouterr().err


def test_the_beam_runner_without_beam_installed_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam now raises ImportError
    assert main(["run", "--suites-dir", str(tmp_path), "--runner", "beam"]) == 2
    err = capsys.readouterr().err
    assert "--runner beam" in err and 'pip install -e ".[beam]"' in err


@needs_beam
@pytest.mark.slow
def test_pytest_parity_runner_beam_writes_the_same_report_json(tmp_path, in_memory):
    import subprocess

    suites, rc_mem, mem = in_memory
    out = tmp_path / "pytest_beam"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suites), "-q", "-p", "no:cacheprovider",
                           "--parity-runner", "beam", "--parity-sample", "3000", "--parity-seed", "4",
                           "--parity-report", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PARITY_GOLDEN_DIR": str(tmp_path / "golden")})
    assert proc.returncode == rc_mem == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _without_measured((out / "report.json").read_text()) == _without_measured(mem)


@needs_beam
@pytest.mark.slow
def test_a_nan_in_a_feature_column_is_found_in_its_row_group_exit_2_as_in_memory(tmp_path, monkeypatch):
    _golden(tmp_path, monkeypatch, nan_at=3600)  # row group 5
    suites = _suites(tmp_path)
    text = (suites / "test_beam_toy.py").read_text()  # no slices: collection reads no split
    (suites / "test_beam_toy.py").write_text(text.replace('slices=["device"]', "slices=[]"))
    rcs, messages = [], []
    for out, extra in (("mem", ()), ("beam", ("--runner", "beam"))):
        rc = main(["run", "--suites-dir", str(suites), "--no-progress", "--report", str(tmp_path / out), *extra])
        doc = json.loads((tmp_path / out / "report.json").read_text())
        rcs.append(rc)
        messages.append(doc["suites"][0]["checks"][0]["details"]["error"]["message"])
    assert rcs == [2, 2]
    for msg in messages:
        assert "column 'x1' is not nullable but has 1 missing values (null or NaN)" in msg, msg
    assert "row group 5 (rows 3500-4199 of the file)" in messages[1]


@needs_beam
def test_a_pair_that_does_not_pickle_is_refused_before_the_pipeline_naming_the_suite(tmp_path, golden, capsys):
    suites = _suites(tmp_path)
    text = (suites / "test_beam_toy.py").read_text()
    # a side holding a lock (as a client with a connection pool would) cannot travel to the workers
    text = text.replace('self.name, self.defect = name, defect',
                        'import threading\n        self.name, self.defect, self.lock = name, defect, threading.Lock()')
    (suites / "test_beam_toy.py").write_text(text)
    rc = main(["run", "--suites-dir", str(suites), "--no-progress", "--runner", "beam",
               "--report", str(tmp_path / "out")])
    assert rc == 2
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    msg = doc["suites"][0]["checks"][0]["details"]["error"]["message"]
    assert "suite 'beam_toy': --runner beam carries the fitted pair to the workers by pickling it" in msg, msg
