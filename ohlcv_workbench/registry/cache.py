"""The process registry, wire-compatible with fullon_cache's ``ProcessCache``.

The Redis layout, record fields, defaults and semantics are fullon_cache 0.5.11's (see
``specs/process-cache.md``), so fullon services and this workbench see each other's processes.
What is better here: each register/update/stop is one round trip (a server-side Lua script, see
:mod:`.wire`, that merges params without re-encoding stored values), the client sends no
health-check PINGs, wrong arguments fail with a clear error before anything is written, unknown
ids are logged, and the event-loop policy is never touched.

    async with ProcessCache() as cache:
        pid = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.BTC/USDT")
        await cache.update_process(pid, status=ProcessStatus.RUNNING, params={"done": 10})
        await cache.stop_process(pid, "Collector stopped")
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis

from ohlcv_workbench.errors import InputError, RegistryError
from ohlcv_workbench.services.redis_server import redis_url
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.times import parse_iso_time

from .keys import COMPONENTS_KEY, active_key, broadcast_channel, data_key, data_pattern
from .later import WritesForLater
from .records import (
    PROCESS_TTL,
    ProcessStatus,
    ProcessType,
    check_component,
    check_message,
    check_process_id,
    check_process_type,
    check_status,
    encode_params,
    encode_value,
    update_record_args,
)
from .wire import (
    STOP,
    UPDATE,
    WRITE,
    LuaScript,
    decode_record,
    make_client,
    registry_errors,
    text,
)

__all__ = ["ProcessCache"]

log = logging.getLogger(__name__)


class ProcessCache:
    """fullon_cache's ProcessCache API and Redis layout (``process:*`` keys).

    Give a Redis URL or a client; with neither, the configured Redis (or the embedded server)
    is used. Use ``async with ProcessCache() as cache:`` or call :meth:`aclose` when done; a
    client passed in is not closed. Redis failures raise :class:`RegistryUnavailableError`
    (unreachable) or :class:`RegistryError`.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        settings: Settings | None = None,
    ) -> None:
        if redis_url is not None and client is not None:
            raise InputError("ProcessCache takes a redis_url or a client, not both")
        self._url = redis_url
        self._client = client
        self._owns_client = client is None
        self._settings = settings
        self._lock = asyncio.Lock()
        #: writes that found Redis unreachable, retried in the background until it is back
        self.later = WritesForLater()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def settings(self) -> Settings:
        """The settings given, else the environment's (read once)."""
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client (after :meth:`connect` or entering the context)."""
        if self._client is None:
            raise RuntimeError("ProcessCache is not connected: use `async with` or connect()")
        return self._client

    async def connect(self) -> aioredis.Redis:
        """Create the client (resolving the URL, maybe starting the embedded server); idempotent."""
        async with self._lock:
            if self._client is None:
                url = self._url
                if url is None:
                    url = await asyncio.to_thread(redis_url, self.settings)
                self._client = make_client(url)
                self._owns_client = True
            return self._client

    async def aclose(self) -> None:
        """Close the client if this cache created it (a client passed in stays open).

        Writes still waiting for Redis (:attr:`later`) are given up: ``await
        cache.later.flush(seconds)`` first waits for them.
        """
        left = await self.later.give_up()
        if left:
            log.warning("gave up %d registry writes that waited for Redis", left)
        if self._client is not None and self._owns_client:
            client, self._client = self._client, None
            await client.aclose()

    close = aclose  # fullon_cache's name

    # -- lifecycle ---------------------------------------------------------------------------
    async def register_process(
        self,
        process_type: ProcessType,
        component: str,
        params: dict[str, Any] | None = None,
        message: str | None = None,
        status: ProcessStatus = ProcessStatus.STARTING,
    ) -> str:
        """Write a new record (TTL 86400 s), index it as active and by component; return its id."""
        ptype = check_process_type(process_type)
        check_component(component)
        encode_params(params)
        check_status(status)
        check_message(message)
        client = await self.connect()
        stamp = datetime.now(UTC)
        for _ in range(10):
            process_id = f"{ptype.value}:{component}:{stamp.timestamp()}"
            created = stamp.isoformat()
            record = {
                "process_id": process_id,
                "process_type": ptype.value,
                "component": component,
                "params": dict(params or {}),
                "status": status.value,
                "message": message or f"Process {component} registered",
                "created_at": created,
                "updated_at": created,
                "heartbeat": created,
            }
            body = json.dumps(record, allow_nan=False)  # params were checked by encode_params
            with registry_errors(f"registering {component!r}"):
                keys = [data_key(process_id), active_key(ptype.value), COMPONENTS_KEY]
                args: list[str | int] = [body, PROCESS_TTL, process_id, created, component, "0"]
                if await WRITE(client, keys, args):
                    log.debug("registered process %s", process_id)
                    return process_id
            # the same id registered within the same microsecond: take the next one
            stamp = max(datetime.now(UTC), stamp + timedelta(microseconds=1))
        raise RegistryError(f"could not find a free process id for {component!r}")

    async def update_process(
        self,
        process_id: str,
        status: ProcessStatus | None = None,
        message: str | None = None,
        params: dict[str, Any] | None = None,
        heartbeat: bool = True,
    ) -> bool:
        """Update a record in one round trip; False (and a log line) for an unknown id.

        Sets updated_at (and heartbeat when ``heartbeat``), status and message when given,
        merges ``params`` into the stored ones, resets the TTL and refreshes the active entry.
        """
        check_process_id(process_id)
        if status is not None:
            check_status(status)
        check_message(message)
        encoded = encode_params(params)
        args = update_record_args(
            process_id,
            datetime.now(UTC),
            status=status,
            message=message,
            params=encoded,
            heartbeat=bool(heartbeat),
        )
        updated = await self._edit(UPDATE, [data_key(process_id)], args, "updating")
        if not updated:
            log.warning("update_process: process not found: %s", process_id)
        return updated

    async def stop_process(
        self,
        process_id: str,
        message: str | None = None,
        *,
        status: ProcessStatus = ProcessStatus.STOPPED,
    ) -> bool:
        """Mark a process ended (STOPPED, or ``status``, e.g. ERROR) and drop it from the indexes.

        The heartbeat is left as it was; the record stays until its TTL. The component index
        entry is removed only while it still points to this process. False for an unknown id.
        """
        check_process_id(process_id)
        check_status(status)
        check_message(message)
        args = update_record_args(
            process_id,
            datetime.now(UTC),
            status=status,
            message=message or "Process stopped",
            params={},
            heartbeat=False,
        )
        keys = [data_key(process_id), COMPONENTS_KEY]
        stopped = await self._edit(STOP, keys, args, "stopping")
        if stopped:
            log.debug("stopped process %s (%s)", process_id, status.value)
        else:
            log.warning("stop_process: process not found: %s", process_id)
        return stopped

    async def _edit(
        self, script: LuaScript, keys: list[str], args: list[str | int], action: str
    ) -> bool:
        client = await self.connect()
        with registry_errors(f"{action} process {args[0]!r}"):
            return bool(await script(client, keys, args))

    async def restore_process(self, record: Mapping[str, Any]) -> bool:
        """Write back a record that vanished (same id and fields), e.g. after Redis lost its data.

        Does nothing when the record exists; the component index is set only when free.
        Returns True when the record was written.
        """
        process_id = check_process_id(record.get("process_id"))
        ptype = ProcessType(record.get("process_type"))
        component = check_component(record.get("component"))
        encode_params(record.get("params"))
        body = encode_value(dict(record), "record")
        client = await self.connect()
        keys = [data_key(process_id), active_key(ptype.value), COMPONENTS_KEY]
        when = str(record["updated_at"])
        args: list[str | int] = [body, PROCESS_TTL, process_id, when, component, "1"]
        with registry_errors(f"restoring process {process_id!r}"):
            return bool(await WRITE(client, keys, args))

    # -- queries -----------------------------------------------------------------------------
    async def get_process(self, process_id: str) -> dict[str, Any] | None:
        """The record of a process, or None."""
        check_process_id(process_id)
        client = await self.connect()
        with registry_errors(f"reading process {process_id!r}"):
            raw = await client.get(data_key(process_id))
        return None if raw is None else decode_record(process_id, raw)

    async def _active_entries(self, types: Sequence[ProcessType]) -> list[dict[str, str]]:
        client = await self.connect()
        with registry_errors("reading the active processes"):
            async with client.pipeline(transaction=False) as pipe:
                for ptype in types:
                    pipe.hgetall(active_key(ptype.value))
                hashes = await pipe.execute()
        return [{text(k): text(v) for k, v in h.items()} for h in hashes]

    async def _records(self, process_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        if not process_ids:
            return []
        client = await self.connect()
        with registry_errors("reading process records"):
            raws = await client.mget([data_key(p) for p in process_ids])
        return [
            None if r is None else decode_record(p, r)
            for p, r in zip(process_ids, raws, strict=True)
        ]

    async def get_active_processes(
        self,
        process_type: ProcessType | None = None,
        component: str | None = None,
        since_minutes: float = 5,
        include_heartbeat_check: bool = True,
    ) -> list[dict[str, Any]]:
        """Active processes seen within ``since_minutes``, newest update first (two round trips).

        With ``include_heartbeat_check`` each gets ``_heartbeat_stale``: heartbeat older than
        the window.
        """
        types = list(ProcessType) if process_type is None else [check_process_type(process_type)]
        cutoff = datetime.now(UTC) - timedelta(minutes=since_minutes)
        ids: list[str] = []
        for entries in await self._active_entries(types):
            for process_id, stamp in entries.items():
                seen = parse_iso_time(stamp)
                if seen is not None and seen >= cutoff:
                    ids.append(process_id)
        found: list[dict[str, Any]] = []
        for record in await self._records(ids):
            if record is None or (component and record.get("component") != component):
                continue
            if include_heartbeat_check:
                beat = parse_iso_time(record.get("heartbeat"))
                record["_heartbeat_stale"] = beat is None or beat < cutoff
            found.append(record)
        found.sort(key=lambda r: str(r.get("updated_at", "")), reverse=True)
        return found

    async def cleanup_stale_processes(self, stale_minutes: float = 30) -> int:
        """Stop every active process whose active time and heartbeat are older than the cutoff.

        Entries with an unreadable time, or whose record has expired, are removed from the
        active hash. Returns how many entries were cleaned.
        """
        cutoff = datetime.now(UTC) - timedelta(minutes=stale_minutes)
        types = list(ProcessType)
        old: list[tuple[ProcessType, str, str]] = []  # (type, process_id, active time)
        cleaned = 0
        for ptype, entries in zip(types, await self._active_entries(types), strict=True):
            for process_id, stamp in entries.items():
                seen = parse_iso_time(stamp)
                if seen is None:
                    with registry_errors("cleaning stale processes"):
                        await self.client.hdel(active_key(ptype.value), process_id)
                    cleaned += 1
                elif seen < cutoff:
                    old.append((ptype, process_id, stamp))
        records = await self._records([p for _, p, _ in old])
        for (ptype, process_id, stamp), record in zip(old, records, strict=True):
            if record is None:
                with registry_errors("cleaning stale processes"):
                    removed = await self.client.hdel(active_key(ptype.value), process_id)
                cleaned += int(bool(removed))
                continue
            beat = parse_iso_time(record.get("heartbeat", stamp))
            if (beat is None or beat < cutoff) and await self.stop_process(
                process_id, f"Process stale for {stale_minutes} minutes"
            ):
                cleaned += 1
        if cleaned:
            log.debug("cleaned up %d stale processes", cleaned)
        return cleaned

    async def get_process_history(self, component: str, limit: int = 100) -> list[dict[str, Any]]:
        """The records of ``component`` still in Redis (their TTL is a day), newest first.

        fullon_cache answers an empty list here ("only active processes are tracked"); the
        records are there, so this returns them, ended ones included, at most ``limit``.
        """
        check_component(component)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InputError(f"limit must be a positive integer, got {limit!r}")
        client = await self.connect()
        with registry_errors(f"reading the history of {component!r}"):
            keys = [text(k) async for k in client.scan_iter(data_pattern(component), count=1000)]
        ids = [key.removeprefix(data_key("")) for key in keys]
        found = [
            record
            for record in await self._records(ids)
            if record is not None and record.get("component") == component
        ]
        found.sort(key=lambda r: str(r.get("created_at", "")), reverse=True)
        return found[:limit]

    async def get_component_status(self, component: str) -> dict[str, Any] | None:
        """The latest record registered for ``component``, or None."""
        check_component(component)
        client = await self.connect()
        with registry_errors(f"reading component {component!r}"):
            process_id = await client.hget(COMPONENTS_KEY, component)
        return None if not process_id else await self.get_process(text(process_id))

    async def get_system_health(self) -> dict[str, Any]:
        """``{healthy, total_processes, by_type, by_status, stale_processes, error_processes}``.

        Over the active processes of the last 60 minutes; unhealthy when any is in ERROR or has
        a heartbeat older than that window.
        """
        processes = await self.get_active_processes(since_minutes=60, include_heartbeat_check=True)
        by_type: dict[str, int] = {}
        by_status: dict[str, int] = {}
        stale = errors = 0
        for process in processes:
            ptype = process.get("process_type", "unknown")
            status = process.get("status", "unknown")
            by_type[ptype] = by_type.get(ptype, 0) + 1
            by_status[status] = by_status.get(status, 0) + 1
            stale += bool(process.get("_heartbeat_stale"))
            errors += status == ProcessStatus.ERROR.value
        return {
            "healthy": not (stale or errors),
            "total_processes": len(processes),
            "by_type": by_type,
            "by_status": by_status,
            "stale_processes": stale,
            "error_processes": errors,
        }

    async def get_metrics(self) -> dict[str, Any]:
        """Counts of records (``total_processes``), active processes (all, per type), components."""
        client = await self.connect()
        with registry_errors("reading process metrics"):
            async with client.pipeline(transaction=False) as pipe:
                for ptype in ProcessType:
                    pipe.hlen(active_key(ptype.value))
                pipe.hlen(COMPONENTS_KEY)
                *per_type, components = await pipe.execute()
            total = 0
            async for _ in client.scan_iter(match=data_pattern(), count=1000):
                total += 1
        metrics: dict[str, Any] = {
            "total_processes": total,
            "active_processes": sum(per_type),
            "components": components,
        }
        for ptype, count in zip(ProcessType, per_type, strict=True):
            metrics[f"active_{ptype.value}"] = count
        return metrics

    async def broadcast_message(
        self, process_type: ProcessType, message: str, data: dict[str, Any] | None = None
    ) -> int:
        """Publish ``{message, data, timestamp}`` to ``process:broadcast:{type}``.

        Returns the number of subscribers that received it.
        """
        ptype = check_process_type(process_type)
        if check_message(message) is None:
            raise TypeError("message must be a str, got None")
        if data is not None and not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict or None, got {type(data).__name__}: {data!r}")
        payload = {
            "message": message,
            "data": data or {},
            "timestamp": datetime.now(UTC).isoformat(),
        }
        body = encode_value(payload, "broadcast payload")
        client = await self.connect()
        with registry_errors(f"broadcasting to {ptype.value}"):
            return int(await client.publish(broadcast_channel(ptype.value), body))
