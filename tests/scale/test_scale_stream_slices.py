"""compare_stream's slices from int32 codes (`streamed._slices`) are `compare.slice_rows` of the decoded
values: the same slices in the same order, with the same rows, for single and crossed columns, strings,
numbers and missing values (None, NaN)."""
from __future__ import annotations

import numpy as np
import pytest

from harness.scale.codes import ValueCodes
from harness.scale.streamed import _slices
from harness.stats.compare import slice_rows


def _columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    device = rng.choice(np.array(["mobile", "desktop", "tablet", None], dtype=object), size=n, p=[0.5, 0.3, 0.15, 0.05])
    hour = rng.integers(0, 24, n)
    score_bin = rng.choice(np.array([0.5, 1.5, -2.0, np.nan]), size=n)
    return {"device": device, "hour": hour, "bin": score_bin}


def _encoded(cols: dict[str, np.ndarray], chunk: int):
    """The codes as compare_stream builds them: chunk by chunk, first seen first coded."""
    encoders = {c: ValueCodes(c) for c in cols}
    codes = {f"slice:{c}": np.concatenate([encoders[c].encode(v[i:i + chunk]) for i in range(0, v.shape[0], chunk)])
             for c, v in cols.items()}
    return encoders, codes


@pytest.mark.parametrize("specs", [[("device",)], [("hour",)], [("bin",)], [("device", "hour")],
                                   [("bin", "device"), ("device",), ("hour", "bin", "device")]],
                         ids=["strings", "ints", "floats-nan", "crossed", "several"])
@pytest.mark.parametrize("seed", [0, 1])
def test_slices_from_codes_equal_slice_rows_of_the_values(specs, seed):
    n = 5000
    cols = _columns(n, seed)
    encoders, codes = _encoded(cols, chunk=777)
    want = slice_rows({(cs[0] if len(cs) == 1 else cs): (cols[cs[0]] if len(cs) == 1 else tuple(cols[c] for c in cs))
                       for cs in specs}, n)
    got = _slices(specs, encoders, dict(codes), n)
    assert len(got) == len(want) > 1
    for g, w in zip(got, want):
        assert g.columns == w.columns
        assert repr(g.values) == repr(w.values)  # None and nan alike, value types too
        assert g.rows.dtype == w.rows.dtype and np.array_equal(g.rows, w.rows)


def test_slices_skip_codes_no_row_holds():
    enc = ValueCodes("device")
    enc.encode(np.array(["a", "b", "c"], dtype=object))  # "b" coded but absent from the kept rows
    codes = enc.encode(np.array(["c", "a", "c", "a"], dtype=object))
    got = _slices([("device",)], {"device": enc}, {"slice:device": codes}, 4)
    assert [(s.values, s.rows.tolist()) for s in got] == [(("a",), [1, 3]), (("c",), [0, 2])]
