"""`parity` command line: one sub-command module per noun, registered below.

Exit codes (also in the README): 0 all parity holds / nothing changed; 1 a parity failure or a behaviour
change; 2 usage or infrastructure error (bad input, missing file, a side that could not score).
Each sub-command module exposes ``register(subparsers)`` which adds its parser and sets
``func=handler``; a handler returns the exit code. Modules are imported here, but each imports its
heavy dependencies (pandas, TensorFlow) inside its handler so ``parity --help`` stays fast.

Around every handler: a `ParityError` is one line and exit 2; any other exception is an internal
error, also exit 2 (exit 1 means "parity failure" to CI, and a crash is not a judgement), one line
naming it unless ``--verbose`` asks for the traceback. TensorFlow's native (C++) log lines are off
unless ``--verbose`` or ``TF_CPP_MIN_LOG_LEVEL`` is already set: they are about TensorFlow's build, not
about parity, and land in the middle of the findings; so are Apache Beam's INFO/WARNING log lines (`quiet_beam`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.errors import ParityError, ParityInputError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

# Sub-command modules, in the order `parity --help` lists them.
_COMMANDS = ("run", "compare", "golden", "baseline", "report", "serve_bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Parity validation for ML platform migrations and library upgrades.",
        epilog="Exit codes: 0 parity holds / nothing changed, 1 parity failure or behaviour change, "
        "2 usage or infrastructure error.",
    )
    parser.add_argument("--verbose", action="store_true", default=False,
                        help="show TensorFlow's native log lines and the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"harness.cli.{name}")
        except ModuleNotFoundError as exc:  # a sub-command still being written must not break the rest
            if exc.name != f"harness.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def check_json_output(dest: str | None, flag: str = "--json") -> None:
    """Refuse a ``--json`` destination that cannot be written before anything is computed: a folder,
    or a file in a folder that does not exist ('-' is stdout)."""
    if not dest or dest == "-":
        return
    from pathlib import Path

    target = Path(dest)
    if target.is_dir():
        raise ParityInputError(f"{flag} {dest}: is a folder; give a file name", argument=flag)
    if not target.parent.is_dir():
        raise ParityInputError(f"{flag} {dest}: folder {target.parent} does not exist", argument=flag)


def write_json_output(dest: str, text: str) -> None:
    """``--json DEST``: '-' writes ``text`` to stdout, anything else is a file written atomically
    (a folder that does not exist, or a write that fails, is a ParityInputError naming DEST)."""
    if dest == "-":
        sys.stdout.write(text)
        return
    from pathlib import Path

    from harness.report.build import write_text_atomic

    try:
        write_text_atomic(Path(dest), text)
    except OSError as exc:
        raise ParityInputError(f"--json {dest}: cannot write ({exc})") from exc


# TensorFlow reads it when it is first imported: 2 hides its INFO and WARNING lines (oneDNN notes,
# CPU-instruction notes), keeping its errors.
TF_QUIET_LEVEL = "3"  # 2 still prints E-level lines (e.g. "NodeDef mentions attribute ...") that are not about parity


# What TensorFlow's native code prints while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says (seen
# with TensorFlow 2.21: absl's "WARNING: All log messages before absl::InitializeLog() ..." and
# "I0000 ... port.cc:153] oneDNN custom operations are on ..."): absl's own line, and glog-style lines
# "<I|W|E><MMDD> <hh:mm:ss.micros> <thread> <file>:<line>] ..." (before absl is set up, MMDD is 0000
# and the time 00:00:<seconds since the epoch>).
_NATIVE_LOG_LINE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|"
                              rb"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] )")


def quiet_tensorflow(verbose: bool) -> None:
    """Default ``TF_CPP_MIN_LOG_LEVEL`` before anything imports TensorFlow (a value already set wins),
    and, when this set it, hold back the native log lines TensorFlow prints while it is imported,
    which that setting does not reach (`_QuietTensorFlowImport`)."""
    if verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = TF_QUIET_LEVEL
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


class _QuietTensorFlowImport:
    """A one-shot import hook: whoever first imports ``tensorflow`` (a suite's own ``import keras``
    included), its import runs with file descriptor 2 sent to a temporary file, which is then copied
    to stderr less TensorFlow's native log lines (`_NATIVE_LOG_LINE`); anything else written there
    meanwhile (a Python warning, an error) is kept, in its order."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # the finders after this one find the real spec
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            with _native_log_held_back():
                run(module)

        spec.loader.exec_module = exec_module
        return spec


