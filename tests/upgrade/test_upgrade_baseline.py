"""Baseline files: exact storage, atomic writes (a crash mid-write keeps the previous baseline), history,
fingerprints and bad input. Probes here are numpy-only so the tests are fast."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import harness.upgrade.baseline as baseline_mod
from harness.errors import ParityInputError
from harness.upgrade import (
    ProbeSet,
    accept_baseline,
    changed_packages,
    check_against_baseline,
    environment_diffs,
    fingerprint,
    read_baseline,
    read_history,
    record_baseline,
    take_snapshot,
    ulp_distance,
)

STATE = {"scale": 1.0}


def numpy_probes(suite: str = "np_suite") -> ProbeSet:
    probes = ProbeSet(suite)

    @probes.inference("scores")
    def scores():
        rng = np.random.default_rng(1)
        return {"small": rng.normal(size=50) * STATE["scale"],  # inline
                "medium": rng.normal(size=20_000) * STATE["scale"],  # .npz
                "ints": np.arange(10, dtype=np.int32), "flag": True, "label": "v1"}

    @probes.configuration("cfg")
    def cfg():
        return {"params": {"C": 1.0 * STATE["scale"], "nested": {"solver": "lbfgs", "tol": 1e-4}, "inf": float("inf")}}

    return probes


@pytest.fixture(autouse=True)
def _reset_state():
    STATE["scale"] = 1.0
    yield
    STATE["scale"] = 1.0


def test_snapshot_round_trips_exactly_through_json_and_npz(tmp_path):
    probes = numpy_probes()
    record_baseline(probes, root=tmp_path)
    files = sorted(p.name for p in (tmp_path / "np_suite").iterdir())
    assert files[0].startswith("arrays-") and files[0].endswith(".npz")
    assert files[1:] == ["baseline.json", "history.jsonl"]
    doc = json.loads((tmp_path / "np_suite" / "baseline.json").read_text())
    outs = doc["snapshot"]["probes"]["scores"]["runs"][0]["outputs"]
    assert outs["small"]["storage"] == "inline" and outs["medium"]["storage"] == "npz"
    stored = read_baseline("np_suite", root=tmp_path).snapshot.probes["scores"].runs[0][1]
    rng = np.random.default_rng(1)
    small, medium = rng.normal(size=50), rng.normal(size=20_000)
    assert stored["small"].array.tobytes() == small.tobytes()  # bitwise, not approximately
    assert stored["medium"].array.tobytes() == medium.tobytes()
    assert stored["ints"].array.dtype == np.int32
    assert stored["label"].value == "v1"
    assert stored["medium"].summary["quantiles"]["0.5"] == pytest.approx(np.median(medium), abs=0)


def test_large_arrays_keep_digest_and_summary_only(tmp_path):
    probes = numpy_probes()
    snap = take_snapshot(probes)
    doc, npz = snap.to_dict(inline_max_bytes=64, npz_max_bytes=1024)
    outs = doc["probes"]["scores"]["runs"][0]["outputs"]
    assert outs["medium"]["storage"] == "summary" and "data" not in outs["medium"] and "scores.0.medium" not in npz
    # identical values still compare IDENTICAL via the digest; a change is flagged, sized from summaries
    baseline_mod.write_baseline(snap, fingerprint(), root=tmp_path, inline_max_bytes=64, npz_max_bytes=1024)
    assert check_against_baseline("np_suite", probes, tmp_path).changed == []
    STATE["scale"] = 1.0 + 1e-3
    changed = {f.output: f for f in check_against_baseline("np_suite", probes, tmp_path).changed}
    assert "summaries only" in changed["medium"].size["note"]


def test_corrupted_baseline_is_an_error_naming_the_file(tmp_path):
    record_baseline(numpy_probes(), root=tmp_path)
    path = tmp_path / "np_suite" / "baseline.json"
    doc = json.loads(path.read_text())
    out = doc["snapshot"]["probes"]["scores"]["runs"][0]["outputs"]["small"]
    out["sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(ParityInputError, match="sha256"):
        read_baseline("np_suite", root=tmp_path)
    with pytest.raises(ParityInputError, match="no baseline for suite 'other'"):
        read_baseline("other", root=tmp_path)


@pytest.mark.parametrize("step", ["before-replace:arrays", "after-npz", "before-replace:baseline.json"])
def test_a_failure_mid_write_leaves_the_previous_baseline_intact(tmp_path, monkeypatch, step):
    probes = numpy_probes()
    record_baseline(probes, root=tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "np_suite").iterdir()}

    def crash(name):
        if name.startswith(step):
            raise OSError(f"simulated crash at {name}")

    STATE["scale"] = 2.0  # the new baseline differs in every array, so it needs a new .npz
    monkeypatch.setattr(baseline_mod, "_crash_hook", crash)
    with pytest.raises(OSError, match="simulated crash"):
        record_baseline(probes, root=tmp_path, reason="re-record")
    monkeypatch.setattr(baseline_mod, "_crash_hook", None)
    STATE["scale"] = 1.0
    after = {p.name: p.read_bytes() for p in (tmp_path / "np_suite").iterdir() if not p.name.startswith(".")}
    for name, data in before.items():
        assert after[name] == data  # nothing the old baseline uses was touched
    assert not [p for p in (tmp_path / "np_suite").iterdir() if p.name.endswith(".tmp")]  # temp files cleaned up
    result = check_against_baseline("np_suite", probes, tmp_path)
    assert result.changed == [] and result.within_noise == []  # still the old baseline, complete
    # The next successful write replaces it and removes the orphaned .npz.
    STATE["scale"] = 2.0
    record_baseline(probes, root=tmp_path, reason="re-record")
    assert len(list((tmp_path / "np_suite").glob("arrays-*.npz"))) == 1
    assert check_against_baseline("np_suite", probes, tmp_path).changed == []


@pytest.mark.slow
def test_a_killed_process_mid_write_leaves_the_previous_baseline_intact(tmp_path):
    """A hard kill (os._exit, no cleanup, no exception handlers) just before the commit point."""
    record_baseline(numpy_probes(), root=tmp_path)
    before = (tmp_path / "np_suite" / "baseline.json").read_bytes()
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import importlib.util
        spec = importlib.util.spec_from_file_location("t", {__file__!r}); t = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(t)
        import harness.upgrade.baseline as b
        t.STATE["scale"] = 3.0
        b._crash_hook = lambda name: os._exit(17) if name == "before-replace:baseline.json" else None
        b.record_baseline(t.numpy_probes(), root={str(tmp_path)!r}, reason="killed")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr
    assert (tmp_path / "np_suite" / "baseline.json").read_bytes() == before
    assert [p for p in (tmp_path / "np_suite").iterdir() if p.name.endswith(".tmp")]  # the kill left its temp file
    assert check_against_baseline("np_suite", numpy_probes(), tmp_path).changed == []


def test_accept_needs_a_reason_and_keeps_history(tmp_path):
    probes = numpy_probes()
    record_baseline(probes, root=tmp_path)
    with pytest.raises(ParityInputError, match="already exists"):
        record_baseline(probes, root=tmp_path)
    STATE["scale"] = 1.5
    with pytest.raises(ParityInputError, match="reason"):
        accept_baseline(probes, reason="  ", root=tmp_path)
    assert len(check_against_baseline("np_suite", probes, tmp_path).changed) > 0
    _, accepted = accept_baseline(probes, reason="scale change reviewed in PR 42", root=tmp_path)
    assert {(f.probe, f.output) for f in accepted} >= {("scores", "small"), ("cfg", "params")}
    assert check_against_baseline("np_suite", probes, tmp_path).changed == []
    history = read_history("np_suite", root=tmp_path)
    assert [h["action"] for h in history] == ["record", "accept"]
    last = history[-1]
    assert last["reason"] == "scale change reviewed in PR 42"
    assert last["old_fingerprint"]["packages"] and last["new_fingerprint"]["packages"]
    assert last["when"].endswith("Z")
    paths = [c["path"] for f in last["findings_accepted"] if f["probe"] == "cfg" for c in f["size"]["changes"]]
    assert paths == ["root['C']"]  # output 'params', path inside it


def test_fingerprint_and_changed_packages():
    fp = fingerprint()
    assert fp["packages"]["numpy"] == np.__version__
    assert "tensorflow-cpu" not in fp["packages"]  # normalised to "tensorflow"
    assert {"python", "os", "cpu", "packages", "threadpools", "env"} <= set(fp)
    assert any(p["user_api"] == "blas" for p in fp["threadpools"])
    new = json.loads(json.dumps(fp))
    new["packages"]["numpy"] = "0.0.1"
    new["packages"]["jax"] = "0.4.0"
    new["env"]["OMP_NUM_THREADS"] = "1"
    assert changed_packages(fp, new) == {"jax": (None, "0.4.0"), "numpy": (np.__version__, "0.0.1")}
    assert environment_diffs(fp, new) == {"env.OMP_NUM_THREADS": (fp["env"].get("OMP_NUM_THREADS"), "1")}


def test_the_gate_imports_where_pandas_is_not_installed():
    # the probes run in throwaway venvs that hold only the packages under test (scikit-learn 1.3, ...):
    # `harness.upgrade` must import there; pandas is hidden here as it is missing there
    code = ("import sys\n"
            "class NoPandas:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'pandas' or name.startswith('pandas.'):\n"
            "            raise ModuleNotFoundError(\"No module named 'pandas'\")\n"
            "sys.meta_path.insert(0, NoPandas())\n"
            "import harness.upgrade\n"
            "import numpy as np\n"
            "print(harness.upgrade.ulp_distance(np.array([1.0]), np.nextafter(np.array([1.0]), 2.0)).tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[1.0]"


def test_fingerprint_reads_numeric_env_vars(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setenv("UNRELATED_VAR", "x")
    env = fingerprint()["env"]
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "0" and "UNRELATED_VAR" not in env


def test_importing_the_gate_imports_neither_tensorflow_nor_sklearn():
    code = ("import sys, harness, harness.upgrade, harness.cli.baseline; harness.upgrade.fingerprint(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_ulp_distance_matches_nextafter_steps():
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        x = np.concatenate([rng.normal(size=50), [0.0, -0.0, 1e-300, -1e-30, 5e-324]]).astype(dtype)
        y = x.copy()
        steps = rng.integers(0, 6, size=x.size)
        for i, k in enumerate(steps):  # the slow, obviously-correct reference: step k times
            for _ in range(k):
                y[i] = np.nextafter(y[i], dtype(np.inf))
        assert ulp_distance(x, y).tolist() == steps.astype(float).tolist()
    assert ulp_distance(np.array([-0.0]), np.array([0.0]))[0] == 0
    assert ulp_distance(np.array([np.nan]), np.array([1.0]))[0] == np.inf
    assert ulp_distance(np.array([1.0]), np.array([np.nan]))[0] == np.inf
    assert ulp_distance(np.array([np.nan]), np.array([np.nan]))[0] == 0


def test_ulp_distance_counts_steps_downwards_across_zero_and_in_float16():
    tiny = np.float64(5e-324)
    assert ulp_distance(np.array([tiny]), np.array([-tiny]))[0] == 2  # tiny, 0, -tiny: two steps
    for dtype in (np.float16, np.float32, np.float64):
        x = np.array([1.5, -2.0, 0.0], dtype=dtype)
        y = x.copy()
        for _ in range(3):
            y = np.nextafter(y, dtype(-np.inf))
        assert ulp_distance(x, y).tolist() == [3.0, 3.0, 3.0]
        assert ulp_distance(y, x).tolist() == [3.0, 3.0, 3.0]


BAD_PROBES = {
    "not-a-mapping": lambda: [1, 2],
    "empty": lambda: {},
    "object-array": lambda: {"x": np.array([object()], dtype=object)},
}


@pytest.mark.parametrize("name", sorted(BAD_PROBES))
def test_malformed_probe_output_is_a_clear_error(name):
    probes = ProbeSet("bad")
    probes.inference("p")(BAD_PROBES[name])
    with pytest.raises(ParityInputError, match="probe 'p'"):
        take_snapshot(probes)


@pytest.mark.parametrize("call, match", [
    (lambda p: p.learning("x", seeds=()), "seeds"),
    (lambda p: p.learning("x", seeds=(1, 1)), "seeds"),
    (lambda p: p.inference("a/b")(lambda: {"x": 1}), "without '/'"),
    (lambda p: p.inference("x", ulps=-1), "ulps"),
    (lambda p: p.inference("x", ulps=1.5), "integer"),
    (lambda p: [p.inference("x")(lambda: {}), p.inference("x")(lambda: {})], "declared twice"),
], ids=["empty-seeds", "duplicate-seeds", "slash-in-name", "negative-ulps", "fractional-ulps", "duplicate-name"])
def test_bad_probe_declarations(call, match):
    with pytest.raises(ParityInputError, match=match):
        call(ProbeSet("s"))


def test_a_probe_that_raises_after_an_upgrade_is_a_change(tmp_path):
    probes = ProbeSet("raises")
    state = {"fail": False}

    @probes.evaluation("m")
    def m():
        if state["fail"]:
            raise ValueError("parameter 'eps' was removed")
        return {"v": 1.0}

    record_baseline(probes, root=tmp_path)
    state["fail"] = True
    (f,) = check_against_baseline("raises", probes, tmp_path).changed
    assert f.output == "*" and "ValueError: parameter 'eps' was removed" in f.size["error"]


def test_a_probe_that_raises_while_recording_is_an_error_naming_it(tmp_path):
    from harness.errors import ParityError

    probes = ProbeSet("broken")

    @probes.learning("fit", seeds=(3,))
    def fit(seed):
        raise RuntimeError("no data")

    with pytest.raises(ParityError, match=r"probe 'fit' \(seed 3\) raised RuntimeError: no data"):
        record_baseline(probes, root=tmp_path)
    assert not (tmp_path / "broken" / "baseline.json").exists()


def test_numpy_integer_seeds_are_stored(tmp_path):
    probes = ProbeSet("np_seeds")

    @probes.learning("fit", seeds=(np.int64(0), np.int64(1)))
    def fit(seed):
        return {"v": np.random.default_rng(int(seed)).normal(size=3)}

    record_baseline(probes, root=tmp_path)
    assert check_against_baseline("np_seeds", probes, tmp_path).changed == []


@pytest.mark.parametrize("all_seeds", [False, True], ids=["first-seed", "all-seeds"])
def test_seed_noise_band_and_interval(tmp_path, all_seeds):
    from scipy import stats

    probes = ProbeSet("noisy")
    shift = {"v": 0.0}

    @probes.learning("fit", seeds=(0, 1, 2, 3))
    def fit(seed):
        return {"metric": 0.8 + 0.01 * np.random.default_rng(seed).normal() + shift["v"]}

    record_baseline(probes, root=tmp_path)
    values = np.array([0.8 + 0.01 * np.random.default_rng(s).normal() for s in range(4)])
    spread = values.max() - values.min()
    shift["v"] = 0.4 * spread
    (f,) = check_against_baseline("noisy", probes, tmp_path, all_seeds=all_seeds).findings
    assert f.outcome.value == "WITHIN_NOISE" and "spread" in f.size["reason"]
    shift["v"] = 3 * spread
    (f,) = check_against_baseline("noisy", probes, tmp_path, all_seeds=all_seeds).findings
    assert f.outcome.value == "CHANGED"
    assert f.size["delta"] == pytest.approx(3 * spread, rel=1e-9)
    # Reference: Student t (3 d.o.f.) interval for the difference of one run (or of 4-run means) vs the baseline.
    scale = np.sqrt(2.0 / 4) if all_seeds else np.sqrt(2.0)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) * scale
    assert f.size["noise"]["interval_95"] == pytest.approx([3 * spread - half, 3 * spread + half], rel=1e-9)


def test_baseline_files_get_the_usual_permissions(tmp_path):
    record_baseline(numpy_probes(), root=tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    for p in (tmp_path / "np_suite").iterdir():
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p.name


def test_findings_name_added_and_removed_items_and_shape_changes_in_words(tmp_path):
    from harness.upgrade import findings_to_markdown

    probes = ProbeSet("words")
    state = {"n": 12, "dtype": np.int64, "extra": False}

    @probes.configuration("cfg")
    def cfg():
        params = {"items": [f"s{i}" for i in range(state["n"])]}
        if state["extra"]:
            params["new_key"] = 3
        return {"params": params}

    @probes.inference("ids")
    def ids():
        return {"ids": np.arange(state["n"], dtype=state["dtype"])}

    record_baseline(probes, root=tmp_path)
    state.update(n=11, extra=True)
    md = findings_to_markdown(check_against_baseline("words", probes, tmp_path))
    assert "`root['items'][11]`: removed 's11'" in md and "None" not in md
    assert "`root['new_key']`: added 3" in md
    table = md[md.index("| outcome |"):]  # (the header's list of tracked packages names ml-dtypes)
    assert "shape (12,) -> (11,) (1 element removed)" in table and "dtype" not in table
    state.update(n=13, extra=False, dtype=np.int32)
    md = findings_to_markdown(check_against_baseline("words", probes, tmp_path))
    assert "`root['items'][12]`: added 's12'" in md
    assert "shape (12,) -> (13,) (1 element added), dtype int64 -> int32" in md


def test_a_number_whose_type_changes_shows_both_values(tmp_path):
    # 1.0 -> 2 is a changed value, not only a changed dtype: the finding says both
    from harness.upgrade import ProbeSet, check_against_baseline, findings_to_markdown, record_baseline

    state = {"new": False}
    probes = ProbeSet("types")

    @probes.configuration("cfg")
    def cfg():
        return {"C": 2 if state["new"] else 1.0, "ids": np.arange(11 if state["new"] else 12)}

    record_baseline(probes, root=tmp_path)
    state["new"] = True
    md = findings_to_markdown(check_against_baseline("types", probes, tmp_path))
    assert "`cfg/C` | 1.0 -> 2, dtype float64 -> int64 |" in md
    assert "`cfg/ids` | shape (12,) -> (11,) (1 element removed) |" in md


def test_no_version_change_names_the_packages_the_fingerprint_tracks(tmp_path):
    """'No package version changed' read as if nothing at all had been upgraded; only the fingerprint's
    packages are compared (an upgraded tqdm is not among them), so the line says which those are."""
    from harness.upgrade import findings_to_markdown
    from harness.upgrade.fingerprint import NUMERIC_PACKAGES, normalise_distribution

    probes = ProbeSet("tracked")

    @probes.configuration("cfg")
    def cfg():
        return {"value": 1}

    record_baseline(probes, root=tmp_path)
    md = findings_to_markdown(check_against_baseline("tracked", probes, tmp_path))
    line = next(x for x in md.splitlines() if x.startswith("No version changed"))
    named = line.split("(", 1)[1].rstrip(").").split(", ")
    assert "numpy" in named and "tqdm" not in named
    assert set(named) <= {normalise_distribution(p) for p in NUMERIC_PACKAGES}
