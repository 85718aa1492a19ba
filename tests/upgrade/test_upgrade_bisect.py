"""Bisection of upgrades: ddmin over the upgraded packages, with fake environments, then for real.

The fake tests replace the environment builder and the rerun with a rule: which outputs change for
which package versions. The expected causes follow from the rule itself (a brute-force check of the
definition: a cause reproduces the change on its own and every member of it is needed), never from
the code under test. The real test bumps numpy, scipy and scikit-learn at once in throwaway venvs
(6 of them, cached under ``$PARITY_UPGRADE_VENVS/bisect``: the first run downloads and installs about
80 MB of wheels per venv, about 10 minutes on a loaded 2-core machine; a rerun reuses them).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from upgrade_venvs import fake_build_env, run_in, venv_root  # _venvs.py, loaded by conftest.py

from harness.errors import ParityInputError
from harness.upgrade.bisect import EnvBuild, _ddmin, bisect, bisect_to_markdown, build_env

CHANGED = {"numpy": ("1.26.4", "2.0.2"), "scikit-learn": ("1.5.2", "1.6.1"), "scipy": ("1.13.1", "1.14.1")}


class World:
    """Fake environments: ``rule(upgraded: frozenset) -> set of changed outputs``; ``uninstallable(upgraded)``."""

    def __init__(self, changed, rule, uninstallable=lambda up: False, rerun_error=lambda up: False):
        self.changed, self.rule, self.uninstallable, self.rerun_error = changed, rule, uninstallable, rerun_error
        self.built: list[tuple[str, ...]] = []

    def _upgraded(self, reqs):
        pins = dict(r.split("==") for r in reqs if "==" in r)
        return frozenset(p for p, (_, cur) in self.changed.items() if pins.get(p) == cur)

    def build(self, reqs):
        self.built.append(tuple(reqs))
        if self.uninstallable(self._upgraded(reqs)):
            return EnvBuild(tuple(reqs), None, f"could not install {', '.join(reqs)}: ERROR: no matching distribution")
        return EnvBuild(tuple(reqs), Path("/fake") / "|".join(reqs))

    def rerun(self, python):
        upgraded = self._upgraded(str(python)[len("/fake/"):].split("|"))
        if self.rerun_error(upgraded):
            raise RuntimeError("probe crashed")
        return set(self.rule(upgraded))

    def run(self, **kw):
        return bisect(self.changed, self.rerun, venv_root="/nonexistent", build=self.build, **kw)


def _is_cause(rule, output, cause, universe):
    """The definition, brute force: only ``cause`` upgraded -> changed; drop any one member -> unchanged."""
    if output not in rule(frozenset(cause)):
        return False
    return all(output not in rule(frozenset(cause) - {p}) for p in cause) and set(cause) <= set(universe)


def test_one_culprit_among_three_is_named():
    world = World(CHANGED, lambda up: {"defaults/hgb"} if "scikit-learn" in up else set())
    result = world.run()
    assert result.outputs["defaults/hgb"].causes == [("scikit-learn",)]
    assert result.culprits("defaults/hgb") == ("scikit-learn",)
    assert result.outputs["defaults/hgb"].explained and result.complete and result.install_failures == []
    assert len(world.built) == len(set(world.built)) == len(result.runs)  # each environment built once
    assert "`defaults/hgb`: scikit-learn" in bisect_to_markdown(result)


def test_two_packages_that_change_an_output_only_together_are_one_cause():
    world = World(CHANGED, lambda up: {"fit/coef"} if {"numpy", "scipy"} <= up else set())
    result = world.run()
    assert result.outputs["fit/coef"].causes == [("numpy", "scipy")]
    assert result.outputs["fit/coef"].explained


def test_two_upgrades_that_each_change_an_output_are_two_causes():
    world = World(CHANGED, lambda up: {"fit/coef"} if up & {"numpy", "scikit-learn"} else set())
    result = world.run()
    assert sorted(result.outputs["fit/coef"].causes) == [("numpy",), ("scikit-learn",)]
    assert result.outputs["fit/coef"].explained
    only_first = world.run(find_all=False).outputs["fit/coef"]
    assert len(only_first.causes) == 1 and "other upgrades also produce" in only_first.note


def test_an_output_changed_even_at_baseline_versions_is_not_blamed_on_a_package():
    world = World(CHANGED, lambda up: {"fit/loss"})
    entry = world.run().outputs["fit/loss"]
    assert entry.causes == [] and not entry.explained
    assert "changed even with every package at its baseline version" in entry.note


def test_nothing_changed_means_nothing_to_bisect_and_an_unreproduced_output_says_so():
    world = World(CHANGED, lambda up: set())
    assert world.run().outputs == {}
    entry = world.run(outputs=["defaults/hgb"]).outputs["defaults/hgb"]
    assert entry.causes == [] and "not changed in a throwaway environment" in entry.note


def test_several_outputs_share_the_environments():
    def rule(up):
        return ({"a/x"} if "numpy" in up else set()) | ({"b/y"} if "scipy" in up else set()) | \
               ({"c/z"} if {"numpy", "scikit-learn"} <= up else set())
    world = World(CHANGED, rule)
    result = world.run()
    assert {k: v.causes for k, v in result.outputs.items()} == {
        "a/x": [("numpy",)], "b/y": [("scipy",)], "c/z": [("numpy", "scikit-learn")]}
    assert len(world.built) == len(set(world.built)) <= 2 ** len(CHANGED)


def test_what_could_not_be_installed_is_recorded_and_the_answer_marked():
    # the new scikit-learn cannot be installed next to the old numpy and scipy, so the environment that
    # would isolate it fails: the answer is the smallest set that could be tested, marked as such
    world = World(CHANGED, lambda up: {"defaults/hgb"} if "scikit-learn" in up else set(),
                  uninstallable=lambda up: up == frozenset({"scikit-learn"}))
    result = world.run()
    entry = result.outputs["defaults/hgb"]
    assert entry.causes == [("numpy", "scikit-learn")] and not entry.minimal and entry.explained
    assert not result.complete
    assert result.install_failures == ["could not install numpy==1.26.4, scikit-learn==1.6.1, scipy==1.13.1: "
                                       "ERROR: no matching distribution"]
    markdown = bisect_to_markdown(result)
    assert "may not be minimal" in markdown and "Could not install:" in markdown
    json.dumps(result.to_dict())


def test_a_rerun_that_fails_is_recorded_not_raised():
    world = World(CHANGED, lambda up: {"o/x"} if "numpy" in up else set(),
                  rerun_error=lambda up: up == frozenset({"numpy", "scikit-learn"}))
    result = world.run()
    failed = [r for r in result.runs if r.changed_outputs is None]
    assert failed and "RuntimeError: probe crashed" in failed[0].error
    assert "Reruns that failed:" in bisect_to_markdown(result) and "probe crashed" in bisect_to_markdown(result)
    assert result.outputs["o/x"].causes == [("numpy",)]


def test_the_current_environment_failing_stops_with_a_note():
    world = World(CHANGED, lambda up: {"o/x"}, uninstallable=lambda up: len(up) == 3)
    result = world.run()
    assert result.outputs == {} and "nothing was bisected" in result.notes[0] and not result.complete


@pytest.mark.parametrize("seed", range(40))
def test_causes_satisfy_the_definition_on_random_rules(seed):
    # a random monotone rule (an output changes when any of its clauses is fully upgraded), 2..7
    # packages; every cause found must meet the brute-force definition, and reverting all causes
    # must leave the output unchanged
    rng = np.random.default_rng(seed)
    names = [f"pkg{i}" for i in range(int(rng.integers(2, 8)))]
    changed = {n: ("1.0", "2.0") for n in names}
    clauses = [frozenset(rng.choice(names, size=int(rng.integers(1, 3)), replace=False))
               for _ in range(int(rng.integers(1, 4)))]

    def rule(up):
        return {"o/x"} if any(c <= up for c in clauses) else set()

    result = World(changed, rule).run()
    entry = result.outputs["o/x"]
    assert entry.minimal and entry.explained
    for cause in entry.causes:
        assert _is_cause(rule, "o/x", cause, names), (clauses, entry.causes)
    assert rule(frozenset(names) - set(entry.packages)) == set()


def test_ddmin_on_eight_packages_finds_the_single_culprit_in_few_tests():
    items = [f"p{i}" for i in range(8)]
    calls = []

    def test(subset):
        calls.append(tuple(subset))
        return "p5" in subset

    found, resolved = _ddmin(items, test)
    assert found == ["p5"] and resolved
    assert len(calls) <= 2 * 3  # binary search: at most two tests per halving of 8


@pytest.mark.parametrize("changed, fragment", [
    pytest.param({}, "non-empty mapping", id="empty"),
    pytest.param({"numpy": "2.0"}, "changed['numpy']", id="not-a-pair"),
    pytest.param({"numpy": ("2.0", "2.0")}, "two different version strings", id="same-version"),
    pytest.param({"numpy": (None, None)}, "two different version strings", id="both-absent"),
    pytest.param({"": ("1", "2")}, "changed['']", id="blank-name"),
])
def test_bad_changed_mapping_is_a_clear_error(changed, fragment):
    with pytest.raises(ParityInputError) as err:
        bisect(changed, lambda py: set(), venv_root="/nonexistent", build=lambda reqs: EnvBuild(tuple(reqs), None))
    assert fragment in str(err.value)


def test_build_env_refuses_options_in_requirements():
    with pytest.raises(ParityInputError, match="options go in pip_args"):
        build_env(["--index-url=http://x", "numpy==2.0.2"], venv_root="/nonexistent")


# -- real environments ----------------------------------------------------------------------------------------

def _venv_root() -> Path:
    return venv_root() / "bisect"


@pytest.mark.slow
def test_build_env_says_what_it_could_not_install(tmp_path):
    env = build_env(["parity-no-such-package==1.0"], venv_root=tmp_path, pip_args=["--no-index"])
    assert env.python is None
    assert env.error.startswith("could not install parity-no-such-package==1.0: ERROR:"), env.error


REPO = Path(__file__).resolve().parents[2]
# Unchanged between the two sides; pinned so pip resolves nothing else differently.
REQUIREMENTS = ["deepdiff==9.1.0", "threadpoolctl==3.8.0", "joblib==1.6.0", "jsonschema==4.26.0"]
SCRIPT = textwrap.dedent('''
    import json, sys
    from harness.upgrade import ProbeSet, check_against_baseline, evaluation_cases, record_baseline, sklearn_config
    from harness.upgrade import sklearn_metric_outputs

    def make():
        from sklearn.ensemble import HistGradientBoostingClassifier
        probes = ProbeSet("bisect_real")

        @probes.configuration("defaults")
        def defaults():
            return {"hgb": sklearn_config(HistGradientBoostingClassifier())}

        @probes.evaluation("sklearn_metrics")
        def metrics():
            return sklearn_metric_outputs(evaluation_cases(0))

        return probes

    action, root = sys.argv[1], sys.argv[2]
    if action == "record":
        record_baseline(make(), root=root)
    else:
        result = check_against_baseline("bisect_real", make(), root)
        json.dump([f"{f.probe}/{f.output}" for f in result.findings if f.outcome.value == "CHANGED"], sys.stdout)
''')


def _run(python: Path, *args: str) -> str:
    return run_in(python, *args, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})


@pytest.mark.slow
def test_real_bump_of_numpy_scipy_and_scikit_learn_names_scikit_learn(tmp_path):
    # scikit-learn 1.6 changed HistGradientBoostingClassifier's categorical_features default ("warn" ->
    # "from_dtype", 1.6 release notes); numpy 1.26 -> 2.0 and scipy 1.13 -> 1.14 move at the same time
    script = tmp_path / "probes.py"
    script.write_text(SCRIPT)
    root = tmp_path / "baselines"
    baseline_reqs = [f"{p}=={b}" for p, (b, _) in CHANGED.items()] + REQUIREMENTS
    base = build_env(baseline_reqs, venv_root=_venv_root(), pip_args=["--only-binary=:all:"])
    if base.python is None:
        probe = build_env(["threadpoolctl==3.8.0"], venv_root=tmp_path / "pipcheck")
        if probe.python is None:
            pytest.skip(f"pip cannot reach the package index: {probe.error}")
        raise AssertionError(base.error)
    _run(base.python, str(script), "record", str(root))

    def rerun(python):
        return set(json.loads(_run(python, str(script), "check", str(root))))

    result = bisect(CHANGED, rerun, venv_root=_venv_root(), pip_args=["--only-binary=:all:"],
                    requirements=REQUIREMENTS, log=print)
    print(bisect_to_markdown(result))
    assert result.install_failures == []
    hgb = result.outputs["defaults/hgb"]
    assert hgb.causes == [("scikit-learn",)] and hgb.explained and hgb.minimal
    # reverting scikit-learn alone (numpy and scipy kept new) leaves the configuration unchanged
    kept_new = [r for r in result.runs if r.upgraded == ("numpy", "scipy")]
    assert kept_new and "defaults/hgb" not in kept_new[0].changed_outputs
    assert len(result.runs) <= 6  # current, baseline, and at most four subsets


# -- the command ------------------------------------------------------------------------------------------------

CLI_SUITE = textwrap.dedent('''
    import os
    from harness.suite import Suite
    from harness.upgrade import ProbeSet

    probes = ProbeSet("bisect_cli")

    @probes.configuration("cfg")
    def cfg():  # what a fake environment's pins would make the library do
        pins = os.environ.get("PARITY_TEST_FAKE_PINS", "").split(",")
        return {"numpy_side": "old" if "numpy==1.0.0" in pins else "new", "fixed": 1}

    @probes.configuration("steady")
    def steady():
        return {"value": 1}

    SUITE = Suite(name="bisect_cli", description="probes only", probes=probes)
''')


@pytest.fixture
def cli_suite(tmp_path, monkeypatch):
    import harness.upgrade.bisect as bisect_module
    from harness.cli import main

    d = tmp_path / "suites"
    d.mkdir()
    (d / "test_bisect_cli.py").write_text(CLI_SUITE)
    monkeypatch.delitem(sys.modules, "parity_suites_test_bisect_cli", raising=False)
    root = tmp_path / "baselines"
    monkeypatch.setenv("PARITY_TEST_FAKE_PINS", "numpy==1.0.0,deepdiff==0.0.1")
    assert main(["baseline", "record", "--suites-dir", str(d), "--baseline-dir", str(root), "--reason", "t"]) == 0
    monkeypatch.delenv("PARITY_TEST_FAKE_PINS")
    # the baseline's environment had numpy 1.0.0 and deepdiff 0.0.1; this one has the installed versions
    path = root / "bisect_cli" / "baseline.json"
    doc = json.loads(path.read_text())
    doc["fingerprint"]["packages"].update(numpy="1.0.0", deepdiff="0.0.1")
    path.write_text(json.dumps(doc))

    monkeypatch.setattr(bisect_module, "build_env", fake_build_env)
    return d, root


def _bisect_cli(argv):
    import argparse

    from harness.cli.bisect import add_bisect_parser, run_bisect

    parser = argparse.ArgumentParser(prog="parity baseline")
    add_bisect_parser(parser.add_subparsers(dest="baseline_command"))
    return run_bisect(parser.parse_args(["bisect", *argv]))


@pytest.mark.slow
def test_bisect_command_names_the_package_and_writes_json_and_markdown(cli_suite, tmp_path, capsys):
    suites, root = cli_suite
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    code = _bisect_cli(["--suite", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root),
                        "--venvs", str(tmp_path / "venvs"), "--json", str(js), "--markdown", str(md)])
    assert code == 1, capsys.readouterr()
    doc = json.loads(js.read_text())
    assert doc["suite"] == "bisect_cli" and doc["complete"] is True
    assert doc["changed_packages"]["numpy"][0] == "1.0.0" and doc["changed_packages"]["deepdiff"][0] == "0.0.1"
    (entry,) = doc["outputs"]
    assert entry["output"] == "cfg/numpy_side" and entry["causes"] == [["numpy"]]
    assert all(r["changed_outputs"] is not None for r in doc["runs"])
    assert "`cfg/numpy_side`: numpy" in md.read_text()


def test_bisect_command_with_nothing_changed_exits_0(cli_suite, tmp_path, monkeypatch, capsys):
    suites, root = cli_suite
    monkeypatch.setenv("PARITY_TEST_FAKE_PINS", "numpy==1.0.0")
    assert _bisect_cli(["--suite", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root),
                        "--venvs", str(tmp_path / "venvs")]) == 0
    assert "nothing changed; nothing to bisect" in capsys.readouterr().out


def test_bisect_command_rejects_a_package_that_did_not_change(cli_suite, tmp_path):
    suites, root = cli_suite
    with pytest.raises(ParityInputError, match=r"--package \['torch'\]: not among the changed packages"):
        _bisect_cli(["--suite", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root),
                     "--package", "torch"])


# -- the gate's --bisect option (both shells) ---------------------------------------------------------------------

def _upgrade_check(report: dict) -> dict:
    (suite,) = [s for s in report["suites"] if s["suite"] == "bisect_cli"]
    (check,) = [c for c in suite["checks"] if c["id"] == "upgrade/baseline"]
    return check


@pytest.mark.slow
def test_parity_run_bisect_names_the_package_in_the_check(cli_suite, tmp_path, capsys):
    from harness.cli import main

    suites, root = cli_suite
    out = tmp_path / "report.json"
    code = main(["run", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root), "--bisect",
                 "--bisect-venvs", str(tmp_path / "venvs"), "--json", str(out), "--no-progress"])
    assert code == 1, capsys.readouterr()
    check = _upgrade_check(json.loads(out.read_text()))
    assert check["verdict"] == "NOT_EQUIVALENT"
    bisected = check["details"]["bisect"]
    assert bisected["ran"] and bisected["install_failures"] == []
    assert [(o["output"], o["causes"]) for o in bisected["outputs"]] == [("cfg/numpy_side", [["numpy"]])]
    assert "`cfg/numpy_side`: numpy" in check["message"] and "cfg/numpy_side <- numpy" in check["summary"]


@pytest.mark.slow
def test_bisect_says_what_could_not_be_installed(cli_suite, tmp_path, monkeypatch, capsys):
    import harness.upgrade.bisect as bisect_module
    from harness.cli import main

    suites, root = cli_suite
    works = bisect_module.build_env

    def picky(requirements, **kw):  # numpy's baseline version has no wheel here
        if "numpy==1.0.0" in requirements:
            return EnvBuild(tuple(requirements), None, f"could not install {', '.join(requirements)}: ERROR: No "
                                                       "matching distribution found for numpy==1.0.0")
        return works(requirements, **kw)

    monkeypatch.setattr(bisect_module, "build_env", picky)
    out = tmp_path / "report.json"
    assert main(["run", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root), "--bisect",
                 "--bisect-venvs", str(tmp_path / "venvs"), "--json", str(out), "--no-progress"]) == 1
    check = _upgrade_check(json.loads(out.read_text()))
    failures = check["details"]["bisect"]["install_failures"]
    assert failures and all("numpy==1.0.0" in f and "No matching distribution" in f for f in failures)
    assert "Could not install:" in check["message"] and "numpy==1.0.0" in check["message"]


def test_one_changed_package_needs_no_bisection(cli_suite, tmp_path, capsys):
    from harness.cli import main

    suites, root = cli_suite
    out = tmp_path / "report.json"
    assert main(["run", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root), "--bisect",
                 "--bisect-packages", "numpy", "--bisect-venvs", str(tmp_path / "venvs"), "--json", str(out),
                 "--no-progress"]) == 1
    bisected = _upgrade_check(json.loads(out.read_text()))["details"]["bisect"]
    assert bisected == {"ran": False, "why": "one package changed (numpy): the attribution above is the bisection's "
                                              "answer"}
    assert not (tmp_path / "venvs").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["--bisect-freeze"], "--bisect-freeze only used with --bisect"),
    (["--bisect", "--update-baseline", "--reason", "r"], "use one of them"),
    (["--bisect", "--bisect-requirements", "numpy"], "expected name==version pins"),
])
def test_bisect_options_are_checked(cli_suite, capsys, argv, fragment):
    from harness.cli import main

    suites, root = cli_suite
    assert main(["run", "bisect_cli", "--suites-dir", str(suites), "--baseline-dir", str(root), *argv]) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.slow  # a pytest session in a subprocess, plus its reruns
def test_pytest_parity_bisect_names_the_package(cli_suite, tmp_path):
    # The pytest shell, in a subprocess: a conftest next to the suite installs the same fake builder.
    suites, root = cli_suite
    (suites / "conftest.py").write_text(textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import harness.upgrade.bisect as bisect_module
        from _venvs import fake_build_env

        bisect_module.build_env = fake_build_env
    '''))
    env = {k: v for k, v in os.environ.items() if k != "PARITY_TEST_FAKE_PINS"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suites), "-q", "-p", "no:cacheprovider",
                           "--parity-baseline-dir", str(root), "--parity-bisect", "--parity-bisect-venvs",
                           str(tmp_path / "venvs"), "--parity-report", str(tmp_path / "rep")],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = _upgrade_check(json.loads((tmp_path / "rep" / "report.json").read_text()))
    assert [(o["output"], o["causes"]) for o in check["details"]["bisect"]["outputs"]] == [("cfg/numpy_side", [["numpy"]])]
    assert "`cfg/numpy_side`: numpy" in proc.stdout
    usage = subprocess.run([sys.executable, "-m", "pytest", str(suites), "-q", "-p", "no:cacheprovider",
                            "--parity-bisect-packages=numpy,"], capture_output=True, text=True, env=env,
                           cwd=str(tmp_path), timeout=600)
    assert usage.returncode == 4 and "expected comma-separated names" in usage.stderr, usage.stderr[-2000:]


# -- what a throwaway environment imports -----------------------------------------------------------------------

def test_the_reruns_import_this_projects_packages_and_nothing_else_installed_here(tmp_path):
    """An installed harness lives in site-packages; its reruns' PYTHONPATH must not be that folder (it put
    every package installed here in front of the throwaway environment's own: every rerun then ran the
    upgraded versions, and bisect answered "not produced by these upgrades")."""
    import shutil

    site = tmp_path / "site-packages"  # an installed harness, beside another installed package
    shutil.copytree(REPO / "harness", site / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "parity_bisect_other_pkg").mkdir()
    (site / "parity_bisect_other_pkg" / "__init__.py").write_text("")
    shim = tmp_path / "shim"
    code = ("import json, pathlib, sys\nimport harness.upgrade.bisect as b\n"
            "env = b._rerun_env(b._source_shim(pathlib.Path(sys.argv[1])))\nprint(json.dumps(env))")
    env = json.loads(subprocess.run([sys.executable, "-c", code, str(shim)], capture_output=True, text=True, check=True,
                                    env={**os.environ, "PYTHONPATH": str(site)}, cwd=tmp_path).stdout)
    assert env["PYTHONPATH"] == str(shim)
    seen = subprocess.run([sys.executable, "-c", "import importlib.util as u, harness\n"
                           "print(u.find_spec('parity_bisect_other_pkg') is None, harness.__file__)"],
                          capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout.split()
    assert seen[0] == "True", "a package installed beside the harness leaked into the rerun"
    assert Path(seen[1]).resolve() == (site / "harness" / "__init__.py").resolve()  # the harness that ran bisect


def test_the_reruns_get_the_projects_own_dependencies_pinned_as_installed_here():
    from importlib.metadata import requires, version

    from harness.upgrade.bisect import _own_requirements

    pins = dict(r.split("==") for r in _own_requirements({"numpy", "scikit-learn"}))
    declared = {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in requires("parity-harness")
                if "extra" not in r.partition(";")[2]}
    assert {"pandas", "deepdiff", "pyarrow", "scipy"} <= set(pins)
    assert not {"numpy", "scikit-learn"} & set(pins)  # the bisected packages vary, they are not pinned here
    assert not {"numba", "pytest", "apache-beam"} & set(pins)  # extras are not the harness's own needs
    for name, pinned in pins.items():
        assert name in declared and pinned == version(name), name
