"""Paging a time range: every candle of ``[since, until)``, fetched a few pages at a time.

:func:`candle_pages` splits ``[since, until)`` into windows of one page each (``page`` candle
open times, :func:`.history.page_windows`) and fetches them with up to ``concurrency`` requests
in flight, yielding the pages in order; every request has both ends fixed, so gaps in the data
(no trade, no candle) never shift the following pages, and a rerun asks for exactly the same
pages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

from ohlcv_workbench.errors import InvalidTimeRangeError
from ohlcv_workbench.records import CandleBatch

from .client import ExchangeClient
from .history import page_windows
from .retry import OnRetry, RetryPolicy

__all__ = ["candle_pages"]


async def candle_pages(
    client: ExchangeClient,
    symbol: str,
    timeframe: str,
    since: int,
    until: int,
    *,
    concurrency: int = 1,
    page: int | None = None,
    retry: RetryPolicy | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncGenerator[CandleBatch, None]:
    """Every candle opening in ``[since, until)``, page by page, in order.

    Up to ``concurrency`` pages are in flight (ccxt's rate limiter, when on, still paces the
    requests). Use it inside ``contextlib.aclosing`` (or exhaust it): leaving early cancels
    the pages in flight. Start ``since`` at or after :meth:`ExchangeClient.earliest_candle`,
    or the windows before the listing come back empty one by one.
    """
    tf = client.check_timeframe(timeframe)
    if until <= since:
        raise InvalidTimeRangeError(f"{client.id} {symbol} {timeframe}: until must follow since")
    if concurrency < 1:
        raise ValueError(f"concurrency={concurrency}: expected at least 1")
    await client.check_symbol(symbol)
    size = min(page or client.page_limit, client.page_limit)
    windows = page_windows(tf, since, until, size)

    def start(window: tuple[int, int]) -> asyncio.Task[CandleBatch]:
        coro = client.fetch_candles(
            symbol, timeframe, window[0], size, window[1], retry=retry, on_retry=on_retry
        )
        return asyncio.ensure_future(coro)

    pending: deque[asyncio.Task[CandleBatch]] = deque()
    try:
        for window in windows:
            pending.append(start(window))
            if len(pending) >= concurrency:
                break
        while pending:
            batch = await pending.popleft()
            following = next(windows, None)
            if following is not None:
                pending.append(start(following))
            yield batch
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            for task in pending:  # retrieve outcomes so none is reported as never retrieved
                if not task.cancelled():
                    task.exception()
