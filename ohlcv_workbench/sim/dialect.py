"""What every REST dialect of the simulator shares: the request pipeline and its answers.

A dialect (:class:`~.binance_rest.BinanceRest`, :class:`~.kraken_rest.KrakenRest`) names its
endpoints and says how it spells errors, refusals and faults; :meth:`RestDialect.handle` runs
every request the same way: count it, meet an injected fault (latency, drop, timeout, 429,
5xx), pass the dialect's limits, answer, and gzip the body when the client accepts it (as
both exchanges do). The data, the clock, the faults and the counters belong to the
:class:`~.server.SimServer` below every dialect, so both serve the same series.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from .clock import SimClock
from .faults import Counters, Faults
from .series import Series

__all__ = ["DialectError", "RestDialect", "Route", "SimState", "respond"]

#: bodies shorter than this are sent as they are
GZIP_MIN_BYTES = 200

Route = Callable[[Mapping[str, str], Series | None], Any]


class SimState(Protocol):
    """What the dialects share (the :class:`~.server.SimServer` provides it)."""

    clock: SimClock
    counters: Counters
    markets: dict[str, Series]
    by_id: dict[str, Series]
    closing: asyncio.Event

    @property
    def faults(self) -> Faults:
        """The faults in force."""

    @property
    def gzip(self) -> bool:
        """Whether answers are gzipped for clients that accept it."""

    def symbol_status(self, symbol: str) -> str:
        """A symbol's status (``TRADING`` unless set)."""


class DialectError(Exception):
    """An error answered in the dialect's shape: HTTP status, body, extra headers."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(json.dumps(body))
        self.status, self.body, self.headers = status, body, dict(headers or {})


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


def respond(
    request: web.Request,
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    gzip: bool = True,
) -> web.Response:
    """A JSON response, gzipped when ``gzip``, the client accepts it and the body is worth it."""
    data = _encode(body)
    out = dict(headers or {})
    accepts = "gzip" in request.headers.get("Accept-Encoding", "")
    if gzip and accepts and len(data) >= GZIP_MIN_BYTES:
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container, fastest level
        data = packer.compress(data) + packer.flush()
        out["Content-Encoding"] = "gzip"
        out["Vary"] = "Accept-Encoding"
    return web.Response(body=data, status=status, content_type="application/json", headers=out)


class RestDialect(ABC):
    """One exchange's REST API over the shared simulator (see the module docstring)."""

    #: the dialect's name ("binance", "kraken")
    name: str
    #: the URL path the endpoints live under (``{prefix}{endpoint}``)
    prefix: str
    #: endpoints that never meet a fault (a liveness probe)
    exempt: frozenset[str] = frozenset()

    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self.routes: dict[str, Route] = {}

    def add_routes(self, app: web.Application) -> None:
        """Register ``GET {prefix}{endpoint}`` on ``app``."""
        app.router.add_get(self.prefix + "{endpoint}", self.handle)

    # -- what a dialect says -----------------------------------------------------------------
    @abstractmethod
    def series_of(self, query: Mapping[str, str]) -> Series | None:
        """The symbol a request names (None: none, or not known)."""

    @abstractmethod
    def admit(
        self, name: str, query: Mapping[str, str], series: Series | None
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Pass the dialect's limits: (a refusal or None, headers for the answer)."""

    @abstractmethod
    def rate_limited(self, request: web.Request, faults: Faults) -> web.Response:
        """The answer to an injected 429."""

    @abstractmethod
    def server_error(self, request: web.Request, faults: Faults, as_json: bool) -> web.Response:
        """The answer to an injected 5xx (the exchange's JSON error, or the edge's HTML)."""

    def refused_early(self, request: web.Request) -> web.Response | None:
        """A refusal before anything else (a ban); None to go on."""
        return None

    def not_found(self, request: web.Request) -> web.Response:
        """The answer to an unknown endpoint."""
        return web.Response(status=404, text="<html><body><h2>404 Not found</h2></body></html>")

    # -- the pipeline ------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one API request (see the module docstring)."""
        sim, counters = self.sim, self.sim.counters
        name = request.match_info["endpoint"]
        route = self.routes.get(name)
        if route is None:
            counters.statuses["404"] += 1
            return self.not_found(request)
        query = request.query
        counters.requests[name] += 1
        early = self.refused_early(request)
        if early is not None:
            return early
        series = self.series_of(query)
        faults = sim.faults
        symbol = series.spec.symbol if series is not None else None
        if name not in self.exempt and faults.active and faults.applies_to(symbol):
            answer = await self._inject(request, faults)
            if answer is not None:
                return answer
        refusal, headers = self.admit(name, query, series)
        if refusal is not None:
            return refusal
        try:
            body = route(query, series)
        except DialectError as exc:
            counters.statuses[str(exc.status)] += 1
            return self.respond(request, exc.body, exc.status, {**headers, **exc.headers})
        counters.statuses["200"] += 1
        return self.respond(request, body, headers=headers)

    def respond(
        self,
        request: web.Request,
        body: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        """:func:`respond` with the simulator's gzip setting."""
        return respond(request, body, status, headers, gzip=self.sim.gzip)

    def key(self, request: web.Request) -> str:
        """A request's identity for fault draws: path and sorted query."""
        query = "&".join(sorted(f"{k}={v}" for k, v in request.query.items()))
        return f"{request.path}?{query}"

    async def _inject(self, request: web.Request, faults: Faults) -> web.StreamResponse | None:
        counters = self.sim.counters
        if faults.latency > 0:
            counters.faults["latency"] += 1
            await asyncio.sleep(faults.latency)
        key = self.key(request)
        occurrence = counters.occurrence(key)
        fault = faults.request_fault(key, occurrence)
        if fault is None:
            return None
        counters.faults[fault] += 1
        if fault == "rate_limited":
            counters.statuses["429"] += 1
            return self.rate_limited(request, faults)
        if fault == "server_error":
            counters.statuses[str(faults.status)] += 1
            return self.server_error(request, faults, faults.server_error_json(key, occurrence))
        if fault == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sim.closing.wait(), faults.hang)
        counters.statuses["dropped"] += 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)
