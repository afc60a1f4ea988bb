"""What a symbol serves: kline pages planned as Binance plans them, and trades.

:func:`plan_klines` turns (startTime, endTime, limit, now, listing) into the open times of a
page: candles open at or after ``startTime`` (a ``startTime`` before the listing starts at the
listing's candle), at or before ``endTime`` and ``now``; without ``startTime`` the newest
``limit`` candles. A :class:`Series` renders the page, the forming candle included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ohlcv_workbench.timeframes import MINUTE, SECOND, Timeframe

from .bars import I64
from .fmt import agg_trade_rows, kline_rows, trade_rows
from .generator import GeneratedSeries
from .intraminute import Trades
from .markets import SymbolSpec

__all__ = ["GeneratedMarket", "KlinePage", "Series", "plan_klines"]

TRADE_BLOCK_MINUTES = 2


@dataclass(frozen=True)
class KlinePage:
    """Open times and formatted rows of one klines answer."""

    ts: I64
    rows: list[str]


def plan_klines(
    tf: Timeframe, listing: int, start: int | None, end: int | None, limit: int, now: int
) -> tuple[int, int] | None:
    """Open times ``[first, stop)`` of a page, or None when it is empty."""
    upper = now if end is None else min(end, now)
    if upper < listing:
        return None
    last = tf.floor(upper)
    floor_listing = tf.floor(listing)
    if start is not None:
        first = max(tf.ceil(start), floor_listing)
        if first > last:
            return None
        stop = min(tf.next(first, limit), tf.next(last))
        return first, stop
    first = max(tf.next(last, -(limit - 1)), floor_listing)
    return first, tf.next(last)


class Series(Protocol):
    """A symbol the simulator serves."""

    spec: SymbolSpec
    listing: int

    def supports(self, tf: Timeframe) -> bool:
        """True when klines of ``tf`` can be served."""
        ...

    def klines(self, tf: Timeframe, first: int, stop: int, now: int) -> KlinePage:
        """Candles opening in ``[first, stop)`` (all at or before ``now``)."""
        ...

    def agg_trades(
        self, start: int | None, end: int | None, from_id: int | None, limit: int, now: int
    ) -> list[str]:
        """``aggTrades`` rows."""
        ...

    def recent_trades(self, limit: int, now: int) -> list[str]:
        """``trades`` rows: the newest ``limit`` trades before ``now``."""
        ...


class GeneratedMarket:
    """A generated symbol: deterministic candles of every interval, and trades."""

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        self.series = GeneratedSeries(spec, seed)
        self.listing = spec.listing
        self._units = (spec.tick_e8, spec.step_e8, 100)

    def supports(self, tf: Timeframe) -> bool:
        """Every interval is served."""
        return True

    def klines(self, tf: Timeframe, first: int, stop: int, now: int) -> KlinePage:
        """Closed candles from the series, then the forming one as a partial aggregate."""
        forming = tf.floor(now)
        bars = self.series.closed_candles(tf, first, min(stop, forming))
        if first <= forming < stop:
            partial = self.series.partial(forming, now)
            if len(partial):
                bars = type(bars).concat([bars, partial])
        return KlinePage(bars.ts, kline_rows(bars, tf, *self._units))

    def _trades_after(self, t0: int, t1: int, from_id: int | None, limit: int, now: int) -> Trades:
        """Up to ``limit`` trades with ``t0 <= T <= t1``, ``T < now`` (and ``id >= from_id``)."""
        series = self.series
        t0 = max(t0, series.listing)
        t1 = min(t1, now - 1)
        found: list[Trades] = []
        count = 0
        minute = t0 // MINUTE
        while count < limit and minute * MINUTE <= t1:
            block = series.trades_of_minutes(minute, minute + TRADE_BLOCK_MINUTES)
            keep = (block.ts >= t0) & (block.ts <= t1)
            if from_id is not None:
                keep &= block.id >= from_id
            block = block.take(keep)
            found.append(block.take(slice(0, limit - count)))
            count += min(len(block), limit - count)
            minute += TRADE_BLOCK_MINUTES
        return Trades.concat(found)

    def agg_trades(
        self, start: int | None, end: int | None, from_id: int | None, limit: int, now: int
    ) -> list[str]:
        """Trades from ``fromId`` or in ``[startTime, endTime]``, else the newest ones."""
        if from_id is not None:
            t0 = self.series.second_of_trade_id(from_id) * SECOND
            trades = self._trades_after(t0, now, from_id, limit, now)
        elif start is not None or end is not None:
            t0 = start if start is not None else (end or 0) - 3_600_000
            t1 = end if end is not None else t0 + 3_600_000
            trades = self._trades_after(t0, t1, None, limit, now)
        else:
            return self.recent_trades(limit, now, agg=True)
        return agg_trade_rows(trades, *self._units[:2])

    def recent_trades(self, limit: int, now: int, agg: bool = False) -> list[str]:
        """The newest ``limit`` trades before ``now``, ascending."""
        series = self.series
        found: list[Trades] = []
        count = 0
        minute = now // MINUTE
        while count < limit and (minute + 1) * MINUTE > series.listing:
            block = series.trades_of_minutes(minute, minute + 1)
            block = block.take(block.ts < now)
            found.insert(0, block)
            count += len(block)
            minute -= 1
        trades = Trades.concat(found)
        trades = trades.take(slice(max(len(trades) - limit, 0), None))
        if agg:
            return agg_trade_rows(trades, *self._units[:2])
        return trade_rows(trades, *self._units[:2])
