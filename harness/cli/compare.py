"""``parity compare``: accuracy-neutrality of two score columns in one file, no models needed.

    parity compare FILE --label COL --legacy COL --new COL [--group COL] [--weight COL] [--key COL]
                   [--metrics auc,logloss,...] [--margin auc=0.002,logloss=1%] [--alpha 0.05]
                   [--bootstrap N] [--seed S] [--slice COL[,COL...]] [--min-slice-size N] [--json OUT]
                   [--non-inferiority auc,...] [--na-values LIST] [--allow-identical]

FILE is Parquet (.parquet, .pq) or CSV (.csv). Each metric's difference (new - legacy) gets an interval
and a three-way verdict against its margin (see harness.stats.compare); a trailing % makes a margin
relative to the legacy metric. Metrics without a margin are reported, not gated.

Methods: DeLong for auc (with --weight the paired bootstrap: DeLong has no weighted form); paired per-row
differences for logloss, brier, mae; the delta method for rmse; the paired bootstrap for the rest (query
groups resampled for ndcg@K and mrr). ece uses 10 equal-mass (quantile) bins; for ndcg@K and mrr a query
group with no relevant item counts as 0.

Slices: --slice takes one value and may be repeated (--slice device --slice country), or lists columns
with commas (--slice device,country): metrics and verdicts per value of each column. A crossed slice
joins columns with + (--slice device+country: one slice per combination of values present). A column
whose name itself contains , or + is matched by its exact name first.

CSV cells are read as written: "NA", "null" and empty cells are values, not missing, unless --na-values
names the tokens that mean missing (--na-values "NA,null," : NA, null and the empty cell). A header that
names a column twice is refused. Score columns must hold numbers: a bool column (True/False) is a
decision, not a score, and is refused (labels may be bool). --legacy and --new naming the same column,
or two columns equal row for row, are refused (a column compared with itself proves nothing) unless
--allow-identical says two separate systems really wrote the same scores.

The table: N counts rows; GROUPS (shown with ranking metrics) counts query groups; CI is the interval the
verdict used and LEVEL its confidence level (1 - 2*alpha, or the Holm-adjusted level when several gated
claims share alpha); P_HOLM is the Holm-adjusted p-value, "<1e-300" when it underflows. A verdict that the
Holm adjustment decided reads "INCONCLUSIVE (Holm)" and a line below gives the adjusted p and alpha.
--json - writes the JSON document to stdout and the table to stderr. Row numbers in error messages are
0-based data rows in file order (header not counted).

Exit codes: 0 every gated metric is EQUIVALENT; 1 otherwise (NOT_EQUIVALENT, INCONCLUSIVE, or nothing
gated); 2 bad input (missing file or column, a NaN score, a non-binary label ...), named in the message.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_BINARY_TASK = "binary"
# Appended to every error that names a row, so "row 12" cannot be read as a 1-based or spreadsheet row.
_ROWS_NOTE = "[row numbers: 0-based data rows in file order, header not counted]"
# The argument names of harness.stats.compare_scores -> the CLI flag (and so the user's column).
# validate_metric_names' reason for a ranking metric without groups (its text also speaks of suites).
_RANKING_NEEDS_GROUPS = "a ranking metric needs a group column"
_ARG_FLAG = {"y_true": "--label", "score_legacy": "--legacy", "score_new": "--new", "sample_weight": "--weight",
             "groups": "--group", "keys": "--key", "slices": "--slice"}


class _Repeatable(argparse.Action):
    """A comma-separated list that may also be given by repeating the flag: the values are joined, and
    the first one given replaces the default (a plain flag kept only its last value, dropping the
    others without a word)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = f"_{self.dest}_given"
        before = getattr(namespace, self.dest)
        setattr(namespace, self.dest, f"{before},{values}" if getattr(namespace, given, False) else values)
        setattr(namespace, given, True)


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="statistics on two score columns of one file (no models needed)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="Parquet or CSV file with one row per example")
    p.add_argument("--label", required=True, metavar="COL", help="label column (0/1 for binary metrics)")
    p.add_argument("--legacy", required=True, metavar="COL", help="legacy model's score column")
    p.add_argument("--new", required=True, metavar="COL", help="new model's score column")
    p.add_argument("--group", metavar="COL", help="query/request id column (ranking metrics resample groups)")
    p.add_argument("--weight", metavar="COL", help="sample weight column")
    p.add_argument("--key", metavar="COL", help="row key column (Poisson bootstrap by key; named in messages)")
    p.add_argument("--metrics", default="auc,logloss,brier", metavar="LIST", action=_Repeatable,
                   help="comma-separated metrics (default: auc,logloss,brier); the flag may be repeated")
    p.add_argument("--margin", default="", metavar="SPEC", action=_Repeatable,
                   help="margins, e.g. auc=0.002,logloss=1%% (a trailing %% is relative to the legacy metric); "
                   "the flag may be repeated")
    p.add_argument("--non-inferiority", default="", metavar="LIST", action=_Repeatable,
                   help="metrics tested one-sided (new may be better, not worse by more than the margin); "
                   "the others are tested for equivalence (two one-sided tests); the flag may be repeated")
    p.add_argument("--alpha", type=float, default=0.05, help="test level; decisions use the 1-2*alpha interval")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default 0)")
    p.add_argument("--slice", action="append", default=[], metavar="COL[,COL...]",
                   help="categorical column(s): metrics and verdicts per value; repeat the flag or separate "
                   "columns with commas; a+b is a crossed slice (one per combination of values)")
    p.add_argument("--min-slice-size", type=int, default=1000, metavar="N",
                   help="slices with fewer rows are reported but not gated (default 1000)")
    p.add_argument("--na-values", default=None, metavar="LIST",
                   help="CSV only: comma-separated cell texts that mean missing (an empty item is the empty "
                   "cell); by default every cell is kept as written")
    p.add_argument("--allow-identical", action="store_true",
                   help="allow --legacy and --new to be equal row for row (two systems that wrote the same scores)")
    p.add_argument("--json", metavar="OUT",
                   help="write the full result as JSON to OUT; '-' writes it to stdout (the table then goes to stderr)")
    from harness.scale.cli import add_stream_arguments

    add_stream_arguments(p)  # --stream, --chunk-rows, --runner: golden sets larger than memory
    p.set_defaults(func=_compare)


