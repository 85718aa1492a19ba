"""compare_scores: methods, intervals, margins, slices, Holm and the result document.

References are independent: scikit-learn's metrics, scipy's paired t-test interval, a leave-one-out
jackknife for the RMSE delta method, and hand-set margins around known p-values.
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import average_precision_score, roc_auc_score

from harness.checks.metrics import check_metrics, comparison_checks, plan_metric_ids, validate_metric_names
from harness.errors import ParityInputError
from harness.stats.compare import compare_scores
from harness.stats.delong import delong_paired
from harness.stats.equivalence import Margin
from harness.suite import MetricGate
from harness.verdicts import Verdict

E, N, I = Verdict.EQUIVALENT, Verdict.NOT_EQUIVALENT, Verdict.INCONCLUSIVE


def _data(n=3000, seed=0, noise=0.05, prevalence=0.2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(float)
    s = rng.normal(size=n) + 1.2 * y
    a = 1 / (1 + np.exp(-(s - 1.5)))
    b = 1 / (1 + np.exp(-(s - 1.5 + rng.normal(0, noise, n))))
    return y, a, b, rng


def test_auc_delong_intervals_and_sklearn_points():
    y, a, b, _ = _data()
    e = compare_scores(y, a, b, metrics=["auc"], margins={"auc": 0.01}).entry("auc")
    assert e.legacy == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert e.new == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert e.method.startswith("DeLong") and e.ci_level == pytest.approx(0.90)
    # the intervals are DeLong's own (its tests check them against references), at 1 - 2a and 1 - a
    r = delong_paired(y, a, b)
    assert (e.diff, e.se) == pytest.approx((r.diff, r.se), abs=1e-15)
    assert e.ci == pytest.approx(r.ci_at(0.10), abs=1e-15)
    assert e.ci_two_sided == pytest.approx(r.ci_at(0.05), abs=1e-15)
    assert e.ci_two_sided[0] < e.ci[0] < e.diff < e.ci[1] < e.ci_two_sided[1]
    # the TOST p-value is the one DeLong's interval implies (its one-sided p-values at -m and +m)
    p = max(r.p_value_beyond(-0.01, "greater"), r.p_value_beyond(0.01, "less"))
    assert e.p_value == pytest.approx(p, rel=1e-12, abs=1e-300)
    assert e.p_adjusted == pytest.approx(p, rel=1e-9) and e.adjustment == "Holm"  # family of one


def test_logloss_paired_interval_is_scipy_ttest_rel():
    y, a, b, _ = _data()
    r = compare_scores(y, a, b, metrics=["logloss"], margins={"logloss": (0.01, "relative")})
    e = r.entry("logloss")
    assert e.legacy == pytest.approx(sk_log_loss(y, a), rel=1e-12)
    la = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    lb = -(y * np.log(b) + (1 - y) * np.log(1 - b))
    t = stats.ttest_rel(lb, la)
    assert e.ci == pytest.approx(tuple(t.confidence_interval(0.90)), rel=1e-9)
    assert e.ci_two_sided == pytest.approx(tuple(t.confidence_interval(0.95)), rel=1e-9)
    assert e.margin["kind"] == "relative" and e.margin["higher_is_better"] is False
    assert e.margin["absolute_value"] == pytest.approx(0.01 * sk_log_loss(y, a), rel=1e-12)


def test_rmse_delta_method_matches_jackknife():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.normal(size=n)
    a, b = y + rng.normal(0, 1.0, n), y + rng.normal(0, 0.9, n) + 0.2 * rng.normal(size=n)
    e = compare_scores(y, a, b, metrics=["rmse"]).entry("rmse")
    assert e.method.startswith("delta method")

    def rmse_diff(idx):
        return math.sqrt(np.mean((b[idx] - y[idx]) ** 2)) - math.sqrt(np.mean((a[idx] - y[idx]) ** 2))

    full = np.arange(n)
    loo = np.array([rmse_diff(np.delete(full, i)) for i in range(n)])
    se_jack = math.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2))
    assert e.diff == pytest.approx(rmse_diff(full), rel=1e-12)
    assert e.se == pytest.approx(se_jack, rel=0.02)


def test_rmse_interval_is_student_t_with_n_minus_one_df_and_a_tiny_sample_decides_nothing():
    """RMSE's delta-method interval uses t(n - 1) as the paired per-row differences do: with 3 rows a
    normal quantile made RMSE EQUIVALENT where Brier (RMSE squared for 0/1 labels) was INCONCLUSIVE."""
    y = np.array([1.0, 0.0, 1.0])
    a, b = np.array([0.8, 0.3, 0.6]), np.array([0.81, 0.29, 0.62])
    r = compare_scores(y, a, b, metrics=["rmse", "brier"], margins={"rmse": 0.01, "brier": 0.01})
    e = r.entry("rmse")
    assert e.df == 2 and e.method == "delta method (t interval, 2 df)"
    h = stats.t.ppf(0.95, 2) * e.se
    assert e.ci == pytest.approx((e.diff - h, e.diff + h), rel=1e-12)
    assert e.verdict is I and r.entry("brier").verdict is I
    one = compare_scores(np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.8, 0.3, 0.6, 0.2]),
                         np.array([0.81, 0.29, 0.62, 0.2]), metrics=["rmse"], margins={"rmse": 0.5},
                         slices={"s": np.array(["x", "y", "y", "y"])}, min_slice_size=0)
    cell = next(x for x in one.entries if x.slice and x.slice["values"] == ["x"])
    assert cell.verdict is I and cell.decided_by == "undefined" and "at least 2 rows" in cell.note


def test_weights_send_auc_to_the_bootstrap_keyed_by_row():
    y, a, b, rng = _data(n=1500)
    w = rng.uniform(0.5, 2.0, y.size)
    e = compare_scores(y, a, b, metrics=["auc"], sample_weight=w, n_boot=50, seed=3).entry("auc")
    assert "Poisson bootstrap" in e.method and e.legacy == pytest.approx(roc_auc_score(y, a, sample_weight=w), abs=1e-12)
    # without keys rows are keyed by their position
    e0 = compare_scores(y, a, b, metrics=["auc"], sample_weight=w, keys=np.arange(y.size), n_boot=50, seed=3).entry("auc")
    assert e0.ci == e.ci
    ek = compare_scores(y, a, b, metrics=["auc"], sample_weight=w, keys=np.arange(y.size), n_boot=50).entry("auc")
    # with keys the replicates do not depend on row order
    perm = rng.permutation(y.size)
    ep = compare_scores(y[perm], a[perm], b[perm], metrics=["auc"], sample_weight=w[perm], keys=perm,
                        n_boot=50).entry("auc")
    assert ep.ci == pytest.approx(ek.ci, abs=1e-12)


def test_bootstrap_for_other_metrics_and_groups_for_ranking():
    y, a, b, rng = _data(n=1200)
    groups = np.repeat(np.arange(120), 10)
    r = compare_scores(y, a, b, metrics=["pr_auc", "ece", "ndcg@5"], groups=groups, n_boot=40, seed=1,
                       margins={"pr_auc": 0.05, "ece": 0.05, "ndcg@5": 0.05})
    # PR AUC unweighted: DeLong's construction with AP's leave-one-out components (no resampling)
    assert r.entry("pr_auc").method.startswith("DeLong-type")
    assert r.entry("pr_auc").legacy == pytest.approx(average_precision_score(y, a), abs=1e-12)
    assert "bootstrap" in r.entry("ece").method
    assert "query groups" in r.entry("ndcg@5").method
    w = rng.uniform(0.5, 2.0, y.size)
    weighted = compare_scores(y, a, b, metrics=["pr_auc"], sample_weight=w, n_boot=40)
    assert weighted.entry("pr_auc").method.startswith("DeLong-type (weighted jackknife components)")
    with pytest.raises(ParityInputError, match="pass groups"):
        compare_scores(y, a, b, metrics=["mrr"])


def test_three_outcomes_end_to_end():
    y, a, b, rng = _data(n=20000, noise=0.02)
    assert compare_scores(y, a, b, metrics=["auc"], margins={"auc": 0.01}).verdict is E
    worse = a + rng.normal(0, 0.6, y.size)  # much noisier new scores: AUC drops by several points
    r = compare_scores(y, a, worse, metrics=["auc"], margins={"auc": 0.01})
    assert r.verdict is N and r.entry("auc").n_required is None
    small = compare_scores(y[:300], a[:300], b[:300], metrics=["auc"], margins={"auc": 0.001})
    e = small.entry("auc")
    assert small.verdict is I and e.n_required is not None and e.n_required > 300
    assert e.mdd == pytest.approx((stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) * e.se, rel=1e-9)


def test_holm_downgrades_equivalence_claims_that_do_not_survive():
    y, a, b, _ = _data(n=5000, noise=0.2)
    r0 = compare_scores(y, a, b, metrics=["auc", "brier"])
    margins = {}
    for name in ("auc", "brier"):
        e = r0.entry(name)
        # margin such that the TOST p-value is 0.035: inside the 90 % interval, but 2 x 0.035 > 0.05. For
        # AUC the p-value is the one DeLong's (logit-scale) interval implies: the margin is the farther
        # limit of its 93 % interval; for brier the paired t test's
        lo, hi = delong_paired(y, a, b).ci_at(0.07)
        margins[name] = max(-lo, hi) if name == "auc" else abs(e.diff) + stats.t.ppf(1 - 0.035, 4999) * e.se
    r = compare_scores(y, a, b, metrics=["auc", "brier"], margins=margins)
    for name in ("auc", "brier"):
        e = r.entry(name)
        assert e.p_value == pytest.approx(0.035, rel=1e-6)
        assert e.p_adjusted == pytest.approx(0.07, rel=1e-6)
        assert e.verdict is I and "Holm" in e.note
        assert e.n_required > e.n  # sized for the Holm-adjusted level, so more rows than now
    alone = compare_scores(y, a, b, metrics=["auc"], margins={"auc": margins["auc"]})
    assert alone.verdict is E  # the same interval passes when it is the only claim


def test_slices_gating_and_undefined_slices():
    y, a, b, rng = _data(n=6000)
    device = rng.choice(np.array(["mobile", "desktop", "tablet"], dtype=object), size=y.size, p=[0.6, 0.35, 0.05])
    device[:5] = None  # a missing value is its own slice
    country = np.where(np.arange(y.size) < 50, "xx", "us")
    y[:50] = 0.0  # country=xx has no positives: AUC undefined there
    r = compare_scores(y, a, b, metrics=["auc", "logloss"], margins={"auc": 0.02, "logloss": 0.01},
                       slices={"device": device, "country": country}, min_slice_size=1000)
    e = r.entry("auc", column="device", value="tablet")
    assert e.n == int(np.sum(device == "tablet")) and not e.gated and "min_slice_size" in e.note
    assert e.p_adjusted is None
    m = r.entry("auc", column="device", value="mobile")
    assert m.gated and m.legacy == pytest.approx(roc_auc_score(y[device == "mobile"], a[device == "mobile"]))
    assert r.entry("auc", column="device", value=None).n == 5
    xx = r.entry("auc", column="country", value="xx")
    assert xx.legacy is None and xx.verdict is I and not xx.gated and "not computable" in xx.note
    assert r.entry("logloss", column="country", value="xx").legacy is not None
    gated = [e for e in r.entries if e.gated]
    assert all(e.adjustment == "Holm" for e in gated)
    # Holm family = gated entries: smallest adjusted p is the smallest raw p times the family size
    ps = sorted(e.p_value for e in gated)
    assert min(e.p_adjusted for e in gated) == pytest.approx(min(1.0, ps[0] * len(gated)))
    assert r.entry("logloss", column="device", value="mobile").id == "metrics/logloss[device=mobile]"


def test_margin_forms_and_non_inferiority():
    y, a, b, _ = _data()
    r = compare_scores(y, a, b, metrics=["auc", "logloss"],
                       margins={"auc": Margin("auc", 0.005, test="non_inferiority"), "logloss": 0.01})
    assert r.entry("auc").margin["test"] == "non_inferiority"
    assert r.entry("logloss").margin == {"value": 0.01, "kind": "absolute", "higher_is_better": False,
                                         "test": "equivalence", "absolute_value": 0.01}


def test_no_margin_is_reported_not_gated():
    y, a, b, _ = _data()
    r = compare_scores(y, a, b, metrics=["auc", "brier"], margins={"auc": 0.02})
    e = r.entry("brier")
    assert not e.gated and e.p_value is None and e.verdict is I and e.ci is not None
    assert r.verdict is E
    r2 = compare_scores(y, a, b, metrics=["auc"])
    assert r2.verdict is I and "no margins" in r2.notes[0]


def test_to_dict_fields_and_checks():
    y, a, b, _ = _data()
    r = compare_scores(y, a, b, metrics=["auc", "logloss"], margins={"auc": 0.01}, seed=9)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert list(d)[:4] == ["verdict", "n_rows", "seed", "alpha"] and d["n_rows"] == y.size and d["seed"] == 9
    m = d["metrics"][0]
    for k in ("name", "legacy", "new", "diff", "ci", "ci_level", "method", "p_value", "p_adjusted", "adjustment",
              "margin", "verdict", "n", "slice", "gated", "mdd", "n_required"):
        assert k in m
    assert m["verdict"] == "EQUIVALENT" and isinstance(m["ci"], list)
    checks = comparison_checks(r)  # the check layer converts; the stats core knows no CheckResult
    assert [c.id for c in checks] == ["metrics/auc", "metrics/logloss"]
    assert checks[0].kind == "metric" and checks[0].details["metric"] == "auc" and not checks[1].gated


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(margins={"pr_auc": 0.01}), "not being compared"),
        (dict(method="delong", metrics=["logloss"]), "method must be"),
        (dict(method={"logloss": "delong"}, metrics=["logloss"]), "unweighted auc and pr_auc only"),
        (dict(method={"auc": "paired"}), "mean of per-row losses"),
        (dict(method={"auc": "delta"}), "rmse only"),
        (dict(method={"auc": "magic"}), "methods"),
        (dict(alpha=0.6), "alpha must be in (0, 0.5)"),
        (dict(n_boot=1), "n_boot must be an integer >= 2"),
        (dict(metrics=["auc", "auc"]), "more than once"),
        (dict(metrics=["f1"]), "unknown metric"),
        (dict(slices={"device": ["a"]}), "slice column 'device'"),
    ],
    ids=["margin-unknown", "method-str", "delong-logloss", "paired-auc", "delta-auc", "method-unknown", "alpha",
         "n_boot", "duplicate", "unknown-metric", "slice-length"],
)
def test_bad_arguments_are_named(kwargs, fragment):
    y, a, b, _ = _data(n=200)
    with pytest.raises(ParityInputError) as info:
        compare_scores(y, a, b, **kwargs)
    assert fragment in str(info.value)


def test_nan_score_names_the_row():
    y, a, b, _ = _data(n=200)
    b[17] = np.nan
    with pytest.raises(ParityInputError, match=r"score_new: expected finite numbers .*; row 17 is nan") as info:
        compare_scores(y, a, b)
    assert (info.value.argument, info.value.row) == ("score_new", 17)


def test_ungated_metrics_keep_their_verdict_but_leave_the_holm_family():
    y, a, b, _ = _data()
    both = compare_scores(y, a, b, metrics=["auc", "brier"], margins={"auc": 0.02, "brier": 0.01})
    one = compare_scores(y, a, b, metrics=["auc", "brier"], margins={"auc": 0.02, "brier": 0.01}, ungated=["brier"])
    e = one.entry("brier")
    assert not e.gated and e.margin is not None and e.p_value is not None and e.p_adjusted is None
    assert e.verdict is both.entry("brier").verdict
    assert one.entry("auc").p_adjusted == pytest.approx(one.entry("auc").p_value)  # family of one
    with pytest.raises(ParityInputError, match="ungated names"):
        compare_scores(y, a, b, metrics=["auc"], ungated=["brier"])


# ---------------------------------------------------------------------------------------------------
# crossed slices, canonical ids, the plan of ids, metric names
# ---------------------------------------------------------------------------------------------------

def _crossed_data():
    y, a, b, rng = _data(n=6000)
    device = rng.choice(np.array(["mobile", "desktop"], dtype=object), size=y.size)
    country = rng.choice(np.array(["US", "DE", "NA"], dtype=object), size=y.size, p=[0.5, 0.4, 0.1])
    country[:7] = None  # missing: a value of its own, ordered last
    return y, a, b, device, country


def test_crossed_slices_match_sklearn_on_each_combination():
    y, a, b, device, country = _crossed_data()
    r = compare_scores(y, a, b, metrics=["AUC"], margins={"auc": 0.05}, min_slice_size=500,
                       slices={("device", "country"): (device, country)})
    crossed = [e for e in r.entries if e.slice is not None]
    expected = sorted({(d, c) for d, c in zip(device, country)}, key=lambda t: (t[0], t[1] is None, t[1] or ""))
    assert [tuple(e.slice["values"]) for e in crossed] == expected
    for e in crossed:
        d, c = e.slice["values"]
        rows = (device == d) & np.array([x == c for x in country])
        assert e.slice["columns"] == ["device", "country"] and "column" not in e.slice
        assert e.n == rows.sum() and e.gated == (rows.sum() >= 500)
        assert e.id == f"metrics/auc[device={d},country={c}]"
        n_pos = int(y[rows].sum())
        if min(n_pos, rows.sum() - n_pos) < 2:  # the few rows with a missing country: DeLong cannot run
            assert c is None and e.legacy is None and "DeLong needs at least 2 positives" in e.note
            continue
        assert e.legacy == pytest.approx(roc_auc_score(y[rows], a[rows]), abs=1e-12)
    # Holm's family is every gated entry: all rows plus the gated combinations
    gated = [e for e in r.entries if e.gated]
    assert min(e.p_adjusted for e in gated) == pytest.approx(min(1.0, min(e.p_value for e in gated) * len(gated)))


def test_single_column_slices_keep_column_and_value():
    y, a, b, device, _ = _crossed_data()
    e = compare_scores(y, a, b, metrics=["auc"], slices={"device": device}).entry("auc", column="device",
                                                                               value="mobile")
    assert e.slice == {"column": "device", "value": "mobile", "columns": ["device"], "values": ["mobile"]}


def _slow_slices(values):
    """slice_rows' documented order, row by row in Python: distinct values sorted, missing (None, NaN,
    pandas' NA and NaT) last as one slice; each slice's rows in row order."""
    import pandas as pd

    def missing(v):
        return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))

    present = sorted({v for v in values if not missing(v)})
    out = [(v, [i for i, x in enumerate(values) if not missing(x) and x == v]) for v in present]
    rows = [i for i, x in enumerate(values) if missing(x)]
    return out + ([(None, rows)] if rows else [])


@pytest.mark.parametrize("kind", ["strings", "with-missing", "equal-numbers", "tuples"])
def test_object_slice_columns_match_a_slow_reference(kind):
    import pandas as pd

    from harness.stats.compare import slice_rows

    rng = np.random.default_rng(7)
    pool = {"strings": ["mobile", "desktop", "tablet"], "with-missing": ["b", None, float("nan"), "a", pd.NA, pd.NaT],
            "equal-numbers": [3, 1.0, 1, 2, 2.5], "tuples": [(1, 2), (0, 5), (1, 0)]}[kind]
    values = [pool[i] for i in rng.integers(0, len(pool), 500)]
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        arr[i] = v
    got = [(sl.values[0], sl.rows.tolist()) for sl in slice_rows({"c": arr}, len(values))]
    assert got == _slow_slices(values)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.float64, np.float32, "U3"])
def test_numeric_and_string_slice_columns_match_a_slow_reference(dtype):
    from harness.stats.compare import slice_rows

    rng = np.random.default_rng(8)
    pool = {"U3": ["b", "a", "ccc"]}.get(dtype, [4, -1, 7, np.nan] if dtype in (np.float64, np.float32) else [4, -1, 7])
    arr = np.array([pool[i] for i in rng.integers(0, len(pool), 700)], dtype=dtype)
    got = [(sl.values[0], sl.rows.tolist()) for sl in slice_rows({"c": arr}, len(arr))]
    assert got == _slow_slices(arr.tolist())


@pytest.mark.parametrize("kind", ["strings", "with-missing", "unused-values", "crossed"])
def test_slice_codes_give_the_slices_of_their_values(kind):
    # a column given as its distinct values and a code per row (pandas' factorize, as suite runs pass a
    # string column) gives the slices, in order and row for row, of the values themselves
    import pandas as pd

    from harness.stats.compare import SliceCodes, slice_rows

    rng = np.random.default_rng(9)
    pool = ["mobile", None, "desktop", "tablet"] if kind == "with-missing" else ["mobile", "desktop", "tablet"]
    values = pd.array([pool[i] for i in rng.integers(0, len(pool), 600)], dtype="string")
    codes, distinct = pd.factorize(values)
    given = SliceCodes(list(distinct), codes)
    if kind == "unused-values":  # a value no row has gives no slice
        given = SliceCodes(list(distinct) + ["watch"], codes)
    plain = np.array([None if v is pd.NA else v for v in values], dtype=object)
    if kind == "crossed":
        other = rng.integers(0, 3, 600)
        got = slice_rows({("d", "o"): (given, other)}, 600)
        want = slice_rows({("d", "o"): (plain, other)}, 600)
    else:
        got, want = slice_rows({"d": given}, 600), slice_rows({"d": plain}, 600)
        assert [(sl.values[0], sl.rows.tolist()) for sl in got] == _slow_slices(plain.tolist())
    assert [(sl.values, sl.rows.tolist()) for sl in got] == [(sl.values, sl.rows.tolist()) for sl in want]


def test_slice_codes_out_of_range_are_refused_naming_the_row():
    from harness.stats.compare import SliceCodes, slice_rows

    with pytest.raises(ParityInputError, match=r"slice column 'd': row 2 has code 3; expected -1 \(missing\) to 1"):
        slice_rows({"d": SliceCodes(["a", "b"], np.array([0, 1, 3, -1]))}, 4)
    with pytest.raises(ParityInputError, match=r"slice column 'd': codes must be one integer per row \(4\)"):
        slice_rows({"d": SliceCodes(["a", "b"], np.array([0.0, 1.0, 1.0, 0.0]))}, 4)


def test_object_slice_column_of_unorderable_types_is_refused():
    from harness.stats.compare import slice_rows

    with pytest.raises(ParityInputError, match="slice column 'c' mixes value types"):
        slice_rows({"c": np.array(["a", 1, "b"], dtype=object)}, 3)


def test_metric_details_with_crossed_slices_fit_the_report_schema():
    import jsonschema

    from harness.report.build import schema

    y, a, b, device, country = _crossed_data()
    checks = check_metrics(y, a, b, gates=[MetricGate("auc", 0.05)], slices={"device": device,
                                                                              ("device", "country"): (device, country)})
    defs = schema()["$defs"]
    validator = jsonschema.Draft202012Validator({"$defs": defs, "$ref": "#/$defs/metric_details"})
    for c in checks:
        validator.validate(c.to_dict()["details"])


@pytest.mark.parametrize("shuffle", [False, True], ids=["given-sorted", "given-shuffled"])
def test_plan_metric_ids_are_exactly_the_ids_check_metrics_produces(shuffle):
    y, a, b, device, country = _crossed_data()
    gates = [MetricGate("AUC", 0.05), MetricGate("LogLoss", 0.01)]
    slices = {"device": device, "country": country, ("device", "country"): (device, country)}
    produced = [c.id for c in check_metrics(y, a, b, gates=gates, slices=slices, n_boot=20)]
    values = {"device": list(set(device)), "country": list(set(country.tolist())),
              ("device", "country"): list({(d, c) for d, c in zip(device, country)})}
    if shuffle:
        rng = np.random.default_rng(1)
        values = {k: [v[i] for i in rng.permutation(len(v))] for k, v in values.items()}
    assert plan_metric_ids(gates, values) == produced
    assert produced[:2] == ["metrics/auc", "metrics/logloss"]  # canonical names, not the gate's spelling
    assert "metrics/auc[country=None]" in produced and "metrics/logloss[device=mobile,country=NA]" in produced


@pytest.mark.parametrize(
    "names, kwargs, fragment",
    [
        (["auc", "f1"], {}, "unknown metric 'f1'; choices: auc, brier"),
        (["auc", "AUC"], {}, "named twice"),
        (["ndcg@5"], {"has_groups": False}, "needs a group column"),
        (["mrr"], {"has_groups": False}, "needs a group column"),
    ],
    ids=["unknown", "twice", "ndcg-without-groups", "mrr-without-groups"],
)
def test_validate_metric_names_names_the_problem(names, kwargs, fragment):
    with pytest.raises(ParityInputError, match=re.escape(fragment)) as info:
        validate_metric_names(names, **kwargs)
    assert info.value.argument == "metrics"


def test_validate_metric_names_canonical():
    assert validate_metric_names(["AUC", " LogLoss", "NDCG@5", "mrr"], has_groups=True) == \
        ["auc", "logloss", "ndcg@5", "mrr"]


def test_entries_are_frozen():
    import dataclasses

    y, a, b, _ = _data(n=500)
    e = compare_scores(y, a, b, metrics=["auc"]).entry("auc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.verdict = E


@pytest.mark.parametrize("metric, n_boot", [("auc", 0), ("pr_auc", 0), ("ece", 400), ("logloss", 0), ("rmse", 0)],
                         ids=["delong", "ap-delong", "bootstrap", "paired-t", "delta"])
def test_p_value_and_interval_decide_alike_for_every_method(metric, n_boot):
    """p < alpha exactly when the decision interval lies inside the margin, whatever the method (a p-value
    from another approximation than the interval's would let Holm contradict the interval)."""
    y, a, b, _ = _data(n=2000, noise=0.3)
    if metric == "rmse":
        a, b = a + 0.1 * y, b + 0.1 * y
    base = compare_scores(y, a, b, metrics=[metric], n_boot=max(n_boot, 2), seed=4).entry(metric)
    width = max(abs(base.ci[0]), abs(base.ci[1]))
    for k in np.linspace(0.605, 1.605, 21):  # never exactly 1: a margin on the limit itself is a tie
        e = compare_scores(y, a, b, metrics=[metric], margins={metric: float(k * width)}, n_boot=max(n_boot, 2),
                           seed=4).entry(metric)
        inside = -k * width < e.ci[0] and e.ci[1] < k * width
        assert (e.verdict is E) == inside == (e.p_value < 0.05), (k, e.ci, e.p_value)
    # the percentile bootstrap's p-value is its replicates' tail share (up to interpolation between them)
    if n_boot:
        from harness.stats.bootstrap import paired_bootstrap

        reps = paired_bootstrap(metric, y, a, b, n_boot=n_boot, alpha=0.1, seed=4).replicates
        m = 1.1 * width
        e = compare_scores(y, a, b, metrics=[metric], margins={metric: m}, n_boot=n_boot, seed=4).entry(metric)
        tail = max(np.mean(reps <= -m), np.mean(reps >= m))
        assert abs(e.p_value - tail) <= 1.0 / n_boot


def test_every_gated_entry_carries_the_planning_number_from_equivalence():
    # Planning rows (true difference 0) come from equivalence.n_required_planning on the entry's own se,
    # n and absolute margin; rows "at the observed difference" only for INCONCLUSIVE entries.
    from harness.stats import equivalence as eq
    from harness.stats.compare import compare_scores

    rng = np.random.default_rng(3)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    a = 1 / (1 + np.exp(-(rng.normal(size=n) + y)))
    b = np.clip(a + rng.normal(scale=0.02, size=n), 1e-6, 1 - 1e-6)
    res = compare_scores(y, a, b, metrics=["auc", "logloss"], margins={"auc": 0.01, "logloss": 0.01})
    for e in res.entries:
        expected = eq.n_required_planning(e.se, e.n, e.margin["absolute_value"], alpha=0.05, power=0.8)
        if e.p_adjusted is not None and e.p_adjusted != e.p_value:
            continue  # Holm sizes it at the adjusted level
        assert e.n_required_planning == expected and expected is not None
        assert e.to_dict()["n_required_planning"] == expected


@pytest.mark.parametrize("n_boot", [2, 3, 18])
def test_too_few_replicates_cannot_decide_a_bootstrap_margin(n_boot):
    """A percentile limit with tail alpha needs (B + 1) * alpha >= 1: with 2 replicates np.percentile
    clipped the 5 % limits to the two replicates, and a generous margin came out EQUIVALENT at p < 1e-300.
    Now the decision interval is unbounded, the cell INCONCLUSIVE, and the note says how many to use."""
    y, a, b, _ = _data(n=4000, seed=3, noise=0.02)
    r = compare_scores(y, a, b, metrics=["calibration_ratio", "ece"], n_boot=n_boot, seed=1,
                       margins={"calibration_ratio": 0.5, "ece": 0.5})
    for name in ("calibration_ratio", "ece"):
        e = r.entry(name)
        assert e.verdict is I and e.ci == (-math.inf, math.inf), (name, e.ci)
        assert f"{n_boot} bootstrap replicates cannot resolve the 90% interval's 0.05 tails" in e.note
        assert "use at least 19" in e.note
        assert e.p_difference >= 2.0 / (n_boot + 1)  # two-sided, from the replicates: not 0 from their spread
    assert compare_scores(y, a, b, metrics=["calibration_ratio"], n_boot=19, seed=1,
                          margins={"calibration_ratio": 0.5}).entry("calibration_ratio").verdict is E


@pytest.mark.parametrize("seed", range(4))
def test_bootstrap_p_values_are_never_below_one_over_b_plus_one_and_agree_with_the_interval(seed):
    """Phipson & Smyth (2010): a resampling p-value estimate is at least 1/(B + 1). And p < alpha exactly
    when the percentile interval clears the margin, at every margin, checked with numpy's percentiles."""
    from harness.stats.bootstrap import paired_bootstrap
    from harness.stats.compare import _p_by_inversion

    y, a, b, rng = _data(n=3000, seed=seed, noise=0.03)
    n_boot = int(rng.choice([20, 39, 100, 250]))
    r = paired_bootstrap("calibration_ratio", y, a, b, n_boot=n_boot, seed=seed, alpha=0.1)
    reps = np.asarray(r.replicates)

    def interval_at(level):
        return r.ci_at(level)

    for delta in np.concatenate([np.quantile(reps, [0.0, 0.01, 0.2, 0.5, 0.9, 1.0]) - 1e-9, [reps.min() - 1.0]]):
        p = _p_by_inversion(interval_at, float(delta), "greater", n_replicates=n_boot)
        assert p >= 1.0 / (n_boot + 1) - 1e-15
        for alpha in (0.01, 0.05, 0.1):
            if (n_boot + 1) * alpha < 1:
                continue  # the alpha-tail limit is unbounded: it cannot clear, and p >= 1/(B+1) > alpha
            lower = float(np.percentile(reps, 100 * alpha))  # the lower limit of the 1 - 2 alpha interval
            assert (p < alpha) == (lower > delta) or abs(lower - delta) < 1e-9, (delta, alpha, p, lower)


def test_a_zero_score_for_a_positive_is_capped_as_sklearn_does_and_said():
    y, a, b, _ = _data(n=2000, seed=5)
    i = int(np.flatnonzero(y == 1)[3])
    b = b.copy()
    b[i] = 0.0  # infinitely wrong: log loss capped at -log(eps)
    r = compare_scores(y, a, b, metrics=["logloss"], margins={"logloss": 0.05})
    assert r.entry("logloss").new == pytest.approx(sk_log_loss(y, b), rel=1e-12)
    (note,) = [n for n in r.notes if n.startswith("logloss:")]
    assert f"1 new score(s) are exactly 0 for a positive or 1 for a negative (first at row {i})" in note
    assert not any(n.startswith("logloss:") for n in compare_scores(y, a, np.clip(b, 1e-6, 1), metrics=["logloss"],
                                                                     margins={"logloss": 0.05}).notes)


def test_rows_that_would_decide_an_inconclusive_entry_are_more_than_it_has():
    # 3 rows: intervals inside the margins, Holm's adjustment leaves them INCONCLUSIVE; the normal
    # projection of the rows needed said "about 2"
    y = np.array([1.0, 0.0, 1.0])
    a = np.array([0.2339401926321267, 0.0618201095374388, 0.5921861809337259])
    b = np.array([0.23962600325211494, 0.06252514472630157, 0.5915978961329257])
    r = compare_scores(y, a, b, metrics=["rmse", "mae", "brier"], margins={"rmse": 0.01, "mae": 0.01, "brier": 0.01})
    undecided = [e for e in r.entries if e.verdict is I]
    assert {e.name for e in undecided} == {"rmse", "mae", "brier"}
    assert all(e.n_required is not None and e.n_required > 3 for e in undecided), [e.n_required for e in undecided]
