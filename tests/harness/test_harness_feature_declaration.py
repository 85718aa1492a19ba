"""A suite whose feature declaration cannot apply fails before any model trains: each case is one tiny
suite on the bundled breast_cancer data whose sides record every fit, featurize and predict call, and
whose pair leaves the fitting to the runner (``ModelPair(fit=...)``). The message names the suite, the
field, the entry and what each side produces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.checks.features import OneHot, Rename
from harness.errors import ParityInputError
from harness.protocol import ModelPair, feature_names
from harness.runner import run_suite
from harness.suite import MetricGate, Suite
from harness.verdicts import Verdict


class Recording:
    """A side over raw breast_cancer columns: ``columns`` maps each feature it produces to the raw column
    it copies. ``names_after_fit`` makes it name its features only once fitted (like an unfitted
    ColumnTransformer). Every call is appended to ``calls``."""

    def __init__(self, name: str, columns: dict[str, str], calls: list, *, names_after_fit: bool = False):
        self.name, self.columns, self.calls = name, columns, calls
        self.names_after_fit, self.fitted_rows = names_after_fit, None

    def feature_names(self):
        self.calls.append((self.name, "feature_names"))
        return None if self.names_after_fit and self.fitted_rows is None else list(self.columns)

    def fit(self, train):
        self.calls.append((self.name, "fit"))
        self.fitted_rows = len(train)
        return self

    def featurize(self, batch):
        self.calls.append((self.name, "featurize"))
        return pd.DataFrame({f: batch[c].to_numpy() for f, c in self.columns.items()})

    def predict(self, batch):
        self.calls.append((self.name, "predict"))
        return 1 / (1 + np.exp(-(batch["mean_radius"].to_numpy() - 14.0)))

    def config(self):
        return {}


def _suite(legacy: dict[str, str], new: dict[str, str], calls: list, *, fit=("legacy", "new"),
           names_after_fit=(), made: list | None = None, **overrides) -> Suite:
    def pair(dataset):
        sides = {role: Recording(role, cols, calls, names_after_fit=role in names_after_fit)
                 for role, cols in (("legacy", legacy), ("new", new))}
        if made is not None:
            made.extend(sides.values())
        return ModelPair(sides["legacy"], sides["new"], fit=fit)

    options = dict(name="bc_features", description="", dataset="breast_cancer", pair=pair, label="malignant",
                   prediction_atol=1e-9)
    options.update(overrides)
    return Suite(**options)


LEGACY = {"num__radius": "mean_radius", "num__texture": "mean_texture"}
NEW = {"radius": "mean_radius", "texture": "mean_texture"}


@pytest.mark.parametrize("features, feature_map, match", [
    # the mapped name is one the other side does not produce: nothing to compare it with
    (["radious"], [Rename("radious", "num__radius", side="legacy")],
     r"suite 'bc_features': feature_map entry Rename\(feature='radious'.* the new side produces no 'radious'"),
    # the source column is one the mapped side does not produce
    (["radius"], [Rename("radius", "num__radios", side="legacy")],
     r"suite 'bc_features': feature_map entry Rename\(feature='radius'.*reads column\(s\) \['num__radios'\], which "
     r"the legacy side does not produce"),
    # mapped on the wrong side: the new side already has the feature, the legacy one has the source column
    (["radius"], [Rename("radius", "num__radius", side="new")],
     r"reads column\(s\) \['num__radius'\], which the new side does not produce"),
    # mapped onto a name the mapped side already produces (the map would overwrite its own feature)
    (["radius"], [Rename("radius", "texture", side="new")],
     r"maps to 'radius', which the new side already produces"),
    # a feature neither side produces, unmapped
    (["radius", "perimeter"], [Rename("radius", "num__radius", side="legacy")],
     r"features entry 'perimeter' is produced by neither side"),
], ids=["unknown-target", "unknown-source-column", "wrong-side", "name-taken", "neither-side"])
def test_bad_feature_declaration_fails_before_any_fit(features, feature_map, match):
    calls: list = []
    suite = _suite(LEGACY, NEW, calls, features=features, feature_map=feature_map)
    with pytest.raises(ParityInputError, match=match) as info:
        run_suite(suite)
    message = str(info.value)
    assert "checked before training" in message
    assert "the legacy side produces ['num__radius', 'num__texture']" in message
    assert "the new side produces ['radius', 'texture']" in message
    assert [c for c in calls if c[1] != "feature_names"] == []  # nothing fitted, featurized or scored


def test_a_side_that_cannot_featurize_fails_before_any_fit():
    calls: list = []
    suite = _suite({}, NEW, calls, features=["radius"])
    with pytest.raises(ParityInputError, match=r"the legacy side cannot featurize .*checked before training"):
        run_suite(suite)
    assert [c for c in calls if c[1] != "feature_names"] == []


def test_a_feature_only_one_side_produces_is_a_parity_failure_not_a_declaration_error():
    calls: list = []
    suite = _suite(LEGACY, NEW, calls, features=["radius", "texture"],
                   feature_map=[Rename("radius", "num__radius", side="legacy")])
    result = run_suite(suite)
    checks = {c.id: c for c in result.checks}
    assert checks["features/radius"].verdict is Verdict.EQUIVALENT
    assert checks["features/texture"].verdict is Verdict.NOT_EQUIVALENT
    assert checks["features/texture"].details["missing_on"] == ["legacy"]


def test_the_runner_fits_after_the_check_and_before_scoring():
    from harness.golden import load_dataset

    calls: list = []
    made: list = []
    suite = _suite(LEGACY, NEW, calls, made=made, features=["radius", "texture"],
                   feature_map=[Rename("radius", "num__radius", side="legacy"),
                                Rename("texture", "num__texture", side="legacy")],
                   metrics=[MetricGate("auc", 0.05)], n_boot=50)
    result = run_suite(suite)
    fits = [i for i, c in enumerate(calls) if c[1] == "fit"]
    scoring = [i for i, c in enumerate(calls) if c[1] in ("predict", "featurize")]
    assert [calls[i][0] for i in fits] == ["legacy", "new"]
    assert max(fits) < min(scoring)
    assert [side.fitted_rows for side in made] == [len(load_dataset("breast_cancer").frame("train"))] * 2
    features = [c for c in result.checks if c.kind == "feature"]
    assert [c.id for c in features] == ["features/radius", "features/texture"]
    assert all(c.verdict is Verdict.EQUIVALENT for c in features)
    # Each fit the runner does is its own cost stage, inside the train stage that covers both sides.
    assert {"train", "train:legacy", "train:new"} <= set(result.cost)
    for role in ("legacy", "new"):
        assert 0 <= result.cost[f"train:{role}"]["wall_s"] <= result.cost["train"]["wall_s"]
    assert result.cost["train:legacy"]["wall_s"] + result.cost["train:new"]["wall_s"] <= result.cost["train"]["wall_s"]


def test_fit_pending_fits_on_the_named_split_once():
    from harness.golden import load_dataset

    dataset = load_dataset("breast_cancer")
    calls: list = []
    legacy, new = Recording("legacy", LEGACY, calls), Recording("new", NEW, calls)
    pair = ModelPair(legacy, new, fit=("new",))
    pair.fit_pending(dataset).fit_pending(dataset)
    assert calls == [("new", "fit")]
    assert new.fitted_rows == len(dataset.frame("train")) and legacy.fitted_rows is None
    with pytest.raises(ParityInputError, match=r"fit_split='test'.*splits are \['train', 'eval'\]"):
        ModelPair(legacy, new, fit="legacy", fit_split="test").fit_pending(dataset)


def test_a_side_that_names_its_features_only_once_fitted_is_checked_before_scoring():
    calls: list = []
    suite = _suite(LEGACY, NEW, calls, names_after_fit=("legacy",), features=["radius"],
                   feature_map=[Rename("radius", "num__radios", side="legacy")])
    with pytest.raises(ParityInputError, match=r"reads column\(s\) \['num__radios'\].*checked after training, "
                                               r"before scoring"):
        run_suite(suite)
    assert ("legacy", "fit") in calls and ("new", "fit") in calls
    assert not [c for c in calls if c[1] in ("predict", "featurize")]


def test_a_pair_fitted_by_its_factory_is_checked_before_scoring():
    calls: list = []
    suite = _suite(LEGACY, NEW, calls, fit=(), features=["radius"],
                   feature_map=[OneHot("radius", ["num__radius", "num__radios"], side="legacy")])
    with pytest.raises(ParityInputError, match=r"\['num__radios'\].*checked when the pair was built, before scoring"):
        run_suite(suite)
    assert not [c for c in calls if c[1] in ("predict", "featurize", "fit")]


def test_a_side_without_feature_names_is_asked_by_featurizing_one_row():
    calls: list = []

    class Unnamed(Recording):
        feature_names = None  # the protocol's method is optional

    def pair(dataset):
        return ModelPair(Unnamed("legacy", LEGACY, calls), Recording("new", NEW, calls), fit=("legacy", "new"))

    suite = Suite(name="bc_unnamed", description="", dataset="breast_cancer", pair=pair, label="malignant",
                  features=["radius"], feature_map=[Rename("radius", "num__radios", side="legacy")])
    with pytest.raises(ParityInputError, match=r"\['num__radios'\].*checked after training, before scoring"):
        run_suite(suite)
    assert ("legacy", "featurize") in calls and not [c for c in calls if c[1] == "predict"]


@pytest.mark.parametrize("entry, match", [
    (Rename("radius", "num__radius", side="both"), r"side must be 'legacy' or 'new', got 'both'"),
    (OneHot("radius", [], side="legacy"), "non-empty list of column names without repeats"),
    (OneHot("radius", ["a", "a"], side="legacy"), "non-empty list of column names without repeats"),
    (OneHot("radius", "ab", side="legacy"), "non-empty list of column names without repeats"),
], ids=["side", "no-columns", "repeated-column", "string-columns"])
def test_static_feature_map_errors_are_raised_when_the_suite_is_declared(entry, match):
    with pytest.raises(ParityInputError, match=r"Suite 'bc_features': feature_map .*" + match):
        _suite(LEGACY, NEW, [], features=["radius"], feature_map=[entry])


def test_the_same_feature_mapped_twice_on_one_side_is_refused():
    with pytest.raises(ParityInputError,
                       match=r"maps the same feature on the same side twice: \[\"'radius' \(legacy\)\"\]"):
        _suite(LEGACY, NEW, [], features=["radius"], feature_map=[Rename("radius", "num__radius", side="legacy"),
                                                                   Rename("radius", "num__texture", side="legacy")])


@pytest.mark.parametrize("label, metrics, match", [
    ("mean_radius", [MetricGate("auc", 0.01)], r"label column 'mean_radius': metrics \['auc'\] need 0/1 labels, "
                                                r"but row 0 \(sample_id=5\) of split 'eval' \(\S+eval\.parquet\) holds"),
    ("mean_radius", [MetricGate("logloss", 0.01), MetricGate("rmse", 0.1)],
     r"label column 'mean_radius': metrics \['logloss'\] need 0/1 labels, but row 0 \(sample_id=5\) of split 'eval' "
     r"\(\S+eval\.parquet\) holds 12\.45 \(171 such rows\)"),
], ids=["auc", "logloss"])
def test_labels_that_the_metrics_cannot_take_fail_before_the_pair_is_built(label, metrics, match):
    def never(dataset):
        raise AssertionError("the pair must not be built")

    from harness.scale.suite_stream import run_suite_streamed

    suite = Suite(name="bc_labels", description="", dataset="breast_cancer", pair=never, label=label, metrics=metrics)
    messages = []
    for run in (run_suite, run_suite_streamed):  # the same check, the same words, in memory and streamed
        with pytest.raises(ParityInputError, match=r"suite 'bc_labels': " + match) as info:
            run(suite)
        err = info.value
        assert (err.column, err.row, err.value) == (label, 0, 12.45) and err.file.endswith("eval.parquet")
        messages.append(str(err))
    assert messages[0] == messages[1]


def test_model_pair_refuses_a_fit_it_cannot_do():
    calls: list = []
    side = Recording("legacy", LEGACY, calls)
    with pytest.raises(ParityInputError, match=r"fit names sides among \['legacy', 'new'\]"):
        ModelPair(side, side, fit=("both",))

    class Fixed:
        name = "scores"

    with pytest.raises(ParityInputError, match=r"the new side 'scores' has no fit\(train\)"):
        ModelPair(side, Fixed(), fit=("legacy", "new"))


def test_feature_names_protocol_helper():
    calls: list = []
    assert feature_names(Recording("a", LEGACY, calls)) == ["num__radius", "num__texture"]
    assert feature_names(object()) is None

    class Bad:
        name = "bad"

        def feature_names(self):
            return ["x", "x"]

    with pytest.raises(ParityInputError, match=r"side 'bad': feature_names\(\) repeats a name"):
        feature_names(Bad())


def _write(root, name, frame, roles, nullable=()):
    """``frame`` as golden dataset ``name`` under ``root`` (train and eval the same rows), a column per
    role in ``roles``; the columns in ``nullable`` are declared nullable."""
    from harness.golden.manifest import Column
    from harness.golden.writer import GeneratedDataset, arrow_table, write_dataset

    columns = tuple(Column(c, str(frame[c].dtype), roles[c], nullable=c in nullable) for c in frame.columns)
    write_dataset(GeneratedDataset(name, "1.0.0", "test data", columns,
                                   {s: arrow_table(columns, frame) for s in ("train", "eval")}),
                  dest_dir=root / name)


def _never(dataset):
    raise AssertionError("the pair must not be built")


def test_negative_weights_fail_before_the_pair_is_built(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"row_id": np.arange(40), "x": rng.normal(size=40), "y": np.arange(40) % 2,
                          "w": np.where(np.arange(40) == 27, -1.0, 1.0)})
    _write(tmp_path, "weighted", frame, {"row_id": "key", "x": "feature", "y": "label", "w": "weight"})
    suite = Suite(name="bc_weights", description="", dataset="weighted", pair=_never, label="y", use_weights=True,
                  metrics=[MetricGate("auc", 0.01)])
    with pytest.raises(ParityInputError, match=r"suite 'bc_weights': weight column 'w' \(use_weights=True, split "
                                               r"'eval' \(\S+eval\.parquet\)\): weights must be non-negative; row 27 \(row_id=27\) is -1\.0") as info:
        run_suite(suite, root=tmp_path)
    assert info.value.column == "w" and info.value.file == str(tmp_path / "weighted" / "eval.parquet")


@pytest.mark.parametrize("metric", ["ndcg@3", "mrr"])
def test_ranking_weights_that_vary_within_a_query_fail_before_the_pair_is_built(tmp_path, metric):
    rng = np.random.default_rng(1)
    n = 48
    query = np.arange(n) // 4
    w = 1.0 + query / 10.0
    w[29] = 5.0  # row 29 (row_id 1029) is in query 7, whose first row (row_id 1028) has 1.7
    frame = pd.DataFrame({"row_id": 1000 + np.arange(n), "q": query, "x": rng.normal(size=n),
                          "y": np.arange(n) % 2, "w": w})
    roles = {"row_id": "key", "q": "group", "x": "feature", "y": "label", "w": "weight"}
    _write(tmp_path, "ranked", frame, roles)
    suite = Suite(name="rk_weights", description="", dataset="ranked", pair=_never, label="y", use_weights=True,
                  metrics=[MetricGate(metric, 0.01)])
    with pytest.raises(ParityInputError, match=r"suite 'rk_weights': weight column 'w' \(use_weights=True, split "
                       r"'eval' \(\S+\)\): metrics \[.*\] average over query groups \('q'\), and ranking weights are per "
                       r"query group and must be constant within a group; row 29 \(row_id=1029\) is 5\.0 but "
                       r"its group's first row has 1\.7") as info:
        run_suite(suite, root=tmp_path)
    assert info.value.row == 29 and info.value.column == "w"

    # The same weights, constant per query, pass the check: the pair is built (the never-factory fires).
    frame["w"] = 1.0 + query / 10.0
    _write(tmp_path / "ok", "ranked", frame, roles)
    with pytest.raises(AssertionError, match="the pair must not be built"):
        run_suite(suite, root=tmp_path / "ok")


@pytest.mark.parametrize("use_weights", [False, True], ids=["unweighted", "weighted"])
def test_a_missing_query_id_fails_before_the_pair_is_built_naming_split_file_and_key(tmp_path, use_weights):
    n = 24
    query = (np.arange(n) // 4).astype(np.float64)
    query[9] = np.nan  # row 9 (row_id 509) belongs to no query
    frame = pd.DataFrame({"row_id": 500 + np.arange(n), "q": query, "x": np.linspace(0, 1, n),
                          "y": np.arange(n) % 3, "w": np.ones(n)})
    _write(tmp_path, "ranked", frame, {"row_id": "key", "q": "group", "x": "feature", "y": "label", "w": "weight"},
           nullable=("q",))
    suite = Suite(name="rk_groups", description="", dataset="ranked", pair=_never, label="y",
                  use_weights=use_weights, metrics=[MetricGate("ndcg@3", 0.01)])
    with pytest.raises(ParityInputError, match=r"suite 'rk_groups': group column 'q' \(split 'eval' \(\S+eval\.parquet\)\)"
                       r": metrics \['ndcg@3'\] average over query groups, and each row needs its group: "
                       r"missing/non-finite group id; row 9 \(row_id=509\) is nan") as info:
        run_suite(suite, root=tmp_path)
    assert (info.value.column, info.value.row, info.value.file) == ("q", 9, str(tmp_path / "ranked" / "eval.parquet"))
