"""Hosting collectors in one process: start, stop, list, wait, and the host's own heartbeat.

The host registers itself in ProcessCache (the CLI as ``ohlcv_daemon`` with its pid and
args, a notebook kernel under a component of its own) and beats with the number of collectors
it runs. A stop request for the host (``ohlcv-workbench stop ohlcv_daemon``) stops every
collector it hosts; :meth:`CollectorManager.aclose` does the same at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, get_args

from ohlcv_workbench.errors import SeriesBusyError
from ohlcv_workbench.registry import Heartbeat, LeaseHolder, ProcessStatus, ProcessType, SeriesLease

from .base import Collector, CollectorContext, CollectorState
from .ohlcv import OhlcvCollector
from .spec import CollectorKind, CollectorSpec
from .trades import TradeCollector

__all__ = ["Busy", "CollectorManager", "RegisterHost", "collector_for"]

log = logging.getLogger(__name__)

#: when the host registers: at once, or once a first collector passed its validation
RegisterHost = Literal["now", "first_start"]

#: seconds a stop waits for a collector to end before cancelling it
STOP_TIMEOUT = 10.0
#: a spec whose series another collector holds, and the error naming that holder
Busy = tuple[CollectorSpec, SeriesBusyError]


def collector_for(spec: CollectorSpec, context: CollectorContext) -> Collector:
    """The collector class of ``spec.kind``."""
    if spec.kind is CollectorKind.TRADES:
        return TradeCollector(spec, context)
    return OhlcvCollector(spec, context)


class CollectorManager:
    """Runs collectors as tasks of the current event loop (see the module docstring).

    ``async with CollectorManager(context, "ohlcv_daemon", {"args": argv}) as manager:``

    ``register_host="first_start"`` registers the host only once a first collector passed
    its validation, so a run with bad input leaves nothing in Redis (the CLI).
    """

    def __init__(
        self,
        context: CollectorContext,
        host_component: str,
        host_params: Mapping[str, Any] | None = None,
        *,
        register_host: RegisterHost = "now",
    ) -> None:
        if register_host not in get_args(RegisterHost):
            raise ValueError(f"register_host={register_host!r}: expected 'now' or 'first_start'")
        self.context = context
        self._register_now = register_host == "now"
        self._host_registered = False
        self._hb = Heartbeat(
            context.cache,
            ProcessType.OHLCV,
            host_component,
            host_params,
            interval=context.interval,
            message="Collector host starting",
        )
        self._tasks: dict[Collector, asyncio.Task[CollectorState]] = {}
        self._watch: asyncio.Task[None] | None = None
        #: set once every collector was stopped because the host was asked to stop
        self.stop_requested = asyncio.Event()

    @property
    def process_id(self) -> str:
        """The host's process id."""
        return self._hb.process_id

    async def __aenter__(self) -> Self:
        if self._register_now:
            await self._register_host()
        return self

    async def _register_host(self) -> None:
        if self._host_registered:
            return
        self._host_registered = True
        await self._hb.__aenter__()
        await self._hb.set_status(ProcessStatus.RUNNING, "Hosting 0 collectors")
        self._watch = asyncio.create_task(self._watch_stop(), name="collector host stop watch")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop_all()
        finally:
            if self._watch is not None:
                self._watch.cancel()
                await asyncio.wait({self._watch})
            if self._host_registered:
                self._hb.final_message = "Collector host stopped"
                await self._hb.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Stop every collector and the host's heartbeat."""
        await self.__aexit__(None, None, None)

    async def _watch_stop(self) -> None:
        await self._hb.stop_requested.wait()
        log.info("the collector host was asked to stop")
        await self.stop_all()
        self.stop_requested.set()

    # -- collectors --------------------------------------------------------------------------
    async def start(self, spec: CollectorSpec) -> Collector:
        """Open a collector (validation, registration, lease) and run it as a task.

        Errors of the opening (bad input, busy series, exchange down) are raised here.
        """
        return (await self.start_many([spec]))[0]

    async def start_many(self, specs: Sequence[CollectorSpec]) -> list[Collector]:
        """Validate every spec and take every series lease first, then register and run them.

        When one is invalid or its series is busy (SeriesBusyError naming the holder), nothing
        is registered: neither a collector nor, with ``register_host="first_start"``, the host.
        """
        started, busy = await self._start(specs, skip_busy=False)
        assert not busy
        return started

    async def start_free(
        self, specs: Sequence[CollectorSpec]
    ) -> tuple[list[Collector], list[Busy]]:
        """As :meth:`start_many`, but a busy series is skipped: the collectors started, and
        each spec collected elsewhere with its SeriesBusyError (naming the holder)."""
        return await self._start(specs, skip_busy=True)

    async def holder(self, spec: CollectorSpec) -> LeaseHolder | None:
        """Who holds the lease of ``spec``'s series now (None: it is free)."""
        lease = SeriesLease(self.context.cache.client, spec.series, "", ttl=1.0)
        return await lease.holder()

    async def _start(
        self, specs: Sequence[CollectorSpec], *, skip_busy: bool
    ) -> tuple[list[Collector], list[Busy]]:
        collectors = [collector_for(spec, self.context) for spec in specs]
        prepared: list[Collector] = []
        busy: list[Busy] = []
        try:
            for collector in collectors:
                await collector.prepare()
                prepared.append(collector)
            for collector in collectors:
                try:
                    await collector.reserve()
                except SeriesBusyError as exc:  # the busy collector has ended already
                    if not skip_busy:
                        raise
                    busy.append((collector.spec, exc))
        except BaseException:
            for collector in prepared:
                if not collector.state.phase.ended:  # the one that failed has ended already
                    await collector.discard()
            raise
        free = [c for c in collectors if not c.state.phase.ended]
        if not free:  # every series is collected elsewhere: nothing is registered
            return [], busy
        await self._register_host()
        for index, collector in enumerate(free):
            try:
                await collector.register()
            except BaseException:
                for rest in free[index + 1 :]:
                    await rest.discard()
                raise
            task = asyncio.create_task(collector.run_opened(), name=f"collector {collector.spec}")
            self._tasks[collector] = task
            task.add_done_callback(self._ended)
        self._report()
        return free, busy

    def _ended(self, task: asyncio.Task[CollectorState]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s ended with %s: %s", task.get_name(), type(exc).__name__, exc)
        self._report()

    def _report(self) -> None:
        if self._host_registered:
            running = sum(not task.done() for task in self._tasks.values())
            self._hb.report(f"Hosting {running} collectors", collectors=running)

    def collectors(self) -> list[Collector]:
        """Every collector started here, oldest first (ended ones included)."""
        return list(self._tasks)

    def running(self) -> list[Collector]:
        """The collectors still running."""
        return [c for c, task in self._tasks.items() if not task.done()]

    def task(self, collector: Collector) -> asyncio.Task[CollectorState]:
        """The task running ``collector``."""
        return self._tasks[collector]

    async def wait(self, collector: Collector) -> CollectorState:
        """Wait for ``collector`` to end; its final state.

        An error that ended the collector is in ``state.error``, not raised here.
        """
        await asyncio.wait({self._tasks[collector]})
        return collector.state

    async def stop(self, collector: Collector, grace: float = STOP_TIMEOUT) -> CollectorState:
        """Stop ``collector`` and wait until it has ended (cancelled after ``grace`` s)."""
        task = self._tasks[collector]
        collector.stop()
        await asyncio.wait({task}, timeout=grace)
        if not task.done():
            log.warning("%s did not stop within %.0f s; cancelling it", collector.spec, grace)
            task.cancel()
            await asyncio.wait({task})
        return collector.state

    async def stop_all(self, grace: float = STOP_TIMEOUT) -> None:
        """Stop every running collector, all at once."""
        running = self.running()
        if running:
            await asyncio.gather(*(self.stop(c, grace) for c in running))
