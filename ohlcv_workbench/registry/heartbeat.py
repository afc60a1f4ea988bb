"""Heartbeats for long-running work: register, beat from a task of its own, always stop.

    async with Heartbeat(cache, ProcessType.OHLCV, series.component, params,
                         interval=settings.heartbeat_interval, lease=series) as hb:
        await hb.set_status(ProcessStatus.RUNNING, "Collecting")
        while not hb.stop_requested.is_set() and not hb.lease_lost.is_set():
            ...                                    # the work
            hb.report("Fetched 1000 candles", done=n, total=total)

Each beat is one round trip (a Lua script): the update, the check for a stop request (see
:func:`~ohlcv_workbench.registry.request_stop`) and the lease renewal. A Redis outage
never stops the work: a failed beat is logged and retried on the next one, and a record that
vanished is written back with the same process id. Leaving the block stops the process: with
``final_message`` normally, in ERROR with the reason when the block raised, with "Cancelled"
when it was cancelled; the exception always propagates. An end that finds Redis unreachable
is written once it is back (in the background, bounded: see :mod:`.later`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from ohlcv_workbench.errors import InputError, RegistryError, RegistryUnavailableError
from ohlcv_workbench.records import SeriesKey

from .cache import ProcessCache
from .keys import data_key, stop_request_key
from .leases import LeaseHolder, SeriesLease
from .records import (
    ProcessStatus,
    ProcessType,
    check_component,
    check_message,
    check_process_type,
    check_status,
    encode_params,
    update_record_args,
)
from .wire import BEAT, registry_errors

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)

TASK_STOP_TIMEOUT = 5.0  # seconds to wait for the cancelled beat task


class Heartbeat:
    """Registers a process, beats every ``interval`` seconds, and stops it on exit.

    ``lease``: a series to hold a :class:`~ohlcv_workbench.registry.SeriesLease` on while the
    block runs (taken before registering: a second collector gets SeriesBusyError naming the
    holder); ``lease_ttl`` defaults to ``max(5 * interval, 1)`` seconds. :meth:`report` is meant
    to be called from the event loop's thread.
    """

    def __init__(
        self,
        cache: ProcessCache,
        process_type: ProcessType,
        component: str,
        params: Mapping[str, Any] | None = None,
        *,
        interval: float,
        message: str | None = None,
        lease: SeriesKey | None = None,
        lease_ttl: float | None = None,
    ) -> None:
        self.process_type = check_process_type(process_type)
        self.component = check_component(component)
        encode_params(params)
        self.params = dict(params or {})
        self.message = check_message(message)
        if not isinstance(interval, int | float) or not math.isfinite(interval) or interval <= 0:
            raise InputError(f"interval must be a positive number of seconds, got {interval!r}")
        if lease is not None and not isinstance(lease, SeriesKey):
            raise TypeError(f"lease must be a SeriesKey or None, got {lease!r}")
        self.interval = float(interval)
        self.series = lease
        self.lease_ttl = float(lease_ttl) if lease_ttl is not None else max(5 * interval, 1.0)
        self.cache = cache
        #: the message of a normal end; the worker may change it
        self.final_message = "Collector stopped"
        #: set when someone asked this process to stop through Redis
        self.stop_requested = asyncio.Event()
        #: set when the series lease is held by someone else now
        self.lease_lost = asyncio.Event()
        #: successful beats so far
        self.beats = 0
        self._process_id: str | None = None
        self._record: dict[str, Any] = {}  # what Redis should hold; written back if it vanishes
        self._lease: SeriesLease | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending_status: ProcessStatus | None = None
        self._pending_message: str | None = None
        self._pending_params: dict[str, str] = {}  # JSON-encoded values
        self._failing = False
        self._closing = False

    @property
    def process_id(self) -> str:
        """The registered process id (inside the ``async with`` block)."""
        if self._process_id is None:
            raise RuntimeError("the heartbeat has not registered yet: use `async with`")
        return self._process_id

    # -- entering and leaving ----------------------------------------------------------------
    async def acquire_lease(self) -> None:
        """Take the series lease now, before anything is registered (idempotent).

        SeriesBusyError names the holder. Entering the block registers the process under the
        lease; a lease taken for a block that is never entered is given back by
        :meth:`release_lease`.
        """
        if self.series is None or self._lease is not None:
            return
        client = await self.cache.connect()
        lease = SeriesLease(client, self.series, LeaseHolder.here(""), self.lease_ttl)
        await lease.acquire()
        self._lease = lease

    async def release_lease(self) -> None:
        """Give the lease back (idempotent; leaving the block does it too).

        While Redis cannot be reached it is given back once Redis is back (or expires).
        """
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await lease.release()
        except RegistryUnavailableError:
            self.cache.later.add(lease.release, f"the release of the lease of {self.series}")
        except RegistryError as exc:
            log.warning("could not release the lease of %s: %s", self.series, exc)

    async def __aenter__(self) -> Self:
        await self.acquire_lease()
        try:
            self._process_id = await self.cache.register_process(
                self.process_type, self.component, self.params, self.message
            )
            if self._lease is not None and not await self._lease.rebind(self._process_id):
                self._lost_lease()
            self._record = await self.cache.get_process(self._process_id) or {}
        except BaseException as exc:
            await self._finish_shielded(exc)
            raise
        for key, value in self._pending_params.items():  # reported before the start
            self._record.setdefault("params", {})[key] = json.loads(value)
        self._task = asyncio.create_task(self._run(), name=f"heartbeat {self.component}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._finish_shielded(exc)

    async def _finish_shielded(self, exc: BaseException | None) -> None:
        # shielded: a second cancellation must not skip stop_process and the lease release
        finish = asyncio.create_task(
            self._finish(*self._outcome(exc)), name=f"heartbeat stop {self.component}"
        )
        await asyncio.shield(finish)

    def _outcome(self, exc: BaseException | None) -> tuple[ProcessStatus, str]:
        if exc is None:
            return ProcessStatus.STOPPED, self.final_message
        if isinstance(exc, asyncio.CancelledError):
            return ProcessStatus.STOPPED, "Cancelled"
        return ProcessStatus.ERROR, f"{type(exc).__name__}: {exc}"

    async def _finish(self, status: ProcessStatus, message: str) -> None:
        try:
            await self._stop_task()
            if self._process_id is not None:
                await self._record_end(self._process_id, status, message)
        finally:
            await self.release_lease()

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TASK_STOP_TIMEOUT
        while not task.done() and loop.time() < deadline:
            # cancel again if a cancellation was lost: on Python 3.11 asyncio.wait_for (used
            # by redis-py) drops one that arrives just as the awaited send completes
            task.cancel()
            await asyncio.wait({task}, timeout=0.05)
        if not task.done():
            log.warning(
                "heartbeat task of %s did not stop within %.0f s", self.component, TASK_STOP_TIMEOUT
            )
        elif not task.cancelled() and task.exception() is not None:
            log.error("heartbeat task of %s failed", self.component, exc_info=task.exception())

    async def _record_end(self, process_id: str, status: ProcessStatus, message: str) -> None:
        """Write the end now, or once Redis is back when it cannot be reached (bounded: see
        :mod:`.later`; a host that exits first leaves the record to the stale cleanup)."""

        async def write() -> None:
            if self._pending_params:  # progress reported since the last beat
                params = {k: json.loads(v) for k, v in self._pending_params.items()}
                await self.cache.update_process(process_id, params=params)
                self._pending_params = {}
            if not await self.cache.stop_process(process_id, message, status=status):
                await self.cache.restore_process(self._current_record())
                await self.cache.stop_process(process_id, message, status=status)

        try:
            await write()
        except RegistryUnavailableError as exc:
            log.warning(
                "the end of %s (%s) is written once Redis is back: %s", process_id, message, exc
            )
            self.cache.later.add(write, f"the end of {process_id} ({message})")
        except RegistryError as exc:
            log.warning("could not record the end of %s (%s): %s", process_id, message, exc)

    # -- what the worker calls ---------------------------------------------------------------
    def report(self, message: str | None = None, **params: Any) -> None:
        """Record a message and/or params (merged) for the next beat; returns at once.

        Raises TypeError/InputError at once for a value that cannot be sent as JSON.
        """
        check_message(message)
        encoded = encode_params(params)
        if message is not None:
            self._pending_message = message
            self._record["message"] = message
        self._pending_params.update(encoded)
        if self._record:
            stored = self._record.setdefault("params", {})
            stored.update({k: json.loads(v) for k, v in encoded.items()})

    async def set_status(self, status: ProcessStatus, message: str | None = None) -> bool:
        """Write the status (and message, and pending params) now; False when Redis failed.

        After a failure the status is sent again with the next beat.
        """
        check_status(status)
        self.report(message)
        self._pending_status = status
        self._record["status"] = status.value
        try:
            await self._beat_once()
        except RegistryError as exc:
            self._beat_failed(exc)
            return False
        return True

    # -- beating -----------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._closing:
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due, loop.time() - self.interval)  # after a slow beat: no burst
            try:
                await self._beat_once()
            except RegistryError as exc:
                self._beat_failed(exc)
            except Exception:  # a failed beat never stops the work: logged, retried
                log.exception("heartbeat of %s failed; retrying on the next beat", self.component)

    async def _beat_once(self) -> None:
        process_id = self.process_id
        status, self._pending_status = self._pending_status, None
        message, self._pending_message = self._pending_message, None
        params, self._pending_params = self._pending_params, {}
        keys = [data_key(process_id), stop_request_key(process_id)]
        lease_args: list[str | int] = ["", 0]
        if self._lease is not None and not self.lease_lost.is_set():
            keys.append(self._lease.key)
            lease_args = [self._lease.value, self._lease.ttl_ms]
        args = lease_args + update_record_args(
            process_id,
            datetime.now(UTC),
            status=status,
            message=message,
            params=params,
            heartbeat=True,
        )
        try:
            with registry_errors(f"sending the heartbeat of {process_id}"):
                updated, stop, lease = await BEAT(self.cache.client, keys, args)
            if not updated:
                log.warning("record of %s vanished; writing it back", process_id)
                await self.cache.restore_process(self._current_record())
        except BaseException:
            # not delivered: send it again with the next beat, under anything newer
            self._pending_params = {**params, **self._pending_params}
            if self._pending_message is None:
                self._pending_message = message
            if self._pending_status is None:
                self._pending_status = status
            raise
        self.beats += 1
        if self._failing:
            self._failing = False
            log.info("heartbeat of %s is back", process_id)
        if stop and not self.stop_requested.is_set():
            log.info("stop requested for %s", process_id)
            self.stop_requested.set()
        if lease == 0:
            self._lost_lease()
        elif lease == 2:
            log.info("lease of %s had expired; taken again", self.series)

    def _current_record(self) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        record = {
            "process_id": self.process_id,
            "process_type": self.process_type.value,
            "component": self.component,
            "params": dict(self.params),
            "status": ProcessStatus.STARTING.value,
            "message": self.message or f"Process {self.component} registered",
            "created_at": now,
        }
        record.update(self._record)
        record.update(updated_at=now, heartbeat=now)
        return record

    def _beat_failed(self, exc: RegistryError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("heartbeat of %s failed (retrying every beat): %s", self.component, exc)
        else:
            log.debug("heartbeat of %s failed again: %s", self.component, exc)

    def _lost_lease(self) -> None:
        if not self.lease_lost.is_set():
            log.warning("the lease of %s is held by someone else now", self.series)
            self.lease_lost.set()
