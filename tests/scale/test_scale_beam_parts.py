"""The Beam runner's pure steps (no Beam needed) against the in-memory estimators they stand in for:
weighted auc's range-partitioned bootstrap sweeps and the query-group replicate sums against
`paired_bootstrap`'s own replicates, the slice cells' order against `slice_rows`."""
from __future__ import annotations

import numpy as np
import pytest

from harness.scale import beam_cells as bc
from harness.scale import beam_groups as bg
from harness.scale import beam_wauc as bw
from harness.stats.bootstrap import paired_bootstrap
from harness.stats.compare import slice_rows
from harness.stats.metrics import get_metric, roc_auc


def _binary(n=1500, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), 2)  # many ties
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0, 1)
    return y, a, b, rng.gamma(2.0, size=n), rng.permutation(n) * 7 - n


def _swept(y, s, w, keys, n_ranges, n_boot, seed):
    bounds = np.unique(np.quantile(s, np.linspace(0, 1, n_ranges + 1)[1:-1]))
    rid = np.searchsorted(bounds, s, side="right")  # equal scores share a range, as range_of routes them
    rows = {g: bw.sorted_range(keys[rid == g], y[rid == g], s[rid == g], w[rid == g]) for g in np.unique(rid)}
    return bw.aucs(bw.finish({g: bw.range_sweep(r, n_boot, seed) for g, r in rows.items()}))


@pytest.mark.parametrize("n_ranges", [1, 3, 8])
def test_weighted_auc_sweeps_are_the_in_memory_replicates(n_ranges):
    y, a, b, w, keys = _binary()
    la, lb = _swept(y, a, w, keys, n_ranges, 64, 5), _swept(y, b, w, keys, n_ranges, 64, 5)
    ref = paired_bootstrap("auc", y, a, b, sample_weight=w, keys=keys, n_boot=64, seed=5)
    np.testing.assert_allclose(lb[:-1] - la[:-1], ref.replicates, rtol=0, atol=1e-14)
    assert abs(la[-1] - roc_auc(y, a, sample_weight=w)) < 1e-14
    assert abs(lb[-1] - roc_auc(y, b, sample_weight=w)) < 1e-14


def test_weighted_auc_sweeps_do_not_depend_on_row_order():
    y, a, _, w, keys = _binary()
    perm = np.random.default_rng(0).permutation(y.shape[0])
    assert np.array_equal(_swept(y, a, w, keys, 4, 32, 0), _swept(y[perm], a[perm], w[perm], keys[perm], 4, 32, 0))


def test_a_repeated_key_in_a_range_is_left_to_the_run_to_report():
    assert bw.sorted_range(np.array([3, 1, 3]), np.array([1.0, 0.0, 1.0]), np.array([0.1, 0.2, 0.3]),
                           np.ones(3)) is None


def _groups(n=1200, seed=4):
    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(n), rng.integers(1, 15, size=n))[:n]
    y = rng.integers(0, 3, size=n).astype(np.float64)
    a = np.round(rng.random(n), 2)
    b = np.round(a + rng.normal(scale=0.05, size=n), 2)
    w = rng.gamma(2.0, size=n)[q]
    return q, y, a, b, w


@pytest.mark.parametrize("metric", ["ndcg@10", "mrr"])
@pytest.mark.parametrize("weighted", [False, True])
def test_group_replicate_sums_are_the_in_memory_grouped_bootstrap(metric, weighted):
    q, y, a, b, w = _groups()
    w = w if weighted else None
    halves = [bg.GroupMeans([metric], 50, 3), bg.GroupMeans([metric], 50, 3)]
    for half in (0, 1):  # groups in two accumulators, merged: any split gives the same state
        m = q % 2 == half
        ids, codes = np.unique(bg.unit_keys(q[m]), return_inverse=True)
        gw, vals = bg.group_values([metric], y[m], a[m], b[m], None if w is None else w[m], codes)
        halves[half].add(ids, gw, vals)
    merged = halves[0].merge(halves[1])
    state = merged.to_state()
    assert bg.GroupMeans.from_state([metric], 50, 3, state).to_state() == state
    est = merged.estimate(get_metric(metric), 0.05, all_rows=True)
    ref = paired_bootstrap(metric, y, a, b, sample_weight=w, groups=q, n_boot=50, seed=3, alpha=0.1)
    reps = merged.reps.ratio(0, 1)
    np.testing.assert_allclose(reps, ref.replicates, rtol=0, atol=1e-14)
    assert abs(est.legacy - ref.legacy) < 1e-14 and abs(est.new - ref.new) < 1e-14
    assert np.allclose(est.ci, ref.ci, rtol=0, atol=1e-14) and est.method == ref.method
    assert merged.n_groups == np.unique(q).size


def test_group_unit_keys_are_group_codes_ids():
    assert bg.unit_keys(np.array(["a", "b"], dtype=object)).tolist() == ["a", "b"]
    assert bg.unit_keys(np.array([1.5, 2.0])).tolist() == ["1.5", "2.0"]
    assert bg.unit_keys(np.array([7, 8])).tolist() == [7, 8]


@pytest.mark.parametrize("values", [
    np.array(["mobile", None, "desktop", "mobile"], dtype=object),
    np.array([3.0, np.nan, -0.0, 1.5, 0.0]),
    np.array([2, 1, 2, 3]),
])
def test_cells_come_in_slice_rows_order_with_its_values(values):
    n = values.shape[0]
    cells = bc.batch_cells({"c": values}, [("c",)], n)
    assert cells[0] == (bc.ALL, None)
    counts = {cell: rows.size for cell, rows in cells[1:]}
    numeric = bc.numeric_columns({"c": values})
    got = [(sl.values, sl.rows.size) for sl, _ in bc.ordered_slices([("c",)], counts, numeric)]
    assert got == [(sl.values, sl.rows.size) for sl in slice_rows({"c": values}, n)]


def test_crossed_cells_come_in_slice_rows_order():
    rng = np.random.default_rng(0)
    d = rng.choice(["x", "y", "z"], size=200).astype(object)
    c = rng.choice([1, 2], size=200)
    cells = bc.batch_cells({"d": d, "c": c}, [("d", "c")], 200)
    counts = {cell: rows.size for cell, rows in cells[1:]}
    got = [(sl.values, sl.rows.size) for sl, _ in bc.ordered_slices([("d", "c")], counts, {"d": False, "c": True})]
    assert got == [(sl.values, sl.rows.size) for sl in slice_rows({("d", "c"): (d, c)}, 200)]


def test_a_slice_value_a_cell_cannot_carry_is_a_type_error():
    with pytest.raises(TypeError):
        bc.slice_value(np.datetime64("2020-01-01"))
    assert bc.slice_value(-0.0) == 0.0 and bc.slice_value(float("nan")) is None
