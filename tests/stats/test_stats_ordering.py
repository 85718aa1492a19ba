"""harness.stats.ordering against the numpy and scipy functions it stands in for: the same order,
ranks and Spearman correlation, on ties, NaN, signed zeros and integer inputs."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import rankdata, spearmanr

from harness.stats.ordering import average_ranks, shared_orders, spearman_rho, stable_argsort, stable_argsort_descending

# Few distinct values make ties; NaN and both zeros are the values whose order numpy defines specially.
_FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 0.5]),
                    st.floats(allow_nan=True, allow_infinity=True, width=64))


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 400), elements=_FLOATS))
def test_stable_argsort_is_numpys_stable_argsort_on_floats(x):
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.int64, np.int32, np.int16, np.uint8, np.float32, np.bool_]),
       st.integers(0, 300), st.integers(0, 2**31))
def test_stable_argsort_is_numpys_stable_argsort_on_other_dtypes(dtype, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5 if seed % 2 else 10**6, n).astype(dtype)
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


def _suite_sized_scores(tied_share: float, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random(75_000)
    tied = rng.random(x.size) < tied_share
    x[tied] = np.round(x[tied], 3)
    return x


@pytest.mark.parametrize("tied_share", [0.0, 0.05, 0.5])
def test_stable_argsort_on_suite_sized_scores(tied_share):
    # Both of its paths at suite size: the tie repair (few ties) and numpy's own sort (many).
    x = _suite_sized_scores(tied_share)
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))
    assert np.array_equal(stable_argsort(-x), np.argsort(-x, kind="stable"))
    with shared_orders():  # the descending order from the shared ascending sort, reversed
        ascending = stable_argsort(x)
        assert np.array_equal(stable_argsort_descending(x), np.argsort(-x, kind="stable"))
        assert np.array_equal(ascending, np.argsort(x, kind="stable"))  # and the shared order is untouched
        assert np.array_equal(stable_argsort_descending(x.copy()), np.argsort(-x, kind="stable"))


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32]), st.integers(0, 400), elements=_FLOATS),
       st.booleans())
def test_stable_argsort_descending_is_numpys_stable_argsort_of_the_negation(x, shared):
    # ties, both zeros, infinities (and NaN, which takes numpy's own path), inside a shared block or not
    if shared:
        with shared_orders():
            assert np.array_equal(stable_argsort_descending(x), np.argsort(-x, kind="stable"))
    else:
        assert np.array_equal(stable_argsort_descending(x), np.argsort(-x, kind="stable"))


def test_stable_argsort_refers_other_shapes_to_numpy():
    x = np.array([[3.0, 1.0], [2.0, 2.0]])
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))
    words = np.array(["b", "a", "b", "a"], dtype=object)
    assert stable_argsort(words).tolist() == [1, 3, 0, 2]


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 300),
                  elements=st.one_of(st.sampled_from([0.0, -0.0, 1.0, 2.5]),
                                     st.floats(-1e6, 1e6, allow_nan=False))))
def test_average_ranks_are_scipys(x):
    assert np.array_equal(average_ranks(x), rankdata(x))


@pytest.mark.parametrize("rounding", [None, 2])
def test_spearman_rho_is_scipys(rounding):
    rng = np.random.default_rng(8)
    a = rng.random(20_000)
    b = a + rng.normal(scale=0.05, size=a.size)
    if rounding is not None:
        a, b = np.round(a, rounding), np.round(b, rounding)
    # The same computation as scipy's (corrcoef of the rank columns): equal to the last bits here,
    # and within rounding on any scipy that computes it otherwise.
    assert spearman_rho(a, b) == pytest.approx(float(spearmanr(a, b).statistic), rel=1e-14, abs=0)


def test_spearman_rho_of_a_constant_input_is_scipys_nan_and_warning():
    from scipy.stats import ConstantInputWarning

    with pytest.warns(ConstantInputWarning):
        assert np.isnan(spearman_rho(np.ones(10), np.arange(10.0)))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([np.int64, np.int32, np.int8, np.uint8, np.uint16, np.uint64]), st.integers(1, 500),
       st.integers(0, 2**31), st.sampled_from([3, 50, 10**6]))
def test_group_codes_of_integer_ids_are_numpys_unique(dtype, n, seed, spread):
    from harness.stats._validation import group_codes

    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    lo = max(int(info.min), -spread) if seed % 3 else int(info.min)  # ids at the dtype's own edge too
    hi = min(int(info.max), lo + spread)
    ids = rng.integers(lo, hi, n, endpoint=True, dtype=np.int64 if dtype != np.uint64 else np.uint64).astype(dtype)
    codes, uniques = group_codes(ids, n)
    want_uniques, want_codes = np.unique(ids, return_inverse=True)
    assert uniques.dtype == want_uniques.dtype and np.array_equal(uniques, want_uniques)
    assert codes.dtype == np.int64 and np.array_equal(codes, want_codes.reshape(-1))


@pytest.mark.parametrize("n_groups", [1, 300, 70_000])
@pytest.mark.parametrize("grouped", [True, False], ids=["rows-grouped", "rows-shuffled"])
def test_group_score_order_is_lexsort(n_groups, grouped):
    from harness.stats.metrics import _group_score_order

    rng = np.random.default_rng(n_groups)
    n = 200_000
    codes = rng.integers(0, n_groups, n)
    if grouped:
        codes.sort()
    s = np.round(rng.random(n), 3)  # ties within groups
    assert np.array_equal(_group_score_order(codes, s, int(codes.max()) + 1), np.lexsort((-s, codes)))


@pytest.mark.parametrize("kind", ["int-wide", "str", "object"])
@pytest.mark.parametrize("layout", ["grouped", "shuffled", "runs-repeat"])
def test_group_codes_of_grouped_rows_are_numpys_unique(kind, layout):
    from harness.stats._validation import group_codes

    rng = np.random.default_rng(4)
    ids = rng.integers(0, 10**12, 3000)[np.repeat(np.arange(3000), rng.integers(1, 30, 3000))]
    if layout == "shuffled":
        ids = rng.permutation(ids)
    elif layout == "runs-repeat":  # a group's rows in several runs
        ids = np.concatenate([ids, ids[::-1]])
    if kind != "int-wide":
        ids = ids.astype(str) if kind == "str" else np.array([f"q{v}" for v in ids], dtype=object)
    codes, uniques = group_codes(ids, ids.shape[0])
    want_uniques, want_codes = np.unique(ids.astype(str) if kind == "object" else ids, return_inverse=True)
    assert np.array_equal(uniques, want_uniques) and uniques.dtype == want_uniques.dtype
    assert codes.dtype == np.int64 and np.array_equal(codes, want_codes.reshape(-1))


class _Sorts:
    """np.argsort counted (the shapes it sorts, in order) while active; ``real`` is numpy's own."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []
        self.real = np.argsort

    def __call__(self, a, *args, **kwargs):
        self.calls.append(a.shape)
        return self.real(a, *args, **kwargs)

    @contextlib.contextmanager
    def counting(self):
        from harness.stats import ordering

        with pytest.MonkeyPatch.context() as m:
            m.setattr(ordering.np, "argsort", self)
            yield self


