"""Binance's JSON rows, formatted fast: numbers as strings with 8 fixed decimals.

Rows are built with one ``%`` format per row over integer columns (``divmod`` by 1e8 done in
numpy), which keeps a 1000-candle page at a couple of milliseconds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.timeframes import Timeframe

from .aggtrades import AggTrades
from .bars import F64, I64, Bars
from .intraminute import Trades

__all__ = ["agg_trade_rows", "close_times", "float_kline_rows", "kline_rows", "trade_rows"]

E8 = 10**8
_KLINE = (
    '[%d,"%d.%08d","%d.%08d","%d.%08d","%d.%08d","%d.%08d",%d,"%d.%08d",%d,"%d.%08d","%d.%08d","0"]'
)
_AGG = '{"a":%d,"p":"%d.%08d","q":"%d.%08d","f":%d,"l":%d,"T":%d,"m":%s,"M":true}'
_TRADE = (
    '{"id":%d,"price":"%d.%08d","qty":"%d.%08d","quoteQty":"%d.%08d","time":%d,'
    '"isBuyerMaker":%s,"isBestMatch":true}'
)


def close_times(tf: Timeframe, ts: I64) -> I64:
    """Binance's closeTime: the next candle's open minus one millisecond."""
    if tf.ms is not None:
        return ts + (tf.ms - 1)
    months = ts.astype("datetime64[ms]").astype("datetime64[M]") + np.timedelta64(tf.months, "M")
    return np.asarray(months.astype("datetime64[ms]").astype(np.int64) - 1, dtype=np.int64)


def _split(units: I64) -> tuple[list[int], list[int]]:
    whole, frac = np.divmod(units, E8)
    return whole.tolist(), frac.tolist()


def kline_rows(bars: Bars, tf: Timeframe, tick_e8: int, lot_e8: int, quote_e8: int) -> list[str]:
    """Kline rows ``[openTime, "open", ..., "0"]`` of integer candles."""
    if len(bars) == 0:
        return []
    columns: list[list[int]] = [bars.ts.tolist()]
    for prices in (bars.open, bars.high, bars.low, bars.close):
        columns.extend(_split(prices * tick_e8))
    columns.extend(_split(bars.volume * lot_e8))
    columns.append(close_times(tf, bars.ts).tolist())
    columns.extend(_split(bars.quote * quote_e8))
    columns.append(bars.trades.tolist())
    columns.extend(_split(bars.taker_base * lot_e8))
    columns.extend(_split(bars.taker_quote * quote_e8))
    fmt = _KLINE
    return [fmt % row for row in zip(*columns, strict=True)]


def float_kline_rows(ts: I64, columns: tuple[F64, F64, F64, F64, F64], tf: Timeframe) -> list[str]:
    """Kline rows of float candles (replayed files), numbers with 8 decimals as Binance's."""
    o, h, lo, c, v = ([f"{x:.8f}" for x in col.tolist()] for col in columns)
    close = close_times(tf, ts).tolist()
    zero = "0.00000000"
    return [
        f'[{t},"{a}","{b}","{d}","{e}","{f}",{z},"{zero}",0,"{zero}","{zero}","0"]'
        for t, a, b, d, e, f, z in zip(ts.tolist(), o, h, lo, c, v, close, strict=True)
    ]


def _bools(values: npt.NDArray[np.bool_]) -> list[str]:
    return ["true" if x else "false" for x in values.tolist()]


def _quote_e8(trades: Trades, tick_e8: int, lot_e8: int) -> I64:
    return np.asarray(
        [
            p * q * tick_e8 * lot_e8 // E8
            for p, q in zip(trades.price.tolist(), trades.qty.tolist(), strict=True)
        ],
        dtype=np.int64,
    )


def agg_trade_rows(agg: AggTrades, tick_e8: int, lot_e8: int) -> list[str]:
    """``aggTrades`` objects: aggregate id, price, summed quantity, first and last trade id."""
    if len(agg) == 0:
        return []
    pw, pf = _split(agg.price * tick_e8)
    qw, qf = _split(agg.qty * lot_e8)
    return [
        _AGG % row
        for row in zip(
            agg.id.tolist(),
            pw,
            pf,
            qw,
            qf,
            agg.first.tolist(),
            agg.last.tolist(),
            agg.ts.tolist(),
            _bools(agg.buyer_maker),
            strict=True,
        )
    ]


def trade_rows(trades: Trades, tick_e8: int, lot_e8: int) -> list[str]:
    """``trades`` and ``historicalTrades`` objects."""
    if len(trades) == 0:
        return []
    pw, pf = _split(trades.price * tick_e8)
    qw, qf = _split(trades.qty * lot_e8)
    xw, xf = _split(_quote_e8(trades, tick_e8, lot_e8))
    return [
        _TRADE % row
        for row in zip(
            trades.id.tolist(),
            pw,
            pf,
            qw,
            qf,
            xw,
            xf,
            trades.ts.tolist(),
            _bools(trades.buyer_maker),
            strict=True,
        )
    ]
