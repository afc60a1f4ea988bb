"""Metric 5, second line, ``heartbeat_cost:cpu_200_live``: CPU of 200 live 1s collectors.

A child process (:mod:`benchmarks.workers.live_many`) opens one
:class:`~ohlcv_workbench.Workbench` (its loop thread, the run's Redis, a fresh store) and starts
200 live collectors of 1s candles (50 with ``--quick``) on the simulator, which serves 200
symbols from its own process (:mod:`benchmarks.simproc`). ccxt's limiter and the simulator's
weight limit are off: 200 series polled every second need 24,000 weight per minute, four times
what Binance allows one IP, so with the limiter on they could not keep up at all. Once every
collector is live (and a few more seconds), the child's CPU time (user + system, every thread,
from ``/proc``) is read over 30 s (6 with ``--quick``): value = CPU seconds / wall seconds, as
a share of one core. ``fetches_per_series_s`` checks the collectors kept up (1.0 = one klines
request per series per second).

Baseline: :mod:`benchmarks.clients` ``poll-live`` over the same symbols (a sequential ccxt
poll at each whole second, closed candles to SQLite; no registry, no heartbeats), measured the
same way; ``cpu_ms_per_fetch`` compares the two at their own fetch rates.
Target: value <= 0.10.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Context, Popen, Result, Target, python, stop_process
from benchmarks.simproc import SimProcess

NAME = "heartbeat_cost:cpu_200_live"
BUILTIN = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC", "XRP/USDT", "SOL/USDT", "DOGE/USDT"]
BUILTIN += ["SUI/USDT"]


def symbols(count: int) -> list[str]:
    """The simulator's 8 symbols, then ``X001/USDT``... up to ``count``."""
    extra = [f"X{i:03d}/USDT" for i in range(1, max(0, count - len(BUILTIN)) + 1)]
    return (BUILTIN + extra)[:count]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _wait_line(child: Popen, expected: str, timeout: float) -> None:
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the child exited with {child.wait()} before {expected!r}")
        if line.strip() == expected:
            return
    raise RuntimeError(f"no {expected!r} from the child within {timeout} s")


def _measure(sim: SimProcess, child: Popen, count: int, seconds: float) -> dict[str, Any]:
    time.sleep(3.0)  # past the start-up burst
    sim.reset()
    wall0, cpu0 = time.perf_counter(), cpu_seconds(child.pid)
    time.sleep(seconds)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds(child.pid) - cpu0
    klines = int(sim.control.counters()["requests"].get("klines", 0))
    return {"share": cpu / wall, "cpu_s": cpu, "wall_s": wall, "fetches": klines / count / wall}


def cpu_share(ctx: Context) -> Result:
    """The line (see the module docstring)."""
    count = 50 if ctx.quick else 200
    seconds = 6.0 if ctx.quick else 30.0
    names = symbols(count)
    ctx.redis_url()
    with SimProcess(ctx, weight_limit=0, extra_symbols=max(0, count - len(BUILTIN))) as sim:
        store = ctx.scratch("live_many") / "ohlcv.sqlite"
        env = ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{store}")
        argv = python("-m", "benchmarks.workers.live_many", "--symbols", ",".join(names))
        child = ctx.spawn("live_many", argv, env)
        try:
            _wait_line(child, "live", timeout=180)
            ours = _measure(sim, child, count, seconds)
        finally:
            stop_process(child, timeout=60)
        store = ctx.scratch("live_many-baseline") / "ohlcv.sqlite"
        argv = python(
            "-m", "benchmarks.clients", "poll-live", "--url", sim.url,
            "--symbol", ",".join(names), "--store", str(store),
        )  # fmt: skip
        child = ctx.spawn("live_many-baseline", argv)
        try:
            time.sleep(3.0)  # imports, markets
            theirs = _measure(sim, child, count, seconds)
        finally:
            stop_process(child)
    return Result(
        NAME,
        ours["share"],
        "cores",
        theirs["share"],
        Target("value", "<=", 0.10),
        {
            "collectors": count,
            "seconds": seconds,
            "cpu_s": ours["cpu_s"],
            "fetches_per_series_s": ours["fetches"],
            "baseline_fetches_per_series_s": theirs["fetches"],
            "cpu_ms_per_fetch": 1000 * ours["share"] / (ours["fetches"] * count),
            "baseline_cpu_ms_per_fetch": 1000 * theirs["share"] / (theirs["fetches"] * count),
            "limiter": "off (see the module docstring)",
            "baseline_is": "sequential ccxt poll of the same symbols each second, to SQLite",
        },
    )
