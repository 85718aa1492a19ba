"""``ads_ctr``: a synthetic sponsored-listings click dataset with a known ground truth.

One row is one listing shown in one request (a search for ``query`` on ``device`` from ``country``).
Requests hold 1..30 listings at positions 1..m; train/eval are split by request so a ranking group
never straddles splits. Everything is drawn from ``numpy.random.default_rng(seed)`` in a fixed order.

Distributions
-------------
- request size m: 10 % single-listing requests, else 1 + Binomial(29, 0.3) (mean ~9).
- device per request: mobile 0.62, desktop 0.30, tablet 0.08. country per request: 25 ISO codes,
  p proportional to 1/rank^1.2. query per request: 5 % empty, else 1..4 tokens from a 40-word vocabulary
  (p proportional to 1/rank), mostly lower case, some Title/UPPER case, a few non-ASCII words.
- shop_id: 50,000 shops, rank-frequency p proportional to 1/rank^SHOP_ZIPF_S (a seeded permutation maps
  rank to id, so "shop_000001" is not the top shop). category: 300 values, p proportional to 1/rank^0.9.
- price = round(exp(3.0 + c_cat + 0.8 Z), 2), c_cat ~ N(0, 0.5) per category; at least 0.01.
- listing_age_days: 4 % exactly 0 (listed today), else round(Exponential(mean 120), 2).
- hist_ctr = round(sigmoid(-3.4 + 0.8 u_shop + 0.4 Z), 4); missing (NaN / Parquet null) with
  probability 0.40 when listing_age_days < 14, else 0.11 (~15 % overall).
- bid = round(0.05 sqrt(price) * m_country * m_cat * exp(0.3 Z), 4), m_country ~ LogNormal(0, 0.3),
  m_cat ~ LogNormal(0, 0.2). weight: 1.0 (85 %), 0.5 (10 %), 2.0 (5 %).

Stored floats are rounded (cents, 1e-4) on purpose: numpy's vectorised exp/log may differ by an ULP
between CPUs (SIMD code paths), and rounding makes the written values, hence the content hash,
independent of that.

Ground truth for ``click`` (P(click) = sigmoid(z))::

    z = INTERCEPT
        + u_shop                            u_shop ~ N(0, 0.5) per shop
        + a_cat                             a_cat  ~ N(0, 0.4) per category
        + D[device]                         mobile 0, desktop +0.15, tablet -0.10
        + AFFINITY * [device index == category index mod 3]    (category x device interaction)
        + POSITION * log(position)
        + LOG_PRICE * log(price)
        + HIST_CTR * hist_ctr               (0 when missing)
        + HIST_MISSING * [hist_ctr missing]
        + AGE * log1p(listing_age_days)
        + EMPTY_QUERY * [query == ""]

The coefficients are in `COEFFICIENTS` and in the manifest's provenance; `true_click_logit` recomputes
z for any frame of this dataset (it redraws the per-shop and per-category effects from the seed).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.golden.manifest import Column

__all__ = ["COEFFICIENTS", "COLUMNS", "DEFAULT_SEED", "NAME", "VERSION", "generate", "true_click_logit"]

NAME = "ads_ctr"
VERSION = "1.0.0"
DEFAULT_SEED = 20261130
N_REQUESTS = 28_500
EVAL_SHARE = 0.3
N_SHOPS = 50_000
SHOP_ZIPF_S = 1.05
N_CATEGORIES = 300
DEVICES = ("mobile", "desktop", "tablet")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "IT", "ES", "SE", "JP", "BR", "MX", "IN", "PL",
             "BE", "CH", "AT", "DK", "NO", "FI", "IE", "PT", "NZ", "KR")
# Ordered by frequency rank; the non-ASCII words sit in the tail so only a few queries carry them.
QUERY_VOCAB = ("ring", "shoes", "dress", "necklace", "vintage", "leather", "bag", "silver", "gold",
               "handmade", "earrings", "wedding", "gift", "mug", "print", "poster", "shirt", "linen",
               "wool", "scarf", "candle", "wooden", "toy", "baby", "custom", "personalized", "wall",
               "art", "lamp", "blue", "red", "green", "black", "white", "set", "kit",
               "café", "crème", "jalapeño", "straße")

COEFFICIENTS: dict[str, Any] = {
    "intercept": -2.5,
    "shop_effect_sd": 0.5,
    "category_effect_sd": 0.4,
    "device": {"mobile": 0.0, "desktop": 0.15, "tablet": -0.10},
    "category_device_affinity": 0.45,
    "log_position": -0.45,
    "log_price": -0.22,
    "hist_ctr": 6.0,
    "hist_ctr_missing": -0.15,
    "log1p_listing_age_days": -0.05,
    "empty_query": -0.30,
}

COLUMNS: tuple[Column, ...] = (
    Column("row_id", "int64", "key", description="unique row key"),
    Column("request_id", "int64", "group", description="request (query) grouping 1..30 rows"),
    Column("position", "int64", "feature", description="1-based rank within the request"),
    Column("shop_id", "string", "feature", description="'shop_%06d', Zipf-like over 50,000 shops"),
    Column("category", "string", "feature", description="'cat_%03d', 300 values, skewed"),
    Column("device", "string", "feature", description="mobile / desktop / tablet"),
    Column("country", "string", "feature", description="25 ISO 3166 alpha-2 codes"),
    Column("price", "float64", "feature", description="lognormal, heavy tail, > 0"),
    Column("listing_age_days", "float64", "feature", description="skewed, >= 0, some exact 0"),
    Column("hist_ctr", "float64", "feature", nullable=True, description="in [0, 1], ~15 % missing"),
    Column("query", "string", "feature", description="short free text, mixed case, ~5 % empty"),
    Column("click", "int64", "label", description="0/1 from the documented logistic ground truth"),
    Column("bid", "float64", "label", description="bid regression target, > 0"),
    Column("weight", "float64", "weight", description="importance weight: 1.0, 0.5 or 2.0"),
)


def _zipf_p(n: int, s: float) -> np.ndarray:
    p = np.arange(1, n + 1, dtype=np.float64) ** -s
    return p / p.sum()


def _universe(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-shop / per-category / per-country draws. Drawn first, so `true_click_logit` can redraw them."""
    c = COEFFICIENTS
    return {
        "shop_of_rank": rng.permutation(N_SHOPS),
        "shop_effect": rng.normal(0.0, c["shop_effect_sd"], N_SHOPS),
        "category_of_rank": rng.permutation(N_CATEGORIES),
        "category_effect": rng.normal(0.0, c["category_effect_sd"], N_CATEGORIES),
        "category_price_shift": rng.normal(0.0, 0.5, N_CATEGORIES),
        "category_bid_mult": rng.lognormal(0.0, 0.2, N_CATEGORIES),
        "country_bid_mult": rng.lognormal(0.0, 0.3, len(COUNTRIES)),
    }


