"""``parity compare``: accuracy-neutrality of two score columns in one file, no models needed.

    parity compare FILE --label COL --legacy COL --new COL [--group COL] [--weight COL] [--key COL]
                   [--metrics auc,logloss,...] [--margin auc=0.002,logloss=1%] [--alpha 0.05]
                   [--bootstrap N] [--seed S] [--slice COL ...] [--min-slice-size N] [--json OUT]
                   [--non-inferiority auc,...]

FILE is Parquet (.parquet, .pq) or CSV (.csv). Each metric's difference (new - legacy) gets an interval
and a three-way verdict against its margin (see harness.stats.compare); a trailing % makes a margin
relative to the legacy metric. Metrics without a margin are reported, not gated.

Methods: DeLong for auc (with --weight the paired bootstrap: DeLong has no weighted form); paired per-row
differences for logloss, brier, mae; the delta method for rmse; the paired bootstrap for the rest (query
groups resampled for ndcg@K and mrr). ece uses 10 equal-mass (quantile) bins; for ndcg@K and mrr a query
group with no relevant item counts as 0.

The table: N counts rows; GROUPS (shown with ranking metrics) counts query groups; P_HOLM is the
Holm-adjusted p-value, "<1e-300" when it underflows. --json - writes the JSON document to stdout and the
table to stderr. Row numbers in error messages are 0-based data rows in file order (header not counted).

Exit codes: 0 every gated metric is EQUIVALENT; 1 otherwise (NOT_EQUIVALENT, INCONCLUSIVE, or nothing
gated); 2 bad input (missing file or column, a NaN score, a non-binary label ...), named in the message.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_BINARY_TASK = "binary"
# Appended to every error that names a row, so "row 12" cannot be read as a 1-based or spreadsheet row.
_ROWS_NOTE = "[row numbers: 0-based data rows in file order, header not counted]"
_ROW_RE = re.compile(r"\brow (\d+)\b")


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
    p.add_argument("--metrics", default="auc,logloss,brier", metavar="LIST",
                   help="comma-separated metrics (default: auc,logloss,brier)")
    p.add_argument("--margin", default="", metavar="SPEC",
                   help="margins, e.g. auc=0.002,logloss=1%% (a trailing %% is relative to the legacy metric)")
    p.add_argument("--non-inferiority", default="", metavar="LIST",
                   help="metrics tested one-sided (new may be better, not worse by more than the margin); "
                   "the others are tested for equivalence (two one-sided tests)")
    p.add_argument("--alpha", type=float, default=0.05, help="test level; decisions use the 1-2*alpha interval")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default 0)")
    p.add_argument("--slice", action="extend", nargs="+", default=[], metavar="COL",
                   help="categorical column(s): metrics and verdicts per value")
    p.add_argument("--min-slice-size", type=int, default=1000, metavar="N",
                   help="slices with fewer rows are reported but not gated (default 1000)")
    p.add_argument("--json", metavar="OUT",
                   help="write the full result as JSON to OUT; '-' writes it to stdout (the table then goes to stderr)")
    p.set_defaults(func=_compare)


def _read(path: Path):
    import pandas as pd

    from harness.errors import ParityInputError

    if not path.is_file():
        raise ParityInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except Exception as exc:  # a corrupt or unreadable file is bad input, not a crash
        raise ParityInputError(f"{path}: cannot be read as {suffix[1:].upper()} ({type(exc).__name__}: {exc})") from exc
    raise ParityInputError(f"{path}: unknown file type {suffix!r}; expected .parquet, .pq or .csv")


def _show(value: Any) -> str:
    """repr of a cell without numpy's type wrapper (np.int64(84) -> 84)."""
    return repr(value.item() if hasattr(value, "item") else value)


def _where(frame, row: int, key: str | None) -> str:
    where = f"row {row}"
    if key is not None:
        where += f" ({key}={_show(frame[key].iloc[row])})"
    return where


def _numeric(frame, path: Path, col: str, flag: str, key: str | None):
    import numpy as np
    import pandas as pd

    from harness.errors import ParityInputError

    s = frame[col]
    if not pd.api.types.is_numeric_dtype(s):  # bool counts as numeric (0/1 labels)
        raise ParityInputError(_not_numeric(frame, path, col, flag, key))
    values = s.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ParityInputError(f"{path}: column {col!r} ({flag}) has {bad.size} missing or non-finite value(s), "
                               f"first at {_where(frame, int(bad[0]), key)}: {_show(s.iloc[int(bad[0])])}")
    return values


