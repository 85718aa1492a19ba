"""The side cache (harness.cache): a rerun that changes nothing reuses the trained side; a change of
configuration, data sha256, code or a package version retrains; an entry that does not verify or does not
load is retrained, never trusted; PARITY_CACHE=0 always trains. Real files in a temporary cache folder,
a toy side (a JSON file) instead of a model."""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from harness import cache
from harness.errors import ParityInputError


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PARITY_CACHE", raising=False)
    cache.clear_cache_events()
    yield
    cache.clear_cache_events()


class Toy:
    """Counts builds; the 'side' is the dict stored in side.json."""

    def __init__(self, value=1):
        self.value, self.builds = value, 0

    def build(self, folder: Path) -> None:
        self.builds += 1
        (folder / "side.json").write_text(json.dumps({"value": self.value}))

    @staticmethod
    def load(folder: Path) -> dict:
        return json.loads((folder / "side.json").read_text())


def _side(toy, **kw):
    args = {"data": {"ds/train": "a" * 64}, "config": {"lr": 0.1}, "packages": ["numpy"]}
    args.update(kw)
    return cache.cached_side("toy", toy.build, toy.load, **args)


def test_a_rerun_reuses_the_side_and_says_so():
    toy = Toy()
    assert _side(toy) == {"value": 1}
    assert _side(toy) == {"value": 1}
    assert toy.builds == 1
    events = cache.cache_events()
    assert [e["reused"] for e in events] == [False, True]
    assert events[0]["key"] == events[1]["key"] and len(events[0]["key"]) == 64
    assert set(events[0]) == {"side", "key", "reused", "reason"} and events[0]["side"] == "toy"


def test_config_key_order_does_not_matter_but_values_do():
    toy = Toy()
    _side(toy, config={"a": 1, "b": 2})
    _side(toy, config={"b": 2, "a": 1})
    assert toy.builds == 1
    _side(toy, config={"a": 1, "b": 3})
    assert toy.builds == 2


@pytest.mark.parametrize("change", [
    pytest.param({"config": {"lr": 0.2}}, id="config"),
    pytest.param({"data": {"ds/train": "b" * 64}}, id="data-sha256"),
    pytest.param({"packages": ["numpy", "scipy"]}, id="another-package"),
])
def test_a_change_that_determines_the_side_retrains(change):
    toy = Toy()
    _side(toy)
    _side(toy, **change)
    assert toy.builds == 2
    assert [e["reused"] for e in cache.cache_events()] == [False, False]


def test_a_package_upgrade_retrains(monkeypatch):
    toy = Toy()
    real = metadata.version
    _side(toy, packages=["scikit-learn"])
    _side(toy, packages=["scikit-learn"])
    assert toy.builds == 1
    monkeypatch.setattr(metadata, "version", lambda name: "999.0" if name == "scikit-learn" else real(name))
    _side(toy, packages=["scikit-learn"])
    assert toy.builds == 2
    first, _, upgraded = cache.cache_events()
    assert first["key"] != upgraded["key"]


def test_a_code_change_retrains(tmp_path):
    suite_file = tmp_path / "test_suite.py"
    suite_file.write_text("MARGIN = 0.01\n")
    toy = Toy()
    _side(toy, code=[suite_file])
    _side(toy, code=[suite_file])
    assert toy.builds == 1
    suite_file.write_text("MARGIN = 0.02\n")
    _side(toy, code=[suite_file])
    assert toy.builds == 2


def test_the_builders_own_source_is_part_of_the_key():
    class Other(Toy):
        def build(self, folder: Path) -> None:  # same output, other code
            self.builds += 1
            (folder / "side.json").write_text(json.dumps({"value": self.value}))

    a, b = Toy(), Other()
    _side(a)
    _side(b)
    assert (a.builds, b.builds) == (1, 1)


def _entry_folder() -> Path:
    (entry,) = [p for p in cache.cache_dir().iterdir() if not p.name.startswith(".")]
    return entry


