"""``ohlcv-workbench sim``: serve the exchange simulator until interrupted.

Heavy modules (aiohttp, numpy, pandas) are imported only when the command runs, so the rest
of the CLI starts fast.
"""

from __future__ import annotations

import argparse

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sim`` command."""
    parser = sub.add_parser(
        "sim", help="serve the exchange simulator (Binance's and Kraken's REST dialects)"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--seed", type=int, default=None, help="data seed (default: settings)")
    parser.add_argument(
        "--replay",
        action="append",
        default=[],
        metavar="SYMBOL=FILE",
        help="serve a CSV/Parquet OHLCV file as SYMBOL (ccxt spelling, e.g. BTC/USDT)",
    )
    parser.add_argument("--now", type=int, default=None, help="fixed clock, epoch ms")
    parser.add_argument("--offset", type=int, default=0, help="clock offset from real time, ms")
    parser.add_argument(
        "--weight-limit", type=int, default=6000, help="request weight per minute (0: no limit)"
    )
    parser.add_argument(
        "--kraken-rate",
        type=float,
        default=1.0,
        help="Kraken's public calls per second (0: no limit)",
    )
    parser.add_argument(
        "--no-gzip", action="store_true", help="never compress answers (clients accept gzip)"
    )
    parser.set_defaults(handler=run)


def _replays(items: list[str]) -> dict[str, str]:
    replays: dict[str, str] = {}
    for item in items:
        symbol, sep, path = item.partition("=")
        if not sep or "/" not in symbol or not path:
            raise InputError(f"--replay {item!r}: expected SYMBOL=FILE, e.g. BTC/USDT=btc.csv")
        replays[symbol] = path
    return replays


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM; exit 0."""
    import asyncio

    from ohlcv_workbench.sim.server import SimConfig, SimServer, serve_until_signalled

    config = SimConfig(
        seed=settings.sim_seed if args.seed is None else args.seed,
        host=args.host,
        port=args.port,
        now=args.now,
        clock_offset=args.offset,
        weight_limit=args.weight_limit or None,
        kraken_rate=args.kraken_rate or None,
        replays=_replays(args.replay),
        gzip=not args.no_gzip,
    )
    asyncio.run(serve_until_signalled(SimServer(config), f" (seed {config.seed})"))
    return 0