# ---------------------------------------------------------------------------------------------------
# reading the file
# ---------------------------------------------------------------------------------------------------

def _error(path: Path, text: str, *, row: int | None = None, **fields):
    from harness.errors import ParityInputError

    note = f" {_ROWS_NOTE}" if row is not None else ""
    return ParityInputError(f"{path}: {text}{note}", file=str(path), row=row, **fields)


def _csv_header(path: Path) -> list[str]:
    """The header, after checking that every data row has as many fields: pandas pads a short row with
    missing values without a word (a cut-off line became a slice value '' and a column of strings),
    and names a long one by its physical line. Blank lines are skipped, as pandas skips them."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        row = 0
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise _error(path, f"row {row} (line {reader.line_num}) has {len(fields)} field(s), the header "
                             f"{len(header)}: a cut-off or merged line cannot be read as one row", row=row)
            row += 1
    return header


def _read(path: Path, na_values: str | None):
    import pandas as pd

    from harness.errors import ParityInputError

    if path.is_dir():
        raise _error(path, "is a folder, not a file (a folder of Parquet files is read with --stream)")
    if not path.is_file():
        raise _error(path, "no such file")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise _error(path, f"unknown file type {suffix!r}; expected .parquet, .pq or .csv")
    if na_values is not None and suffix != ".csv":
        raise _error(path, "--na-values applies to CSV files only (Parquet stores missing values as typed nulls)",
                     argument="--na-values")
    try:
        if suffix == ".csv":
            header = _csv_header(path)
            tokens = None if na_values is None else na_values.split(",")
            # Cells as written: pandas' default turns "NA", "null", "" (and more) into NaN, which silently
            # merges a country code "NA" with an empty cell.
            frame = pd.read_csv(path, keep_default_na=False, na_values=tokens)
        else:
            frame = pd.read_parquet(path)
            header = [str(c) for c in frame.columns]
    except ParityInputError:
        raise
    except Exception as exc:  # a corrupt or unreadable file is bad input, not a crash
        raise _error(path, f"cannot be read as {suffix[1:].upper()} ({type(exc).__name__}: {exc})") from exc
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise _error(path, f"the header names column(s) {twice} more than once; which one is meant cannot be known, "
                     "so the file is refused (rename the duplicates)", column=twice[0])
    return frame


# ---------------------------------------------------------------------------------------------------
# columns: checked here, in the user's terms, before any statistics run
# ---------------------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """repr of a cell without numpy's type wrapper (np.int64(84) -> 84)."""
    return repr(value.item() if hasattr(value, "item") else value)


