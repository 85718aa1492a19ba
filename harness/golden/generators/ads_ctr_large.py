"""``ads_ctr_large``: ``ads_ctr``'s generator, with more requests and most of them in the eval split.

Why: the retrained-pair suites (HistGradientBoosting -> Keras wide & deep, bid regression, ranking) compare
two *different* models, whose per-row scores correlate far less than a port's, so the paired metric
differences have standard errors ~10^4 times a port's. On ``ads_ctr``'s 74,743 eval rows the AUC difference of
the click pair has SE ~0.0037 (minimum detectable difference ~0.009 at 80 % power), above any launch bar a CTR
team would accept for a migration. The golden set grows (the margins do not widen): 85,000 requests, 70 % of
them in eval, train about the size of ``ads_ctr``'s (226,106 rows) so training costs what it did; then (1.1.0)
85,000 more requests drawn for eval only, from a stream spawned off the same seed, because the click suite's
tablet calibration was still INCONCLUSIVE at 526,269 eval rows: 1,275,239 eval rows now, and the train split
byte for byte what it was, so the trained sides did not change. ``ads_ctr`` itself is untouched (the
ctr_logreg suite and its committed baselines depend on its files).

Everything else is ``ads_ctr``'s: the same universe (shops, categories, country and category bid
multipliers, drawn first from the same seed, so `ads_ctr.true_click_logit` holds for these rows too), the
same distributions, ground truth and column schema, the same draw order (`generate` here is
``ads_ctr.generate`` with the request count, the eval share and the name as parameters; with ads_ctr's
values it reproduces ads_ctr's content hashes).
"""
from __future__ import annotations

import numpy as np

from harness.golden.generators import ads_ctr
from harness.golden.generators.ads_ctr import COEFFICIENTS, COLUMNS, COUNTRIES, DEVICES, N_CATEGORIES, N_SHOPS

__all__ = ["DEFAULT_SEED", "EVAL_SHARE", "EXTRA_EVAL_REQUESTS", "NAME", "N_REQUESTS", "VERSION", "generate"]

NAME = "ads_ctr_large"
VERSION = "1.1.0"
DEFAULT_SEED = ads_ctr.DEFAULT_SEED
N_REQUESTS = 85_000
EVAL_SHARE = 0.7
# 1.1.0: the eval split grew (train unchanged) so the click suite's tablet calibration can be decided
EXTRA_EVAL_REQUESTS = 85_000


