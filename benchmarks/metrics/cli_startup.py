"""Metric 3, ``cli_startup``: from launching ``ohlcv-workbench collect`` to its first klines
request reaching the simulator.

The console script is launched as a user would (``.venv/bin/ohlcv-workbench collect sim
BTC/USDT --since .. --until ..``, one page), with the run's Redis already up; the simulator (its
own process, :mod:`benchmarks.simproc`) stamps the arrival of the first klines request with the
same clock the launcher read. Median of the repeats (the first launch is shown apart: cold
caches). Baseline: the same span for a minimal ccxt script (``benchmarks.clients
first-request``: import ccxt, load the markets, fetch one page; ccxt's limiter on in both, so
both wait the 0.2 s ccxt charges for ``exchangeInfo`` before the klines request). Target:
value <= 1.0 s.
"""

from __future__ import annotations

from benchmarks.harness import Context, Result, Target, cli, median, python, run_timed
from benchmarks.simproc import SimProcess

NAME = "cli_startup"
SINCE_MS = 1_735_689_600_000  # 2025-01-01
PAGE_MS = 1000 * 60_000


def run(ctx: Context) -> list[Result]:
    """One line."""
    repeats = 2 if ctx.quick else 7
    ctx.redis_url()
    window = ["--since", str(SINCE_MS), "--until", str(SINCE_MS + PAGE_MS)]
    ours: list[float] = []
    theirs: list[float] = []
    first_request: list[float] = []
    with SimProcess(ctx) as sim:
        env = ctx.child_env(sim_url=sim.url)
        for i in range(repeats):
            store = ctx.scratch(f"{NAME}-{i}") / "ohlcv.sqlite"
            sim.reset()
            argv = cli("collect", "sim", "BTC/USDT", *window, "--quiet")
            done = run_timed(argv, ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{store}"))
            times = sim.times()
            ours.append(times["first_klines"] - done.started)
            first_request.append(times["first"] - done.started)
            sim.reset()
            argv = python("-m", "benchmarks.clients", "first-request", "--url", sim.url, *window)
            done = run_timed(argv, env)
            theirs.append(sim.times()["first_klines"] - done.started)
    return [
        Result(
            NAME,
            median(ours),
            "s",
            median(theirs),
            Target("value", "<=", 1.0),
            {
                "repeats": repeats,
                "first_launch_s": ours[0],
                "min_s": min(ours),
                "max_s": max(ours),
                "baseline_min_s": min(theirs),
                "to_first_request_s": median(first_request),
                "baseline_is": "python script: import ccxt, load_markets, fetch_ohlcv",
            },
        )
    ]