def _where(frame, row: int, key: str | None) -> str:
    where = f"row {row}"
    if key is not None and 0 <= row < len(frame):
        where += f" ({key}={_show(frame[key].iloc[row])})"
    return where


def _numeric(frame, path: Path, col: str, flag: str, key: str | None, *, allow_bool: bool = False):
    import numpy as np
    import pandas as pd

    s = frame[col]
    if pd.api.types.is_bool_dtype(s) and not allow_bool:
        raise _error(path, f"column {col!r} ({flag}) holds True/False (dtype {s.dtype}), not scores: a thresholded "
                     "decision compared as a score measures something else; write the model's scores",
                     argument=flag, column=col)
    if not pd.api.types.is_numeric_dtype(s):
        raise _not_numeric(frame, path, col, flag, key)
    values = s.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        r = int(bad[0])
        raise _error(path, f"column {col!r} ({flag}) has {bad.size} missing or non-finite value(s), first at "
                     f"{_where(frame, r, key)}: {_show(s.iloc[r])}", row=r, argument=flag, column=col,
                     value=s.iloc[r])
    return values


def _not_numeric(frame, path: Path, col: str, flag: str, key: str | None):
    """The error for a non-numeric column: its dtype, the first value that is not a number, and how many."""
    import numpy as np
    import pandas as pd

    s = frame[col]
    head = f"column {col!r} ({flag}) must be numeric, got dtype {s.dtype}"
    present = s.notna().to_numpy()
    try:  # as object values, so categoricals and datetimes are judged value by value
        parsed = pd.to_numeric(s.astype(object), errors="coerce").notna().to_numpy()
    except (TypeError, ValueError):  # values pandas cannot even try to parse (lists, dicts ...)
        parsed = np.zeros(len(s), dtype=bool)
    bad = np.flatnonzero(present & ~parsed)
    if bad.size:
        r = int(bad[0])
        empty = " (an empty CSV cell is read as text: --na-values '' reads it as missing)" if s.iloc[r] == "" else ""
        return _error(path, f"{head}; {_where(frame, r, key)} is {_show(s.iloc[r])} ({bad.size} value(s) that are not "
                      f"numbers){empty}", row=r, argument=flag, column=col, value=s.iloc[r])
    rows = np.flatnonzero(present)
    if rows.size:  # every value reads as a number but is stored as text/category: converting is the user's call
        r = int(rows[0])
        return _error(path, f"{head}; its values are numbers stored as {s.dtype}, e.g. {_where(frame, r, key)} is "
                      f"{_show(s.iloc[r])}; store the column as numbers (nothing is converted silently)", row=r,
                      argument=flag, column=col, value=s.iloc[r])
    return _error(path, f"{head}; every value is missing", argument=flag, column=col)


def _weights(frame, path: Path, col: str, key: str | None):
    """The --weight column, checked before any metric runs: finite, non-negative, not all zero."""
    import numpy as np

    w = _numeric(frame, path, col, "--weight", key)
    neg = np.flatnonzero(w < 0)
    if neg.size:
        r = int(neg[0])
        raise _error(path, f"column {col!r} (--weight): weights must be non-negative; {_where(frame, r, key)} is "
                     f"{_show(frame[col].iloc[r])} ({neg.size} negative)", row=r, argument="--weight", column=col)
    if not (w > 0).any():
        raise _error(path, f"column {col!r} (--weight): all {w.size} weights are zero; at least one row needs "
                     "positive weight", argument="--weight", column=col)
    return w


def _slice_specs(frame, path: Path, specs: list[str]) -> list[str | tuple[str, ...]]:
    """--slice values -> slice keys: a column name, or a tuple of names for a crossed slice (a+b)."""
    out: list[str | tuple[str, ...]] = []
    for spec in specs:
        items = [spec] if spec in frame.columns else spec.split(",")
        for item in items:
            item = item.strip()
            cols = (item,) if item in frame.columns else tuple(c.strip() for c in item.split("+"))
            for c in cols:
                if not c or c not in frame.columns:
                    raise _error(path, f"column {c!r} (--slice {spec}) not found; columns are {list(frame.columns)}",
                                 argument="--slice", column=c)
            repeated = sorted({c for c in cols if cols.count(c) > 1})
            if repeated:
                raise _error(path, f"--slice {spec}: a crossed slice names column {repeated[0]!r} twice",
                             argument="--slice", column=repeated[0])
            key = cols[0] if len(cols) == 1 else cols
            if key in out:
                raise _error(path, f"--slice {spec}: slice {item!r} is given twice", argument="--slice", column=item)
            out.append(key)
    return out


