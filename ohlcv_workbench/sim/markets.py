"""The simulator's spot markets: specs of the built-in symbols and Binance's ``exchangeInfo``.

Each :class:`SymbolSpec` carries what the data generator needs (tick and lot sizes, listing
time, a coarse price history to follow, volatility, activity) and what ``exchangeInfo`` shows.
Listing times are modelled on Binance's first candles; nothing is served before them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "BUILTIN_SYMBOLS",
    "SYMBOL_STATUSES",
    "SymbolSpec",
    "exchange_info",
    "market_id",
    "spec_for",
]

E8 = 10**8
#: the symbol statuses the simulator serves (Binance's ``symbolStatus`` values): trading,
#: halted (an emergency stop), or in a break (delisted, or expected downtime)
SYMBOL_STATUSES = ("TRADING", "HALT", "BREAK")


def _ms(text: str) -> int:
    """``"2017-08-17T04:00"`` (UTC) as epoch milliseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _e8(text: str) -> int:
    value = Decimal(text) * E8
    if value != value.to_integral_value() or value <= 0:
        raise ValueError(f"{text!r} is not a positive multiple of 1e-8")
    return int(value)


def _fmt8(units: int) -> str:
    return f"{units // E8}.{units % E8:08d}"


def market_id(symbol: str) -> str:
    """Binance's id of a ccxt spot symbol: ``BTC/USDT`` -> ``BTCUSDT``."""
    return symbol.replace("/", "")


