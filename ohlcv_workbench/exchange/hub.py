"""Shared exchange clients: one ccxt instance per exchange id (and limiter setting) per loop.

Every collector of an exchange in a process goes through the same ccxt instance, so they
share its rate limiter, its loaded markets and its pause (a ban stops them all). Instances are
reference-counted: the first :func:`open_exchange` creates it (no network call), the last one
to leave closes it (its HTTP session included, so nothing warns about unclosed sessions).

::

    async with open_exchange("sim") as ex:            # the simulator (settings.sim_url or embedded)
        batch = await ex.fetch_candles("BTC/USDT", "1m", since=..., until=...)

``"sim"`` is ccxt's binance class with ``urls['api']['public']`` pointed at the simulator and
spot markets only; ``"sim_kraken"`` is ccxt's kraken class with ``urls['api']['public']``
pointed at the simulator's Kraken dialect (the same data): in both the production code path
runs, only the URL differs. Any id of ``ccxt.exchanges`` works the same way.
``rate_limit=False`` gives a separate shared instance with ccxt's limiter off (for tests and
benchmarks against the simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from ohlcv_workbench.services.simulator import simulator_url
from ohlcv_workbench.settings import Settings

from .client import ExchangeClient
from .costs import CostMixin
from .retry import RetryPolicy
from .rows import NumericRowsMixin
from .translate import ResponseInfoMixin
from .validation import SIM_IDS, check_exchange_id

__all__ = ["ExchangeHub", "close_exchanges", "create_ccxt", "exchange_hub", "open_exchange"]

_Key = tuple[str, bool, str | None]
_classes: dict[type[Any], type[Any]] = {}


def _with_response_info(cls: type[Any]) -> type[Any]:
    """``cls`` with :class:`ResponseInfoMixin`, :class:`NumericRowsMixin` and
    :class:`CostMixin` mixed in (one subclass per ccxt class)."""
    klass = _classes.get(cls)
    if klass is None:
        bases = (ResponseInfoMixin, NumericRowsMixin, CostMixin, cls)
        klass = type(cls.__name__, bases, {"__module__": __name__})
        _classes[cls] = klass
    return klass


def create_ccxt(
    exchange_id: str,
    *,
    rate_limit: bool = True,
    url: str | None = None,
    request_timeout: float = 10.0,
) -> Any:
    """A new ccxt async instance for ``exchange_id`` (``"sim"`` and ``"sim_kraken"`` need the
    simulator's ``url``).

    No network call is made. Prefer :func:`open_exchange`, which shares instances.
    """
    exchange_id = check_exchange_id(exchange_id)
    config: dict[str, Any] = {"enableRateLimit": rate_limit, "timeout": int(request_timeout * 1000)}
    dialect = SIM_IDS.get(exchange_id)
    if dialect is not None:
        if url is None:
            raise ValueError(f"the {exchange_id!r} exchange needs the simulator's url")
        base = url.rstrip("/")
        if dialect == "binance":
            config["urls"] = {"api": {"public": f"{base}/api/v3"}}
            config["options"] = {"fetchMarkets": {"types": ["spot"]}}
        else:
            config["urls"] = {"api": {"public": base}}
    cls: type[Any] = getattr(ccxt, dialect or exchange_id)
    api = _with_response_info(cls)(config)
    if dialect is not None:
        api.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS sockets; loopback has none
    return api


@dataclass
class _Entry:
    client: ExchangeClient
    refs: int = 0


class ExchangeHub:
    """The shared exchange clients of one event loop (see the module docstring)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._entries: dict[_Key, _Entry] = {}
        self._keys: dict[int, _Key] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> list[ExchangeClient]:
        """The open clients."""
        return [entry.client for entry in self._entries.values()]

    def refs(self, client: ExchangeClient) -> int:
        """How many holders ``client`` has (0 once closed)."""
        key = self._keys.get(id(client))
        entry = self._entries.get(key) if key is not None else None
        return entry.refs if entry is not None and entry.client is client else 0

    async def _sim_url(self, settings: Settings | None) -> str:
        settings = settings or self._settings or Settings.from_env()
        if settings.sim_url is not None:
            return settings.sim_url
        return await asyncio.to_thread(simulator_url, settings)  # may start the shared one

    async def acquire(
        self,
        exchange_id: str,
        *,
        rate_limit: bool = True,
        url: str | None = None,
        settings: Settings | None = None,
        request_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> ExchangeClient:
        """The shared client of ``exchange_id``, one more holder; pair with :meth:`release`.

        The exchange id is checked first (UnknownExchangeError, nothing else done). For
        ``"sim"`` and ``"sim_kraken"``, ``url`` defaults to ``settings.sim_url`` or the
        machine's shared simulator.
        ``request_timeout`` (seconds per request) and ``retry`` apply when the instance is created.
        """
        exchange_id = check_exchange_id(exchange_id)
        if exchange_id not in SIM_IDS:
            url = None
        elif url is None:
            url = await self._sim_url(settings)
        url = url.rstrip("/") if url is not None else None
        key: _Key = (exchange_id, rate_limit, url)
        entry = self._entries.get(key)
        if entry is None:
            api = create_ccxt(
                exchange_id, rate_limit=rate_limit, url=url, request_timeout=request_timeout
            )
            client = ExchangeClient(exchange_id, api, rate_limit=rate_limit, retry=retry)
            entry = self._entries[key] = _Entry(client)
            self._keys[id(client)] = key
        entry.refs += 1
        return entry.client

    async def release(self, client: ExchangeClient) -> None:
        """One holder less; the last one closes the instance (even if this task is cancelled)."""
        key = self._keys.get(id(client))
        entry = self._entries.get(key) if key is not None else None
        if entry is None or entry.client is not client:
            raise ValueError(f"{client!r} is not held from this hub")
        entry.refs -= 1
        if entry.refs > 0:
            return
        assert key is not None
        del self._entries[key]
        del self._keys[id(client)]
        await self._close(client)

    async def _close(self, client: ExchangeClient) -> None:
        task = asyncio.ensure_future(client.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def open(
        self,
        exchange_id: str,
        *,
        rate_limit: bool = True,
        url: str | None = None,
        settings: Settings | None = None,
        request_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[ExchangeClient]:
        """``async with hub.open("sim") as ex:``: acquire, then release on exit."""
        client = await self.acquire(
            exchange_id, rate_limit=rate_limit, url=url, settings=settings,
            request_timeout=request_timeout, retry=retry,
        )  # fmt: skip
        try:
            yield client
        finally:
            await self.release(client)

    async def aclose(self) -> None:
        """Close every client, whoever holds it (at shutdown)."""
        entries = list(self._entries.values())
        self._entries.clear()
        self._keys.clear()
        for entry in entries:
            await self._close(entry.client)
        if self._closing:
            await asyncio.wait(set(self._closing))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ExchangeHub] = (
    weakref.WeakKeyDictionary()
)


def exchange_hub(loop: asyncio.AbstractEventLoop | None = None) -> ExchangeHub:
    """The hub of ``loop`` (default: the running loop), created on first use."""
    loop = loop or asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = ExchangeHub()
    return hub


def open_exchange(
    exchange_id: str,
    *,
    rate_limit: bool = True,
    url: str | None = None,
    settings: Settings | None = None,
    request_timeout: float = 10.0,
    retry: RetryPolicy | None = None,
) -> contextlib.AbstractAsyncContextManager[ExchangeClient]:
    """``async with open_exchange(id) as ex:``: the running loop's shared client of ``id``.

    See :meth:`ExchangeHub.acquire` for the arguments.
    """
    return exchange_hub().open(
        exchange_id, rate_limit=rate_limit, url=url, settings=settings,
        request_timeout=request_timeout, retry=retry,
    )  # fmt: skip


async def close_exchanges() -> None:
    """Close every shared client of the running loop (call before the loop ends)."""
    hub = _hubs.get(asyncio.get_running_loop())
    if hub is not None:
        await hub.aclose()
