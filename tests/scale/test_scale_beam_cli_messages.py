"""parity compare --stream / --runner beam: bad input is said in the CLI's words, as in memory (the flag,
the row and its key), and flags that mean nothing without --stream are refused."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.scale.beam import beam_available

needs_beam = pytest.mark.skipif(not beam_available(), reason="apache_beam not installed (runs in /work/venv-beam)")


@pytest.fixture
def null_new(tmp_path):
    rng = np.random.default_rng(1)
    n = 900
    y = rng.integers(0, 2, n)
    a = rng.random(n)
    b = a + rng.normal(scale=0.01, size=n).clip(-a, 1 - a)
    ids = rng.permutation(n) + 1000
    bad = 412  # in the third chunk of 200 rows
    new = pa.array([None if i == bad else float(v) for i, v in enumerate(b)], pa.float64())
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"row_id": ids, "y": y, "old": a, "new": new}), path, row_group_size=300)
    return path, bad, int(ids[bad])


def _compare(path, *extra):
    return ["compare", str(path), "--label", "y", "--legacy", "old", "--new", "new", "--key", "row_id",
            "--margin", "auc=0.02", *extra]


def test_in_memory_null_names_flag_row_and_key(null_new, capsys):
    path, bad, key = null_new
    assert main(_compare(path)) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row {bad} (row_id={key})" in err, err


def test_streamed_null_names_flag_row_and_key(null_new, capsys):
    path, bad, key = null_new
    assert main(_compare(path, "--stream", "--chunk-rows", "200")) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row {bad} (row_id={key})" in err, err
    assert "Traceback" not in err


@needs_beam
def test_beam_null_names_flag_and_key(null_new, capsys):
    path, _, key = null_new
    assert main(_compare(path, "--stream", "--runner", "beam")) == 2
    err = capsys.readouterr().err
    assert "column 'new' (--new)" in err and f"row_id={key}" in err, err


@pytest.mark.parametrize("extra, flags", [(["--runner", "beam"], "--runner"), (["--runner", "process"], "--runner"),
                                          (["--chunk-rows", "10"], "--chunk-rows"),
                                          (["--runner", "beam", "--chunk-rows", "10"], "--runner and --chunk-rows")])
def test_stream_flags_without_stream_are_refused(null_new, capsys, extra, flags):
    path, _, _ = null_new
    assert main(_compare(path, *extra)) == 2
    err = capsys.readouterr().err
    assert f"{flags} only used with --stream" in err, err


@needs_beam
def test_beam_refusal_of_a_metric_names_flags_not_functions(null_new, capsys):
    path, _, _ = null_new
    assert main(_compare(path, "--stream", "--runner", "beam", "--metrics", "pr_auc")) == 2
    err = capsys.readouterr().err
    assert "--runner process" in err and "use compare_stream" not in err, err


@pytest.mark.parametrize("flag", ["--beam-options", "--bisect-pip-args"])
def test_unclosed_quote_in_a_command_line_option_is_said(capsys, flag):
    with pytest.raises(SystemExit) as e:
        main(["run", f"{flag}=--foo='bar"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err and "quote is not closed" in err and "<lambda>" not in err, err


def test_unclosed_quote_in_parity_beam_options_is_said(null_new, capsys, monkeypatch):
    pytest.importorskip("apache_beam")
    path, _, _ = null_new
    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "--foo='bar")
    assert main(_compare(path, "--stream", "--runner", "beam")) == 2
    err = capsys.readouterr().err
    assert "PARITY_BEAM_OPTIONS" in err and "quote is not closed" in err and "internal error" not in err, err


@needs_beam
@pytest.mark.parametrize("flags", [["direct_num_workers=2"], ["--save_main_session", "direct_num_workers=2"]])
def test_a_beam_flag_without_dashes_is_refused_not_dropped(flags):
    from harness.errors import ParityInputError
    from harness.scale.beam import _options

    with pytest.raises(ParityInputError, match=r"'direct_num_workers=2' is not a Beam flag \(flags start with --"):
        _options(flags)


@needs_beam
def test_beam_flags_with_their_values_still_pass():
    from harness.scale.beam import _options

    opts = _options(["--direct_num_workers", "2", "--experiments", "a", "--experiments=b", "--runner=DirectRunner"])
    assert opts.get_all_options()["direct_num_workers"] == 2


@needs_beam
def test_parity_beam_options_without_dashes_is_refused(null_new, capsys, monkeypatch):
    path, _, _ = null_new
    monkeypatch.setenv("PARITY_BEAM_OPTIONS", "direct_num_workers=2")
    assert main(_compare(path, "--stream", "--runner", "beam")) == 2
    err = capsys.readouterr().err
    assert "PARITY_BEAM_OPTIONS" in err and "'direct_num_workers=2' is not a Beam flag" in err, err


@needs_beam
def test_run_beam_options_without_dashes_is_refused():
    from harness.errors import ParityInputError
    from harness.scale.beam_suite import pipeline_options

    with pytest.raises(ParityInputError, match=r"--beam-options .*'direct_num_workers=2' is not a Beam flag"):
        pipeline_options(("direct_num_workers=2",), flag="--beam-options")


def test_cli_log_handler_drops_beam_chatter_and_keeps_the_rest(capsys):
    import logging

    from harness.cli import _Stderr

    logger = logging.Logger("isolated")  # not in the logging tree: only this handler sees the records
    handler = _Stderr()
    logger.addHandler(handler)
    handler._alone = lambda: True  # pytest's own handlers sit on the root logger here

    def emit(name, level, msg, pathname="x.py"):
        logger.handle(logging.LogRecord(name, level, pathname, 1, msg, None, None))

    emit("root", logging.WARNING, "apitools not found", pathname="/v/site-packages/apache_beam/io/gcp/x.py")
    emit("apache_beam.runners.worker.sdk_worker", logging.INFO, "Control channel established.")
    emit("apache_beam.runners.portability.local_job_service", logging.WARNING, "Worker: severity: WARN")
    emit("apache_beam.runners.direct", logging.ERROR, "a worker failed")
    emit("harness.something", logging.WARNING, "a harness warning")
    emit("harness.something", logging.INFO, "an info line")
    assert capsys.readouterr().err.splitlines() == ["a worker failed", "a harness warning"]


def _parity(*argv, env=None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
@needs_beam
@pytest.mark.parametrize("beam_options", ["", "--direct_running_mode=multi_processing --direct_num_workers=2"])
def test_beam_log_lines_stay_off_stderr_unless_verbose(null_new, tmp_path, beam_options):
    path = tmp_path / "ok.parquet"
    table = pq.read_table(null_new[0])
    pq.write_table(table.set_column(3, "new", table.column("old")), path)  # no null: a run that completes
    argv = _compare(path, "--stream", "--runner", "beam", "--metrics", "auc", "--allow-identical")
    env = {"PARITY_BEAM_OPTIONS": beam_options}
    quiet, loud = _parity(*argv, env=env), _parity("--verbose", *argv, env=env)
    assert quiet.returncode == loud.returncode and quiet.returncode in (0, 1), quiet.stderr  # a judgement
    assert quiet.stdout == loud.stdout
    assert "Pipeline_options" not in quiet.stderr and "sdk_worker" not in quiet.stderr, quiet.stderr
    if not beam_options:  # in this process: nothing of Beam's at all
        assert quiet.stderr == "", quiet.stderr
    assert "apitools" in loud.stderr
