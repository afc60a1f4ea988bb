"""Metric 1, ``backfill_throughput``: candles/s of a workbench backfill, end to end.

The simulator runs in its own process (weight limit off). Three clients, each a fresh process
timed from launch to exit (interpreter start-up, imports and markets included for all three),
fetch the same 1m candles of BTC/USDT (500,000; 100,000 with ``--quick``), interleaved over the
repeats; the figures use each client's best wall time (other work on the machine only ever adds
time; medians are in the details):

- the workbench: ``ohlcv-workbench collect sim BTC/USDT --since .. --until .. --no-rate-limit``
  into a fresh SQLite store, registered in the run's Redis (collector and host heartbeats,
  lease), as a user runs it; the stored count is checked afterwards;
- ``ccxt-loop`` and ``raw-http`` from :mod:`benchmarks.clients` (no store, no registry).

Lines: ``backfill_throughput`` (baseline: the ccxt loop; target ratio >= 2.0) and
``backfill_throughput:raw_http`` (baseline: raw HTTP; target ratio >= 0.7). A warm-up pass
fills the simulator's caches first, so every timed client meets the same server.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Context, Result, Target, Timed, cli, median, python, run_timed
from benchmarks.simproc import SimProcess

NAME = "backfill_throughput"
SINCE_MS = 1_704_067_200_000  # 2024-01-01
SYMBOL = "BTC/USDT"


def _count_stored(path: str, since: int, until: int) -> int:
    from ohlcv_workbench.records import SeriesKey
    from ohlcv_workbench.store import SqliteStore

    with SqliteStore(path) as store:
        return store.ohlcv_count(SeriesKey("sim", SYMBOL, "1m"), since, until)


def run(ctx: Context) -> list[Result]:
    """Both lines of the metric."""
    candles = 100_000 if ctx.quick else 500_000
    repeats = 1 if ctx.quick else 5
    until = SINCE_MS + candles * 60_000
    ctx.redis_url()
    folder = ctx.scratch(NAME)
    with SimProcess(ctx, weight_limit=0) as sim:
        env = ctx.child_env(sim_url=sim.url)
        window = ["--since", str(SINCE_MS), "--until", str(until)]

        def client(mode: str) -> Timed:
            return run_timed(
                python("-m", "benchmarks.clients", mode, "--url", sim.url, *window), env
            )

        client("raw-http")  # warm-up: the simulator generates and caches the data once
        walls: dict[str, list[float]] = {"workbench": [], "ccxt": [], "raw": []}
        inner: dict[str, list[float]] = {"workbench": [], "ccxt": [], "raw": []}
        for i in range(repeats):
            for name, mode in (("raw", "raw-http"), ("ccxt", "ccxt-loop")):
                done = client(mode)
                out = done.json()
                if out["candles"] != candles:
                    raise RuntimeError(f"{mode} fetched {out['candles']} candles, not {candles}")
                walls[name].append(done.seconds)
                inner[name].append(out["seconds"])
            store = folder / f"run{i}.sqlite"
            sim.reset()
            argv = cli("collect", "sim", SYMBOL, *window, "--no-rate-limit", "--quiet")
            done = run_timed(argv, ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{store}"))
            stored = _count_stored(str(store), SINCE_MS, until)
            if stored != candles:
                raise RuntimeError(f"the workbench stored {stored} candles, not {candles}")
            times = sim.times()
            walls["workbench"].append(done.seconds)
            inner["workbench"].append(done.started + done.seconds - times["first"])
    rate = {name: candles / min(seconds) for name, seconds in walls.items()}
    med = {name: median(seconds) for name, seconds in walls.items()}
    details: dict[str, Any] = {
        "candles": candles,
        "repeats": repeats,
        "best_wall_s": {name: round(min(seconds), 3) for name, seconds in walls.items()},
        "median_wall_s": {name: round(seconds, 3) for name, seconds in med.items()},
        "best_from_first_request_s": {name: round(min(s), 3) for name, s in inner.items()},
        "timed": "process launch to exit, best of the repeats",
    }
    return [
        Result(
            NAME,
            rate["workbench"],
            "candles/s",
            rate["ccxt"],
            Target("ratio", ">=", 2.0),
            {
                **details,
                "ratio_of_medians": med["ccxt"] / med["workbench"],
                "baseline_is": "sequential ccxt fetch_ohlcv loop, limiter off",
            },
        ),
        Result(
            f"{NAME}:raw_http",
            rate["workbench"],
            "candles/s",
            rate["raw"],
            Target("ratio", ">=", 0.7),
            {
                **details,
                "ratio_of_medians": med["raw"] / med["workbench"],
                "baseline_is": "aiohttp GET + json.loads of the same pages, 4 in flight",
            },
        ),
    ]
