"""Baseline clients, each run in a child process: ``python -m benchmarks.clients MODE ...``.

- ``ccxt-loop``: what an analyst writes without the workbench: a plain sequential
  ``fetch_ohlcv`` loop (ccxt's async binance class pointed at the simulator, rate limiter off),
  ``since`` moved past each page's last candle, no store, no registry.
- ``raw-http``: aiohttp GET of the same klines pages (the same windows the workbench asks
  for) and ``json.loads`` of each body, with ``--concurrency`` requests in flight: what this
  server can deliver to one Python client, the upper bound of any backfill.
- ``first-request``: one ccxt page (markets loaded first, as any ccxt script does; ccxt's
  default rate limiter on, as in the CLI), for the start-up baseline.
- ``poll-live``: the floor of live REST polling: at every whole second of the local clock
  (the simulator's clock on this machine, so exactly when candles close), for each symbol in
  turn, the last three 1s candles with ``fetch_ohlcv``; those closed before the request was
  sent go to a SQLite store. Runs until SIGTERM.

Each prints one JSON line: candles, pages, ``seconds`` (first request to last page parsed,
imports and interpreter start-up excluded) and ``import_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

MINUTE_MS = 60_000
PAGE = 1000


def _ccxt_binance(url: str, *, rate_limit: bool = False) -> Any:
    import ccxt.async_support as ccxt

    config = {
        "urls": {"api": {"public": f"{url}/api/v3"}},
        "options": {"fetchMarkets": {"types": ["spot"]}},
        "enableRateLimit": rate_limit,
    }  # as ohlcv_workbench.sim.ccxt_config(url) builds it, without importing the package
    return ccxt.binance(config)


async def ccxt_loop(url: str, symbol: str, since: int, until: int) -> dict[str, Any]:
    """Sequential ``fetch_ohlcv`` pages of 1m candles in ``[since, until)``."""
    exchange = _ccxt_binance(url)
    try:
        t0 = time.perf_counter()
        await exchange.load_markets()
        candles = pages = 0
        cursor = since
        while cursor < until:
            rows = await exchange.fetch_ohlcv(symbol, "1m", cursor, PAGE)
            pages += 1
            if not rows:
                break
            candles += sum(1 for row in rows if row[0] < until)
            cursor = int(rows[-1][0]) + MINUTE_MS
        return {"candles": candles, "pages": pages, "seconds": time.perf_counter() - t0}
    finally:
        await exchange.close()


async def raw_http(
    url: str, symbol: str, since: int, until: int, concurrency: int
) -> dict[str, Any]:
    """GET + ``json.loads`` of every window of ``PAGE`` candles, ``concurrency`` in flight."""
    import aiohttp

    market_id = symbol.replace("/", "")
    windows = [(t, min(t + PAGE * MINUTE_MS, until)) for t in range(since, until, PAGE * MINUTE_MS)]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for window in windows:
        queue.put_nowait(window)
    counts: list[int] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            start, end = queue.get_nowait()
            params = {
                "symbol": market_id,
                "interval": "1m",
                "startTime": str(start),
                "endTime": str(end - 1),
                "limit": str(PAGE),
            }
            async with session.get(f"{url}/api/v3/klines", params=params) as response:
                response.raise_for_status()
                rows = json.loads(await response.read())
            counts.append(len(rows))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
    return {"candles": sum(counts), "pages": len(counts), "seconds": seconds}


async def first_request(url: str, symbol: str, since: int) -> dict[str, Any]:
    """Load the markets and fetch one page, as any ccxt script starts (limiter on: ccxt's
    default, and the CLI's)."""
    exchange = _ccxt_binance(url, rate_limit=True)
    try:
        t0 = time.perf_counter()
        await exchange.load_markets()
        rows = await exchange.fetch_ohlcv(symbol, "1m", since, PAGE)
        return {"candles": len(rows), "pages": 1, "seconds": time.perf_counter() - t0}
    finally:
        await exchange.close()


async def poll_live(url: str, symbols: list[str], store_path: str) -> dict[str, Any]:
    """Poll at every whole second and store the closed 1s candles (see the module docstring)."""
    import signal

    from ohlcv_workbench.records import CandleBatch, SeriesKey
    from ohlcv_workbench.store import SqliteStore

    exchange = _ccxt_binance(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    rounds = 0
    try:
        await exchange.load_markets()
        with SqliteStore(store_path) as store:
            while not stop.is_set():
                await asyncio.sleep(1.0 - time.time() % 1.0)  # to the next whole second
                for symbol in symbols:
                    asked = time.time_ns() // 1_000_000  # what closed before asking is final
                    rows = await exchange.fetch_ohlcv(symbol, "1s", None, 3)
                    closed = [r for r in rows if r[0] + 1000 <= asked]
                    if closed:
                        columns = [[r[i] for r in closed] for i in range(6)]
                        store.ohlcv_store(
                            SeriesKey("sim", symbol, "1s"), CandleBatch.from_columns(*columns)
                        )
                rounds += 1
    finally:
        await exchange.close()
    return {"candles": 0, "pages": rounds, "seconds": 0.0}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one client and print its JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clients")
    parser.add_argument("mode", choices=("ccxt-loop", "raw-http", "first-request", "poll-live"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--symbol", default="BTC/USDT", help="comma-separated for poll-live")
    parser.add_argument("--since", type=int, default=0, help="epoch ms")
    parser.add_argument("--store", default="", help="SQLite file (poll-live)")
    parser.add_argument("--until", type=int, default=0, help="epoch ms (exclusive)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    t0 = time.perf_counter()
    if args.mode == "raw-http":
        import aiohttp  # noqa: F401 - timed here, used in raw_http
    else:
        import ccxt.async_support  # noqa: F401 - timed here, used by _ccxt_binance
    imports = time.perf_counter() - t0
    if args.mode == "ccxt-loop":
        out = asyncio.run(ccxt_loop(url, args.symbol, args.since, args.until))
    elif args.mode == "raw-http":
        out = asyncio.run(raw_http(url, args.symbol, args.since, args.until, args.concurrency))
    elif args.mode == "poll-live":
        out = asyncio.run(poll_live(url, args.symbol.split(","), args.store))
    else:
        out = asyncio.run(first_request(url, args.symbol, args.since))
    out["import_seconds"] = imports
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
