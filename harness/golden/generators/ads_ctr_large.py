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
from harness.golden.generators.ads_ctr import COEFFICIENTS, COLUMNS, N_CATEGORIES, N_SHOPS

__all__ = ["DEFAULT_SEED", "EVAL_SHARE", "EXTRA_EVAL_REQUESTS", "NAME", "N_REQUESTS", "VERSION", "generate"]

NAME = "ads_ctr_large"
VERSION = "1.1.0"
DEFAULT_SEED = ads_ctr.DEFAULT_SEED
N_REQUESTS = 85_000
EVAL_SHARE = 0.7
# 1.1.0: the eval split grew (train unchanged) so the click suite's tablet calibration can be decided
EXTRA_EVAL_REQUESTS = 85_000




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
    arrays, is_eval = ads_ctr.draw_requests(rng, u, n_requests, eval_share, 0)
    if extra_eval_requests:
        extra, _ = ads_ctr.draw_requests(np.random.default_rng([seed, 1]), u, extra_eval_requests, 1.0, len(is_eval))
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
