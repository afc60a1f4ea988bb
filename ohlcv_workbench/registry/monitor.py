"""Watching and steering processes: every record with its heartbeat age, and stop requests.

fullon_cache's ``get_active_processes`` only lists processes that are still indexed as active
and recent, so a collector killed with SIGKILL silently drops out. :func:`list_processes` reads
every ``process:data:*`` record instead and flags an active process whose heartbeat is older
than ``stale_after`` as STALE, until it is stopped or cleaned up.

:func:`request_stop` asks a process to stop through Redis (a stop-request key, see
:mod:`.keys`); its :class:`~ohlcv_workbench.registry.Heartbeat` sees the request on its next
beat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.times import parse_iso_time

from .cache import ProcessCache
from .keys import COMPONENTS_KEY, DATA_PREFIX, active_key, data_key, data_pattern, stop_request_key
from .records import ProcessStatus, ProcessType
from .wire import registry_errors, text

if TYPE_CHECKING:  # pandas is imported on use
    import pandas as pd

__all__ = ["ProcessInfo", "list_processes", "processes_frame", "request_stop"]

log = logging.getLogger(__name__)

STOP_REQUEST_TTL = 3600  # seconds a stop request waits for its process to see it
MGET_BATCH = 500

FRAME_COLUMNS = [
    "process_id",
    "process_type",
    "component",
    "status",
    "stale",
    "active",
    "heartbeat_age",
    "message",
    "heartbeat",
    "updated_at",
    "created_at",
    "params",
]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process record as seen now. Times are UTC; ``heartbeat_age`` is in seconds.

    ``active``: still listed as active (not stopped); ``stale``: active but no heartbeat for
    longer than ``stale_after``. ``process_type`` and ``status`` are the record's text (the
    values of :class:`ProcessType` / :class:`ProcessStatus`, which compare equal to them, or
    whatever another program wrote); :attr:`known_status` is the member, if any.
    """

    process_id: str
    process_type: str
    component: str
    status: str
    message: str
    params: Mapping[str, Any] = field(hash=False)
    created_at: datetime
    updated_at: datetime
    heartbeat: datetime
    heartbeat_age: float
    active: bool
    stale: bool

    @property
    def known_status(self) -> ProcessStatus | None:
        """The status as a :class:`ProcessStatus` member (None for a value it does not know)."""
        try:
            return ProcessStatus(self.status)
        except ValueError:
            return None

    @property
    def known_type(self) -> ProcessType | None:
        """The type as a :class:`ProcessType` member (None for a value it does not know)."""
        try:
            return ProcessType(self.process_type)
        except ValueError:
            return None


def _client(source: ProcessCache | aioredis.Redis) -> aioredis.Redis:
    return source.client if isinstance(source, ProcessCache) else source


def _stale_after(source: ProcessCache | aioredis.Redis, stale_after: float | None) -> float:
    if stale_after is not None:
        return float(stale_after)
    if isinstance(source, ProcessCache):
        return source.settings.stale_after
    return Settings.from_env().stale_after


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _info(
    process_id: str, record: Mapping[str, Any], active: bool, now: datetime, stale_after: float
) -> ProcessInfo | None:
    created = parse_iso_time(record.get("created_at"))
    updated = parse_iso_time(record.get("updated_at")) or created
    beat = parse_iso_time(record.get("heartbeat")) or updated
    if created is None or updated is None or beat is None:
        log.warning("process %s has no readable times; left out", process_id)
        return None
    age = max((now - beat).total_seconds(), 0.0)
    params = record.get("params")
    return ProcessInfo(
        process_id=process_id,
        process_type=_text(record.get("process_type")),
        component=str(record.get("component", "")),
        status=_text(record.get("status")),
        message=str(record.get("message", "")),
        params=dict(params) if isinstance(params, Mapping) else {},
        created_at=created,
        updated_at=updated,
        heartbeat=beat,
        heartbeat_age=age,
        active=active,
        stale=active and age > stale_after,
    )


