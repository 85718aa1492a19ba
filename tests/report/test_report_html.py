"""report.html: every plot present with a stable id, self-contained, escaped, size independent of rows."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from harness.errors import ParityInputError
from harness.report import build_report, render_html
from harness.report.svg import heatmap


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(html: str) -> list[tuple[str, dict[str, str]]]:
    p = _Collect()
    p.feed(html)
    return p.tags


def test_every_plot_is_present_with_a_stable_id(suite_results):
    tags = _parse(render_html(build_report(suite_results)))
    plots = {(a.get("data-plot"), a.get("id")) for t, a in tags if t == "svg"}
    assert plots == {
        ("forest", "forest-plot"),
        ("hexbin", "hexbin-s0-ctr_logreg"), ("score_hist", "score-hist-s0-ctr_logreg"),
        ("calibration", "calibration-s0-ctr_logreg"), ("diff_by_score", "diff-by-score-s0-ctr_logreg"),
        ("hexbin", "hexbin-s1-ctr_gbdt"), ("score_hist", "score-hist-s1-ctr_gbdt"),
        ("calibration", "calibration-s1-ctr_gbdt"), ("diff_by_score", "diff-by-score-s1-ctr_gbdt"),
    }
    ids = {a.get("id") for t, a in tags}
    for table_id in ("suites", "features-s0-ctr_logreg", "slices-s1-ctr_gbdt", "upgrade-s1-ctr_gbdt",
                     "fingerprints-s1-ctr_gbdt", "verdict"):
        assert table_id in ids
    # One forest row per metric check (4 per suite), each naming its check and verdict.
    rows = [a for t, a in tags if t == "g" and a.get("class") == "forest-row"]
    assert len(rows) == 8
    assert {"data-check": "ctr_gbdt::metrics/logloss", "data-verdict": "NOT_EQUIVALENT"}.items() <= next(
        r for r in rows if r["data-check"] == "ctr_gbdt::metrics/logloss").items()


def test_self_contained(suite_results):
    html = render_html(build_report(suite_results))
    tags = _parse(html)
    assert not [t for t, _ in tags if t in ("link", "img", "iframe", "object", "embed")]
    assert not [a for _, a in tags if "src" in a or ("href" in a and not a["href"].startswith("#"))]
    assert "http://" not in html and "https://" not in html and "url(" not in html and "@import" not in html
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'")


def test_text_is_escaped(suite_results):
    html = render_html(build_report(suite_results))
    assert "logistic regression &lt;b&gt;&amp; friends&lt;/b&gt;" in html
    assert "<b>& friends" not in html
    assert html.count("<script>") == 1  # only ours; the upgrade note "<script>alert(1)</script>" is escaped
    assert "note: &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;newton|cg&gt;" in html


def test_fingerprints_side_by_side_mark_differences(suite_results):
    html = render_html(build_report(suite_results))
    table = html.split('id="fingerprints-s1-ctr_gbdt"', 1)[1].split("</table>", 1)[0]
    assert '<tr class="differs"><td><code>packages.numpy</code></td><td>2.3.0</td><td>2.4.0</td></tr>' in table
    assert "<tr><td><code>python</code></td><td>3.11.7</td><td>3.11.7</td></tr>" in table


def test_size_does_not_grow_with_rows(make_result):
    small = render_html(build_report([make_result(rows=2_000)]))
    big = render_html(build_report([make_result(rows=200_000)]))
    # 100x the rows: the plots have the same bins, so the page may differ only by filled heat-map cells
    # (at most 40 x 40 of them).
    assert len(big) < 1.3 * len(small)
    assert len(big) < 400_000


def test_heatmap_orientation_follows_histogram2d():
    # One row with legacy 0.05 (low x) and new 0.95 (high y): its cell is drawn top-left.
    edges = np.linspace(0, 1, 11)
    counts, _, _ = np.histogram2d([0.05], [0.95], bins=[edges, edges])
    svg = heatmap({"x_edges": edges.tolist(), "y_edges": edges.tolist(), "counts": counts.tolist()}, plot_id="h")
    rects = [a for t, a in _parse(svg) if t == "rect" and a.get("class") == "cell"]
    assert len(rects) == 1
    # Plot area: x from 60 to 420, y from 12 (top) to 372; a cell is 36 px.
    assert (float(rects[0]["x"]), float(rects[0]["y"])) == (60.0, 12.0)


def test_malformed_plot_data_is_a_clear_error():
    with pytest.raises(ParityInputError, match=r"hexbin.counts: expected 2 rows"):
        heatmap({"x_edges": [0, 0.5, 1], "y_edges": [0, 1], "counts": [[1]]}, plot_id="h")
    with pytest.raises(ParityInputError, match=r"hexbin.counts\[0\]: expected 1 values, got 2"):
        heatmap({"x_edges": [0, 1], "y_edges": [0, 1], "counts": [[1, 2]]}, plot_id="h")


def test_verdict_banner_and_sample_warning(make_result):
    html = render_html(build_report([make_result(sample={"rows": 5000, "seed": 3})]))
    tags = dict((a.get("id"), a) for t, a in _parse(html) if a.get("id"))
    assert tags["verdict"]["data-verdict"] == "EQUIVALENT"
    assert "sample-warning" in tags
    assert "Sampled run: 5,000 rows per suite (seed 3)" in html
    unsampled = render_html(build_report([make_result()]))
    assert "sample-warning" not in {a.get("id") for _, a in _parse(unsampled)}


def test_partial_run_and_errors_in_the_banner(make_result):
    from harness.results import CheckResult, SuiteResult
    from harness.verdicts import Verdict

    crashed = SuiteResult(suite="crashed", description="", dataset={}, seed=0, checks=[CheckResult(
        id="metrics/auc", kind="metric", verdict=Verdict.NOT_EQUIVALENT, summary="ERROR: KeyError: 'model_path'",
        message="suite 'crashed' could not run", details={"error": {"stage": "suite", "type": "KeyError",
                                                                    "message": "'model_path'"}})])
    sel = {"partial": True, "keyword": "auc", "markexpr": None, "deselected": 6, "planned": 9, "ran": 3,
           "not_run": {"a": ["alignment/keys"]}}
    html = render_html(build_report([make_result("a"), crashed], selection=sel))
    tags = _parse(html)
    by_id = {a.get("id"): a for _, a in tags if a.get("id")}
    assert by_id["verdict"]["data-verdict"] == "NOT_EQUIVALENT" and by_id["verdict"]["data-partial"] == "true"
    assert "Parity: NOT_EQUIVALENT (partial run)" in html and "1 error" in html
    assert "selection-warning" in by_id and "3 of 9 planned checks ran (-k &#x27;auc&#x27;; 6 deselected)" in html
    assert by_id["errors-s1-crashed"]
    # The errored metric is not drawn as a forest row without numbers.
    assert not [a for t, a in tags if t == "g" and a.get("data-check") == "crashed::metrics/auc"]
    plain = render_html(build_report([make_result("a")]))
    ids = {a.get("id") for _, a in _parse(plain)}
    assert "selection-warning" not in ids and "data-partial" not in plain


def test_identical_scores_are_drawn_on_the_diagonal():
    # Counts on the diagonal only (identical scores): every drawn cell is a square on y = x.
    edges = np.linspace(0.013, 0.271, 9)
    counts = np.diag([5, 0, 1, 7, 2, 0, 1, 3]).tolist()
    svg = heatmap({"x_edges": edges.tolist(), "y_edges": edges.tolist(), "counts": counts}, plot_id="h")
    cells = [a for t, a in _parse(svg) if t == "rect" and a.get("class") == "cell"]
    assert len(cells) == 6
    for a in cells:  # plot area x 60..420, y 372 (bottom)..12: the cell's x offset equals its y offset
        assert abs((float(a["x"]) - 60) - (372 - float(a["y"]) - float(a["height"]))) < 0.02, a


def test_heatmap_has_a_colour_scale_with_counts():
    edges = np.linspace(0, 1, 5)
    counts = [[1, 0, 0, 0], [0, 250, 0, 0], [0, 0, 4000, 0], [0, 0, 0, 9]]
    svg = heatmap({"x_edges": edges.tolist(), "y_edges": edges.tolist(), "counts": counts}, plot_id="h")
    scale = svg.split('<g class="colour-scale"', 1)[1].split("</g>", 1)[0]
    labels = [t for t in re.findall(r">([^<]+)</text>", scale)]
    assert labels[0] == "rows per cell" and labels[-1] == "(log scale)"
    assert labels[1:-1] == ["1", "10", "100", "1,000", "4,000"]  # powers of ten up to the peak, and the peak


def test_diff_plot_shades_the_prediction_tolerance(suite_results):
    html = render_html(build_report(suite_results))
    plot = html.split('id="diff-by-score-s0-ctr_logreg"', 1)[1].split("</svg>", 1)[0]
    assert 'class="tolerance"' in plot and "tolerance \u00b11\u00d710\u207b\u2076" in plot  # the fixture's atol 1e-6
    assert plot.count('class="diff-bin"') == 10  # the fixture's ten deciles
    from harness.report.svg import diff_plot

    bare = diff_plot({"edges": [0, 1], "count": [3], "min": [0.0], "p01": [0.0], "median": [0.0], "p99": [0.0],
                      "max": [0.0]}, plot_id="d")
    assert 'class="tolerance"' not in bare and 'class="diff-bin"' in bare  # all-zero differences still draw


@pytest.mark.parametrize(
    ("kw", "cls"),
    [({}, "v-EQUIVALENT"),
     ({"selection": {"partial": True, "keyword": "auc", "markexpr": None, "deselected": 1, "planned": 9, "ran": 8,
                     "not_run": {"a": ["alignment/keys"]}}}, "provisional"),
     ({"sample": {"rows": 500, "seed": 1}}, "provisional")],
    ids=["release-run-green", "partial-not-green", "sampled-not-green"])
def test_only_a_release_run_passes_in_green(make_result, kw, cls):
    html = render_html(build_report([make_result("a")], **kw))
    banner = next(a for t, a in _parse(html) if a.get("id") == "verdict")
    assert banner["class"] == cls and banner["data-verdict"] == "EQUIVALENT"


def test_a_failing_partial_run_stays_red(make_result):
    sel = {"partial": True, "keyword": "x", "markexpr": None, "deselected": 1, "planned": 17, "ran": 16,
           "not_run": {"b": ["alignment/keys"]}}
    html = render_html(build_report([make_result("a"), make_result("b", failing=True)], selection=sel))
    assert next(a for t, a in _parse(html) if a.get("id") == "verdict")["class"] == "v-NOT_EQUIVALENT"


def _visible(html):
    return re.sub(r"<(pre|style|script)\b.*?</\1>", "", html, flags=re.S)


def test_numbers_one_way_no_e_notation_no_suite_s(suite_results):
    html = render_html(build_report(suite_results))
    text = _visible(html)
    assert not re.search(r"\d[eE][-+]?\d", text), re.search(r".{40}\d[eE][-+]?\d.{20}", text)
    assert "(s)" not in text
    assert "2 suites, 16 checks, 2 failing, 2 known gaps" in text
    assert "3.1\u00d710\u207b\u2077" in text  # the prediction summary's 3.1e-07, written as every number is
    feats = html.split('id="features-s1-ctr_gbdt"', 1)[1].split("</table>", 1)[0]
    assert "<td class=\"num\">99.9925%</td>" in feats and "<td class=\"num\">100%</td>" in feats  # not "1"
    assert "\u2264 2 ULP or |err| \u2264 0" in feats and "{" not in feats  # tolerance in words, not JSON
    prov = next(a for t, a in _parse(html) if a.get("id") == "provenance")
    assert prov is not None and "report schema 2.2" in html
