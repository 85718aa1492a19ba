"""The environment fingerprint: everything outside our code that can change a model's numbers.

A fingerprint is a plain JSON-able dict recorded next to every baseline, so a finding can say which
package upgrade (or which BLAS, CPU or environment variable) can explain a changed behaviour.
Package versions come from ``importlib.metadata`` so that fingerprinting never imports TensorFlow;
the BLAS/OpenMP libraries come from threadpoolctl, which only sees libraries already loaded, so we
import numpy and scipy (cheap, always used by the probes) before asking.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["NUMERIC_ENV_VARS", "NUMERIC_PACKAGES", "changed_packages", "environment_diffs", "fingerprint",
           "normalise_distribution"]

# Distributions whose versions can change numbers. Aliases (tensorflow vs tensorflow-cpu) are normalised
# to one key so that a fingerprint taken on a GPU box compares with one taken on a CPU box.
NUMERIC_PACKAGES: tuple[str, ...] = (
    "tensorflow",
    "tensorflow-cpu",
    "tf-keras",
    "keras",
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "ml-dtypes",
    "protobuf",
    "h5py",
    "deepdiff",
    "threadpoolctl",
    "joblib",
    "skops",
    "jax",
    "jaxlib",
    "torch",
)
_ALIASES = {"tensorflow-cpu": "tensorflow", "tensorflow-gpu": "tensorflow", "tensorflow-intel": "tensorflow"}

# Environment variables that change numerics or threading (and hence reduction order). Not
# TF_CPP_MIN_LOG_LEVEL: the CLI defaults it to quiet TensorFlow's logs, and logging moves no number.
NUMERIC_ENV_VARS: tuple[str, ...] = (
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_XLA_FLAGS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "MKL_CBWR",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES",
    "KERAS_BACKEND",
    "SKLEARN_ASSUME_FINITE",
    "SCIPY_ARRAY_API",
    "NPY_DISABLE_CPU_FEATURES",
)

# CPU flags that decide which SIMD kernels numpy/oneDNN/OpenBLAS dispatch to (and so the rounding).
_SIMD_FLAGS = (
    "sse2", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
)


def normalise_distribution(name: str) -> str:
    """A distribution's name as fingerprints key it: PEP 503 lower case and dashes, aliases merged."""
    key = "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))
    return _ALIASES.get(key, key)


def _versions(packages: Iterable[str]) -> dict[str, str]:
    return dict(_versions_once(tuple(packages)))


@lru_cache(maxsize=None)
def _versions_once(packages: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Read once per process: importlib.metadata scans every sys.path entry per name (~20 ms for
    these packages, paid after every suite run), and the modules a process has imported do not
    change version under it (an upgrade is judged in another process, or another venv)."""
    out: dict[str, str] = {}
    for name in packages:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        out.setdefault(_ALIASES.get(name, name), version)
    return tuple(sorted(out.items()))


def _cpu() -> dict[str, Any]:
    info = dict(_cpu_once())
    info["flags"] = None if info["flags"] is None else list(info["flags"])
    return info


@lru_cache(maxsize=None)
def _cpu_once() -> dict[str, Any]:
    """Read once per process (the CPU does not change under it); `_cpu` hands out copies."""
    info: dict[str, Any] = {"machine": platform.machine(), "processor": platform.processor() or None,
                            "count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:  # not Linux: the platform fields above are all we can get without a dependency
        info["model"] = None
        info["flags"] = None
        return info
    model = flags = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:  # x86 / arm
            flags = set(value.split())
    info["model"] = model
    # Only SIMD flags: the full list contains bug/mitigation flags that differ between identical
    # machines and would make every check on a new CI runner look like an environment change.
    info["flags"] = sorted(f for f in (flags or ()) if f in _SIMD_FLAGS or f.startswith(("asimd", "sve")))
    return info


def _threadpools(import_sklearn: bool) -> list[dict[str, Any]]:
    try:
        import threadpoolctl
    except ImportError:
        return []
    import numpy  # noqa: F401  (load its BLAS so threadpoolctl can see it)

    try:
        import scipy.linalg  # noqa: F401
    except ImportError:
        pass
    if import_sklearn:
        try:
            import sklearn.utils  # noqa: F401  (its OpenMP runtime)
        except ImportError:
            pass
    pools = []
    for pool in threadpoolctl.threadpool_info():
        pools.append({
            "user_api": pool.get("user_api"),
            "internal_api": pool.get("internal_api"),
            "prefix": pool.get("prefix"),
            "version": pool.get("version"),
            "threading_layer": pool.get("threading_layer"),
            "architecture": pool.get("architecture"),
            "num_threads": pool.get("num_threads"),
            "filepath": os.path.basename(pool.get("filepath") or ""),
        })
    return sorted(pools, key=lambda p: (str(p["internal_api"]), str(p["prefix"]), str(p["filepath"])))


def fingerprint(*, packages: Iterable[str] = NUMERIC_PACKAGES, env_vars: Iterable[str] = NUMERIC_ENV_VARS,
                import_sklearn: bool = False) -> dict[str, Any]:
    """What can change numerics here: Python, OS, CPU, package versions, BLAS/OpenMP, env vars.

    ``import_sklearn`` also loads scikit-learn before asking threadpoolctl, so its OpenMP runtime is
    listed; the baseline does so only when the probes use scikit-learn (they will have imported it).
    """
    return {
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable_prefix": os.path.basename(sys.prefix)},
        "os": {"system": platform.system(), "release": platform.release(), "libc": "-".join(platform.libc_ver())},
        "cpu": _cpu(),
        "packages": _versions(packages),
        "threadpools": _threadpools(import_sklearn),
        "env": {name: os.environ[name] for name in env_vars if name in os.environ},
    }


def changed_packages(fp_old: Mapping[str, Any], fp_new: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """``{package: (old_version, new_version)}`` for every package whose version differs (None = absent)."""
    old = dict(fp_old.get("packages", {}))
    new = dict(fp_new.get("packages", {}))
    return {name: (old.get(name), new.get(name)) for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)}


def environment_diffs(fp_old: Mapping[str, Any], fp_new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Differences outside the package versions: Python, OS, CPU, BLAS/OpenMP, env vars (dotted keys)."""
    diffs: dict[str, tuple[Any, Any]] = {}
    for section in ("python", "os", "cpu", "env"):
        old = dict(fp_old.get(section, {}) or {})
        new = dict(fp_new.get(section, {}) or {})
        for key in sorted(set(old) | set(new)):
            if section == "python" and key == "executable_prefix":
                continue  # the venv's directory name says nothing about numerics
            if old.get(key) != new.get(key):
                diffs[f"{section}.{key}"] = (old.get(key), new.get(key))

    def pools(fp: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((p.get("internal_api"), p.get("version"), p.get("threading_layer"), p.get("architecture"),
                       p.get("num_threads")) for p in fp.get("threadpools", []) or [])

    if pools(fp_old) != pools(fp_new):
        diffs["threadpools"] = (pools(fp_old), pools(fp_new))
    return diffs
