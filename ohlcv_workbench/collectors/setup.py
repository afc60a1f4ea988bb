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
        the exchange and Redis clients."""
        try:
            tb = None if exc is None else exc.__traceback__
            await self.manager.__aexit__(None if exc is None else type(exc), exc, tb)
        finally:
            try:
                await close_exchanges()
            finally:
                await self.cache.aclose()

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
