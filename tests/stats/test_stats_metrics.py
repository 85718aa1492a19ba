"""Every metric against scikit-learn (and slow, obviously-correct references) on random, heavily tied
and weighted data; properties by Hypothesis."""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from harness.errors import ParityInputError
from harness.stats import metrics as M

TOL = 1e-12
HYP = settings(max_examples=60, deadline=None, derandomize=True)


def make_binary(kind: str, n: int = 3000, seed: int = 0):
    """(y, score, prob, weight) for 'random', 'tied' (scores rounded to a few values) or 'weighted'."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(np.int64)
    z = rng.normal(size=n) + 1.2 * y
    if kind == "tied":
        z = np.round(z * 2) / 2  # ~15 distinct values, heavy positive/negative ties
    p = 1.0 / (1.0 + np.exp(-(z - 1.5)))
    w = rng.gamma(2.0, 1.0, n) if kind == "weighted" else None
    return y, z, p, w


KINDS = ["random", "tied", "weighted"]


# ---------------------------------------------------------------- slow references

def slow_auc(y, s, w=None):
    """All positive/negative pairs, ties half."""
    w = np.ones(len(y)) if w is None else w
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    num = 0.0
    for i in pos:
        num += w[i] * (np.sum(w[neg] * (s[neg] < s[i])) + 0.5 * np.sum(w[neg] * (s[neg] == s[i])))
    return num / (w[pos].sum() * w[neg].sum())


def slow_ap(y, s, w=None):
    w = np.ones(len(y)) if w is None else w
    total_pos = np.sum(w * y)
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        sel = s >= t
        tp = np.sum(w[sel] * y[sel])
        fp = np.sum(w[sel] * (1 - y[sel]))
        recall = tp / total_pos
        ap += (recall - prev_recall) * (tp / (tp + fp) if tp + fp > 0 else 0.0)
        prev_recall = recall
    return ap


def slow_ece(y, p, w, n_bins):
    """Walk the rows in probability order; a tie block goes wholly into the bin where its first row
    falls by cumulative weight (inverted-CDF quantile edges)."""
    w = np.ones(len(y)) if w is None else w
    order = np.argsort(p, kind="stable")
    total = w.sum()
    edges = []
    for j in range(1, n_bins):
        target = total * j / n_bins
        acc = 0.0
        for i in order:
            acc += w[i]
            if acc >= target:
                edges.append(p[i])
                break
        else:
            edges.append(p[order[-1]])
    bins = {}
    for i in range(len(p)):
        b = sum(1 for e in edges if e < p[i])
        bins.setdefault(b, []).append(i)
    out = 0.0
    for rows in bins.values():
        rows = np.array(rows)
        wb = w[rows].sum()
        out += abs(np.sum(w[rows] * p[rows]) - np.sum(w[rows] * y[rows])) / total if wb > 0 else 0.0
    return out


def slow_expected_rr(rel, s):
    """E[1 / rank of the first relevant item] over all orderings of tied scores, exactly (Fractions)."""
    items = list(range(len(s)))
    if not any(r > 0 for r in rel):
        return 0.0
    blocks = [sorted(g) for _, g in itertools.groupby(sorted(items, key=lambda i: -s[i]), key=lambda i: -s[i])]
    total, count = Fraction(0), 0
    for perms in itertools.product(*[itertools.permutations(b) for b in blocks]):
        order = [i for blk in perms for i in blk]
        rank = next(k + 1 for k, i in enumerate(order) if rel[i] > 0)
        total += Fraction(1, rank)
        count += 1
    return float(total / count)


# ---------------------------------------------------------------- binary ranking metrics

@pytest.mark.parametrize("kind", KINDS)
def test_roc_auc_equals_sklearn(kind):
    y, s, _, w = make_binary(kind)
    assert abs(M.roc_auc(y, s, sample_weight=w) - skm.roc_auc_score(y, s, sample_weight=w)) < TOL


@pytest.mark.parametrize("kind", KINDS)
def test_roc_auc_equals_pair_counting(kind):
    y, s, _, w = make_binary(kind, n=400, seed=1)
    assert abs(M.roc_auc(y, s, sample_weight=w) - slow_auc(y, s, w)) < TOL


@pytest.mark.parametrize("kind", ["random", "tied"])
def test_roc_auc_equals_scipy_mann_whitney(kind):
    # AUC = U / (n_pos n_neg), U the Mann-Whitney statistic of the positives (ties counted half)
    import scipy.stats

    y, s, _, _ = make_binary(kind)
    u = scipy.stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert abs(M.roc_auc(y, s) - u / ((y == 1).sum() * (y == 0).sum())) < TOL


@pytest.mark.parametrize("kind", KINDS)
def test_average_precision_equals_sklearn_and_slow(kind):
    y, s, _, w = make_binary(kind)
    got = M.average_precision(y, s, sample_weight=w)
    assert abs(got - skm.average_precision_score(y, s, sample_weight=w)) < TOL
    y2, s2, _, w2 = make_binary(kind, n=300, seed=2)
    assert abs(M.average_precision(y2, s2, sample_weight=w2) - slow_ap(y2, s2, w2)) < TOL


def test_integer_weights_equal_repeated_rows():
    y, s, p, _ = make_binary("tied", n=800, seed=3)
    k = np.random.default_rng(3).integers(0, 4, y.shape[0])
    rep = np.repeat(np.arange(y.shape[0]), k)
    w = k.astype(float)
    pairs = [
        (M.roc_auc, s), (M.average_precision, s), (M.log_loss, p), (M.brier, p),
        (M.calibration_ratio, p), (M.ece, p), (M.rmse, s), (M.mae, s),
    ]
    for fn, x in pairs:
        yy = s if fn in (M.rmse, M.mae) else y
        assert abs(fn(yy, x, sample_weight=w) - fn(yy[rep], x[rep])) < TOL, fn.__name__
    sl, il = M.calibration_slope_intercept(y, p, sample_weight=w)
    sr, ir = M.calibration_slope_intercept(y[rep], p[rep])
    assert abs(sl - sr) < 1e-9 and abs(il - ir) < 1e-9


# ---------------------------------------------------------------- probabilistic metrics

@pytest.mark.parametrize("kind", KINDS)
def test_log_loss_and_brier_equal_sklearn(kind):
    y, _, p, w = make_binary(kind)
    assert abs(M.log_loss(y, p, sample_weight=w) - skm.log_loss(y, p, sample_weight=w)) < TOL
    assert abs(M.brier(y, p, sample_weight=w) - skm.brier_score_loss(y, p, sample_weight=w)) < TOL


def test_log_loss_clips_like_sklearn_for_the_input_dtype():
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.0, 1.0, 1.0, 0.0, 1e-300, 1 - 1e-17])
    assert abs(M.log_loss(y, p) - skm.log_loss(y, p)) < TOL
    eps64 = np.finfo(np.float64).eps
    assert abs(M.log_loss([1], [0.0]) + math.log(eps64)) < TOL
    # float32 input: eps is float32's (1.19e-7), as in scikit-learn; we then compute in float64, so
    # agreement is to float32 precision only.
    p32 = np.array([0.0, 0.3, 0.999999, 1.0], dtype=np.float32)
    y32 = np.array([1, 0, 1, 1])
    eps32 = float(np.finfo(np.float32).eps)
    expected = -(math.log(eps32) + math.log(1 - float(p32[1])) + math.log(float(p32[2])) + math.log(1 - eps32)) / 4
    assert abs(M.log_loss(y32, p32) - expected) < 1e-12
    assert abs(M.log_loss(y32, p32) - skm.log_loss(y32, p32)) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_calibration_ratio_is_mean_prediction_over_rate(kind):
    y, _, p, w = make_binary(kind)
    ref = np.average(p, weights=w) / np.average(y, weights=w)
    assert abs(M.calibration_ratio(y, p, sample_weight=w) - ref) < TOL


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_bins", [1, 3, 10])
def test_ece_equals_slow_reference(kind, n_bins):
    y, _, p, w = make_binary(kind, n=500, seed=4)
    assert abs(M.ece(y, p, sample_weight=w, n_bins=n_bins) - slow_ece(y, p, w, n_bins)) < TOL


def test_ece_unweighted_edges_are_numpy_inverted_cdf_quantiles():
    y, _, p, _ = make_binary("random", n=2000, seed=5)
    edges = np.quantile(p, np.arange(1, 10) / 10, method="inverted_cdf")
    bins = np.searchsorted(edges, p, side="left")
    ref = sum(abs(p[bins == b].sum() - y[bins == b].sum()) for b in range(10)) / p.shape[0]
    assert abs(M.ece(y, p) - ref) < TOL


def test_ece_keeps_ties_in_one_bin():
    # 6 rows at 0.2 then 4 at 0.9: with 10 bins the 0.2 block is one bin and the 0.9 block another.
    p = np.array([0.2] * 6 + [0.9] * 4)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 0])
    expected = 0.6 * abs(0.2 - 0.5) + 0.4 * abs(0.9 - 0.75)
    assert abs(M.ece(y, p) - expected) < TOL


@pytest.mark.parametrize("kind", KINDS)
def test_calibration_slope_intercept_equal_unpenalized_logistic_regression(kind):
    y, _, p, w = make_binary(kind, n=2000, seed=6)
    x = np.log(p / (1 - p)).reshape(-1, 1)
    lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-14, max_iter=200).fit(x, y, sample_weight=w)
    slope, intercept = M.calibration_slope_intercept(y, p, sample_weight=w)
    assert abs(slope - lr.coef_[0, 0]) < 1e-8
    assert abs(intercept - lr.intercept_[0]) < 1e-8


def test_calibration_slope_of_a_calibrated_model_is_near_one():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.01, 0.99, 200_000)
    y = (rng.random(p.shape[0]) < p).astype(int)
    slope, intercept = M.calibration_slope_intercept(y, p)
    assert abs(slope - 1) < 0.02 and abs(intercept) < 0.02


def test_calibration_fit_refuses_separable_and_constant_data():
    with pytest.raises(ParityInputError, match="separates"):
        M.calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    with pytest.raises(ParityInputError, match="all predictions are equal"):
        M.calibration_slope_intercept([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3])


# ---------------------------------------------------------------- regression

@pytest.mark.parametrize("kind", KINDS)
def test_rmse_mae_equal_sklearn(kind):
    _, s, p, w = make_binary(kind)
    assert abs(M.rmse(s, p, sample_weight=w) - skm.root_mean_squared_error(s, p, sample_weight=w)) < TOL
    assert abs(M.mae(s, p, sample_weight=w) - skm.mean_absolute_error(s, p, sample_weight=w)) < TOL


# ---------------------------------------------------------------- ranking

def make_ranking(n_groups=150, seed=8, tied=False, max_size=12):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, n_groups)
    g = np.repeat(rng.permutation(n_groups) * 10 + 3, sizes)  # non-contiguous, unsorted ids
    n = g.shape[0]
    rel = rng.integers(0, 4, n) * (rng.random(n) < 0.4)
    s = rng.normal(size=n) + 0.5 * rel
    if tied:
        s = np.round(s)
    perm = rng.permutation(n)  # rows of a group are not contiguous
    return rel[perm], s[perm], g[perm]


def ndcg_reference(rel, s, g, k, w=None, skip=False):
    vals, wts = [], []
    for gid in np.unique(g):
        m = g == gid
        if m.sum() == 1:
            v = 1.0 if rel[m][0] > 0 else 0.0  # sklearn refuses 1-document queries
        else:
            v = skm.ndcg_score(rel[m][None, :], s[m][None, :], k=k, ignore_ties=False)
        if skip and not (rel[m] > 0).any():
            continue
        vals.append(v)
        wts.append(1.0 if w is None else w[m][0])
    return np.average(vals, weights=wts)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_ndcg_equals_sklearn_per_group(tied, k):
    rel, s, g = make_ranking(tied=tied)
    assert abs(M.ndcg_at_k(rel, s, g, k=k) - ndcg_reference(rel, s, g, k)) < TOL


def test_ndcg_group_weights_and_skip():
    rel, s, g = make_ranking(tied=True, seed=9)
    gw = {gid: float(i % 3 + 1) for i, gid in enumerate(np.unique(g))}
    w = np.array([gw[x] for x in g])
    assert abs(M.ndcg_at_k(rel, s, g, k=5, sample_weight=w) - ndcg_reference(rel, s, g, 5, w)) < TOL
    assert abs(M.ndcg_at_k(rel, s, g, k=5, no_relevant="skip") - ndcg_reference(rel, s, g, 5, skip=True)) < TOL


def test_ranking_weights_must_be_constant_within_a_group():
    with pytest.raises(ParityInputError, match="sample_weight.*constant within a group"):
        M.ndcg_at_k([1, 0, 1], [0.3, 0.2, 0.1], [7, 7, 8], sample_weight=[1.0, 2.0, 1.0])


@pytest.mark.parametrize("tied", [False, True])
def test_mrr_equals_exact_expectation_over_tie_orders(tied):
    rel, s, g = make_ranking(n_groups=60, seed=10, tied=tied, max_size=6)
    ref = np.mean([slow_expected_rr(rel[g == x].tolist(), s[g == x].tolist()) for x in np.unique(g)])
    assert abs(M.mrr(rel, s, g) - ref) < TOL


def test_mrr_equals_sklearn_lrap_with_one_relevant_item_and_no_ties():
    rng = np.random.default_rng(11)
    rows = []
    for q in range(100):
        size = int(rng.integers(2, 9))
        rel = np.zeros(size, dtype=int)
        rel[rng.integers(size)] = 1
        rows.append((rel, rng.normal(size=size), np.full(size, q)))
    rel, s, g = (np.concatenate(c) for c in zip(*rows))
    lrap = np.mean([skm.label_ranking_average_precision_score(r[None], x[None]) for r, x, _ in rows])
    assert abs(M.mrr(rel, s, g) - lrap) < TOL


def test_mrr_no_relevant_groups_count_zero_or_skip():
    rel = [0, 1, 0, 0]
    s = [0.9, 0.1, 0.5, 0.4]
    g = [1, 1, 2, 2]
    assert abs(M.mrr(rel, s, g) - 0.25) < TOL
    assert abs(M.mrr(rel, s, g, no_relevant="skip") - 0.5) < TOL


# ---------------------------------------------------------------- properties

@st.composite
def binary_data(draw):
    n = draw(st.integers(4, 60))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    s = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))  # small ints: many ties
    k = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    return np.array(y), np.array(s, dtype=float), np.array(k)


@HYP
@given(binary_data())
def test_auc_invariant_to_monotone_transforms(data):
    y, s, _ = data
    base = M.roc_auc(y, s)
    for t in (np.exp(s / 3), 2.5 * s - 7, np.arctan(s), s**3):
        assert abs(M.roc_auc(y, t) - base) < TOL
    assert abs(M.roc_auc(y, -s) - (1 - base)) < TOL


@HYP
@given(binary_data())
def test_weights_k_equal_repeating_rows(data):
    y, s, k = data
    rep = np.repeat(np.arange(y.shape[0]), k)
    p = 1 / (1 + np.exp(-s))
    for fn, x in ((M.roc_auc, s), (M.average_precision, s), (M.log_loss, p), (M.ece, p), (M.brier, p)):
        assert abs(fn(y, x, sample_weight=k.astype(float)) - fn(y[rep], x[rep])) < TOL


@HYP
@given(binary_data(), st.integers(0, 2**32 - 1))
def test_every_metric_ignores_row_order(data, seed):
    y, s, k = data
    p = 1 / (1 + np.exp(-s / 2))
    g = np.arange(y.shape[0]) // 4
    perm = np.random.default_rng(seed).permutation(y.shape[0])
    w = k.astype(float)
    for fn, x in ((M.roc_auc, s), (M.average_precision, s), (M.log_loss, p), (M.brier, p), (M.ece, p),
                  (M.calibration_ratio, p), (M.rmse, s), (M.mae, s)):
        yy = p if fn in (M.rmse, M.mae) else y
        assert abs(fn(yy, x, sample_weight=w) - fn(yy[perm], x[perm], sample_weight=w[perm])) < TOL
    for fn in (M.ndcg_at_k, M.mrr):
        assert abs(fn(y, s, g) - fn(y[perm], s[perm], g[perm])) < TOL


@HYP
@given(binary_data())
def test_auc_matches_sklearn_on_small_tied_samples(data):
    y, s, k = data
    assert abs(M.roc_auc(y, s, sample_weight=k) - skm.roc_auc_score(y, s, sample_weight=k)) < TOL
    assert abs(M.average_precision(y, s, sample_weight=k) - skm.average_precision_score(y, s, sample_weight=k)) < TOL


# ---------------------------------------------------------------- registry

def test_registry_names_and_fields():
    expected = {"auc", "pr_auc", "logloss", "brier", "calibration_ratio", "ece", "calibration_slope",
                "calibration_intercept", "rmse", "mae", "ndcg@10", "mrr"}
    assert set(M.METRICS) == expected
    for name, d in M.METRICS.items():
        assert d.name == name and d.task in ("binary", "regression", "ranking")
        assert d.needs_groups == (d.task == "ranking")
    assert M.get_metric("auc").higher_is_better and not M.get_metric("logloss").higher_is_better
    d5 = M.get_metric("ndcg@5")
    assert d5.name == "ndcg@5" and d5.needs_groups
    rel, s, g = make_ranking(seed=12)
    assert d5.fn(rel, s, g) == M.ndcg_at_k(rel, s, g, k=5)
    assert M.get_metric(d5) is d5


@pytest.mark.parametrize("bad", ["accuracy", "ndcg@0", "ndcg@", "ndcg@x", "", None, 3])
def test_unknown_metric_lists_known_names(bad):
    with pytest.raises(ParityInputError, match="metric: unknown metric.*auc.*ndcg@K"):
        M.get_metric(bad)


def test_per_row_losses_average_to_the_metric():
    y, s, p, w = make_binary("weighted")
    for name, x, yy in (("logloss", p, y), ("brier", p, y), ("mae", s, p), ("rmse", s, p)):
        d = M.get_metric(name)
        mean = np.average(d.per_row(yy, x), weights=w)
        if name == "rmse":
            mean = math.sqrt(mean)
        assert abs(mean - d.fn(yy, x, sample_weight=w)) < TOL
    for name in ("auc", "pr_auc", "ece", "calibration_ratio", "ndcg@10", "mrr"):
        assert M.get_metric(name).per_row is None
