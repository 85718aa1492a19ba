"""compare_stream with weights, slices (single and crossed) and query groups against compare_scores in
memory: every metric, any chunking (1 row, a prime, one chunk) and any row order gives the same result.

The in-memory reference runs on the rows sorted by key (the order the streamed run's kept rows are in),
so the row-keeping metrics must match it exactly; the summed metrics (exact sums here, pairwise sums
there) within 1e-12, and the in-memory run on the file's own order within float rounding too.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import ParityInputError
from harness.scale import compare_stream
from harness.stats.compare import compare_scores
from scale_docs import HOLM_LEVEL, P_VALUES, assert_close

P_HOLM = P_VALUES + (HOLM_LEVEL,)  # weighted p-values: Holm's level as close as they are
BINARY = ("auc", "pr_auc", "logloss", "brier", "ece", "calibration_ratio", "calibration_slope", "ndcg@5", "mrr")
MARGINS = {"auc": 0.02, "pr_auc": 0.03, "logloss": 0.02, "brier": 0.01, "ece": 0.03, "calibration_ratio": 0.1,
           "calibration_slope": 0.2, "ndcg@5": 0.05, "mrr": 0.05}
N_BOOT = 60
SLICES = ("device", ("device", "country"))
SUMMED = ("logloss", "brier", "mae", "rmse", "calibration_ratio")  # exact sums or exact replicate sums


def _data(n=2400, seed=3):
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n // 6), 6)[:n] * 13 + 5  # query groups of 6 rows, scattered by the shuffles
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), 3)
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0.001, 0.999)
    w_group = rng.gamma(2.0, size=n // 6 + 1)
    w = w_group[np.repeat(np.arange(n // 6 + 1), 6)[:n]]  # constant within a group (ranking weights)
    w = np.where(np.isin(group, group[rng.random(n) < 0.01]), 0.0, w)  # zero-weight rows, whole groups
    device = rng.choice(np.array(["mobile", "desktop", "tablet"], dtype=object), size=n, p=[0.6, 0.3, 0.1])
    country = rng.choice(np.array(["US", "DE", None], dtype=object), size=n, p=[0.5, 0.45, 0.05])
    keys = rng.permutation(n) * 3 + 1
    return {"id": keys, "y": y, "a": a, "b": b, "w": w, "q": group, "device": device, "country": country}


def _write(path, cols, order=None, row_group_size=411):
    o = np.arange(cols["id"].shape[0]) if order is None else order
    pq.write_table(pa.table({k: v[o] for k, v in cols.items()}), path, row_group_size=row_group_size)
    return path


def _slices_in_memory(cols, o):
    return {"device": cols["device"][o], ("device", "country"): (cols["device"][o], cols["country"][o])}


def _stream(path, chunk_rows, metrics=BINARY, margins=MARGINS, weight="w", group="q", slices=SLICES, **kw):
    return compare_stream(path, label="y", legacy="a", new="b", key="id", metrics=metrics, margins=margins,
                          n_boot=N_BOOT, seed=4, chunk_rows=chunk_rows, weight=weight, group=group, slices=slices,
                          min_slice_size=100, **kw)


def _memory(cols, o, metrics=BINARY, margins=MARGINS, weighted=True):
    return compare_scores(cols["y"][o], cols["a"][o], cols["b"][o], keys=cols["id"][o], metrics=metrics,
                          margins=margins, n_boot=N_BOOT, seed=4, sample_weight=cols["w"][o] if weighted else None,
                          groups=cols["q"][o], slices=_slices_in_memory(cols, o), min_slice_size=100)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data):
    return _stream(_write(tmp_path_factory.mktemp("ref") / "g.parquet", data), 10**6).to_dict()


@pytest.mark.parametrize("chunk_rows,shuffle", [(1, 7), (97, None), (97, 1), (10**6, 2)],
                         ids=["chunk1-shuffled", "chunk97", "chunk97-shuffled", "one-chunk-shuffled"])
@pytest.mark.slow
def test_weighted_sliced_grouped_runs_agree_whatever_the_chunking_and_order(tmp_path, data, reference,
                                                                             chunk_rows, shuffle):
    order = None if shuffle is None else np.random.default_rng(shuffle).permutation(data["id"].shape[0])
    result = _stream(_write(tmp_path / "g.parquet", data, order=order), chunk_rows).to_dict()
    assert result == reference


def test_weighted_sliced_grouped_equals_compare_scores(tmp_path, data):
    order = np.random.default_rng(11).permutation(data["id"].shape[0])
    streamed = _stream(_write(tmp_path / "g.parquet", data, order=order), 211)
    o = np.argsort(data["id"])
    by_key = _memory(data, o)
    assert [e.id for e in streamed.entries] == [e.id for e in by_key.entries]
    assert any("device=tablet,country=None" in e.id for e in streamed.entries)  # a missing value is a slice
    for s, m in zip(streamed.entries, by_key.entries):
        if s.name not in SUMMED:  # the same rows in the same order through the same estimator
            assert s == m, s.id
    assert_close(streamed, by_key, p_tol=1e-12, p_values=P_HOLM)
    assert_close(streamed, _memory(data, order), p_tol=1e-9, p_values=P_HOLM)


@pytest.mark.slow
def test_unweighted_slices_and_regression_metrics(tmp_path, data):
    rng = np.random.default_rng(8)
    cols = dict(data)
    cols["y"] = rng.normal(size=data["id"].shape[0])
    cols["a"] = cols["y"] + rng.normal(size=cols["y"].shape[0])
    cols["b"] = cols["y"] + 1.01 * rng.normal(size=cols["y"].shape[0])
    path = _write(tmp_path / "r.parquet", cols)
    metrics, margins = ("rmse", "mae"), {"rmse": 0.1, "mae": 0.1}
    runs = [_stream(path, c, metrics=metrics, margins=margins, weight=None, group=None) for c in (1, 89, 10**6)]
    assert runs[0].to_dict() == runs[1].to_dict() == runs[2].to_dict()
    o = np.arange(cols["id"].shape[0])
    mem = compare_scores(cols["y"], cols["a"], cols["b"], keys=cols["id"], metrics=metrics, margins=margins,
                         slices=_slices_in_memory(cols, o), min_slice_size=100)
    assert_close(runs[1], mem, p_tol=1e-12, p_values=P_HOLM)
    weighted = _stream(path, 89, metrics=metrics, margins=margins, group=None)
    mem_w = compare_scores(cols["y"], cols["a"], cols["b"], keys=cols["id"], metrics=metrics, margins=margins,
                           sample_weight=cols["w"], slices=_slices_in_memory(cols, o), min_slice_size=100)
    assert_close(weighted, mem_w, p_tol=1e-12, p_values=P_HOLM)


def test_a_tiny_slice_is_undefined_as_in_memory(tmp_path, data):
    cols = dict(data)
    cols["device"] = cols["device"].copy()
    cols["device"][5] = "watch"  # one row: no paired interval, no AUC
    path = _write(tmp_path / "t.parquet", cols)
    streamed = _stream(path, 50, metrics=("auc", "logloss"), margins={"auc": 0.02, "logloss": 0.02}, group=None,
                       slices=("device",))
    mem = compare_scores(cols["y"], cols["a"], cols["b"], keys=cols["id"], metrics=("auc", "logloss"),
                         margins={"auc": 0.02, "logloss": 0.02}, sample_weight=cols["w"], n_boot=N_BOOT, seed=4,
                         slices={"device": cols["device"]}, min_slice_size=100)
    s, m = (r.entry("logloss", column="device", value="watch") for r in (streamed, mem))
    assert s.decided_by == m.decided_by == "undefined" and s.note == m.note
    assert_close(streamed, mem, p_tol=1e-9, p_values=P_HOLM)


def test_bad_weights_and_groups_name_the_chunk_and_row(tmp_path, data):
    cols = {k: v.copy() for k, v in data.items()}
    cols["w"][1234] = -1.0
    with pytest.raises(ParityInputError, match=r"weight column 'w': weights must be non-negative") as e:
        _stream(_write(tmp_path / "w.parquet", cols, row_group_size=500), 500)  # chunk 2: rows 1000-1499
    assert f"chunk 2, row 1234 (id={int(cols['id'][1234])})" in str(e.value) and e.value.column == "w"
    cols["w"][:] = 0.0
    with pytest.raises(ParityInputError, match="all 2400 weights are zero"):
        _stream(_write(tmp_path / "z.parquet", cols), 500)
    cols = {k: v.copy() for k, v in data.items()}
    cols["w"][cols["q"] == cols["q"][700]] = np.arange(6) + 1.0  # varies within one query group
    with pytest.raises(ParityInputError, match=r"column 'w': ranking weights .*constant within a group; at chunk 1, "
                                               r"row (69[6-9]|70[01]) \(id=\d+\) is [1-6]\.0 but its group's first row has "
                                               rf"[1-6]\.0 \(group {cols['q'][700]}\)") as e:
        _stream(_write(tmp_path / "g.parquet", cols), 500)  # group rows 696-701: the column, the row, its key...
    assert e.value.column == "w" and e.value.value in np.arange(6) + 1.0


def test_a_group_weight_that_varies_in_a_folder_names_the_file_and_its_row(tmp_path, data):
    cols = {k: v.copy() for k, v in data.items()}
    rows = np.flatnonzero(cols["q"] == cols["q"][1500])  # one query group, all in the second file
    first, bad = rows[np.argsort(cols["id"][rows])][:2]  # the group's first two rows in key order
    cols["w"][rows] = 2.0
    cols["w"][bad] = 5.0  # the only row whose weight is not its group's first row's
    folder = tmp_path / "parts"
    folder.mkdir()
    _write(folder / "part-0.parquet", {k: v[:1200] for k, v in cols.items()})
    _write(folder / "part-1.parquet", {k: v[1200:] for k, v in cols.items()})
    with pytest.raises(ParityInputError) as e:
        _stream(folder, 500)
    text = str(e.value)
    assert (f"at chunk {bad // 500}, row {bad} (id={cols['id'][bad]}) in {folder / 'part-1.parquet'} "
            f"(its row {bad - 1200}) is 5.0 but its group's first row has 2.0 (group {cols['q'][1500]})") in text, text
    assert text.startswith(f"{folder}: column 'w': ranking weights") and e.value.column == "w" and e.value.value == 5.0
    with pytest.raises(ParityInputError, match="pass groups"):
        _stream(_write(tmp_path / "n.parquet", data), 500, group=None)


@pytest.mark.parametrize("metric", ["ndcg@5", "calibration_ratio"])
def test_undefined_replicates_on_all_rows_are_inconclusive_alike_in_memory_and_streamed(tmp_path, metric):
    # Valid rows, too few for the bootstrap: one 7-row query (a tiny --sample of a ranking suite) is drawn
    # with weight 0 by about e^-1 of the Poisson replicates; one positive row among 30 likewise leaves the
    # calibration ratio's denominator 0. That metric is INCONCLUSIVE ("undefined", gated) on all rows, the
    # other metric is still judged, and both engines say the same, bit for bit.
    n = 7 if metric == "ndcg@5" else 30
    y = np.array([3, 0, 1, 2, 0, 1, 0]) if metric == "ndcg@5" else np.array([1] + [0] * (n - 1))
    rng = np.random.default_rng(5)
    a = np.round(rng.uniform(0.05, 0.95, size=n), 3)
    b = np.clip(a + rng.normal(scale=0.02, size=n), 0.01, 0.99)
    cols = {"id": np.arange(n) * 2 + 1, "y": y, "a": a, "b": b, "q": np.full(n, 4)}
    path = _write(tmp_path / "tiny.parquet", cols, row_group_size=3)
    other = "rmse" if metric == "ndcg@5" else "brier"  # graded relevance is not a probability's label
    metrics, margins = (metric, other), {metric: 0.05, other: 0.5}
    streamed = compare_stream(path, label="y", legacy="a", new="b", key="id", metrics=metrics, margins=margins,
                              n_boot=N_BOOT, seed=4, chunk_rows=3, group="q")
    mem = compare_scores(y, a, b, keys=cols["id"], groups=cols["q"], metrics=metrics, margins=margins,
                         n_boot=N_BOOT, seed=4)
    undefined, judged = mem.entry(metric), mem.entry(other)
    assert streamed.entry(metric) == undefined  # the same entry, note and all
    assert_close(streamed, mem, p_tol=1e-12, p_values=P_HOLM)  # the summed metric: exact sums against pairwise
    assert (undefined.verdict, undefined.decided_by, undefined.gated, undefined.diff) == (
        "INCONCLUSIVE", "undefined", True, None)
    assert f"{metric} not computable on all rows: " in undefined.note
    assert f"bootstrap replicates left {metric!r} undefined" in undefined.note
    assert judged.diff is not None and judged.decided_by != "undefined"
    assert mem.verdict == "INCONCLUSIVE"  # an undefined gated metric: the run cannot pass
