"""``parity golden``: list, verify and regenerate golden datasets.

    parity golden list                      name, version, rows, splits, description
    parity golden verify [NAME]             all datasets when no NAME; exit 0 all verify, 1 one does not
    parity golden regenerate NAME [--check] rewrite files + manifest; --check compares without writing

``--root DIR`` (or env PARITY_GOLDEN_DIR) points at another golden_data folder.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("golden", help="list, verify and regenerate golden datasets",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])
    sub = parser.add_subparsers(dest="golden_command", metavar="ACTION")

    def add(name: str, help_text: str, func):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--root", default=None, help="golden data folder (default: $PARITY_GOLDEN_DIR or the "
                       "repository's golden_data/)")
        p.set_defaults(func=func)
        return p

    add("list", "list the golden datasets", _list)
    verify = add("verify", "verify hashes and schema of one or all datasets", _verify)
    verify.add_argument("name", nargs="?", help="dataset name (default: all)")
    regen = add("regenerate", "rerun a dataset's committed generator", _regenerate)
    regen.add_argument("name", help="dataset name")
    regen.add_argument("--check", action="store_true",
                       help="regenerate into a temporary folder and compare hashes; write nothing")


def _list(args) -> int:
    from harness.errors import GoldenDataError
    from harness.golden import list_datasets, read_manifest
    from harness.golden.registry import _root

    base = _root(args.root)
    names = list_datasets(base)
    if not names:
        print(f"no golden datasets in {base}")
        return 0
    rows = []
    for name in names:
        try:
            m = read_manifest(base / name)
            splits = ", ".join(f"{s.name}={s.rows}" for s in m.splits)
            rows.append((name, m.version, str(m.total_rows), splits, m.description))
        except GoldenDataError as exc:
            rows.append((name, "?", "?", "?", f"(unreadable manifest: {exc})"))
    header = ("NAME", "VERSION", "ROWS", "SPLITS", "DESCRIPTION")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    return 0


def _verify(args) -> int:
    from harness.golden import list_datasets, verify_dataset
    from harness.golden.registry import _root

    base = _root(args.root)
    names = [args.name] if args.name else list_datasets(base)
    failed = 0
    for name in names:
        problems = verify_dataset(name, root=base)
        if problems:
            failed += 1
            print(f"FAILED  {name}")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"ok      {name}")
    if not names:
        print(f"no golden datasets in {base}")
    return 1 if failed else 0


def _regenerate(args) -> int:
    from harness.golden import check_regeneration, regenerate
    from harness.golden.registry import _root

    base = _root(args.root)
    if args.check:
        result = check_regeneration(args.name, root=base)
        how = {"file_sha256": "file sha256 (library versions equal the manifest's)",
               "content_sha256": "content sha256 only (library versions differ from the manifest's: "
               + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in result.versions.items() if a != b) + ")"}
        print(f"{args.name}: compared {how.get(result.method, result.method)}")
        if result.matches:
            print(f"ok      {args.name} regenerates identically")
            return 0
        print(f"FAILED  {args.name} does not regenerate identically")
        for line in result.mismatches:
            print(f"  - {line}")
        return 1
    manifest = regenerate(args.name, root=base)
    print(f"regenerated {args.name} in {base / args.name}: {manifest.total_rows} rows")
    for split in manifest.splits:
        print(f"  {split.name}: {split.file} rows={split.rows} sha256={split.sha256}")
    return 0
