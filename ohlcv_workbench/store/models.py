"""Typed records the store returns: upsert results, series, gaps, coverage, trade columns.

Times in them are UTC milliseconds (``int``); methods of the store take any
:data:`~ohlcv_workbench.times.TimeLike`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.timeframes import timeframe
from ohlcv_workbench.times import iso

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Coverage",
    "Gap",
    "SeriesInfo",
    "TradeColumns",
    "Uncovered",
    "UpsertResult",
    "inventory_order",
]


def _stamp(ms: int | None) -> pd.Timestamp | None:
    import pandas as pd

    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an upsert did: rows new to the store, rows whose values changed, rows already equal."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        """Rows in the batch."""
        return self.inserted + self.updated + self.unchanged

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One stored series: its key, first and last open time (UTC ms) and candle count."""

    key: SeriesKey
    first: int
    last: int
    count: int

    def to_dict(self) -> dict[str, Any]:
        """Flat view: exchange, symbol, timeframe, first, last (UTC Timestamps), count."""
        return {
            "exchange": self.key.exchange,
            "symbol": self.key.symbol,
            "timeframe": self.key.timeframe,
            "first": _stamp(self.first),
            "last": _stamp(self.last),
            "count": self.count,
        }


def inventory_order(infos: list[SeriesInfo]) -> list[SeriesInfo]:
    """The inventory's order: by exchange, symbol, then timeframe (finest first)."""
    return sorted(
        infos, key=lambda i: (i.key.exchange, i.key.symbol, timeframe(i.key.timeframe).nominal_ms)
    )


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: open times in ``[start, end)`` (UTC ms), ``missing`` of them."""

    start: int
    end: int
    missing: int

    def __str__(self) -> str:
        return f"{iso(self.start)} .. {iso(self.end)} ({self.missing} missing)"

    def to_dict(self) -> dict[str, Any]:
        """Flat view with UTC Timestamps."""
        return {"start": _stamp(self.start), "end": _stamp(self.end), "missing": self.missing}


@dataclass(frozen=True, slots=True)
class Uncovered:
    """Candles a collector could not get: open times in ``[start, end)`` (UTC ms), and why
    (e.g. the exchange serves only recent candles and gave no trades before them)."""

    start: int
    end: int
    reason: str

    def __str__(self) -> str:
        return f"{iso(self.start)} .. {iso(self.end)} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        """Flat view with UTC Timestamps."""
        return {"start": _stamp(self.start), "end": _stamp(self.end), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of ``[start, end)`` a series holds: expected and present candles, and gaps."""

    key: SeriesKey
    start: int
    end: int
    expected: int
    present: int
    gaps: tuple[Gap, ...]

    @property
    def missing(self) -> int:
        """Candles missing in the range."""
        return self.expected - self.present

    @property
    def ratio(self) -> float:
        """Share of the expected candles present (1.0 for an empty range)."""
        return self.present / self.expected if self.expected else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Flat view (gaps as a list of dicts)."""
        out = asdict(self)
        out["key"] = str(self.key)
        out["start"], out["end"] = _stamp(self.start), _stamp(self.end)
        out["missing"], out["ratio"] = self.missing, self.ratio
        out["gaps"] = [g.to_dict() for g in self.gaps]
        return out


@dataclass(frozen=True)
class TradeColumns:
    """Trades of one market in columns, ascending by time then trade id."""

    trade_id: list[str]
    ts: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    amount: npt.NDArray[np.float64]
    side: list[str]

    def __len__(self) -> int:
        return len(self.trade_id)
