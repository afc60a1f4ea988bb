"""The simulator's HTTP server: Binance's spot REST subset plus ``/_sim/`` control endpoints.

``async with SimServer(SimConfig(seed=7)) as sim:`` serves on 127.0.0.1 (a free port unless one
is given); point ``ccxt.async_support.binance`` at ``sim.api_url`` (see :func:`ccxt_config`).
Every ``/api/v3/`` request is counted, may meet an injected fault, is charged its weight
against the per-minute limit (429 with ``Retry-After`` beyond it) and answers with Binance's
``X-MBX-USED-WEIGHT-1M`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe

from .clock import SimClock
from .faults import Counters, Faults, WeightLimiter
from .markets import BUILTIN_SYMBOLS, SymbolSpec, exchange_info
from .replay import ReplayMarket, load_ohlcv
from .series import GeneratedMarket, Series, plan_klines

__all__ = ["BinanceError", "SimConfig", "SimServer", "ccxt_config", "serve_until_signalled"]

log = logging.getLogger(__name__)

#: Binance request weights: ccxt's cost table for binance x 5, so ccxt's limiter fits the limit
WEIGHTS = {"ping": 1, "time": 1, "exchangeInfo": 20, "klines": 2, "aggTrades": 2, "trades": 10}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
HOUR_MS = 3_600_000


def ccxt_config(url: str, **extra: Any) -> dict[str, Any]:
    """The ccxt binance config that talks to the simulator at ``url``: spot markets only."""
    config: dict[str, Any] = {
        "urls": {"api": {"public": f"{url.rstrip('/')}/api/v3"}},
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }
    config.update(extra)
    return config


@dataclass(frozen=True)
class SimConfig:
    """How a simulator runs.

    ``now`` fixes the clock (ms), ``clock_offset`` shifts real time; ``weight_limit=None``
    disables the request-weight limit (``weight_tolerance``: see :class:`WeightLimiter`);
    ``replays`` maps ccxt symbols to OHLCV files (or DataFrames) served instead of (or
    besides) the generated symbols.
    """

    seed: int = 7
    host: str = "127.0.0.1"
    port: int = 0
    now: int | None = None
    clock_offset: int = 0
    weight_limit: int | None = 6000
    weight_window_ms: int = 60_000
    weight_tolerance: int | None = None
    faults: Faults = field(default_factory=Faults)
    symbols: tuple[SymbolSpec, ...] = BUILTIN_SYMBOLS
    replays: Mapping[str, Any] = field(default_factory=dict)


class BinanceError(Exception):
    """An error answered the way Binance does: HTTP status and ``{"code", "msg"}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def _limit(query: Mapping[str, str]) -> int:
    limit = _int_param(query, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class SimServer:
    """A running (or ready to run) simulator; see the module docstring."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config or SimConfig()
        self.clock = SimClock(fixed=config.now, offset=config.clock_offset)
        self.counters = Counters()
        self.limiter = WeightLimiter(
            config.weight_limit, config.weight_window_ms, config.weight_tolerance
        )
        self._faults = config.faults
        self.markets: dict[str, Series] = {
            spec.symbol: GeneratedMarket(spec, config.seed) for spec in config.symbols
        }
        for symbol, source in config.replays.items():
            self.markets[symbol] = ReplayMarket(symbol, load_ohlcv(source), config.symbols)
        self._by_id = {series.spec.id: series for series in self.markets.values()}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = config.port
        self._routes: dict[str, Callable[[Mapping[str, str], Series | None], Any]] = {
            "ping": lambda q, s: {},
            "time": lambda q, s: {"serverTime": self.clock.now()},
            "exchangeInfo": self._exchange_info,
            "klines": self._klines,
            "aggTrades": self._agg_trades,
            "trades": self._trades,
        }

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The URL ccxt's ``urls['api']['public']`` takes."""
        return f"{self.url}/api/v3"

    def app(self) -> web.Application:
        """The aiohttp application (routes of the API and of the control endpoints)."""
        from .control_routes import add_control_routes

        app = web.Application()
        app.router.add_get("/api/v3/{endpoint}", self._api)
        add_control_routes(app, self)
        return app

    async def start(self) -> None:
        """Bind and serve."""
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self.port = self._bound_port(site)
        log.info("simulator serving on %s (seed %s)", self.url, self.config.seed)

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int:
        server: Any = site._server
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop serving; hanging (timeout-fault) requests are released at once."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- controls ----------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``None``: none); keyword changes apply on top."""
        base = faults if faults is not None else Faults()
        self._faults = Faults.from_dict({**base.as_dict(), **changes}) if changes else base
        return self._faults

    def set_weight_limit(self, limit: int | None) -> None:
        """Change the per-minute weight limit (None disables it)."""
        self.limiter.limit = limit

    def reset(self, *, counters: bool = True, faults: bool = True, clock: bool = False) -> None:
        """Zero counters and the weight window, clear faults, restore the configured clock."""
        if counters:
            self.counters.reset()
            self.limiter.reset()
        if faults:
            self._faults = Faults()
        if clock:
            self.clock = SimClock(fixed=self.config.now, offset=self.config.clock_offset)

    def info(self) -> dict[str, Any]:
        """Seed, symbols and listing times, replays, limits."""
        return {
            "seed": self.config.seed,
            "symbols": {s.spec.symbol: s.listing for s in self.markets.values()},
            "replays": sorted(self.config.replays),
            "weight_limit": self.limiter.limit,
            "weights": WEIGHTS,
            "clock": self.clock.as_dict(),
        }

    # -- the API -----------------------------------------------------------------------------
    def _series(self, query: Mapping[str, str]) -> Series:
        raw = query.get("symbol")
        if not raw:
            raise BinanceError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        series = self._by_id.get(raw)
        if series is None or self.clock.now() < series.listing:
            raise BinanceError(-1121, "Invalid symbol.")
        return series

    async def _api(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["endpoint"]
        route = self._routes.get(name)
        counters = self.counters
        if route is None:
            counters.statuses["404"] += 1
            return web.Response(status=404, text="<html><body><h2>404 Not found</h2></body></html>")
        query = request.query
        counters.requests[name] += 1
        series = self._by_id.get(query.get("symbol", ""))
        faults = self._faults
        symbol = series.spec.symbol if series is not None else None
        if name != "ping" and faults.active and faults.applies_to(symbol):
            answer = await self._inject(request, name, faults)
            if answer is not None:
                return answer
        weight = WEIGHTS[name]
        allowed, used, retry_after = self.limiter.charge(weight, time.time_ns() // 1_000_000)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if not allowed and name != "ping":
            counters.rate_limited += 1
            counters.statuses["429"] += 1
            headers["Retry-After"] = str(retry_after)
            msg = "Too much request weight used; current limit is %s request weight per 1 MINUTE."
            return _json({"code": -1003, "msg": msg % self.limiter.limit}, 429, headers)
        counters.weight += weight
        try:
            if name in ("klines", "aggTrades", "trades"):
                series = self._series(query)
            body = route(query, series)
        except BinanceError as exc:
            counters.statuses[str(exc.status)] += 1
            return _json({"code": exc.code, "msg": exc.msg}, exc.status, headers)
        counters.statuses["200"] += 1
        if isinstance(body, str):
            return web.Response(
                body=body.encode(), content_type="application/json", headers=headers
            )
        return _json(body, headers=headers)

    async def _inject(
        self, request: web.Request, name: str, faults: Faults
    ) -> web.StreamResponse | None:
        counters = self.counters
        if faults.latency > 0:
            counters.faults["latency"] += 1
            await asyncio.sleep(faults.latency)
        key = f"{request.path}?{'&'.join(sorted(f'{k}={v}' for k, v in request.query.items()))}"
        fault = faults.request_fault(key, counters.occurrence(key))
        if fault is None:
            return None
        counters.faults[fault] += 1
        if fault == "rate_limited":
            counters.statuses["429"] += 1
            headers = {"Retry-After": str(faults.retry_after)}
            msg = {"code": -1003, "msg": "Too many requests; please use the websocket."}
            return _json(msg, 429, headers)
        if fault == "server_error":
            counters.statuses[str(faults.status)] += 1
            return web.Response(status=faults.status, text="<html>Service Unavailable</html>")
        if fault == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), faults.hang)
        counters.statuses["dropped"] += 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)

    def _exchange_info(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        now = self.clock.now()
        listed = [s for s in self.markets.values() if s.listing <= now]
        wanted: list[str] | None = None
        if query.get("symbol"):
            wanted = [query["symbol"]]
        elif query.get("symbols"):
            try:
                wanted = [str(x) for x in json.loads(query["symbols"])]
            except ValueError:
                msg = "Illegal characters found in parameter 'symbols'."
                raise BinanceError(-1100, msg) from None
        if wanted is not None:
            ids = {s.spec.id for s in listed}
            if any(w not in ids for w in wanted):
                raise BinanceError(-1121, "Invalid symbol.")
            listed = [s for s in listed if s.spec.id in wanted]
        entries = [s.spec.exchange_info_entry() for s in listed]
        return exchange_info(entries, now, self.limiter.limit or 6000)

    def _klines(self, query: Mapping[str, str], series: Series | None) -> str:
        assert series is not None
        interval = query.get("interval")
        if not interval:
            raise BinanceError(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        if interval not in BINANCE_TIMEFRAMES or not series.supports(timeframe(interval)):
            raise BinanceError(-1120, "Invalid interval.")
        tf = timeframe(interval)
        limit = _limit(query)
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        now = self.clock.now()
        plan = plan_klines(tf, series.listing, start, end, limit, now)
        rows: list[str] = []
        if plan is not None:
            page = series.klines(tf, plan[0], plan[1], now)
            rows = page.rows
            faults = self._faults
            if (faults.gaps or faults.malformed) and faults.applies_to(series.spec.symbol):
                from .corrupt import corrupt_rows

                rows = corrupt_rows(faults, series.spec.symbol, tf, page.ts, rows, self.counters)
        self.counters.klines_page(series.spec.symbol, interval, len(rows))
        return "[" + ",".join(rows) + "]"

    def _agg_trades(self, query: Mapping[str, str], series: Series | None) -> str:
        assert series is not None
        limit = _limit(query)
        from_id = _int_param(query, "fromId")
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > HOUR_MS:
            raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
        rows = series.agg_trades(start, end, from_id, limit, self.clock.now())
        self._count_trades(series, rows)
        return "[" + ",".join(rows) + "]"

    def _trades(self, query: Mapping[str, str], series: Series | None) -> str:
        assert series is not None
        rows = series.recent_trades(_limit(query), self.clock.now())
        self._count_trades(series, rows)
        return "[" + ",".join(rows) + "]"

    def _count_trades(self, series: Series, rows: list[str]) -> None:
        self.counters.trades[series.spec.symbol] += 1
        self.counters.rows["trades"] += len(rows)


async def serve_until_signalled(server: SimServer, note: str = "") -> None:
    """Start ``server``, print ``simulator: serving on URL{note}``, serve until SIGINT or
    SIGTERM, then close it and print ``simulator: stopped`` (the foreground commands)."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    print(f"simulator: serving on {server.url}{note}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    print("simulator: stopped", flush=True)