def _not_numeric(frame, path: Path, col: str, flag: str, key: str | None) -> str:
    """The message for a non-numeric column: its dtype, the first value that is not a number, and how many."""
    import numpy as np
    import pandas as pd

    s = frame[col]
    head = f"{path}: column {col!r} ({flag}) must be numeric, got dtype {s.dtype}"
    present = s.notna().to_numpy()
    try:  # as object values, so categoricals and datetimes are judged value by value
        parsed = pd.to_numeric(s.astype(object), errors="coerce").notna().to_numpy()
    except (TypeError, ValueError):  # values pandas cannot even try to parse (lists, dicts ...)
        parsed = np.zeros(len(s), dtype=bool)
    bad = np.flatnonzero(present & ~parsed)
    if bad.size:
        r = int(bad[0])
        return f"{head}; {_where(frame, r, key)} is {_show(s.iloc[r])} ({bad.size} value(s) that are not numbers)"
    rows = np.flatnonzero(present)
    if rows.size:  # every value reads as a number but is stored as text/category: converting is the user's call
        r = int(rows[0])
        return (f"{head}; its values are numbers stored as {s.dtype}, e.g. {_where(frame, r, key)} is "
                f"{_show(s.iloc[r])}; store the column as numbers (nothing is converted silently)")
    return f"{head}; every value is missing"


def _weights(frame, path: Path, col: str, key: str | None):
    """The --weight column, checked before any metric runs: finite, non-negative, not all zero."""
    import numpy as np

    from harness.errors import ParityInputError

    w = _numeric(frame, path, col, "--weight", key)
    neg = np.flatnonzero(w < 0)
    if neg.size:
        r = int(neg[0])
        raise ParityInputError(f"{path}: column {col!r} (--weight): weights must be non-negative; "
                               f"{_where(frame, r, key)} is {_show(frame[col].iloc[r])} ({neg.size} negative)")
    if not (w > 0).any():
        raise ParityInputError(f"{path}: column {col!r} (--weight): all {w.size} weights are zero; at least one row "
                               "needs positive weight")
    return w


# The argument names of harness.stats (metrics, DeLong, bootstrap, compare_scores) -> the CLI flag.
_ARG_FLAG = {"y_true": "--label", "score_legacy": "--legacy", "score_a": "--legacy", "score_new": "--new",
             "score_b": "--new", "sample_weight": "--weight", "groups": "--group", "keys": "--key"}
_SCORE_ARGS = ("y_prob", "y_score", "y_pred", "score")  # a score of either side: the side is found below


def _failing_side(arg: str, defs, y, sides, w, groups):
    """(side flag, metric name, message) of the first metric x side whose own check rejects `arg`.

    Only runs when compare_scores already failed, to say which score column a side-neutral argument name
    (y_prob, y_pred ...) meant; metrics and sides are tried in compare_scores's order (legacy first).
    """
    from harness.errors import ParityInputError

    for d in defs:
        extra = (groups,) if d.needs_groups else ()
        for flag, arr in sides:
            checks = [lambda s, d=d, extra=extra: d.fn(y, s, *extra, sample_weight=w)]
            if d.per_row is not None:  # the paired method validates through the per-row losses
                checks.insert(0, lambda s, d=d: d.per_row(y, s))
            for check in checks:
                try:
                    check(arr)
                except ParityInputError as exc:
                    if str(exc).startswith(f"{arg}:"):
                        return flag, d.name, str(exc)
                except Exception:  # noqa: BLE001 - another failure is not the input check looked for
                    pass
    return None


