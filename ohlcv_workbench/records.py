"""Typed records that cross module boundaries (exchange -> collector -> store -> views).

Candles travel as a columnar :class:`CandleBatch` (numpy arrays, one per field) because a
backfill moves hundreds of thousands of them; :meth:`CandleBatch.rows` gives per-candle
:class:`OhlcvRow` records when that is more convenient.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # pandas is imported on use: the CLI's start-up path never needs it
    import pandas as pd

__all__ = ["OHLCV_COLUMNS", "CandleBatch", "OhlcvRow", "PublicTrade", "SeriesKey"]

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A candle series: (exchange, symbol, timeframe), in ccxt's unified spelling."""

    exchange: str
    symbol: str
    timeframe: str

    @property
    def component(self) -> str:
        """The ProcessCache component of this series' collector (seed convention)."""
        return f"ohlcv.{self.exchange}.{self.symbol}"

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


@dataclass(frozen=True, slots=True)
class OhlcvRow:
    """One candle; ``ts`` is its open time in UTC milliseconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = True


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One public trade; ``ts`` in UTC milliseconds, ``side`` is "buy" or "sell"."""

    trade_id: str
    ts: int
    price: float
    amount: float
    side: str


def _f64(values: Iterable[float] | FloatArray) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


@dataclass(frozen=True)
class CandleBatch:
    """Candles of one series in columns; ascending, unique open times.

    ``closed[i]`` is False for a candle still forming when it was fetched.
    """

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    closed: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    def __post_init__(self) -> None:
        n = len(self.ts)
        if self.closed.size == 0 and n:
            object.__setattr__(self, "closed", np.ones(n, dtype=np.bool_))
        for name in ("open", "high", "low", "close", "volume", "closed"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"CandleBatch column {name!r} has a different length than ts")

    @classmethod
    def empty(cls) -> CandleBatch:
        """A batch with no candles."""
        return cls.from_columns([], [], [], [], [], [])

    @classmethod
    def from_columns(
        cls,
        ts: Sequence[int] | IntArray,
        open_: Sequence[float] | FloatArray,
        high: Sequence[float] | FloatArray,
        low: Sequence[float] | FloatArray,
        close: Sequence[float] | FloatArray,
        volume: Sequence[float] | FloatArray,
        closed: Sequence[bool] | BoolArray | None = None,
    ) -> CandleBatch:
        """Build a batch from column sequences (copied into numpy arrays)."""
        n = len(ts)
        return cls(
            ts=np.ascontiguousarray(ts, dtype=np.int64),
            open=_f64(open_),
            high=_f64(high),
            low=_f64(low),
            close=_f64(close),
            volume=_f64(volume),
            closed=np.ones(n, dtype=np.bool_)
            if closed is None
            else np.ascontiguousarray(closed, dtype=np.bool_),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[OhlcvRow]) -> CandleBatch:
        """Build a batch from per-candle records."""
        items = list(rows)
        return cls.from_columns(
            [r.ts for r in items],
            [r.open for r in items],
            [r.high for r in items],
            [r.low for r in items],
            [r.close for r in items],
            [r.volume for r in items],
            [r.closed for r in items],
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CandleBatch:
        """Build a batch from an OHLCV DataFrame with a UTC DatetimeIndex (all closed)."""
        import pandas as pd

        index = pd.DatetimeIndex(frame.index)
        ts = index.as_unit("ms").asi8 if len(index) else np.empty(0, dtype=np.int64)
        return cls.from_columns(ts, *(frame[c].to_numpy(np.float64) for c in OHLCV_COLUMNS))

    def __len__(self) -> int:
        return len(self.ts)

    def __iter__(self) -> Iterator[OhlcvRow]:
        return iter(self.rows())

    def rows(self) -> list[OhlcvRow]:
        """Per-candle records."""
        return [
            OhlcvRow(int(t), float(o), float(h), float(lo), float(c), float(v), bool(k))
            for t, o, h, lo, c, v, k in zip(
                self.ts,
                self.open,
                self.high,
                self.low,
                self.close,
                self.volume,
                self.closed,
                strict=True,
            )
        ]

    def select(self, mask: BoolArray | slice) -> CandleBatch:
        """The candles selected by a boolean mask or slice."""
        return CandleBatch(
            self.ts[mask], self.open[mask], self.high[mask], self.low[mask],
            self.close[mask], self.volume[mask], self.closed[mask],
        )  # fmt: skip

    @classmethod
    def concat(cls, batches: Sequence[CandleBatch]) -> CandleBatch:
        """The candles of consecutive batches, in their order, as one batch."""
        if len(batches) == 1:
            return batches[0]
        columns = ("ts", "open", "high", "low", "close", "volume", "closed")
        return cls(*(np.concatenate([getattr(b, name) for b in batches]) for name in columns))

    def closed_only(self) -> CandleBatch:
        """Only the closed candles (the forming one is never stored as final)."""
        return self if bool(self.closed.all()) else self.select(self.closed)

    def to_frame(self) -> pd.DataFrame:
        """DataFrame with a UTC DatetimeIndex named "time" and float64 OHLCV columns."""
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ms", utc=True), name="time")
        return pd.DataFrame(
            {"open": self.open, "high": self.high, "low": self.low,
             "close": self.close, "volume": self.volume},
            index=index,
        )  # fmt: skip
