"""One exchange, typed: validated symbols and timeframes, candles, trades, the exchange clock.

An :class:`ExchangeClient` wraps the shared ccxt instance of an exchange id (get one with
:func:`~ohlcv_workbench.exchange.open_exchange`). Every call translates ccxt errors once and
retries the temporary ones with the client's :class:`RetryPolicy` (or the one passed).

Candles of binance-family exchanges (``sim``, ``binance``, ``binanceus``) take a fast path:
the implicit ``publicGetKlines`` request (ccxt's signing, rate limiter and error handling all
apply) with the rows converted to numpy columns at once instead of ccxt's per-candle
``parse_ohlcv``; the result is identical to ``fetch_ohlcv``'s. Other exchanges use
``fetch_ohlcv``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from ohlcv_workbench.errors import InvalidTimeRangeError, PermanentExchangeError
from ohlcv_workbench.records import CandleBatch, PublicTrade
from ohlcv_workbench.timeframes import Timeframe

from .clock import ExchangeClock
from .history import find_earliest
from .retry import OnRetry, RetryPolicy
from .rows import (
    batch_from_ccxt_ohlcv,
    batch_from_klines,
    numeric_rows,
    to_batch,
    trades_from_ccxt,
)
from .translate import translate
from .validation import check_symbol, check_timeframe

__all__ = ["BINANCE_TRADE_WINDOW_MS", "DEFAULT_PAGE_LIMIT", "ExchangeClient"]

T = TypeVar("T")

#: page size when ccxt states none for the exchange
DEFAULT_PAGE_LIMIT = 500
#: Binance serves aggregate trades by windows of at most one hour
BINANCE_TRADE_WINDOW_MS = 3_600_000


def _local_ms() -> int:
    return time.time_ns() // 1_000_000


def _page_limit(api: Any) -> int:
    features = getattr(api, "features", None) or {}
    for market_type in ("spot", "swap", "future"):
        section = features.get(market_type) or {}
        if market_type != "spot":  # swap/future features are nested by linear/inverse
            section = section.get("linear") or section.get("inverse") or section
        limit = (section.get("fetchOHLCV") or {}).get("limit")
        if isinstance(limit, int) and limit > 0:
            return limit
    return DEFAULT_PAGE_LIMIT


class ExchangeClient:
    """A typed view of one shared ccxt instance (see the module docstring).

    ``api`` is the ccxt instance itself, for what this class does not cover; it is shared, so
    never close it or change its options.
    """

    def __init__(
        self,
        exchange_id: str,
        api: Any,
        *,
        rate_limit: bool = True,
        retry: RetryPolicy | None = None,
        clock_refresh: float = 60.0,
    ) -> None:
        self.id = exchange_id
        self.api = api
        self.rate_limit = rate_limit
        self.retry = retry or RetryPolicy()
        self.page_limit = _page_limit(api)
        self.binance_family = isinstance(api, ccxt.binance) and hasattr(api, "publicGetKlines")
        self.trade_window_ms = BINANCE_TRADE_WINDOW_MS if self.binance_family else None
        has_time = bool((getattr(api, "has", None) or {}).get("fetchTime"))
        self.clock = ExchangeClock(self._fetch_time if has_time else None, clock_refresh)
        self._markets_lock = asyncio.Lock()
        self._markets: Mapping[str, Any] | None = None
        self.closed = False

    def __repr__(self) -> str:
        limiter = "on" if self.rate_limit else "off"
        return f"<ExchangeClient {self.id} rate limiter {limiter}>"

    # -- validation (no network unless markets must be loaded) -----------------------------
    @property
    def timeframes(self) -> tuple[str, ...]:
        """The timeframes the exchange offers (ccxt's ``exchange.timeframes``)."""
        return tuple(self.api.timeframes or {})

    def check_timeframe(self, name: str) -> Timeframe:
        """The parsed timeframe; UnsupportedTimeframeError listing the valid ones."""
        return check_timeframe(self.id, self.api.timeframes, name)

    @property
    def markets_loaded(self) -> bool:
        """True once the markets were loaded."""
        return self._markets is not None

    async def load_markets(
        self, *, retry: RetryPolicy | None = None, on_retry: OnRetry | None = None
    ) -> Mapping[str, Any]:
        """ccxt's markets by symbol, loaded once per shared instance."""
        if self._markets is not None:
            return self._markets
        return await self._run("load_markets", None, self._load_markets, retry, on_retry)

    async def _load_markets(self) -> Mapping[str, Any]:
        async with self._markets_lock:
            if self._markets is None:
                self._markets = await self.api.load_markets()
        return self._markets

    async def check_symbol(self, symbol: str) -> str:
        """``symbol`` when listed (markets loaded first); UnknownSymbolError with suggestions."""
        markets = await self.load_markets()
        return check_symbol(self.id, markets, symbol, getattr(self.api, "markets_by_id", None))

    async def validate(self, symbol: str, timeframe: str | None = None) -> Timeframe | None:
        """Check the timeframe (offline) and then the symbol; the parsed timeframe."""
        tf = self.check_timeframe(timeframe) if timeframe is not None else None
        await self.check_symbol(symbol)
        return tf

    # -- the exchange clock ----------------------------------------------------------------
    async def _fetch_time(self) -> int:
        return int(await self.api.fetch_time())

    async def server_time(
        self, *, retry: RetryPolicy | None = None, on_retry: OnRetry | None = None
    ) -> int:
        """The exchange's time now (ms), also re-estimating the clock offset."""
        return await self._run("server_time", None, self.clock.sync, retry, on_retry)

    async def sync_clock(self) -> None:
        """Estimate the clock offset now (it is otherwise refreshed every minute or so)."""
        await self.server_time()

    async def time_now(
        self, *, retry: RetryPolicy | None = None, on_retry: OnRetry | None = None
    ) -> int:
        """The exchange's time (ms) from a fresh-enough clock sample: one request at most,
        shared by every caller (``server_time`` always asks)."""
        if self.clock.stale:
            await self._run("server_time", None, self.clock.ensure, retry, on_retry)
        return self.now_ms()

    def now_ms(self) -> int:
        """The exchange's time as estimated from the last sample (local time before any)."""
        return self.clock.now_ms()

    # -- candles ---------------------------------------------------------------------------
    async def fetch_candles(
        self,
        symbol: str,
        timeframe: str,
        since: int | None = None,
        limit: int | None = None,
        until: int | None = None,
        *,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
    ) -> CandleBatch:
        """One page of candles opening in ``[since, until)`` (the newest ones without since).

        At most ``limit`` candles (default and maximum: :attr:`page_limit`), ascending and
        unique; ``closed`` is False for a candle that had not closed by the exchange's clock
        when the request was sent (the clock error counts against closing).
        """
        tf = self.check_timeframe(timeframe)
        if since is not None and until is not None and until <= since:
            raise InvalidTimeRangeError(
                f"{self.id} {symbol} {timeframe}: until ({until}) must be after since ({since})"
            )
        size = self.page_limit if limit is None else max(1, min(int(limit), self.page_limit))

        async def attempt() -> CandleBatch:
            markets = await self._load_markets()
            check_symbol(self.id, markets, symbol, getattr(self.api, "markets_by_id", None))
            await self.clock.ensure()
            closed_before = self.clock.at(_local_ms()) - self.clock.uncertainty
            where = f"{self.id} fetch_candles {symbol} {timeframe}"
            market = markets[symbol]
            if self.binance_family and market.get("spot"):
                request: dict[str, Any] = {
                    "symbol": market["id"],
                    "interval": self.api.timeframes[timeframe],
                    "limit": size,
                }
                if since is not None:
                    request["startTime"] = since
                if until is not None:
                    request["endTime"] = until - 1
                with numeric_rows():
                    rows = await self.api.publicGetKlines(request)
                ts, values = batch_from_klines(rows, where)
            else:
                rows = await self.api.fetch_ohlcv(symbol, timeframe, since, size)
                ts, values = batch_from_ccxt_ohlcv(rows, where)
            return to_batch(
                ts, values, tf, since=since, until=until, limit=size,
                closed_before=closed_before, where=where,
            )  # fmt: skip

        return await self._run("fetch_candles", symbol, attempt, retry, on_retry)

    async def earliest_candle(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
    ) -> int | None:
        """Open time of the symbol's first candle (None when it has none).

        Binance-family exchanges answer ``startTime=0`` with the first candle: one request.
        Elsewhere a page from time 0 is tried first (exchanges that jump to their first
        candle), then a binary search over ``[0, now]`` for the first page with candles
        (about 20 requests); an exchange that ignores ``since`` cannot be searched.
        """
        self.check_timeframe(timeframe)

        async def probe(since: int, limit: int) -> CandleBatch:
            return await self.fetch_candles(
                symbol, timeframe, since, limit, retry=retry, on_retry=on_retry
            )

        if self.binance_family:
            first = await probe(0, 1)
            return int(first.ts[0]) if len(first) else None
        now = await self.server_time(retry=retry, on_retry=on_retry)
        return await find_earliest(probe, self.page_limit, now, self.check_timeframe(timeframe))

    # -- trades ----------------------------------------------------------------------------
    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        *,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
    ) -> list[PublicTrade]:
        """One page of public trades at or after ``since`` and before ``until``, ascending.

        On binance-family exchanges a page covers at most :attr:`trade_window_ms` (one hour)
        from ``since``: an empty page means no trade in that window, not the end.
        """
        if since is not None and until is not None and until <= since:
            raise InvalidTimeRangeError(
                f"{self.id} {symbol} trades: until ({until}) must be after since ({since})"
            )

        async def attempt() -> list[PublicTrade]:
            markets = await self._load_markets()
            check_symbol(self.id, markets, symbol, getattr(self.api, "markets_by_id", None))
            params: dict[str, Any] = {}
            if until is not None and self.binance_family:
                window_end = None if since is None else since + BINANCE_TRADE_WINDOW_MS
                if window_end is None or until - 1 < window_end:
                    params["until"] = until - 1
            rows = await self.api.fetch_trades(symbol, since, limit, params)
            where = f"{self.id} fetch_trades {symbol}"
            return trades_from_ccxt(rows, where, since=since, until=until)

        return await self._run("fetch_trades", symbol, attempt, retry, on_retry)

    # -- plumbing --------------------------------------------------------------------------
    async def _run(
        self,
        call: str,
        symbol: str | None,
        fn: Callable[[], Awaitable[T]],
        retry: RetryPolicy | None,
        on_retry: OnRetry | None,
    ) -> T:
        if self.closed:
            raise PermanentExchangeError(f"{self.id} {call}: the exchange client is closed")

        async def attempt() -> T:
            try:
                return await fn()
            except ccxt.BaseError as exc:
                raise translate(exc, exchange=self.id, call=call, symbol=symbol) from exc

        return await (retry or self.retry).call(attempt, on_retry=on_retry)

    async def aclose(self) -> None:
        """Close the ccxt instance (its HTTP session); the hub calls this on last release."""
        if self.closed:
            return
        self.closed = True
        await self.api.close()
