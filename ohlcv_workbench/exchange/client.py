"""One exchange, typed: validated symbols and timeframes, candles, trades, the exchange clock.

An :class:`ExchangeClient` wraps the shared ccxt instance of an exchange id (get one with
:func:`~ohlcv_workbench.exchange.open_exchange`). Every call translates ccxt errors once and
retries the temporary ones with the client's :class:`RetryPolicy` (or the one passed).

Candles of binance-family exchanges (``sim``, ``binance``, ``binanceus``) take a fast path:
the implicit ``publicGetKlines`` request (ccxt's signing, rate limiter and error handling all
apply) with the rows converted to numpy columns at once instead of ccxt's per-candle
``parse_ohlcv``; the result is identical to ``fetch_ohlcv``'s. Other exchanges use
``fetch_ohlcv``. Page sizes, timeframes and the rate limit are ccxt's description of the
exchange (``features``, ``timeframes``, ``rateLimit``).

A ban (HTTP 418) closes the client's :class:`~.pause.PauseGate`: every request of every
collector of the exchange waits until the ban ends, then goes on; the ban is not counted as
a failed attempt of the request that met it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from ohlcv_workbench.errors import BannedError, InvalidTimeRangeError, PermanentExchangeError
from ohlcv_workbench.records import CandleBatch, PublicTrade
from ohlcv_workbench.timeframes import Timeframe

from .clock import ExchangeClock
from .history import find_earliest
from .pause import PauseGate
from .retry import OnRetry, RetryPolicy
from .rows import (
    batch_from_ccxt_ohlcv,
    batch_from_klines,
    numeric_rows,
    to_batch,
    trades_from_ccxt,
)
from .trade_pages import TradeCursor, TradePage, fetch_trade_page
from .translate import translate
from .validation import check_symbol, check_timeframe

__all__ = ["DEFAULT_PAGE_LIMIT", "TRADE_PAGE_LIMIT", "ExchangeClient"]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: candle page size when ccxt states none for the exchange
DEFAULT_PAGE_LIMIT = 500
#: trades asked for per request (ccxt states no maximum; exchanges cap it themselves)
TRADE_PAGE_LIMIT = 1000
#: seconds a ban lasts when the exchange did not say (no Retry-After)
DEFAULT_BAN_SECONDS = 60.0


class _Paused(BannedError):
    """An attempt found the client paused: it waits, then the call starts afresh."""


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
        #: True when a candle page from any ``since`` starts there (or at the listing), so
        #: the first candle returned is where the history begins; elsewhere (Kraken: only the
        #: most recent 720 candles) older candles must come from trades
        self.full_candle_history = self.binance_family
        self.gate = PauseGate(exchange_id)
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
    def rate_limit_ms(self) -> float:
        """ccxt's pace for the exchange: milliseconds per request of cost 1 (``rateLimit``)."""
        return float(getattr(self.api, "rateLimit", 0) or 0)

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

    async def check_symbol(self, symbol: str, *, trading: bool = False) -> str:
        """``symbol`` when listed (markets loaded first); UnknownSymbolError with suggestions.

        ``trading``: also InactiveSymbolError when the market is not active (Binance's status
        BREAK or HALT, Kraken's cancel_only...), naming its status.
        """
        markets = await self.load_markets()
        ids = getattr(self.api, "markets_by_id", None)
        return check_symbol(self.id, markets, symbol, ids, trading=trading)

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
        (about 20 requests); an exchange that ignores ``since`` cannot be searched. Where the
        candle endpoint serves only recent candles (``full_candle_history`` False: Kraken's
        last 720), this is the first candle it serves now, not the listing.
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
        """Public trades at or after ``since`` and before ``until``, ascending: one request
        of ccxt's ``fetch_trades`` (to page through a range, use :meth:`fetch_trade_page`)."""
        if since is not None and until is not None and until <= since:
            raise InvalidTimeRangeError(
                f"{self.id} {symbol} trades: until ({until}) must be after since ({since})"
            )

        async def attempt() -> list[PublicTrade]:
            markets = await self._load_markets()
            check_symbol(self.id, markets, symbol, getattr(self.api, "markets_by_id", None))
            params: dict[str, Any] = {}
            if until is not None and self.binance_family:
                params["until"] = until - 1
            rows = await self.api.fetch_trades(symbol, since, limit, params)
            where = f"{self.id} fetch_trades {symbol}"
            return trades_from_ccxt(rows, where, since=since, until=until)

        return await self._run("fetch_trades", symbol, attempt, retry, on_retry)

    async def fetch_trade_page(
        self,
        symbol: str,
        cursor: TradeCursor | int,
        until: int,
        limit: int | None = None,
        *,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
    ) -> TradePage:
        """One page of trades from ``cursor`` (a :class:`TradeCursor`, or a time in ms) up to
        ``until``, with the cursor of the next page (see :mod:`.trade_pages`)."""
        start = cursor if isinstance(cursor, TradeCursor) else TradeCursor(int(cursor))
        if until <= start.ts:
            raise InvalidTimeRangeError(
                f"{self.id} {symbol} trades: until ({until}) must be after {start.ts}"
            )
        size = TRADE_PAGE_LIMIT if limit is None else max(1, int(limit))

        async def attempt() -> TradePage:
            markets = await self._load_markets()
            check_symbol(self.id, markets, symbol, getattr(self.api, "markets_by_id", None))
            where = f"{self.id} fetch_trades {symbol}"
            return await fetch_trade_page(self.api, symbol, start, until, size, where)

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
        policy = retry or self.retry
        gate = self.gate

        async def attempt() -> T:
            if gate.pause_in_force is not None:
                raise _Paused(f"{self.id} {call}: paused")
            try:
                return await fn()
            except ccxt.BaseError as exc:
                raise translate(exc, exchange=self.id, call=call, symbol=symbol) from exc

        paused = 0.0
        while True:
            await gate.wait()
            try:
                return await policy.call(attempt, on_retry=on_retry)
            except _Paused:
                continue  # another request met the ban: wait with everyone
            except BannedError as exc:
                seconds = DEFAULT_BAN_SECONDS if exc.retry_after is None else exc.retry_after
                paused += seconds
                if paused > policy.max_pause:
                    raise
                log.info("%s", exc)
                gate.pause(seconds, f"{self.id} banned this IP (HTTP 418, {seconds:g} s)")

    async def aclose(self) -> None:
        """Close the ccxt instance (its HTTP session); the hub calls this on last release."""
        if self.closed:
            return
        self.closed = True
        self.gate.close()
        await self.api.close()
