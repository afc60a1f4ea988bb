"""Kraken's JSON rows: OHLC arrays and public trades, from the simulator's integer units.

- OHLC row: ``[time, "open", "high", "low", "close", "vwap", "volume", count]``: ``time`` in
  seconds, prices with the pair's ``pair_decimals``, the volume with 8 decimals, ``vwap`` the
  volume-weighted price ("0" decimals when nothing traded).
- Trade row: ``["price", "volume", time, "b"|"s", "m"|"l", "", trade_id]``: ``time`` in
  seconds with 7 decimals (sub-millisecond, as Kraken's), the side of the taker.

Kraken's ``last`` trade cursor is the nanosecond time of a trade: :func:`trade_ns` gives each
trade a distinct one (its millisecond, plus 0.1 ms, plus a microsecond per index in its
second), so a cursor never falls between two trades of one nanosecond and ccxt's conversion
of the seconds back to milliseconds (truncation) gives the trade's millisecond exactly.
"""

from __future__ import annotations

import numpy as np

from .bars import I64, Bars
from .intraminute import ID_STRIDE, Trades

__all__ = ["decimals_of", "ohlc_rows", "trade_ns", "trade_rows"]

E8 = 10**8


def decimals_of(units_e8: int) -> int:
    """Decimals needed for multiples of ``units_e8`` (1e-8 units): 0.01 -> 2."""
    decimals = 8
    while decimals > 0 and units_e8 % 10 ** (9 - decimals) == 0:
        decimals -= 1
    return decimals


def _fixed(units_e8: list[int], decimals: int) -> list[str]:
    """Amounts in 1e-8 units as text with ``decimals`` decimals (rounded half up)."""
    scale = 10 ** (8 - decimals)
    out = []
    for u in units_e8:
        q = (u + scale // 2) // scale
        if decimals == 0:
            out.append(str(q))
        else:
            whole, frac = divmod(q, 10**decimals)
            out.append(f"{whole}.{frac:0{decimals}d}")
    return out


def ohlc_rows(bars: Bars, tick_e8: int, lot_e8: int, price_decimals: int) -> list[str]:
    """Kraken OHLC rows of integer candles."""
    if len(bars) == 0:
        return []
    prices = [
        _fixed([int(p) * tick_e8 for p in col.tolist()], price_decimals)
        for col in (bars.open, bars.high, bars.low, bars.close)
    ]
    volume = bars.volume.tolist()
    quote = bars.quote.tolist()
    # vwap = quote value / base volume; quote is in 1e-6 units of the quote asset
    vwap = [(q * 10**10 // (v * lot_e8)) if v else 0 for q, v in zip(quote, volume, strict=True)]
    vwap_text = _fixed(vwap, price_decimals)
    vol_text = _fixed([v * lot_e8 for v in volume], 8)
    times = (bars.ts // 1000).tolist()
    counts = bars.trades.tolist()
    return [
        f'[{t},"{o}","{h}","{lo}","{c}","{w}","{v}",{n}]'
        for t, o, h, lo, c, w, v, n in zip(times, *prices, vwap_text, vol_text, counts, strict=True)
    ]


def trade_ns(trades: Trades) -> I64:
    """Each trade's nanosecond time (see the module docstring)."""
    index = trades.id % ID_STRIDE
    return np.asarray(trades.ts * 1_000_000 + 100_000 + index * 1000, dtype=np.int64)


def trade_rows(trades: Trades, tick_e8: int, lot_e8: int, price_decimals: int) -> list[str]:
    """Kraken public trade rows."""
    if len(trades) == 0:
        return []
    prices = _fixed((trades.price * tick_e8).tolist(), price_decimals)
    volumes = _fixed((trades.qty * lot_e8).tolist(), 8)
    ns = trade_ns(trades).tolist()
    sides = ["s" if m else "b" for m in trades.buyer_maker.tolist()]
    kinds = ["m" if i % 3 == 0 else "l" for i in trades.id.tolist()]
    return [
        f'["{p}","{v}",{t // 10**9}.{t % 10**9 // 100:07d},"{s}","{k}","",{i}]'
        for p, v, t, s, k, i in zip(
            prices, volumes, ns, sides, kinds, trades.id.tolist(), strict=True
        )
    ]
