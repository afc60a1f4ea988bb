"""Replay: an OHLCV file goes in, the identical rows come out through ccxt."""

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
    )


async def serve(replays):
    sim = SimServer(SimConfig(now=NOW, replays=replays))
    await sim.start()
    ex = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False))
    ex.timeout_on_exit = 0
    return sim, ex


async def fetch_all(ex, symbol, tf, since):
    rows = []
    while True:
        page = await ex.fetch_ohlcv(symbol, tf, since=since, limit=1000)
        rows += page
        if len(page) < 1000:
            return rows
        since = page[-1][0] + 1


async def test_csv_rows_come_out_identical(tmp_path):
    data = frame(2000)  # 2025-06-17 20:00 .. 06-19 05:19, beyond NOW
    path = tmp_path / "foo.csv"
    data.to_csv(path, index=False)
    sim, ex = await serve({"FOO/USDT": str(path)})
    try:
        markets = await ex.load_markets()
        assert markets["FOO/USDT"]["created"] == START and "BTC/USDT" in markets
        rows = await fetch_all(ex, "FOO/USDT", "1m", 0)
        served = data[data.timestamp + 60_000 <= NOW]  # only closed rows, nothing after now
        expected = served[["timestamp", "open", "high", "low", "close", "volume"]].values.tolist()
        assert rows == [[int(r[0]), *r[1:]] for r in expected]
        assert rows[-1][0] + 60_000 <= NOW
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
        assert [r[0] for r in hours] == expected.timestamp.tolist()
        for got, want in zip(hours, expected.values.tolist(), strict=True):
            assert got[1:5] == want[1:5] and got[5] == pytest.approx(want[5], rel=1e-12)
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
        assert markets["BTC/USDT"]["created"] == to_ms("2025-05-01T00:00")
        expected = data[["timestamp", "open", "high", "low", "close", "volume"]].values.tolist()
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
    assert load_ohlcv(frame(10, step=3_600_000)).interval.name == "1h"
