"""``/_sim/`` control endpoints: info, faults, counters, reset, clock, limits, bans, statuses.

- ``GET /_sim/info``: seed, symbols with listing times, replays, weight limit, clock.
- ``GET|PUT /_sim/faults`` (PUT replaces them with the JSON body), ``DELETE`` clears them.
- ``GET /_sim/counters``; ``DELETE /_sim/counters`` zeroes them.
- ``POST /_sim/reset`` with optional ``{"counters": true, "faults": true, "clock": false}``.
- ``GET /_sim/clock``; ``POST /_sim/clock`` with one of ``{"fixed": ms}``, ``{"offset": ms}``,
  ``{"advance": ms}``, ``{"real": true}``.
- ``PUT /_sim/weight`` with ``{"limit": n}`` (null disables Binance's weight limit).
- ``PUT /_sim/kraken_rate`` with ``{"rate": calls_per_second}`` (null disables Kraken's limit).
- ``POST /_sim/ban`` with ``{"seconds": s}``: ban the Binance client (418) from now.
- ``PUT /_sim/status`` with ``{"symbol": "BTC/USDT", "status": "BREAK"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from .clock import SimClock
from .faults import Counters, Faults
from .limits import CallCounter, WeightLimiter

__all__ = ["Controllable", "add_control_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Controllable(Protocol):
    """What the control endpoints steer (the :class:`~.server.SimServer` provides it)."""

    clock: SimClock
    counters: Counters
    limiter: WeightLimiter
    kraken_limiter: CallCounter

    @property
    def faults(self) -> Faults:
        """The faults in force."""

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults."""

    def set_weight_limit(self, limit: int | None) -> None:
        """Change the per-minute weight limit."""

    def set_kraken_rate(self, rate: float | None) -> None:
        """Change Kraken's calls per second."""

    def ban(self, seconds: float) -> int:
        """Ban the Binance client from now; the end (epoch ms)."""

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """Set a symbol's status."""

    def reset(self, *, counters: bool = True, faults: bool = True, clock: bool = False) -> None:
        """Zero counters, clear faults, restore the clock."""

    def info(self) -> dict[str, Any]:
        """Seed, symbols, replays, limits, clock."""


def _ok(data: Any) -> web.Response:
    return web.json_response(data)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _guarded(handler: Handler) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return run


def add_control_routes(app: web.Application, sim: Controllable) -> None:
    """Register the ``/_sim/`` endpoints of ``sim`` on ``app``."""

    async def info(request: web.Request) -> web.StreamResponse:
        return _ok(sim.info())

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return _ok(sim.faults.as_dict())

    async def put_faults(request: web.Request) -> web.StreamResponse:
        return _ok(sim.set_faults(Faults.from_dict(await _body(request))).as_dict())

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        return _ok(sim.set_faults(None).as_dict())

    async def counters(request: web.Request) -> web.StreamResponse:
        return _ok(sim.counters.snapshot())

    async def clear_counters(request: web.Request) -> web.StreamResponse:
        sim.reset(counters=True, faults=False)
        return _ok(sim.counters.snapshot())

    async def reset(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        unknown = set(body) - {"counters", "faults", "clock"}
        if unknown:
            raise ValueError(f"unknown reset option(s): {', '.join(sorted(unknown))}")
        sim.reset(
            counters=bool(body.get("counters", True)),
            faults=bool(body.get("faults", True)),
            clock=bool(body.get("clock", False)),
        )
        return _ok(sim.info())

    async def get_clock(request: web.Request) -> web.StreamResponse:
        return _ok(sim.clock.as_dict())

    async def set_clock(request: web.Request) -> web.StreamResponse:
        sim.clock.apply(await _body(request))
        return _ok(sim.clock.as_dict())

    async def weight(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if set(body) != {"limit"}:
            raise ValueError('expected {"limit": n or null}')
        limit = body["limit"]
        sim.set_weight_limit(None if limit is None else int(limit))
        return _ok({"limit": sim.limiter.limit})

    async def kraken_rate(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if set(body) != {"rate"}:
            raise ValueError('expected {"rate": calls per second or null}')
        rate = body["rate"]
        sim.set_kraken_rate(None if rate is None else float(rate))
        return _ok({"rate": sim.kraken_limiter.rate})

    async def ban(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if set(body) != {"seconds"}:
            raise ValueError('expected {"seconds": s}')
        return _ok({"until": sim.ban(float(body["seconds"]))})

    async def status(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if set(body) != {"symbol", "status"}:
            raise ValueError('expected {"symbol": "BTC/USDT", "status": "BREAK"}')
        sim.set_symbol_status(str(body["symbol"]), str(body["status"]))
        return _ok(sim.info()["statuses"])

    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/_sim/info", info),
        ("GET", "/_sim/faults", get_faults),
        ("PUT", "/_sim/faults", put_faults),
        ("POST", "/_sim/faults", put_faults),
        ("DELETE", "/_sim/faults", clear_faults),
        ("GET", "/_sim/counters", counters),
        ("DELETE", "/_sim/counters", clear_counters),
        ("POST", "/_sim/reset", reset),
        ("GET", "/_sim/clock", get_clock),
        ("POST", "/_sim/clock", set_clock),
        ("PUT", "/_sim/weight", weight),
        ("PUT", "/_sim/kraken_rate", kraken_rate),
        ("POST", "/_sim/ban", ban),
        ("PUT", "/_sim/status", status),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guarded(handler))
