"""Weighted average precision at the edges: size and coverage of `paired_average_precision_weighted`.

Data: the binormal model of test_verdicts_edges.py (negatives N(0, 1), positives N(d, 1), the two models
sharing a latent normal with correlation rho; positives fixed at n x prevalence), with row weights drawn
from a gamma distribution independently of labels and scores. Independent weights leave the population
AP unchanged, so the true AP is the quadrature of precision over recall, as in the unweighted file.

Margin: 2.5 x the median standard error of the weighted AP difference at a true difference of 0 (a
seeded pilot of 50 datasets); the worse model's separation is solved so that the true AP difference is
the margin, in both orders (new better / new worse by the margin); EQUIVALENT is then a false claim.

Checks per setting (N datasets per side, seeded): size P(EQUIVALENT) <= alpha + 2.5 binomial standard
errors for each side; coverage of the nominal 95 % interval, pooled over both sides, in [0.93, 0.97].
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import brentq

from harness.stats.delong import paired_average_precision_weighted
from harness.stats.equivalence import decide
from harness.verdicts import Verdict

ALPHA = 0.05
N_PER_SIDE = 500  # size bound 0.05 + 2.5 * 0.0097 = 0.074; pooled coverage: 1000 datasets, se 0.69 %
CHUNK = 100


def size_bound(n_sims: int, alpha: float = ALPHA) -> float:
    return alpha + 2.5 * math.sqrt(alpha * (1 - alpha) / n_sims)


def true_ap(d: float, prevalence: float) -> float:
    """Population AP of the binormal model: threshold c, TPR = Phi(d - c), FPR = Phi(-c)."""
    def integrand(c):
        tpr, fpr = stats.norm.cdf(d - c), stats.norm.cdf(-c)
        return stats.norm.pdf(d - c) * prevalence * tpr / (prevalence * tpr + (1 - prevalence) * fpr)
    return integrate.quad(integrand, -12.0, d + 12.0, limit=400, epsabs=1e-13, epsrel=1e-12)[0]


def _datasets(rng, n_sims, y, d_a, d_b, rho, shape):
    """(legacy, new, weight) per dataset, CHUNK datasets at a time."""
    for lo in range(0, n_sims, CHUNK):
        k = min(CHUNK, n_sims - lo)
        z1 = rng.standard_normal((k, y.shape[0]))
        z2 = rho * z1 + math.sqrt(1 - rho**2) * rng.standard_normal((k, y.shape[0]))
        w = rng.gamma(shape, 1.0 / shape, (k, y.shape[0]))
        yield from zip(z1 + d_a * y, z2 + d_b * y, w)


def simulate(auc, n, prevalence, rho, shape, n_sims, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[: int(round(n * prevalence))] = 1.0
    d_hi = math.sqrt(2) * stats.norm.ppf(auc)
    pilot = [paired_average_precision_weighted(y, a, b, sample_weight=w).se
             for a, b, w in _datasets(rng, 50, y, d_hi, d_hi, rho, shape)]
    margin = 2.5 * float(np.median(pilot))
    ap_hi = true_ap(d_hi, prevalence)
    d_lo = brentq(lambda d: true_ap(d, prevalence) - (ap_hi - margin), 1e-3, d_hi, xtol=1e-14)
    out = {"margin": margin, "ap": ap_hi, "size": {}, "covered": 0, "df": []}
    for side in (+1, -1):
        d_a, d_b = (d_lo, d_hi) if side > 0 else (d_hi, d_lo)
        true = side * margin
        eq = 0
        for a, b, w in _datasets(rng, n_sims, y, d_a, d_b, rho, shape):
            r = paired_average_precision_weighted(y, a, b, sample_weight=w)
            out["df"].append(r.df)
            eq += decide(r.diff, *r.ci_at(2 * ALPHA), margin) is Verdict.EQUIVALENT
            lo, hi = r.ci
            out["covered"] += lo <= true <= hi
        out["size"][side] = eq / n_sims
    out["coverage"] = out["covered"] / (2 * n_sims)
    return out


# gamma shape 2: weights with coefficient of variation 0.71; shape 0.5: 1.41 (heavy, a few rows dominate)
GRID = [(0.8, 1000, 0.1, 0.8, 2.0), (0.99, 1000, 0.1, 0.8, 2.0), (0.8, 1000, 0.1, 0.8, 0.5),
        (0.99, 1000, 0.1, 0.8, 0.5)]


@pytest.mark.slow
@pytest.mark.parametrize("auc,n,prevalence,rho,shape", GRID,
                         ids=[f"auc{a}-n{n}-prev{p}-rho{r}-gamma{k}" for a, n, p, r, k in GRID])
def test_weighted_average_precision_interval_size_and_coverage(auc, n, prevalence, rho, shape):
    seed = 11 + int(auc * 1e4) * 100 + int(shape * 10)
    res = simulate(auc, n, prevalence, rho, shape, N_PER_SIDE, seed)
    bound = size_bound(N_PER_SIDE)
    print(f"\nweighted AP at AUC {auc} (AP {res['ap']:.4f}) n {n} prevalence {prevalence} rho {rho} gamma "
          f"shape {shape}: margin {res['margin']:.5f}, median df {np.median(res['df']):.1f}; size new better / "
          f"worse {res['size'][1]:.3f} / {res['size'][-1]:.3f}; coverage {res['coverage']:.3f}")
    for side in (+1, -1):
        assert res["size"][side] <= bound, (side, res["size"], bound)
    assert 0.93 <= res["coverage"] <= 0.97, res["coverage"]
