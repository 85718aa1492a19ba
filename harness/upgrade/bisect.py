"""Bisection of an upgrade: which of the upgraded packages produces each CHANGED probe output.

When several packages moved between the baseline's environment and this one, the gate's attribution
("upgraded packages whose code the probe ran") can name all of them. `bisect` finds out by experiment:
it builds throwaway virtual environments in which some of the packages are back at their baseline
versions, reruns the changed probes there, and applies delta debugging (Zeller & Hildebrandt's ddmin,
"Simplifying and Isolating Failure-Inducing Input", 2002) over the set of upgraded packages.

For each changed output the result is a list of *causes*. A cause is a 1-minimal set S of packages:
with only S at its current version (every other changed package at its baseline version) the output
changes; with any one member of S also reverted it does not. One package is the common answer; two
packages that change the output only together are one cause of two. When the output also changes with
S reverted (two upgrades that each change it on their own), ddmin runs again over the remaining
packages and finds the next cause, until reverting every cause leaves the output unchanged.

Environments are `sys.executable -m venv DIR`, then ``DIR/bin/python -m pip install pkg==version ...``
(argument lists, never a shell; pip's own cache and any ``--find-links``/index options in ``pip_args``
make reruns offline and fast). They are cached under ``venv_root`` by the hash of what was asked for,
so a rerun of the bisection reuses them. By default pip resolves dependencies (a subset that cannot be
installed together is recorded, not guessed around). ``no_deps=True`` passes ``--no-deps``: that is
safe only when ``requirements`` plus the changed packages are the environment's complete pinned set
(e.g. its ``pip freeze``), so nothing is missing and nothing else moves; ``pip check`` then verifies
the declared requirements of the mix and a conflict is recorded as an install failure. Every failure
is kept with pip's message ("could not install numpy==1.26.4, scipy==1.16.3: ERROR: ..."); a test that
could not be run is "unresolved" and the result says which causes may therefore not be minimal.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ParityInputError

__all__ = ["BisectResult", "BisectSettings", "EnvBuild", "OutputBisect", "Run", "bisect", "bisect_check", "build_env",
           "bisect_to_markdown", "default_venvs"]

_MARKER = ".parity-bisect.json"


@dataclass(frozen=True)
class EnvBuild:
    """A throwaway environment: its python, or why it could not be built."""

    requirements: tuple[str, ...]
    python: Path | None
    error: str | None = None


@dataclass(frozen=True)
class Run:
    """One rerun: the packages at their current version (the rest of the changed ones reverted)."""

    upgraded: tuple[str, ...]
    reverted: tuple[str, ...]
    requirements: tuple[str, ...]
    changed_outputs: tuple[str, ...] | None  # None: the environment could not be built or the rerun failed
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"upgraded": list(self.upgraded), "reverted": list(self.reverted), "requirements": list(self.requirements),
                "changed_outputs": None if self.changed_outputs is None else list(self.changed_outputs),
                "error": self.error}


@dataclass
class OutputBisect:
    """What produced one changed output. ``causes``: 1-minimal package sets (see the module docstring)."""

    output: str
    causes: list[tuple[str, ...]] = field(default_factory=list)
    explained: bool = False  # reverting every cause leaves the output unchanged (tested)
    minimal: bool = True  # False when a test inside ddmin could not be run
    note: str = ""

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted({p for c in self.causes for p in c}))

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "causes": [list(c) for c in self.causes], "packages": list(self.packages),
                "explained": self.explained, "minimal": self.minimal, "note": self.note}


@dataclass
class BisectResult:
    changed: dict[str, tuple[str | None, str | None]]
    outputs: dict[str, OutputBisect]
    runs: list[Run]
    install_failures: list[str]
    notes: list[str] = field(default_factory=list)

    def culprits(self, output: str) -> tuple[str, ...]:
        """Every package named in a cause of ``output`` (KeyError naming the bisected outputs if unknown)."""
        if output not in self.outputs:
            raise KeyError(f"output {output!r} was not bisected; bisected: {sorted(self.outputs)}")
        return self.outputs[output].packages

    @property
    def complete(self) -> bool:
        """Every changed output is explained by minimal causes and every environment was built."""
        return bool(self.outputs) and all(o.explained and o.minimal for o in self.outputs.values())

    def to_dict(self) -> dict[str, Any]:
        return {"changed_packages": {k: list(v) for k, v in sorted(self.changed.items())},
                "outputs": [o.to_dict() for _, o in sorted(self.outputs.items())],
                "install_failures": list(self.install_failures), "notes": list(self.notes),
                "runs": [r.to_dict() for r in self.runs], "complete": self.complete}


# ----------------------------------------------------------------------------------------------
# environments
# ----------------------------------------------------------------------------------------------

def _pip_message(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stderr or "") + (proc.stdout or "")
    errors = [line.strip() for line in text.splitlines() if line.strip().startswith("ERROR")]
    return " ".join(errors)[:1500] if errors else text.strip()[-1500:] or f"pip exited {proc.returncode}"


def build_env(requirements: Sequence[str], *, venv_root: str | Path, pip_args: Sequence[str] = (),
              no_deps: bool = False, python: str | Path = sys.executable, timeout: float = 1800) -> EnvBuild:
    """A venv under ``venv_root`` with exactly ``requirements`` installed (reused when already built).

    The folder is named by a hash of (requirements, pip_args, no_deps, the base Python), so a rerun
    finds it; a marker file written only after a successful install says it is complete.
    """
    reqs = tuple(requirements)
    if not reqs or any(not isinstance(r, str) or not r.strip() or r.startswith("-") for r in reqs):
        raise ParityInputError(f"build_env: requirements must be non-empty 'name==version' strings (options go in "
                               f"pip_args), got {list(reqs)!r}", argument="requirements", value=list(reqs))
    spec = {"requirements": list(reqs), "pip_args": list(pip_args), "no_deps": bool(no_deps),
            "python": str(Path(python))}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(venv_root) / f"env-{key}"
    env_python = folder / "bin" / "python"
    marker = folder / _MARKER
    try:
        if env_python.exists() and json.loads(marker.read_text()) == spec:
            return EnvBuild(reqs, env_python)
    except (OSError, ValueError):
        pass  # no marker or a broken one: build again
    what = ", ".join(reqs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(python), "-m", "venv", "--clear", str(folder)], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        return EnvBuild(reqs, None, f"could not create a venv in {folder}: {_pip_message(proc)}")
    install = [str(env_python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
               *(["--no-deps"] if no_deps else []), *pip_args, *reqs]
    proc = subprocess.run(install, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return EnvBuild(reqs, None, f"could not install {what}: {_pip_message(proc)}")
    if no_deps:  # --no-deps installs whatever was asked; pip check says whether the mix is consistent
        proc = subprocess.run([str(env_python), "-m", "pip", "check", "--disable-pip-version-check"],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            return EnvBuild(reqs, None, f"could not install {what} consistently (pip check): "
                                        f"{(proc.stdout or proc.stderr).strip()[:1500]}")
    marker.write_text(json.dumps(spec, sort_keys=True))
    return EnvBuild(reqs, env_python)


# ----------------------------------------------------------------------------------------------
# delta debugging
# ----------------------------------------------------------------------------------------------

def _split(items: list[str], n: int) -> list[list[str]]:
    """``n`` contiguous chunks of near-equal size (larger ones first), in order."""
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [c for c in chunks if c]


def _ddmin(items: list[str], test: Callable[[list[str]], bool | None]) -> tuple[list[str], bool]:
    """A 1-minimal subset of ``items`` for which ``test`` is True, given test(items) is True and test([])
    is not. Returns (subset, resolved): resolved is False when some test returned None (could not run),
    in which case the subset is the smallest found but may not be 1-minimal."""
    resolved = True
    n = 2
    while len(items) >= 2:
        chunks = _split(items, n)
        reduced = False
        for chunk in chunks:
            outcome = test(chunk)
            resolved &= outcome is not None
            if outcome is True:
                items, n, reduced = chunk, 2, True
                break
        if not reduced and n > 2:  # with two chunks each complement is the other chunk: already tested
            for chunk in chunks:
                complement = [x for x in items if x not in chunk]
                outcome = test(complement)
                resolved &= outcome is not None
                if outcome is True:
                    items, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(2 * n, len(items))
    return items, resolved


def _validate_changed(changed: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    if not isinstance(changed, Mapping) or not changed:
        raise ParityInputError("bisect: changed must be a non-empty mapping {package: (baseline_version, "
                               f"current_version)}}, got {changed!r}", argument="changed")
    out = {}
    for pkg, versions in changed.items():
        ok = isinstance(pkg, str) and pkg.strip() and isinstance(versions, (tuple, list)) and len(versions) == 2
        if ok:
            base, cur = versions
            ok = all(v is None or (isinstance(v, str) and v.strip()) for v in (base, cur)) and base != cur
            ok = ok and not (base is None and cur is None)
        if not ok:
            raise ParityInputError(f"bisect: changed[{pkg!r}] must be (baseline_version, current_version), two "
                                   f"different version strings (None: not installed on that side), got {versions!r}",
                                   argument="changed", value=versions)
        out[pkg] = (versions[0], versions[1])
    return dict(sorted(out.items()))


def bisect(changed: Mapping[str, tuple[str | None, str | None]], rerun: Callable[[Path], Iterable[str]], *,
           venv_root: str | Path, pip_args: Sequence[str] = (), requirements: Sequence[str] = (),
           no_deps: bool = False, outputs: Iterable[str] | None = None, find_all: bool = True,
           python: str | Path = sys.executable, build: Callable[[Sequence[str]], EnvBuild] | None = None,
           log: Callable[[str], None] | None = None) -> BisectResult:
    """For each CHANGED output, the package sets that produce it (see the module docstring).

    ``changed``: ``{package: (baseline_version, current_version)}`` (`fingerprint.changed_packages`).
    ``rerun(python)``: runs the upgrade check with that interpreter and returns the CHANGED outputs
    (``"probe/output"``). ``requirements``: what every environment also needs (the probes' other
    dependencies, pinned). ``outputs``: the outputs to explain (default: those changed with every
    package at its current version). ``build``: replaces `build_env` (tests). Every environment and
    rerun is run at most once per configuration.
    """
    changed = _validate_changed(changed)
    packages = list(changed)
    builder = build or (lambda reqs: build_env(reqs, venv_root=venv_root, pip_args=pip_args, no_deps=no_deps,
                                               python=python))
    say = log or (lambda message: None)
    runs: list[Run] = []
    failures: list[str] = []
    cache: dict[frozenset[str], frozenset[str] | None] = {}

    def outcome(upgraded: Iterable[str]) -> frozenset[str] | None:
        key = frozenset(upgraded)
        if key in cache:
            return cache[key]
        versions = {p: changed[p][1] if p in key else changed[p][0] for p in packages}
        reqs = tuple(f"{p}=={v}" for p, v in versions.items() if v is not None) + tuple(requirements)
        reverted = tuple(p for p in packages if p not in key)
        say(f"bisect: environment with {', '.join(reqs)}")
        env = builder(reqs)
        result: frozenset[str] | None = None
        error = env.error
        if env.python is None:
            failures.append(env.error or f"could not install {', '.join(reqs)}")
        else:
            try:
                result = frozenset(rerun(env.python))
            except Exception as exc:  # noqa: BLE001 - a rerun that fails is recorded, the bisection goes on
                error = f"the rerun in {env.python} failed: {type(exc).__name__}: {exc}"
        cache[key] = result
        runs.append(Run(tuple(sorted(key)), reverted, reqs, None if result is None else tuple(sorted(result)), error))
        return result

    notes: list[str] = []
    current = outcome(packages)
    if current is None:
        notes.append("the environment with every package at its current version could not be built or run; "
                     "nothing was bisected")
        return BisectResult(changed, {}, runs, failures, notes)
    targets = sorted(set(outputs) if outputs is not None else current)
    baseline = outcome([])
    result: dict[str, OutputBisect] = {}
    for name in targets:
        entry = result[name] = OutputBisect(name)
        if name not in current:
            entry.note = ("not changed in a throwaway environment with every package at its current version: "
                          "something outside these packages and requirements changes it")
            continue
        if baseline is None:
            entry.minimal, entry.note = False, "the environment with every package at its baseline version could not be built or run"
            continue
        if name in baseline:
            entry.note = ("changed even with every package at its baseline version: not produced by these upgrades "
                          "(Python, OS or CPU differ from the baseline's, or the probe is not deterministic)")
            continue

        def test(upgraded: list[str], output: str = name) -> bool | None:
            got = outcome(upgraded)
            return None if got is None else output in got

        remaining = list(packages)
        while True:
            cause, resolved = _ddmin(remaining, test)
            entry.causes.append(tuple(cause))
            entry.minimal &= resolved
            rest = [p for p in remaining if p not in cause]
            if not rest:
                entry.explained = True  # every other package reverted too: that is the baseline run, unchanged
                break
            still = test(rest)
            if still is False:
                entry.explained = True
                break
            if still is None:
                entry.minimal = False
                entry.note = f"could not test whether reverting {', '.join(cause)} alone removes the change"
                break
            if not find_all:
                entry.note = "other upgrades also produce this change (find_all=False: not bisected further)"
                break
            remaining = rest
    return BisectResult(changed, result, runs, failures, notes)


def bisect_to_markdown(result: BisectResult) -> str:
    """The bisection as a short review: per output its causes, then what could not be installed."""
    lines = ["# Upgrade bisection", "", "Changed packages: " + ", ".join(
        f"{p} {b or '(absent)'} -> {c or '(absent)'}" for p, (b, c) in sorted(result.changed.items())), ""]
    if not result.outputs:
        lines.append("No changed output was bisected.")
    for name, o in sorted(result.outputs.items()):
        causes = "; ".join(" + ".join(c) for c in o.causes) or "none found"
        flags = [] if o.minimal else ["may not be minimal: some environments could not be built"]
        if o.causes and not o.explained:
            flags.append("reverting these did not leave it unchanged")
        lines.append(f"- `{name}`: {causes}" + (f" ({'; '.join(flags)})" if flags else "")
                     + (f". {o.note}" if o.note else ""))
    for note in result.notes:
        lines.append(f"- note: {note}")
    if result.install_failures:
        lines += ["", "Could not install:"] + [f"- {f}" for f in result.install_failures]
    failed = [r for r in result.runs if r.changed_outputs is None and r.error and r.error not in result.install_failures]
    if failed:
        lines += ["", "Reruns that failed:"] + [f"- with {', '.join(r.requirements)}: {r.error}" for r in failed]
    lines += ["", f"{len(result.runs)} environments run."]
    return "\n".join(lines) + "\n"



# ----------------------------------------------------------------------------------------------
# a suite's check, bisected: what `parity baseline bisect` and the gate's --bisect option run
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BisectSettings:
    """The knobs of a suite bisection, one meaning in every shell: ``venvs`` (where the throwaway venvs
    go; None: `default_venvs`), ``packages`` (bisect over these changed packages only), ``requirements``
    (also installed in every environment), ``freeze`` (pin every other distribution installed here and
    install with --no-deps), ``pip_args`` (passed to pip install)."""

    venvs: Path | None = None
    packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    freeze: bool = False
    pip_args: tuple[str, ...] = ()


def default_venvs() -> Path:
    return Path(os.environ.get("PARITY_UPGRADE_VENVS", "/tmp/parity-upgrade-venvs")) / "bisect"


# Runs in a throwaway venv: check the named probes of one suite against its baseline, print the
# CHANGED outputs as a JSON list. Passed with -c (no file to place, no shell).
_RERUN = """
import json, sys
from harness.discovery import find_suite_files
from harness.upgrade import ProbeSet, check_against_baseline
suite_name, suites_dir, baseline_dir, out, *probes = sys.argv[1:]
((file, suite),) = find_suite_files([suite_name], root=suites_dir)
chosen = ProbeSet(suite.name, source_file=file)
for name in probes:
    chosen.add(suite.probes[name])
