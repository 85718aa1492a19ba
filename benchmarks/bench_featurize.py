"""Benchmark of the legacy featurizer on ads_ctr: today's (Arrow string kernels) vs the per-string one it replaced.

    .venv/bin/python benchmarks/bench_featurize.py [--split eval] [--repeat 5] [--baseline-rev 3a04619] [--json OUT]

The named alternative is the featurizer as it was at ``--baseline-rev`` (default: the last commit with the
per-string implementation), read from git (``legacy_adapter/featurizer.py``, ``_strings.py``,
``hashing.py``) into a temporary package and run in the same process, interleaved with today's, on the same
frame. Its spec is fitted by its own ``fit_spec``; both outputs must be identical (checked before timing).

Reported per implementation: ``transform(frame)`` and ``fit_spec(train)``, as the minimum over --repeat
interleaved runs of both wall time (``perf_counter``) and process CPU time (``process_time``: on a shared
machine the wall time depends on who else is running), and the ratio new / old of each (median of the
per-run ratios).
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from harness.golden import load_dataset  # noqa: E402
from legacy_adapter.featurizer import LegacyFeaturizer, fit_spec  # noqa: E402

OLD_FILES = ("featurizer.py", "_strings.py", "hashing.py")
OLD_PACKAGE = "legacy_adapter_baseline"


def load_old_featurizer(rev: str, workdir: Path):
    """The legacy featurizer module as of ``rev``, importable as ``legacy_adapter_baseline.featurizer``."""
    package = workdir / OLD_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in OLD_FILES:
        source = subprocess.run(["git", "show", f"{rev}:legacy_adapter/{name}"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
        (package / name).write_text(source.replace("legacy_adapter.", f"{OLD_PACKAGE}."), encoding="utf-8")
    sys.path.insert(0, str(workdir))
    return importlib.import_module(f"{OLD_PACKAGE}.featurizer")


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="eval", help="ads_ctr split to featurize (default eval)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-rev", default="3a04619",
                        help="git revision whose legacy featurizer is the named alternative")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    dataset = load_dataset("ads_ctr")
    train, frame = dataset.frame("train"), dataset.frame(args.split)
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old_featurizer(args.baseline_rev, Path(tmp))
        spec_new, spec_old = fit_spec(train), old.fit_spec(train)
        assert spec_new.to_dict() == spec_old.to_dict(), "fit_spec differs from the baseline's"
        new_f, old_f = LegacyFeaturizer(spec_new), old.LegacyFeaturizer(spec_old)
        pd.testing.assert_frame_equal(new_f.transform(frame), old_f.transform(frame), check_exact=True)

        cases = {
            "transform": (lambda: new_f.transform(frame), lambda: old_f.transform(frame)),
            "fit_spec": (lambda: fit_spec(train), lambda: old.fit_spec(train)),
        }
        runs: dict[str, dict[str, list[tuple[float, float]]]] = {k: {"new": [], "old": []} for k in cases}
        for _ in range(args.repeat):
            for name, (new_fn, old_fn) in cases.items():
                runs[name]["old"].append(timed(old_fn))
                runs[name]["new"].append(timed(new_fn))

    results = {}
    for name, r in runs.items():
        results[name] = {
            "new_wall_s": min(w for w, _ in r["new"]), "old_wall_s": min(w for w, _ in r["old"]),
            "new_cpu_s": min(c for _, c in r["new"]), "old_cpu_s": min(c for _, c in r["old"]),
            "ratio_wall": statistics.median(n[0] / o[0] for n, o in zip(r["new"], r["old"])),
            "ratio_cpu": statistics.median(n[1] / o[1] for n, o in zip(r["new"], r["old"])),
        }
    env = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
           "pyarrow": pa.__version__, "machine": platform.machine(), "baseline_rev": args.baseline_rev,
           "rows": {"train": len(train), args.split: len(frame)}, "repeat": args.repeat}
    print(json.dumps(env))
    print("| step | new (Arrow kernels) wall / CPU | old (per-string) wall / CPU | ratio new/old wall / CPU (median) |")
    print("|---|---|---|---|")
    for name, x in results.items():
        print(f"| `{name}` | {x['new_wall_s']:.3f} s / {x['new_cpu_s']:.3f} s | {x['old_wall_s']:.3f} s / "
              f"{x['old_cpu_s']:.3f} s | {x['ratio_wall']:.3f} / {x['ratio_cpu']:.3f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"environment": env, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
