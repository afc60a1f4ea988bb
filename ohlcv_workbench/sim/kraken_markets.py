"""Kraken's names for the simulator's markets: asset codes, pair ids, AssetPairs and Assets.

Kraken spells some assets its own way: legacy crypto with an ``X`` prefix (``XXBT`` whose
altname is ``XBT`` for bitcoin, ``XETH``, ``XXRP``, ``XXDG`` for dogecoin), legacy fiat with
``Z`` (``ZUSD``, ``ZEUR``); newer assets as they are (``SOL``, ``USDT``). A pair of two legacy
assets is named by both codes (``XETHXXBT``, ``XXBTZUSD``), any other by the altnames
(``XBTUSDT``, ``SOLUSDT``); its ``altname`` always joins the altnames (``ETHXBT``). ccxt maps
them back (its ``commonCurrencies``: ``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``), so every
simulated market keeps its ccxt symbol (``BTC/USDT``) on both dialects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kraken_fmt import decimals_of
from .markets import SymbolSpec

__all__ = ["KrakenPair", "asset_code", "asset_entry", "pair_entry", "pair_of"]

#: common code -> (Kraken id, altname) for assets Kraken spells its own way
_LEGACY = {
    "BTC": ("XXBT", "XBT"),
    "ETH": ("XETH", "ETH"),
    "XRP": ("XXRP", "XRP"),
    "DOGE": ("XXDG", "XDG"),
    "LTC": ("XLTC", "LTC"),
    "XLM": ("XXLM", "XLM"),
    "USD": ("ZUSD", "USD"),
    "EUR": ("ZEUR", "EUR"),
    "GBP": ("ZGBP", "GBP"),
    "JPY": ("ZJPY", "JPY"),
    "CAD": ("ZCAD", "CAD"),
    "AUD": ("ZAUD", "AUD"),
}
#: Kraken's pair status for a Binance symbol status (ccxt: active only when "online")
_STATUS = {"TRADING": "online", "HALT": "cancel_only", "BREAK": "reduce_only"}
_FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
_FEES_MAKER = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1]]


def asset_code(code: str) -> tuple[str, str]:
    """(Kraken id, altname) of a common asset code: ``BTC`` -> ``("XXBT", "XBT")``."""
    return _LEGACY.get(code, (code, code))


@dataclass(frozen=True)
class KrakenPair:
    """One market as Kraken names it."""

    id: str
    altname: str
    wsname: str
    base: str
    quote: str


def pair_of(spec: SymbolSpec) -> KrakenPair:
    """Kraken's names of a simulated market."""
    base_id, base_alt = asset_code(spec.base)
    quote_id, quote_alt = asset_code(spec.quote)
    legacy = base_id != base_alt and quote_id != quote_alt
    pair_id = base_id + quote_id if legacy else base_alt + quote_alt
    return KrakenPair(pair_id, base_alt + quote_alt, f"{base_alt}/{quote_alt}", base_id, quote_id)


def _text(units_e8: int) -> str:
    whole, frac = divmod(units_e8, 10**8)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


def pair_entry(spec: SymbolSpec, status: str) -> dict[str, Any]:
    """The ``AssetPairs`` entry of a market (``status`` is the Binance-style symbol status)."""
    pair = pair_of(spec)
    return {
        "altname": pair.altname,
        "wsname": pair.wsname,
        "aclass_base": "currency",
        "base": pair.base,
        "aclass_quote": "currency",
        "quote": pair.quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": decimals_of(spec.tick_e8),
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": _FEES,
        "fees_maker": _FEES_MAKER,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": _text(spec.step_e8),
        "costmin": "0.5",
        "tick_size": _text(spec.tick_e8),
        "status": _STATUS.get(status, "cancel_only"),
    }


def asset_entry(code: str) -> dict[str, Any]:
    """The ``Assets`` entry of a common asset code."""
    kraken_id, altname = asset_code(code)
    legacy = kraken_id != altname
    return {
        "aclass": "currency",
        "altname": altname,
        "decimals": 10 if legacy and kraken_id.startswith("X") else 8,
        "display_decimals": 5 if legacy else 4,
        "status": "enabled",
    }
