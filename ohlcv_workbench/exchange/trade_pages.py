"""Paging public trades forward in time, with each exchange's own cursor.

A :class:`TradeCursor` is where the next page starts: a time (ms) and, where the exchange has
one, its continuation token, which pages without duplicates or holes:

- Binance-family: the first page is asked by time (``startTime``/``endTime``; no window limit
  since 2022), the next ones by aggregate id (``fromId`` = the last aggregate id + 1).
- Kraken: every page by its nanosecond cursor (``since``; the first one made from the time,
  the next ones from the ``last`` of the former answer, which ccxt leaves on the page's last
  trade). ccxt's own ``since`` is in seconds, so a millisecond time is never sent as such.
- Other exchanges: by time, the next page from the last trade's millisecond (its trades come
  again; stored trades are upserted by id).

A :class:`TradePage` holds the trades in ``[cursor.ts, until)``, the cursor of the next page
(None once ``until`` is reached) and the time before which every trade has been seen
(``complete_until``), which is what candles built from trades need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from ohlcv_workbench.records import PublicTrade

from .rows import trades_from_ccxt

__all__ = ["TradeCursor", "TradePage", "fetch_trade_page"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TradeCursor:
    """Where a page of trades starts: a time (ms) and the exchange's token, if any."""

    ts: int
    token: str | None = None


@dataclass(frozen=True)
class TradePage:
    """Trades in ``[cursor.ts, until)``, ascending; ``next`` is None once ``until`` is reached;
    every trade before ``complete_until`` (ms) has been seen."""

    trades: list[PublicTrade]
    next: TradeCursor | None
    complete_until: int


def _kraken_token(row: Any) -> str | None:
    """The ``last`` cursor ccxt appends to the raw row of a page's last trade."""
    info = row.get("info") if isinstance(row, dict) else None
    if isinstance(info, list) and len(info) >= 8:
        return str(info[-1])
    return None


async def fetch_trade_page(
    api: Any, symbol: str, cursor: TradeCursor, until: int, limit: int, where: str
) -> TradePage:
    """One page of trades from ``cursor`` up to ``until`` (see the module docstring)."""
    token: str | None = None
    if isinstance(api, ccxt.binance):
        if cursor.token is None:
            rows = await api.fetch_trades(symbol, cursor.ts, limit, {"until": until - 1})
        else:
            rows = await api.fetch_trades(symbol, None, limit, {"fromId": int(cursor.token)})
        if rows:
            token = str(int(rows[-1]["id"]) + 1)
    elif isinstance(api, ccxt.kraken):
        since = cursor.token if cursor.token is not None else str(cursor.ts * 1_000_000 - 1)
        rows = await api.fetch_trades(symbol, None, limit, {"since": since})
        if rows:
            token = _kraken_token(rows[-1])
    else:
        rows = await api.fetch_trades(symbol, cursor.ts, limit)
    trades = trades_from_ccxt(rows, where, since=cursor.ts, until=until)
    last = rows[-1].get("timestamp") if rows else None
    if len(rows) < limit or not isinstance(last, int) or last >= until:
        return TradePage(trades, None, until)
    if token is not None:
        return TradePage(trades, TradeCursor(last, token), last)
    if last <= cursor.ts:  # a full page in one millisecond: the time cannot page past it
        log.warning("%s: over %d trades at %d ms; moving on by 1 ms", where, limit, last)
        return TradePage(trades, TradeCursor(cursor.ts + 1), cursor.ts + 1)
    return TradePage(trades, TradeCursor(last), last)