@dataclass(frozen=True)
class SymbolSpec:
    """One simulated spot market.

    ``anchors`` is a coarse price history ``(UTC date, price)`` the generated path follows
    (log-linear between anchors, flat outside); ``sigma`` the per-minute volatility;
    ``trades_per_min`` and ``lots_per_trade`` set the mean activity.
    """

    symbol: str
    listing: int
    tick: str
    step: str
    anchors: tuple[tuple[str, float], ...]
    sigma: float = 0.001
    trades_per_min: int = 300
    lots_per_trade: int = 1000
    min_notional: str = "5"
    max_qty: str = "9000000"

    @property
    def id(self) -> str:
        """Binance's market id (``BTCUSDT``)."""
        return market_id(self.symbol)

    @property
    def base(self) -> str:
        """Base asset (``BTC``)."""
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        """Quote asset (``USDT``)."""
        return self.symbol.split("/")[1]

    @property
    def tick_e8(self) -> int:
        """Tick size in units of 1e-8."""
        return _e8(self.tick)

    @property
    def step_e8(self) -> int:
        """Lot (step) size in units of 1e-8."""
        return _e8(self.step)

    def anchor_points(self) -> tuple[list[int], list[float]]:
        """Anchor times (ms) and prices."""
        return [_ms(d) for d, _ in self.anchors], [p for _, p in self.anchors]

    def exchange_info_entry(self, status: str = "TRADING") -> dict[str, Any]:
        """The ``symbols[]`` entry of ``exchangeInfo``, shaped as Binance's spot API (which
        states no listing time: ccxt's ``market["created"]`` stays None)."""
        tick, step = self.tick_e8, self.step_e8
        entry: dict[str, Any] = {
            "symbol": self.id,
            "status": status,
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _fmt8(tick),
                    "maxPrice": _fmt8(tick * 10**8),
                    "tickSize": _fmt8(tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _fmt8(step),
                    "maxQty": _fmt8(_e8(self.max_qty)),
                    "stepSize": _fmt8(step),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": _fmt8(_e8(self.max_qty) // 10),
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "TRAILING_DELTA",
                    "minTrailingAboveDelta": 10,
                    "maxTrailingAboveDelta": 2000,
                    "minTrailingBelowDelta": 10,
                    "maxTrailingBelowDelta": 2000,
                },
                {
                    "filterType": "PERCENT_PRICE_BY_SIDE",
                    "bidMultiplierUp": "5",
                    "bidMultiplierDown": "0.2",
                    "askMultiplierUp": "5",
                    "askMultiplierDown": "0.2",
                    "avgPriceMins": 5,
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": _fmt8(_e8(self.min_notional)),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": [
                "EXPIRE_TAKER",
                "EXPIRE_MAKER",
                "EXPIRE_BOTH",
                "DECREMENT",
            ],
        }
        return entry


BUILTIN_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        "BTC/USDT", _ms("2017-08-17T04:00"), "0.01", "0.00001",
        (("2017-08-17", 4300), ("2017-12-17", 19000), ("2018-12-15", 3200),
         ("2019-06-26", 13000), ("2020-03-13", 4800), ("2020-12-31", 29000),
         ("2021-04-14", 63000), ("2021-07-20", 30000), ("2021-11-10", 68000),
         ("2022-06-18", 18000), ("2022-11-21", 15800), ("2023-12-31", 42000),
         ("2024-03-14", 73000), ("2024-09-06", 53000), ("2024-12-17", 106000),
         ("2025-04-08", 76000), ("2025-10-06", 124000), ("2026-01-01", 88000)),
        sigma=0.0008, trades_per_min=600, lots_per_trade=800,
    ),
    SymbolSpec(
        "ETH/USDT", _ms("2017-08-17T04:00"), "0.01", "0.0001",
        (("2017-08-17", 300), ("2018-01-13", 1400), ("2018-12-15", 85),
         ("2020-03-13", 110), ("2021-05-12", 4300), ("2021-11-10", 4800),
         ("2022-06-18", 900), ("2023-12-31", 2300), ("2024-03-12", 4000),
         ("2025-04-09", 1400), ("2025-08-24", 4900), ("2026-01-01", 3000)),
        sigma=0.001, trades_per_min=400, lots_per_trade=500,
    ),
    SymbolSpec(
        "BNB/USDT", _ms("2017-11-06T03:00"), "0.01", "0.001",
        (("2017-11-06", 1.5), ("2018-01-12", 24), ("2019-06-22", 39),
         ("2020-03-13", 9), ("2021-05-03", 680), ("2022-06-18", 185),
         ("2024-06-06", 720), ("2025-10-13", 1300), ("2026-01-01", 870)),
        sigma=0.001, trades_per_min=150, lots_per_trade=300,
    ),
    SymbolSpec(
        "ETH/BTC", _ms("2017-07-14T04:00"), "0.00001", "0.0001",
        (("2017-07-14", 0.08), ("2018-01-13", 0.1), ("2019-09-01", 0.017),
         ("2021-12-01", 0.082), ("2024-01-01", 0.055), ("2025-04-22", 0.018),
         ("2025-08-24", 0.04), ("2026-01-01", 0.034)),
        sigma=0.0006, trades_per_min=200, lots_per_trade=300, min_notional="0.0001",
    ),
    SymbolSpec(
        "XRP/USDT", _ms("2018-05-04T08:00"), "0.0001", "0.1",
        (("2018-05-04", 0.85), ("2018-09-21", 0.57), ("2020-03-13", 0.14),
         ("2021-04-14", 1.9), ("2022-06-18", 0.3), ("2024-11-01", 0.5),
         ("2025-01-16", 3.3), ("2025-07-18", 3.6), ("2026-01-01", 1.9)),
        sigma=0.0012, trades_per_min=300, lots_per_trade=5000,
    ),
    SymbolSpec(
        "SOL/USDT", _ms("2020-08-11T06:00"), "0.01", "0.001",
        (("2020-08-11", 3), ("2021-11-06", 259), ("2022-12-29", 8.5),
         ("2024-03-18", 205), ("2025-01-19", 295), ("2025-04-07", 100),
         ("2026-01-01", 125)),
        sigma=0.0015, trades_per_min=400, lots_per_trade=2000,
    ),
    SymbolSpec(
        "DOGE/USDT", _ms("2019-07-05T12:00"), "0.00001", "1",
        (("2019-07-05", 0.0045), ("2021-05-08", 0.7), ("2022-06-18", 0.05),
         ("2024-12-08", 0.47), ("2025-04-07", 0.14), ("2026-01-01", 0.12)),
        sigma=0.0015, trades_per_min=250, lots_per_trade=3000,
    ),
    SymbolSpec(
        "SUI/USDT", _ms("2023-05-03T12:00"), "0.0001", "0.1",
        (("2023-05-03", 1.4), ("2023-10-19", 0.37), ("2024-03-27", 2.0),
         ("2025-01-06", 5.3), ("2025-04-07", 1.8), ("2026-01-01", 1.5)),
        sigma=0.0015, trades_per_min=200, lots_per_trade=2000,
    ),
)  # fmt: skip


def spec_for(symbol: str, specs: Iterable[SymbolSpec] = BUILTIN_SYMBOLS) -> SymbolSpec | None:
    """The spec of a ccxt symbol or Binance id, or None."""
    for spec in specs:
        if symbol in (spec.symbol, spec.id):
            return spec
    return None


def exchange_info(
    entries: Sequence[dict[str, Any]], server_time: int, weight_limit: int
) -> dict[str, Any]:
    """The full ``exchangeInfo`` answer for the given ``symbols[]`` entries."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": list(entries),
    }
