"""A small synchronous client for the ``/_sim/`` control endpoints (tests, notebooks, CLI).

It drives a simulator running in another process or thread; inside the simulator's own event
loop use the :class:`~ohlcv_workbench.sim.server.SimServer` methods instead (a blocking call
there would stall the server it waits for).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from ohlcv_workbench.errors import ServiceError

from .faults import Faults

__all__ = ["SimControl"]


class SimControl:
    """Control a simulator at ``url`` (``http://127.0.0.1:PORT``) over HTTP."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ServiceError(f"simulator {method} {path} failed: {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(f"simulator at {self.url} cannot be reached: {exc}") from None

    def ping(self) -> bool:
        """True when the simulator answers ``/api/v3/ping``."""
        try:
            return bool(self._call("GET", "/api/v3/ping") == {})
        except ServiceError:
            return False

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the simulator answers; ServiceError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.ping():
            if time.monotonic() > deadline:
                raise ServiceError(f"simulator at {self.url} did not answer within {timeout}s")
            time.sleep(0.02)

    def info(self) -> dict[str, Any]:
        """Seed, symbols with listing times, replays, weight limit, clock."""
        return dict(self._call("GET", "/_sim/info"))

    def faults(self) -> Faults:
        """The faults in force."""
        return Faults.from_dict(self._call("GET", "/_sim/faults"))

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``None``: none); keyword changes apply on top."""
        data = {**(faults or Faults()).as_dict(), **changes}
        return Faults.from_dict(self._call("PUT", "/_sim/faults", Faults.from_dict(data).as_dict()))

    def clear_faults(self) -> None:
        """Inject nothing any more."""
        self._call("DELETE", "/_sim/faults")

    def counters(self) -> dict[str, Any]:
        """Every counter (requests, statuses, klines pages per symbol and interval, ...)."""
        return dict(self._call("GET", "/_sim/counters"))

    def reset_counters(self) -> None:
        """Zero the counters and the weight window."""
        self._call("DELETE", "/_sim/counters")

    def reset(self, *, counters: bool = True, faults: bool = True, clock: bool = False) -> None:
        """Zero counters, clear faults and (optionally) restore the configured clock."""
        self._call("POST", "/_sim/reset", {"counters": counters, "faults": faults, "clock": clock})

    def clock(self) -> dict[str, Any]:
        """``{"now", "mode", "offset", "fixed"}``."""
        return dict(self._call("GET", "/_sim/clock"))

    def now(self) -> int:
        """The simulator's "now" in ms."""
        return int(self.clock()["now"])

    def set_clock(
        self,
        *,
        fixed: int | None = None,
        offset: int | None = None,
        advance: int | None = None,
        real: bool = False,
    ) -> int:
        """Fix, shift, advance or release the clock (exactly one argument); returns now."""
        given = {
            k: v
            for k, v in (("fixed", fixed), ("offset", offset), ("advance", advance))
            if v is not None
        }
        if real:
            given["real"] = True
        if len(given) != 1:
            raise ValueError("set_clock takes exactly one of fixed, offset, advance, real")
        return int(self._call("POST", "/_sim/clock", given)["now"])

    def set_weight_limit(self, limit: int | None) -> None:
        """Change Binance's per-minute request-weight limit (None disables it)."""
        self._call("PUT", "/_sim/weight", {"limit": limit})

    def set_kraken_rate(self, rate: float | None) -> None:
        """Change Kraken's calls per second (None disables its call counter)."""
        self._call("PUT", "/_sim/kraken_rate", {"rate": rate})

    def ban(self, seconds: float) -> int:
        """Ban the Binance client (HTTP 418) for ``seconds`` from now; the end, epoch ms."""
        return int(self._call("POST", "/_sim/ban", {"seconds": seconds})["until"])

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """Set a symbol's status: ``TRADING``, ``HALT`` or ``BREAK``."""
        self._call("PUT", "/_sim/status", {"symbol": symbol, "status": status})