def _logit(u: dict[str, np.ndarray], *, shop, category, device, position, price, hist_ctr, age,
           empty_query) -> np.ndarray:
    """z of the documented model from integer codes (shop, category, device index) and raw numerics."""
    c = COEFFICIENTS
    device_effect = np.array([c["device"][d] for d in DEVICES])
    missing = np.isnan(hist_ctr)
    return (
        c["intercept"]
        + u["shop_effect"][shop]
        + u["category_effect"][category]
        + device_effect[device]
        + c["category_device_affinity"] * (device == category % len(DEVICES))
        + c["log_position"] * np.log(position)
        + c["log_price"] * np.log(price)
        + c["hist_ctr"] * np.where(missing, 0.0, hist_ctr)
        + c["hist_ctr_missing"] * missing
        + c["log1p_listing_age_days"] * np.log1p(age)
        + c["empty_query"] * empty_query
    )


def _queries(rng: np.random.Generator, n: int) -> np.ndarray:
    empty = rng.random(n) < 0.05
    n_tokens = np.where(empty, 0, 1 + rng.binomial(3, 0.35, n))
    total = int(n_tokens.sum())
    tokens = rng.choice(len(QUERY_VOCAB), size=total, p=_zipf_p(len(QUERY_VOCAB), 1.0))
    case = rng.random(total)
    words = [
        w if u < 0.75 else (w.title() if u < 0.93 else w.upper())
        for w, u in zip((QUERY_VOCAB[t] for t in tokens), case.tolist())
    ]
    out = np.empty(n, dtype=object)
    start = 0
    for i, k in enumerate(n_tokens.tolist()):  # ~30k requests: a plain loop costs a few ms
        out[i] = " ".join(words[start : start + k])
        start += k
    return out


