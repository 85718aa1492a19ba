"""Plot data (harness.plots): axes that follow the data, the diagonal kept for identical scores, and the
new − legacy summary checked against a plain per-bin loop with pandas' quantiles."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from harness.plots import plot_data


def _scores(seed=0, n=20_000):
    rng = np.random.default_rng(seed)
    legacy = rng.beta(2, 12, size=n)  # a click-through model: nearly all scores below 0.3
    return legacy, legacy + rng.normal(0, 1e-7, size=n)


def test_axes_span_the_data_not_zero_to_one():
    legacy, new = _scores()
    plots = plot_data(legacy, new)
    lo, hi = min(legacy.min(), new.min()), max(legacy.max(), new.max())
    for edges in (plots["hexbin"]["x_edges"], plots["hexbin"]["y_edges"], plots["score_hist"]["edges"]):
        assert edges[0] == lo and edges[-1] == hi
    assert plots["hexbin"]["x_edges"] == plots["hexbin"]["y_edges"]  # one set of edges for both axes
    # Every row is counted: the maximum sits in the last bin, nothing falls outside.
    assert np.sum(plots["hexbin"]["counts"]) == len(legacy)
    assert sum(plots["score_hist"]["legacy"]) == sum(plots["score_hist"]["new"]) == len(legacy)


@pytest.mark.parametrize("bins", [7, 40])
def test_identical_scores_on_bin_edges_stay_on_the_diagonal(bins):
    # Scores placed exactly on every edge numpy will use (the pooled range split into `bins`), plus
    # random ones; both sides identical, so every row must land on the diagonal.
    rng = np.random.default_rng(bins)
    edges = np.linspace(0.013, 0.271, bins + 1)
    scores = np.concatenate([edges, edges, rng.uniform(edges[0], edges[-1], 500)])
    counts = np.asarray(plot_data(scores, scores.copy(), hex_bins=bins)["hexbin"]["counts"])
    assert counts.sum() == len(scores)
    assert np.trace(counts) == len(scores), "a row with equal scores was drawn off the diagonal"


def _reference_diff_by_score(score, diff, edges):
    rows = []
    for b in range(len(edges) - 1):
        last = b == len(edges) - 2
        inside = [(edges[b] <= s) and (s <= edges[b + 1] if last else s < edges[b + 1]) for s in score]
        d = pd.Series(diff[np.asarray(inside)])
        rows.append({"count": len(d), "min": d.min(), "p01": d.quantile(0.01), "median": d.median(),
                     "p99": d.quantile(0.99), "max": d.max()})
    return rows


@pytest.mark.parametrize("kind", ["continuous", "tied"])
def test_diff_by_score_matches_a_plain_loop(kind):
    rng = np.random.default_rng(3)
    n = 3000
    legacy = rng.beta(2, 12, size=n) if kind == "continuous" else rng.choice([0.05, 0.1, 0.4], size=n)
    diff = rng.standard_t(3, size=n) * 1e-7
    got = plot_data(legacy, legacy + diff, diff_bins=20)["diff_by_score"]
    edges = got["edges"]
    # Edges are scores that occur, in increasing order; with ties the bins merge, none is empty.
    assert edges == sorted(set(edges)) and set(edges) <= set(legacy.tolist())
    assert edges[0] == legacy.min() and edges[-1] == legacy.max()
    assert min(got["count"]) > 0 and sum(got["count"]) == n
    if kind == "continuous":
        assert len(got["count"]) == 20 and max(got["count"]) - min(got["count"]) <= 2  # equal rows per bin
    else:
        assert len(got["count"]) == 2  # three distinct scores: two bins, the top one closed
    # The difference is recomputed from the scores (new - legacy), so compare with that, not `diff`.
    ref = _reference_diff_by_score(legacy, (legacy + diff) - legacy, edges)
    for key in ("count", "min", "median", "max", "p01", "p99"):
        np.testing.assert_allclose(got[key], [r[key] for r in ref], rtol=1e-12, atol=0, err_msg=key)


def test_size_does_not_depend_on_rows():
    small = json.dumps(plot_data(*_scores(1, 2_000)))
    big = json.dumps(plot_data(*_scores(1, 200_000)))
    assert len(big) < 1.2 * len(small)  # same bins; only the digits of the counts grow


def test_constant_scores_still_have_a_bin_to_draw():
    plots = plot_data(np.full(10, 0.25), np.full(10, 0.25))
    edges = plots["hexbin"]["x_edges"]
    assert edges[0] < 0.25 < edges[-1] and np.trace(np.asarray(plots["hexbin"]["counts"])) == 10
    assert plots["diff_by_score"]["count"] == [10] and plots["diff_by_score"]["max"] == [0.0]


def test_scores_spanning_decades_get_log_spaced_bins():
    rng = np.random.default_rng(5)
    legacy = 1 / (1 + np.exp(-rng.normal(-3.3, 1.0, 5000)))  # CTR-like: 0.0005 .. 0.5
    plots = plot_data(legacy, legacy.copy())
    for part, edges in (("score_hist", plots["score_hist"]["edges"]), ("hexbin", plots["hexbin"]["x_edges"])):
        assert plots[part]["axis"] == "log"
        ratios = np.diff(np.log(edges))
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # equal widths in log space
        assert edges[0] == legacy.min() and edges[-1] == legacy.max()
    assert sum(plots["score_hist"]["legacy"]) == 5000 and np.trace(np.asarray(plots["hexbin"]["counts"])) == 5000
    narrow = plot_data(np.linspace(0.2, 0.6, 100), np.linspace(0.2, 0.6, 100))
    assert narrow["score_hist"]["axis"] == narrow["hexbin"]["axis"] == "linear"
    signed = plot_data(np.linspace(-3, 4, 100), np.linspace(-3, 4, 100))  # logits: no log axis below zero
    assert signed["score_hist"]["axis"] == "linear"


@pytest.mark.parametrize("seed", range(3))
def test_score_histogram_counts_are_numpys_with_and_without_shared_orders(seed):
    """The score histogram counts rows from the shared sort order (`harness.plots._histogram`): the same
    counts as np.histogram with the same edges, for ties, values on edges, the maximum, values
    outside the edges, more rows than numpy's sort block (65,536), inside and outside a
    `shared_orders` block."""
    from harness.plots import _histogram
    from harness.stats.ordering import shared_orders

    rng = np.random.default_rng(seed)
    x = np.round(rng.beta(2, 12, size=70_001), 3)  # many ties
    for edges in (np.linspace(x.min(), x.max(), 51), np.geomspace(0.01, 0.2, 30), np.unique(x[:40]),
                  np.array([x.min(), x.min(), 0.1, x.max()])):
        want = np.histogram(x, bins=edges)[0]
        assert _histogram(x, edges).tolist() == want.tolist()
        with shared_orders():
            assert _histogram(x, edges).tolist() == want.tolist()
            assert _histogram(x.copy(), edges).tolist() == want.tolist()  # found again by content


@pytest.mark.parametrize("bad, shown", [(True, "True"), ("0.5", "'0.5'"), ([1], "[1]")])
def test_a_heat_map_names_the_first_value_that_is_not_a_number(bad, shown):
    from harness.errors import ParityInputError
    from harness.report.svg import heatmap

    hexbin = {"x_edges": [0.0, 0.5, 1.0], "y_edges": [0.0, 0.5, 1.0], "counts": [[3, None], [0.0, bad]]}
    with pytest.raises(ParityInputError, match=rf"^plot data hexbin\.counts\[1\]\[1\]: expected a number, got {re.escape(shown)}$"):
        heatmap(hexbin, plot_id="p")
    hexbin["counts"][1][1] = 2  # ints, floats and missing cells (None) are numbers
    assert heatmap(hexbin, plot_id="p").count('class="cell"') == 2
