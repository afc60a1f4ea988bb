"""A handle on a collector running in the workbench's loop, usable from any thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohlcv_workbench.collectors import Collector, CollectorState, Phase, Progress

if TYPE_CHECKING:
    from ohlcv_workbench.collectors import CollectorManager, CollectorSpec

    from .loop import LoopThread

__all__ = ["CollectorHandle"]


class CollectorHandle:
    """What :meth:`Workbench.start_collector` returns: state now, wait, stop.

    ``wait``/``stop`` block the calling thread; ``wait_async``/``stop_async`` are awaitable
    from any other event loop (a notebook's top-level ``await``).
    """

    def __init__(self, collector: Collector, manager: CollectorManager, loop: LoopThread) -> None:
        self._collector = collector
        self._manager = manager
        self._loop = loop

    def __repr__(self) -> str:
        return (
            f"<CollectorHandle {self.spec} {self.process_id} {self.status.value}: {self.message}>"
        )

    @property
    def spec(self) -> CollectorSpec:
        """What was asked for."""
        return self._collector.spec

    @property
    def process_id(self) -> str | None:
        """The ProcessCache id."""
        return self._collector.state.process_id

    @property
    def component(self) -> str:
        """The ProcessCache component (``ohlcv.{exchange}.{symbol}``)."""
        return self._collector.spec.component

    @property
    def status(self) -> Phase:
        """pending, starting, backfilling, live, stopped or error."""
        return self._collector.state.phase

    @property
    def message(self) -> str:
        """The latest heartbeat message."""
        return self._collector.state.message

    @property
    def progress(self) -> Progress:
        """Backfill progress: done/total, rate, ETA."""
        return self._collector.state.progress

    @property
    def stored(self) -> int:
        """Candles (or trades) stored by this collector."""
        return self._collector.state.stored

    @property
    def error(self) -> BaseException | None:
        """What ended the collector in ERROR, if anything."""
        return self._collector.state.error

    @property
    def done(self) -> bool:
        """True once the collector has ended."""
        return self._collector.state.phase.ended

    def wait(self, timeout: float | None = None) -> CollectorState:
        """Block until the collector ends; its final state (TimeoutError after ``timeout``)."""
        return self._loop.run(self._manager.wait(self._collector), timeout)

    async def wait_async(self) -> CollectorState:
        """Awaitable :meth:`wait` (wrap it in ``asyncio.timeout`` to bound it)."""
        return await self._loop.run_async(self._manager.wait(self._collector))

    def stop(self, grace: float = 10.0) -> CollectorState:
        """Stop the collector and block until it has ended (cancelled after ``grace`` s)."""
        return self._loop.run(self._manager.stop(self._collector, grace))

    async def stop_async(self, grace: float = 10.0) -> CollectorState:
        """Awaitable :meth:`stop`."""
        return await self._loop.run_async(self._manager.stop(self._collector, grace))

    def raise_for_error(self) -> None:
        """Raise what ended the collector in ERROR (nothing otherwise)."""
        if self._collector.state.error is not None:
            raise self._collector.state.error
