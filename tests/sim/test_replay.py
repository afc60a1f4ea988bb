"""Replay: an OHLCV file goes in, the identical rows come out through ccxt, as Binance serves."""

import aiohttp
import ccxt.async_support as ccxt
import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.sim.replay import load_ohlcv
from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from ohlcv_workbench.times import to_ms
from tests.helpers import NOW

START = to_ms("2025-06-17T20:00")
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


def frame(rows: int, step: int = 60_000, start: int = START) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 0.37, rows))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = rng.random(rows) * 0.7
    return pd.DataFrame(
        {
            "timestamp": start + step * np.arange(rows),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread / 3,
            "close": close,
            "volume": rng.random(rows) * 10.0 ** rng.integers(-6, 6, rows),
        }
    ).round(8)  # Binance's precision


def fx_hours(start: str, end: str) -> pd.DataFrame:
    """Hourly EUR/USD-like rows, none from Friday 22:00 to Sunday 22:00 UTC (the FX weekend)."""
    hours = pd.date_range(start, end, freq="1h", inclusive="left", tz="UTC")
    weekend = (
        ((hours.day_of_week == 4) & (hours.hour >= 22))
        | (hours.day_of_week == 5)
        | ((hours.day_of_week == 6) & (hours.hour < 22))
    )
    hours = hours[~weekend]
    rng = np.random.default_rng(11)
    close = 1.08 + np.cumsum(rng.normal(0, 0.0006, hours.size))
    open_ = np.concatenate(([1.08], close[:-1]))
    wick = rng.random(hours.size) * 0.0008
    return pd.DataFrame(
        {
            "time": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": rng.integers(800, 5000, hours.size).astype(float),
        }
    ).round(5)


async def serve(replays, now=NOW):
    sim = SimServer(SimConfig(now=now, replays=replays))
    await sim.start()
    ex = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False))
    ex.timeout_on_exit = 0
    return sim, ex


async def fetch_all(ex, symbol, tf, since, limit=1000):
    pages = []
    while True:
        page = await ex.fetch_ohlcv(symbol, tf, since=since, limit=limit)
        pages.append(page)
        if len(page) < limit:
            return [row for p in pages for row in p], pages
        since = page[-1][0] + 1