result = check_against_baseline(suite.name, chosen, baseline_dir or None, suite_file=file)
with open(out, "w") as fh:
    json.dump(sorted(f"{f.probe}/{f.output}" for f in result.changed), fh)
"""


def _norm(name: str) -> str:
    """A distribution name as pip compares them (case, '_' and '.' as '-')."""
    return name.lower().replace("_", "-").replace(".", "-")


def _frozen(skip: set[str]) -> list[str]:
    """``name==version`` for every distribution installed here except ``skip``, pip and this project."""
    from importlib.metadata import distributions

    skipped = {_norm(s) for s in skip} | {"pip", "parity-harness"}
    pins = {_norm(d.metadata["Name"]): f"{d.metadata['Name']}=={d.version}" for d in distributions()
            if d.metadata["Name"] and _norm(d.metadata["Name"]) not in skipped}
    return [pins[k] for k in sorted(pins)]


_PROJECT_PACKAGES = ("harness", "legacy_adapter", "new_platform")  # what this distribution installs


def _source_shim(folder: Path) -> Path:
    """``folder`` holding only this project's packages, as links to where this process imports them
    from: the throwaway environments' PYTHONPATH. (The folder above an installed ``harness`` is
    site-packages: on PYTHONPATH it put every package installed here, at its version here, in front of
    the environment's own, and every environment then reran with the upgraded versions.)"""
    import importlib.util

    folder.mkdir(parents=True, exist_ok=True)
    for name in _PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        (folder / name).symlink_to(Path(list(spec.submodule_search_locations)[0]).resolve(), target_is_directory=True)
    return folder


