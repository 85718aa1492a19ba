"""report.html: every plot present with a stable id, self-contained, escaped, size independent of rows."""
from __future__ import annotations

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