async def list_processes(
    source: ProcessCache | aioredis.Redis,
    *,
    stale_after: float | None = None,
    ended_within: float | None = None,
) -> list[ProcessInfo]:
    """Every process record in Redis (SCAN + MGET), active ones first, newest update first.

    ``stale_after`` defaults to the settings' (3 heartbeat intervals); ``ended_within=N`` leaves
    out processes that ended (are no longer active) more than N seconds ago.
    """
    if isinstance(source, ProcessCache):
        await source.connect()
    client = _client(source)
    limit = _stale_after(source, stale_after)
    records: dict[str, Mapping[str, Any]] = {}
    with registry_errors("listing processes"):
        keys = [text(k) async for k in client.scan_iter(match=data_pattern(), count=1000)]
        for start in range(0, len(keys), MGET_BATCH):
            batch = keys[start : start + MGET_BATCH]
            for key, raw in zip(batch, await client.mget(batch), strict=True):
                if raw is None:
                    continue  # expired between SCAN and MGET
                record = _decode(key.removeprefix(DATA_PREFIX), raw)
                if record is not None:
                    records[key.removeprefix(DATA_PREFIX)] = record
        types = sorted({str(r.get("process_type")) for r in records.values()})
        async with client.pipeline(transaction=False) as pipe:
            for ptype in types:
                pipe.hkeys(active_key(ptype))
            active = {text(pid) for ids in await pipe.execute() for pid in ids}
    now = datetime.now(UTC)
    infos = [
        info
        for pid, record in records.items()
        if (info := _info(pid, record, pid in active, now, limit)) is not None
        and (
            info.active
            or ended_within is None
            or (now - info.updated_at).total_seconds() <= ended_within
        )
    ]
    infos.sort(key=lambda i: (not i.active, -i.updated_at.timestamp(), i.process_id))
    return infos


def _decode(process_id: str, raw: Any) -> Mapping[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        log.warning("process %s has a record that is not a JSON object; left out", process_id)
        return None
    return record


def processes_frame(infos: Iterable[ProcessInfo]) -> pd.DataFrame:
    """One row per process: ids, status, stale (bool), heartbeat_age (float seconds), times."""
    import pandas as pd

    rows = [
        {
            "process_id": i.process_id,
            "process_type": i.process_type,
            "component": i.component,
            "status": i.status,
            "stale": i.stale,
            "active": i.active,
            "heartbeat_age": i.heartbeat_age,
            "message": i.message,
            "heartbeat": i.heartbeat,
            "updated_at": i.updated_at,
            "created_at": i.created_at,
            "params": dict(i.params),
        }
        for i in infos
    ]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    frame = frame.astype({"stale": bool, "active": bool, "heartbeat_age": float})
    for column in ("heartbeat", "updated_at", "created_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


async def request_stop(
    source: ProcessCache | aioredis.Redis, target: str, *, ttl: int = STOP_REQUEST_TTL
) -> str:
    """Ask a process (by process id, or by component) to stop; return its process id.

    Raises InputError naming ``target`` and the known components when it matches nothing.
    """
    if not isinstance(target, str) or not target:
        raise InputError(f"target must be a process id or a component, got {target!r}")
    if isinstance(source, ProcessCache):
        await source.connect()
    client = _client(source)
    with registry_errors(f"requesting a stop of {target!r}"):
        async with client.pipeline(transaction=False) as pipe:
            pipe.exists(data_key(target))
            pipe.hget(COMPONENTS_KEY, target)
            is_id, by_component = await pipe.execute()
        if is_id:
            process_id = target
        elif by_component:
            process_id = text(by_component)
        else:
            known = sorted(text(c) for c in await client.hkeys(COMPONENTS_KEY))
            listing = ", ".join(known) if known else "none"
            raise InputError(
                f"no process or component named {target!r}; known components: {listing}"
            )
        await client.set(stop_request_key(process_id), datetime.now(UTC).isoformat(), ex=ttl)
    log.info("requested a stop of %s", process_id)
    return process_id
