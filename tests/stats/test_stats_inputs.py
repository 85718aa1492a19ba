"""Bad input: every case is a ParityInputError whose message names the argument and the problem."""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.stats import metrics as M
from harness.stats.bootstrap import paired_bootstrap, paired_difference_ci
from harness.stats.delong import delong_paired, delong_single

Y = np.array([0, 1, 0, 1, 1, 0])
S = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.2])
G = np.array([1, 1, 1, 2, 2, 2])
NAN = np.array([0.1, np.nan, 0.3, 0.6, 0.9, 0.2])
INF = np.array([0.1, 0.8, np.inf, 0.6, 0.9, 0.2])

BINARY = [M.roc_auc, M.average_precision, M.log_loss, M.brier, M.calibration_ratio, M.ece,
          M.calibration_slope_intercept]
PROB = [M.log_loss, M.brier, M.calibration_ratio, M.ece, M.calibration_slope_intercept]


def _cases():
    for fn in BINARY:
        sname = "y_prob" if fn in PROB else "y_score"
        n = fn.__name__
        yield f"{n}-nan-score", fn, (Y, NAN), {}, rf"{sname}: expected finite numbers \(no NaN or inf\); row 1 is nan \(1 non-finite"
        yield f"{n}-inf-score", fn, (Y, INF), {}, rf"{sname}: expected finite numbers.*; row 2 is inf \(1 non-finite"
        yield f"{n}-length-mismatch", fn, (Y, S[:5]), {}, rf"length mismatch: y_true=6, {sname}=5"
        yield f"{n}-2d", fn, (Y, S.reshape(2, 3)), {}, rf"{sname}: expected a 1-D array, got shape \(2, 3\)"
        yield f"{n}-empty", fn, ([], []), {}, "y_true: is empty"
        yield f"{n}-non-binary", fn, (np.array([0, 1, 2, 1, 1, 0]), S), {}, r"y_true: expected binary labels in \{0, 1\}; row 2 is 2"
        yield f"{n}-string-labels", fn, (np.array(list("abcabc")), S), {}, "y_true: expected binary labels 0/1"
        yield f"{n}-negative-weight", fn, (Y, S), {"sample_weight": [1, 1, -1, 1, 1, 1]}, "sample_weight: weights must be non-negative; row 2"
        yield f"{n}-nan-weight", fn, (Y, S), {"sample_weight": [1, 1, np.nan, 1, 1, 1]}, "sample_weight: expected finite numbers.*row 2 is nan"
        yield f"{n}-weight-length", fn, (Y, S), {"sample_weight": [1, 1]}, "sample_weight: has 2 rows, expected 6"
        yield f"{n}-all-zero-weight", fn, (Y, S), {"sample_weight": np.zeros(6)}, "sample_weight: all weights are zero"
    for fn in PROB:
        yield f"{fn.__name__}-prob-above-1", fn, (Y, S * 2), {}, r"y_prob: expected probabilities in \[0, 1\]; row 1 is 1.6"
        yield f"{fn.__name__}-prob-below-0", fn, (Y, S - 0.25), {}, r"y_prob: expected probabilities in \[0, 1\]; row 0"
    for fn in (M.roc_auc, M.calibration_slope_intercept):
        yield f"{fn.__name__}-one-class", fn, (np.zeros(6), S), {}, "y_true: only one class present"
    yield "auc-weight-on-one-class", M.roc_auc, (Y, S), {"sample_weight": [1, 0, 1, 0, 0, 1]}, "only one class present"
    yield "ap-no-positive", M.average_precision, (np.zeros(6), S), {}, "y_true: no positive rows"
    yield "ratio-no-positive", M.calibration_ratio, (np.zeros(6), S), {}, "y_true: no positive rows"
    yield "ece-bad-bins", M.ece, (Y, S), {"n_bins": 0}, "n_bins: expected a positive integer"
    for fn in (M.rmse, M.mae):
        yield f"{fn.__name__}-nan-target", fn, (NAN, S), {}, "y_true: expected finite numbers.*row 1 is nan"
        yield f"{fn.__name__}-nan-pred", fn, (S, NAN), {}, "y_pred: expected finite numbers.*row 1 is nan"
        yield f"{fn.__name__}-length", fn, (S, S[:3]), {}, "length mismatch: y_true=6, y_pred=3"
        yield f"{fn.__name__}-bool-pred", fn, (S, S > 0.5), {}, "y_pred: expected real numbers, got dtype bool"
    for fn in (M.ndcg_at_k, M.mrr):
        n = fn.__name__
        yield f"{n}-negative-relevance", fn, (np.array([0, 1, -1, 1, 1, 0]), S, G), {}, "y_true: expected non-negative values; row 2"
        yield f"{n}-nan-score", fn, (Y, NAN, G), {}, "y_score: expected finite numbers.*row 1 is nan"
        yield f"{n}-groups-length", fn, (Y, S, G[:4]), {}, "groups: has 4 rows, expected 6"
        yield f"{n}-groups-missing", fn, (Y, S, np.array([1, 1, None, 2, 2, 2], dtype=object)), {}, "groups: missing group id .*; row 2 is None"
        yield f"{n}-weight-varies-in-group", fn, (Y, S, G), {"sample_weight": [1, 1, 2, 1, 1, 1]}, "sample_weight: .*row 2 has weight 2"
        yield f"{n}-groups-nan", fn, (Y, S, np.array([1, 1, np.nan, 2, 2, 2])), {}, "groups: missing/non-finite group id; row 2 is nan"
        yield f"{n}-no-relevant", fn, (np.zeros(6), S, G), {"no_relevant": "skip"}, "y_true: no query group with a relevant item"
        yield f"{n}-bad-no-relevant", fn, (Y, S, G), {"no_relevant": "one"}, "no_relevant: expected 'zero' or 'skip'"
    yield "ndcg-bad-k", M.ndcg_at_k, (Y, S, G), {"k": 0}, "k: expected a positive integer"
    yield "delong-nan", delong_paired, (Y, S, NAN), {}, "score_b: expected finite numbers.*row 1"
    yield "delong-length", delong_paired, (Y, S, S[:4]), {}, "length mismatch: y_true=6, score_a=6, score_b=4"
    yield "delong-labels", delong_paired, (Y * 3, S, S), {}, "y_true: expected binary labels"
    yield "delong-single-2d", delong_single, (Y, S.reshape(3, 2)), {}, "score: expected a 1-D array"
    yield "delong-alpha", delong_single, (Y, S), {"alpha": 0.0}, r"alpha: expected a number in \(0, 1\)"
    yield "boot-nan", paired_bootstrap, ("auc", Y, S, NAN), {"n_boot": 5}, "metric 'auc' on score_new: y_score: expected finite numbers"
    yield "boot-length", paired_bootstrap, ("logloss", Y, S, S[:5]), {"n_boot": 5}, "on score_new: length mismatch: y_true=6, y_prob=5"
    yield "boot-metric", paired_bootstrap, ("f1", Y, S, S), {"n_boot": 5}, "metric: unknown metric 'f1'"
    yield "pdiff-nan", paired_difference_ci, (S, NAN), {}, "loss_new: expected finite numbers.*row 1"
    yield "pdiff-length", paired_difference_ci, (S, S[:2]), {}, "length mismatch: loss_legacy=6, loss_new=2"
    yield "pdiff-one-row", paired_difference_ci, (S[:1], S[:1]), {}, "need at least 2 rows with positive weight"


