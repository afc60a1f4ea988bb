"""The simulator's clock: real time, real time plus an offset, or a fixed "now" moved by hand."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

__all__ = ["ClockMode", "SimClock"]

ClockMode = Literal["real", "offset", "fixed"]


class SimClock:
    """What the simulator takes as "now", in UTC milliseconds.

    ``SimClock()`` follows real time; ``SimClock(offset=-3_600_000)`` runs an hour behind;
    ``SimClock(fixed=ts)`` stands still until :meth:`advance` or :meth:`set` moves it.
    """

    def __init__(self, *, fixed: int | None = None, offset: int = 0) -> None:
        self._lock = threading.Lock()
        self._fixed = fixed
        self._offset = offset

    @property
    def mode(self) -> ClockMode:
        """``"fixed"``, ``"offset"`` or ``"real"``."""
        if self._fixed is not None:
            return "fixed"
        return "offset" if self._offset else "real"

    def now(self) -> int:
        """The current simulated time in ms."""
        fixed = self._fixed
        if fixed is not None:
            return fixed
        return time.time_ns() // 1_000_000 + self._offset

    def set(self, now: int) -> None:
        """Fix the clock at ``now`` (ms)."""
        with self._lock:
            self._fixed = int(now)

    def advance(self, ms: int) -> int:
        """Move the clock forward by ``ms`` (a fixed clock, or the offset of a running one)."""
        with self._lock:
            if self._fixed is not None:
                self._fixed += int(ms)
            else:
                self._offset += int(ms)
        return self.now()

    def set_offset(self, offset: int) -> None:
        """Follow real time shifted by ``offset`` ms (0 is real time)."""
        with self._lock:
            self._fixed = None
            self._offset = int(offset)

    def real(self) -> None:
        """Follow real time."""
        self.set_offset(0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state: now, mode, offset."""
        return {"now": self.now(), "mode": self.mode, "offset": self._offset, "fixed": self._fixed}

    def apply(self, change: dict[str, Any]) -> None:
        """Apply a control request: ``{"fixed": ms}``, ``{"offset": ms}``, ``{"advance": ms}``
        or ``{"real": true}``."""
        unknown = set(change) - {"fixed", "offset", "advance", "real"}
        if unknown or len(change) != 1:
            raise ValueError(
                "clock change must be exactly one of fixed, offset, advance, real; got "
                + ", ".join(sorted(change))
            )
        if "fixed" in change:
            self.set(int(change["fixed"]))
        elif "offset" in change:
            self.set_offset(int(change["offset"]))
        elif "advance" in change:
            self.advance(int(change["advance"]))
        elif change["real"]:
            self.real()