async def test_csv_rows_come_out_identical_and_the_forming_one_partial(tmp_path):
    data = frame(2000)  # 2025-06-17 20:00 .. 06-19 05:19, beyond NOW
    path = tmp_path / "foo.csv"
    data.to_csv(path, index=False)
    sim, ex = await serve({"FOO/USDT": str(path)})
    try:
        markets = await ex.load_markets()
        assert markets["FOO/USDT"]["created"] is None and "BTC/USDT" in markets
        rows, _ = await fetch_all(ex, "FOO/USDT", "1m", 0)
        served = data[data.timestamp + 60_000 <= NOW]  # closed rows, nothing after now
        expected = served[COLUMNS].values.tolist()
        assert rows[:-1] == [[int(r[0]), *r[1:]] for r in expected]
        # the row open at now is served as the forming candle, as Binance serves one
        forming = rows[-1]
        row = data[data.timestamp == NOW // 60_000 * 60_000].iloc[0]
        assert forming[0] == row.timestamp and forming[1] == row.open
        assert forming[5] < row.volume and row.low <= forming[3] <= forming[2] <= row.high
    finally:
        await ex.close()
        await sim.close()


async def test_numbers_are_formatted_as_binance_does_and_gzipped(tmp_path):
    sim, ex = await serve({"FOO/USDT": frame(300)})
    try:
        path = f"{sim.api_url}/klines?symbol=FOOUSDT&interval=1m&startTime={START}&limit=3"
        async with aiohttp.ClientSession() as session:
            async with session.get(path) as resp:  # aiohttp asks for gzip by default
                assert resp.headers["Content-Encoding"] == "gzip"
                rows = await resp.json()
            async with session.get(path, headers={"Accept-Encoding": "identity"}) as resp:
                assert "Content-Encoding" not in resp.headers
                assert await resp.json() == rows
        assert len(rows) == 3 and all(len(r) == 12 for r in rows)
        for i in (1, 2, 3, 4, 5, 7, 9, 10):  # numeric strings with 8 decimals
            assert all(isinstance(r[i], str) and len(r[i].split(".")[1]) == 8 for r in rows)
        assert rows[0][6] == START + 59_999 and rows[0][11] == "0"
    finally:
        await ex.close()
        await sim.close()


async def test_weekend_gaps_come_back_in_pages_of_limit_existing_rows(tmp_path):
    data = fx_hours("2025-03-03", "2025-06-02")  # 13 weeks of hourly EUR/USD-like data
    path = tmp_path / "eurusd.csv"
    data.to_csv(path, index=False)
    now = to_ms("2025-06-10T00:00")
    sim, ex = await serve({"EUR/USD": str(path)}, now=now)
    try:
        limit = 500
        rows, pages = await fetch_all(ex, "EUR/USD", "1h", 0, limit)
        expected = pd.DatetimeIndex(pd.to_datetime(data.time, utc=True)).as_unit("ms").asi8
        assert [r[0] for r in rows] == expected.tolist()  # every row, and nothing else
        assert [r[1:5] for r in rows] == data[["open", "high", "low", "close"]].values.tolist()
        assert [len(p) for p in pages] == [limit] * (len(data) // limit) + [len(data) % limit]
        # a page that starts before a weekend holds `limit` rows that exist, past the gap
        friday = to_ms("2025-03-07T21:00")
        page = await ex.fetch_ohlcv("EUR/USD", "1h", since=friday, limit=3)
        assert [r[0] for r in page] == [
            friday,
            to_ms("2025-03-09T22:00"),
            to_ms("2025-03-09T23:00"),
        ]
    finally:
        await ex.close()
        await sim.close()


async def test_larger_intervals_are_aggregates(tmp_path):
    data = frame(600)
    sim, ex = await serve({"FOO/USDT": data})
    try:
        hours = await ex.fetch_ohlcv("FOO/USDT", "1h", since=START, limit=20)
        grouped = data.groupby(data.timestamp // 3_600_000 * 3_600_000)
        expected = grouped.agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        ).reset_index()
        closed = [r for r in hours if r[0] + 3_600_000 <= NOW]
        assert [r[0] for r in closed] == expected.timestamp.tolist()[: len(closed)]
        for got, want in zip(closed, expected.values.tolist(), strict=False):
            assert got[1:5] == want[1:5] and got[5] == pytest.approx(want[5], rel=1e-8)
        with pytest.raises(ccxt.BadRequest, match="-1120"):
            await ex.fetch_ohlcv("FOO/USDT", "1s")
    finally:
        await ex.close()
        await sim.close()


async def test_parquet_and_iso_times_replace_a_generated_symbol(tmp_path):
    data = frame(300, step=3_600_000, start=to_ms("2025-05-01T00:00"))
    iso = data.assign(time=pd.to_datetime(data.timestamp, unit="ms", utc=True)).drop(
        columns="timestamp"
    )
    iso.to_parquet(tmp_path / "btc.parquet")
    (tmp_path / "eth.csv").write_text(iso.to_csv(index=False))
    sim, ex = await serve({"BTC/USDT": tmp_path / "btc.parquet", "ETH/USDT": tmp_path / "eth.csv"})
    try:
        markets = await ex.load_markets()
        assert markets["BTC/USDT"]["precision"]["price"] == 0.01  # the built-in market's filters
        expected = data[COLUMNS].values.tolist()
        for symbol in ("BTC/USDT", "ETH/USDT"):
            rows = await ex.fetch_ohlcv(symbol, "1h", since=0, limit=1000)
            assert rows == [[int(r[0]), *r[1:]] for r in expected]
        assert await ex.fetch_trades("BTC/USDT") == []
    finally:
        await ex.close()
        await sim.close()


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_ohlcv(tmp_path / "missing.csv")
    bad = frame(10).drop(columns="volume")
    with pytest.raises(InputError, match="volume"):
        load_ohlcv(bad)
    with pytest.raises(InputError, match="no Binance interval"):
        load_ohlcv(frame(10, step=7 * 60_000))
    with pytest.raises(InputError, match="boundary"):
        load_ohlcv(frame(10, start=START + 1_000))
    precise = frame(10)
    precise.loc[3, "close"] = 101.123456789
    with pytest.raises(InputError, match=r"close 101\.123456789 .* more than 8 decimals"):
        load_ohlcv(precise)
    assert load_ohlcv(frame(10, step=3_600_000)).interval.name == "1h"