def test_shared_orders_sort_each_contents_once_and_see_every_change():
    from harness.stats.ordering import shared_orders, sort_order

    rng = np.random.default_rng(2)
    x = np.round(rng.random(10_000), 3)  # ties
    sorts = _Sorts()
    calls, real = sorts.calls, sorts.real
    with sorts.counting():
        with shared_orders():
            first = sort_order(x)
            again = sort_order(x.copy())  # another array, the same contents: the same order
            assert again is first and len(calls) == 1 and not first.flags.writeable
            assert np.array_equal(x[first], np.sort(x))
            assert np.array_equal(stable_argsort(x.copy()), real(x, kind="stable"))
            assert np.array_equal(stable_argsort(x), real(x, kind="stable"))  # the shared order is left as it was
            x[5] = -1.0  # changed in place: sorted again, not read from the block
            changed = sort_order(x)
            assert changed is not first and changed[0] == 5 and len(calls) == 2
            assert np.array_equal(average_ranks(x), rankdata(x))
        calls.clear()
        assert sort_order(x) is not sort_order(x) and len(calls) == 2  # outside a block: sorted each time


def test_shared_orders_reach_worker_threads_given_the_context():
    from concurrent.futures import ThreadPoolExecutor

    from harness._threads import submit
    from harness.stats.ordering import shared_orders, sort_order

    x = np.random.default_rng(3).random(8192)
    with shared_orders(), ThreadPoolExecutor(max_workers=1) as pool:
        assert submit(pool, sort_order, x).result() is sort_order(x)


