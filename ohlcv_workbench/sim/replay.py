"""Replay of a CSV or Parquet OHLCV file as a symbol.

The file has a time column (``timestamp``, ``time``, ``date``, ``datetime`` or ``open_time``;
epoch milliseconds or ISO-8601 text; a DatetimeIndex works too) and ``open``, ``high``,
``low``, ``close``, ``volume``. Its interval is inferred from the spacing of the rows (or
given). Klines of that interval return the identical values (shortest round-trip decimals);
larger intervals are aggregates. Only closed rows (``open + interval <= now``) are served;
there are no trades.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, DAY, Timeframe, timeframe

from .bars import F64, I64, group_starts
from .fmt import float_kline_rows
from .markets import SymbolSpec, spec_for
from .series import KlinePage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReplayData", "ReplayMarket", "load_ohlcv"]

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
    o, h, lo, c, v = values
    return ReplayData(ts, o, h, lo, c, v, interval=tf)


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

    def supports(self, tf: Timeframe) -> bool:
        """The file's interval and every interval that is a whole number of it."""
        base = self.data.interval
        if base.ms is None:
            return tf.ms is None and (tf.months or 0) % (base.months or 1) == 0
        if tf.ms is None:
            return DAY % base.ms == 0
        return tf.ms % base.ms == 0 and (tf.ms < DAY or DAY % base.ms == 0)

    def klines(self, tf: Timeframe, first: int, stop: int, now: int) -> KlinePage:
        """Rows (or aggregates of rows) opening in ``[first, stop)`` that closed by ``now``."""
        d = self.data
        lo, hi = np.searchsorted(d.ts, [first, stop])
        ts = d.ts[lo:hi]
        closed = self._closes(ts) <= now
        idx = np.arange(lo, hi)[closed]
        ts = d.ts[idx]
        if tf.name == d.interval.name:
            cols = (d.open[idx], d.high[idx], d.low[idx], d.close[idx], d.volume[idx])
            return KlinePage(ts, float_kline_rows(ts, cols, np.zeros(ts.size, np.int64), tf))
        keys = tf.floor_array(ts)
        starts = group_starts(keys)
        if starts.size == 0:
            return KlinePage(ts[:0], [])
        ends = np.append(starts[1:], ts.size) - 1
        cols = (
            d.open[idx][starts],
            np.maximum.reduceat(d.high[idx], starts),
            np.minimum.reduceat(d.low[idx], starts),
            d.close[idx][ends],
            np.add.reduceat(d.volume[idx], starts),
        )
        keys = keys[starts]
        return KlinePage(keys, float_kline_rows(keys, cols, np.zeros(keys.size, np.int64), tf))

    def _closes(self, ts: I64) -> I64:
        tf = self.data.interval
        if tf.ms is not None:
            return ts + tf.ms
        return np.asarray([tf.next(int(t)) for t in ts.tolist()], dtype=np.int64)

    def agg_trades(
        self, start: int | None, end: int | None, from_id: int | None, limit: int, now: int
    ) -> list[str]:
        """Replayed symbols have no trades."""
        return []

    def recent_trades(self, limit: int, now: int) -> list[str]:
        """Replayed symbols have no trades."""
        return []
