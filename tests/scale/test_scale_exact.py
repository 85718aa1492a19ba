"""ExactSum against exact rational sums (fractions.Fraction) and math.fsum; any split, any order."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scale._exact import ExactSum

finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e300, max_value=1e300)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, max_size=60), st.randoms(use_true_random=False))
def test_exact_sum_is_the_rational_sum_for_any_split_and_order(values, rnd):
    x = np.array(values, dtype=np.float64)
    exact = sum((Fraction(v) for v in values), Fraction(0))
    whole = ExactSum()
    whole.add(x)
    assert whole.fraction() == exact
    assert whole.value() == math.fsum(values)  # both round the exact sum once
    rnd.shuffle(values)
    cuts = sorted(rnd.randrange(len(values) + 1) for _ in range(3))
    parts = [np.array(values[i:j]) for i, j in zip([0, *cuts], [*cuts, len(values)])]
    merged = ExactSum()
    for p in reversed(parts):
        s = ExactSum()
        s.add(p)
        merged = merged.merge(s)
    assert merged.fraction() == exact


def test_extreme_magnitudes_and_subnormals():
    rng = np.random.default_rng(3)
    x = rng.normal(size=20000) * 10.0 ** rng.integers(-320, 300, 20000)
    x = np.concatenate([x, [5e-324, -5e-324, 2.5e-310, 1e300, -1e300, 0.0, -0.0]])
    s = ExactSum()
    s.add(x)
    assert s.fraction() == sum((Fraction(float(v)) for v in x), Fraction(0))
