"""MEAN_OF_PER_ROW's promise, on which compare_scores' paired interval relies when it takes the point
values from the per-row losses it already holds: for those built-in metrics the metric's value is
np.average of its per-row losses, bit for bit (any dtype, weights or none, probabilities at 0 and 1)."""
from __future__ import annotations

import numpy as np
import pytest

from harness.stats.metrics import MEAN_OF_PER_ROW, METRICS


@pytest.mark.parametrize("name", sorted(MEAN_OF_PER_ROW))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_value_is_the_average_of_the_per_row_losses_bit_for_bit(name, dtype, weighted):
    m = METRICS[name]
    rng = np.random.default_rng(5)
    for n in (1, 2, 17, 10_001):
        y = (rng.random(n) < 0.3).astype(int)
        p = rng.random(n).astype(dtype)
        p[: min(n, 3)] = [0.0, 1.0, 1e-9][: min(n, 3)]
        w = rng.integers(0, 4, n).astype(float) if weighted else None
        if w is not None:
            w[0] = 1.0
        assert m.fn(y, p, sample_weight=w) == float(np.average(m.per_row(y, p), weights=w))


def test_compare_scores_point_values_are_the_metrics_own():
    from harness.stats.compare import compare_scores

    rng = np.random.default_rng(2)
    n = 3000
    y = (rng.random(n) < 0.2).astype(int)
    a, b = rng.random(n), rng.random(n)
    w = rng.random(n) + 0.5
    res = compare_scores(y, a, b, metrics=["logloss", "brier"], sample_weight=w, margins={"logloss": 0.1, "brier": 0.1})
    for e in res.entries:
        m = METRICS[e.name]
        assert (e.legacy, e.new) == (m.fn(y, a, sample_weight=w), m.fn(y, b, sample_weight=w))
