"""`CompactRows` filled in place (row count known up front) keeps what the chunk-list form keeps: the
same rows, dtypes and order from `result()`, whatever the chunking, including a chunk in a wider type
than the first (a non-0/1 label after 0/1 ones) and more rows than announced."""
from __future__ import annotations

import numpy as np
import pytest

from harness.scale.accumulators import CompactRows


def _chunks(n: int, size: int, rng: np.random.Generator, wide_label_from: int | None = None):
    keys = rng.permutation(n).astype(np.int64)
    y = rng.integers(0, 2, n).astype(np.float64)
    if wide_label_from is not None:
        y[wide_label_from:] = rng.random(n - wide_label_from)  # not 0/1: kept as float64 from there
    a = rng.random(n)
    b = rng.random(n).astype(np.float32)
    g = rng.integers(0, 50, n)
    code = rng.integers(0, 3, n).astype(np.int32)
    for s in range(0, n, size):
        e = min(n, s + size)
        yield keys[s:e], y[s:e], a[s:e], a[s:e], b[s:e], b[s:e].astype(np.float64), g[s:e], code[s:e]


def _fill(rows: CompactRows, chunks) -> CompactRows:
    for k, y, ar, a, br, b, g, c in chunks:
        rows.add(k, y, ar, a, br, b, group=g, code=c)
    return rows


@pytest.mark.parametrize("size", [1, 7, 100, 1000])
@pytest.mark.parametrize("capacity_delta", [0, -37])  # exact, and fewer rows announced than arrive
@pytest.mark.parametrize("wide_label_from", [None, 0, 450])
def test_buffers_equal_the_chunk_lists(size, capacity_delta, wide_label_from):
    n = 1000
    ref = _fill(CompactRows(("group", "code")), _chunks(n, size, np.random.default_rng(3), wide_label_from))
    got = _fill(CompactRows(("group", "code"), capacity=n + capacity_delta),
                _chunks(n, size, np.random.default_rng(3), wide_label_from))
    assert got.n == ref.n == n
    r, g = ref.result(), got.result()
    for name in ("keys", "y", "a", "b"):
        x, z = getattr(r, name), getattr(g, name)
        assert x.dtype == z.dtype and np.array_equal(x, z), name
    assert r.extra.keys() == g.extra.keys()
    for name in r.extra:
        assert r.extra[name].dtype == g.extra[name].dtype and np.array_equal(r.extra[name], g.extra[name]), name
    assert np.all(np.diff(g.keys) > 0)


def test_merge_of_filled_buffers_keeps_both_parts():
    chunks = list(_chunks(300, 50, np.random.default_rng(5)))
    left = _fill(CompactRows(("group", "code"), capacity=150), chunks[:3])
    right = _fill(CompactRows(("group", "code"), capacity=150), chunks[3:])
    whole = _fill(CompactRows(("group", "code")), chunks)
    m, w = left.merge(right).result(), whole.result()
    assert np.array_equal(m.keys, w.keys) and np.array_equal(m.y, w.y) and np.array_equal(m.b, w.b)
    assert np.array_equal(m.extra["group"], w.extra["group"])
