"""compare_beam with weights, slices (crossed too) and query groups equals compare_stream and the in-memory
compare_scores on the same rows: the same verdicts, slices in the same order with the same values, numbers
within 1e-12; the same bits whatever the row order; bad rows named by file, column and key.

Skipped when Apache Beam is not installed (an optional extra), except where PARITY_REQUIRE_BEAM=1 (CI's
Beam venv), where a missing Beam fails."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import ParityInputError
from scale_docs import assert_same as _assert_same
from harness.scale import compare_stream
from harness.scale.beam import beam_available
from harness.stats.compare import compare_scores

pytestmark = pytest.mark.skipif(not beam_available() and os.environ.get("PARITY_REQUIRE_BEAM") != "1",
                                reason="apache_beam is not installed (optional extra: pip install -e '.[beam]'); "
                                "the Beam runner is not tested here")

MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
COLS = dict(label="y", legacy="a", new="b", key="id")
SLICES = ["device", ("device", "country")]
SUMMED = ("logloss", "brier", "rmse", "mae", "calibration_ratio")
RANKING = ("ndcg@10", "mrr")


def _table(n=2400, seed=11):
    """Binary labels, tied legacy scores, float32 new scores, query groups of 1 to 11 rows with one weight
    each (gamma), a 3-value slice and a 2-value one, rows shuffled so groups straddle row groups."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    a = np.round(1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), 3)
    b = np.clip(a + rng.normal(scale=0.01, size=n), 0, 1).astype(np.float32)
    q = np.repeat(np.arange(n), rng.integers(1, 12, size=n))[:n]
    w = rng.gamma(2.0, size=n)[q]
    w[q == 3] = 0.0  # a group without weight
    device = rng.choice(["mobile", "desktop", "tablet"], size=n, p=[0.5, 0.3, 0.2])
    country = rng.choice(["US", "DE"], size=n)
    ids = rng.permutation(n) * 7 - n
    order = rng.permutation(n)
    cols = {"id": ids, "y": y, "a": a, "b": b, "w": w, "q": q, "device": device, "country": country}
    return pa.table({k: v[order] for k, v in cols.items()})


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    path = tmp_path_factory.mktemp("beam_slices") / "g.parquet"
    pq.write_table(_table(), path, row_group_size=300)
    return path


def _in_memory(path, *, weight=None, group=None, slices=(), **kw):
    t = pq.read_table(path).to_pydict()
    col = {k: np.asarray(v) for k, v in t.items()}
    sl = {s if isinstance(s, str) else tuple(s): (col[s] if isinstance(s, str) else tuple(col[c] for c in s))
          for s in slices}
    return compare_scores(col["y"], col["a"], col["b"], keys=col["id"], sample_weight=None if weight is None else
                          col[weight], groups=None if group is None else col[group], slices=sl, **kw)


def _three_ways(path, options=None, **kw):
    from harness.scale.beam import compare_beam

    r = compare_beam(path, **COLS, n_ranges=5, n_buckets=3, pipeline_options=options, **kw)
    s = compare_stream(path, **COLS, chunk_rows=500, **kw)
    m = _in_memory(path, **kw)
    assert [e.id for e in r.entries] == [e.id for e in s.entries] == [e.id for e in m.entries]
    assert [e.verdict for e in r.entries] == [e.verdict for e in s.entries] == [e.verdict for e in m.entries]
    _assert_same(r.to_dict(), s.to_dict())
    _assert_same(r.to_dict(), m.to_dict())
    return r, s


