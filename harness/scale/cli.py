"""``parity compare --stream``: the streamed form of ``parity compare`` (wired in by harness/cli/compare.py).

`add_stream_arguments(parser)` adds ``--stream``, ``--chunk-rows`` and ``--runner process|beam``;
`compare_stream_command(args)` runs the comparison on the ``parity compare`` namespace (the same --label/
--legacy/--new/--key/--metrics/--margin/--non-inferiority/--alpha/--bootstrap/--seed/--json flags) and
returns the exit status (0 EQUIVALENT, 1 otherwise); bad input raises ParityInputError, which the
``parity`` entry point turns into exit 2. It prints the same table and writes the same JSON document as the in-memory command, plus
``"stream": {"chunk_rows": N, "runner": "process"|"beam"}``. A terminal gets a progress bar (rows, current
chunk) on stderr.

Streamed runs take Parquet only (a file or a folder of files) and need --key (it orders the kept rows and
keys the bootstrap). --weight, --group, --slice (crossed too) and --min-slice-size mean what they mean
in memory, with --runner beam too (harness.scale.beam: what runs there, and which metrics it refuses).
--runner and --chunk-rows without --stream are refused (exit 2), never ignored. Errors about a column
name its flag as the in-memory command does ("column 'p' (--new) is null at chunk 2, row 31234 (id=7)").
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.errors import ParityInputError

__all__ = ["add_stream_arguments", "compare_stream_command"]


def add_stream_arguments(parser) -> None:
    parser.add_argument("--stream", action="store_true",
                        help="read the Parquet file (or folder) in chunks: golden sets larger than memory")
    parser.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                        help="rows per chunk with --stream (default 65536)")
    parser.add_argument("--runner", choices=("process", "beam"), default=None,
                        help="with --stream: in this process (default), or an Apache Beam pipeline (DirectRunner; "
                             "needs apache-beam; auc, logloss, brier, mae, rmse, calibration_ratio, ndcg@K, mrr)")


DEFAULT_CHUNK_ROWS = 1 << 16


def refuse_stream_flags_without_stream(args) -> None:
    """--runner and --chunk-rows mean nothing in memory: refused, not silently ignored (an in-memory run
    that the user believes went through Beam, or in chunks, would hide what was actually tested)."""
    given = [f for f, v in (("--runner", getattr(args, "runner", None)), ("--chunk-rows", getattr(args, "chunk_rows", None)))
             if v is not None]
    if given:
        raise ParityInputError(f"{' and '.join(given)} only used with --stream (add --stream to read the Parquet file "
                               "in chunks; without it the whole file is compared in memory)", argument=given[0])


def _refuse_unsupported(args) -> None:
    if not getattr(args, "key", None):
        raise ParityInputError("--stream needs --key COL: the row key orders the kept rows and keys the bootstrap, "
                               "so the result does not depend on the file's row order", argument="--key")
    if getattr(args, "na_values", None):
        raise ParityInputError("--na-values applies to CSV; --stream reads Parquet only", argument="--na-values")
    if str(args.file).lower().endswith(".csv"):
        raise ParityInputError(f"{args.file}: --stream reads Parquet (a file or a folder of files), not CSV",
                               file=str(args.file), argument="--stream")
    if args.chunk_rows < 1:
        raise ParityInputError(f"--chunk-rows {args.chunk_rows!r}: expected an integer >= 1", argument="--chunk-rows",
                               value=args.chunk_rows)


def _slice_keys(path: Path, specs: list[str]) -> list:
    """--slice values -> column names or tuples of names, read against the file's schema as the
    in-memory command reads them against the frame's columns (the same parsing and messages)."""
    if not specs:
        return []
    from types import SimpleNamespace

    from harness.cli.compare import _slice_specs
    from harness.scale.stream import _dataset

    return _slice_specs(SimpleNamespace(columns=list(_dataset(path).schema.names)), path, specs)


def _with_flag(exc: ParityInputError, args) -> ParityInputError:
    """A streamed or Beam error about one of the user's columns, re-said with the flag that named it
    (the library knows columns, not flags), as the in-memory command says "column 'p' (--new)"."""
    from harness.cli.compare import _ARG_FLAG, flag_columns

    api_flag = _ARG_FLAG.get(exc.argument or "")
    columns = flag_columns(args)
    if exc.column is None and exc.reason and columns.get(api_flag or ""):
        # a statistics-layer error about an argument (score_new, y_true): its column and flag, as in memory
        text = f"{args.file}: column {columns[api_flag]!r} ({api_flag}): {exc.reason}"
        if exc.detail:
            text += f" {exc.detail}"
        text = text.replace("allow_identical=True", "--allow-identical")  # the API's keyword, as the flag
        return exc.with_fields(text, argument=api_flag, column=columns[api_flag], file=str(args.file))
    flags = {columns[f]: f for f in ("--label", "--legacy", "--new", "--key", "--weight", "--group")}  # later wins
    flag = flags.get(exc.column) if exc.column is not None else None
    named = f"column {exc.column!r}"
    if flag is None or named not in exc.message or f"{named} ({flag})" in exc.message:
        return exc
    return exc.with_fields(exc.message.replace(named, f"{named} ({flag})", 1), argument=flag)


def _run(args, path, names, margins, slice_keys):
    from harness import progress
    from harness.scale.streamed import compare_stream

    if args.runner == "beam":
        from harness.scale.beam import compare_beam

        return compare_beam(path, label=args.label, legacy=args.legacy, new=args.new, key=args.key, metrics=names,
                            margins=margins, alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed,
                            allow_identical=args.allow_identical, weight=args.weight, group=args.group,
                            slices=slice_keys, min_slice_size=args.min_slice_size)
    with progress.enabled(sys.stderr.isatty()):
        return compare_stream(path, label=args.label, legacy=args.legacy, new=args.new, key=args.key,
                              metrics=names, margins=margins, alpha=args.alpha, n_boot=args.bootstrap,
                              seed=args.seed, chunk_rows=args.chunk_rows, allow_identical=args.allow_identical,
                              weight=args.weight, group=args.group, slices=slice_keys,
                              min_slice_size=args.min_slice_size)


def compare_stream_command(args) -> int:
    from harness.cli import check_json_output, write_json_output
    from harness.cli.compare import _options, _print_table

    if args.chunk_rows is None:
        args.chunk_rows = DEFAULT_CHUNK_ROWS
    if args.runner is None:
        args.runner = "process"
    _refuse_unsupported(args)
    check_json_output(args.json)
    names, margins = _options(args)
    path = Path(args.file)
    slice_keys = _slice_keys(path, args.slice)
    try:
        result = _run(args, path, names, margins, slice_keys)
    except ParityInputError as exc:
        raise _with_flag(exc, args) from exc
    if args.json:
        doc = {"file": str(path), "columns": {"label": args.label, "legacy": args.legacy, "new": args.new,
                                              "group": args.group, "weight": args.weight, "key": args.key,
                                              "slices": [k if isinstance(k, str) else list(k) for k in slice_keys]},
               "stream": {"chunk_rows": int(args.chunk_rows), "runner": getattr(args, "runner", "process")},
               **result.to_dict()}
        write_json_output(args.json, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    _print_table(result, file=sys.stderr if args.json == "-" else sys.stdout, weight=args.weight)
    return 0 if result.verdict.value == "EQUIVALENT" else 1
