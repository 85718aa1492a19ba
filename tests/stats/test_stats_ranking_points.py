"""paired_bootstrap's ranking metrics group the rows once per side for the point estimate and the
kernel: the point estimates are the metric functions' own values bit for bit (weighted or not), and a
side the metric refuses is named as before."""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.stats import metrics as M
from harness.stats.bootstrap import paired_bootstrap


def data(seed: int, n_groups: int = 300):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, n_groups)
    g = np.repeat(rng.permutation(10 * n_groups)[:n_groups], sizes)  # scattered, non-dense ids
    n = g.shape[0]
    rel = (rng.random(n) < 0.3).astype(int) * rng.integers(1, 4, n)
    sa = np.round(rng.normal(size=n) + rel, 1)  # ties within groups
    sb = (sa + rng.normal(scale=0.3, size=n)).astype(np.float32)
    gw = rng.gamma(2.0, size=10 * n_groups)[g]  # constant within each group
    perm = rng.permutation(n)
    return rel[perm], sa[perm], sb[perm], g[perm], gw[perm]


@pytest.mark.parametrize("name", ["ndcg@1", "ndcg@5", "mrr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ranking_point_estimates_are_the_metrics_own(name, weighted):
    rel, sa, sb, g, gw = data(4)
    w = gw if weighted else None
    fn = M.get_metric(name).fn
    r = paired_bootstrap(name, rel, sa, sb, groups=g, sample_weight=w, n_boot=20, seed=2)
    assert r.legacy == fn(rel, sa, g, sample_weight=w)
    assert r.new == fn(rel, sb, g, sample_weight=w)
    assert r.diff == r.new - r.legacy


def test_ranking_refusal_names_the_side():
    rel, sa, sb, g, gw = data(5)
    ids, counts = np.unique(g, return_counts=True)
    bad = gw.copy()
    bad[np.flatnonzero(g == ids[np.argmax(counts)])[-1]] += 1.0  # not constant within a group
    with pytest.raises(ParityInputError, match="metric 'ndcg@5' on score_legacy: sample_weight: ranking weights"):
        paired_bootstrap("ndcg@5", rel, sa, sb, groups=g, sample_weight=bad, n_boot=20)
    with pytest.raises(ParityInputError, match="metric 'mrr' on score_new: y_score: expected finite"):
        paired_bootstrap("mrr", rel, sa, np.where(np.arange(sb.shape[0]) == 3, np.nan, sb), groups=g, n_boot=20)
