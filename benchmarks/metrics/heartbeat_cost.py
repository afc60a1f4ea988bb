"""Metric 5, ``heartbeat_cost``: Redis round trips per heartbeat, and 200 live collectors' CPU.

``heartbeat_cost:round_trips``: a :class:`~ohlcv_workbench.registry.Heartbeat` (with a series
lease, as collectors hold one) beats N times against the run's embedded Redis while ``MONITOR``
records, server-side, every command each client sends; the figure is the commands the
heartbeat's client sent between two marks divided by the beats in between. Commands the Lua
script runs inside the server are reported apart (``lua_per_beat``); they cost no round trip.
Register and stop are counted too (``enter_round_trips``, ``exit_round_trips``). Target: 1.

``heartbeat_cost:cpu_200_live``: see :mod:`benchmarks.metrics.live_many`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from benchmarks.harness import Context, Result, Target
from benchmarks.redis_monitor import Monitor

if TYPE_CHECKING:
    from ohlcv_workbench.registry import Heartbeat

NAME = "heartbeat_cost"


async def _round_trips(url: str, beats: int, interval: float) -> Result:
    from ohlcv_workbench.records import SeriesKey
    from ohlcv_workbench.registry import Heartbeat, ProcessCache, ProcessStatus, ProcessType

    series = SeriesKey("sim", "BTC/USDT", "1m")
    async with ProcessCache(url) as cache:
        await cache.connect()
        with Monitor(url) as monitor:
            monitor.mark("enter")
            params = {"exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1m"}
            async with Heartbeat(
                cache, ProcessType.OHLCV, series.component, params, interval=interval, lease=series
            ) as hb:
                monitor.mark("entered")
                await hb.set_status(ProcessStatus.RUNNING, "benchmark")
                await _next_beat(hb)  # marks right after a beat: the next is `interval` away
                first = hb.beats
                monitor.mark("beats")
                while hb.beats < first + beats:
                    hb.report(progress={"done": hb.beats})
                    await _next_beat(hb)
                last = hb.beats
                monitor.mark("beaten")
            monitor.mark("exited")
            during = monitor.between("beats", "beaten")
            enter = monitor.between("enter", "entered")
            leave = monitor.between("beaten", "exited")
    counted = last - first
    return Result(
        f"{NAME}:round_trips",
        len(during.client) / counted,
        "round trips/beat",
        None,
        Target("value", "<=", 1.0),
        {
            "beats": counted,
            "commands": during.names(),
            "lua_per_beat": len(during.lua) / counted,
            "enter_round_trips": len(enter.client),
            "exit_round_trips": len(leave.client),
            "counted_by": "MONITOR, server-side",
        },
    )


async def _next_beat(hb: Heartbeat) -> None:
    seen = hb.beats
    while hb.beats == seen:  # noqa: ASYNC110 - a Heartbeat has no event per beat to wait on
        await asyncio.sleep(0.002)


def run(ctx: Context) -> list[Result]:
    """Both lines of the metric."""
    from ohlcv_workbench.services import redis_url
    from ohlcv_workbench.settings import Settings

    from . import live_many

    url = redis_url(Settings.from_env())
    beats = 20 if ctx.quick else 100
    results = [asyncio.run(_round_trips(url, beats, interval=0.05))]
    results.append(live_many.cpu_share(ctx))
    return results
