"""Migration gate: legacy bid regression, HistGradientBoostingRegressor (scikit-learn) -> Keras MLP (TF),
both retrained.

Data: `ads_ctr_large` 1.1.0 (226,106 train / 1,275,239 eval rows), label ``bid`` (> 0, a multiplicative function of
price, country and category times LogNormal(0, 0.3) noise; see harness/golden/generators/ads_ctr.py).
Pair (both trained from scratch on the train split, squared error, sides cached, see ads_sides.py): legacy
HistGradientBoostingRegressor (100 iterations, lr 0.1, 31 leaves) on the pandas features; new
`new_platform.retrained.deep_regressor` (embeddings of 4, MLP 32-16, 2 epochs of Adam lr 0.003, batch
1024, seed 0, output bias started at the mean bid) on the TF features, exported and scored through the
SavedModel's serving signature.

Features: both sides featurize from one FeatureSpec (the pandas `LegacyFeaturizer`; the SavedModel's TF
`featurize` signature), so the 15 features are checked row by row as in ctr_logreg, ids exactly and floats
within 4 ULP (measured: at most 2 ULP, on log_price, log_listing_age and position_log): a featurization bug
is caught although the models differ. Cost: ~4 s CPU for both featurizations and the checks of 1.28M rows.

Metric margins: non-inferiority at 1 % of legacy for RMSE and MAE (alpha 0.05, Holm across metrics x
slices). 1 % of bid error is the smallest change the pricing side tracks; a better bid model passes, a
worse one by more than 1 % does not. Resolvable (SEs on this eval split; mdd = 2.49 SE, in the report): RMSE
SE 0.00007 on all rows (mdd 0.18 % of legacy's 0.0969), tablet 0.00024 (mdd 0.63 %); MAE SE 0.00003 (mdd
0.11 %), tablet 0.00011 (mdd 0.42 %). Measured: the new model is better, RMSE -3.1 % and MAE -2.1 % (tablet
-4.3 % and -3.4 %). A gain is reviewed, not gated: `TooGood` flags an RMSE gain beyond 5 % of legacy. The
generator's conditional mean has RMSE 0.0919 on the 526,269 eval rows of ads_ctr_large 1.0.0, 4.9 % under
legacy's there: no model gains more without a leak.
Slices: device (ads are priced per device). No crossed slice (see the click suite: device x country cells
cannot resolve 1 %).

Prediction gates (the two models differ row by row by design): rank correlation of the bids at least 0.974 =
rho(legacy, truth)^2 (0.987^2 on the 1.0.0 eval rows, the agreement two models as good as legacy with
independent errors would have); bid distribution by KS, PSI and Wasserstein at the harness's default
"stable" thresholds, since budgets and reserve prices are set on the distribution. No decision flips (a bid
is a price, not a decision) and no top-k (the ranking suite judges the order).
"""
from __future__ import annotations

import sys
from pathlib import Path

from harness.checks.retrained import DistributionGate, RankGate, RetrainedPredictionGates
from harness.checks.review_items import TooGood
from harness.serving import CostGate, ServingGate
from harness.suite import MetricGate, Suite

# The shared sides and declarations live next to this file (ads_sides.py, ads_declarations.py); `parity run`
# puts this folder on sys.path, pytest under --import-mode=importlib does not.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import ads_sides  # noqa: E402  (this import and the next need the sys.path entry above)
from ads_declarations import RETRAINED_FEATURES, ads_pair  # noqa: E402


SUITE = Suite(
    name="bid_regression",
    description=__doc__.split("\n\n")[0].replace("\n", " "),
    dataset="ads_ctr_large",
    split="eval",
    label="bid",
    pair=ads_pair(ads_sides.legacy_bid_side, ads_sides.new_bid_side,
                  "sklearn HistGradientBoostingRegressor vs Keras MLP regressor (SavedModel), retrained"),
    # The features both sides produce, checked row by row (ads_declarations.py says why 4 ULP).
    **RETRAINED_FEATURES,
    predictions=RetrainedPredictionGates(
        distribution=DistributionGate(statistics=("ks", "psi", "wasserstein"),
                                      reason="budgets and reserve prices are set on the bid distribution"),
        rank_correlation=RankGate(min_spearman=0.974,
                                  reason="rho(legacy, truth)^2 = 0.987^2: what two models as good as legacy with "
                                         "independent errors share"),
    ),
    metrics=[
        MetricGate("rmse", 0.01, kind="relative", test="non_inferiority",
                   reason="1 % of bid error is the smallest change pricing tracks; mdd 0.18 % (tablet 0.63 %)"),
        MetricGate("mae", 0.01, kind="relative", test="non_inferiority",
                   reason="1 % of bid error is the smallest change pricing tracks; mdd 0.11 % (tablet 0.42 %)"),
    ],
    too_good=TooGood({"rmse": 0.05}, kind="relative",
                     reason="the generator's conditional mean is 4.9 % under legacy's RMSE: no model gains more "
                            "without a leak or another eval set"),
    slices=["device"],
    min_slice_size=1000,
    alpha=0.05,
    n_boot=1000,
    # Serving and cost gates, judged in every suite run after the accuracy checks (both sides in process,
    # interleaved rounds, median per-round ratio new / legacy with its exact 90 % interval), margins fixed
    # before the first measurement. The bid model is called once per listing on the auction's critical
    # path and in bulk when budgets are re-planned; a retrain (trees -> MLP) keeps the fleet and the
    # auction's deadline, so the budgets are a port's.
    serving=[
        ServingGate("p99", batch_size=1, max_ratio=1.5, reason="one bid per call inside the auction's deadline; "
                    "the migration may add at most half again to its tail"),
        ServingGate("p99", batch_size=1024, max_ratio=1.5, reason="bulk bid re-planning; the same tail budget"),
        CostGate("cpu_per_1k", batch_size=1024, max_ratio=1.2, reason="the serving fleet is sized on CPU per "
                 "prediction; 20 % is its capacity headroom"),
    ],
)