def _slice_values(frame, key):
    def col(c):
        return frame[c].astype(object).where(frame[c].notna(), None).to_numpy()

    return col(key) if isinstance(key, str) else tuple(col(c) for c in key)


# ---------------------------------------------------------------------------------------------------
# statistics-layer errors, in the user's terms (from the error's fields, never from its text)
# ---------------------------------------------------------------------------------------------------

def flag_columns(args) -> dict[str, str | None]:
    """Each column flag -> the column the user named with it (None: not given)."""
    return {"--label": args.label, "--legacy": args.legacy, "--new": args.new, "--weight": args.weight,
            "--group": args.group, "--key": args.key}


def _translate(exc, *, path: Path, frame, args):
    """The user's column, flag, row (with its key) and value, rebuilt from a ParityInputError's fields."""
    flag = _ARG_FLAG.get(exc.argument or "")
    columns = flag_columns(args)
    column = exc.column if flag == "--slice" else columns.get(flag or "")
    if flag is None or column is None or exc.reason is None:
        return _error(path, str(exc), row=exc.row, **{k: v for k, v in exc.fields().items() if k != "row"})
    text = f"column {column!r} ({flag}): {exc.reason}"
    if exc.row is not None:
        text += f"; {_where(frame, exc.row, args.key)}"
        if exc.has_value:
            text += f" is {_show(exc.value)}"
    if exc.detail:
        text += f" {exc.detail}"
    fields = {k: v for k, v in exc.fields().items() if k not in ("argument", "column", "row", "file")}
    return _error(path, text, row=exc.row, argument=flag, column=column, **fields)


# ---------------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------------

