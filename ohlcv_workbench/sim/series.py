"""What a symbol serves, whatever the dialect: existing candle open times, candles, trades.

A :class:`Series` answers in numbers; each dialect formats them (Binance's kline arrays,
Kraken's OHLC rows). Candles come as :class:`IntCandles` (generated: integer ticks and lots,
exact) or :class:`~.replay.FloatCandles` (replayed files), both with the same small surface:
open times, ``take``, and one formatter per dialect. :meth:`Series.opens` lists the open
times of the candles that exist (from the listing on, for replays only the file's rows);
which of them a page holds is planned by :mod:`.pages`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.timeframes import MINUTE, Timeframe

from .bars import I64, Bars
from .fmt import kline_rows
from .generator import GeneratedSeries
from .intraminute import Trades
from .kraken_fmt import ohlc_rows
from .markets import SymbolSpec

__all__ = [
    "Candles",
    "GeneratedMarket",
    "Index",
    "IntCandles",
    "Series",
    "bounded_opens",
    "collect",
]

#: minutes of trades computed at once when walking trades
TRADE_BLOCK_MINUTES = 2
Index = I64 | slice | npt.NDArray[np.bool_]


class Candles(Protocol):
    """Candles of one interval, ready to be formatted by a dialect."""

    ts: I64

    def __len__(self) -> int: ...

    def take(self, index: Index) -> Candles:
        """A subset."""
        ...

    def binance_rows(self, tf: Timeframe) -> list[str]:
        """Binance kline arrays (JSON text, one per candle)."""
        ...

    def kraken_rows(self, price_decimals: int) -> list[str]:
        """Kraken OHLC rows (JSON text, one per candle)."""
        ...

    def flat(self, ts: I64, closes: I64 | npt.NDArray[np.float64]) -> Candles:
        """Candles without trades at ``ts``, every price at ``closes`` (Kraken's empty rows)."""
        ...

    def closes(self) -> I64 | npt.NDArray[np.float64]:
        """Close prices, in the candles' own units."""
        ...


class IntCandles:
    """Generated candles in integer units (ticks, lots, micro-units of quote)."""

    def __init__(self, bars: Bars, tick_e8: int, lot_e8: int) -> None:
        self.bars = bars
        self.ts = bars.ts
        self._units = (tick_e8, lot_e8)

    def __len__(self) -> int:
        return len(self.bars)

    def take(self, index: Index) -> IntCandles:
        """A subset."""
        return IntCandles(self.bars.take(index), *self._units)

    def binance_rows(self, tf: Timeframe) -> list[str]:
        """Binance kline arrays, numbers as 8-decimal strings."""
        return kline_rows(self.bars, tf, *self._units, 100)

    def kraken_rows(self, price_decimals: int) -> list[str]:
        """Kraken OHLC rows."""
        return ohlc_rows(self.bars, *self._units, price_decimals)

    def flat(self, ts: I64, closes: I64 | npt.NDArray[np.float64]) -> IntCandles:
        """Candles without trades at ``ts``, every price at ``closes``."""
        price = np.asarray(closes, dtype=np.int64)
        zero = np.zeros(ts.size, dtype=np.int64)
        bars = Bars(ts, price, price, price, price, zero, zero, zero, zero, zero)
        return IntCandles(bars, *self._units)

    def closes(self) -> I64:
        """Close prices in ticks."""
        return self.bars.close


class Series(Protocol):
    """A symbol the simulator serves."""

    spec: SymbolSpec
    listing: int

    def supports(self, tf: Timeframe) -> bool:
        """True when candles of ``tf`` can be served."""
        ...

    def opens(self, tf: Timeframe, start: int, stop: int, limit: int, newest: bool) -> I64:
        """Open times of existing candles in ``[start, stop)``: the first ``limit`` of them
        (the last ``limit`` when ``newest``), ascending."""
        ...

    def candles(self, tf: Timeframe, first: int, stop: int, now: int) -> Candles:
        """Existing candles opening in ``[first, stop)`` (at or before ``now``); the one
        still forming at ``now`` holds what traded before ``now``."""
        ...

    def trade_blocks(self, start: int, stop: int, now: int, reverse: bool) -> Iterator[Trades]:
        """Trades with ``start <= T < stop`` and ``T < now`` in blocks (each ascending), from
        the oldest block on, or from the newest with ``reverse``."""
        ...

    def second_of_trade_id(self, trade_id: int) -> int:
        """The second index (epoch seconds) holding the trade id."""
        ...


def bounded_opens(tf: Timeframe, start: int, stop: int, limit: int, newest: bool) -> I64:
    """Every slot's open time in ``[start, stop)``, at most ``limit`` (first or last ones)."""
    first = tf.ceil(start)
    if stop <= first or limit <= 0:
        return np.empty(0, dtype=np.int64)
    if newest:
        last = tf.floor(stop - 1)
        lo = max(first, tf.next(last, -(limit - 1)))
        return tf.range(lo, stop)
    return tf.range(first, min(stop, tf.next(first, limit)))


class GeneratedMarket:
    """A generated symbol: deterministic candles of every interval, and trades."""

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        self.series = GeneratedSeries(spec, seed)
        self.listing = spec.listing
        self.units = (spec.tick_e8, spec.step_e8)

    def supports(self, tf: Timeframe) -> bool:
        """Every interval is served."""
        return True

    def opens(self, tf: Timeframe, start: int, stop: int, limit: int, newest: bool) -> I64:
        """Every slot from the listing's candle on."""
        return bounded_opens(tf, max(start, tf.floor(self.listing)), stop, limit, newest)

    def candles(self, tf: Timeframe, first: int, stop: int, now: int) -> IntCandles:
        """Closed candles from the series, then the forming one as a partial aggregate."""
        forming = tf.floor(now)
        bars = self.series.closed_candles(tf, first, min(stop, forming))
        if first <= forming < stop:
            partial = self.series.partial(forming, now)
            if len(partial):
                bars = Bars.concat([bars, partial])
        return IntCandles(bars, *self.units)

    def trade_blocks(self, start: int, stop: int, now: int, reverse: bool) -> Iterator[Trades]:
        """Trades in ``[start, min(stop, now))``, by blocks of a couple of minutes."""
        series = self.series
        start = max(start, series.listing)
        stop = min(stop, now)
        if stop <= start:
            return
        first, last = start // MINUTE, (stop - 1) // MINUTE
        blocks = range(first, last + 1, TRADE_BLOCK_MINUTES)
        for minute in reversed(blocks) if reverse else blocks:
            block = series.trades_of_minutes(minute, minute + TRADE_BLOCK_MINUTES)
            keep = (block.ts >= start) & (block.ts < stop)
            if not bool(keep.all()):
                block = block.take(keep)
            if len(block):
                yield block

    def second_of_trade_id(self, trade_id: int) -> int:
        """The second index holding the trade id (ids encode their second)."""
        return self.series.second_of_trade_id(trade_id) if trade_id >= 0 else 0


class _Batch(Protocol):
    def __len__(self) -> int: ...

    def take(self, index: Index) -> Any: ...


B = TypeVar("B", bound=_Batch)


def collect(
    blocks: Iterable[Trades],
    limit: int,
    shape: Callable[[Trades], B],
    concat: Callable[[list[B]], B],
    *,
    reverse: bool = False,
) -> B:
    """The first ``limit`` items ``shape`` makes of the blocks (the last ``limit`` when the
    blocks come newest first, ``reverse``), ascending."""
    found: list[B] = []
    count = 0
    for block in blocks:
        items = shape(block)
        if not len(items):
            continue
        if reverse:
            found.insert(0, items)
        else:
            found.append(items)
        count += len(items)
        if count >= limit:
            break
    out = concat(found)
    if reverse:
        return cast(B, out.take(slice(max(len(out) - limit, 0), None)))
    return cast(B, out.take(slice(0, limit)))