def _draw(rng: np.random.Generator, u: dict[str, np.ndarray], n_requests: int, eval_share: float,
          row_offset: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Requests and their rows, in ads_ctr's draw order; returns (arrays, is_eval per row)."""
    zipf = ads_ctr._zipf_p
    single = rng.random(n_requests) < 0.10
    sizes = np.where(single, 1, 1 + rng.binomial(29, 0.3, n_requests))
    request_id = rng.choice(10**12, size=n_requests, replace=False).astype(np.int64)
    req_device = rng.choice(len(DEVICES), size=n_requests, p=[0.62, 0.30, 0.08])
    req_country = rng.choice(len(COUNTRIES), size=n_requests, p=zipf(len(COUNTRIES), 1.2))
    req_query = ads_ctr._queries(rng, n_requests)
    req_eval = rng.random(n_requests) < eval_share

    n = int(sizes.sum())
    req = np.repeat(np.arange(n_requests), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    position = np.arange(n, dtype=np.int64) - starts + 1
    device = req_device[req]
    country = req_country[req]
    shop = u["shop_of_rank"][rng.choice(N_SHOPS, size=n, p=zipf(N_SHOPS, ads_ctr.SHOP_ZIPF_S))]
    category = u["category_of_rank"][rng.choice(N_CATEGORIES, size=n, p=zipf(N_CATEGORIES, 0.9))]
    price = np.maximum(np.round(np.exp(3.0 + u["category_price_shift"][category] + 0.8 * rng.standard_normal(n)), 2), 0.01)
    age = np.where(rng.random(n) < 0.04, 0.0, np.round(rng.exponential(120.0, n), 2))
    hist = np.round(1.0 / (1.0 + np.exp(-(-3.4 + 0.8 * u["shop_effect"][shop] + 0.4 * rng.standard_normal(n)))), 4)
    hist[rng.random(n) < np.where(age < 14, 0.40, 0.11)] = np.nan
    query = req_query[req]
    z = ads_ctr._logit(u, shop=shop, category=category, device=device, position=position, price=price,
                       hist_ctr=hist, age=age, empty_query=(query == ""))
    click = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    bid = np.round(0.05 * np.sqrt(price) * u["country_bid_mult"][country] * u["category_bid_mult"][category]
                   * np.exp(0.3 * rng.standard_normal(n)), 4)
    bid = np.maximum(bid, 0.0001)
    weight = np.array([1.0, 0.5, 2.0])[rng.choice(3, size=n, p=[0.85, 0.10, 0.05])]
    row_id = (10**9 + row_offset + rng.permutation(n)).astype(np.int64)

    arrays = {
        "row_id": row_id,
        "request_id": request_id[req],
        "position": position,
        "shop_id": np.char.mod("shop_%06d", shop + 1).astype(object),
        "category": np.char.mod("cat_%03d", category).astype(object),
        "device": np.array(DEVICES, dtype=object)[device],
        "country": np.array(COUNTRIES, dtype=object)[country],
        "price": price,
        "listing_age_days": age,
        "hist_ctr": hist,
        "query": query,
        "click": click,
        "bid": bid,
        "weight": weight,
    }
    return arrays, req_eval[req]


def generate(*, seed: int = DEFAULT_SEED, n_requests: int = N_REQUESTS, eval_share: float = EVAL_SHARE,
             extra_eval_requests: int = EXTRA_EVAL_REQUESTS, name: str = NAME, version: str = VERSION):
    """Generate the dataset (a `harness.golden.writer.GeneratedDataset`); with ``n_requests=28_500,
    eval_share=0.3, extra_eval_requests=0, name="ads_ctr"`` this is ``ads_ctr.generate`` draw for draw.

    ``extra_eval_requests`` more requests, all in eval, are drawn after the first ones from a stream
    spawned off the seed, with the same universe: the train split (and the models trained on it) stay what
    they are when only the eval split grows.
    """
    from harness.golden.writer import GeneratedDataset, arrow_table, library_versions

    rng = np.random.default_rng(seed)
    u = ads_ctr._universe(rng)
    arrays, is_eval = _draw(rng, u, n_requests, eval_share, 0)
    if extra_eval_requests:
        extra, _ = _draw(np.random.default_rng([seed, 1]), u, extra_eval_requests, 1.0, len(is_eval))
        clash = np.intersect1d(np.unique(arrays["request_id"]), np.unique(extra["request_id"]))
        if clash.size:  # a request split across two draws would break grouping
            raise ValueError(f"ads_ctr_large: request ids {clash[:3].tolist()} drawn twice; choose another seed")
        arrays = {k: np.concatenate([v, extra[k]]) for k, v in arrays.items()}
        is_eval = np.concatenate([is_eval, np.ones(len(extra["row_id"]), dtype=bool)])
    splits = {
        "train": arrow_table(COLUMNS, {k: v[~is_eval] for k, v in arrays.items()}),
        "eval": arrow_table(COLUMNS, {k: v[is_eval] for k, v in arrays.items()}),
    }
    provenance = {
        "kind": "generated",
        "generator": f"harness.golden.generators.{NAME}:generate",
        "seed": seed,
        "libraries": library_versions("numpy", "pandas", "pyarrow"),
        "parameters": {"n_requests": n_requests, "eval_share": eval_share,
                       "extra_eval_requests": extra_eval_requests},
        "ground_truth": {
            "click": "P(click) = sigmoid(z); z as documented in harness/golden/generators/ads_ctr.py",
            "coefficients": COEFFICIENTS,
            "shop_zipf_exponent": ads_ctr.SHOP_ZIPF_S,
            "n_shops": N_SHOPS,
            "n_categories": N_CATEGORIES,
            "bid": "round(0.05 * sqrt(price) * m_country * m_cat * exp(0.3 Z), 4)",
        },
        "split": f"by request: eval = {eval_share:.0%} of the first {n_requests} requests drawn at random, plus "
                 f"{extra_eval_requests} more requests drawn for eval only",
    }
    description = (
        "ads_ctr's generator with 85,000 requests, 70 % of them in eval, plus 85,000 more eval requests: "
        "sponsored-listing clicks, bids and request groups with enough eval rows to resolve a retrained pair's "
        "metric differences."
    )
    return GeneratedDataset(name, version, description, COLUMNS, splits, provenance)