@pytest.mark.parametrize("options", [None, MULTI], ids=["in-process", "two-workers"])
def test_weighted_metrics_per_slice_and_crossed_slice(golden, options):
    """The summed metrics' exact sums and weighted auc's Poisson bootstrap (range-partitioned sweeps)."""
    margins = {"logloss": 0.01, "brier": 0.005, "rmse": 0.01, "mae": 0.01, "calibration_ratio": 0.05, "auc": 0.01}
    r, _ = _three_ways(golden, options, metrics=SUMMED + ("auc",), margins=margins, weight="w", slices=SLICES,
                       n_boot=200, min_slice_size=200)
    assert len(r.entries) == (len(SUMMED) + 1) * (1 + 3 + 6)
    assert r.entries[len(SUMMED)].method.startswith("paired Poisson bootstrap")
    crossed = [e for e in r.entries if e.slice and len(e.slice["columns"]) == 2]
    assert {tuple(e.slice["values"]) for e in crossed} == {(d, c) for d in ("desktop", "mobile", "tablet")
                                                           for c in ("DE", "US")}


def test_auc_per_slice_is_delong_on_each_slice_bit_for_bit(golden):
    r, s = _three_ways(golden, metrics=("auc", "logloss"), margins={"auc": 0.01, "logloss": 0.01}, slices=SLICES,
                       min_slice_size=200)
    for e, f in zip(r.entries, s.entries):
        if e.name == "auc":
            assert (e.legacy, e.new, e.diff) == (f.legacy, f.new, f.diff), e.id  # the one sort's bits


@pytest.mark.parametrize("weighted,options", [(False, None), (True, None), (True, MULTI)],
                         ids=["unweighted", "weighted", "weighted-two-workers"])
def test_query_groups_whole_across_batches_with_the_in_memory_bootstrap(golden, weighted, options):
    r, _ = _three_ways(golden, options, metrics=RANKING + ("logloss",),
                       margins={"ndcg@10": 0.02, "mrr": 0.02, "logloss": 0.01}, group="q",
                       weight="w" if weighted else None, slices=["device"], n_boot=200, min_slice_size=200)
    assert r.entries[0].n_groups == len(set(pq.read_table(golden).column("q").to_pylist()))
    assert "resampling query groups" in r.entries[0].method


@pytest.mark.parametrize("metric", ["ndcg@10", "calibration_ratio"])
def test_undefined_replicates_on_all_rows_are_inconclusive_in_all_three_engines(tmp_path, metric):
    # Valid rows, too few for the bootstrap (one query; one positive): the metric is INCONCLUSIVE
    # ("undefined") on all rows in every engine, and the other metric is still judged.
    n = 9 if metric == "ndcg@10" else 30
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, size=n) if metric == "ndcg@10" else np.array([1] + [0] * (n - 1))
    a = np.round(rng.uniform(0.05, 0.95, size=n), 3)
    b = np.clip(a + rng.normal(scale=0.02, size=n), 0.01, 0.99)
    path = tmp_path / "tiny.parquet"
    pq.write_table(pa.table({"id": np.arange(n) * 3, "y": y, "a": a, "b": b, "q": np.full(n, 8)}), path,
                   row_group_size=4)
    other = "rmse" if metric == "ndcg@10" else "brier"
    r, _ = _three_ways(path, metrics=(metric, other), margins={metric: 0.05, other: 0.5}, group="q", n_boot=60)
    undefined = r.entry(metric)
    assert (undefined.verdict, undefined.decided_by, undefined.diff) == ("INCONCLUSIVE", "undefined", None)
    assert f"bootstrap replicates left {metric!r} undefined" in undefined.note
    assert r.entry(other).diff is not None


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_a_ranking_slice_with_no_relevant_row_is_undefined_in_all_three_engines(golden, tmp_path, weighted):
    t = pq.read_table(golden).to_pydict()
    col = {k: np.asarray(v) for k, v in t.items()}
    tablet_q = np.isin(col["q"], col["q"][col["device"] == "tablet"])
    col["device"] = np.where(tablet_q, "tablet", np.where(col["device"] == "tablet", "mobile", col["device"]))
    col["y"] = np.where(tablet_q, 0, col["y"])  # whole queries, none relevant
    path = tmp_path / "no_relevant.parquet"
    pq.write_table(pa.table(col), path, row_group_size=300)
    r, _ = _three_ways(path, metrics=RANKING, margins={"ndcg@10": 0.05, "mrr": 0.05}, group="q",
                       weight="w" if weighted else None, slices=["device"], n_boot=60, min_slice_size=50)
    for metric in RANKING:
        e = r.entry(metric, column="device", value="tablet")
        assert (e.verdict, e.decided_by, e.gated) == ("INCONCLUSIVE", "undefined", True)
        assert "none relevant" in e.note
        assert r.entry(metric, column="device", value="mobile").diff is not None


