"""Replay of an OHLCV file (CSV or Parquet) or a DataFrame as a simulated symbol.

The file has a time column (``timestamp``, ``time``, ``date``, ``datetime`` or ``open_time``;
epoch milliseconds or ISO-8601 text; a DatetimeIndex works too) and ``open``, ``high``,
``low``, ``close``, ``volume``. Its interval is inferred from the spacing of the rows (or
given); rows may be missing (a market closed at weekends), and a page then holds the next
rows that exist. Klines of that interval return the identical values, with 8 decimals as
Binance prints them (values with more decimals are refused at load: Binance has none);
larger intervals are aggregates. Rows after "now" are not served; the row open at "now" is
served as the forming candle: its open, and its close, volume, high and low so far by the
share of its interval that has passed. There are no trades.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.store.resample import aggregate
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, DAY, Timeframe, timeframe

from .bars import F64, I64
from .fmt import float_kline_rows
from .intraminute import Trades
from .markets import SymbolSpec, spec_for
from .series import Index

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FloatCandles", "ReplayData", "ReplayMarket", "load_ohlcv"]

TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "open_time")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class ReplayData:
    """Rows of one OHLCV file: open times (ms, ascending, unique) and float columns."""

    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    interval: Timeframe


def _read(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise InputError(f"replay file {str(path)!r} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _times(frame: pd.DataFrame) -> I64:
    import pandas as pd

    columns = {str(c).lower(): c for c in frame.columns}
    name = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    if name is None:
        if isinstance(frame.index, pd.DatetimeIndex):
            return np.asarray(frame.index.as_unit("ms").asi8, dtype=np.int64)
        raise InputError(f"replay data has no time column (expected one of {TIME_COLUMNS})")
    raw = frame[name]
    if pd.api.types.is_numeric_dtype(raw):
        return np.asarray(raw.to_numpy(dtype=np.int64), dtype=np.int64)
    stamps = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
    return np.asarray(stamps.as_unit("ms").asi8, dtype=np.int64)


def _infer_interval(ts: I64) -> Timeframe:
    if ts.size < 2:
        raise InputError("replay data needs at least two rows to infer its interval")
    step = int(np.diff(ts).min())
    for name in BINANCE_TIMEFRAMES:
        tf = timeframe(name)
        if tf.ms == step:
            return tf
    if 28 * DAY <= step <= 31 * DAY:
        return timeframe("1M")
    raise InputError(f"replay rows are {step} ms apart, which is no Binance interval")


def load_ohlcv(source: str | Path | pd.DataFrame, interval: str | None = None) -> ReplayData:
    """Read and validate an OHLCV file (or DataFrame) for replay."""
    frame = _read(source)
    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in VALUE_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"replay data lacks column(s) {', '.join(missing)}")
    ts = _times(frame)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    if ts.size and bool((np.diff(ts) == 0).any()):
        raise InputError("replay data has duplicate timestamps")
    values = [frame[columns[c]].to_numpy(dtype=np.float64)[order] for c in VALUE_COLUMNS]
    tf = timeframe(interval) if interval else _infer_interval(ts)
    misaligned = ts[tf.floor_array(ts) != ts]
    if misaligned.size:
        raise InputError(f"replay row at {int(misaligned[0])} is not on a {tf.name} boundary")
    for name, column in zip(VALUE_COLUMNS, values, strict=True):
        _check_decimals(name, column, ts)
    o, h, lo, c, v = values
    return ReplayData(ts, o, h, lo, c, v, interval=tf)


def _check_decimals(name: str, values: F64, ts: I64) -> None:
    """InputError when a value has more than 8 decimals (or is not finite)."""
    units = values * 1e8
    with np.errstate(invalid="ignore"):
        off = np.abs(units - np.rint(units))
        bad = ~np.isfinite(values) | (off > np.maximum(1e-3, np.abs(units) * 2e-15))
    if bool(bad.any()):
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"replay {name} {float(values[i])!r} at {int(ts[i])} has more than 8 decimals (or "
            "is not a number): Binance serves 8 decimals; round the data first, e.g. "
            "frame.round(8)"
        )


class FloatCandles:
    """Candles of a replayed file, as floats."""

    def __init__(self, ts: I64, o: F64, h: F64, lo: F64, c: F64, v: F64) -> None:
        self.ts = ts
        self.columns = (o, h, lo, c, v)

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, index: Index) -> FloatCandles:
        """A subset."""
        return FloatCandles(self.ts[index], *(col[index] for col in self.columns))

    def binance_rows(self, tf: Timeframe) -> list[str]:
        """Binance kline arrays (8 decimals; no quote volume or trade count)."""
        return float_kline_rows(self.ts, self.columns, tf)

    def kraken_rows(self, price_decimals: int) -> list[str]:
        """Kraken OHLC rows (vwap: the typical price; no trade count)."""
        o, h, lo, c, v = self.columns
        vwap = np.where(v > 0, (h + lo + c) / 3, 0.0)
        d = price_decimals
        return [
            f'[{t // 1000},"{a:.{d}f}","{b:.{d}f}","{x:.{d}f}","{y:.{d}f}","{w:.{d}f}",'
            f'"{z:.8f}",0]'
            for t, a, b, x, y, w, z in zip(
                self.ts.tolist(), o.tolist(), h.tolist(), lo.tolist(), c.tolist(),
                vwap.tolist(), v.tolist(), strict=True,
            )
        ]  # fmt: skip

    def flat(self, ts: I64, closes: I64 | F64) -> FloatCandles:
        """Candles without trades at ``ts``, every price at ``closes``."""
        price = np.asarray(closes, dtype=np.float64)
        return FloatCandles(ts, price, price, price, price, np.zeros(ts.size))

    def closes(self) -> F64:
        """Close prices."""
        return self.columns[3]


class ReplayMarket:
    """A symbol whose candles come from a file."""

    def __init__(self, symbol: str, data: ReplayData, specs: tuple[SymbolSpec, ...]) -> None:
        if "/" not in symbol:
            raise InputError(
                f"replay symbol {symbol!r} must be spelled as ccxt does, e.g. BTC/USDT"
            )
        if len(data.ts) == 0:
            raise InputError(f"replay data for {symbol} has no rows")
        self.data = data
        self.listing = int(data.ts[0])
        known = spec_for(symbol, specs)
        base = known or SymbolSpec(symbol, 0, "0.00000001", "0.00000001", ())
        self.spec = replace(base, listing=self.listing)
        self._opens: dict[str, I64] = {}
        self._closes = self._close_times(data.ts)

    def supports(self, tf: Timeframe) -> bool:
        """The file's interval and every interval that is a whole number of it."""
        base = self.data.interval
        if base.ms is None:
            return tf.ms is None and (tf.months or 0) % (base.months or 1) == 0
        if tf.ms is None:
            return DAY % base.ms == 0
        return tf.ms % base.ms == 0 and (tf.ms < DAY or DAY % base.ms == 0)

    def _open_times(self, tf: Timeframe) -> I64:
        found = self._opens.get(tf.name)
        if found is None:
            found = self._opens[tf.name] = np.unique(tf.floor_array(self.data.ts))
        return found

    def opens(self, tf: Timeframe, start: int, stop: int, limit: int, newest: bool) -> I64:
        """Open times of the candles the file has rows for."""
        ts = self._open_times(tf)
        a, b = np.searchsorted(ts, [tf.ceil(start), stop])
        return ts[max(a, b - limit) : b] if newest else ts[a : min(b, a + limit)]

    def candles(self, tf: Timeframe, first: int, stop: int, now: int) -> FloatCandles:
        """Rows (or aggregates of rows) opening in ``[first, stop)``, the forming one partial."""
        d = self.data
        lo, hi = np.searchsorted(d.ts, [tf.floor(first), stop])
        hi = min(int(hi), int(np.searchsorted(d.ts, now, side="right")))
        ts = d.ts[lo:hi]
        o, h, low, c, v = (col[lo:hi].copy() for col in (d.open, d.high, d.low, d.close, d.volume))
        if ts.size and self._closes[hi - 1] > now:  # the row open at now: forming
            share = (now - int(ts[-1])) / (int(self._closes[hi - 1]) - int(ts[-1]))
            c[-1] = o[-1] + (c[-1] - o[-1]) * share
            h[-1], low[-1] = max(o[-1], c[-1]), min(o[-1], c[-1])
            v[-1] = v[-1] * share
        if tf.name == d.interval.name:
            return FloatCandles(ts, o, h, low, c, v).take(ts >= first)
        out = FloatCandles(*aggregate(tf.floor_array(ts), o, h, low, c, v))
        return out.take(out.ts >= first)

    def _close_times(self, ts: I64) -> I64:
        tf = self.data.interval
        if tf.ms is not None:
            return ts + tf.ms
        return np.asarray([tf.next(int(t)) for t in ts.tolist()], dtype=np.int64)

    def trade_blocks(self, start: int, stop: int, now: int, reverse: bool) -> Iterator[Trades]:
        """Replayed symbols have no trades."""
        return iter(())

    def second_of_trade_id(self, trade_id: int) -> int:
        """Replayed symbols have no trades."""
        return self.listing // 1000