def _own_requirements(skip: set[str]) -> list[str]:
    """``name==version``, as installed here, of this project's own dependencies (not its extras): a
    throwaway environment imports the harness from its source (`_source_shim`), so it needs them, and
    pinned they are what runs here. ``skip``: the packages being bisected and those the user pins."""
    import re
    from importlib.metadata import PackageNotFoundError, requires, version

    try:
        declared = requires("parity-harness") or []
    except PackageNotFoundError:  # a source tree that was never installed: nothing to read the list from
        return []
    skipped = {_norm(s) for s in skip}
    out: dict[str, str] = {}
    for req in declared:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if name is None or _norm(name.group(1)) in skipped:
            continue
        try:  # one of a marker-split pair (tensorflow-cpu / tensorflow) is not installed: skipped
            out[_norm(name.group(1))] = f"{name.group(1)}=={version(name.group(1))}"
        except PackageNotFoundError:
            continue
    return [out[k] for k in sorted(out)]


def _rerun_env(source: Path) -> dict[str, str]:
    """The environment of a rerun: the few variables that locate data, baselines and the engine, and
    PYTHONPATH = this project's packages only (`_source_shim`)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PARITY_GOLDEN_DIR",
                                                         "PARITY_BASELINE_DIR", "PARITY_NUMBA")}
    env.update(PYTHONPATH=str(source), PYTHONHASHSEED="0")
    return env


def _suite_rerun(suite: str, suites_dir: Path, baseline_dir: Path | None, probes: list[str], source: Path
                 ) -> Callable[[Path], set[str]]:
    env = _rerun_env(source)

    def rerun(python: Path) -> set[str]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "changed.json"
            proc = subprocess.run([str(python), "-c", _RERUN, suite, str(suites_dir),
                                   "" if baseline_dir is None else str(baseline_dir), str(out), *probes],
                                  capture_output=True, text=True, env=env, timeout=3600)
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
            return set(json.loads(out.read_text()))

    return rerun


def bisect_check(suite: str, check: Any, *, suite_file: str | Path, baseline_dir: Path | None,
                 settings: BisectSettings = BisectSettings(), log: Callable[[str], None] | None = None
                 ) -> BisectResult | None:
    """Bisect the CHANGED outputs of ``check`` (an `UpgradeResult` of ``suite``, declared in
    ``suite_file``) over its changed packages; None when there is nothing to bisect (no output changed,
    or no package version did). ``settings.packages`` naming a package that did not change is a
    `ParityInputError`. The throwaway environments rerun only the changed probes, importing the suite
    from the folder of ``suite_file``."""
    changed = dict(check.changed_packages)
    if settings.packages:
        unknown = sorted(set(settings.packages) - set(changed))
        if unknown:
            raise ParityInputError(f"bisect packages {unknown}: not among the changed packages {sorted(changed)}",
                                   argument="packages", value=unknown)
        changed = {p: changed[p] for p in settings.packages}
    outputs = sorted(f"{f.probe}/{f.output}" for f in check.changed)
    if not outputs or not changed:
        return None
    probes = sorted({o.split("/", 1)[0] for o in outputs})
    pinned = set(changed) | {r.split("==")[0] for r in settings.requirements}
    requirements = list(settings.requirements) + (_frozen(pinned) if settings.freeze else _own_requirements(pinned))
    with tempfile.TemporaryDirectory(prefix="parity-bisect-source-") as tmp:
        rerun = _suite_rerun(suite, Path(suite_file).resolve().parent, baseline_dir, probes,
                             _source_shim(Path(tmp) / "source"))
        return bisect(changed, rerun, venv_root=settings.venvs or default_venvs(), pip_args=settings.pip_args,
                      requirements=requirements, no_deps=settings.freeze, outputs=outputs, log=log)
