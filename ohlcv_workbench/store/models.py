"""Typed records the store returns, and the time conversions its methods accept.

Times cross the store's boundary as UTC milliseconds (``int``); every method that takes a
time also accepts a ``datetime`` (naive ones are read as UTC, the project's convention), a
``pandas.Timestamp``, a ``numpy.datetime64`` or ISO text such as ``"2024-01-01"`` or
``"2024-01-01T00:03:00Z"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError
from ohlcv_workbench.records import SeriesKey

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Coverage",
    "Gap",
    "SeriesInfo",
    "TimeLike",
    "TradeColumns",
    "UpsertResult",
    "iso",
    "ms_to_datetime",
    "time_range",
    "to_ms",
]

TimeLike: TypeAlias = "int | datetime | np.datetime64 | str"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_FORMS = "UTC milliseconds (int), a datetime, a pandas Timestamp, a numpy datetime64 or ISO text"


def to_ms(value: TimeLike, name: str = "time") -> int:
    """``value`` as UTC epoch milliseconds; InputError naming it when it is not a time."""
    if isinstance(value, bool):
        raise InputError(f"{name}={value!r} is not a time: expected {_FORMS}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError(f"{name}={value!r} is not a time (NaT): expected {_FORMS}")
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise InputError(f"{name}={value!r} is not ISO time text: expected {_FORMS}") from None
        return to_ms(parsed, name)
    if isinstance(value, datetime):
        if value != value:  # pandas.NaT is a datetime that is not equal to itself
            raise InputError(f"{name}={value!r} is not a time (NaT): expected {_FORMS}")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _ONE_MS
    raise InputError(f"{name}={value!r} is not a time: expected {_FORMS}")


def time_range(start: TimeLike | None, end: TimeLike | None) -> tuple[int | None, int | None]:
    """``[start, end)`` in ms; InvalidTimeRangeError when ``end`` is before ``start``."""
    lo = None if start is None else to_ms(start, "start")
    hi = None if end is None else to_ms(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise InvalidTimeRangeError(f"end {iso(hi)} is before start {iso(lo)}")
    return lo, hi


def ms_to_datetime(ms: int) -> datetime:
    """UTC milliseconds as an aware ``datetime``."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """``2026-01-01T00:03:00Z`` (milliseconds shown only when there are any)."""
    moment = ms_to_datetime(int(ms))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


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