def test_row_order_and_batching_do_not_change_a_bit(golden, tmp_path):
    from harness.scale.beam import compare_beam

    t = pq.read_table(golden)
    other = tmp_path / "shuffled"
    other.mkdir()
    perm = np.random.default_rng(5).permutation(t.num_rows)
    for i, part in enumerate(np.array_split(perm, 3)):  # a folder of files, other row groups
        pq.write_table(t.take(pa.array(part)), other / f"part-{i}.parquet", row_group_size=170)
    kw = dict(metrics=("auc", "logloss", "ndcg@10", "mrr"), margins={"auc": 0.01, "logloss": 0.01, "ndcg@10": 0.02,
                                                                     "mrr": 0.02},
              group="q", slices=SLICES, n_boot=100, min_slice_size=200)
    first = compare_beam(golden, **COLS, n_ranges=4, n_buckets=2, **kw).to_dict()
    again = compare_beam(other, **COLS, n_ranges=7, n_buckets=5, **kw).to_dict()
    assert first == again
    # weighted auc's sweeps restart their running sums at range borders: the same ranges, the same bits
    kw = dict(metrics=("auc", "brier"), margins={"auc": 0.01}, weight="w", slices=["device"], n_boot=100)
    first = compare_beam(golden, **COLS, n_ranges=4, n_buckets=2, **kw).to_dict()
    assert first == compare_beam(other, **COLS, n_ranges=4, n_buckets=5, **kw).to_dict()


def _broken(tmp_path, column, fn):
    t = _table(600, seed=3)
    ids = t.column("id").to_numpy()
    values = t.column(column).to_pylist()
    rows = [50, 400]
    for i in rows:
        values[i] = fn(values[i])
    path = tmp_path / "bad.parquet"
    typ = pa.float64() if column == "w" else t.schema.field(column).type
    pq.write_table(t.set_column(t.schema.get_field_index(column), column, pa.array(values, type=typ)), path,
                   row_group_size=100)
    return path, [ids[i].item() for i in rows]


@pytest.mark.parametrize("column,fn,words", [
    ("w", lambda v: float("nan"), "finite"),
    ("w", lambda v: -1.0, "non-negative"),
    ("w", lambda v: None, "null"),
    ("q", lambda v: None, "null"),
])
def test_a_bad_weight_or_group_is_named_by_file_column_and_key(tmp_path, column, fn, words):
    from harness.scale.beam import compare_beam

    path, keys = _broken(tmp_path, column, fn)
    with pytest.raises(ParityInputError) as got:
        compare_beam(path, **COLS, metrics=("logloss", "ndcg@10"), weight="w", group="q", n_boot=50)
    text = str(got.value)
    assert str(path) in text and f"{column!r}" in text and words in text, text
    assert any(f"id={k!r}" in text for k in keys), text
    assert got.value.column == column


