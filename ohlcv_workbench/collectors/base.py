"""The collector lifecycle shared by candle and trade collectors.

:meth:`Collector.prepare` checks the request against the exchange (exchange id, timeframe,
symbol, ``since`` not in the future); only then does :meth:`Collector.reserve` take the series
lease (a busy series is refused here) and :meth:`Collector.register` register the process
(STARTING), so bad input and a refused start never reach the registry.
:meth:`Collector.run_opened` goes RUNNING, does the work and always leaves through the
heartbeat's exit: ``stop_process`` with STOPPED ("Collected N candles"), or ERROR with the
reason, and the lease released, whatever the ending.

A stop (``stop()``, a stop request through Redis, or a lost lease) cancels the work between
two store writes: a write that has begun always completes, so what is stored stays exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from ohlcv_workbench.errors import RegistryError, TemporaryExchangeError, TemporaryStoreError
from ohlcv_workbench.exchange import (
    ExchangeClient,
    Pause,
    RetryPolicy,
    describe_retry,
    exchange_hub,
)
from ohlcv_workbench.registry import Heartbeat, ProcessCache, ProcessStatus, ProcessType
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.times import iso

from .progress import Progress
from .spec import CollectorSpec
from .worker import BlockingWorker

if TYPE_CHECKING:
    from ohlcv_workbench.store import CandleStore

__all__ = ["Collector", "CollectorContext", "CollectorState", "Phase"]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: seconds a busy store (TemporaryStoreError) is retried in all, and the waits between tries
STORE_WAIT = 600.0
STORE_FIRST_WAIT = 0.5
STORE_MAX_WAIT = 10.0
#: params that show a retry under way; cleared by the next report that is not about it
RETRYING_PARAMS = ("retrying", "store_retrying")


class Phase(StrEnum):
    """Where a collector is in its life (ProcessCache holds the same as its status)."""

    PENDING = "pending"
    STARTING = "starting"
    BACKFILLING = "backfilling"
    LIVE = "live"
    STOPPED = "stopped"
    ERROR = "error"

    @property
    def ended(self) -> bool:
        """True for STOPPED and ERROR."""
        return self in (Phase.STOPPED, Phase.ERROR)


@dataclass
class CollectorState:
    """What a collector shows of itself: read from any thread, written on its loop."""

    phase: Phase = Phase.PENDING
    message: str = ""
    process_id: str | None = None
    progress: Progress = field(default_factory=Progress)
    stored: int = 0
    last_ts: int | None = None
    error: BaseException | None = None


@dataclass
class CollectorContext:
    """The shared parts collectors run with: settings, registry, store, exchange options.

    ``concurrency`` pages are kept in flight while backfilling; ``retry`` governs temporary
    exchange errors (None: the exchange client's default policy); ``request_timeout`` is in
    seconds per exchange request; ``worker`` runs the blocking store calls (close it at the
    end); ``store_wait`` is how long a busy store is retried, in seconds.
    """

    settings: Settings
    cache: ProcessCache
    store: CandleStore
    rate_limit: bool = True
    concurrency: int = 4
    retry: RetryPolicy | None = None
    heartbeat_interval: float | None = None
    request_timeout: float = 10.0
    worker: BlockingWorker = field(default_factory=BlockingWorker)
    store_wait: float = STORE_WAIT

    @property
    def interval(self) -> float:
        """Seconds between heartbeats."""
        return self.heartbeat_interval or self.settings.heartbeat_interval


class Collector(ABC):
    """Base of :class:`OhlcvCollector` and :class:`TradeCollector` (see the module docstring)."""

    unit = "candles"

    def __init__(self, spec: CollectorSpec, context: CollectorContext) -> None:
        self.spec = spec
        self.context = context
        self.state = CollectorState(progress=Progress(unit=self.unit))
        self._stack = contextlib.AsyncExitStack()
        self._hb: Heartbeat | None = None
        self._reserved: Heartbeat | None = None  # lease taken, not registered yet
        self._ex: ExchangeClient | None = None
        self._stop = asyncio.Event()
        self._opened = False
        self._retrying: set[str] = set()  # RETRYING_PARAMS the record shows now
        self._paused: str | None = None  # the pause in force, as the heartbeat shows it
        #: temporary exchange errors retried so far (the ``retries`` param)
        self.retries = 0
        #: busy-store waits so far (the ``store_retries`` param)
        self.store_retries = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} {self.state.phase.value}>"

    @property
    def exchange(self) -> ExchangeClient:
        """The shared exchange client (after :meth:`prepare`)."""
        if self._ex is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._ex

    @property
    def heartbeat(self) -> Heartbeat:
        """The heartbeat (after :meth:`register`)."""
        if self._hb is None:
            raise RuntimeError(f"{self!r} is not open")
        return self._hb

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> CollectorState:
        """Prepare, register, collect until done or stopped, and close; the final state."""
        await self.prepare()
        await self.register()
        return await self.run_opened()

    async def prepare(self) -> None:
        """Open the exchange and validate the request against it; nothing is registered.

        Raises InputError (bad exchange, symbol, timeframe or range) or an exchange error.
        """
        if self._opened:
            raise RuntimeError(f"{self!r} was opened already")
        self._opened = True
        self.state.phase = Phase.STARTING
        try:
            hub = exchange_hub()
            ex = await hub.acquire(
                self.spec.exchange,
                rate_limit=self.context.rate_limit,
                settings=self.context.settings,
                retry=self.context.retry,
                request_timeout=self.context.request_timeout,
            )
            self._ex = ex
            self._stack.push_async_callback(hub.release, ex)
            self._stack.callback(ex.gate.subscribe(self._on_pause))
            await self.validate(ex)
        except BaseException as exc:
            await self.discard(exc)
            raise

    async def reserve(self) -> None:
        """Take the series lease, after :meth:`prepare`; nothing is registered yet.

        Raises SeriesBusyError naming the holder when another collector has the series.
        """
        if self._reserved is not None:
            return
        params = {**self.spec.params(), "pid": os.getpid()}
        hb = Heartbeat(
            self.context.cache,
            ProcessType.OHLCV,
            self.spec.component,
            params,
            interval=self.context.interval,
            message=f"Starting {self.spec}",
            lease=self.spec.series,
        )
        try:
            await hb.acquire_lease()
        except BaseException as exc:
            await self.discard(exc)
            raise
        self._reserved = hb
        self._stack.push_async_callback(hb.release_lease)  # a no-op once registered and ended

    async def register(self) -> None:
        """Register the process (STARTING) under the series lease (taken now unless
        :meth:`reserve` took it), after :meth:`prepare`.

        Raises SeriesBusyError naming the holder when another collector has the series.
        """
        await self.reserve()
        hb = self._reserved
        assert hb is not None
        try:
            self._hb = await self._stack.enter_async_context(hb)
        except BaseException as exc:
            await self.discard(exc)
            raise
        self.state.process_id = hb.process_id
        pause = self.exchange.gate.pause_in_force
        if pause is not None:
            self._on_pause(pause)

    async def discard(self, exc: BaseException | None = None) -> None:
        """Give up a prepared collector (releases the exchange); ``exc`` is why."""
        self._fail(exc or asyncio.CancelledError())
        await self._stack.aclose()

    async def run_opened(self) -> CollectorState:
        """Collect (after :meth:`prepare` and :meth:`register`) and always close; the final state.

        Raises what ended the work (after recording ERROR), or CancelledError.
        """
        hb = self.heartbeat
        try:
            await hb.set_status(ProcessStatus.RUNNING, f"Running {self.spec}")
            stopped_by = await self._until_stopped(self.collect())
            if stopped_by == "lease":
                raise RegistryError(f"the lease of {self.spec.series} was taken by another holder")
            hb.final_message = self.final_message(stopped_by)
        except BaseException as exc:
            self._fail(exc)
            await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await self._stack.aclose()
        self.state.message = hb.final_message
        self.state.phase = Phase.STOPPED
        return self.state

    def stop(self) -> None:
        """Ask the collector to stop (from the loop's thread); the work ends at once."""
        self._stop.set()

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self.state.phase, self.state.message = Phase.STOPPED, "Cancelled"
        else:
            self.state.phase, self.state.message = Phase.ERROR, f"{type(exc).__name__}: {exc}"
            self.state.error = exc

    async def _until_stopped(self, work: Awaitable[None]) -> str | None:
        """Run ``work`` until it ends or a stop comes; what stopped it (None: it ended)."""
        hb = self.heartbeat
        task = asyncio.ensure_future(work)
        stops = {
            "stop": asyncio.ensure_future(self._stop.wait()),
            "request": asyncio.ensure_future(hb.stop_requested.wait()),
            "lease": asyncio.ensure_future(hb.lease_lost.wait()),
        }
        try:
            await asyncio.wait({task, *stops.values()}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in stops.values():
                waiter.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})  # the work finishes its store write first
        if not task.cancelled():
            task.result()  # raises what ended the work
            return None
        return next(
            name for name, waiter in stops.items() if waiter.done() and not waiter.cancelled()
        )

    # -- for subclasses ----------------------------------------------------------------------
    @abstractmethod
    async def validate(self, ex: ExchangeClient) -> None:
        """Check the request against the exchange; raise before anything is registered."""

    @abstractmethod
    async def collect(self) -> None:
        """The work: return when done (backfill) or run until cancelled (live)."""

    def final_message(self, stopped_by: str | None) -> str:
        """The message recorded with STOPPED."""
        done = f"Collected {self.state.stored:,} {self.unit}"
        if stopped_by == "stop":
            return f"Stopped: {done}"
        if stopped_by == "request":
            return f"Stopped on request: {done}"
        return done

    def report(self, message: str, **params: Any) -> None:
        """Show ``message`` (and params) in the state now and in the next heartbeat.

        The ``retrying`` / ``store_retrying`` param of an earlier retry is cleared by the next
        report that is not about it: once the exchange (the store) answers again, the record
        no longer says so. While the exchange client is paused, every message leads with the
        pause.
        """
        for name in self._retrying - params.keys():
            params[name] = None
        self._retrying = {name for name in RETRYING_PARAMS if params.get(name) is not None}
        if self._paused is not None and "paused_until" not in params:
            message = f"{self._paused} | {message}"
        self.state.message = message
        hb = self._hb or self._reserved
        if hb is not None:  # during the validation nothing is registered yet to report to
            hb.report(message, **params)

    def on_retry(self, attempt: int, error: TemporaryExchangeError, wait: float) -> None:
        """Retry hook for the exchange client: the heartbeat shows the retrying."""
        policy = self.context.retry or self.exchange.retry
        self.retries += 1
        message = describe_retry(attempt, error, wait, policy.attempts)
        self.report(message, retrying=attempt, retries=self.retries)
        log.info("%s: %s", self.spec, self.state.message)

    def _on_pause(self, pause: Pause | None) -> None:
        """The exchange client paused (a ban) or resumed: the heartbeat says so."""
        if self._hb is None:
            return  # not registered yet: :meth:`register` shows a pause in force
        if pause is None:
            self._paused = None
            self.report(f"Resumed: {self.exchange.id} answers again", paused_until=None)
            return
        until = iso(pause.until_ms)
        self._paused = (
            f"Paused until {until}: {pause.reason}; every {self.exchange.id} request waits"
        )
        self.report(self._paused, paused_until=until)
        log.info("%s: %s", self.spec, self.state.message)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking store work in the context's worker thread (see :mod:`.worker`).

        A busy store (TemporaryStoreError: another process holds its write lock) is retried
        with backoff for up to ``context.store_wait`` seconds in all, each wait shown in the
        heartbeat (``store_retrying``, ``store_retries``); after that the error ends the
        collector. Writes are upserts, so a retried one stores each candle once.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        wait, attempt = STORE_FIRST_WAIT, 0
        while True:
            try:
                return await self.context.worker.run(fn, *args)
            except TemporaryStoreError as exc:
                waited = loop.time() - started
                if waited + wait > self.context.store_wait:
                    raise
                attempt += 1
                self.store_retries += 1
                self.report(
                    f"Store busy, waited {waited:.0f} s; next try in {wait:.1f} s: {exc}",
                    store_retrying=attempt,
                    store_retries=self.store_retries,
                )
                log.info("%s: %s", self.spec, self.state.message)
                await asyncio.sleep(wait * random.uniform(0.8, 1.0))  # jitter
                wait = min(2 * wait, STORE_MAX_WAIT)
