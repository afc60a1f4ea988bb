"""Series leases: one live collector per series, across processes and machines.

A lease is a Redis string (its key: :func:`.keys.lease_key`) holding the
holder as JSON (process_id, host, pid, acquired_at), set with ``SET NX PX`` and kept alive by
renewals; renew, release and takeover compare the stored value first (Lua), so only the holder
can change it. A lease whose holder is gone expires after its ttl, or at once when the holder
ran on this host and its pid no longer exists (a collector killed with SIGKILL).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import redis.asyncio as aioredis

from ohlcv_workbench.errors import InputError, RegistryError, SeriesBusyError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.services.processes import pid_alive
from ohlcv_workbench.times import parse_iso_time

from .keys import lease_key
from .wire import ACQUIRE_LEASE, REBIND_LEASE, RELEASE_LEASE, RENEW_LEASE, registry_errors, text

__all__ = ["LeaseHolder", "SeriesLease"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease: the registered process, and the host and pid running it."""

    process_id: str
    host: str
    pid: int
    acquired_at: datetime

    @classmethod
    def here(cls, process_id: str) -> LeaseHolder:
        """This process (hostname, pid), acquiring now."""
        return cls(process_id, socket.gethostname(), os.getpid(), datetime.now(UTC))

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(
            {
                "process_id": self.process_id,
                "host": self.host,
                "pid": self.pid,
                "acquired_at": self.acquired_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> LeaseHolder:
        """Parse the stored form; ValueError when it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"lease value is not a JSON object: {raw!r}")
        acquired = parse_iso_time(data.get("acquired_at"))
        pid = data.get("pid")
        if acquired is None or not isinstance(pid, int) or isinstance(pid, bool):
            raise ValueError(f"lease value lacks a pid or acquired_at: {raw!r}")
        return cls(str(data.get("process_id", "")), str(data.get("host", "")), pid, acquired)

    @property
    def is_local_and_dead(self) -> bool:
        """True when the holder ran on this host and its pid no longer exists."""
        return self.host == socket.gethostname() and not pid_alive(self.pid)

    def __str__(self) -> str:
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        name = self.process_id or "(registering)"
        return f"process {name} (pid {self.pid} on {self.host}, since {since})"


class SeriesLease:
    """The lease of one series for one holder; ``ttl`` in seconds.

    ``holder`` is a :class:`LeaseHolder` or a process id (this host and pid). Redis failures
    raise :class:`RegistryUnavailableError`.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        series: SeriesKey,
        holder: LeaseHolder | str,
        ttl: float,
    ) -> None:
        if not isinstance(series, SeriesKey):
            raise TypeError(f"series must be a SeriesKey, got {type(series).__name__}")
        if isinstance(holder, str):
            holder = LeaseHolder.here(holder)
        elif not isinstance(holder, LeaseHolder):
            raise TypeError(f"holder must be a LeaseHolder or a process id, got {holder!r}")
        if not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl < 0.001:
            raise InputError(f"lease ttl must be a positive number of seconds, got {ttl!r}")
        self.client = client
        self.series = series
        self.key = lease_key(series)
        self.ttl = float(ttl)
        self._holder = holder
        self._value = holder.to_json()

    @property
    def ttl_ms(self) -> int:
        """The ttl in milliseconds, as sent to Redis."""
        return max(1, round(self.ttl * 1000))

    @property
    def value(self) -> str:
        """The JSON this lease stores (and compares) as its holder."""
        return self._value

    @property
    def own_holder(self) -> LeaseHolder:
        """The holder this lease acquires for."""
        return self._holder

    async def acquire(self) -> LeaseHolder:
        """Take the lease; SeriesBusyError naming the holder when someone else has it.

        A holder on this host whose pid is gone is replaced atomically (compare-and-set).
        """
        replaceable = self._value  # what this lease may have stored before: ours to replace
        self._holder = replace(self._holder, acquired_at=datetime.now(UTC))
        self._value = self._holder.to_json()
        for _ in range(3):
            with registry_errors(f"acquiring the lease of {self.series}"):
                won, current = await ACQUIRE_LEASE(
                    self.client, [self.key], [self._value, self.ttl_ms, replaceable]
                )
            if won:
                return self._holder
            current = text(current)
            try:
                other: LeaseHolder | None = LeaseHolder.from_json(current)
            except ValueError:
                other = None
            if other is None or not other.is_local_and_dead:
                holder = str(other) if other else repr(current)
                raise SeriesBusyError(
                    f"{self.series} is already being collected by {holder}; stop that "
                    "collector first (or wait for its lease to expire)",
                    holder=other.process_id if other else current,
                )
            log.warning("taking the lease of %s over from a dead holder: %s", self.series, other)
            replaceable = current  # exactly this value: try again if it changed meanwhile
        raise SeriesBusyError(f"{self.series}: the lease keeps changing hands; try again")

    async def renew(self) -> bool:
        """Extend the lease by its ttl; False when this holder no longer has it."""
        with registry_errors(f"renewing the lease of {self.series}"):
            return bool(await RENEW_LEASE(self.client, [self.key], [self._value, self.ttl_ms]))

    async def release(self) -> bool:
        """Delete the lease if this holder has it; False otherwise."""
        with registry_errors(f"releasing the lease of {self.series}"):
            return bool(await RELEASE_LEASE(self.client, [self.key], [self._value]))

    async def rebind(self, process_id: str) -> bool:
        """Name ``process_id`` as the holder (keeping the expiry); False if the lease was lost.

        Lets a lease be taken before the process that will hold it is registered.
        """
        holder = replace(self._holder, process_id=process_id)
        with registry_errors(f"updating the lease of {self.series}"):
            done = bool(
                await REBIND_LEASE(self.client, [self.key], [self._value, holder.to_json()])
            )
        if done:
            self._holder, self._value = holder, holder.to_json()
        return done

    async def holder(self) -> LeaseHolder | None:
        """The current holder (anyone may ask), or None when the lease is free."""
        with registry_errors(f"reading the lease of {self.series}"):
            raw = await self.client.get(self.key)
        if raw is None:
            return None
        try:
            return LeaseHolder.from_json(text(raw))
        except ValueError as exc:
            raise RegistryError(f"the lease of {self.series} holds no valid holder: {exc}") from exc
