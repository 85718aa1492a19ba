"""``cost/peak_rss`` for sides whose classes are defined in the suite file itself. `parity run` imports a
suite file under a synthetic module name (`harness.discovery`) that a serving process cannot import by
name; the child loads that file under the same name before it unpickles the side. Both shells measure
the gate: through `parity run --suites-dir` and through a Session on the suite as discovery loads it."""
from __future__ import annotations

import json
import textwrap

import pytest

from harness.serving.suite_run import SUITE_RUN
from harness.verdicts import Verdict

pytest.importorskip("hdrh")

# The in-process part of the plan as short as it goes: this is about the child processes.
FAST = {"repeats": 1, "duration_s": 0.01, "warmup_requests": 0}

INLINE_SUITE = '''
import numpy as np

from harness.protocol import ModelPair
from harness.serving import CostGate
from harness.suite import MetricGate, Suite


class InlineSide:
    """Defined here, in the suite file: its pickle names this module."""

    def __init__(self, name):
        self.name = name

    def featurize(self, batch):
        return None

    def predict(self, batch):
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {}


SUITE = Suite(name="inline_rss", description="equal sides defined in the suite file", dataset="servetiny",
              label="click", pair=lambda ds: ModelPair(InlineSide("legacy"), InlineSide("new")),
              metrics=[MetricGate("auc", 0.05)],
              serving=[CostGate("peak_rss", max_ratio=1.5, reason="memory per replica")])
'''


@pytest.fixture
def inline_suites(tmp_path, serve_golden, monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setitem(SUITE_RUN, k, v)
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "test_inline_rss.py").write_text(textwrap.dedent(INLINE_SUITE), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_parity_run_measures_peak_rss_of_sides_defined_in_the_suite_file(inline_suites, tmp_path):
    from harness.cli import main

    out = tmp_path / "report.json"
    rc = main(["run", "--suites-dir", str(inline_suites), "--no-progress", "--json", str(out)])
    doc = json.loads(out.read_text(encoding="utf-8"))
    [measured] = doc["measured"]["suites"]
    [check] = [c for c in measured["checks"] if c["id"] == "cost/peak_rss"]
    assert check["verdict"] == "EQUIVALENT", check["message"]
    assert check["details"]["scope"] == "process" and check["details"]["n_used"] == 5
    procs = measured["serving"]["processes"]
    assert "error" not in procs and all(p["median"]["peak_rss_mb"] > 0 for p in procs["sides"].values())
    assert rc == 0


@pytest.mark.slow
def test_a_session_measures_peak_rss_of_sides_defined_in_a_suite_file_discovery_loaded(inline_suites):
    from harness.discovery import load_suite_file
    from harness.options import RunOptions
    from harness.session import EXIT_OK, Session

    path = inline_suites / "test_inline_rss.py"
    suite = load_suite_file(path)
    session = Session(RunOptions())
    ids = session.collect(suite, where=str(path))
    outcome = {i: session.outcome(suite.name, i) for i in ids}["cost/peak_rss"]
    final = session.finish()
    assert outcome.check.verdict is Verdict.EQUIVALENT, outcome.text
    assert outcome.check.details["scope"] == "process"
    assert final.exit_status == EXIT_OK


def test_a_module_the_child_cannot_import_by_name_is_sent_with_its_file(inline_suites):
    from harness.discovery import load_suite_file
    from harness.serving.process_rss import _preload_entry

    path = inline_suites / "test_inline_rss.py"
    suite = load_suite_file(path)
    module = type(suite.pair(None).new).__module__
    assert module.startswith("parity_suites_")  # discovery's synthetic name
    assert _preload_entry(module) == [module, str(path.resolve())]
    assert _preload_entry("numpy") == ["numpy", None] and _preload_entry("harness.serving") == ["harness.serving", None]
