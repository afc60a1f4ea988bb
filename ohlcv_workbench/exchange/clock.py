"""The exchange's clock, estimated from ``fetch_time``: offset from ours, and its uncertainty."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["ExchangeClock"]


def _local_ms() -> int:
    return time.time_ns() // 1_000_000


class ExchangeClock:
    """Exchange time = local time + ``offset`` (ms), within ``uncertainty`` ms.

    One sample is a ``fetch_time`` call: the server's stamp minus the midpoint of our send and
    receive times; its uncertainty is half the round trip. A server that stamps whole seconds
    (Kraken's ``Time``; assumed while every sample so far fell on a whole second) was somewhere
    in the second after its stamp: half a second more offset, half a second more uncertainty.
    The estimate is refreshed when it is older than ``refresh`` seconds. Without a
    ``fetch_time`` (``fetch=None``: the exchange has none) the local clock is used as it is.
    """

    def __init__(self, fetch: Callable[[], Awaitable[int]] | None, refresh: float = 60.0) -> None:
        self._fetch = fetch
        self.refresh = refresh
        self.offset = 0
        self.uncertainty = 0
        self.last_server_time: int | None = None
        #: milliseconds of the server's stamps (1000 while every sample was a whole second)
        self.resolution = 1
        self._whole_seconds = True
        self._synced_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def stale(self) -> bool:
        """True when a (new) sample is due."""
        if self._fetch is None:
            return False
        return self._synced_at is None or time.monotonic() - self._synced_at >= self.refresh

    def now_ms(self) -> int:
        """The exchange's current time as estimated (the local clock before any sample)."""
        return _local_ms() + self.offset

    def at(self, local_ms: int) -> int:
        """The exchange time at local time ``local_ms``."""
        return local_ms + self.offset

    async def sync(self) -> int:
        """Take a sample now; return the server's time."""
        if self._fetch is None:
            return self.now_ms()
        async with self._lock:
            return await self._sample(self._fetch)

    async def ensure(self) -> None:
        """Take a sample when none is fresh (concurrent callers share one)."""
        if not self.stale:
            return
        async with self._lock:
            if self.stale and self._fetch is not None:
                await self._sample(self._fetch)

    async def _sample(self, fetch: Callable[[], Awaitable[int]]) -> int:
        sent = _local_ms()
        server = int(await fetch())
        received = _local_ms()
        self._whole_seconds = self._whole_seconds and server % 1000 == 0
        half = 500 if self._whole_seconds else 0
        self.resolution = 1000 if self._whole_seconds else 1
        self.offset = server + half - (sent + received) // 2
        self.uncertainty = (received - sent + 1) // 2 + half
        self.last_server_time = server
        self._synced_at = time.monotonic()
        return server
