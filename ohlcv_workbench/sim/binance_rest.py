"""The Binance dialect: the spot REST endpoints ccxt's ``binance`` class calls, under ``/api/v3/``.

Checked against Binance's spot API documentation and changelog:

- Weights (``REQUEST_WEIGHT``, 6000 per minute by default): ``ping``/``time`` 1,
  ``exchangeInfo`` 20, ``klines`` 2, ``aggTrades`` 4, ``trades``/``historicalTrades`` 25
  (raised in 2024-04 and 2025-03). Every answer carries ``X-MBX-USED-WEIGHT-1M``; over the
  limit, 429 with ``Retry-After`` and ``-1003``. A client that goes on after 429s is banned
  (the ``ban_after`` fault, or :meth:`SimServer.ban`): 418 for every request, with
  ``Retry-After`` the seconds until the ban ends.
- 5xx answers are the edge's HTML page or Binance's JSON error: ``-1008 SERVER_BUSY`` on 503,
  ``-1001 DISCONNECTED`` on other 5xx (the ``server_error_body`` fault setting).
- ``klines``: up to ``limit`` (default 500, max 1000) candles that exist, from ``startTime``
  (skipping maintenance and missing rows) or, without it, the newest ones up to ``endTime``;
  the forming candle included.
- ``aggTrades`` (since 2022: ``startTime`` and ``endTime`` may come alone, no 1-hour limit):
  from ``fromId`` (an aggregate id), from ``startTime`` (up to ``endTime``), the newest up to
  ``endTime`` alone, else the newest; ``fromId`` with a time is ``-1128``. Aggregates have ids
  of their own and ``f``/``l`` trade ids (:mod:`.aggtrades`).
- ``trades`` (the newest) and ``historicalTrades`` (from ``fromId``, a trade id).
- ``exchangeInfo`` with ``symbol``, ``symbols`` or ``symbolStatus`` (``TRADING``, ``HALT``,
  ``BREAK``); no listing time (ccxt's ``created`` is None, as with Binance).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from aiohttp import web

from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe

from .aggtrades import AGG_STRIDE, AggTrades, aggregate
from .dialect import DialectError, RestDialect, SimState
from .faults import Faults
from .fmt import agg_trade_rows, trade_rows
from .intraminute import Trades
from .limits import Ban, WeightLimiter
from .markets import SYMBOL_STATUSES, exchange_info
from .pages import missing_rows, page_opens
from .series import Series, collect

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "WEIGHTS", "BinanceRest", "ccxt_config"]

#: Binance's request weights (spot, public)
WEIGHTS = {
    "ping": 1,
    "time": 1,
    "exchangeInfo": 20,
    "klines": 2,
    "aggTrades": 4,
    "trades": 25,
    "historicalTrades": 25,
}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
_BUSY = "Server is currently overloaded with other requests. Please try again in a few minutes."
_DISCONNECTED = "Internal error; unable to process your request. Please try again."


def ccxt_config(url: str, **extra: Any) -> dict[str, Any]:
    """The ccxt binance config that talks to the simulator at ``url``: spot markets only."""
    config: dict[str, Any] = {
        "urls": {"api": {"public": f"{url.rstrip('/')}/api/v3"}},
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }
    config.update(extra)
    return config


def _error(code: int, msg: str, status: int = 400) -> DialectError:
    return DialectError(status, {"code": code, "msg": msg})


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise _error(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def _limit(query: Mapping[str, str]) -> int:
    limit = _int_param(query, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise _error(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _rows(rows: list[str]) -> str:
    return "[" + ",".join(rows) + "]"


class BinanceRest(RestDialect):
    """Binance's spot REST API over the shared simulator (see the module docstring)."""

    name = "binance"
    prefix = "/api/v3/"
    exempt = frozenset({"ping"})

    def __init__(self, sim: SimState, weight_limit: WeightLimiter) -> None:
        super().__init__(sim)
        self.limiter = weight_limit
        self.ban = Ban()
        self.routes = {
            "ping": lambda q, s: {},
            "time": lambda q, s: {"serverTime": sim.clock.now()},
            "exchangeInfo": self._exchange_info,
            "klines": self._klines,
            "aggTrades": self._agg_trades,
            "trades": self._trades,
            "historicalTrades": self._historical_trades,
        }

    # -- the dialect's answers ----------------------------------------------------------------
    def series_of(self, query: Mapping[str, str]) -> Series | None:
        """The series of the ``symbol`` parameter (a Binance id such as BTCUSDT)."""
        return self.sim.by_id.get(query.get("symbol", ""))

    def _series(self, query: Mapping[str, str]) -> Series:
        raw = query.get("symbol")
        if not raw:
            raise _error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        series = self.sim.by_id.get(raw)
        if series is None or self.sim.clock.now() < series.listing:
            raise _error(-1121, "Invalid symbol.")
        return series

    def refused_early(self, request: web.Request) -> web.Response | None:
        """418 while the IP is banned."""
        now = time.time_ns() // 1_000_000
        remaining = self.ban.remaining(now)
        if not remaining:
            return None
        counters = self.sim.counters
        counters.banned += 1
        counters.statuses["418"] += 1
        msg = (
            f"Way too much request weight used; IP banned until {self.ban.until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
        headers = {"Retry-After": str(-(-remaining // 1000))}
        return self.respond(request, {"code": -1003, "msg": msg}, 418, headers)

    def _strike(self, faults: Faults) -> None:
        now = time.time_ns() // 1_000_000
        if self.ban.strike(faults.ban_after, faults.ban_seconds, now):
            self.sim.counters.faults["ban"] += 1

    def admit(
        self, name: str, query: Mapping[str, str], series: Series | None
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Charge the request's weight: 429 with Retry-After beyond the limit."""
        weight = WEIGHTS[name]
        allowed, used, retry_after = self.limiter.charge(weight, time.time_ns() // 1_000_000)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        counters = self.sim.counters
        if not allowed and name not in self.exempt:
            counters.rate_limited += 1
            counters.statuses["429"] += 1
            self._strike(self.sim.faults)
            msg = (
                f"Too much request weight used; current limit is {self.limiter.limit} request "
                "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                "polling the API."
            )
            refused = {**headers, "Retry-After": str(retry_after)}
            answer = web.json_response({"code": -1003, "msg": msg}, status=429, headers=refused)
            return answer, headers
        counters.weight += weight
        return None, headers

    def rate_limited(self, request: web.Request, faults: Faults) -> web.Response:
        """429 with Retry-After (and a strike towards a ban)."""
        self._strike(faults)
        msg = {"code": -1003, "msg": "Too many requests; please use the websocket."}
        return self.respond(request, msg, 429, {"Retry-After": str(faults.retry_after)})

    def server_error(self, request: web.Request, faults: Faults, as_json: bool) -> web.Response:
        """-1008 SERVER_BUSY on 503, -1001 DISCONNECTED otherwise, or the edge's HTML."""
        if not as_json:
            return web.Response(status=faults.status, text="<html>Service Unavailable</html>")
        body = {"code": -1008, "msg": _BUSY} if faults.status == 503 else {
            "code": -1001, "msg": _DISCONNECTED}  # fmt: skip
        return self.respond(request, body, faults.status)

    # -- endpoints -----------------------------------------------------------------------------
    def _exchange_info(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        sim = self.sim
        now = sim.clock.now()
        listed = [s for s in sim.markets.values() if s.listing <= now]
        wanted: list[str] | None = None
        status = query.get("symbolStatus")
        if status is not None and (query.get("symbol") or query.get("symbols")):
            raise _error(-1128, "Combination of optional parameters invalid.")
        if status is not None and status not in SYMBOL_STATUSES:
            raise _error(
                -1100,
                f"Illegal characters found in parameter 'symbolStatus'; legal range is "
                f"'{', '.join(SYMBOL_STATUSES)}'.",
            )
        if query.get("symbol"):
            wanted = [query["symbol"]]
        elif query.get("symbols"):
            try:
                wanted = [str(x) for x in json.loads(query["symbols"])]
            except ValueError:
                raise _error(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if wanted is not None:
            ids = {s.spec.id for s in listed}
            if any(w not in ids for w in wanted):
                raise _error(-1121, "Invalid symbol.")
            listed = [s for s in listed if s.spec.id in wanted]
        entries = [s.spec.exchange_info_entry(sim.symbol_status(s.spec.symbol)) for s in listed]
        if status is not None:
            entries = [e for e in entries if e["status"] == status]
        return exchange_info(entries, now, self.limiter.limit or 6000)

    def _klines(self, query: Mapping[str, str], _: Series | None) -> str:
        sim = self.sim
        series = self._series(query)
        interval = query.get("interval")
        if not interval:
            raise _error(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        if interval not in BINANCE_TIMEFRAMES or not series.supports(timeframe(interval)):
            raise _error(-1120, "Invalid interval.")
        tf = timeframe(interval)
        limit = _limit(query)
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        now, faults, symbol = sim.clock.now(), sim.faults, series.spec.symbol
        missing = missing_rows(faults, symbol, tf, sim.counters, maintenance=True)
        opens = page_opens(series, tf, start, end, limit, now, missing, faults)
        rows: list[str] = []
        if opens.size:
            candles = series.candles(tf, int(opens[0]), tf.next(int(opens[-1])), now)
            keep = np.isin(candles.ts, opens)
            if not bool(keep.all()):
                candles = candles.take(keep)
            rows = candles.binance_rows(tf)
            if faults.malformed and faults.applies_to(symbol):
                from .corrupt import corrupt_rows

                rows = corrupt_rows(faults, symbol, tf, candles.ts, rows, sim.counters)
        sim.counters.klines_page(symbol, interval, len(rows))
        return _rows(rows)

    def _trades_of(self, series: Series, block: Trades) -> Trades:
        """A block of trades without those of maintenance ranges."""
        gone = self.sim.faults.in_maintenance(series.spec.symbol, block.ts)
        return block if not bool(gone.any()) else block.take(~gone)

    def _agg_trades(self, query: Mapping[str, str], _: Series | None) -> str:
        series = self._series(query)
        limit = _limit(query)
        from_id = _int_param(query, "fromId")
        start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise _error(-1128, "Combination of optional parameters invalid.")
        now = self.sim.clock.now()
        listing_second = series.listing // 1000

        def kept(keep: Callable[[AggTrades], np.ndarray]) -> Callable[[Trades], AggTrades]:
            def shape(block: Trades) -> AggTrades:
                agg = aggregate(self._trades_of(series, block), listing_second)
                return agg.take(keep(agg))

            return shape

        def seconds(t: int) -> int:  # aggregates are made of whole seconds
            return -(-t // 1000) * 1000

        if from_id is not None:
            first = (listing_second + max(from_id, 0) // AGG_STRIDE) * 1000
            blocks = series.trade_blocks(first, now, now, reverse=False)
            agg = collect(blocks, limit, kept(lambda a: a.id >= from_id), AggTrades.concat)
        elif start is not None:
            upper = now if end is None else min(end + 1, now)
            blocks = series.trade_blocks(start // 1000 * 1000, seconds(upper), now, reverse=False)
            keep = kept(lambda a: (a.ts >= start) & (a.ts < upper))
            agg = collect(blocks, limit, keep, AggTrades.concat)
        else:  # the newest, up to endTime when given
            upper = now if end is None else min(end + 1, now)
            blocks = series.trade_blocks(series.listing, seconds(upper), now, reverse=True)
            keep = kept(lambda a: a.ts < upper)
            agg = collect(blocks, limit, keep, AggTrades.concat, reverse=True)
        self._count_trades(series, len(agg))
        return _rows(agg_trade_rows(agg, *self._units(series)))

    def _trades(self, query: Mapping[str, str], _: Series | None) -> str:
        series = self._series(query)
        now = self.sim.clock.now()
        blocks = series.trade_blocks(series.listing, now, now, reverse=True)
        trades = collect(
            blocks, _limit(query), lambda b: self._trades_of(series, b), Trades.concat, reverse=True
        )
        self._count_trades(series, len(trades))
        return _rows(trade_rows(trades, *self._units(series)))

    def _historical_trades(self, query: Mapping[str, str], _: Series | None) -> str:
        series = self._series(query)
        from_id = _int_param(query, "fromId")
        if from_id is None:
            return self._trades(query, series)
        now = self.sim.clock.now()
        first = series.second_of_trade_id(from_id) * 1000
        blocks = series.trade_blocks(first, now, now, reverse=False)
        trades = collect(
            blocks,
            _limit(query),
            lambda b: (t := self._trades_of(series, b)).take(t.id >= from_id),
            Trades.concat,
        )
        self._count_trades(series, len(trades))
        return _rows(trade_rows(trades, *self._units(series)))

    @staticmethod
    def _units(series: Series) -> tuple[int, int]:
        return series.spec.tick_e8, series.spec.step_e8

    def _count_trades(self, series: Series, rows: int) -> None:
        self.sim.counters.trades[series.spec.symbol] += 1
        self.sim.counters.rows["trades"] += rows
