"""fullon_ohlcv's surface as thin adapters over the workbench store (no second implementation).

::

    async with CandleRepository("binance", "BTC/USDT") as repo:      # the default store
        ok = await repo.save_candles([Candle(ts, o, h, lo, c, vol), ...])
        latest = await repo.get_latest_timestamp()                   # datetime (UTC) or None

    async with TimeseriesRepository("binance", "BTC/USDT") as repo:
        rows = await repo.fetch_ohlcv(4, "hours", fromdate, todate)  # [(datetime, o, h, l, c, v)]
        frame = await repo.fetch_ohlcv_df(1, "days", fromdate, todate)

:class:`Candle` and :class:`Trade` keep fullon_ohlcv's field names (``vol``; ``volume``,
``side``, ``type``). Their ``timestamp`` accepts a ``datetime`` (naive ones are UTC), epoch
milliseconds (``int``; nonzero values below 10**11 are refused as probable epoch seconds), ISO
text or an arrow ``Arrow``, and is kept as an aware UTC ``datetime`` of whole milliseconds;
anything else (floats included) raises InputError naming the value.

The repositories run the store's (synchronous: SQLite or PostgreSQL) calls with
``asyncio.to_thread`` so the event loop is never blocked. Without ``store=`` they open the
settings' store (:func:`~ohlcv_workbench.store.open_store`) on entry and close it on exit; a
store passed in is used as is and left open. Choices that differ from, or pin down, fullon_ohlcv:

- ``save_candles`` returns True when the candles are stored, and raises rather than returning
  False: InvalidDataError (a reason per rejected candle, nothing written) or StoreError. A
  ``False`` would hide why. Candles may come in any order; they are sorted by time, and
  duplicate times are rejected. Upserts are idempotent; a changed candle is an update.
- Time ranges are half-open, ``[fromdate, todate)``, as everywhere in the workbench.
- ``fetch_ohlcv`` serves the market's stored candle series that can give the timeframe (the
  coarsest stored divisor), resampled on read, and returns only complete buckets unless
  ``partial=True``. A market with no such series but with stored trades gets candles built
  from its trades (fullon_ohlcv's TimeseriesRepository aggregates trades too). Without
  trades, stored candles that cannot give the timeframe (e.g. 7m from 5m) raise InputError
  naming what is stored, and a market with nothing stored gives an empty answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from numbers import Real
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError, StoreError
from ohlcv_workbench.records import CandleBatch, PublicTrade, SeriesKey
from ohlcv_workbench.timeframes import timeframe as parse_timeframe
from ohlcv_workbench.times import iso, ms_to_datetime, parse_iso_text, to_ms

from .base import CandleStore, ohlcv_frame
from .resample import resample_problem

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PERIODS",
    "Candle",
    "CandleRepository",
    "OhlcvTuple",
    "TimeseriesRepository",
    "Trade",
    "candles_from_batch",
    "candles_to_batch",
    "fullon_timeframe",
]

P = ParamSpec("P")
T = TypeVar("T")

#: fullon's period names and the ccxt timeframe unit each stands for
PERIODS = {"minutes": "m", "hours": "h", "days": "d", "weeks": "w", "months": "M"}
TRADE_SIDES = ("BUY", "SELL")
TRADE_TYPES = ("MARKET", "LIMIT")

OhlcvTuple: TypeAlias = tuple[datetime, float, float, float, float, float]
#: what the models accept as a number (kept as float)
Number: TypeAlias = float | Decimal | np.floating[Any] | np.integer[Any]

_FORMS = "a datetime (naive is UTC), epoch milliseconds (int), ISO text or an arrow Arrow"
_SECONDS_LIKE = 10**11  # 1973-03-03 in ms; smaller magnitudes are epoch seconds by mistake


def _timestamp(value: object, what: str) -> datetime:
    """``value`` as an aware UTC datetime of whole milliseconds; InputError naming it."""
    if isinstance(value, bool):
        raise InputError(f"{what}={value!r} is not a time: expected {_FORMS}")
    if isinstance(value, float | np.floating):
        raise InputError(
            f"{what}={value!r} is not a time: expected {_FORMS} "
            "(floats are ambiguous: pass int milliseconds)"
        )
    if isinstance(value, int | np.integer):
        if 0 < abs(int(value)) < _SECONDS_LIKE:
            raise InputError(
                f"{what}={value!r} looks like epoch seconds ({iso(int(value) * 1000)}): "
                f"expected epoch milliseconds, e.g. {int(value) * 1000}"
            )
        return ms_to_datetime(int(value))
    if isinstance(value, str):
        value = parse_iso_text(value, what, _FORMS)
    moment = getattr(value, "datetime", None)  # arrow.Arrow carries its datetime
    if isinstance(moment, datetime) and not isinstance(value, datetime):
        value = moment
    if not isinstance(value, datetime | np.datetime64):
        raise InputError(f"{what}={value!r} is not a time: expected {_FORMS}")
    exact = ms_to_datetime(to_ms(value, what))
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if aware != exact:  # microseconds (or a pandas Timestamp's nanoseconds) beyond ms
            raise InputError(
                f"{what}={value!r} has a sub-millisecond part: times are whole milliseconds"
            )
    return exact


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise InputError(f"{what}={value!r} is not a number")
    return float(value)


def _choice(value: object, what: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    raise InputError(
        f"{what}={value!r} is not valid: expected one of {', '.join(choices)} (any case)"
    )


@dataclass(frozen=True, slots=True, init=False)
class Candle:
    """A candle as fullon_ohlcv spells it: open time ``timestamp`` (aware UTC) and ``vol``.

    Value rules (``low <= min(open, close)``, finite values, ...) are checked when saved,
    with a reason per candle; the constructor checks the types and the time.
    """

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    vol: float

    def __init__(
        self,
        timestamp: datetime | int | str,
        open: Number,
        high: Number,
        low: Number,
        close: Number,
        vol: Number,
    ) -> None:
        object.__setattr__(self, "timestamp", _timestamp(timestamp, "Candle timestamp"))
        for name, value in (("open", open), ("high", high), ("low", low), ("close", close)):
            object.__setattr__(self, name, _number(value, f"Candle {name}"))
        object.__setattr__(self, "vol", _number(vol, "Candle vol"))

    @property
    def ms(self) -> int:
        """Open time in UTC epoch milliseconds."""
        return to_ms(self.timestamp)


@dataclass(frozen=True, slots=True, init=False)
class Trade:
    """A trade as fullon_ohlcv spells it: ``volume``, ``side`` BUY/SELL, ``type`` MARKET/LIMIT.

    ``side`` and ``type`` are accepted in any case and kept upper-case; ``type`` may be None
    (public trades rarely say). ``trade_id`` (keyword only, not in fullon's model) is what the
    store upserts by: :meth:`to_public` needs it.
    """

    timestamp: datetime
    price: float
    volume: float
    side: str
    type: str | None
    trade_id: str | None

    def __init__(
        self,
        timestamp: datetime | int | str,
        price: Number,
        volume: Number,
        side: str,
        type: str | None = None,
        *,
        trade_id: str | None = None,
    ) -> None:
        if trade_id is not None and (not isinstance(trade_id, str) or not trade_id):
            raise InputError(f"Trade trade_id={trade_id!r} is not valid: expected text or None")
        object.__setattr__(self, "timestamp", _timestamp(timestamp, "Trade timestamp"))
        object.__setattr__(self, "price", _number(price, "Trade price"))
        object.__setattr__(self, "volume", _number(volume, "Trade volume"))
        object.__setattr__(self, "side", _choice(side, "Trade side", TRADE_SIDES))
        kind = None if type is None else _choice(type, "Trade type", TRADE_TYPES)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "trade_id", trade_id)

    @property
    def ms(self) -> int:
        """Time in UTC epoch milliseconds."""
        return to_ms(self.timestamp)

    @classmethod
    def from_public(cls, trade: PublicTrade) -> Trade:
        """The fullon view of a stored or fetched trade (``type`` unknown: None)."""
        moment = ms_to_datetime(int(trade.ts))
        return cls(moment, trade.price, trade.amount, trade.side, trade_id=trade.trade_id)

    def to_public(self) -> PublicTrade:
        """The store's record of this trade; InputError without a ``trade_id``."""
        if self.trade_id is None:
            raise InputError(
                f"trade at {iso(self.ms)} has no trade_id: the store upserts trades by id"
            )
        return PublicTrade(self.trade_id, self.ms, self.price, self.volume, self.side.lower())


def candles_to_batch(candles: Sequence[Candle]) -> CandleBatch:
    """fullon candles as a CandleBatch (all closed), sorted by time (duplicates are kept)."""
    if isinstance(candles, Candle | str | bytes) or not isinstance(candles, Sequence):
        raise InputError(f"expected a list of Candle, got {type(candles).__name__}")
    for i, candle in enumerate(candles):
        if not isinstance(candle, Candle):
            raise InputError(f"candles[{i}] is a {type(candle).__name__}, not a Candle")
    ordered = sorted(candles, key=lambda c: c.timestamp)
    return CandleBatch.from_columns(
        [c.ms for c in ordered],
        [c.open for c in ordered],
        [c.high for c in ordered],
        [c.low for c in ordered],
        [c.close for c in ordered],
        [c.vol for c in ordered],
    )


def candles_from_batch(batch: CandleBatch) -> list[Candle]:
    """A CandleBatch as fullon candles."""
    return [
        Candle(ms_to_datetime(r.ts), r.open, r.high, r.low, r.close, r.volume) for r in batch.rows()
    ]


def fullon_timeframe(compression: int, period: str) -> str:
    """The ccxt timeframe of fullon's ``(compression, period)``, e.g. ``(4, "hours") -> "4h"``."""
    if isinstance(compression, bool) or not isinstance(compression, int | np.integer):
        raise InputError(f"compression={compression!r} is not valid: expected an integer >= 1")
    if compression < 1:
        raise InputError(f"compression={compression!r} is not valid: expected an integer >= 1")
    unit = PERIODS.get(period) if isinstance(period, str) else None
    if unit is None:
        raise InputError(f"period={period!r} is not valid: expected one of {', '.join(PERIODS)}")
    name = f"{int(compression)}{unit}"
    parse_timeframe(name)
    return name


def _open_ms(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    import pandas as pd

    return np.asarray(pd.DatetimeIndex(frame.index).as_unit("ms").asi8, dtype=np.int64)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} {value!r} is not valid: expected a non-empty string")
    return value


class _Repository:
    """What both repositories share: the market, the store's lifecycle and thread hops."""

    def __init__(self, exchange: str, symbol: str, store: CandleStore | None) -> None:
        self.exchange = _name(exchange, "exchange")
        self.symbol = _name(symbol, "symbol")
        if store is not None and not isinstance(store, CandleStore):
            raise InputError(f"store={store!r} is not a CandleStore (see open_store)")
        self._store = store
        self._owned = False

    @property
    def store(self) -> CandleStore:
        """The store in use; StoreError before :meth:`initialize` when none was given."""
        if self._store is None:
            raise StoreError(
                f"{type(self).__name__}({self.exchange!r}, {self.symbol!r}) has no store open: "
                f"use `async with {type(self).__name__}(...)` or `await repo.initialize()`"
            )
        return self._store

    async def initialize(self) -> None:
        """Open the settings' store unless one was given (``async with`` calls this)."""
        if self._store is None:
            from . import open_store

            self._store = await asyncio.to_thread(open_store)
            self._owned = True

    async def close(self) -> None:
        """Close the store if this repository opened it (``async with`` calls this)."""
        store, owned = self._store, self._owned
        if owned and store is not None:
            self._store, self._owned = None, False
            await asyncio.to_thread(store.close)

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def init_symbol(self) -> bool:
        """fullon's table set-up: nothing to do (the store creates its tables); True."""
        self.store  # noqa: B018 - raises when no store is open
        return True

    def __repr__(self) -> str:
        url = None if self._store is None else self._store.url
        return f"{type(self).__name__}({self.exchange!r}, {self.symbol!r}, store={url!r})"


class CandleRepository(_Repository):
    """fullon_ohlcv's CandleRepository over one stored series (default timeframe 1m)."""

    def __init__(
        self,
        exchange: str,
        symbol: str,
        *,
        store: CandleStore | None = None,
        timeframe: str = "1m",
    ) -> None:
        super().__init__(exchange, symbol, store)
        parse_timeframe(timeframe)
        self.key = SeriesKey(self.exchange, self.symbol, timeframe)

    async def save_candles(self, candles: Sequence[Candle]) -> bool:
        """Upsert closed candles; True when stored (see the module docstring for errors)."""
        await self._run(self._save, candles)
        return True

    def _save(self, candles: Sequence[Candle]) -> None:
        self.store.ohlcv_store(self.key, candles_to_batch(candles))

    async def get_latest_timestamp(self) -> datetime | None:
        """Open time of the newest stored candle (aware UTC), or None."""
        last = await self._run(self.store.ohlcv_last, self.key)
        return None if last is None else ms_to_datetime(last)

    async def get_oldest_timestamp(self) -> datetime | None:
        """Open time of the oldest stored candle (aware UTC), or None."""
        first = await self._run(self.store.ohlcv_first, self.key)
        return None if first is None else ms_to_datetime(first)

    async def get_candles_in_range(self, start_time: Any, end_time: Any) -> list[Candle]:
        """Stored candles opening in ``[start_time, end_time)``."""
        lo, hi = _timestamp(start_time, "start_time"), _timestamp(end_time, "end_time")
        batch = await self._run(self.store.ohlcv_load_batch, self.key, lo, hi)
        return candles_from_batch(batch)


class TimeseriesRepository(_Repository):
    """fullon_ohlcv's TimeseriesRepository: candles of any timeframe of one market."""

    def __init__(self, exchange: str, symbol: str, *, store: CandleStore | None = None) -> None:
        super().__init__(exchange, symbol, store)

    async def fetch_ohlcv(
        self,
        compression: int,
        period: str,
        fromdate: Any,
        todate: Any,
        *,
        partial: bool = False,
    ) -> list[OhlcvTuple]:
        """Candles of ``compression`` x ``period`` opening in ``[fromdate, todate)``.

        Tuples ``(timestamp, open, high, low, close, volume)`` with an aware UTC datetime,
        ascending. See the module docstring for where they come from.
        """
        frame = await self.fetch_ohlcv_df(compression, period, fromdate, todate, partial=partial)
        ts = _open_ms(frame).tolist()
        columns = frame.to_numpy(dtype=np.float64).T.tolist() if len(frame) else [[]] * 5
        return [
            (ms_to_datetime(t), o, h, lo, c, v)
            for t, o, h, lo, c, v in zip(ts, *columns, strict=True)
        ]

    async def fetch_ohlcv_df(
        self,
        compression: int,
        period: str,
        fromdate: Any,
        todate: Any,
        *,
        partial: bool = False,
    ) -> pd.DataFrame:
        """As :meth:`fetch_ohlcv`, as the store's DataFrame (UTC "time" index, float64 OHLCV)."""
        name = fullon_timeframe(compression, period)
        lo, hi = to_ms(_timestamp(fromdate, "fromdate")), to_ms(_timestamp(todate, "todate"))
        if hi < lo:
            raise InvalidTimeRangeError(f"todate {iso(hi)} is before fromdate {iso(lo)}")
        return await self._run(self._frame, name, lo, hi, partial)

    def _frame(self, name: str, lo: int, hi: int, partial: bool) -> pd.DataFrame:
        store, target = self.store, parse_timeframe(name)
        held = store.ohlcv_timeframes(self.exchange, self.symbol)
        if any(resample_problem(parse_timeframe(h), target) is None for h in held):
            source = store.ohlcv_source(self.exchange, self.symbol, name)
            return store.ohlcv_load(source, lo, hi, timeframe=name, partial=partial)
        first = store.trades_first(self.exchange, self.symbol)
        last = store.trades_last(self.exchange, self.symbol)
        if first is None or last is None:
            if held:
                store.ohlcv_source(self.exchange, self.symbol, name)  # raises, naming them
            return ohlcv_frame(np.empty(0, dtype=np.int64), np.empty((5, 0)))
        frame = store.trades_to_ohlcv(self.exchange, self.symbol, name, lo, hi)
        if partial or frame.empty:
            return frame
        # as for candles: only buckets inside the range and inside the collected trades
        window = (max(lo, int(first.ts)), min(hi, int(last.ts) + 1))
        opens = _open_ms(frame)
        ends = np.array([target.next(int(t)) for t in opens.tolist()], dtype=np.int64)
        return frame.iloc[np.flatnonzero((opens >= window[0]) & (ends <= window[1]))]

    async def get_oldest_timestamp(self) -> datetime | None:
        """Earliest time held for the market (candle open times and trades), or None."""
        return await self._run(self._edge, False)

    async def get_latest_timestamp(self) -> datetime | None:
        """Latest time held for the market (candle open times and trades), or None."""
        return await self._run(self._edge, True)

    def _edge(self, newest: bool) -> datetime | None:
        store = self.store
        infos = store.ohlcv_inventory(self.exchange, self.symbol)
        times = [i.last if newest else i.first for i in infos]
        trade = (store.trades_last if newest else store.trades_first)(self.exchange, self.symbol)
        if trade is not None:
            times.append(int(trade.ts))
        if not times:
            return None
        return ms_to_datetime(max(times) if newest else min(times))
