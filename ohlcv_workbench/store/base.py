"""The store interface: candles and trades, with verbs that put the data kind first.

A backend implements a few primitives (``_ohlcv_write``, ``_ohlcv_read``, ...); validation,
resampling, frames, gaps, coverage, quality and candles-from-trades are written once, here, on
top of them. Times are UTC milliseconds or anything :func:`.models.to_ms` accepts; ranges are
half-open ``[start, end)`` and ``None`` means unbounded.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.records import OHLCV_COLUMNS, CandleBatch, PublicTrade, SeriesKey
from ohlcv_workbench.timeframes import Timeframe
from ohlcv_workbench.timeframes import timeframe as parse_timeframe
from ohlcv_workbench.times import TimeLike, time_range

from .models import Coverage, Gap, SeriesInfo, TradeColumns, Uncovered, UpsertResult
from .quality import QualityReport, find_gaps, quality_report
from .resample import aggregate, reachable, resample, resample_problem
from .validation import check_candles, check_trades

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CandleStore", "ohlcv_frame"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def ohlcv_frame(ts: I64, values: F64) -> pd.DataFrame:
    """The DataFrame contract from open times (ms) and a 5 x n array, without copying values.

    UTC DatetimeIndex named "time", float64 columns open, high, low, close, volume.
    """
    import pandas as pd

    micros = np.asarray(ts, dtype=np.int64) * 1000
    index = pd.DatetimeIndex(micros.view("M8[us]"), name="time").tz_localize("UTC")
    values = np.asarray(values, dtype=np.float64).reshape(len(OHLCV_COLUMNS), -1)
    return pd.DataFrame(values.T, index=index, columns=list(OHLCV_COLUMNS), copy=False)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} {value!r} is not valid: expected a non-empty string")
    return value


def _timeframe(key: SeriesKey) -> Timeframe:
    if not isinstance(key, SeriesKey):
        raise InputError(f"{key!r} is not a SeriesKey(exchange, symbol, timeframe)")
    _name(key.exchange, "exchange")
    _name(key.symbol, "symbol")
    return parse_timeframe(key.timeframe)


class CandleStore(ABC):
    """Candles of (exchange, symbol, timeframe) series and trades of (exchange, symbol).

    Use as a context manager or call :meth:`close`. Safe to share between threads.
    """

    url: str

    # -- primitives a backend implements ---------------------------------------------------
    @abstractmethod
    def _ohlcv_write(self, key: SeriesKey, batch: CandleBatch) -> UpsertResult:
        """Upsert a validated, non-empty batch atomically; log updated candles."""

    @abstractmethod
    def _ohlcv_read(self, key: SeriesKey, start: int | None, end: int | None) -> tuple[I64, F64]:
        """Open times and a 5 x n value array of the candles in ``[start, end)``."""

    @abstractmethod
    def _ohlcv_extent(self, key: SeriesKey) -> tuple[int, int, int] | None:
        """(first, last, count) of a series, or None when it holds nothing."""

    @abstractmethod
    def _ohlcv_delete(self, key: SeriesKey, start: int | None, end: int | None) -> int:
        """Delete the candles in ``[start, end)``; return how many."""

    @abstractmethod
    def ohlcv_inventory(
        self, exchange: str | None = None, symbol: str | None = None
    ) -> list[SeriesInfo]:
        """Every stored series (optionally of one exchange / symbol) with first, last, count."""

    @abstractmethod
    def _uncovered_write(self, key: SeriesKey, note: Uncovered) -> None:
        """Record a range the collectors could not cover (replacing notes it overlaps)."""

    @abstractmethod
    def _uncovered_read(
        self, key: SeriesKey, start: int | None, end: int | None
    ) -> list[Uncovered]:
        """Notes overlapping ``[start, end)``, by start."""

    @abstractmethod
    def _uncovered_clear(self, key: SeriesKey, start: int | None, end: int | None) -> int:
        """Forget the notes overlapping ``[start, end)``; return how many."""

    @abstractmethod
    def _trades_write(
        self, exchange: str, symbol: str, trades: Sequence[PublicTrade]
    ) -> UpsertResult:
        """Upsert validated trades by trade id atomically; log updated trades."""

    @abstractmethod
    def _trades_read(
        self, exchange: str, symbol: str, start: int | None, end: int | None
    ) -> TradeColumns:
        """Trades in ``[start, end)`` ordered by time, then trade id."""

    @abstractmethod
    def _trades_edge(self, exchange: str, symbol: str, newest: bool) -> PublicTrade | None:
        """The oldest or newest stored trade."""

    @abstractmethod
    def trades_count(self, exchange: str, symbol: str) -> int:
        """Number of stored trades of a market."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    # -- candles ---------------------------------------------------------------------------
    def ohlcv_store(self, key: SeriesKey, batch: CandleBatch) -> UpsertResult:
        """Upsert closed candles (idempotent); changed values are updates, logged as WARNING.

        The whole batch is validated first (:mod:`.validation`): one invalid row, including a
        forming candle (``closed=False``; pass ``batch.closed_only()``), raises
        InvalidDataError with a reason per row and nothing is written.
        """
        tf = _timeframe(key)
        if not isinstance(batch, CandleBatch):
            raise InputError(f"expected a CandleBatch, got {type(batch).__name__}")
        check_candles(batch, tf, str(key))
        if len(batch) == 0:
            return UpsertResult()
        return self._ohlcv_write(key, batch)

    def ohlcv_load(
        self,
        key: SeriesKey,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        timeframe: str | None = None,
        partial: bool = False,
    ) -> pd.DataFrame:
        """Candles in ``[start, end)`` as a DataFrame, optionally resampled to ``timeframe``.

        The frame has a UTC DatetimeIndex named "time" and float64 columns open, high, low,
        close, volume (empty, with the same dtypes, when nothing is stored). Resampling needs a
        timeframe coarser than and a multiple of the stored one (InputError otherwise); only
        complete buckets are returned unless ``partial=True`` (see :mod:`.resample`).
        """
        ts, values = self._load(key, start, end, timeframe, partial)
        return ohlcv_frame(ts, values)

    def ohlcv_load_batch(
        self,
        key: SeriesKey,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        timeframe: str | None = None,
        partial: bool = False,
    ) -> CandleBatch:
        """As :meth:`ohlcv_load`, as a CandleBatch (all closed)."""
        ts, v = self._load(key, start, end, timeframe, partial)
        return CandleBatch.from_columns(ts, v[0], v[1], v[2], v[3], v[4])

    def _load(
        self,
        key: SeriesKey,
        start: TimeLike | None,
        end: TimeLike | None,
        target_name: str | None,
        partial: bool,
    ) -> tuple[I64, F64]:
        stored = _timeframe(key)
        target = stored if target_name is None else parse_timeframe(target_name)
        problem = None if target == stored else resample_problem(stored, target)
        if problem is not None:
            held = [info.key.timeframe for info in self.ohlcv_inventory(key.exchange, key.symbol)]
            raise InputError(
                f"cannot resample {key} to {target.name}: {problem}; {stored.name} candles can "
                f"be resampled to {', '.join(reachable(stored))} "
                f"(stored for {key.exchange} {key.symbol}: {', '.join(held) or 'nothing'})"
            )
        lo, hi = time_range(start, end)
        ts, values = self._ohlcv_read(key, lo, hi)
        if target == stored or ts.size == 0:
            return ts, values
        first, last_end = int(ts[0]), stored.next(int(ts[-1]))
        window = (
            first if lo is None else max(lo, first),
            last_end if hi is None else min(hi, last_end),
        )
        return resample(ts, values, stored, target, window, partial)

    def ohlcv_first(self, key: SeriesKey) -> int | None:
        """Open time (UTC ms) of the first stored candle, or None."""
        _timeframe(key)
        extent = self._ohlcv_extent(key)
        return None if extent is None else extent[0]

    def ohlcv_last(self, key: SeriesKey) -> int | None:
        """Open time (UTC ms) of the last stored candle, or None (collectors resume after it)."""
        _timeframe(key)
        extent = self._ohlcv_extent(key)
        return None if extent is None else extent[1]

    def ohlcv_count(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> int:
        """Number of stored candles (in ``[start, end)`` when given)."""
        _timeframe(key)
        if start is None and end is None:
            extent = self._ohlcv_extent(key)
            return 0 if extent is None else extent[2]
        lo, hi = time_range(start, end)
        return int(self._ohlcv_read(key, lo, hi)[0].size)

    def ohlcv_inventory_frame(
        self, exchange: str | None = None, symbol: str | None = None
    ) -> pd.DataFrame:
        """The inventory as a DataFrame: exchange, symbol, timeframe, first, last, count."""
        import pandas as pd

        rows = [info.to_dict() for info in self.ohlcv_inventory(exchange, symbol)]
        columns = ["exchange", "symbol", "timeframe", "first", "last", "count"]
        frame = pd.DataFrame(rows, columns=columns)
        if not rows:
            frame = frame.astype({"first": "datetime64[ms, UTC]", "last": "datetime64[ms, UTC]"})
            frame = frame.astype({"count": "int64"})
        return frame

    def ohlcv_timeframes(self, exchange: str, symbol: str) -> list[str]:
        """Timeframes stored for a market, finest first."""
        return [info.key.timeframe for info in self.ohlcv_inventory(exchange, symbol)]

    def ohlcv_source(self, exchange: str, symbol: str, timeframe: str) -> SeriesKey:
        """The stored series that serves ``timeframe``: itself, else the coarsest finer one.

        Raises InputError naming what is stored when no stored series can be resampled to it.
        """
        target = parse_timeframe(timeframe)
        held = self.ohlcv_timeframes(_name(exchange, "exchange"), _name(symbol, "symbol"))
        usable = [n for n in held if resample_problem(parse_timeframe(n), target) is None]
        if not usable:
            raise InputError(
                f"no stored series of {exchange} {symbol} can give {target.name} candles "
                f"(stored: {', '.join(held) or 'nothing'}; a stored timeframe must divide it)"
            )
        best = max(usable, key=lambda n: parse_timeframe(n).nominal_ms)
        return SeriesKey(exchange, symbol, best)

    def ohlcv_delete(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> int:
        """Delete the candles in ``[start, end)`` (all of them by default); return how many."""
        _timeframe(key)
        lo, hi = time_range(start, end)
        return self._ohlcv_delete(key, lo, hi)

    def _range_ts(
        self, key: SeriesKey, start: TimeLike | None, end: TimeLike | None
    ) -> tuple[Timeframe, int, int, I64]:
        tf = _timeframe(key)
        lo, hi = time_range(start, end)
        if lo is None or hi is None:
            extent = self._ohlcv_extent(key)
            if extent is None:  # nothing stored and an open range: an empty range
                return tf, 0, 0, np.empty(0, dtype=np.int64)
            lo = extent[0] if lo is None else lo
            hi = tf.next(extent[1]) if hi is None else hi
        return tf, lo, hi, self._ohlcv_read(key, lo, hi)[0]

    def ohlcv_gaps(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> list[Gap]:
        """Missing candles in ``[start, end)``; by default between the first and last candle."""
        tf, lo, hi, ts = self._range_ts(key, start, end)
        return find_gaps(ts, tf, lo, hi)

    def ohlcv_coverage(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> Coverage:
        """Expected and present candles and the gaps in ``[start, end)`` (default: the extent)."""
        tf, lo, hi, ts = self._range_ts(key, start, end)
        gaps = find_gaps(ts, tf, lo, hi)
        return Coverage(key, lo, hi, tf.count(lo, hi), int(ts.size), tuple(gaps))

    def ohlcv_quality(
        self,
        key: SeriesKey,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        jump_sigmas: float = 8.0,
    ) -> QualityReport:
        """The data-quality report of the stored candles in ``[start, end)``."""
        tf = _timeframe(key)
        batch = self.ohlcv_load_batch(key, start, end)
        report = quality_report(batch, tf, series=key, jump_sigmas=jump_sigmas)
        lo, hi = time_range(start, end)
        uncovered = tuple(self._uncovered_read(key, lo, hi))
        return dataclasses.replace(report, uncovered=uncovered) if uncovered else report

    # -- ranges the collectors could not cover -----------------------------------------------
    def ohlcv_mark_uncovered(
        self, key: SeriesKey, start: TimeLike, end: TimeLike, reason: str
    ) -> Uncovered:
        """Note that candles in ``[start, end)`` could not be collected, and why; the quality
        report names it until :meth:`ohlcv_clear_uncovered` (or a new note over it)."""
        _timeframe(key)
        lo, hi = time_range(start, end)
        if lo is None or hi is None or hi <= lo:
            raise InputError(f"uncovered range of {key}: end must follow start ({start}, {end})")
        note = Uncovered(lo, hi, _name(reason, "reason"))
        self._uncovered_write(key, note)
        return note

    def ohlcv_uncovered(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> list[Uncovered]:
        """The uncovered ranges noted for a series, overlapping ``[start, end)``."""
        _timeframe(key)
        lo, hi = time_range(start, end)
        return self._uncovered_read(key, lo, hi)

    def ohlcv_clear_uncovered(
        self, key: SeriesKey, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> int:
        """Forget the uncovered ranges overlapping ``[start, end)``; return how many."""
        _timeframe(key)
        lo, hi = time_range(start, end)
        return self._uncovered_clear(key, lo, hi)

    # -- trades ----------------------------------------------------------------------------
    def trades_store(
        self, exchange: str, symbol: str, trades: Sequence[PublicTrade]
    ) -> UpsertResult:
        """Upsert public trades by trade id (idempotent); invalid trades reject the batch."""
        market = f"{_name(exchange, 'exchange')} {_name(symbol, 'symbol')}"
        check_trades(trades, market)
        if not trades:
            return UpsertResult()
        return self._trades_write(exchange, symbol, trades)

    def trades_load(
        self, exchange: str, symbol: str, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Trades in ``[start, end)``: UTC "time" index, columns trade_id, price, amount, side."""
        import pandas as pd

        lo, hi = time_range(start, end)
        cols = self._trades_read(_name(exchange, "exchange"), _name(symbol, "symbol"), lo, hi)
        micros = cols.ts * 1000
        index = pd.DatetimeIndex(micros.view("M8[us]"), name="time").tz_localize("UTC")
        return pd.DataFrame(
            {
                "trade_id": pd.Series(cols.trade_id, index=index, dtype="str"),
                "price": pd.Series(cols.price, index=index),
                "amount": pd.Series(cols.amount, index=index),
                "side": pd.Series(cols.side, index=index, dtype="str"),
            },
            index=index,
        )

    def trades_first(self, exchange: str, symbol: str) -> PublicTrade | None:
        """The oldest stored trade, or None."""
        return self._trades_edge(_name(exchange, "exchange"), _name(symbol, "symbol"), False)

    def trades_last(self, exchange: str, symbol: str) -> PublicTrade | None:
        """The newest stored trade (latest time, then highest id), or None: resume after it."""
        return self._trades_edge(_name(exchange, "exchange"), _name(symbol, "symbol"), True)

    def trades_to_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pd.DataFrame:
        """Candles of ``timeframe`` built from the trades in ``[start, end)`` (DataFrame contract).

        open/close are the first/last trade's price (by time, then id), volume the summed
        amount; intervals without a trade are absent. Buckets cut by ``start``/``end`` hold
        only the trades inside the range: pass aligned bounds for whole candles.
        """
        tf = parse_timeframe(timeframe)
        lo, hi = time_range(start, end)
        cols = self._trades_read(_name(exchange, "exchange"), _name(symbol, "symbol"), lo, hi)
        p = cols.price
        ts, *values = aggregate(tf.floor_array(cols.ts), p, p, p, p, cols.amount)
        return ohlcv_frame(ts, np.stack(values) if ts.size else np.empty((5, 0)))

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
