"""What a collector is asked to do, checked before anything is registered or written."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.times import TimeLike, iso, to_ms

__all__ = ["TRADES_TIMEFRAME", "CollectorKind", "CollectorSpec", "Mode"]

#: the "timeframe" of a trade series' lease and record
TRADES_TIMEFRAME = "trades"


class CollectorKind(StrEnum):
    """What a collector stores."""

    OHLCV = "ohlcv"
    TRADES = "trades"


class Mode(StrEnum):
    """``backfill``: up to ``until`` then stop; ``live``: backfill, then follow new data."""

    BACKFILL = "backfill"
    LIVE = "live"


@dataclass(frozen=True)
class CollectorSpec:
    """A validated request: series, range (UTC ms) and kind. Build it with :meth:`create`."""

    exchange: str
    symbol: str
    timeframe: str
    since: int | None
    until: int | None
    kind: CollectorKind = CollectorKind.OHLCV

    @classmethod
    def create(
        cls,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        *,
        kind: CollectorKind | str = CollectorKind.OHLCV,
    ) -> CollectorSpec:
        """Check the offline parts: names are text, times parse, ``until`` follows ``since``."""
        for name, value in (("exchange", exchange), ("symbol", symbol), ("timeframe", timeframe)):
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{name} must be non-empty text, got {value!r}")
        try:
            kind = CollectorKind(kind)
        except ValueError:
            valid = ", ".join(k.value for k in CollectorKind)
            raise InputError(f"kind={kind!r} is not valid: expected one of {valid}") from None
        since_ms = None if since is None else to_ms(since, "since")
        until_ms = None if until is None else to_ms(until, "until")
        if since_ms is not None and until_ms is not None and until_ms <= since_ms:
            raise InvalidTimeRangeError(
                f"until {iso(until_ms)} must be after since {iso(since_ms)}"
            )
        if kind is CollectorKind.TRADES:
            timeframe = TRADES_TIMEFRAME
        return cls(exchange.strip(), symbol.strip(), timeframe.strip(), since_ms, until_ms, kind)

    @property
    def mode(self) -> Mode:
        """BACKFILL with an ``until``, else LIVE."""
        return Mode.BACKFILL if self.until is not None else Mode.LIVE

    @property
    def series(self) -> SeriesKey:
        """The series key (timeframe ``"trades"`` for a trade collector)."""
        return SeriesKey(self.exchange, self.symbol, self.timeframe)

    @property
    def component(self) -> str:
        """``ohlcv.{exchange}.{symbol}`` (seed convention) or ``trades.{exchange}.{symbol}``."""
        return f"{self.kind.value}.{self.exchange}.{self.symbol}"

    def check_since(self, now: int) -> None:
        """InvalidTimeRangeError when ``since`` is after ``now`` (the exchange's time)."""
        if self.since is not None and self.since > now:
            raise InvalidTimeRangeError(
                f"since {iso(self.since)} is in the future: the exchange's time is {iso(now)}"
            )

    def params(self) -> dict[str, object]:
        """ProcessCache params: exchange, symbol, timeframe, mode, since, until (ISO or None)."""
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "mode": self.mode.value,
            "kind": self.kind.value,
            "since": None if self.since is None else iso(self.since),
            "until": None if self.until is None else iso(self.until),
        }

    def __str__(self) -> str:
        return f"{self.kind.value} {self.exchange} {self.symbol} {self.timeframe}"