@contextmanager
def _native_log_held_back() -> Iterator[None]:
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to redirect (an embedding host): leave it be
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            held.seek(0)
            kept = b"".join(line for line in held if not _NATIVE_LOG_LINE.match(line))
            if kept:
                err = getattr(sys.stderr, "buffer", None)
                if err is not None:
                    err.write(kept)
                else:
                    sys.stderr.write(kept.decode("utf-8", "replace"))
                sys.stderr.flush()


class _Stderr(logging.StreamHandler):
    """Warnings and errors as logging's last-resort handler shows them (message only, on the sys.stderr
    of the moment), less Apache Beam's chatter below ERROR."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.addFilter(lambda r: (r.levelno >= logging.ERROR or not _from_beam(r)) and self._alone())

    def _alone(self) -> bool:
        # a handler someone adds to the root later (absl's, a basicConfig) prints the line itself: no twice
        return all(h is self or isinstance(h, logging.NullHandler) for h in logging.getLogger().handlers)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ sets it; sys.stderr is read at each line
        pass


def _from_beam(record: logging.LogRecord) -> bool:
    # Beam's import-time "apitools not found" warning goes through the root logger, so the name alone misses it
    return record.name.startswith("apache_beam") or f"{os.sep}apache_beam{os.sep}" in (record.pathname or "")


def quiet_beam(verbose: bool, runner: str | None) -> None:
    """Keep Apache Beam's INFO/WARNING log lines (an import-time note about BigQuery clients, worker
    start-up lines and the full pipeline options) off stderr unless ``--verbose``: they are about Beam's
    set-up, not about parity. A root handler installed here also stops Beam's own ``logging.warning``
    from installing a basicConfig handler that would print every INFO line of its workers' threads."""
    if verbose or runner != "beam":
        return
    os.environ.setdefault("PARITY_BEAM_WORKER_LOG_LEVEL", "ERROR")  # harness.scale.beam.WORKER_LOG_LEVEL_ENV
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_Stderr())


class _ReaderGone:
    """sys.stdout or sys.stderr for the length of a command: when the reader of a pipe has gone
    (``parity run ... 2>&1 | grep -q EQUIVALENT``, ``| head -1``), the stream's descriptor is pointed at
    /dev/null and the command goes on, so its report is written and its exit code is the verdict's,
    not a BrokenPipeError's (Python's documentation on SIGPIPE). Everything else is the stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _gone(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture): drop the output
            self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  (lives as long as the stream)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()
            try:
                self._stream.flush()  # what was buffered goes to /dev/null now
            except (OSError, ValueError):
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _pipes_may_close() -> Iterator[None]:
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderGone(old[0]), _ReaderGone(old[1])
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing left for the interpreter's exit to fail on
        sys.stdout, sys.stderr = old


def main(argv: list[str] | None = None) -> int:
    with _pipes_may_close():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    quiet_tensorflow(verbose)
    quiet_beam(verbose, getattr(args, "runner", None))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        from harness._threads import allowed

        allowed()  # a bad PARITY_THREADS is the environment's error, named before any file is read
        return int(args.func(args))
    except ParityInputError as exc:
        print(f"parity {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ParityError as exc:
        print(f"parity {args.command}: could not run: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"parity {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen input; never exit 1 ("parity failure")
        if verbose:
            traceback.print_exc(file=sys.stderr)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"parity {args.command}: internal error: {type(exc).__name__}: {exc} "
              f"({os.path.basename(where.filename)}:{where.lineno}); could not judge"
              + ("" if verbose else "; rerun with --verbose for the traceback"), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
