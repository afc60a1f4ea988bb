"""The workbench: what an analyst drives from a notebook or a script.

``Workbench`` owns one event loop in a background thread (:mod:`.runtime`) and one collection
setup (:class:`~ohlcv_workbench.collectors.CollectionSetup`) on it.

::

    from ohlcv_workbench import Workbench

    wb = Workbench()                                        # embedded Redis + store, loop thread
    h = wb.start_collector("sim", "BTC/USDT", "1m", since="2026-11-01", until="2026-11-02")
    h.wait()                                                # or: await h.wait_async()
    wb.candles("sim", "BTC/USDT", "1h")                     # resampled on read
    wb.processes()                                          # every process in this Redis
    wb.close()                                              # also done at interpreter exit

Collectors, ccxt and the Redis client live on the workbench's loop, so heartbeats go on while a
cell blocks; every method can be called from any thread (widget callbacks included). It works
the same in a plain script. Store reads run in the calling thread (SQLite allows it).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import sys
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ohlcv_workbench.collectors import CollectionSetup, Collector, CollectorKind, CollectorSpec
from ohlcv_workbench.exchange import ExchangeClient, RetryPolicy, exchange_hub
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import (
    ProcessInfo,
    list_processes,
    processes_frame,
    request_stop,
)
from ohlcv_workbench.runtime import CollectorHandle, LoopThread
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import QualityReport
from ohlcv_workbench.times import TimeLike

if TYPE_CHECKING:
    import pandas as pd

    from ohlcv_workbench.widgets import Dashboard

__all__ = ["Workbench"]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: seconds to open the runtime (may start the embedded Redis server)
OPEN_TIMEOUT = 60.0


class Workbench:
    """Collectors, their heartbeats and the store, driven from a notebook or a script.

    ``rate_limit`` turns ccxt's rate limiter on or off for the exchanges opened here;
    ``concurrency`` is the number of pages in flight per backfill; ``retry`` the policy for
    temporary exchange errors; ``heartbeat_interval`` overrides the settings' interval;
    ``request_timeout`` is in seconds per exchange request.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        rate_limit: bool = True,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        heartbeat_interval: float | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._handles: dict[Collector, CollectorHandle] = {}
        self._exchanges: dict[str, ExchangeClient] = {}
        self._closed = False
        self._close_lock = threading.Lock()
        host = f"workbench.{socket.gethostname()}.{os.getpid()}"
        params = {"pid": os.getpid(), "host": socket.gethostname(), "args": sys.argv[:1]}
        self.setup = CollectionSetup(
            self.settings, host, params, rate_limit=rate_limit, concurrency=concurrency,
            retry=retry, heartbeat_interval=heartbeat_interval, request_timeout=request_timeout,
        )  # fmt: skip
        self.store = self.setup.store
        self.cache = self.setup.cache
        self.manager = self.setup.manager
        self.runtime = LoopThread()
        try:
            self.runtime.run(self.setup.open(), OPEN_TIMEOUT)
        except BaseException as exc:
            try:
                self.runtime.run(self.setup.aclose(exc), OPEN_TIMEOUT)
            finally:
                self.runtime.stop()
                self.setup.close()
            raise
        finalizer = weakref.WeakMethod(self.close)
        self._atexit = lambda: (fn := finalizer()) is not None and fn()
        atexit.register(self._atexit)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.manager.running())} collectors running"
        return f"<Workbench {self.settings.data_dir} {state}>"

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def process_id(self) -> str:
        """The ProcessCache id of this workbench (the host of its collectors)."""
        return self.manager.process_id

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the workbench's loop and wait for its result."""
        return self.runtime.run(coro, timeout)

    # -- collectors --------------------------------------------------------------------------
    def start_collector(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        trades: bool = False,
    ) -> CollectorHandle:
        """Start collecting a series; the handle once it is registered and running.

        Without ``until`` the collector backfills and then follows live candles. ``trades``
        collects the symbol's public trades instead of candles. Bad input (unknown exchange,
        symbol or timeframe; since in the future; until not after since) and a series already
        being collected raise here, before anything is registered.
        """
        spec = self._spec(exchange, symbol, timeframe, since, until, trades)
        return self._handle(self.runtime.run(self.manager.start(spec), OPEN_TIMEOUT))

    async def start_collector_async(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        trades: bool = False,
    ) -> CollectorHandle:
        """Awaitable :meth:`start_collector` (top-level ``await`` in a notebook)."""
        spec = self._spec(exchange, symbol, timeframe, since, until, trades)
        return self._handle(await self.runtime.run_async(self.manager.start(spec)))

    @staticmethod
    def _spec(
        exchange: str,
        symbol: str,
        timeframe: str,
        since: TimeLike | None,
        until: TimeLike | None,
        trades: bool,
    ) -> CollectorSpec:
        kind = CollectorKind.TRADES if trades else CollectorKind.OHLCV
        return CollectorSpec.create(exchange, symbol, timeframe, since, until, kind=kind)

    def _handle(self, collector: Collector) -> CollectorHandle:
        handle = self._handles.get(collector)
        if handle is None:
            handle = self._handles[collector] = CollectorHandle(
                collector, self.manager, self.runtime
            )
        return handle

    def collectors(self, *, running_only: bool = False) -> list[CollectorHandle]:
        """Handles of the collectors started here (oldest first)."""
        found = self.manager.running() if running_only else self.manager.collectors()
        return [self._handle(c) for c in found]

    def stop_all(self, grace: float = 10.0) -> None:
        """Stop every collector started here and wait until they have ended."""
        self.runtime.run(self.manager.stop_all(grace))

    def request_stop(self, target: str) -> str:
        """Ask any process (by id or component, possibly in another process) to stop."""
        return self.runtime.run(request_stop(self.cache, target))

    # -- exchanges ---------------------------------------------------------------------------
    def exchange(self, exchange_id: str) -> ExchangeClient:
        """The loop's shared client of ``exchange_id`` (markets, timeframes), held open by the
        workbench until :meth:`close`; call its coroutines through :meth:`run`."""
        client = self._exchanges.get(exchange_id)
        if client is None or client.closed:

            async def acquire() -> ExchangeClient:
                return await exchange_hub().acquire(exchange_id, settings=self.settings)

            client = self._exchanges[exchange_id] = self.runtime.run(acquire(), OPEN_TIMEOUT)
        return client

    # -- processes ---------------------------------------------------------------------------
    def process_infos(self, *, ended_within: float | None = None) -> list[ProcessInfo]:
        """Every process in this Redis with heartbeat age and the STALE flag."""
        return self.runtime.run(list_processes(self.cache, ended_within=ended_within))

    def processes(self, *, ended_within: float | None = None) -> pd.DataFrame:
        """:meth:`process_infos` as a DataFrame (other kernels, CLI daemons, fullon too)."""
        return processes_frame(self.process_infos(ended_within=ended_within))

    # -- the store ---------------------------------------------------------------------------
    def candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        partial: bool = False,
    ) -> pd.DataFrame:
        """Stored candles in ``[start, end)``; resampled on read from a finer stored series.

        Only complete buckets of a resampled series unless ``partial=True``.
        """
        source = self.store.ohlcv_source(exchange, symbol, timeframe)
        target = None if source.timeframe == timeframe else timeframe
        return self.store.ohlcv_load(source, start, end, timeframe=target, partial=partial)

    def quality(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> QualityReport:
        """The data-quality report of a stored series."""
        return self.store.ohlcv_quality(SeriesKey(exchange, symbol, timeframe), start, end)

    def inventory(self) -> pd.DataFrame:
        """Every stored series: exchange, symbol, timeframe, first, last, count."""
        return self.store.ohlcv_inventory_frame()

    def trades(
        self, exchange: str, symbol: str, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Stored public trades in ``[start, end)``."""
        return self.store.trades_load(exchange, symbol, start, end)

    # -- widgets -----------------------------------------------------------------------------
    def dashboard(self, *, interval: float = 1.0, **options: Any) -> Dashboard:
        """The notebook dashboard: collector panel, heartbeat monitor, candle chart and log.

        ``interval``: seconds between monitor refreshes (at least 0.5); ``options`` go to
        :class:`~ohlcv_workbench.widgets.Dashboard`. Its watchers are tasks on this workbench's
        loop, so :meth:`close` stops them too.
        """
        from ohlcv_workbench.widgets import Dashboard  # ipywidgets and plotly load on first use

        return Dashboard(self, interval=interval, **options)

    # -- the end -----------------------------------------------------------------------------
    def close(self, timeout: float = 30.0) -> None:
        """Stop every collector (STOPPED in ProcessCache), the host record, the loop; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._atexit)
        try:
            if self.runtime.running:
                self.runtime.run(self.setup.aclose(), timeout)
        finally:
            self.runtime.stop()
            self.setup.close()
