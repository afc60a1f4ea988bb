"""Metric 2, ``rate_limited_backfill``: a backfill paced by ccxt's limiter, against its bound.

``ohlcv-workbench collect`` runs with ccxt's rate limiter on, against the simulator in its own
process with Binance's server-side limit (6000 weight per minute; refusals are 429s, counted by
the simulator). Two cases, as in the issue:

- ``rate_limited_backfill:1x365d``: BTC/USDT, one year of 1m candles (30 days with ``--quick``);
- ``rate_limited_backfill:10x30d``: ten symbols in one process, 30 days each (3 with ``--quick``),
  sharing one ccxt instance and so one limiter.

The bound is what the limiter allows for the requests the simulator counted in that run: the sum
over requests of ccxt's cost for the endpoint (from ccxt's binance ``describe()``) times its
``rateLimit``. The time compared with it runs from the first request reaching the simulator to
the process exit (all paced requests, the last store write, the shutdown); the interpreter's
start-up before the first request is metric 3's (``process_wall_s`` shows the whole). Target:
ratio <= 1.05 and no 429.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Context, Result, Target, cli, run_timed
from benchmarks.simproc import SimProcess

NAME = "rate_limited_backfill"
SINCE_MS = 1_704_067_200_000  # 2024-01-01
DAY_MS = 86_400_000
TARGET = Target("ratio", "<=", 1.05)


def limiter_seconds(requests: dict[str, int]) -> tuple[float, dict[str, float]]:
    """ccxt's pacing bound for ``{endpoint: count}`` and the interval of each endpoint (s)."""
    import ccxt.async_support as ccxt

    api = ccxt.binance()
    table = api.describe()["api"]["public"]["get"]
    intervals = {
        name: float(api.calculate_rate_limiter_cost("public", "GET", name, {}, table[name]))
        * api.rateLimit
        / 1000
        for name in requests
    }
    return sum(count * intervals[name] for name, count in requests.items()), intervals


def _case(ctx: Context, sim: SimProcess, name: str, symbols: list[str], days: int) -> Result:
    until = SINCE_MS + days * DAY_MS
    store = ctx.scratch(f"{NAME}-{name}") / "ohlcv.sqlite"
    sim.reset()
    argv = cli(
        "collect", "sim", *symbols, "--since", str(SINCE_MS), "--until", str(until), "--quiet"
    )
    done = run_timed(argv, ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{store}"))
    counters: dict[str, Any] = sim.control.counters()
    times = sim.times()
    requests = {k: int(v) for k, v in counters["requests"].items()}
    bound, intervals = limiter_seconds(requests)
    paced = done.started + done.seconds - times["first"]
    refused = int(counters["statuses"].get("429", 0))
    return Result(
        f"{NAME}:{name}",
        paced,
        "s",
        bound,
        TARGET,
        {
            "symbols": len(symbols),
            "days": days,
            "requests": requests,
            "interval_s": intervals,
            "first_to_last_request_s": times["last"] - times["first"],
            "process_wall_s": done.seconds,
            "http_429": refused,
            "weight": counters["weight"],
            "baseline_is": "sum over requests of ccxt cost x rateLimit",
        },
        checks={"no 429": refused == 0},
    )


def run(ctx: Context) -> list[Result]:
    """Both cases."""
    ctx.redis_url()
    ten = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC", "XRP/USDT", "SOL/USDT", "DOGE/USDT"]
    ten += ["SUI/USDT", "X001/USDT", "X002/USDT"]  # 8 built in, 2 more from benchmarks.simproc
    with SimProcess(ctx, weight_limit=6000, extra_symbols=2) as sim:
        return [
            _case(ctx, sim, "1x365d", ["BTC/USDT"], 30 if ctx.quick else 365),
            _case(ctx, sim, "10x30d", ten, 3 if ctx.quick else 30),
        ]
