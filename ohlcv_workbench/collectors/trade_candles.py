"""Candles built from trades, where the exchange's candle endpoint does not reach.

Some exchanges serve only their most recent candles (Kraken: the last 720 of any interval,
whatever ``since`` asks for), so a backfill before that has to come from trades, as fullon
does for Kraken. :class:`TradeBackfill` pages the trades of ``[start, end)`` with the
exchange's own cursor, stores them as the trade collector would (upserted by id, so the
trades stay available), and as soon as every trade of a candle is in, builds the candle with
the store's ``trades_to_ohlcv`` and stores it: a killed run leaves the candles up to where it
stopped. Volumes are sums of trade amounts, rounded to the market's amount precision (the
exchange's volumes are multiples of it), so they equal the exchange's own candles.

A candle interval without any trade has no candle (as on Binance). When the exchange has no
public trades, or answers no trade at all from ``start`` on, the range cannot be told apart
from one that never traded: it is *uncovered*, and the caller names it (message, params,
the store's note that the quality report shows).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ohlcv_workbench.exchange import ExchangeClient, OnRetry, TradeCursor
from ohlcv_workbench.records import CandleBatch, PublicTrade
from ohlcv_workbench.store.models import Uncovered
from ohlcv_workbench.timeframes import Timeframe
from ohlcv_workbench.times import iso

from .spec import CollectorSpec

if TYPE_CHECKING:
    from ohlcv_workbench.store import CandleStore

__all__ = ["TradeBackfill", "amount_decimals"]

InThread = Callable[..., Awaitable[Any]]


def amount_decimals(market: object) -> int | None:
    """Decimals of a ccxt market's amount precision (a tick such as 1e-8), None if unknown."""
    precision = market.get("precision") if isinstance(market, dict) else None
    amount = precision.get("amount") if isinstance(precision, dict) else None
    if not isinstance(amount, int | float) or not 0 < amount < 1:
        return None
    decimals = -math.log10(float(amount))
    return round(decimals) if abs(decimals - round(decimals)) < 1e-9 else None


@dataclass
class TradeBackfill:
    """Candles of ``spec``'s series from the exchange's trades (see the module docstring).

    ``in_thread`` runs blocking store calls (the collector's worker), ``store_candles``
    stores a batch of closed candles and returns how many, ``on_progress`` gets the open time
    up to which candles are done.
    """

    exchange: ExchangeClient
    spec: CollectorSpec
    tf: Timeframe
    store: CandleStore
    in_thread: InThread
    store_candles: Callable[[CandleBatch], Awaitable[int]]
    on_retry: OnRetry
    on_progress: Callable[[int], None]

    async def fill(self, start: int, end: int) -> Uncovered | None:
        """Store the candles opening in ``[start, end)`` built from trades; the range left
        uncovered (the whole range, when the exchange gave no trade from ``start`` on)."""
        ex, spec, tf = self.exchange, self.spec, self.tf
        start, end = tf.ceil(start), tf.ceil(end)
        if end <= start:
            return None
        if not (ex.api.has or {}).get("fetchTrades"):
            return Uncovered(start, end, f"{ex.id} serves no candles here and no public trades")
        decimals = amount_decimals((ex.api.markets or {}).get(spec.symbol))
        cursor: TradeCursor | None = TradeCursor(start)
        built, seen = start, False
        while cursor is not None:
            page = await ex.fetch_trade_page(spec.symbol, cursor, end, on_retry=self.on_retry)
            if page.trades:
                seen = True
                await self.in_thread(self._store_trades, page.trades)
            upto = min(tf.floor(page.complete_until), end)  # candles before it are complete
            if upto > built:
                await self._build(built, upto, decimals)
                built = upto
                self.on_progress(built)
            cursor = page.next
        if built < end:
            await self._build(built, end, decimals)
            self.on_progress(end)
        if not seen:
            return Uncovered(
                start, end, f"{ex.id} serves no candles before {iso(end)} and no trades here"
            )
        return None

    def _store_trades(self, trades: list[PublicTrade]) -> None:
        self.store.trades_store(self.spec.exchange, self.spec.symbol, trades)

    async def _build(self, start: int, end: int, decimals: int | None) -> int:
        spec = self.spec
        frame = await self.in_thread(
            self.store.trades_to_ohlcv, spec.exchange, spec.symbol, self.tf.name, start, end
        )
        batch = CandleBatch.from_frame(frame)
        if not len(batch):
            return 0
        if decimals is not None:
            volume = np.round(batch.volume, decimals)
            batch = CandleBatch(
                batch.ts, batch.open, batch.high, batch.low, batch.close, volume, batch.closed
            )
        return await self.store_candles(batch)
