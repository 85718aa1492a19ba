"""``parity serve-bench``: latency, throughput and cost of both sides' serving paths, side by side.

    parity serve-bench ctr_logreg                              both sides in process, batch 1, 32, 1024
    parity serve-bench ctr_logreg --serve new                  the new side's SavedModel behind a local
                                                               REST predict server (its own process)
    parity serve-bench ctr_logreg --endpoint new=http://127.0.0.1:8501/v1/models/ctr:predict
                                                               a running TF Serving (or any server that
                                                               speaks its REST predict API)
    parity serve-bench ctr_logreg --json out/serve.json        the measurements and the gates as JSON

A side named by --endpoint is not built: with both sides as endpoints nothing is trained. The other side
comes from the suite's pair (which trains it). The golden rows of the suite's split are the requests;
--endpoint sides get the dataset's raw feature columns, in TF Serving's row format ("instances") unless
--request-format inputs. --pid SIDE=PID names a local serving process so its CPU and peak RSS are read.
With both sides in process, a cost/peak_rss gate is judged as in a suite run: each side served by
--repeats fresh processes of its own (harness.serving.process_rss), their peak RSS compared.

Exit codes: 0 every serving/cost gate of the suite EQUIVALENT (or none declared); 1 a gate NOT_EQUIVALENT
or INCONCLUSIVE; 2 could not judge (unknown suite, bad argument, a side that answered no request). A gate
the suite names in ``known_gaps`` is shown, with its reason, and left out of the exit status and the
verdict, as in a suite run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import ParityInputError

__all__ = ["register"]

_SIDES = ("legacy", "new")


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 1,32,1024, got {text!r}") from None
    if not sizes or any(b < 1 for b in sizes) or len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"expected distinct batch sizes >= 1, got {text!r}")
    return sizes


def _side_value(text: str) -> tuple[str, str]:
    side, sep, value = text.partition("=")
    if not sep or side not in _SIDES or not value:
        raise argparse.ArgumentTypeError(f"expected legacy=VALUE or new=VALUE, got {text!r}")
    return side, value


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
        return v
    return parse


def register(subparsers) -> None:
    p = subparsers.add_parser("serve-bench", help="latency, throughput and cost of both serving paths; serving gates",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", help="suite name")
    p.add_argument("--suites-dir", type=Path, default=None, metavar="DIR",
                   help="folder of suite files test_*.py, subfolders included (default: $PARITY_SUITES_DIR or ./parity_suites)")
    p.add_argument("--batch-sizes", type=_batch_sizes, default=(1, 32, 1024), metavar="B,B,...",
                   help="rows per request (default 1,32,1024)")
    p.add_argument("--concurrency", type=_positive(int), default=1, metavar="N", help="clients (default 1)")
    p.add_argument("--qps", type=_positive(float), default=None, metavar="R",
                   help="open-loop requests/s (default: half the slower side's closed-loop rate)")
    p.add_argument("--duration", type=_positive(float), default=1.0, metavar="S", help="seconds per run (default 1)")
    p.add_argument("--repeats", type=_positive(int), default=5, metavar="K",
                   help="interleaved rounds (default 5, the fewest for a 90%% interval)")
    p.add_argument("--max-requests", type=_positive(int), default=20_000, metavar="N", help="requests per run at most")
    p.add_argument("--timeout", type=_positive(float), default=10.0, metavar="S", help="per-request timeout (default 10)")
    p.add_argument("--endpoint", type=_side_value, action="append", default=[], metavar="SIDE=URL",
                   help="serve SIDE from a TF Serving REST predict URL, http://HOST:PORT/v1/models/NAME:predict")
    p.add_argument("--pid", type=_side_value, action="append", default=[], metavar="SIDE=PID",
                   help="the local process behind SIDE's endpoint (for its CPU and peak RSS)")
    p.add_argument("--serve", choices=_SIDES, action="append", default=[], metavar="SIDE",
                   help="serve SIDE's SavedModel with the local REST predict server and measure it over HTTP")
    p.add_argument("--request-format", choices=("instances", "inputs"), default="instances",
                   help="TF Serving request format for HTTP sides (default instances)")
    p.add_argument("--json", metavar="OUT", default=None, help="write the measurements to OUT ('-': stdout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from harness.cli import EXIT_ERROR, EXIT_OK, write_json_output
    from harness.discovery import find_suite_files
    from harness.golden import load_dataset
    from harness.protocol import ModelPair
    from harness.progress import bar
    from harness.progress import enabled as progress_enabled
    from harness.results import jsonable
    from harness.serving.bench import SIDES, BenchConfig, format_table, http_side, in_process_side, run_bench
    from harness.serving.suite_run import is_process_gate, judge_process_gates
    from harness.verdicts import Verdict

    endpoints = dict(args.endpoint)
    pids = {s: v for s, v in args.pid}
    if len(endpoints) != len(args.endpoint):
        raise ParityInputError("--endpoint: each side at most once")
    for side, value in pids.items():
        if side not in endpoints:
            raise ParityInputError(f"--pid {side}=...: {side} has no --endpoint")
        if not value.isdigit():
            raise ParityInputError(f"--pid {side}={value!r}: expected a process id")
    both = set(args.serve) & set(endpoints)
    if both:
        raise ParityInputError(f"side(s) {sorted(both)} given both --serve and --endpoint")
    cfg = BenchConfig(batch_sizes=args.batch_sizes, concurrency=args.concurrency, qps=args.qps,
                      duration_s=args.duration, max_requests=args.max_requests, repeats=args.repeats,
                      timeout_s=args.timeout)
    (_, suite), = find_suite_files([args.suite], root=args.suites_dir)
    if suite.pair is None:
        raise ParityInputError(f"suite {suite.name!r} declares no pair (a probes-only suite): nothing to serve")
    gates = tuple(getattr(suite, "serving", ()) or ())
    dataset = load_dataset(suite.dataset)
    frame = dataset.frame(suite.split)
    columns = list(dataset.features)
    out = sys.stderr if args.json == "-" else sys.stdout
    servers = []
    try:
        pair = None
        if len(endpoints) < len(SIDES):
            print(f"serve-bench: building the pair of {suite.name!r} (this trains it)", file=sys.stderr)
            pair = suite.pair(dataset)
            if isinstance(pair, ModelPair):  # a pair that leaves fitting to the runner
                pair.fit_pending(dataset)
        sides = {}
        for s in SIDES:
            if s in endpoints:
                pid = int(pids[s]) if s in pids else None
                sides[s] = http_side(endpoints[s], frame, columns, pid=pid, fmt=args.request_format,
                                     timeout_s=args.timeout)
            elif s in args.serve:
                sides[s] = _local_server(getattr(pair, s), s, frame, columns, args, servers)
            else:
                sides[s] = in_process_side(getattr(pair, s), frame)
        # Both sides in process: a peak-RSS gate is judged on each side's own serving processes, as in a
        # suite run; a side behind a server is read from that server's process by the bench itself.
        in_process = not endpoints and not args.serve
        total = cfg.repeats * len(cfg.batch_sizes) * len(SIDES)
        with progress_enabled(not args.no_progress and sys.stderr.isatty()):
            with bar("serve-bench", total=total, unit="run") as progress:
                doc, checks = run_bench(sides, cfg, gates=[g for g in gates if not (in_process and is_process_gate(g))],
                                        progress=progress)
        if in_process and any(is_process_gate(g) for g in gates):
            print(f"serve-bench: cost/peak_rss: serving each side in {cfg.repeats} fresh processes of its own",
                  file=sys.stderr)
            processes, checks = judge_process_gates(gates, checks, pair, frame, cfg, {"repeats": cfg.repeats})
            doc["processes"] = processes
            doc["checks"] = [c.to_dict() for c in checks]
    finally:
        for server in servers:
            server.stop()
    doc = {"suite": suite.name, "dataset": {"name": dataset.name, "version": dataset.version, "split": suite.split,
                                             "rows": len(frame)}, **doc}
    rows = [c.to_dict() for c in checks]
    if checks:  # the suite's known gaps are left out of the verdict, as in a suite run's measured section
        from harness.report.measured import serving_verdict

        doc["verdict"] = serving_verdict(rows, suite.known_gaps)
        doc["known_gaps"] = {c.id: suite.known_gaps[c.id] for c in checks if c.id in suite.known_gaps}
    print("\n".join(format_table(doc)), file=out)
    for check in checks:
        if check.message:
            print("\n" + check.message, file=out)
    if args.json:
        write_json_output(args.json, json.dumps(jsonable(doc), indent=2) + "\n")
    dead = [(b, s) for b, per in doc["batch_sizes"].items() for s in SIDES
            if all(r["closed"]["n_ok"] == 0 for r in per[s]["rounds"])]
    if dead:
        b, s = dead[0]
        first = next((e for r in doc["batch_sizes"][b][s]["rounds"] for e in r["closed"]["errors"]), "no answer")
        print(f"parity serve-bench: could not judge: the {s} side answered no request at batch {b}: {first}",
              file=sys.stderr)
        return EXIT_ERROR
    if not checks:
        print(f"serve-bench: suite {suite.name!r} declares no serving or cost gates: measured only", file=sys.stderr)
        return EXIT_OK
    # The suite's known gaps count as in a suite run (harness.session.status_of_checks, the one rule):
    # shown, with their reasons, and left out of the exit status.
    from harness.session import status_of_checks

    gaps = dict(suite.known_gaps)
    for check in checks:
        if check.id in gaps and check.verdict is not Verdict.EQUIVALENT:
            print(f"serve-bench: {check.id} is a known gap of suite {suite.name!r} ({gaps[check.id]}): "
                  "not counted in the exit status", file=sys.stderr)
    failed = [c for c in checks if "error" in c.details and c.id not in gaps]
    if failed:  # a side whose serving process could not be measured: no verdict on that gate
        print(f"parity serve-bench: could not judge {failed[0].id}: {failed[0].details['error']['message']}",
              file=sys.stderr)
        return EXIT_ERROR
    return status_of_checks([(row, gaps) for row in rows])


def _local_server(side, label: str, frame, columns, args, servers):
    """Start the local REST predict server over ``side``'s SavedModel (its ``path``)."""
    from harness.serving.bench import has_saved_model, http_side
    from harness.serving.cost import artifact_size_bytes
    from harness.serving.server import start_server
    from harness.serving.targets import RestPredictTarget

    path = getattr(side, "path", None)
    if not has_saved_model(side):
        raise ParityInputError(f"--serve {label}: the {label} side ({getattr(side, 'name', side)!r}) has no "
                               "SavedModel path to serve; use --endpoint for another kind of server")

    # A side that names its serving signature's inputs is sent those columns alone (a server refuses the rest).
    inputs = getattr(side, "serving_inputs", None)
    columns = list(inputs()) if callable(inputs) else columns

    def probe(url: str) -> None:
        RestPredictTarget(url, [frame.iloc[:1]], columns=columns, fmt=args.request_format, timeout_s=args.timeout)(0)

    server = start_server(label, saved_model=str(path), probe=probe)
    servers.append(server)
    bench_side = http_side(server.url, frame, columns, pid=server.pid, fmt=args.request_format,
                           timeout_s=args.timeout, artifact_bytes=artifact_size_bytes(path),
                           cold_start_s=server.cold_start_s)
    bench_side.notes.append("local REST predict server (stdlib ThreadingHTTPServer) over the SavedModel")
    return bench_side
