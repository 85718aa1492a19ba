"""Intervals at the edges: size and coverage of the AUC-difference interval for AUC up to 0.999.

Data: the binormal model. Negatives score N(0, 1), positives N(d, 1), so AUC = Phi(d / sqrt(2)) exactly;
the two models share a latent normal with correlation rho. The number of positives is fixed per setting
(n x prevalence; DeLong's variance is conditional on it).

Margin: 2.5 x the median DeLong standard error of the difference at a true difference of 0 (a seeded
pilot of 50 datasets), so the test has power (~0.6) and the margin is realistic for that n. The two
models' true AUCs are AUC and AUC - margin (so both stay below 1), in both orders: new better by the
margin and new worse by the margin. At each, EQUIVALENT is a false claim.

Checks per setting (N datasets per side, seeded):
- size: P(EQUIVALENT) <= alpha + 2.5 binomial standard errors, for each side separately (a one-sided
  miss is what the issue measured);
- coverage of the nominal 95 % interval, pooled over both sides (2N datasets): in [0.93, 0.97].
The raw-scale normal interval (pROC's) is computed on the same data; at the hardest setting it must fail
the size bound, which shows the simulation can catch the defect it is here for.

Average precision (`paired_average_precision`, DeLong's construction with leave-one-out AP components):
the same design with the margin in AP units; the population AP of the binormal model at prevalence pi is
the integral of precision over recall, ``int pi TPR / (pi TPR + (1 - pi) FPR) dTPR`` (numerical
quadrature), and the worse model's separation is solved so that the true AP difference is the margin.
Fewer settings (n = 1000 at every AUC and prevalence, and the hardest n = 5000 one) and 500 datasets per
side, to keep the file to a few minutes.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import brentq

from harness.stats.delong import delong_paired, paired_average_precision
from harness.stats.equivalence import decide
from harness.verdicts import Verdict

ALPHA = 0.05
N_PER_SIDE = 800  # size bound 0.05 + 2.5 * 0.0077 = 0.069; pooled coverage: 1600 datasets, se 0.54 %
CHUNK = 200


def size_bound(n_sims: int, alpha: float = ALPHA) -> float:
    return alpha + 2.5 * math.sqrt(alpha * (1 - alpha) / n_sims)


def _labels(n: int, prevalence: float) -> np.ndarray:
    y = np.zeros(n)
    y[: int(round(n * prevalence))] = 1.0
    return y


def _datasets(rng, n_sims, y, auc_a, auc_b, rho):
    """(legacy, new) score matrices, CHUNK datasets at a time."""
    da, db = math.sqrt(2) * stats.norm.ppf(auc_a), math.sqrt(2) * stats.norm.ppf(auc_b)
    for lo in range(0, n_sims, CHUNK):
        k = min(CHUNK, n_sims - lo)
        z1 = rng.standard_normal((k, y.shape[0]))
        z2 = rho * z1 + math.sqrt(1 - rho**2) * rng.standard_normal((k, y.shape[0]))
        yield from zip(z1 + da * y, z2 + db * y)


def simulate_delong(auc, n, prevalence, rho, n_sims, seed):
    """Measured rates of the decision interval and of the normal one at true diff = +-margin."""
    rng = np.random.default_rng(seed)
    y = _labels(n, prevalence)
    pilot = [delong_paired(y, a, b).se for a, b in _datasets(rng, 50, y, auc, auc, rho)]
    margin = 2.5 * float(np.median(pilot))
    out = {"margin": margin, "size": {}, "size_normal": {}, "covered": 0, "covered_normal": 0, "df": []}
    for side in (+1, -1):
        auc_a, auc_b = (auc - margin, auc) if side > 0 else (auc, auc - margin)
        true = auc_b - auc_a
        assert true == pytest.approx(side * margin, rel=1e-12)
        eq = eq_normal = 0
        for a, b in _datasets(rng, n_sims, y, auc_a, auc_b, rho):
            r = delong_paired(y, a, b)
            out["df"].append(r.df)
            eq += decide(r.diff, *r.ci_at(2 * ALPHA), margin) is Verdict.EQUIVALENT
            eq_normal += decide(r.diff, *r.ci_normal_at(2 * ALPHA), margin) is Verdict.EQUIVALENT
            lo, hi = r.ci  # at ALPHA
            nlo, nhi = r.ci_normal_at(ALPHA)
            out["covered"] += lo <= true <= hi
            out["covered_normal"] += nlo <= true <= nhi
        out["size"][side] = eq / n_sims
        out["size_normal"][side] = eq_normal / n_sims
    out["coverage"] = out["covered"] / (2 * n_sims)
    out["coverage_normal"] = out["covered_normal"] / (2 * n_sims)
    return out


GRID = [(auc, n, prev, 0.8) for auc in (0.8, 0.95, 0.99, 0.999) for n in (1000, 5000) for prev in (0.1, 0.3)]
# nearly identical models (the usual migration), at the easiest and the hardest edge
GRID += [(0.999, 1000, 0.1, 0.98), (0.8, 1000, 0.3, 0.98)]


@pytest.mark.slow
@pytest.mark.parametrize("auc,n,prevalence,rho", GRID,
                         ids=[f"auc{a}-n{n}-prev{p}-rho{r}" for a, n, p, r in GRID])
def test_delong_interval_size_and_coverage(auc, n, prevalence, rho):
    seed = int(auc * 1e4) * 100 + int(n / 1000) * 10 + int(prevalence * 10) + int(rho * 100) * 10**6
    res = simulate_delong(auc, n, prevalence, rho, N_PER_SIDE, seed)
    bound = size_bound(N_PER_SIDE)
    print(f"\nAUC {auc} n {n} prevalence {prevalence} rho {rho}: margin {res['margin']:.5f}, "
          f"median df {np.median(res['df']):.1f}; size new better / worse {res['size'][1]:.3f} / "
          f"{res['size'][-1]:.3f} (normal {res['size_normal'][1]:.3f} / {res['size_normal'][-1]:.3f}); "
          f"coverage {res['coverage']:.3f} (normal {res['coverage_normal']:.3f})")
    for side in (+1, -1):
        assert res["size"][side] <= bound, (side, res["size"], bound)
    assert 0.93 <= res["coverage"] <= 0.97, res["coverage"]
    if (auc, n, prevalence) == (0.999, 1000, 0.1):
        # the defect this file guards against: the raw-scale normal interval fails here
        assert max(res["size_normal"].values()) > bound and res["coverage_normal"] < 0.93


# ------------------------------------------------------------------------------------------------
# average precision
# ------------------------------------------------------------------------------------------------

def true_ap(d: float, prevalence: float) -> float:
    """Population AP of the binormal model: threshold c, TPR = Phi(d - c), FPR = Phi(-c)."""
    def integrand(c):
        tpr, fpr = stats.norm.cdf(d - c), stats.norm.cdf(-c)
        return stats.norm.pdf(d - c) * prevalence * tpr / (prevalence * tpr + (1 - prevalence) * fpr)
    return integrate.quad(integrand, -12.0, d + 12.0, limit=400, epsabs=1e-13, epsrel=1e-12)[0]


def test_true_ap_matches_a_large_sample():
    rng = np.random.default_rng(0)
    n, prev, d = 400_000, 0.1, 2.0
    y = rng.random(n) < prev
    s = rng.standard_normal(n) + d * y
    from harness.stats.metrics import average_precision

    assert average_precision(y, s) == pytest.approx(true_ap(d, prev), abs=0.004)  # ~4 sd of the estimate


def simulate_ap(auc, n, prevalence, rho, n_sims, seed):
    rng = np.random.default_rng(seed)
    y = _labels(n, prevalence)
    d_hi = math.sqrt(2) * stats.norm.ppf(auc)
    pilot = [paired_average_precision(y, a, b).se for a, b in _datasets(rng, 50, y, auc, auc, rho)]
    margin = 2.5 * float(np.median(pilot))
    ap_hi = true_ap(d_hi, prevalence)
    d_lo = brentq(lambda d: true_ap(d, prevalence) - (ap_hi - margin), 1e-3, d_hi, xtol=1e-14)
    auc_lo = float(stats.norm.cdf(d_lo / math.sqrt(2)))  # the worse model's AUC, for _datasets
    out = {"margin": margin, "ap": ap_hi, "size": {}, "covered": 0}
    for side in (+1, -1):
        auc_a, auc_b = (auc_lo, auc) if side > 0 else (auc, auc_lo)
        true = side * margin
        eq = 0
        for a, b in _datasets(rng, n_sims, y, auc_a, auc_b, rho):
            r = paired_average_precision(y, a, b)
            eq += decide(r.diff, *r.ci_at(2 * ALPHA), margin) is Verdict.EQUIVALENT
            lo, hi = r.ci
            out["covered"] += lo <= true <= hi
        out["size"][side] = eq / n_sims
    out["coverage"] = out["covered"] / (2 * n_sims)
    return out


AP_N_PER_SIDE = 500  # size bound 0.05 + 2.5 * 0.0097 = 0.074; pooled coverage: 1000 datasets, se 0.69 %
AP_GRID = [(auc, 1000, prev, 0.8) for auc in (0.8, 0.95, 0.99, 0.999) for prev in (0.1, 0.3)]
AP_GRID += [(0.999, 5000, 0.1, 0.8)]


@pytest.mark.slow
@pytest.mark.parametrize("auc,n,prevalence,rho", AP_GRID,
                         ids=[f"auc{a}-n{n}-prev{p}-rho{r}" for a, n, p, r in AP_GRID])
def test_average_precision_interval_size_and_coverage(auc, n, prevalence, rho):
    seed = 7 + int(auc * 1e4) * 100 + int(n / 1000) * 10 + int(prevalence * 10)
    res = simulate_ap(auc, n, prevalence, rho, AP_N_PER_SIDE, seed)
    bound = size_bound(AP_N_PER_SIDE)
    print(f"\nAP at AUC {auc} (AP {res['ap']:.4f}) n {n} prevalence {prevalence} rho {rho}: margin "
          f"{res['margin']:.5f}; size new better / worse {res['size'][1]:.3f} / {res['size'][-1]:.3f}; "
          f"coverage {res['coverage']:.3f}")
    for side in (+1, -1):
        assert res["size"][side] <= bound, (side, res["size"], bound)
    assert 0.93 <= res["coverage"] <= 0.97, res["coverage"]