CASES = list(_cases())


@pytest.mark.parametrize("fn,args,kwargs,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named(fn, args, kwargs, match):
    with pytest.raises(ParityInputError, match=match):
        fn(*args, **kwargs)


def test_errors_are_value_errors_too():
    # callers that catch ValueError (as for scikit-learn) keep working
    with pytest.raises(ValueError):
        M.roc_auc([0, 1], [np.nan, 1.0])


def test_stats_core_imports_neither_sklearn_nor_tensorflow():
    import subprocess
    import sys

    code = ("import sys, harness.stats.metrics, harness.stats.delong, harness.stats.bootstrap; "
            # numba too: the bootstrap's compiled engine is imported at the first bootstrap, not before
            "bad = [m for m in ('sklearn', 'tensorflow', 'keras', 'pandas', 'numba') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_structured_fields_name_the_argument_row_and_value():
    with pytest.raises(ParityInputError) as info:
        M.log_loss(Y, S * 2)
    e = info.value
    assert (e.argument, e.row, e.value, e.reason) == ("y_prob", 1, 1.6, "expected probabilities in [0, 1]")
    assert e.detail == "(3 row(s) outside [0, 1])"  # 1.6, 1.2 and 1.8
    assert str(e) == f"y_prob: {e.reason}; row 1 is 1.6 {e.detail}"  # the message is the fields, in order


def test_plain_message_errors_keep_working():
    from harness.errors import NO_VALUE, GoldenDataError

    e = ParityInputError("something is wrong")
    assert str(e) == "something is wrong" and e.fields() == {} and e.value is NO_VALUE and not e.has_value
    g = GoldenDataError("bad file", file="x.parquet").with_fields(row=3, value=None)
    assert type(g) is GoldenDataError and str(g) == "bad file"
    assert g.fields() == {"file": "x.parquet", "row": 3, "value": None}  # None is a value a cell can hold


def test_rmse_on_a_slice_of_zero_weight_is_undefined_not_a_crash():
    # np.average divides by the weights' sum: a slice whose rows all weigh 0 raised ZeroDivisionError
    # out of compare_scores; it is a metric with no value there, in the same words as logloss's.
    from harness.stats.compare import compare_scores
    from harness.verdicts import Verdict

    rng = np.random.default_rng(0)
    n = 400
    y = rng.random(n)
    a = y + rng.normal(0, 0.1, n)
    b = a + rng.normal(0, 0.01, n)
    w = rng.random(n)
    s = np.where(np.arange(n) < 100, "z", "o")
    w[s == "z"] = 0
    r = compare_scores(y, a, b, metrics=["rmse", "mae"], margins={"rmse": 0.1, "mae": 0.1}, sample_weight=w,
                       slices={"s": s})
    cell = {(e.name, (e.slice or {}).get("value")): e for e in r.entries}
    for name in ("rmse", "mae"):
        assert cell[(name, "z")].verdict is Verdict.INCONCLUSIVE
        assert "all weights are zero" in cell[(name, "z")].note, cell[(name, "z")].note
        assert cell[(name, None)].verdict is Verdict.EQUIVALENT