def _compare(args) -> int:
    if getattr(args, "stream", False):
        from harness.scale.cli import compare_stream_command

        return compare_stream_command(args)
    from harness.scale.cli import refuse_stream_flags_without_stream

    refuse_stream_flags_without_stream(args)
    from harness.cli import check_json_output, write_json_output
    from harness.errors import ParityInputError
    from harness.stats.compare import compare_scores

    path = Path(args.file)
    check_json_output(args.json)
    names, margins = _options(args)
    frame = _read(path, args.na_values)
    if len(frame) == 0:
        raise _error(path, "has no rows")
    inputs = _columns(frame, path, args, names)
    try:
        result = compare_scores(*inputs["arrays"], metrics=names, margins=margins, alpha=args.alpha,
                                n_boot=args.bootstrap, seed=args.seed, min_slice_size=args.min_slice_size,
                                allow_identical=args.allow_identical, **inputs["kwargs"])
    except ParityInputError as exc:
        raise _translate(exc, path=path, frame=frame, args=args) from exc

    if args.json:
        doc = {"file": str(path), "columns": {"label": args.label, "legacy": args.legacy, "new": args.new,
                                              "group": args.group, "weight": args.weight, "key": args.key,
                                              "slices": [k if isinstance(k, str) else list(k)
                                                         for k in inputs["slice_keys"]]},
               **result.to_dict()}
        write_json_output(args.json, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    # the table after the JSON, so a reader that stops early (| head) loses neither; stdout stays pure JSON with --json -
    _print_table(result, file=sys.stderr if args.json == "-" else sys.stdout, weight=args.weight)
    return 0 if result.verdict.value == "EQUIVALENT" else 1


def _options(args):
    """Flags that need no file: alpha, counts, metrics, margins."""
    from harness.checks.metrics import validate_metric_names
    from harness.errors import ParityInputError
    from harness.stats.equivalence import Margin, parse_margins
    from harness.stats.metrics import get_metric

    if not (0 < args.alpha < 0.5):
        raise ParityInputError(f"--alpha {args.alpha!r}: expected a number in (0, 0.5); decisions use the "
                               "1 - 2*alpha interval", argument="--alpha", value=args.alpha)
    for flag, value, lo in (("--bootstrap", args.bootstrap, 2), ("--seed", args.seed, 0),
                            ("--min-slice-size", args.min_slice_size, 0)):
        if value < lo:
            raise ParityInputError(f"{flag} {value!r}: expected an integer >= {lo}", argument=flag, value=value)
    if args.legacy == args.new and not args.allow_identical:
        raise ParityInputError(f"--legacy and --new both name column {args.new!r}: comparing a column with itself "
                               "proves nothing about a migration", argument="--new", column=args.new)
    raw = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not raw:
        raise ParityInputError(f"--metrics {args.metrics!r} names no metric", argument="--metrics")
    try:
        names = validate_metric_names(raw, has_groups=args.group is not None)
    except ParityInputError as exc:
        if exc.reason == _RANKING_NEEDS_GROUPS:  # the library's text also speaks of suites' dataset roles
            raise ParityInputError(f"--metrics: metric {exc.value!r} is computed per query group and needs "
                                   "--group COL (the query/request id column)", argument="--metrics",
                                   value=exc.value, reason=exc.reason) from exc
        raise ParityInputError(f"--metrics: {exc}", argument="--metrics", value=exc.value) from exc
    try:
        margins: dict[str, Any] = {k.strip().lower(): v for k, v in parse_margins(args.margin).items()}
    except ParityInputError as exc:  # the flag the text came from
        raise ParityInputError(f"--margin: {exc}", argument="--margin", value=args.margin) from exc
    for name in [m.strip() for m in args.non_inferiority.split(",") if m.strip()]:
        if "=" in name:
            raise ParityInputError(f"--non-inferiority {name!r}: name the metric only (--non-inferiority auc); its "
                                   "margin goes in --margin", argument="--non-inferiority", value=name)
        try:
            mdef = get_metric(name)
        except ParityInputError as exc:
            raise ParityInputError(f"--non-inferiority: {exc}", argument="--non-inferiority", value=name) from exc
        if mdef.name not in margins:
            raise ParityInputError(f"--non-inferiority {name!r}: the metric needs a margin in --margin",
                                   argument="--non-inferiority", value=name)
        value, kind = margins[mdef.name]
        margins[mdef.name] = Margin(mdef.name, value, kind, mdef.higher_is_better, "non_inferiority")
    return names, margins


def _columns(frame, path: Path, args, names) -> dict[str, Any]:
    """Every column a flag names: present, of the right kind, its first bad row named."""
    import numpy as np

    from harness.stats.metrics import get_metric

    roles = [("--label", args.label), ("--legacy", args.legacy), ("--new", args.new), ("--group", args.group),
             ("--weight", args.weight), ("--key", args.key)]
    for flag, col in roles:
        if col is not None and col not in frame.columns:
            raise _error(path, f"column {col!r} ({flag}) not found; columns are {list(frame.columns)}", argument=flag,
                         column=col)
    slice_keys = _slice_specs(frame, path, args.slice)
    key = args.key
    if key is not None:
        k = frame[key]
        if k.isna().any():
            r = int(np.flatnonzero(k.isna().to_numpy())[0])
            raise _error(path, f"column {key!r} (--key) is missing at row {r}", row=r, argument="--key", column=key)
        dup = k.duplicated()
        if dup.any():
            r = int(np.flatnonzero(dup.to_numpy())[0])
            first = int(np.flatnonzero((k == k.iloc[r]).to_numpy())[0])
            raise _error(path, f"column {key!r} (--key) repeats {_show(k.iloc[r])} at row {r} (first at row {first}); "
                         "keys must be unique", row=r, argument="--key", column=key, value=k.iloc[r])

    y = _numeric(frame, path, args.label, "--label", key, allow_bool=True)  # bool labels are 0/1 labels
    binary = [n for n in names if get_metric(n).task == _BINARY_TASK]
    if binary:
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            r = int(bad[0])
            raise _error(path, f"column {args.label!r} (--label) must be 0/1 for {', '.join(binary)}; "
                         f"{_where(frame, r, key)} is {_show(frame[args.label].iloc[r])}", row=r, argument="--label",
                         column=args.label, value=frame[args.label].iloc[r])
    a = _numeric(frame, path, args.legacy, "--legacy", key)
    b = _numeric(frame, path, args.new, "--new", key)
    if not args.allow_identical and np.array_equal(a, b):
        raise _error(path, f"column {args.new!r} (--new) equals column {args.legacy!r} (--legacy) row for row: "
                     "comparing a column with itself proves nothing about a migration (--allow-identical if two "
                     "separate systems really wrote the same scores)", argument="--new", column=args.new)
    w = _weights(frame, path, args.weight, key) if args.weight else None
    groups = None
    if args.group:
        gcol = frame[args.group]
        if gcol.isna().any():
            r = int(np.flatnonzero(gcol.isna().to_numpy())[0])
            raise _error(path, f"column {args.group!r} (--group) is missing at {_where(frame, r, key)}", row=r,
                         argument="--group", column=args.group)
        groups = gcol.to_numpy()
    slices = {k: _slice_values(frame, k) for k in slice_keys}
    return {"arrays": (y, a, b), "slice_keys": slice_keys,
            "kwargs": dict(sample_weight=w, groups=groups, keys=None if key is None else frame[key].to_numpy(),
                           slices=slices or None)}


# ---------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------

def _fmt(x: Any, spec: str = ".6g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def _fmt_p(p: float | None) -> str:
    """A p-value in 3 significant digits (scientific below 1e-4); an underflowed 0 is "<1e-300", never "0"."""
    if p is None or not math.isfinite(p):
        return "-"
    return "<1e-300" if p < 1e-300 else format(p, ".3g")


def _decision_interval(e) -> tuple[Any, float]:
    """The interval the verdict used and its level: Holm's when the adjustment set a stricter level."""
    if e.ci_adjusted is not None:
        return e.ci_adjusted, e.ci_adjusted_level
    return e.ci, e.ci_level


def _verdict_cell(e) -> str:
    if not e.gated:
        return f"{e.verdict.value} (not gated)"
    if e.decided_by == "holm":
        return f"{e.verdict.value} (Holm)"
    if e.decided_by == "undefined":
        return f"{e.verdict.value} (undefined)"
    return e.verdict.value


def _print_table(result, file=None, *, weight: str | None = None) -> None:
    """The verdict table; ``weight``: the column (--weight) that weighted every metric, said in the last line."""
    from harness.stats.compare import slice_label

    file = sys.stdout if file is None else file
    grouped = any(e.n_groups is not None for e in result.entries)  # a ranking metric: show its query groups
    header = ("METRIC", "SLICE", "N", *(("GROUPS",) if grouped else ()), "LEGACY", "NEW", "DIFF", "CI", "LEVEL",
              "MARGIN", "P_HOLM", "METHOD", "VERDICT")
    rows = []
    for e in result.entries:
        ci, level = _decision_interval(e)
        ci_text = "-" if ci is None else f"[{ci[0]:+.4g}, {ci[1]:+.4g}]"
        margin = "-"
        if e.margin is not None:
            m = e.margin
            margin = (f"{m['value']:.4g}" if m["kind"] == "absolute" else f"{m['value']:.4g}x|legacy|")
            if m["test"] == "non_inferiority":
                margin += " (NI)"
        groups = (("-" if e.n_groups is None else str(e.n_groups)),) if grouped else ()
        rows.append((e.name, slice_label(e.slice), str(e.n), *groups, _fmt(e.legacy), _fmt(e.new),
                     _fmt(e.diff, "+.4g"), ci_text, "-" if ci is None else f"{level:.4g}", margin,
                     _fmt_p(e.p_adjusted), e.method.split(" (")[0] or "-", _verdict_cell(e)))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=file)
    for e in result.entries:
        for line in _explain(e, result.alpha):
            print(line, file=file)
    for note in result.notes:
        print(f"note: {note}", file=file)
    weighted = f", weighted by column {weight!r}" if weight else ""
    print(f"overall: {result.verdict.value} ({result.n_rows} rows{weighted}, alpha {result.alpha}, "
          f"{result.adjustment}-adjusted across gated metrics x slices, seed {result.seed})", file=file)


def _explain(e, alpha: float) -> list[str]:
    """Why a gated entry is not EQUIVALENT when the table alone would not say it."""
    if not e.gated:
        return []
    if e.decided_by == "holm":
        lo, hi = e.ci
        line = (f"{e.id}: INCONCLUSIVE by the Holm adjustment: the {e.ci_level:.0%} interval [{lo:+.4g}, {hi:+.4g}] "
                f"lies inside the margin, but the Holm-adjusted p = {_fmt_p(e.p_adjusted)} > alpha = {alpha:g}")
        if e.n_required is not None:
            line += f"; about {e.n_required} rows would decide it at the adjusted level"
        return [line]
    if e.decided_by == "undefined":
        return [f"{e.id}: INCONCLUSIVE (gated): {e.note}"]
    if e.n_required is not None:
        plan = (f"rows for 80% power if the true difference is 0 (planning): about {e.n_required_planning}; "
                if e.n_required_planning is not None else "")
        return [f"{e.id}: INCONCLUSIVE at n={e.n}; {plan}about {e.n_required} rows would decide it at the observed "
                f"difference (minimum detectable difference at this n: {_fmt(e.mdd, '.3g')})"]
    return []