def _translate(exc, *, path: Path, frame, args, defs, y, a, b, w, groups) -> str:
    """A statistics-layer message, with its argument names replaced by the user's columns and flags."""
    columns = {"--label": args.label, "--legacy": args.legacy, "--new": args.new, "--weight": args.weight,
               "--group": args.group, "--key": args.key}
    msg = str(exc)
    metric = side = None
    m = re.match(r"metric '(?P<metric>[^']+)' on (?P<side>score_legacy|score_new): (?P<rest>.*)\Z", msg, re.S)
    if m:
        metric, side, msg = m["metric"], _ARG_FLAG[m["side"]], m["rest"]
    m = re.match(r"(?P<arg>[a-z_]+): (?P<rest>.*)\Z", msg, re.S)
    flag = None
    if m and m["arg"] in _ARG_FLAG:
        flag = _ARG_FLAG[m["arg"]]
    elif m and m["arg"] in _SCORE_ARGS:
        flag = side
        if flag is None:
            found = _failing_side(m["arg"], defs, y, (("--legacy", a), ("--new", b)), w, groups)
            if found is not None:
                flag, metric, msg = found
                m = re.match(r"(?P<arg>[a-z_]+): (?P<rest>.*)\Z", msg, re.S)
    elif m and m["arg"] in ("loss_legacy", "loss_new"):  # too few rows with positive weight for an interval
        flag = "--weight" if args.weight else None
    if m and (flag is not None and columns.get(flag) is not None):
        text = f"column {columns[flag]!r} ({flag}): {m['rest']}"
    elif m and m["arg"] in _SCORE_ARGS:  # the side could not be found: name both columns
        text = f"column {args.legacy!r} (--legacy) or {args.new!r} (--new): {m['rest']}"
    else:
        text = m["rest"] if m and m["arg"] in ("loss_legacy", "loss_new") else msg
    n = len(frame)
    text = _ROW_RE.sub(lambda r: _where(frame, int(r[1]), args.key) if int(r[1]) < n else r[0], text)
    if metric is not None:
        text += f" (metric {metric!r})"
    return f"{path}: {text}"


def _compare(args) -> int:
    from harness.errors import ParityInputError

    try:
        return _run_compare(args)
    except ParityInputError as exc:
        msg = str(exc)
        if _ROW_RE.search(msg) and _ROWS_NOTE not in msg:
            raise ParityInputError(f"{msg} {_ROWS_NOTE}") from exc
        raise


