"""The committed datasets load, verify, and have the properties the suites rely on.

Expected values come from ARCHITECTURE.md's schema table, from scikit-learn's own loader (for
breast_cancer) and from the documented generator design -- not from the files themselves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.golden import list_datasets, load_dataset, verify_dataset

# ARCHITECTURE.md, "ads_ctr raw columns".
ADS_CTR_SCHEMA = [
    ("row_id", "int64", "key"), ("request_id", "int64", "group"), ("position", "int64", "feature"),
    ("shop_id", "string", "feature"), ("category", "string", "feature"), ("device", "string", "feature"),
    ("country", "string", "feature"), ("price", "float64", "feature"),
    ("listing_age_days", "float64", "feature"), ("hist_ctr", "float64", "feature"),
    ("query", "string", "feature"), ("click", "int64", "label"), ("bid", "float64", "label"),
    ("weight", "float64", "weight"),
]


@pytest.fixture(scope="module")
def ads():
    ds = load_dataset("ads_ctr")
    return ds, ds.frame("train"), ds.frame("eval")


@pytest.fixture(scope="module")
def ads_all(ads):
    _, train, eval_ = ads
    return pd.concat([train.assign(split="train"), eval_.assign(split="eval")], ignore_index=True)


def test_golden_both_datasets_listed_and_verify():
    assert {"ads_ctr", "breast_cancer"} <= set(list_datasets())
    assert verify_dataset("ads_ctr") == []
    assert verify_dataset("breast_cancer") == []


def test_golden_ads_ctr_schema_and_roles(ads):
    ds, train, eval_ = ads
    assert [(c.name, c.dtype, c.role) for c in ds.columns.values()] == ADS_CTR_SCHEMA
    assert ds.key == "row_id" and ds.group == "request_id" and ds.weight == "weight"
    assert ds.labels == ["click", "bid"]
    assert ds.features == ["position", "shop_id", "category", "device", "country", "price",
                           "listing_age_days", "hist_ctr", "query"]
    assert ds.splits == ["train", "eval"]
    for frame in (train, eval_):
        assert list(frame.columns) == [c for c, _, _ in ADS_CTR_SCHEMA]
        for name, dtype, _ in ADS_CTR_SCHEMA:
            if dtype == "string":
                assert pd.api.types.is_string_dtype(frame[name]), name
            else:
                assert frame[name].dtype == np.dtype(dtype), name


def test_golden_ads_ctr_sizes_keys_and_groups(ads, ads_all):
    ds, train, eval_ = ads
    assert len(ads_all) >= 200_000 and ds.total_rows == len(ads_all)
    assert 0.65 < len(train) / len(ads_all) < 0.75
    assert ads_all["row_id"].is_unique  # unique across splits, not only within each
    splits_per_request = ads_all.groupby("request_id")["split"].nunique()
    assert splits_per_request.max() == 1  # groups never straddle splits
    sizes = ads_all.groupby("request_id").size()
    assert sizes.min() == 1 and 15 <= sizes.max() <= 30 and 5 < sizes.mean() < 15
    # positions are exactly 1..m inside each request
    by_req = ads_all.groupby("request_id")["position"]
    assert (by_req.min() == 1).all() and (by_req.max() == sizes).all() and (by_req.nunique() == sizes).all()


def test_golden_ads_ctr_categoricals(ads_all):
    shops = ads_all["shop_id"]
    assert shops.str.fullmatch(r"shop_\d{6}").all()
    counts = shops.value_counts()
    assert 10_000 <= len(counts) <= 50_000  # tens of thousands of distinct shops
    top_share = counts.iloc[0] / len(shops)
    assert 0.03 < top_share < 0.25
    # Zipf-like: log(count) vs log(rank) over the head is a line of slope about -1.05.
    ranks = np.arange(1, 1001)
    slope = np.polyfit(np.log(ranks), np.log(counts.iloc[:1000].to_numpy()), 1)[0]
    assert -1.3 < slope < -0.8, slope
    cats = ads_all["category"].value_counts()
    assert ads_all["category"].str.fullmatch(r"cat_\d{3}").all()
    assert 250 <= len(cats) <= 300 and cats.iloc[0] / cats.iloc[-1] > 20  # hundreds of values, skewed
    assert set(ads_all["device"]) == {"mobile", "desktop", "tablet"}
    assert ads_all["country"].nunique() == 25 and ads_all["country"].str.fullmatch(r"[A-Z]{2}").all()
    # device/country/query are properties of the request
    per_req = ads_all.groupby("request_id")[["device", "country", "query"]].nunique()
    assert (per_req == 1).all().all()


def test_golden_ads_ctr_numerics(ads_all):
    price = ads_all["price"]
    assert (price > 0).all() and price.max() / price.median() > 20  # heavy right tail
    assert price.skew() > 3
    age = ads_all["listing_age_days"]
    assert (age >= 0).all() and 0.02 < (age == 0).mean() < 0.08 and age.skew() > 1
    hist = ads_all["hist_ctr"]
    assert 0.12 < hist.isna().mean() < 0.18
    assert hist.min() >= 0 and hist.max() <= 1
    bid = ads_all["bid"]
    assert (bid > 0).all() and np.isfinite(bid).all()
    assert set(np.unique(ads_all["weight"])) == {0.5, 1.0, 2.0} and (ads_all["weight"] == 1.0).mean() > 0.8
    assert set(np.unique(ads_all["click"])) == {0, 1}
    assert 0.03 <= ads_all["click"].mean() <= 0.05


def test_golden_ads_ctr_query_text(ads_all):
    query = ads_all["query"]
    assert not query.isna().any()
    assert 0.02 < (query == "").mean() < 0.08
    assert query.str.contains(r"[^\x00-\x7f]").mean() > 0.001  # some non-ASCII (café, straße ...)
    assert query.str.contains(r"[A-Z]").mean() > 0.05 and query.str.contains(r"[a-z]").mean() > 0.5
    assert query.str.split().str.len().max() <= 4


def test_golden_ads_ctr_clicks_follow_the_documented_ground_truth(ads_all):
    """Labels were drawn from sigmoid(z): observed rates match predicted rates per decile of z, and a
    logistic regression of click on z recovers slope 1 and intercept 0."""
    from sklearn.linear_model import LogisticRegression

    from harness.golden.generators.ads_ctr import true_click_logit

    z = true_click_logit(ads_all)
    p = 1.0 / (1.0 + np.exp(-z))
    y = ads_all["click"].to_numpy()
    deciles = pd.qcut(z, 10, labels=False)
    for d in range(10):
        m = deciles == d
        se = np.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum())
        assert abs(y[m].mean() - p[m].mean()) < 4.5 * se, d
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    assert abs(fit.coef_[0, 0] - 1) < 0.08 and abs(fit.intercept_[0]) < 0.25
    # the category x device interaction is real: affinity rows click more at the same other terms
    from harness.golden.generators.ads_ctr import DEVICES

    dev = ads_all["device"].map({d: i for i, d in enumerate(DEVICES)}).to_numpy()
    cat = ads_all["category"].str.slice(4).astype(int).to_numpy()
    affinity = dev == cat % 3
    assert y[affinity].mean() > 1.2 * y[~affinity].mean()


def test_golden_ads_ctr_batches_equal_the_frame(ads):
    ds, _, eval_ = ads
    fresh = load_dataset("ads_ctr")  # nothing cached: iter_batches reads the file itself
    batches = list(fresh.iter_batches("eval", 30_000))
    assert [len(b) for b in batches] == [30_000, 30_000, len(eval_) - 60_000]
    pd.testing.assert_frame_equal(pd.concat(batches), eval_)


def test_golden_frame_returns_copies(ads):
    ds, train, _ = ads
    train.loc[0, "price"] = -1.0
    assert ds.frame("train").loc[0, "price"] > 0


def test_golden_breast_cancer_matches_sklearn():
    from sklearn.datasets import load_breast_cancer

    ds = load_dataset("breast_cancer")
    assert ds.key == "sample_id" and ds.labels == ["malignant"] and ds.group is None and ds.weight is None
    assert len(ds.features) == 30 and all(ds.columns[f].dtype == "float64" for f in ds.features)
    assert "mean_concave_points" in ds.features and "worst_fractal_dimension" in ds.features
    train, eval_ = ds.frame("train"), ds.frame("eval")
    assert (len(train), len(eval_)) == (398, 171)
    both = pd.concat([train, eval_]).sort_values("sample_id").reset_index(drop=True)
    assert (both["sample_id"].to_numpy() == np.arange(569)).all()
    reference = load_breast_cancer()
    np.testing.assert_array_equal(both[ds.features].to_numpy(), reference.data)  # bit-exact
    np.testing.assert_array_equal(both["malignant"].to_numpy(), (reference.target == 0).astype(np.int64))
    assert both["malignant"].sum() == 212  # the dataset's documented 212 malignant / 357 benign
    assert abs(train["malignant"].mean() - eval_["malignant"].mean()) < 0.01  # stratified
    source = ds.manifest["provenance"]["source"]
    assert source["package"] == "scikit-learn" and source["resource"] == "sklearn/datasets/data/breast_cancer.csv"
