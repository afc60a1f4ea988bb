"""Metric 6, ``live_latency``: from a 1s candle's close (simulator clock) to it being stored.

``ohlcv-workbench collect sim SYMBOLS --timeframe 1s`` (no ``--until``: live after the most
recent page) runs against the simulator (own process, real clock, the same machine's clock
as this one). This process polls the store every 20 ms; each candle newly stored is counted
with ``seen - (open + 1 s)`` (candles that arrive together each count with their own close).
The first seconds after going live are skipped. Value: p95 (p50 and the rest in the details).

Baseline: :mod:`benchmarks.clients` ``poll-live``, the floor of REST polling on this machine
(a ccxt loop that knows the simulator's clock and asks at each candle's close, storing what
closed), measured the same way; an analyst's ``sleep(1)`` loop would average half a second.
Target: value <= 1.0 s.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.harness import Context, Result, Target, cli, percentile, python, stop_process
from benchmarks.simproc import SimProcess

NAME = "live_latency"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "SOL/USDT"]
POLL_S = 0.02
WARMUP_S = 3.0


def observe(path: Path, symbols: list[str], seconds: float, timeout: float = 60.0) -> list[float]:
    """Close-to-seen latencies (s) of the 1s candles stored in ``path`` during ``seconds``."""
    from ohlcv_workbench.records import SeriesKey
    from ohlcv_workbench.store import SqliteStore

    keys = [SeriesKey("sim", symbol, "1s") for symbol in symbols]
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing was stored in {path} within {timeout} s")
        time.sleep(0.1)
    latencies: list[float] = []
    with SqliteStore(path) as store:
        while any(store.ohlcv_last(key) is None for key in keys):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every series was stored within {timeout} s")
            time.sleep(0.1)
        time.sleep(WARMUP_S)
        last: dict[SeriesKey, int] = {}
        for key in keys:
            found = store.ohlcv_last(key)
            assert found is not None
            last[key] = found
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for key in keys:
                ts = store.ohlcv_last(key)
                if ts is not None and ts > last[key]:
                    seen = time.time()
                    latencies += [
                        seen - (t + 1000) / 1000 for t in range(last[key] + 1000, ts + 1, 1000)
                    ]
                    last[key] = ts
            time.sleep(POLL_S)
    if not latencies:
        raise RuntimeError("no candle was stored live")
    return latencies


def run(ctx: Context) -> list[Result]:
    """One line."""
    seconds = 6.0 if ctx.quick else 30.0
    ctx.redis_url()
    with SimProcess(ctx) as sim:
        store = ctx.scratch(f"{NAME}-workbench") / "ohlcv.sqlite"
        argv = cli("collect", "sim", *SYMBOLS, "--timeframe", "1s", "--quiet")
        child = ctx.spawn(
            "live_latency", argv, ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{store}")
        )
        try:
            ours = observe(store, SYMBOLS, seconds)
        finally:
            stop_process(child)
        if child.returncode not in (0, -15):
            raise RuntimeError(f"collect exited with {child.returncode}: {ctx.log_tail(NAME)}")
        store = ctx.scratch(f"{NAME}-baseline") / "ohlcv.sqlite"
        argv = python(
            "-m", "benchmarks.clients", "poll-live", "--url", sim.url,
            "--symbol", ",".join(SYMBOLS), "--store", str(store),
        )  # fmt: skip
        child = ctx.spawn("live_latency-baseline", argv)
        try:
            theirs = observe(store, SYMBOLS, seconds)
        finally:
            stop_process(child)
    return [
        Result(
            NAME,
            percentile(ours, 95),
            "s",
            percentile(theirs, 95),
            Target("value", "<=", 1.0),
            {
                "p50": percentile(ours, 50),
                "max": max(ours),
                "candles": len(ours),
                "baseline_p50": percentile(theirs, 50),
                "baseline_candles": len(theirs),
                "symbols": len(SYMBOLS),
                "seconds": seconds,
                "poll_s": POLL_S,
                "baseline_is": "ccxt loop asking at each close (same clock), storing closed",
            },
        )
    ]
