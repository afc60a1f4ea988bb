"""The pause of one exchange client: while the exchange has banned us, nothing is sent.

An IP ban (Binance's HTTP 418) is the exchange's answer to requests that went on after 429s;
it lasts until ``Retry-After`` and every further request can lengthen it. So a ban is not a
failed attempt of one request: the client's :class:`PauseGate` closes until the ban ends,
every request of every collector of that exchange waits at it (the client is shared per
exchange id and event loop), and the listeners (the collectors' heartbeats) are told when
the pause begins, is extended and ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Pause", "PauseGate", "PauseListener"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pause:
    """A pause in force: until (epoch ms, local clock), why, and its length from now (s)."""

    until_ms: int
    reason: str
    seconds: float


#: called with the pause that began (or was extended), or None when it ended
PauseListener = Callable[[Pause | None], None]


class PauseGate:
    """Requests wait here while the exchange asked for a pause (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._until = 0.0  # monotonic
        self._pause: Pause | None = None
        self._open: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._listeners: list[PauseListener] = []
        #: pauses begun so far (an extension does not count)
        self.count = 0

    @property
    def pause_in_force(self) -> Pause | None:
        """The current pause, or None."""
        return self._pause if time.monotonic() < self._until else None

    def subscribe(self, listener: PauseListener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the unsubscribe function. A listener
        that subscribes during a pause is told at once."""
        self._listeners.append(listener)
        current = self.pause_in_force
        if current is not None:
            listener(current)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def pause(self, seconds: float, reason: str) -> Pause:
        """Close the gate for ``seconds`` from now. An open pause is only ever extended, by at
        least a second (Retry-After counts whole seconds: the requests in flight when a ban
        began all meet the same one)."""
        until = time.monotonic() + max(0.0, seconds)
        current = self.pause_in_force
        if current is not None and until < self._until + 1.0:
            return current
        if current is None:
            self.count += 1
            log.warning("%s: pausing every request for %.0f s: %s", self.name, seconds, reason)
        self._until = until
        until_ms = time.time_ns() // 1_000_000 + int(seconds * 1000)
        pause = self._pause = Pause(until_ms, reason, seconds)
        event = self._event()
        event.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._reopen)
        self._notify(pause)
        return pause

    def _event(self) -> asyncio.Event:
        if self._open is None:
            self._open = asyncio.Event()
            self._open.set()
        return self._open

    def _reopen(self) -> None:
        remaining = self._until - time.monotonic()
        if remaining > 0:  # extended meanwhile
            self._timer = asyncio.get_running_loop().call_later(remaining, self._reopen)
            return
        self._timer = None
        self._pause = None
        self._event().set()
        log.info("%s: the pause is over", self.name)
        self._notify(None)

    def _notify(self, pause: Pause | None) -> None:
        for listener in list(self._listeners):
            listener(pause)

    async def wait(self) -> None:
        """Return at once when open, else when the pause ends."""
        event = self._event()
        while not event.is_set():
            await event.wait()

    def close(self) -> None:
        """Drop the timer (the client is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pause = None
        self._until = 0.0
        if self._open is not None:
            self._open.set()
