"""What a user reads when a suite is declared wrong or a side misbehaves.

A suite file whose declaration is wrong: both shells say the file, the line, the suite and the field
(`harness.discovery.declaration_error_text`), read from the file, since the error is raised while the
``Suite(...)`` arguments are built, before the suite exists to say its own name. Known gaps in any case.
Values in messages as the user wrote them (2002, nan), not numpy's reprs."""
from __future__ import annotations

import textwrap

import pytest

from harness.discovery import load_suite_file
from harness.errors import ParityInputError

HEAD = "from harness.suite import MetricGate, Suite\nfrom harness.checks.review_items import TooGood\n"


def _error(tmp_path, body: str, name: str = "test_s.py") -> str:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body))
    with pytest.raises(ParityInputError) as info:
        load_suite_file(path)
    assert info.value.file == str(path.resolve())
    return str(info.value)


CASES = [
    pytest.param('''
        SUITE = Suite(
            name="ctr", description="", dataset="d", pair=lambda d: None, label="y",
            metrics=[MetricGate("auc", 0.01),
                     MetricGate("aucc", 0.01)],
        )
        ''', "(line 7), suite 'ctr', field metrics: MetricGate('aucc'): metric: unknown metric 'aucc'; known: auc",
        id="metric-on-its-own-line"),
    pytest.param('''
        SUITE = Suite(name="ctr", description="", dataset="d", pair=lambda d: None, metrics=[MetricGate("aucc", 0.01)])
        ''', "(line 4), suite 'ctr', field metrics: MetricGate('aucc')", id="name-and-metric-on-one-line"),
    pytest.param('''
        SUITE = Suite(
            name="ctr", description="", dataset="d", pair=lambda d: None, label="y",
            metrics=[MetricGate("auc", 0.01, test="non_inferiority")], too_good=TooGood({"aucc": 0.1}),
        )
        ''', "(line 6), suite 'ctr', field too_good: TooGood: bounds['aucc']: metric: unknown metric 'aucc'",
        id="too-good"),
    pytest.param('''
        GATES = [MetricGate("auc", -1.0)]
        SUITE = Suite(name="ctr", description="", dataset="d", pair=lambda d: None, label="y", metrics=GATES)
        ''', "(line 4), suite 'ctr': MetricGate('auc'): margin must be a number > 0", id="gate-built-before"),
    pytest.param('''
        SUITE = Suite(name="ctr", description="", dataset="d", pair=None, label="y")
        ''', "(line 4): Suite 'ctr': dataset and pair go together", id="the-suite-says-its-name"),
    pytest.param('''
        NAME = "ctr"
        SUITE = Suite(name=NAME, description="", dataset="d", pair=lambda d: None, metrics=[MetricGate("aucc", 1.0)])
        ''', "(line 5): MetricGate('aucc')", id="name-not-literal"),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_a_bad_declaration_names_the_file_line_suite_and_field(tmp_path, body, expected):
    text = _error(tmp_path, body)
    assert text.startswith(f"suite file {tmp_path / 'test_s.py'} "), text
    assert expected in text, text


def test_a_suite_held_under_another_name_is_named_with_its_variable(tmp_path):
    path = tmp_path / "test_s.py"
    path.write_text(HEAD + 'SUITES = Suite(name="ctr", description="", dataset="d", pair=lambda d: None)\n')
    with pytest.raises(ParityInputError, match=r"test_s\.py: defines a harness\.suite\.Suite as SUITES but exports "
                                               r"no SUITE.*add SUITE = SUITES"):
        load_suite_file(path)


def test_known_gaps_take_metric_names_in_any_case_and_refuse_one_id_twice():
    from harness.suite import MetricGate, Suite

    def suite(gaps):
        return Suite(name="g", description="", dataset="d", pair=lambda d: None, label="y",
                     metrics=[MetricGate("AUC", 0.01)], known_gaps=gaps)

    assert suite({"metrics/AUC[device=tablet]": "r", "features/Price": "f", "metrics/nope": "n"}).known_gaps == {
        "metrics/auc[device=tablet]": "r", "features/Price": "f", "metrics/nope": "n"}  # features keep their case
    with pytest.raises(ParityInputError, match=r"Suite 'g': known_gaps names 'metrics/auc' twice \('metrics/AUC' is "):
        suite({"metrics/auc": "a", "metrics/AUC": "b"})
    with pytest.raises(ParityInputError, match=r"known_gaps must map check ids \(str\) to reasons \(str\)"):
        suite({"metrics/auc": 1})


@pytest.mark.parametrize("as_series", [False, True])
def test_a_non_finite_score_is_named_with_plain_values_not_numpy_reprs(as_series):
    import numpy as np
    import pandas as pd

    from harness.errors import ScorerError
    from harness.runner import _as_keyed

    keys = pd.Index(np.arange(2000, 2004, dtype=np.int64), name="row_id")
    scores = np.array([0.1, 0.2, np.nan, 0.4])
    with pytest.raises(ScorerError) as info:
        _as_keyed("new", pd.Series(scores, index=keys) if as_series else scores, keys, start=10)
    text = str(info.value)
    assert "new.predict returned nan for key 2002" in text and "np." not in text, text


def test_a_top_k_gate_without_a_group_column_is_named_as_a_gate_not_a_metric(tmp_path):
    import numpy as np

    from harness.checks.retrained import RetrainedPredictionGates, TopKGate
    from harness.golden.manifest import Column
    from harness.golden.writer import GeneratedDataset, arrow_table, write_dataset
    from harness.suite import MetricGate, Suite, check_declaration

    columns = (Column("row_id", "int64", "key"), Column("x", "float64", "feature"), Column("y", "int64", "label"))
    arrays = {"row_id": np.arange(20), "x": np.linspace(0, 1, 20), "y": np.arange(20) % 2}
    write_dataset(GeneratedDataset("flat", "1", "no groups", columns, {"eval": arrow_table(columns, arrays)}),
                  dest_dir=tmp_path / "flat")
    gates = RetrainedPredictionGates(topk=TopKGate(k=3, min_mean=0.6, reason="r"))
    for metrics, expected in [([], r"the top-k gate predictions/topk@3 average over query groups"),
                              ([MetricGate("mrr", 0.1)], r"metrics \['mrr'\] and the top-k gate predictions/topk@3 "
                                                         r"average over query groups")]:
        suite = Suite(name="flat_topk", description="", dataset="flat", pair=lambda d: None, label="y",
                      predictions=gates, metrics=metrics)
        with pytest.raises(ParityInputError, match=r"suite 'flat_topk': " + expected + r", but dataset 'flat' "
                                                   r"declares no group column"):
            check_declaration(suite, root=tmp_path)
