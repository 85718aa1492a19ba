"""Throwaway virtual environments for the real-install upgrade tests, shared by test_upgrade_real.py,
test_upgrade_noise_real.py and test_upgrade_bisect.py (conftest.py loads this file as ``upgrade_venvs``):
cached under ``$PARITY_UPGRADE_VENVS`` (default /tmp/parity-upgrade-venvs), rebuilt when the installed
versions are not the ones asked for, skipped only when pip cannot reach the package index. Every subprocess
takes an argument list, never a shell."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def venv_root() -> Path:
    return Path(os.environ.get("PARITY_UPGRADE_VENVS", "/tmp/parity-upgrade-venvs"))


def cached_venv(name: str, requirements: list[str], *, check: str, want: str, tmp_path: Path) -> Path:
    """The python of venv ``name`` with ``requirements`` installed; reused when ``python -c check`` prints
    ``want``."""
    venv = venv_root() / name
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=300)
        if probe.returncode == 0 and probe.stdout.strip() == want:
            return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--only-binary=:all:", *requirements],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        reach = subprocess.run([str(python), "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d",
                                str(tmp_path / "pipcheck"), "threadpoolctl"], capture_output=True, text=True, timeout=300)
        if reach.returncode != 0:
            pytest.skip(f"pip cannot reach the package index to install {want}: {proc.stderr[-500:]}")
        raise AssertionError(f"pip install {' '.join(requirements)} failed:\n{proc.stderr[-3000:]}")
    return python


def run_in(python: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python args`` with this repository on PYTHONPATH; its stdout, and a failure shows its output."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", **(env or {})}
    proc = subprocess.run([str(python), *args], capture_output=True, text=True, env=full, cwd=str(REPO), timeout=900)
    assert proc.returncode == 0, f"{python} {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def fake_build_env(requirements: list[str], *, venv_root: Path, **_: object) -> object:
    """A stand-in for `harness.upgrade.bisect.build_env` that installs nothing: a wrapper that runs this
    interpreter with the pins it was "built" with in ``PARITY_TEST_FAKE_PINS`` (the bisection tests' probes
    read them there)."""
    from harness.upgrade.bisect import EnvBuild

    wrapper = Path(venv_root) / f"python-{len(list(Path(venv_root).glob('python-*')))}"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f"#!{sys.executable}\nimport os, sys\n"
                       f"os.environ['PARITY_TEST_FAKE_PINS'] = {','.join(requirements)!r}\n"
                       f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n")
    wrapper.chmod(0o755)
    return EnvBuild(tuple(requirements), wrapper)


def probes_script(body: str, probe_set: str) -> str:
    """A probes script to run in a venv: ``body`` (defines ``make()``, the `ProbeSet` named ``probe_set``, and
    imports json, sys, record_baseline and check_against_baseline), then the command line the real-install
    tests drive: ``record ROOT`` records the baseline; ``check ROOT OUT`` writes the check's result to OUT as
    JSON."""
    return textwrap.dedent(body) + f'''
action, root = sys.argv[1], sys.argv[2]
if action == "record":
    record_baseline(make(), root=root)
else:
    result = check_against_baseline("{probe_set}", make(), root)
    with open(sys.argv[3], "w") as fh:
        json.dump(result.to_dict(), fh)
'''
