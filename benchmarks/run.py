"""The registry of metrics and the command line.

``python -m benchmarks [--quick] [--only METRIC ...] [--out FILE] [--keep]`` runs the metrics
in the order below, prints one JSON line per result (``metric, value, unit, baseline, ratio,
target, ok`` plus details) and writes the same lines to ``--out`` (default
``benchmarks/results/latest.jsonl``, git-ignored). Progress goes to stderr. The exit status is
1 when a metric failed to run (an error line), else 0; a missed target is ``"ok": false``,
not an error.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.harness import ROOT, Context, Result
from benchmarks.metrics import (
    backfill_throughput,
    cli_startup,
    heartbeat_cost,
    live_latency,
    load_series,
    notebooks_suite,
    postgres_store,
    rate_limited_backfill,
)

__all__ = ["METRICS", "main"]

Metric = Callable[[Context], list[Result]]

#: metric name -> runner, in the order of the issue
METRICS: dict[str, Metric] = {
    backfill_throughput.NAME: backfill_throughput.run,
    rate_limited_backfill.NAME: rate_limited_backfill.run,
    cli_startup.NAME: cli_startup.run,
    load_series.NAME: load_series.run,
    heartbeat_cost.NAME: heartbeat_cost.run,
    live_latency.NAME: live_latency.run,
    notebooks_suite.NAME: notebooks_suite.run,
    postgres_store.NAME: postgres_store.run,
}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.jsonl"


def machine() -> str:
    """One line about the machine the figures come from."""
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()} ({platform.machine()})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="METRIC",
        choices=list(METRICS),
        help=f"run only these metrics (of {', '.join(METRICS)})",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON lines)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    return parser


def _run_one(name: str, metric: Metric, ctx: Context) -> list[Result]:
    try:
        return metric(ctx)
    except Exception as exc:  # noqa: BLE001 - reported as the metric's error line, exit 1
        traceback.print_exc(file=sys.stderr)
        return [Result(name, None, "", error=f"{type(exc).__name__}: {exc}")]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected metrics; see the module docstring. 130 when interrupted."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # SIGINT or SIGTERM: the context stopped what it started
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    names = args.only or list(METRICS)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    print(f"benchmarks ({mode}) on {machine()}", file=sys.stderr)
    failed = False
    started = time.perf_counter()
    with Context(quick=args.quick, keep=args.keep) as ctx, out.open("w") as sink:
        if args.keep:
            print(f"temporary data in {ctx.root}", file=sys.stderr)
        for name in names:
            print(f"-- {name}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            load = os.getloadavg()[0]  # other work on the machine skews every figure
            for result in _run_one(name, METRICS[name], ctx):
                result.details["loadavg_1m_at_start"] = round(load, 2)
                result.details["mode"] = mode  # quick sizes keep the scripts working; the
                # targets are meant for the full sizes, where fixed costs weigh less
                failed |= result.error is not None
                line = result.to_json()
                print(line, flush=True)
                sink.write(line + "\n")
                sink.flush()
            print(f"   {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(f"done in {time.perf_counter() - started:.1f} s; results in {out}", file=sys.stderr)
    return 1 if failed else 0
