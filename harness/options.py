"""The options of a parity run, defined once for both shells.

Each option has one name: ``parity run --seed`` is ``pytest --parity-seed``, ``parity run --baseline-dir``
is ``pytest --parity-baseline-dir`` (pytest-benchmark's habit: one table, a prefix for pytest). The
values are checked here, once, by `RunOptions`, whichever shell parsed them.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.errors import ParityInputError

__all__ = ["OPTIONS", "Option", "RunOptions", "add_to_argparse", "check_reason"]


@dataclass(frozen=True)
class Option:
    name: str  # CLI: --{name}; pytest: --parity-{name}
    dest: str  # the RunOptions field
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    flag: bool = False  # a switch (store_true)


def _choice(text: str, choices: tuple[str, ...]) -> str:
    import argparse

    if text not in choices:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
    return text


def _command_line(text: str) -> tuple[str, ...]:
    """Words split as a shell would split them (never run by one); an unclosed quote is said as one."""
    import argparse

    try:
        return tuple(shlex.split(text))
    except ValueError as exc:  # shlex: "No closing quotation" / "No escaped character"
        raise argparse.ArgumentTypeError(f"{text!r} cannot be split like a command line ({exc}: a quote is not "
                                         "closed, or the text ends in a backslash)") from None


def _names(text: str) -> tuple[str, ...]:
    import argparse

    items = tuple(part.strip() for part in text.split(","))
    if not text.strip() or any(not part for part in items):
        # argparse (and so pytest) prints this message as is, after the option's name
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return items


OPTIONS: tuple[Option, ...] = (
    Option("report", "report_dir", "write report.json, report.md and report.html into DIR", metavar="DIR"),
    Option("seed", "seed", "seed of every random choice (bootstrap, row sample); default 0", metavar="S", type=int),
    Option("sample", "sample", "score a seeded sample of N rows per suite (fast local runs; marked in the report)",
           metavar="N", type=int),
    Option("baseline-dir", "baseline_dir", "folder of the upgrade-gate baselines (default: $PARITY_BASELINE_DIR, "
           "else baselines/ next to each suite file)", metavar="DIR"),
    Option("update-baseline", "update_baseline", "re-record the upgrade-gate baselines instead of checking them "
           "(needs --reason)", flag=True),
    Option("reason", "reason", "why the baseline changes; kept in the baseline history a release review reads",
           metavar="TEXT"),
    Option("no-serving", "no_serving", "skip the suites' serving and cost gates (serving/..., cost/...): they are "
           "listed as not run and the verdict reads partial, never passed", flag=True),
    # The knobs of `parity baseline bisect` (--venvs, --package, --requirement, --freeze, --pip-arg), one
    # value each here (lists comma-separated) so both shells parse them the same way.
    Option("bisect", "bisect", "when the upgrade gate finds CHANGED outputs and several packages changed, name the "
           "package (or smallest set) behind each change: throwaway venvs with some packages back at the "
           "baseline's versions rerun only the changed probes (as `parity baseline bisect`)", flag=True),
    Option("bisect-venvs", "bisect_venvs", "where --bisect's throwaway venvs go, reused between runs (default "
           "$PARITY_UPGRADE_VENVS/bisect, else /tmp/parity-upgrade-venvs/bisect)", metavar="DIR"),
    Option("bisect-packages", "bisect_packages", "bisect over these changed packages only (comma-separated)",
           metavar="P[,P...]", type=_names),
    Option("bisect-requirements", "bisect_requirements", "also install these name==version pins in every "
           "environment (comma-separated)", metavar="REQ[,REQ...]",
           type=_names),
    Option("bisect-freeze", "bisect_freeze", "pin every other distribution installed here at its version "
           "(pip --no-deps, then pip check)", flag=True),
    Option("bisect-pip-args", "bisect_pip_args", "options passed to pip install, split like a command line "
           "(write it with '=': --bisect-pip-args='--no-index --find-links=/wheels')", metavar="ARGS",
           type=_command_line),
    Option("stream", "stream", "read each suite's golden split in chunks (golden sets larger than memory): features "
           "checked chunk by chunk, scores and evaluation columns kept compactly; the same report", flag=True),
    Option("chunk-rows", "chunk_rows", "rows per chunk with --stream (default 65536; rounded up to whole batches "
           "of the suite's batch_size)", metavar="N", type=int),
    Option("runner", "runner", "where each suite's scoring runs: process (default) or beam, an Apache Beam pipeline "
           "over the split's Parquet row groups (the DirectRunner unless --beam-options name another; needs the beam "
           "extra); the same report", metavar="process|beam", type=lambda text: _choice(text, RUNNERS)),
    Option("beam-options", "beam_options", "Beam pipeline options for --runner beam, split like a command line "
           "(write it with '=': --beam-options='--runner=DataflowRunner --project=P --region=R "
           "--temp_location=gs://B/tmp'); default $PARITY_BEAM_OPTIONS, as parity compare --runner beam reads them",
           metavar="FLAGS", type=_command_line),
)

RUNNERS = ("process", "beam")

_BISECT_KNOBS = ("bisect_venvs", "bisect_packages", "bisect_requirements", "bisect_freeze", "bisect_pip_args")


def check_reason(reason: str | None, *, flag: str = "--reason", needed_by: str = "recording a baseline") -> str:
    """A baseline change needs a reason a reviewer can read: not missing, not blank. One check for
    ``parity baseline record/accept --reason`` and ``pytest --parity-update-baseline --parity-reason``."""
    if reason is None or not str(reason).strip():
        raise ParityInputError(
            f"{needed_by} needs {flag} TEXT: the baseline history records why the new behaviour was accepted "
            f"(e.g. {flag} 'numpy 2.4: last-bit changes in log1p, reviewed in #123')"
        )
    return str(reason).strip()


@dataclass(frozen=True)
class RunOptions:
    """What a parity session was asked to do; validated on construction (bad values: ParityInputError
    naming the option as the shell spells it, ``prefix`` '--' for the CLI, '--parity-' for pytest)."""

    seed: int = 0
    sample: int | None = None
    report_dir: Path | None = None
    baseline_dir: Path | None = None
    update_baseline: bool = False
    reason: str | None = None
    no_serving: bool = False
    bisect: bool = False
    bisect_venvs: Path | None = None
    bisect_packages: tuple[str, ...] = ()
    bisect_requirements: tuple[str, ...] = ()
    bisect_freeze: bool = False
    bisect_pip_args: tuple[str, ...] = ()
    stream: bool = False
    chunk_rows: int | None = None
    runner: str = "process"
    beam_options: tuple[str, ...] | None = None  # None: $PARITY_BEAM_OPTIONS
    prefix: str = "--"

    def __post_init__(self) -> None:
        p = self.prefix
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ParityInputError(f"{p}seed must be a non-negative integer, got {self.seed!r}")
        if self.sample is not None and (isinstance(self.sample, bool) or not isinstance(self.sample, int)
                                        or self.sample <= 0):
            raise ParityInputError(f"{p}sample must be a positive number of rows, got {self.sample}")
        if self.update_baseline:
            object.__setattr__(self, "reason", check_reason(self.reason, flag=f"{p}reason",
                                                            needed_by=f"{p}update-baseline"))
        elif self.reason is not None:
            raise ParityInputError(f"{p}reason is only used with {p}update-baseline")
        knobs = [k for k in _BISECT_KNOBS if getattr(self, k)]
        if knobs and not self.bisect:
            names = ", ".join(p + k.replace("_", "-") for k in knobs)
            raise ParityInputError(f"{names} only used with {p}bisect")
        if self.bisect and self.update_baseline:
            raise ParityInputError(f"{p}bisect explains a change the check finds; {p}update-baseline records the "
                                   "baseline instead of checking it: use one of them")
        if self.chunk_rows is not None and (isinstance(self.chunk_rows, bool) or not isinstance(self.chunk_rows, int)
                                            or self.chunk_rows < 1):
            raise ParityInputError(f"{p}chunk-rows must be a positive number of rows, got {self.chunk_rows!r}")
        if self.chunk_rows is not None and not self.stream:
            raise ParityInputError(f"{p}chunk-rows only used with {p}stream")
        bad = [r for r in self.bisect_requirements if "==" not in r or r.startswith("-")]
        if bad:
            raise ParityInputError(f"{p}bisect-requirements: expected name==version pins, got {bad}")
        self._check_runner()

    def _check_runner(self) -> None:
        p = self.prefix
        if self.runner not in RUNNERS:
            raise ParityInputError(f"{p}runner: expected one of {', '.join(RUNNERS)}, got {self.runner!r}",
                                   argument=f"{p}runner")
        if self.runner != "beam":
            if self.beam_options is not None:
                raise ParityInputError(f"{p}beam-options only used with {p}runner beam", argument=f"{p}beam-options")
            return
        if self.stream:
            # Beam reads the split by row groups and never holds it here: it is already the run for a
            # split larger than memory, and two ways of cutting the same split would be two answers to check
            raise ParityInputError(f"{p}runner beam reads the split by Parquet row groups itself, so it never holds "
                                   f"the split in memory; {p}stream is the in-process streamed run: use one of them",
                                   argument=f"{p}stream")
        from harness.scale.beam_suite import pipeline_options

        pipeline_options(self.beam_options, flag=f"{p}beam-options")  # the extra installed, the flags known

    def bisect_settings(self) -> Any:
        """`harness.upgrade.bisect.BisectSettings` for the upgrade gate, or None without ``bisect``."""
        if not self.bisect:
            return None
        from harness.upgrade.bisect import BisectSettings

        return BisectSettings(venvs=self.bisect_venvs, packages=self.bisect_packages,
                              requirements=self.bisect_requirements, freeze=self.bisect_freeze,
                              pip_args=self.bisect_pip_args)

    @classmethod
    def from_values(cls, values: dict[str, Any], *, base: Path, prefix: str) -> RunOptions:
        """From parsed option values keyed by ``Option.dest``; relative paths are taken from ``base``."""
        kw = {o.dest: values.get(o.dest) for o in OPTIONS}
        for key in ("report_dir", "baseline_dir", "bisect_venvs"):
            if kw[key] is not None:
                kw[key] = Path(base) / os.fspath(kw[key])
        kw["seed"] = 0 if kw["seed"] is None else kw["seed"]
        kw["update_baseline"] = bool(kw["update_baseline"])
        kw["no_serving"] = bool(kw["no_serving"])
        kw["runner"] = kw["runner"] or "process"
        for key in ("bisect", "bisect_freeze", "stream"):
            kw[key] = bool(kw[key])
        for key in ("bisect_packages", "bisect_requirements", "bisect_pip_args"):
            kw[key] = tuple(kw[key] or ())
        return cls(prefix=prefix, **kw)


def add_to_argparse(parser: Any, *, exclude: tuple[str, ...] = ()) -> None:
    """Add every option (``--name``) to an argparse parser, as the pytest plugin adds ``--parity-name``."""
    for o in OPTIONS:
        if o.name in exclude:
            continue
        if o.flag:
            parser.add_argument(f"--{o.name}", dest=o.dest, action="store_true", default=False, help=o.help)
        else:
            parser.add_argument(f"--{o.name}", dest=o.dest, metavar=o.metavar, type=o.type, default=None,
                                help=o.help)