def test_a_weight_that_varies_within_a_query_group_is_named(tmp_path):
    from harness.scale.beam import compare_beam

    t = _table(600, seed=3)
    q, w, ids = (t.column(c).to_numpy().copy() for c in ("q", "w", "id"))
    big = np.flatnonzero(np.bincount(q) > 2)[0]
    rows = np.flatnonzero(q == big)
    bad = rows[np.argsort(ids[rows])][1]  # not the group's first row in key order: the one row named
    w[bad] += 1.0
    path = tmp_path / "w.parquet"
    pq.write_table(t.set_column(t.schema.get_field_index("w"), "w", pa.array(w)), path, row_group_size=100)
    with pytest.raises(ParityInputError) as got:
        compare_beam(path, **COLS, metrics=("mrr",), weight="w", group="q", n_boot=50)
    text = str(got.value)
    assert str(path) in text and "constant within a group" in text and got.value.column == "w"
    assert f"row {bad} (id={ids[bad].item()!r}) is {w[bad].item()!r}" in text and f"(group {big.item()!r})" in text, text
    with pytest.raises(ParityInputError) as streamed:  # the streamed run refuses it in the same words
        compare_stream(path, **COLS, metrics=("mrr",), weight="w", group="q", n_boot=50)
    assert str(streamed.value) == text
    # The same rows as a folder of two files: the row is named in its own file, in both runs' words
    table = pq.read_table(path)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 300), folder / "part-0.parquet", row_group_size=100)
    pq.write_table(table.slice(300), folder / "part-1.parquet", row_group_size=100)
    with pytest.raises(ParityInputError) as got:
        compare_beam(folder, **COLS, metrics=("mrr",), weight="w", group="q", n_boot=50)
    part, start = ("part-0", 0) if bad < 300 else ("part-1", 300)
    assert f"row {bad} (id={ids[bad].item()!r}) in {folder / (part + '.parquet')} (its row {bad - start})" in str(
        got.value), str(got.value)
    with pytest.raises(ParityInputError) as streamed:
        compare_stream(folder, **COLS, metrics=("mrr",), weight="w", group="q", n_boot=50)
    assert str(streamed.value) == str(got.value)


@pytest.mark.parametrize("metrics,weighted,name", [(("pr_auc",), True, "pr_auc"), (("pr_auc",), False, "pr_auc"),
                                                   (("logloss", "ece"), False, "ece"),
                                                   (("calibration_slope",), True, "calibration_slope")])
def test_metrics_without_a_pipeline_form_are_refused_naming_them(golden, metrics, weighted, name):
    from harness.scale.beam import compare_beam

    with pytest.raises(ParityInputError, match="--stream --runner process") as got:
        compare_beam(golden, **COLS, metrics=metrics, weight="w" if weighted else None)
    assert got.value.value == name and f"{name!r}" in str(got.value)


def test_ranking_metrics_need_a_group_column(golden):
    from harness.scale.beam import compare_beam

    with pytest.raises(ParityInputError, match="per query group"):
        compare_beam(golden, **COLS, metrics=("mrr",))


def test_cli_runner_beam_takes_weight_group_and_slices(golden, tmp_path):
    import argparse
    import json

    from harness.cli.compare import register
    from harness.scale.cli import compare_stream_command

    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="command"))

    def run(out, *extra):
        args = ap.parse_args(["compare", str(golden), "--label", "y", "--legacy", "a", "--new", "b", "--key", "id",
                              "--metrics", "logloss,mrr", "--margin", "logloss=0.01,mrr=0.02", "--weight", "w",
                              "--group", "q", "--slice", "device", "--slice", "device+country",
                              "--min-slice-size", "200", "--bootstrap", "100", "--stream", "--json", str(out), *extra])
        return compare_stream_command(args)

    out_b, out_s = tmp_path / "b.json", tmp_path / "s.json"
    assert run(out_b, "--runner", "beam") == run(out_s)
    b, s = json.loads(out_b.read_text()), json.loads(out_s.read_text())
    assert b.pop("stream")["runner"] == "beam" and s.pop("stream")["runner"] == "process"
    _assert_same(b, s)


def test_a_slice_whose_groups_carry_no_weight_is_undefined_in_the_in_memory_words(tmp_path):
    from harness.scale.beam import compare_beam

    t = _table(600, seed=3)
    q = t.column("q").to_numpy()
    device = np.array(t.column("device").to_pylist(), dtype=object)
    device[q == 3] = "zero"  # group 3's rows, all of weight 0, are a slice of their own
    path = tmp_path / "z.parquet"
    pq.write_table(t.set_column(t.schema.get_field_index("device"), "device", pa.array(device.tolist())), path,
                   row_group_size=100)
    kw = dict(metrics=("mrr", "ndcg@10"), margins={"mrr": 0.05}, group="q", weight="w", slices=["device"], n_boot=50,
              min_slice_size=10)
    r = compare_beam(path, **COLS, **kw)
    _assert_same(r.to_dict(), compare_stream(path, **COLS, **kw).to_dict())
    _assert_same(r.to_dict(), _in_memory(path, **kw).to_dict())
    zero = [e for e in r.entries if e.slice and e.slice["values"] == ["zero"]]
    assert [e.verdict.value for e in zero] == ["INCONCLUSIVE"] * 2
    assert all("all weights are zero" in e.note for e in zero)