def test_a_suite_run_is_the_same_with_and_without_shared_orders(monkeypatch):
    import json

    from harness import runner
    from harness.protocol import ModelPair
    from harness.stats import ordering
    from harness.suite import MetricGate, Suite

    class Side:
        def __init__(self, name, shift):
            self.name, self.shift = name, shift

        def predict(self, batch):  # ties (rounded radius), and the two sides rank rows differently
            z = np.round(batch["mean_radius"].to_numpy(), 0) - 14.0 + self.shift * batch["mean_texture"].to_numpy()
            return 1 / (1 + np.exp(-z))

        def featurize(self, batch):
            return None

    suite = Suite(name="bc_orders", description="", dataset="breast_cancer", label="malignant",
                  pair=lambda ds: ModelPair(Side("legacy", 0.0), Side("new", 0.02)), prediction_atol=0.5,
                  metrics=[MetricGate("auc", 0.05), MetricGate("calibration_ratio", 0.2)], n_boot=200)
    monkeypatch.setattr(ordering, "_SHARED_MIN", 2)  # breast_cancer is small: share every order
    shared = runner.run_suite(suite)
    monkeypatch.setattr(ordering, "shared_orders", lambda: __import__("contextlib").nullcontext())
    alone = runner.run_suite(suite)

    def doc(r):
        return json.dumps({"checks": [c.to_dict() for c in r.checks], "plots": r.plots}, sort_keys=True)

    assert doc(shared) == doc(alone)


def test_a_noted_slice_takes_its_order_from_its_parent_without_a_sort():
    from harness.stats.ordering import note_subset, shared_orders, sort_order

    rng = np.random.default_rng(5)
    x = np.round(rng.random(20_000), 2)  # many ties
    rows = np.sort(rng.choice(x.shape[0], size=9_000, replace=False))
    sorts = _Sorts()
    calls = sorts.calls
    with sorts.counting():
        with shared_orders():
            child = x[rows]
            note_subset(child, x, rows)
            order = sort_order(child.copy())  # found by contents, as sorted orders are
            assert calls == [x.shape]  # the parent was sorted, the slice was not
            assert np.array_equal(np.sort(order), np.arange(rows.shape[0]))  # a permutation of the slice
            assert np.array_equal(child[order], np.sort(child))  # ascending
            assert sort_order(child) is order  # and kept, as any sorted order
        calls.clear()
        with shared_orders():  # the parent changed after the note: the slice is sorted itself, correctly
            y = x.copy()
            child = y[rows]
            note_subset(child, y, rows)
            y[rows[0]] = 5.0
            order = sort_order(child)
            assert calls == [child.shape] and np.array_equal(child[order], np.sort(child))
        calls.clear()
        with shared_orders():  # repeated rows: not a slice's row set; sorted itself, correctly
            dup = np.concatenate([rows[:4_000], rows[:4_000] + 0])
            child = x[dup]
            note_subset(child, x, dup)
            order = sort_order(child)
            assert np.array_equal(child[order], np.sort(child)) and np.array_equal(np.sort(order), np.arange(8_000))


def test_sliced_delong_entries_are_the_same_with_and_without_shared_orders(monkeypatch):
    from harness.stats import ordering
    from harness.stats.compare import compare_scores

    rng = np.random.default_rng(6)
    n = 12_000
    y = (rng.random(n) < 0.3).astype(int)
    a = np.round(np.clip(0.3 + 0.2 * (y - 0.3) + 0.2 * rng.standard_normal(n), 0.001, 0.999), 2)  # ties
    b = np.round(np.clip(a + 0.02 * rng.standard_normal(n), 0.001, 0.999), 3)
    device = rng.choice(np.array(["desktop", "mobile", "tablet"], dtype=object), size=n)

    def run():
        with ordering.shared_orders():
            r = compare_scores(y, a, b, metrics=["auc", "pr_auc"], margins={"auc": 0.02, "pr_auc": 0.03},
                               slices={"device": device}, min_slice_size=100)
        return [e.to_dict() for e in r.entries]

    monkeypatch.setattr(ordering, "_SHARED_MIN", 2)
    shared = run()
    monkeypatch.setattr(ordering, "note_subset", lambda *args: None)
    monkeypatch.setattr("harness.stats.compare.note_subset", lambda *args: None)
    alone = run()
    assert len(shared) == 8 and shared == alone