def _run_compare(args) -> int:
    import numpy as np

    from harness.cli import write_json_output
    from harness.errors import ParityInputError
    from harness.stats.compare import compare_scores
    from harness.stats.equivalence import Margin, parse_margins
    from harness.stats.metrics import get_metric

    path = Path(args.file)
    if not (0 < args.alpha < 0.5):
        raise ParityInputError(f"--alpha {args.alpha!r}: expected a number in (0, 0.5); decisions use the "
                               "1 - 2*alpha interval")
    for flag, value, lo in (("--bootstrap", args.bootstrap, 2), ("--seed", args.seed, 0),
                            ("--min-slice-size", args.min_slice_size, 0)):
        if value < lo:
            raise ParityInputError(f"{flag} {value!r}: expected an integer >= {lo}")
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not names:
        raise ParityInputError(f"--metrics {args.metrics!r} names no metric")
    defs = [get_metric(m) for m in names]
    margins: dict[str, Any] = dict(parse_margins(args.margin))
    for name in [m.strip() for m in args.non_inferiority.split(",") if m.strip()]:
        mdef = get_metric(name)
        margins = {k.strip().lower(): v for k, v in margins.items()}
        if mdef.name not in margins:
            raise ParityInputError(f"--non-inferiority {name!r}: the metric needs a margin in --margin")
        value, kind = margins[mdef.name]
        margins[mdef.name] = Margin(mdef.name, value, kind, mdef.higher_is_better, "non_inferiority")
    frame = _read(path)
    if len(frame) == 0:
        raise ParityInputError(f"{path}: has no rows")

    roles = [("--label", args.label), ("--legacy", args.legacy), ("--new", args.new), ("--group", args.group),
             ("--weight", args.weight), ("--key", args.key)] + [("--slice", c) for c in args.slice]
    for flag, col in roles:
        if col is not None and col not in frame.columns:
            raise ParityInputError(f"{path}: column {col!r} ({flag}) not found; columns are {list(frame.columns)}")
    key = args.key
    if key is not None:
        k = frame[key]
        if k.isna().any():
            raise ParityInputError(f"{path}: column {key!r} (--key) is missing at row {int(np.flatnonzero(k.isna())[0])}")
        dup = k.duplicated()
        if dup.any():
            r = int(np.flatnonzero(dup.to_numpy())[0])
            raise ParityInputError(f"{path}: column {key!r} (--key) repeats {_show(k.iloc[r])} at row {r}; keys must be unique")

    y = _numeric(frame, path, args.label, "--label", key)
    if any(d.task == _BINARY_TASK for d in defs):
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            binary = [d.name for d in defs if d.task == _BINARY_TASK]
            raise ParityInputError(f"{path}: column {args.label!r} (--label) must be 0/1 for {', '.join(binary)}; "
                                   f"{_where(frame, int(bad[0]), key)} is {_show(frame[args.label].iloc[int(bad[0])])}")
    a = _numeric(frame, path, args.legacy, "--legacy", key)
    b = _numeric(frame, path, args.new, "--new", key)
    w = _weights(frame, path, args.weight, key) if args.weight else None
    groups = None
    if args.group:
        gcol = frame[args.group]
        if gcol.isna().any():
            r = int(np.flatnonzero(gcol.isna().to_numpy())[0])
            raise ParityInputError(f"{path}: column {args.group!r} (--group) is missing at {_where(frame, r, key)}")
        groups = gcol.to_numpy()
    slices = {c: frame[c].astype(object).where(frame[c].notna(), None).to_numpy() for c in args.slice}

    try:
        result = compare_scores(y, a, b, metrics=names, margins=margins, alpha=args.alpha, sample_weight=w,
                                groups=groups, keys=None if key is None else frame[key].to_numpy(),
                                n_boot=args.bootstrap, seed=args.seed, slices=slices or None,
                                min_slice_size=args.min_slice_size)
    except ParityInputError as exc:
        raise ParityInputError(_translate(exc, path=path, frame=frame, args=args, defs=defs, y=y, a=a, b=b, w=w,
                                          groups=groups)) from exc

    _print_table(result, file=sys.stderr if args.json == "-" else sys.stdout)  # keep stdout pure JSON with --json -
    if args.json:
        doc = {"file": str(path), "columns": {"label": args.label, "legacy": args.legacy, "new": args.new,
                                              "group": args.group, "weight": args.weight, "key": args.key,
                                              "slices": list(args.slice)},
               **result.to_dict()}
        write_json_output(args.json, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return 0 if result.verdict.value == "EQUIVALENT" else 1


def _fmt(x: Any, spec: str = ".6g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def _fmt_p(p: float | None) -> str:
    """A p-value in 3 significant digits (scientific below 1e-4); an underflowed 0 is "<1e-300", never "0"."""
    if p is None or not math.isfinite(p):
        return "-"
    return "<1e-300" if p < 1e-300 else format(p, ".3g")


def _print_table(result, file=None) -> None:
    file = sys.stdout if file is None else file
    grouped = any(e.n_groups is not None for e in result.entries)  # a ranking metric: show its query groups
    header = ("METRIC", "SLICE", "N", *(("GROUPS",) if grouped else ()), "LEGACY", "NEW", "DIFF",
              f"CI {1 - 2 * result.alpha:.0%}", "MARGIN", "P_HOLM", "METHOD", "VERDICT")
    rows = []
    for e in result.entries:
        sl = "all" if e.slice is None else f"{e.slice['column']}={e.slice['value']}"
        ci = "-" if e.ci is None else f"[{e.ci[0]:+.4g}, {e.ci[1]:+.4g}]"
        margin = "-"
        if e.margin is not None:
            m = e.margin
            margin = (f"{m['value']:.4g}" if m["kind"] == "absolute" else f"{m['value']:.4g}x|legacy|")
            if m["test"] == "non_inferiority":
                margin += " (NI)"
        verdict = e.verdict.value + ("" if e.gated else " (not gated)")
        groups = (("-" if e.n_groups is None else str(e.n_groups)),) if grouped else ()
        rows.append((e.name, sl, str(e.n), *groups, _fmt(e.legacy), _fmt(e.new), _fmt(e.diff, "+.4g"), ci, margin,
                     _fmt_p(e.p_adjusted), e.method.split(" (")[0] or "-", verdict))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=file)
    for e in result.entries:
        if e.n_required is not None:
            print(f"{e.id}: INCONCLUSIVE at n={e.n}; about {e.n_required} rows would decide it "
                  f"(minimum detectable difference at this n: {_fmt(e.mdd, '.3g')})", file=file)
    for note in result.notes:
        print(f"note: {note}", file=file)
    print(f"overall: {result.verdict.value} ({result.n_rows} rows, alpha {result.alpha}, "
          f"{result.adjustment}-adjusted across gated metrics x slices, seed {result.seed})", file=file)
