"""Checks of exchange ids, symbols and timeframes, with errors that suggest close matches.

Exchange ids and timeframes are checked without any network call (ccxt knows both
statically); symbols are checked against markets the caller has already loaded.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import ccxt.async_support as ccxt

from ohlcv_workbench.errors import (
    InactiveSymbolError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from ohlcv_workbench.timeframes import Timeframe, timeframe

__all__ = [
    "SIM_ID",
    "SIM_IDS",
    "SIM_KRAKEN_ID",
    "check_exchange_id",
    "check_symbol",
    "check_timeframe",
    "known_exchange_ids",
    "suggest_symbols",
]

#: the workbench's own exchange ids: ccxt's binance class wired to the local simulator, and
#: ccxt's kraken class wired to the simulator's Kraken dialect (the same data)
SIM_ID = "sim"
SIM_KRAKEN_ID = "sim_kraken"
#: each simulator id and the ccxt class it is made of
SIM_IDS = {SIM_ID: "binance", SIM_KRAKEN_ID: "kraken"}

_SEPARATORS = re.compile(r"[^0-9A-Za-z]")


def known_exchange_ids() -> tuple[str, ...]:
    """Every exchange id the workbench accepts: ``"sim"``, ``"sim_kraken"`` and ccxt's ids."""
    return (*SIM_IDS, *ccxt.exchanges)


def check_exchange_id(exchange_id: object) -> str:
    """``exchange_id`` itself when known; else UnknownExchangeError naming close matches."""
    known = known_exchange_ids()
    if isinstance(exchange_id, str) and exchange_id in known:
        return exchange_id
    text = str(exchange_id)
    lowered = {name.lower(): name for name in known}
    close: list[str] = []
    if text.lower() in lowered:
        close.append(lowered[text.lower()])
    close += [
        lowered[m]
        for m in difflib.get_close_matches(text.lower(), list(lowered), n=4, cutoff=0.6)
        if lowered[m] not in close
    ]
    hint = f" Did you mean {_or(close)}?" if close else ""
    raise UnknownExchangeError(
        f"Unknown exchange {text!r}.{hint} Valid ids: {SIM_ID!r} and {SIM_KRAKEN_ID!r} (the "
        f"local simulator, Binance's and Kraken's dialects) or any of ccxt's "
        f"{len(known) - len(SIM_IDS)} exchange ids (ccxt.exchanges)."
    )


def check_timeframe(
    exchange_id: str, timeframes: Mapping[str, Any] | None, name: object
) -> Timeframe:
    """The parsed timeframe when the exchange offers it; else UnsupportedTimeframeError."""
    offered = list(timeframes or {})
    if isinstance(name, str) and name in offered:
        return timeframe(name)
    valid = ", ".join(offered) if offered else "(none: the exchange has no OHLCV)"
    close = difflib.get_close_matches(str(name), offered, n=3, cutoff=0.5)
    if isinstance(name, str) and name.lower() in offered:  # "1H" -> "1h" first
        close = [name.lower(), *(c for c in close if c != name.lower())]
    hint = f" Did you mean {_or(close)}?" if close else ""
    raise UnsupportedTimeframeError(
        f"Timeframe {name!r} is not offered by {exchange_id}.{hint} Valid timeframes: {valid}"
    )


def _squash(symbol: str) -> str:
    return _SEPARATORS.sub("", symbol).upper()


def suggest_symbols(
    symbol: str, markets: Mapping[str, Any], ids: Mapping[str, Any] | None = None, n: int = 5
) -> list[str]:
    """Listed symbols close to ``symbol``: same letters without separators or case first
    (``"BTCUSDT"``, ``"btc-usdt"`` -> ``"BTC/USDT"``), then difflib's close matches."""
    found: list[str] = []
    if ids is not None and symbol in ids:
        entry = ids[symbol]
        entries = entry if isinstance(entry, list) else [entry]
        found += [str(m["symbol"]) for m in entries if isinstance(m, dict) and "symbol" in m]
    squashed = _squash(symbol)
    if squashed:
        found += sorted(s for s in markets if _squash(s) == squashed)
    upper = {s.upper(): s for s in markets}
    found += [
        upper[m] for m in difflib.get_close_matches(symbol.upper(), list(upper), n=n, cutoff=0.7)
    ]
    unique: list[str] = []
    for item in found:
        if item not in unique and item != symbol:
            unique.append(item)
    return unique[:n]


def check_symbol(
    exchange_id: str,
    markets: Mapping[str, Any],
    symbol: object,
    ids: Mapping[str, Any] | None,
    *,
    trading: bool = False,
) -> str:
    """``symbol`` when listed in ``markets``; else UnknownSymbolError with suggestions.

    ``trading``: an inactive market (ccxt's ``active`` False) raises InactiveSymbolError
    naming the exchange's status of it.
    """
    if isinstance(symbol, str) and symbol in markets:
        market = markets[symbol]
        if trading and isinstance(market, dict) and market.get("active") is False:
            info = market.get("info") or {}
            status = info.get("status") if isinstance(info, dict) else None
            raise InactiveSymbolError(
                f"{symbol} on {exchange_id} is not trading (status {status or 'inactive'}: "
                "delisted, halted or in a break), so no new candles come; collect an active "
                "market, or read what is already stored"
            )
        return symbol
    text = str(symbol)
    close = suggest_symbols(text, markets, ids)
    hint = f" Did you mean {_or(close)}?" if close else ""
    sample = ", ".join(sorted(markets)[:8]) + (", ..." if len(markets) > 8 else "")
    raise UnknownSymbolError(
        f"Unknown symbol {text!r} on {exchange_id}.{hint} Symbols use ccxt's unified spelling "
        f"BASE/QUOTE; {len(markets)} markets are listed, e.g. {sample}"
    )


def _or(items: Iterable[str]) -> str:
    quoted = [repr(item) for item in items]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