@pytest.mark.parametrize("kw", [dict(metrics=("auc",), weight="w"), dict(metrics=("calibration_ratio",)),
                                dict(metrics=("mrr",), group="q")], ids=["weighted-auc", "calibration", "mrr"])
def test_a_repeated_key_is_named_not_a_pipeline_crash(tmp_path, kw):
    from harness.scale.beam import compare_beam

    t = _table(600, seed=3)
    ids = t.column("id").to_numpy().copy()
    ids[[10, 20, 300]] = ids[5]  # within one row group, and in another
    path = tmp_path / "dup.parquet"
    pq.write_table(t.set_column(0, "id", pa.array(ids)), path, row_group_size=100)
    with pytest.raises(ParityInputError, match=f"repeats id={ids[5].item()!r}") as got:
        compare_beam(path, **COLS, n_boot=20, **kw)
    assert got.value.column == "id"


def test_a_slice_value_a_cell_cannot_carry_is_refused_naming_the_column(tmp_path):
    import datetime

    from harness.scale.beam import compare_beam

    t = _table(300, seed=3)
    day = pa.array([datetime.date(2024, 1, 1 + i % 3) for i in range(t.num_rows)])
    path = tmp_path / "d.parquet"
    pq.write_table(t.append_column("day", day), path)
    with pytest.raises(ParityInputError, match="slice column 'day' holds date values") as got:
        compare_beam(path, **COLS, metrics=("logloss",), slices=["day"])
    assert got.value.column == "day"


@pytest.mark.parametrize("weighted", [False, True])
def test_slices_where_a_metric_is_undefined_say_so_in_the_in_memory_words(tmp_path, weighted):
    """A slice with one class (auc undefined) and one whose two score columns are constant (rank metrics
    undefined): INCONCLUSIVE with compare_scores' note, weighted auc's bootstrap and DeLong alike."""
    from harness.scale.beam import compare_beam

    t = _table(600, seed=3)
    y, a, b = t.column("y").to_numpy().copy(), t.column("a").to_numpy().copy(), t.column("b").to_numpy()
    b = b.astype(np.float64)
    device = np.array(t.column("device").to_pylist(), dtype=object)
    device[np.flatnonzero(y == 1)[:3]] = "one_class"
    const = np.flatnonzero(y == 0)[:4]
    device[const], a[const], b[const], y[const[:2]] = "constant", 0.5, 0.25, 1
    for name, v in (("device", pa.array(device.tolist())), ("a", pa.array(a)), ("b", pa.array(b)), ("y", pa.array(y))):
        t = t.set_column(t.schema.get_field_index(name), name, v)
    path = tmp_path / "u.parquet"
    pq.write_table(t, path, row_group_size=100)
    kw = dict(metrics=("auc", "logloss", "mrr"), margins={"auc": 0.05}, weight="w" if weighted else None, group="q",
              slices=["device"], n_boot=50, min_slice_size=2)
    r = compare_beam(path, **COLS, **kw)
    _assert_same(r.to_dict(), compare_stream(path, **COLS, **kw).to_dict())
    _assert_same(r.to_dict(), _in_memory(path, **kw).to_dict())
    notes = {e.id: e.note for e in r.entries if e.decided_by == "undefined"}
    assert "constant on these rows" in notes["metrics/auc[device=constant]"]
    assert "constant on these rows" in notes["metrics/mrr[device=constant]"]
    assert "positive" in notes["metrics/auc[device=one_class]"]