def draw_requests(rng: np.random.Generator, u: dict[str, np.ndarray], n_requests: int, eval_share: float,
                  row_offset: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n_requests`` requests and their rows from the universe ``u``; returns (arrays, is_eval per row).

    The one draw order both generators use (``ads_ctr_large`` calls it with more requests and a row-id
    offset), so ``ads_ctr``'s content hashes do not depend on which module draws.
    """
    single = rng.random(n_requests) < 0.10
    sizes = np.where(single, 1, 1 + rng.binomial(29, 0.3, n_requests))
    request_id = rng.choice(10**12, size=n_requests, replace=False).astype(np.int64)
    req_device = rng.choice(len(DEVICES), size=n_requests, p=[0.62, 0.30, 0.08])
    req_country = rng.choice(len(COUNTRIES), size=n_requests, p=_zipf_p(len(COUNTRIES), 1.2))
    req_query = _queries(rng, n_requests)
    req_eval = rng.random(n_requests) < eval_share

    n = int(sizes.sum())
    req = np.repeat(np.arange(n_requests), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    position = np.arange(n, dtype=np.int64) - starts + 1
    device = req_device[req]
    country = req_country[req]
    shop = u["shop_of_rank"][rng.choice(N_SHOPS, size=n, p=_zipf_p(N_SHOPS, SHOP_ZIPF_S))]
    category = u["category_of_rank"][rng.choice(N_CATEGORIES, size=n, p=_zipf_p(N_CATEGORIES, 0.9))]
    price = np.maximum(np.round(np.exp(3.0 + u["category_price_shift"][category] + 0.8 * rng.standard_normal(n)), 2), 0.01)
    age = np.where(rng.random(n) < 0.04, 0.0, np.round(rng.exponential(120.0, n), 2))
    hist = np.round(1.0 / (1.0 + np.exp(-(-3.4 + 0.8 * u["shop_effect"][shop] + 0.4 * rng.standard_normal(n)))), 4)
    hist[rng.random(n) < np.where(age < 14, 0.40, 0.11)] = np.nan
    query = req_query[req]
    z = _logit(u, shop=shop, category=category, device=device, position=position, price=price,
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


def generate(*, seed: int = DEFAULT_SEED):
    """Generate the dataset: a `harness.golden.writer.GeneratedDataset` with train and eval tables."""
    from harness.golden.writer import GeneratedDataset, arrow_table, library_versions

    rng = np.random.default_rng(seed)
    u = _universe(rng)

    arrays, is_eval = draw_requests(rng, u, N_REQUESTS, EVAL_SHARE)
    splits = {
        "train": arrow_table(COLUMNS, {k: v[~is_eval] for k, v in arrays.items()}),
        "eval": arrow_table(COLUMNS, {k: v[is_eval] for k, v in arrays.items()}),
    }
    provenance = {
        "kind": "generated",
        "generator": "harness.golden.generators.ads_ctr:generate",
        "seed": seed,
        "libraries": library_versions("numpy", "pandas", "pyarrow"),
        "ground_truth": {
            "click": "P(click) = sigmoid(z); z as documented in harness/golden/generators/ads_ctr.py",
            "coefficients": COEFFICIENTS,
            "shop_zipf_exponent": SHOP_ZIPF_S,
            "n_shops": N_SHOPS,
            "n_categories": N_CATEGORIES,
            "bid": "round(0.05 * sqrt(price) * m_country * m_cat * exp(0.3 Z), 4)",
        },
        "split": f"by request: eval = {EVAL_SHARE:.0%} of requests drawn at random",
    }
    description = (
        "Synthetic sponsored-listing clicks: requests of 1..30 ranked listings, Zipf-like shops, "
        "skewed prices, a historical CTR with missing values, a short query; click from a known "
        "logistic ground truth with interactions, bid as a regression target."
    )
    return GeneratedDataset(NAME, VERSION, description, COLUMNS, splits, provenance)


def true_click_logit(frame, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The ground-truth logit z for each row of an ``ads_ctr`` frame (pandas DataFrame)."""
    u = _universe(np.random.default_rng(seed))
    shop = frame["shop_id"].str.slice(5).astype(np.int64).to_numpy() - 1
    category = frame["category"].str.slice(4).astype(np.int64).to_numpy()
    device = frame["device"].map({d: i for i, d in enumerate(DEVICES)}).to_numpy(dtype=np.int64)
    return _logit(
        u, shop=shop, category=category, device=device,
        position=frame["position"].to_numpy(np.float64), price=frame["price"].to_numpy(np.float64),
        hist_ctr=frame["hist_ctr"].to_numpy(np.float64), age=frame["listing_age_days"].to_numpy(np.float64),
        empty_query=(frame["query"] == "").to_numpy(bool),
    )
