"""The trade collector: pages public trades from ``since`` (or the last stored one) onwards.

Trades are upserted by trade id, so the page that holds the last stored trade can be asked
for again without duplicating anything. Pages follow the exchange's own cursor (Binance's
aggregate ids, Kraken's nanosecond ``last``; see
:mod:`~ohlcv_workbench.exchange.trade_pages`). Without ``until`` the collector then polls for
new trades every second.
"""

from __future__ import annotations

import asyncio
import logging

from ohlcv_workbench.errors import InputError, TemporaryExchangeError
from ohlcv_workbench.exchange import ExchangeClient, TradeCursor
from ohlcv_workbench.records import PublicTrade
from ohlcv_workbench.times import iso

from .base import Collector, CollectorContext, Phase
from .spec import CollectorKind, CollectorSpec

__all__ = ["TradeCollector"]

log = logging.getLogger(__name__)

#: how far back a collector without ``since`` and without stored trades starts (ms)
RECENT_MS = 3_600_000
#: seconds between polls once live
POLL_INTERVAL = 1.0
#: seconds to wait after the retry budget ran out while live
OUTAGE_DELAY = 5.0


class TradeCollector(Collector):
    """Collects the public trades of one symbol (see the module docstring)."""

    unit = "trades"

    def __init__(self, spec: CollectorSpec, context: CollectorContext) -> None:
        if spec.kind is not CollectorKind.TRADES:
            raise ValueError(f"TradeCollector needs a trades spec, got {spec.kind}")
        super().__init__(spec, context)

    async def validate(self, ex: ExchangeClient) -> None:
        if not (ex.api.has or {}).get("fetchTrades"):
            raise InputError(f"exchange {ex.id!r} does not serve public trades (fetchTrades)")
        await ex.check_symbol(self.spec.symbol, trading=True)
        self.spec.check_since(await ex.time_now(on_retry=self.on_retry))

    async def collect(self) -> None:
        ex, store = self.exchange, self.context.store
        last = await self.in_thread(store.trades_last, self.spec.exchange, self.spec.symbol)
        now = ex.now_ms()
        if last is not None and (self.spec.since is None or last.ts >= self.spec.since):
            start = last.ts  # its page again: upserts by id keep it exact
        elif self.spec.since is not None:
            start = self.spec.since
        else:
            start = now - RECENT_MS
        cursor = TradeCursor(start)
        horizon = self.spec.until if self.spec.until is not None else now
        progress = self.state.progress
        progress.unit, progress.total = "s of trades", max(0, (horizon - start) // 1000)
        self.state.phase = Phase.BACKFILLING
        self.heartbeat.report(phase="backfill")
        while True:
            now = ex.now_ms()
            hi = now if self.spec.until is None else min(self.spec.until, now)
            if cursor.ts >= hi:
                if self.spec.until is not None and cursor.ts >= self.spec.until:
                    return
                if self.state.phase is not Phase.LIVE:
                    self.state.phase = Phase.LIVE
                    self.report(f"Live from {iso(cursor.ts)}", phase="live")
                await asyncio.sleep(POLL_INTERVAL)
                continue
            try:
                cursor = await self._page(cursor, hi)
            except TemporaryExchangeError as exc:
                if self.state.phase is not Phase.LIVE:
                    raise
                self.report(f"Exchange unavailable ({exc}); trying again in {OUTAGE_DELAY:.0f} s")
                await asyncio.sleep(OUTAGE_DELAY)
                continue
            if self.state.phase is Phase.BACKFILLING:
                progress.done = min(progress.total, max(0, (cursor.ts - start) // 1000))
                self.report(progress.message(), progress=progress.as_params())

    async def _page(self, cursor: TradeCursor, hi: int) -> TradeCursor:
        """Fetch and store one page from ``cursor``; the next cursor."""
        page = await self.exchange.fetch_trade_page(
            self.spec.symbol, cursor, hi, on_retry=self.on_retry
        )
        if page.trades:
            await self._store(page.trades)
        return page.next or TradeCursor(hi)

    async def _store(self, trades: list[PublicTrade]) -> None:
        store, spec = self.context.store, self.spec

        def write() -> None:
            result = store.trades_store(spec.exchange, spec.symbol, trades)
            self.state.stored += result.inserted
            self.state.last_ts = trades[-1].ts

        await self.in_thread(write)
