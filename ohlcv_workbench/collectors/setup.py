"""One collection setup: the store, the registry client, the collectors' context and their host.

The notebook runtime (:class:`~ohlcv_workbench.Workbench`) and the CLI's ``collect``
both host collectors; this is the one place that builds those parts and shuts them down, in
this order::

    setup = CollectionSetup(settings, "ohlcv_daemon", {"pid": os.getpid(), "args": argv})
    async with setup:                      # on the loop that runs the collectors
        collector = await setup.manager.start(spec)
        ...
    # leaving stops every collector (STOPPED in ProcessCache), the host record, the shared
    # exchange clients and the Redis client, then the store's worker thread and the store

A host whose loop lives in another thread (the Workbench) calls :meth:`open` and
:meth:`aclose` on that loop and :meth:`close` from its own thread once the loop has stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from ohlcv_workbench.exchange import RetryPolicy, close_exchanges
from ohlcv_workbench.registry import ProcessCache
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import CandleStore, open_store

from .base import CollectorContext
from .manager import CollectorManager, RegisterHost

__all__ = ["CollectionSetup"]

log = logging.getLogger(__name__)

#: at shutdown, ends that wait for Redis get this many heartbeat intervals (at least the min)
END_WAIT_BEATS = 5
END_WAIT_MIN = 2.0


class CollectionSetup:
    """The parts collectors run with, built in one order and shut down in the reverse one.

    ``host_component`` / ``host_params`` register the hosting process (see
    :class:`CollectorManager`); the other options go to :class:`CollectorContext`. The store
    is opened here (ConfigError / StoreError for an unusable store URL, before anything else).
    """

    def __init__(
        self,
        settings: Settings,
        host_component: str,
        host_params: Mapping[str, Any] | None = None,
        *,
        register_host: RegisterHost = "now",
        rate_limit: bool = True,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        heartbeat_interval: float | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.store: CandleStore = open_store(settings)
        self.cache = ProcessCache(settings=settings)
        self.context = CollectorContext(
            settings, self.cache, self.store, rate_limit=rate_limit, concurrency=concurrency,
            retry=retry, heartbeat_interval=heartbeat_interval, request_timeout=request_timeout,
        )  # fmt: skip
        self.manager = CollectorManager(
            self.context, host_component, host_params, register_host=register_host
        )

    async def open(self) -> None:
        """Enter the host (registering it now unless ``register_host="first_start"``)."""
        await self.manager.__aenter__()

    async def aclose(self, exc: BaseException | None = None) -> None:
        """Stop every collector and the host (in ERROR with ``exc`` when given), then close
        the exchange and Redis clients.

        Ends that found Redis unreachable are waited for a few heartbeat intervals; what is
        still unwritten then is left to the stale cleanup (logged).
        """
        try:
            tb = None if exc is None else exc.__traceback__
            await self.manager.__aexit__(None if exc is None else type(exc), exc, tb)
        finally:
            try:
                await close_exchanges()
                await self._flush_registry()
            finally:
                await self.cache.aclose()

    async def _flush_registry(self) -> None:
        if not self.cache.later:
            return
        wait = max(END_WAIT_MIN, END_WAIT_BEATS * self.context.interval)
        left = await self.cache.later.flush(wait, give_up=True)
        if left:
            log.warning(
                "Redis is still unreachable after %.0f s: %d registry writes (process ends, "
                "lease releases) are given up; those processes show as STALE until the stale "
                "cleanup", wait, left,
            )  # fmt: skip

    def close(self) -> None:
        """Finish the store's queued writes and close it (after :meth:`aclose`, off the loop
        or on it: the worker joins its thread)."""
        try:
            self.context.worker.close()
        finally:
            self.store.close()

    async def __aenter__(self) -> Self:
        try:
            await self.open()
        except BaseException as exc:
            await self._shut(exc)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shut(exc)

    async def _shut(self, exc: BaseException | None) -> None:
        try:
            await self.aclose(exc)
        finally:
            self.close()
