"""Progress bars: silent unless a shell enables them, on stderr when enabled, results unchanged."""
from __future__ import annotations

import numpy as np

from harness.progress import bar, enabled, is_enabled
from harness.stats.bootstrap import paired_bootstrap


def _data():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.3).astype(int)
    a = rng.random(3000)
    return y, a, np.clip(a + rng.normal(scale=0.05, size=3000), 0, 1)


def test_progress_is_off_by_default_and_prints_nothing(capsys):
    assert not is_enabled()
    y, a, b = _data()
    paired_bootstrap("brier", y, a, b, n_boot=50)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_enabled_progress_shows_bootstrap_bar_on_stderr_and_keeps_results(capsys):
    y, a, b = _data()
    quiet = paired_bootstrap("brier", y, a, b, n_boot=50, seed=3)
    with enabled(True):
        assert is_enabled()
        loud = paired_bootstrap("brier", y, a, b, n_boot=50, seed=3)
    assert not is_enabled()
    err = capsys.readouterr().err
    assert "bootstrap brier" in err and "replicate" in err
    np.testing.assert_array_equal(quiet.replicates, loud.replicates)


def test_no_op_bar_has_the_tqdm_methods_used():
    with bar("x", total=3) as b:
        b.update(1)
        b.set_description_str("y")
    b.close()
