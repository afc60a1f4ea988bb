"""fullon_ohlcv's surface over the store: models, CandleRepository, TimeseriesRepository."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.errors import InputError, InvalidDataError, InvalidTimeRangeError, StoreError
from ohlcv_workbench.records import PublicTrade, SeriesKey
from ohlcv_workbench.store import (
    Candle,
    CandleRepository,
    SqliteStore,
    TimeseriesRepository,
    Trade,
    UpsertResult,
)
from ohlcv_workbench.store.fullon import candles_from_batch, candles_to_batch, fullon_timeframe
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles
from .test_load import assert_contract

T0 = to_ms("2026-02-02T00:00")  # a Monday
MIN = 60_000
MOMENT = datetime(2026, 2, 2, 0, 1, tzinfo=UTC)


class ArrowLike:
    """What the adapters use of an ``arrow.Arrow`` (fullon passes those): ``.datetime``."""

    def __init__(self, moment: datetime) -> None:
        self.datetime = moment

    def __repr__(self) -> str:
        return f"<Arrow [{self.datetime.isoformat()}]>"


# -- models --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given",
    [
        MOMENT,
        datetime(2026, 2, 2, 0, 1),  # naive is UTC
        datetime(2026, 2, 2, 2, 1, tzinfo=timezone(timedelta(hours=2))),
        pd.Timestamp("2026-02-02 00:01", tz="UTC"),
        ArrowLike(datetime(2026, 2, 2, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
        T0 + MIN,
        np.int64(T0 + MIN),
        np.datetime64("2026-02-02T00:01"),
        "2026-02-02T00:01:00Z",
        "2026-02-02T01:01:00+01:00",
        "2026-02-02 00:01",
    ],
)
def test_candle_timestamp_forms_normalise_to_utc(given):
    candle = Candle(given, 1, 2, 0.5, 1.5, 10)
    assert candle.timestamp == MOMENT and candle.timestamp.tzinfo is UTC
    assert type(candle.timestamp) is datetime and candle.ms == T0 + MIN
    assert (candle.open, candle.high, candle.low, candle.close, candle.vol) == (1, 2, 0.5, 1.5, 10)
    assert all(type(x) is float for x in (candle.open, candle.vol))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("yesterday", r"Candle timestamp='yesterday' is not ISO time text"),
        (1.77e12, r"Candle timestamp=1770000000000\.0 is not a time.*floats are ambiguous"),
        (1_770_000_000, r"Candle timestamp=1770000000 looks like epoch seconds.*1770000000000"),
        (datetime(2026, 2, 2, 0, 1, 0, 500), "has a sub-millisecond part"),
        ("2026-02-02T00:01:00.0005Z", "has a sub-millisecond part"),
        (pd.Timestamp("2026-02-02 00:01:00.000000001", tz="UTC"), "sub-millisecond"),
        (None, r"Candle timestamp=None is not a time"),
        (True, r"Candle timestamp=True is not a time"),
        (pd.NaT, r"is not a time \(NaT\)"),
    ],
)
def test_bad_candle_timestamps_are_named(given, message):
    with pytest.raises(InputError, match=message):
        Candle(given, 1, 2, 0.5, 1.5, 10)


def test_real_arrow_times_are_accepted():
    arrow = pytest.importorskip("arrow", reason="arrow is not a dependency of the workbench")
    assert Candle(arrow.get("2026-02-02T01:01:00+01:00"), 1, 2, 0.5, 1.5, 10).timestamp == MOMENT


def test_candle_values_must_be_numbers_and_model_is_frozen():
    with pytest.raises(InputError, match=r"Candle vol='10' is not a number"):
        Candle(MOMENT, 1, 2, 0.5, 1.5, "10")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"Candle high=True is not a number"):
        Candle(MOMENT, 1, True, 0.5, 1.5, 10)
    from decimal import Decimal

    assert Candle(MOMENT, Decimal("1.5"), 2, 1, 1.5, np.float32(2)).open == 1.5
    candle = Candle(MOMENT, 1, 2, 0.5, 1.5, 10)
    with pytest.raises(AttributeError):
        candle.vol = 3  # type: ignore[misc]
    assert candle == Candle(T0 + MIN, 1.0, 2.0, 0.5, 1.5, 10.0)


def test_trade_model_and_conversions():
    trade = Trade("2026-02-02T00:00:01.250Z", 100, 0.5, "buy", "limit", trade_id="42")
    assert (trade.side, trade.type, trade.ms) == ("BUY", "LIMIT", T0 + 1250)
    assert Trade(T0, 100, 0.5, "SELL").type is None
    public = trade.to_public()
    assert public == PublicTrade("42", T0 + 1250, 100.0, 0.5, "buy")
    assert Trade.from_public(public) == Trade(T0 + 1250, 100, 0.5, "BUY", trade_id="42")
    with pytest.raises(InputError, match="has no trade_id: the store upserts trades by id"):
        Trade(T0, 100, 0.5, "buy").to_public()
    with pytest.raises(InputError, match=r"Trade side='hold' is not valid: expected one of BUY"):
        Trade(T0, 100, 0.5, "hold")
    with pytest.raises(InputError, match=r"Trade type='stop' is not valid.*MARKET, LIMIT"):
        Trade(T0, 100, 0.5, "buy", "stop")
    with pytest.raises(InputError, match=r"Trade volume=None is not a number"):
        Trade(T0, 100, None, "buy")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="trade_id=''"):
        Trade(T0, 100, 0.5, "buy", trade_id="")


def test_batch_conversions_sort_and_round_trip():
    batch = candles(T0, 5)
    models = candles_from_batch(batch)
    assert [c.ms for c in models] == batch.ts.tolist()
    back = candles_to_batch(list(reversed(models)))
    assert back.to_frame().equals(batch.to_frame())
    with pytest.raises(InputError, match=r"candles\[1\] is a dict, not a Candle"):
        candles_to_batch([models[0], {"timestamp": T0}])  # type: ignore[list-item]
    with pytest.raises(InputError, match="expected a list of Candle, got Candle"):
        candles_to_batch(models[0])  # type: ignore[arg-type]


def test_fullon_timeframes():
    assert fullon_timeframe(1, "minutes") == "1m"
    assert fullon_timeframe(4, "hours") == "4h"
    assert fullon_timeframe(1, "days") == "1d"
    assert fullon_timeframe(1, "weeks") == "1w"
    assert fullon_timeframe(1, "months") == "1M"
    with pytest.raises(InputError, match=r"period='hourly' is not valid: expected one of minutes"):
        fullon_timeframe(1, "hourly")
    for bad in (0, -5, True, "4", 1.0):
        with pytest.raises(InputError, match=r"compression=.* expected an integer >= 1"):
            fullon_timeframe(bad, "hours")  # type: ignore[arg-type]


# -- CandleRepository ----------------------------------------------------------------------
async def test_candle_repository_round_trip(store):
    batch = candles(T0, 300)
    models = candles_from_batch(batch)
    async with CandleRepository("binance", "BTC/USDT", store=store) as repo:
        assert await repo.init_symbol() is True
        assert await repo.get_latest_timestamp() is None
        assert await repo.get_oldest_timestamp() is None
        shuffled = [models[i] for i in np.random.default_rng(3).permutation(len(models))]
        assert await repo.save_candles(shuffled) is True
        assert await repo.save_candles(models[:10]) is True  # idempotent
        assert await repo.save_candles([]) is True
        assert await repo.get_oldest_timestamp() == datetime(2026, 2, 2, tzinfo=UTC)
        latest = await repo.get_latest_timestamp()
        assert latest == datetime(2026, 2, 2, 4, 59, tzinfo=UTC) and latest.tzinfo is UTC
        got = await repo.get_candles_in_range(T0 + 10 * MIN, "2026-02-02T00:20")
        assert got == models[10:20]
    # the same store, seen through its own interface; it stays open (it was passed in)
    assert store.ohlcv_load(KEY).equals(batch.to_frame())
    assert store.ohlcv_store(KEY, batch) == UpsertResult(unchanged=300)


async def test_save_candles_rejects_invalid_candles_with_reasons(store):
    good = candles_from_batch(candles(T0, 3))
    bad = Candle(T0 + 3 * MIN, 10, 9, 8, 9.5, 1)  # high 9 < open 10
    unaligned = Candle(T0 + 4 * MIN + 30_000, 10, 11, 9, 10, 1)
    async with CandleRepository("binance", "BTC/USDT", store=store) as repo:
        with pytest.raises(InvalidDataError) as info:
            await repo.save_candles([*good, bad, unaligned])
        assert info.value.reasons == [
            "2026-02-02T00:03:00Z: high 9.0 < open 10.0",
            "2026-02-02T00:04:30Z: not aligned to 1m (that candle opens at 2026-02-02T00:04:00Z)",
        ]
        with pytest.raises(InvalidDataError, match="duplicate open time"):
            await repo.save_candles([good[0], good[0]])
        assert await repo.get_latest_timestamp() is None  # nothing was written
        with pytest.raises(InputError, match=r"candles\[0\] is a tuple"):
            await repo.save_candles([(T0, 1, 2, 0.5, 1, 1)])  # type: ignore[list-item]


async def test_candle_repository_of_another_timeframe(store):
    hourly = candles(T0, 5, "1h")
    async with CandleRepository("kraken", "ETH/USD", store=store, timeframe="1h") as repo:
        await repo.save_candles(candles_from_batch(hourly))
        assert repo.key == SeriesKey("kraken", "ETH/USD", "1h")
    assert store.ohlcv_count(SeriesKey("kraken", "ETH/USD", "1h")) == 5
    with pytest.raises(InputError, match="'hourly' is not a timeframe"):
        CandleRepository("kraken", "ETH/USD", store=store, timeframe="hourly")
    with pytest.raises(InputError, match="exchange '' is not valid"):
        CandleRepository("", "ETH/USD", store=store)
    with pytest.raises(InputError, match="is not a CandleStore"):
        CandleRepository("kraken", "ETH/USD", store="sqlite:///x")  # type: ignore[arg-type]


async def test_default_store_is_opened_and_closed_by_the_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("OHLCV_WORKBENCH_STORE_URL", f"sqlite:///{tmp_path}/fullon.sqlite")
    repo = CandleRepository("binance", "BTC/USDT")
    with pytest.raises(StoreError, match=r"has no store open: use `async with CandleRepository"):
        await repo.get_latest_timestamp()
    async with repo:
        opened = repo.store
        assert isinstance(opened, SqliteStore) and opened.path == tmp_path / "fullon.sqlite"
        await repo.save_candles(candles_from_batch(candles(T0, 3)))
    with pytest.raises(StoreError, match="closed"):
        opened.ohlcv_count(KEY)
    with pytest.raises(StoreError, match="has no store open"):
        repo.store  # noqa: B018
    async with TimeseriesRepository("binance", "BTC/USDT") as ts_repo:
        rows = await ts_repo.fetch_ohlcv(1, "minutes", T0, T0 + 3 * MIN)
    assert [r[0] for r in rows] == [datetime(2026, 2, 2, 0, m, tzinfo=UTC) for m in range(3)]


async def test_manual_initialize_and_close(store):
    repo = TimeseriesRepository("binance", "BTC/USDT", store=store)
    assert f"store={store.url!r}" in repr(repo)
    assert "***" in store.url or store.url.startswith("sqlite:///")  # no password shown
    await repo.initialize()
    await repo.close()
    assert store.ohlcv_count(KEY) == 0  # a store passed in is never closed by the adapter


class GatedStore(SqliteStore):
    """A store whose reads tell the event loop they started, then wait for its go-ahead."""

    def __init__(self, path, started):
        super().__init__(path)
        self.started, self.gate = started, threading.Event()
        self.threads: list[int] = []

    def ohlcv_last(self, key):
        self.threads.append(threading.get_ident())
        self.started()
        assert self.gate.wait(5), "the event loop was blocked while the store worked"
        return super().ohlcv_last(key)


async def test_store_calls_run_off_the_event_loop(tmp_path):
    loop, started = asyncio.get_running_loop(), asyncio.Event()
    notify = partial(loop.call_soon_threadsafe, started.set)
    with GatedStore(tmp_path / "gated.sqlite", notify) as store:
        async with CandleRepository("binance", "BTC/USDT", store=store) as repo:
            call = asyncio.create_task(repo.get_latest_timestamp())
            await asyncio.wait_for(started.wait(), 5)  # the loop runs while the call waits
            store.gate.set()
            assert await call is None
        assert store.threads[0] != threading.get_ident()


# -- TimeseriesRepository ------------------------------------------------------------------
@pytest.fixture
def three_days(store):
    batch = candles(T0 + 7 * MIN, 3 * 1440, skip=range(600, 700))
    store.ohlcv_store(KEY, batch)
    return batch


@pytest.mark.parametrize(
    ("compression", "period", "tf"),
    [
        (1, "minutes", "1m"),
        (15, "minutes", "15m"),
        (1, "hours", "1h"),
        (4, "hours", "4h"),
        (1, "days", "1d"),
    ],
)
async def test_fetch_ohlcv_is_the_store_resampled(store, three_days, compression, period, tf):
    lo, hi = datetime(2026, 2, 2, tzinfo=UTC), ArrowLike(datetime(2026, 2, 5, tzinfo=UTC))
    expected = store.ohlcv_load(KEY, lo, hi.datetime, timeframe=tf)
    assert len(expected) > 0
    async with TimeseriesRepository("binance", "BTC/USDT", store=store) as repo:
        rows = await repo.fetch_ohlcv(compression, period, lo, hi)
        frame = await repo.fetch_ohlcv_df(
            compression=compression, period=period, fromdate=lo, todate=hi
        )
    assert_contract(frame)
    pd.testing.assert_frame_equal(frame, expected)
    assert len(rows) == len(expected)
    for row, (when, values) in zip(rows, expected.iterrows(), strict=True):
        assert row[0] == when.to_pydatetime() and row[0].tzinfo is UTC
        assert row[1:] == tuple(values.tolist())
        assert all(type(x) is float for x in row[1:])


async def test_fetch_ohlcv_complete_buckets_unless_partial(store, three_days):
    async with TimeseriesRepository("binance", "BTC/USDT", store=store) as repo:
        days = await repo.fetch_ohlcv(1, "days", T0, T0 + 4 * 1440 * MIN)
        with_edges = await repo.fetch_ohlcv(1, "days", T0, T0 + 4 * 1440 * MIN, partial=True)
        # a range in the middle of an hour, half-open: [00:30, 03:00)
        hours = await repo.fetch_ohlcv(1, "hours", "2026-02-03T00:30", "2026-02-03T03:00")
    # the series starts at 00:07 on day one and ends at 00:07 on day four
    assert [r[0].day for r in days] == [3, 4]
    assert [r[0].day for r in with_edges] == [2, 3, 4, 5]
    assert [r[0].hour for r in hours] == [1, 2]


async def test_fetch_ohlcv_picks_the_coarsest_stored_series(store, three_days):
    hourly = SeriesKey("binance", "BTC/USDT", "1h")
    later = candles(to_ms("2026-03-02T00:00"), 48, "1h", seed=9)  # no 1m candles there
    store.ohlcv_store(hourly, later)
    async with TimeseriesRepository("binance", "BTC/USDT", store=store) as repo:
        four = await repo.fetch_ohlcv_df(4, "hours", "2026-03-02", "2026-03-04")
        assert len(four) == 12
        pd.testing.assert_frame_equal(four, store.ohlcv_load(hourly, timeframe="4h"))
        sevens = await repo.fetch_ohlcv_df(7, "minutes", T0, T0 + 70 * MIN)  # only 1m can
        pd.testing.assert_frame_equal(
            sevens, store.ohlcv_load(KEY, T0, T0 + 70 * MIN, timeframe="7m")
        )


async def test_fetch_ohlcv_errors_and_empty_answers(store):
    five = SeriesKey("binance", "BTC/USDT", "5m")
    store.ohlcv_store(five, candles(T0, 20, "5m"))
    async with TimeseriesRepository("binance", "BTC/USDT", store=store) as repo:
        with pytest.raises(InputError, match=r"stored: 5m; a stored timeframe must divide it"):
            await repo.fetch_ohlcv(7, "minutes", T0, T0 + 60 * MIN)
        with pytest.raises(InvalidTimeRangeError, match="todate 2026-02-01T00:00:00Z is before"):
            await repo.fetch_ohlcv(5, "minutes", T0, "2026-02-01")
        with pytest.raises(InputError, match=r"fromdate='soon' is not ISO time text"):
            await repo.fetch_ohlcv(5, "minutes", "soon", T0)
        with pytest.raises(InputError, match="period='seconds'"):
            await repo.fetch_ohlcv(5, "seconds", T0, T0 + MIN)
        assert len(await repo.fetch_ohlcv(5, "minutes", T0, T0 + 100 * MIN)) == 20
        assert len(await repo.fetch_ohlcv(5, "minutes", 0, T0 + 100 * MIN)) == 20  # 0: epoch
    async with TimeseriesRepository("binance", "NONE/USDT", store=store) as empty:
        assert await empty.fetch_ohlcv(1, "hours", T0, T0 + 1440 * MIN) == []
        frame = await empty.fetch_ohlcv_df(1, "hours", T0, T0 + 1440 * MIN)
        assert len(frame) == 0
        assert_contract(frame)
        assert await empty.get_oldest_timestamp() is None
        assert await empty.get_latest_timestamp() is None


async def test_fetch_ohlcv_builds_candles_from_trades_without_candles(store):
    rng = np.random.default_rng(5)
    times = np.sort(rng.integers(T0 + 30_000, T0 + 10 * MIN + 20_000, 400))
    trades = [
        PublicTrade(str(i), int(t), float(np.round(100 + rng.normal(), 2)), 0.25, "buy")
        for i, t in enumerate(times.tolist())
    ]
    store.trades_store("binance", "SOL/USDT", trades)
    async with TimeseriesRepository("binance", "SOL/USDT", store=store) as repo:
        frame = await repo.fetch_ohlcv_df(1, "minutes", T0, T0 + 20 * MIN)
        partial = await repo.fetch_ohlcv_df(1, "minutes", T0, T0 + 20 * MIN, partial=True)
        oldest, latest = await repo.get_oldest_timestamp(), await repo.get_latest_timestamp()
    built = store.trades_to_ohlcv("binance", "SOL/USDT", "1m", T0, T0 + 20 * MIN)
    assert len(built) == 11  # minutes 0..10, the first and last only partly collected
    pd.testing.assert_frame_equal(partial, built)
    pd.testing.assert_frame_equal(frame, built.iloc[1:-1])
    assert_contract(frame)
    assert oldest == datetime.fromtimestamp(times[0] / 1000, UTC)
    assert latest == datetime.fromtimestamp(times[-1] / 1000, UTC)


async def test_timeseries_edges_cover_every_series_and_trades(store, three_days):
    store.ohlcv_store(SeriesKey("binance", "BTC/USDT", "1d"), candles(T0 - 1440 * 5 * MIN, 2, "1d"))
    store.trades_store(
        "binance", "BTC/USDT", [PublicTrade("1", T0 + 5 * 1440 * MIN + 7, 100.0, 1.0, "sell")]
    )
    async with TimeseriesRepository("binance", "BTC/USDT", store=store) as repo:
        assert await repo.get_oldest_timestamp() == datetime(2026, 1, 28, tzinfo=UTC)
        assert await repo.get_latest_timestamp() == datetime(2026, 2, 7, 0, 0, 0, 7000, UTC)
