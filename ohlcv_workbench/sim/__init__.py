"""The offline exchange: a local server speaking Binance's spot REST subset to real ccxt.

::

    async with SimServer(SimConfig(seed=7)) as sim:
        exchange = ccxt.async_support.binance(ccxt_config(sim.url))
        await exchange.fetch_ohlcv("BTC/USDT", "1m", since=..., limit=1000)

Data are deterministic (a pure function of seed, symbol and open time), larger intervals are
exact aggregates of smaller ones, and faults, the clock and counters are driven in-process
(:class:`SimServer`) or over HTTP (:class:`SimControl`). :func:`simulator_url` returns the
configured simulator or the machine's shared embedded one.

Names are imported on first use, so importing this package (e.g. for the embedded service)
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import SimClock
    from .control import SimControl
    from .faults import Counters, Faults
    from .markets import BUILTIN_SYMBOLS, SymbolSpec
    from .server import SimConfig, SimServer, ccxt_config
    from .service import EmbeddedSimulator, simulator_url
    from .thread import SimThread

__all__ = [
    "BUILTIN_SYMBOLS",
    "Counters",
    "EmbeddedSimulator",
    "Faults",
    "SimClock",
    "SimConfig",
    "SimControl",
    "SimServer",
    "SimThread",
    "SymbolSpec",
    "ccxt_config",
    "simulator_url",
]

_HOMES = {
    "BUILTIN_SYMBOLS": "markets",
    "Counters": "faults",
    "EmbeddedSimulator": "service",
    "Faults": "faults",
    "SimClock": "clock",
    "SimConfig": "server",
    "SimControl": "control",
    "SimServer": "server",
    "SimThread": "thread",
    "SymbolSpec": "markets",
    "ccxt_config": "server",
    "simulator_url": "service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
