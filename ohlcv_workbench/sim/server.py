"""The simulator's HTTP server: two exchange dialects over one data set, plus ``/_sim/`` controls.

``async with SimServer(SimConfig(seed=7)) as sim:`` serves on 127.0.0.1 (a free port unless one
is given):

- Binance's spot REST under ``/api/v3/`` (:mod:`.binance_rest`): point
  ``ccxt.async_support.binance`` at ``sim.api_url`` (:func:`ccxt_config`);
- Kraken's public REST under ``/0/public/`` (:mod:`.kraken_rest`): point
  ``ccxt.async_support.kraken`` at ``sim.url`` (:func:`kraken_ccxt_config`);
- the controls under ``/_sim/`` (:mod:`.control_routes`).

Both dialects serve the same deterministic series (same seed: same candles and trades), with
one clock, one set of faults and one set of counters, so Kraken's answers can be compared
with Binance's. Each dialect has its own rate limit: Binance's request weight (and bans),
Kraken's call counter. Other protocols (a websocket stream) add their routes in :meth:`app`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .binance_rest import WEIGHTS, BinanceRest, ccxt_config
from .clock import SimClock
from .faults import Counters, Faults
from .kraken_rest import KrakenRest, kraken_ccxt_config
from .limits import CallCounter, WeightLimiter
from .markets import BUILTIN_SYMBOLS, SYMBOL_STATUSES, SymbolSpec
from .replay import ReplayMarket, load_ohlcv
from .series import GeneratedMarket, Series

__all__ = [
    "SimConfig",
    "SimServer",
    "ccxt_config",
    "kraken_ccxt_config",
    "serve_until_signalled",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimConfig:
    """How a simulator runs.

    ``now`` fixes the clock (ms), ``clock_offset`` shifts real time; ``weight_limit=None``
    disables Binance's request-weight limit (``weight_tolerance``: see
    :class:`~.limits.WeightLimiter`); ``kraken_rate=None`` disables Kraken's call counter
    (``kraken_burst`` calls at once, then ``kraken_rate`` per second); ``replays`` maps ccxt
    symbols to OHLCV files (or DataFrames) served instead of (or besides) the generated
    symbols; ``symbol_status`` sets a symbol's status (``TRADING``, ``HALT``, ``BREAK``);
    ``gzip`` compresses answers for clients that accept it, as both exchanges do (it costs
    the simulator about 2.5 ms per 1000-candle page).
    """

    seed: int = 7
    host: str = "127.0.0.1"
    port: int = 0
    now: int | None = None
    clock_offset: int = 0
    weight_limit: int | None = 6000
    weight_window_ms: int = 60_000
    weight_tolerance: int | None = None
    kraken_rate: float | None = 1.0
    kraken_burst: float = 15.0
    faults: Faults = field(default_factory=Faults)
    symbols: tuple[SymbolSpec, ...] = BUILTIN_SYMBOLS
    replays: Mapping[str, Any] = field(default_factory=dict)
    symbol_status: Mapping[str, str] = field(default_factory=dict)
    gzip: bool = True


def _status(symbol: str, status: str) -> str:
    if status not in SYMBOL_STATUSES:
        raise ValueError(f"status {status!r} of {symbol}: expected one of {SYMBOL_STATUSES}")
    return status


class SimServer:
    """A running (or ready to run) simulator; see the module docstring."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config or SimConfig()
        self.clock = SimClock(fixed=config.now, offset=config.clock_offset)
        self.counters = Counters()
        self.limiter = WeightLimiter(
            config.weight_limit, config.weight_window_ms, config.weight_tolerance
        )
        self.kraken_limiter = CallCounter(config.kraken_rate, config.kraken_burst)
        self._faults = config.faults
        self.markets: dict[str, Series] = {
            spec.symbol: GeneratedMarket(spec, config.seed) for spec in config.symbols
        }
        for symbol, source in config.replays.items():
            self.markets[symbol] = ReplayMarket(symbol, load_ohlcv(source), config.symbols)
        self.by_id = {series.spec.id: series for series in self.markets.values()}
        self._statuses = {s: _status(s, v) for s, v in config.symbol_status.items()}
        self.binance = BinanceRest(self, self.limiter)
        self.kraken = KrakenRest(self, self.kraken_limiter)
        self._runner: web.AppRunner | None = None
        self.closing = asyncio.Event()
        self.port = config.port

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121`` (what ccxt's kraken takes)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The URL ccxt's binance ``urls['api']['public']`` takes."""
        return f"{self.url}/api/v3"

    def app(self) -> web.Application:
        """The aiohttp application: both dialects' routes and the control endpoints."""
        from .control_routes import add_control_routes

        app = web.Application()
        self.binance.add_routes(app)
        self.kraken.add_routes(app)
        add_control_routes(app, self)
        return app

    async def start(self) -> None:
        """Bind and serve."""
        self.closing = asyncio.Event()
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
        self.closing.set()
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
    def gzip(self) -> bool:
        """Whether answers are gzipped for clients that accept it."""
        return self.config.gzip

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
        """Change Binance's per-minute weight limit (None disables it)."""
        self.limiter.limit = limit

    def set_kraken_rate(self, rate: float | None) -> None:
        """Change Kraken's calls per second (None disables the call counter)."""
        self.kraken_limiter.rate = rate
        self.kraken_limiter.reset()

    def ban(self, seconds: float) -> int:
        """Ban the Binance client from now for ``seconds`` (418); returns the end (epoch ms)."""
        return self.binance.ban.start(seconds, time.time_ns() // 1_000_000)

    def symbol_status(self, symbol: str) -> str:
        """A symbol's status (``TRADING`` unless set)."""
        return self._statuses.get(symbol, "TRADING")

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """Set a symbol's status: ``TRADING``, ``HALT`` or ``BREAK``."""
        if symbol not in self.markets:
            raise ValueError(f"unknown symbol {symbol!r}: expected one of {sorted(self.markets)}")
        self._statuses[symbol] = _status(symbol, status)

    def reset(self, *, counters: bool = True, faults: bool = True, clock: bool = False) -> None:
        """Zero counters, limits and bans; clear faults and set statuses; restore the clock."""
        if counters:
            self.counters.reset()
            self.limiter.reset()
            self.kraken_limiter.reset()
            self.binance.ban.reset()
        if faults:
            self._faults = Faults()
            self._statuses = {s: _status(s, v) for s, v in self.config.symbol_status.items()}
        if clock:
            self.clock = SimClock(fixed=self.config.now, offset=self.config.clock_offset)

    def info(self) -> dict[str, Any]:
        """Seed, symbols and listing times, replays, limits, statuses, clock."""
        return {
            "seed": self.config.seed,
            "symbols": {s.spec.symbol: s.listing for s in self.markets.values()},
            "replays": sorted(self.config.replays),
            "weight_limit": self.limiter.limit,
            "weights": WEIGHTS,
            "kraken_rate": self.kraken_limiter.rate,
            "statuses": dict(self._statuses),
            "clock": self.clock.as_dict(),
        }


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
