"""ccxt timeframes ("1m", "4h", "1w", "1M") as exact, exchange-aligned candle boundaries.

Candles are stamped with their open time in UTC milliseconds. Seconds, minutes, hours and days
are aligned to the Unix epoch (as Binance does, including ``3d``); weeks open on Monday
00:00 UTC; months open on the first day of the month (``3M`` on quarters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from .errors import UnsupportedTimeframeError

__all__ = ["BINANCE_TIMEFRAMES", "Timeframe", "timeframe"]

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
_MONDAY_OFFSET = 4 * DAY  # 1970-01-01 was a Thursday

BINANCE_TIMEFRAMES = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1M",
)  # fmt: skip

_UNIT_MS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdwMy])$")

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Timeframe:
    """A parsed timeframe: either a fixed duration in ms, or a number of calendar months."""

    name: str
    ms: int | None  # fixed duration, None for month-based timeframes
    months: int | None  # month-based timeframes only

    @property
    def nominal_ms(self) -> int:
        """Duration in ms (30 days per month for month-based timeframes)."""
        return self.ms if self.ms is not None else 30 * DAY * (self.months or 1)

    def floor(self, ts: int) -> int:
        """Open time of the candle containing ``ts``."""
        if self.ms is not None:
            offset = _MONDAY_OFFSET if self.ms % WEEK == 0 else 0
            return (ts - offset) // self.ms * self.ms + offset
        index = _month_index(ts) // self._months * self._months
        return _month_start(index)

    def ceil(self, ts: int) -> int:
        """Open time of the first candle opening at or after ``ts``."""
        start = self.floor(ts)
        return start if start == ts else self.next(start)

    def next(self, ts: int, n: int = 1) -> int:
        """Open time ``n`` candles after the candle containing ``ts``."""
        start = self.floor(ts)
        if self.ms is not None:
            return start + n * self.ms
        return _month_start(_month_index(start) + n * self._months)

    def is_aligned(self, ts: int) -> bool:
        """True when ``ts`` is a candle open time."""
        return self.floor(ts) == ts

    def count(self, start: int, end: int) -> int:
        """Number of candle open times in ``[start, end)``."""
        if end <= start:
            return 0
        first = self.ceil(start)
        if first >= end:
            return 0
        if self.ms is not None:
            return (end - first - 1) // self.ms + 1
        return int(self.range(first, end).size)

    def range(self, start: int, end: int) -> Int64Array:
        """Every candle open time in ``[start, end)``, ascending."""
        first = self.ceil(start)
        if end <= first:
            return np.empty(0, dtype=np.int64)
        if self.ms is not None:
            return np.arange(first, end, self.ms, dtype=np.int64)
        first_index = _month_index(first)
        last_index = _month_index(end - 1)
        starts = [_month_start(i) for i in range(first_index, last_index + 1, self._months)]
        return np.array([s for s in starts if s < end], dtype=np.int64)

    def floor_array(self, ts: Int64Array) -> Int64Array:
        """Vectorised :meth:`floor`."""
        ts = np.asarray(ts, dtype=np.int64)
        if self.ms is not None:
            offset = _MONDAY_OFFSET if self.ms % WEEK == 0 else 0
            return np.asarray((ts - offset) // self.ms * self.ms + offset, dtype=np.int64)
        months = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
        months = months // self._months * self._months
        return np.asarray(
            months.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64),
            dtype=np.int64,
        )

    @property
    def _months(self) -> int:
        assert self.months is not None
        return self.months

    def __str__(self) -> str:
        return self.name


def _month_index(ts: int) -> int:
    moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
    return (moment.year - 1970) * 12 + moment.month - 1


def _month_start(index: int) -> int:
    year, month = divmod(index, 12)
    return int(datetime(1970 + year, month + 1, 1, tzinfo=UTC).timestamp() * 1000)


@lru_cache(maxsize=256)
def timeframe(name: str) -> Timeframe:
    """Parse a ccxt timeframe such as ``"1m"``, ``"4h"``, ``"1w"`` or ``"1M"``.

    Raises UnsupportedTimeframeError for anything else.
    """
    match = _PATTERN.match(name) if isinstance(name, str) else None
    if match is None:
        raise UnsupportedTimeframeError(
            f"{name!r} is not a timeframe: expected a number and a unit "
            f"(s, m, h, d, w, M, y), e.g. {', '.join(BINANCE_TIMEFRAMES)}"
        )
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "M":
        return Timeframe(name, None, amount)
    if unit == "y":
        return Timeframe(name, None, 12 * amount)
    return Timeframe(name, amount * _UNIT_MS[unit], None)
