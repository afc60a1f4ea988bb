"""``ohlcv-workbench collect``: a foreground daemon hosting collectors, with a progress line.

Registered in ProcessCache as ``ohlcv_daemon`` (params pid and args, as fullon's daemon);
SIGINT/SIGTERM or ``ohlcv-workbench stop ohlcv_daemon`` stop every collector properly. A series
another process (on any host) collects is reported busy, naming its holder, and left to it;
the others are collected. With ``--wait-busy`` the daemon waits for such series instead and
takes each over once its lease is released or has expired (its holder died), which is how
several hosts running the same command share the work and cover for each other.

Exits 0 when every collector ended normally (a bounded backfill completed, or a stop), 1 when
one ended in ERROR, 2 for bad input (nothing registered then) or when every series was busy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from ohlcv_workbench.settings import Settings

from .output import error

if TYPE_CHECKING:
    from ohlcv_workbench.collectors import Collector, CollectorManager, CollectorSpec

#: the daemon's component (fullon's ohlcv service registers under the same name)
DAEMON_COMPONENT = "ohlcv_daemon"
#: seconds between progress lines when stderr is not a terminal
LOG_EVERY = 5.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``collect`` command."""
    parser = sub.add_parser(
        "collect",
        help="collect candles (or trades) of one or more symbols in the foreground",
        description="Backfill from --since (or the last stored candle) to --until, or follow "
        "live candles when --until is not given.",
    )
    parser.add_argument(
        "exchange",
        help="ccxt exchange id, or 'sim' / 'sim_kraken' for the local simulator's dialects",
    )
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. BTC/USDT")
    parser.add_argument("--timeframe", "-t", default="1m", help="ccxt timeframe (default 1m)")
    parser.add_argument("--since", help="UTC start, ISO text or epoch ms")
    parser.add_argument("--until", help="UTC end (exclusive); without it: live after backfill")
    parser.add_argument("--trades", action="store_true", help="collect public trades instead")
    parser.add_argument("--no-rate-limit", action="store_true", help="turn ccxt's rate limiter off")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="pages in flight per backfill (default 4)"
    )
    parser.add_argument(
        "--wait-busy",
        action="store_true",
        help="wait for series collected elsewhere and take them over once their lease is "
        "released or expires (default: report them busy and collect the others)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def _time(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``collect`` command."""
    if args.concurrency < 1:
        return error(f"--concurrency {args.concurrency}: expected an integer >= 1")
    return asyncio.run(_collect(args, settings))


async def _collect(args: argparse.Namespace, settings: Settings) -> int:
    from ohlcv_workbench.collectors import CollectionSetup, CollectorKind, CollectorSpec, Phase

    kind = CollectorKind.TRADES if args.trades else CollectorKind.OHLCV
    specs = [
        CollectorSpec.create(
            args.exchange, symbol, args.timeframe, _time(args.since), _time(args.until), kind=kind
        )
        for symbol in args.symbols
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    params = {"pid": os.getpid(), "args": [DAEMON_COMPONENT, *sys.argv[1:]]}
    setup = CollectionSetup(
        settings, DAEMON_COMPONENT, params, register_host="first_start",
        rate_limit=not args.no_rate_limit, concurrency=args.concurrency,
    )  # fmt: skip
    async with setup:
        manager = setup.manager
        collectors, busy = await manager.start_free(specs)
        others = "collecting the others" if collectors else "nothing else to collect"
        for _, error in busy:
            then = "waiting for it" if args.wait_busy else others
            print(f"ohlcv-workbench: busy: {error}; {then}", file=sys.stderr, flush=True)
        pending = [spec for spec, _ in busy] if args.wait_busy else []
        if not collectors and not pending:
            return 2
        display = asyncio.create_task(_display(collectors, args.quiet, sys.stderr))

        async def finished() -> None:
            await _take_over(manager, pending, collectors, settings.heartbeat_interval)
            await asyncio.gather(*(manager.wait(c) for c in collectors))

        work = asyncio.ensure_future(finished())
        waiters: set[asyncio.Future[Any]] = {
            work,
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(manager.stop_requested.wait()),
        }
        _, pending_waiters = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending_waiters:
            waiter.cancel()
        # collected, so a cancelled waiter leaves no "exception was never retrieved" behind
        await asyncio.gather(*pending_waiters, return_exceptions=True)
        await manager.stop_all()
        display.cancel()
        await asyncio.wait({display})
        _final(collectors, args.quiet, sys.stderr)
        failure = None if work.cancelled() else work.exception()
        if failure is not None:  # e.g. Redis lost while waiting for a busy series
            raise failure
    return 1 if any(c.state.phase is Phase.ERROR for c in collectors) else 0


async def _take_over(
    manager: CollectorManager,
    pending: list[CollectorSpec],
    collectors: list[Collector],
    interval: float,
) -> None:
    """Start each pending spec once its series' lease is free (checked every ``interval``)."""
    while pending:
        await asyncio.sleep(interval)
        for spec in list(pending):
            if await manager.holder(spec) is not None:
                continue
            started, _ = await manager.start_free([spec])  # still busy if another won
            if started:
                pending.remove(spec)
                collectors.extend(started)
                print(f"ohlcv-workbench: took over {spec.series}", file=sys.stderr, flush=True)


def _line(collector: Collector) -> str:
    state = collector.state
    return (
        f"{collector.spec.symbol} {collector.spec.timeframe} [{state.phase.value}] {state.message}"
    )


def _bar(fraction: float, width: int = 20) -> str:
    filled = round(fraction * width)
    return "#" * filled + "-" * (width - filled)


async def _display(collectors: list[Collector], quiet: bool, out: TextIO) -> None:
    if quiet:
        return
    tty = out.isatty()
    last_log = 0.0
    while True:
        if tty and collectors:
            first = collectors[0].state
            text = f"[{_bar(first.progress.fraction)}] " + " | ".join(map(_line, collectors))
            out.write("\r" + text[:200].ljust(200))
            out.flush()
        elif time.monotonic() - last_log >= LOG_EVERY:
            last_log = time.monotonic()
            for collector in collectors:
                out.write(_line(collector) + "\n")
            out.flush()
        await asyncio.sleep(0.5)


def _final(collectors: list[Collector], quiet: bool, out: TextIO) -> None:
    if quiet:
        return
    if out.isatty():
        out.write("\n")
    for collector in collectors:
        out.write(_line(collector) + "\n")
    out.flush()
