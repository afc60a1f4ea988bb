"""The offline exchange: a local server speaking Binance's spot REST and Kraken's public REST.

::

    async with SimServer(SimConfig(seed=7)) as sim:
        exchange = ccxt.async_support.binance(ccxt_config(sim.url))
        await exchange.fetch_ohlcv("BTC/USDT", "1m", since=..., limit=1000)
        kraken = ccxt.async_support.kraken(kraken_ccxt_config(sim.url))
        await kraken.fetch_ohlcv("BTC/USDT", "1h")       # the same series, Kraken's way

Data are deterministic (a pure function of seed, symbol and open time), larger intervals are
exact aggregates of smaller ones, and faults, the clock and counters are driven in-process
(:class:`SimServer`) or over HTTP (:class:`SimControl`). The machine's shared simulator is an
embedded service: :func:`ohlcv_workbench.services.simulator_url`.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohlcv_workbench._lazy import lazy_exports

if TYPE_CHECKING:
    from .clock import SimClock
    from .control import SimControl
    from .faults import Counters, Faults
    from .markets import BUILTIN_SYMBOLS, SymbolSpec
    from .server import SimConfig, SimServer, ccxt_config, kraken_ccxt_config
    from .thread import SimThread

__all__ = [
    "BUILTIN_SYMBOLS",
    "Counters",
    "Faults",
    "SimClock",
    "SimConfig",
    "SimControl",
    "SimServer",
    "SimThread",
    "SymbolSpec",
    "ccxt_config",
    "kraken_ccxt_config",
]

_HOMES = {
    "BUILTIN_SYMBOLS": "markets",
    "Counters": "faults",
    "Faults": "faults",
    "SimClock": "clock",
    "SimConfig": "server",
    "SimControl": "control",
    "SimServer": "server",
    "SimThread": "thread",
    "SymbolSpec": "markets",
    "ccxt_config": "server",
    "kraken_ccxt_config": "server",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