@pytest.mark.parametrize("corrupt", [
    pytest.param(lambda e: (e / "artifacts" / "side.json").write_text('{"value": 666}'), id="artifact-changed"),
    pytest.param(lambda e: (e / "artifacts" / "extra.bin").write_bytes(b"x"), id="file-added"),
    pytest.param(lambda e: (e / "artifacts" / "side.json").unlink(), id="file-removed"),
    pytest.param(lambda e: (e / "entry.json").write_text("{not json"), id="entry-unreadable"),
    pytest.param(lambda e: (e / "entry.json").write_text(json.dumps({"format": cache.FORMAT, "key": "0" * 64,
                                                                     "files": {}})), id="entry-of-another-key"),
])
def test_a_corrupt_entry_is_retrained_not_trusted(corrupt):
    toy = Toy()
    _side(toy)
    corrupt(_entry_folder())
    assert _side(toy) == {"value": 1}  # the rebuilt side, never the tampered one
    assert toy.builds == 2
    last = cache.cache_events()[-1]
    assert last["reused"] is False and last["reason"].startswith("corrupt entry retrained")
    assert _side(toy) == {"value": 1} and toy.builds == 2  # the rebuilt entry is trusted again


def test_a_link_in_the_artifacts_is_not_trusted(tmp_path):
    toy = Toy()
    _side(toy)
    outside = tmp_path / "outside.json"
    outside.write_text('{"value": 666}')
    side = _entry_folder() / "artifacts" / "side.json"
    side.unlink()
    side.symlink_to(outside)
    assert _side(toy) == {"value": 1} and toy.builds == 2
    assert "link" in cache.cache_events()[-1]["reason"]


def test_an_entry_that_fails_to_load_is_retrained():
    calls = {"n": 0}
    toy = Toy()

    def flaky_load(folder: Path) -> dict:
        calls["n"] += 1
        if calls["n"] == 2:  # the second run's load of the stored entry
            raise ValueError("truncated model")
        return Toy.load(folder)

    for _ in range(2):
        cache.cached_side("toy", toy.build, flaky_load, config={})
    assert toy.builds == 2
    assert "load failed (ValueError: truncated model)" in cache.cache_events()[-1]["reason"]


def test_parity_cache_0_always_trains_and_stores_nothing(monkeypatch):
    monkeypatch.setenv("PARITY_CACHE", "0")
    toy = Toy()
    assert _side(toy) == {"value": 1}
    assert _side(toy) == {"value": 1}
    assert toy.builds == 2
    assert not cache.cache_dir().exists()
    assert all(not e["reused"] and e["reason"].startswith("disabled") for e in cache.cache_events())


def test_the_default_folder_is_the_users_cache_outside_the_source_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("PARITY_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "parity-harness" / "sides"


def test_a_failed_build_leaves_no_entry():
    def broken(folder: Path) -> None:
        (folder / "half.json").write_text("{")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.cached_side("toy", broken, Toy.load, config={})
    assert list(cache.cache_dir().iterdir()) == []
    assert cache.cache_events() == []


@pytest.mark.parametrize(("kw", "match"), [
    pytest.param({"packages": ["no-such-distribution-xyz"]}, "package 'no-such-distribution-xyz' is not installed",
                 id="unknown-package"),
    pytest.param({"config": {"lr": float("nan")}}, "config must be JSON-serializable with finite numbers",
                 id="nan-config"),
    pytest.param({"code": ["/no/such/file.py"]}, "is not a file", id="missing-code-file"),
])
def test_bad_key_parts_are_named(kw, match):
    with pytest.raises(ParityInputError, match=match):
        _side(Toy(), **kw)


def test_data_key_reads_the_verified_split_hashes():
    class Dataset:
        name = "ds"
        manifest = {"splits": {"train": {"sha256": "a" * 64}, "eval": {"sha256": "b" * 64}}}

    assert cache.data_key(Dataset(), ["train"]) == {"ds/train": "a" * 64}
    assert cache.data_key(Dataset()) == {"ds/train": "a" * 64, "ds/eval": "b" * 64}
    with pytest.raises(ParityInputError, match=r"no split\(s\) \['test'\]"):
        cache.data_key(Dataset(), ["test"])


def test_an_import_name_resolves_to_its_distribution(monkeypatch):
    # tensorflow is installed as tensorflow-cpu on CPU machines: the import name still keys the cache
    monkeypatch.setattr(metadata, "packages_distributions", lambda: {"fakepkg": ["numpy"]})
    _, parts = cache.side_key("toy", packages=["fakepkg"])
    assert parts["packages"] == {"fakepkg": f"numpy {metadata.version('numpy')}"}
