"""``parity compare``: accuracy-neutrality of two score columns in one file, no models needed.

    parity compare FILE --label COL --legacy COL --new COL [--group COL] [--weight COL] [--key COL]
                   [--metrics auc,logloss,...] [--margin auc=0.002,logloss=1%] [--alpha 0.05]
                   [--bootstrap N] [--seed S] [--slice COL ...] [--min-slice-size N] [--json OUT]
                   [--non-inferiority auc,...]

FILE is Parquet (.parquet, .pq) or CSV (.csv). Each metric's difference (new - legacy) gets an interval
and a three-way verdict against its margin (see harness.stats.compare); a trailing % makes a margin
relative to the legacy metric. Metrics without a margin are reported, not gated.

Exit codes: 0 every gated metric is EQUIVALENT; 1 otherwise (NOT_EQUIVALENT, INCONCLUSIVE, or nothing
gated); 2 bad input (missing file or column, a NaN score, a non-binary label ...), named in the message.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["register"]

_BINARY_TASK = "binary"


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
    p.add_argument("--json", metavar="OUT", help="write the full result as JSON to OUT")
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
        raise ParityInputError(f"{path}: column {col!r} ({flag}) must be numeric, got dtype {s.dtype}")
    values = s.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ParityInputError(f"{path}: column {col!r} ({flag}) has {bad.size} missing or non-finite value(s), "
                               f"first at {_where(frame, int(bad[0]), key)}: {_show(s.iloc[int(bad[0])])}")
    return values


def _compare(args) -> int:
    import numpy as np

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
    w = _numeric(frame, path, args.weight, "--weight", key) if args.weight else None
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
        legend = ", ".join(f"{arg}={col!r}" for arg, col in (
            ("y_true", args.label), ("score_legacy", args.legacy), ("score_new", args.new),
            ("sample_weight", args.weight), ("groups", args.group)) if col)
        raise ParityInputError(f"{path}: {exc} (columns: {legend})") from exc

    _print_table(result)
    if args.json:
        doc = {"file": str(path), "columns": {"label": args.label, "legacy": args.legacy, "new": args.new,
                                              "group": args.group, "weight": args.weight, "key": args.key,
                                              "slices": list(args.slice)},
               **result.to_dict()}
        out = Path(args.json)
        try:
            out.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        except OSError as exc:
            raise ParityInputError(f"--json {out}: cannot write ({exc})") from exc
    return 0 if result.verdict.value == "EQUIVALENT" else 1


def _fmt(x: Any, spec: str = ".6g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def _print_table(result) -> None:
    header = ("METRIC", "SLICE", "N", "LEGACY", "NEW", "DIFF", f"CI {1 - 2 * result.alpha:.0%}", "MARGIN",
              "P_HOLM", "METHOD", "VERDICT")
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
        rows.append((e.name, sl, str(e.n), _fmt(e.legacy), _fmt(e.new), _fmt(e.diff, "+.4g"), ci, margin,
                     _fmt(e.p_adjusted, ".3g"), e.method.split(" (")[0] or "-", verdict))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for e in result.entries:
        if e.n_required is not None:
            print(f"{e.id}: INCONCLUSIVE at n={e.n}; about {e.n_required} rows would decide it "
                  f"(minimum detectable difference at this n: {_fmt(e.mdd, '.3g')})")
    for note in result.notes:
        print(f"note: {note}")
    print(f"overall: {result.verdict.value} ({result.n_rows} rows, alpha {result.alpha}, "
          f"{result.adjustment}-adjusted across gated metrics x slices, seed {result.seed})")
