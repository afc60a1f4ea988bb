"""The store against the simulator through real ccxt: resampled 1m candles equal the
simulator's own 1h/4h/1d candles, and candles built from its trades equal its 1m/5m candles."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.exchange import ExchangeClient, RetryPolicy, candle_pages, open_exchange
from ohlcv_workbench.records import PublicTrade, SeriesKey
from ohlcv_workbench.sim.server import SimConfig, SimServer
from ohlcv_workbench.store import CandleRepository, SqliteStore, TimeseriesRepository
from ohlcv_workbench.store.fullon import candles_from_batch
from ohlcv_workbench.timeframes import DAY, MINUTE
from ohlcv_workbench.times import to_ms

NOW = to_ms("2025-06-18T13:37:42.500")  # mid-minute, mid-hour, mid-day (a Wednesday)
SINCE = to_ms("2025-06-14T00:00")  # four whole days, the last one ending before NOW
UNTIL = SINCE + 4 * DAY
DECIMALS = 8  # the simulator (as Binance) sends numbers with 8 decimals


@pytest.fixture
async def client() -> AsyncIterator[ExchangeClient]:
    async with (
        SimServer(SimConfig(seed=7, now=NOW, weight_limit=None)) as sim,
        open_exchange("sim", url=sim.url, rate_limit=False, retry=RetryPolicy(instant=True)) as ex,
    ):
        yield ex


async def collect(client: ExchangeClient, store: SqliteStore, key: SeriesKey) -> int:
    async with contextlib.aclosing(
        candle_pages(client, key.symbol, key.timeframe, SINCE, UNTIL, concurrency=4)
    ) as pages:
        async for page in pages:
            store.ohlcv_store(key, page.closed_only())
    return store.ohlcv_count(key)


async def sim_candles(
    client: ExchangeClient, symbol: str, tf: str, since: int = SINCE, until: int = UNTIL
) -> pd.DataFrame:
    """The simulator's own closed candles of ``tf`` in ``[since, until)`` (several pages)."""
    async with contextlib.aclosing(candle_pages(client, symbol, tf, since, until)) as pages:
        frames = [page.closed_only().to_frame() async for page in pages]
    return pd.concat(frames)


def assert_same_candles(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Prices bit for bit; volumes equal at the exchange's precision (the store sums floats
    parsed from 8-decimal text, the simulator sums exact lots before writing that text)."""
    assert got.index.equals(expected.index)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got[name].to_numpy(), expected[name].to_numpy(), name)
    np.testing.assert_array_equal(
        np.round(got["volume"].to_numpy(), DECIMALS),
        np.round(expected["volume"].to_numpy(), DECIMALS),
    )
    np.testing.assert_allclose(got["volume"], expected["volume"], rtol=1e-14, atol=0)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "DOGE/USDT"])
async def test_resampled_minutes_equal_the_simulators_candles(client, store, symbol):
    key = SeriesKey("sim", symbol, "1m")
    assert await collect(client, store, key) == 4 * 1440
    for tf, count in (("5m", 4 * 288), ("1h", 96), ("4h", 24), ("1d", 4)):
        expected = await sim_candles(client, symbol, tf)
        assert len(expected) == count
        assert_same_candles(store.ohlcv_load(key, timeframe=tf), expected)
    # a range cut mid-hour keeps only the whole hours inside it
    hours = store.ohlcv_load(key, SINCE + 90 * MINUTE, SINCE + DAY // 4, timeframe="1h")
    assert len(hours) == 4
    assert_same_candles(
        hours, await sim_candles(client, symbol, "1h", SINCE + 120 * MINUTE, SINCE + DAY // 4)
    )


async def test_fullon_adapters_give_the_simulators_candles(client, store):
    async with (
        CandleRepository("sim", "ETH/USDT", store=store) as candles,
        contextlib.aclosing(candle_pages(client, "ETH/USDT", "1m", SINCE, UNTIL)) as pages,
    ):
        async for page in pages:
            assert await candles.save_candles(candles_from_batch(page.closed_only()))
        assert await candles.get_oldest_timestamp() == datetime(2025, 6, 14, tzinfo=UTC)
        assert await candles.get_latest_timestamp() == datetime(2025, 6, 17, 23, 59, tzinfo=UTC)
    async with TimeseriesRepository("sim", "ETH/USDT", store=store) as series:
        rows = await series.fetch_ohlcv(4, "hours", SINCE, UNTIL)
        daily = await series.fetch_ohlcv_df(1, "days", SINCE, UNTIL)
    as_frame = pd.DataFrame(
        [r[1:] for r in rows],
        index=pd.DatetimeIndex([r[0] for r in rows], name="time").as_unit("us"),
        columns=["open", "high", "low", "close", "volume"],
    )
    for got, tf in ((as_frame, "4h"), (daily, "1d")):
        assert_same_candles(got, await sim_candles(client, "ETH/USDT", tf))


async def fetch_trades(
    client: ExchangeClient, symbol: str, since: int, until: int
) -> list[list[PublicTrade]]:
    """Every trade in ``[since, until)``, page by page (a page may repeat the last ms)."""
    pages = []
    while since < until:
        page = await client.fetch_trades(symbol, since, until, 1000)
        if not page:
            break
        pages.append(page)
        if len(page) < 1000:
            break
        since = page[-1].ts  # the next page starts at the last millisecond again
    return pages


@pytest.mark.parametrize("symbol", ["DOGE/USDT", "SOL/USDT"])
async def test_candles_from_the_simulators_trades_equal_its_candles(client, store, symbol):
    start, end = to_ms("2025-06-18T13:00"), to_ms("2025-06-18T13:10")
    pages = await fetch_trades(client, symbol, start, end)
    inserted = sum(store.trades_store("sim", symbol, page).inserted for page in pages)
    ids = {t.trade_id for page in pages for t in page}
    assert inserted == len(ids) == store.trades_count("sim", symbol) > 1000
    for page in pages:  # the same pages again: nothing new, nothing changed
        result = store.trades_store("sim", symbol, page)
        assert result.inserted == result.updated == 0
    for tf in ("1m", "5m"):
        got = store.trades_to_ohlcv("sim", symbol, tf, start, end)
        assert_same_candles(got, await sim_candles(client, symbol, tf, start, end))
    async with TimeseriesRepository("sim", symbol, store=store) as repo:
        frame = await repo.fetch_ohlcv_df(1, "minutes", start, end, partial=True)
    pd.testing.assert_frame_equal(frame, store.trades_to_ohlcv("sim", symbol, "1m", start, end))
