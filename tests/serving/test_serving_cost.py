"""Cost measurement: CPU seconds against the interpreter's own clocks, children included; per-stage peak
RSS; artifact sizes."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from harness.serving.cost import ProcessMeter, artifact_size_bytes, measure_stage


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_stage_cpu_and_wall():
    before = time.process_time()
    with measure_stage("burn") as cost:
        _burn(0.2)
    used = time.process_time() - before
    assert cost["stage"] == "burn"
    assert cost["cpu_s"] == pytest.approx(used, abs=0.05)
    assert cost["wall_s"] >= cost["cpu_s"] * 0.5  # one thread: CPU cannot outrun the clock by much


def test_children_cpu_is_included():
    with measure_stage() as cost:
        out = subprocess.run([sys.executable, "-c",
                              "import time, resource\nend = time.process_time() + 0.3\n"
                              "while time.process_time() < end: pass\n"
                              "r = resource.getrusage(resource.RUSAGE_SELF); print(r.ru_utime + r.ru_stime)"],
                             capture_output=True, text=True, check=True)
    assert cost["cpu_s"] >= float(out.stdout) * 0.9


def test_peak_rss_is_the_stage_s_own_peak():
    with measure_stage("big") as big:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        del block
    with measure_stage("small") as small:
        pass
    assert big["peak_rss_mb"] >= 150
    if small["peak_rss_scope"] == "stage":  # the kernel allowed the high-water mark to be reset
        assert small["peak_rss_mb"] < big["peak_rss_mb"] - 150


def test_nested_stage_peak_is_handed_to_the_outer_one():
    with measure_stage("outer") as outer:
        with measure_stage("inner") as inner:
            block = np.ones(100 * 2**20 // 8)
            del block
    assert outer["peak_rss_mb"] >= inner["peak_rss_mb"]
    assert outer["cpu_s"] >= inner["cpu_s"]


def test_sibling_stages_inside_one_stage_close_in_order():
    # Each side's fit is a stage inside the train stage: the open stages' peaks are then often equal,
    # and closing an inner one must not close (or lose) the outer one.
    from harness.serving import cost

    with measure_stage("train") as outer:
        (train_state,) = cost._STAGES
        for role in ("legacy", "new"):
            with measure_stage(f"train:{role}"):
                pass
            assert len(cost._STAGES) == 1 and cost._STAGES[0] is train_state
    assert cost._STAGES == []
    assert outer["wall_s"] >= 0


def test_process_meter_reads_another_process():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        meter = ProcessMeter(child.pid)
        time.sleep(0.2)
        assert meter.cpu_s() >= 0
        assert meter.peak_rss_mb() > 1
    finally:
        child.communicate(b"")


def test_artifact_size(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"x" * 1000)
    (tmp_path / "variables" / "v.data").write_bytes(b"y" * 234)
    assert artifact_size_bytes(tmp_path) == 1234
    assert artifact_size_bytes(tmp_path / "saved_model.pb") == 1000
    assert artifact_size_bytes(None) is None
    with pytest.raises(FileNotFoundError, match="does not exist"):
        artifact_size_bytes(tmp_path / "nope")
