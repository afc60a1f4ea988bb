"""History arithmetic, free of any client: the search for the earliest candle, and the
windows that page a time range (see :mod:`.pages` for fetching them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from ohlcv_workbench.records import CandleBatch
from ohlcv_workbench.timeframes import Timeframe

__all__ = ["find_earliest", "page_windows"]

Probe = Callable[[int, int], Awaitable[CandleBatch]]


async def find_earliest(probe: Probe, page: int, now: int, tf: Timeframe) -> int | None:
    """Open time of the first candle, with ``probe(since, limit)`` fetching one page.

    A page from time 0 is tried first: exchanges that answer an early ``since`` with their
    first candles are done in one request. Otherwise (pages are windows from ``since``) a
    binary search finds the first window holding candles: about log2(now / window) probes.
    """
    first = await probe(0, page)
    if len(first):
        return int(first.ts[0])
    window = page * tf.nominal_ms
    hi = max(0, tf.floor(now) - window + tf.nominal_ms)
    found = await probe(hi, page)
    if not len(found):
        return None
    lo = 0  # invariant: no candle in [lo, lo + window); a candle at or after hi
    while hi - lo > window:
        mid = tf.floor((lo + hi) // 2)
        if not lo < mid < hi:
            break
        batch = await probe(mid, page)
        if len(batch):
            hi, found = mid, batch
        else:
            lo = mid
    return int(found.ts[0])


def page_windows(tf: Timeframe, since: int, until: int, page: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` windows of at most ``page`` candle open times covering [since, until)."""
    start = tf.ceil(since)
    while start < until:
        end = min(tf.next(start, page), until)
        yield start, end
        start = end
