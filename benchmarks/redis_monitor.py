"""Count what clients send to Redis, server-side, with ``MONITOR`` in a background thread.

``MONITOR`` shows every command a client sends (one round trip each, as nothing here pipelines)
and, tagged ``lua``, the commands a script runs inside the server. Marks (``ECHO`` from the
monitor's own side connection) delimit the phases to count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import redis

__all__ = ["Monitor", "Seen"]

_STOP = "bench-monitor-stop"


@dataclass
class Seen:
    """Commands seen between two marks: sent by clients (round trips) and run by scripts."""

    client: list[str] = field(default_factory=list)
    lua: list[str] = field(default_factory=list)

    def names(self) -> dict[str, int]:
        """Client commands by name (``EVALSHA``: n)."""
        counts: dict[str, int] = {}
        for command in self.client:
            name = command.split(" ", 1)[0].upper()
            counts[name] = counts.get(name, 0) + 1
        return counts


class Monitor:
    """``with Monitor(url) as mon:`` records commands; :meth:`mark` and :meth:`between` slice."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._side = redis.Redis.from_url(url, decode_responses=True)
        self._events: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="redis-monitor", daemon=True)
        self._side_port = ""

    def _listen(self) -> None:
        client = redis.Redis.from_url(self._url, decode_responses=True)
        try:
            with client.monitor() as monitor:  # type: ignore[no-untyped-call]
                self._ready.set()
                while True:
                    event = monitor.next_command()
                    self._events.append(event)
                    if event["command"] == f"ECHO {_STOP}":
                        return
        finally:
            self._ready.set()
            client.close()

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("MONITOR did not start")
        self.mark("start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._side.echo(_STOP)
        self._thread.join(10)
        self._side.close()

    def mark(self, name: str) -> None:
        """Send ``ECHO bench-mark-{name}`` (it arrives in order with everything before it)."""
        self._side.echo(f"bench-mark-{name}")

    def _wait_for(self, command: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["command"] == command for e in self._events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"MONITOR never showed {command!r}")
            time.sleep(0.01)

    def between(self, first: str, last: str) -> Seen:
        """What other clients sent (and their scripts ran) between two marks."""
        self._wait_for(f"ECHO bench-mark-{last}")
        seen = Seen()
        inside = False
        side_ports = {
            e["client_port"] for e in self._events if e["command"].startswith("ECHO bench-")
        }
        for event in list(self._events):
            command = event["command"]
            if command == f"ECHO bench-mark-{first}":
                inside = True
            elif command == f"ECHO bench-mark-{last}":
                break
            elif inside and event["client_type"] == "lua":
                seen.lua.append(command)
            elif inside and event["client_port"] not in side_ports:
                seen.client.append(command)
        return seen
