"""Real ccxt binance against the simulator: markets, time, klines of every interval, trades."""

import time

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe
from ohlcv_workbench.times import to_ms
from tests.helpers import NOW


async def test_load_markets(exchange, sim):
    markets = await exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ETH/BTC"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert btc["created"] is None  # Binance's exchangeInfo states no listing time
    assert sim.counters.requests == {"exchangeInfo": 1}


async def test_fetch_time(exchange):
    assert await exchange.fetch_time() == NOW


@pytest.mark.parametrize("name", BINANCE_TIMEFRAMES)
async def test_fetch_ohlcv_every_interval(exchange, name):
    tf = timeframe(name)
    rows = await exchange.fetch_ohlcv("BTC/USDT", name, limit=5)
    assert 1 <= len(rows) <= 5
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps) and all(tf.is_aligned(t) for t in stamps)
    assert stamps[-1] == tf.floor(NOW)  # the forming candle comes last
    for _, o, h, lo, c, v in rows:
        assert lo <= min(o, c) <= max(o, c) <= h and v >= 0


async def test_fetch_ohlcv_since_pages_forward(exchange):
    since = to_ms("2024-01-01T00:00")
    rows = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=since, limit=1000)
    assert len(rows) == 1000
    assert [r[0] for r in rows] == list(range(since, since + 1000 * 60_000, 60_000))
    nxt = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=rows[-1][0] + 60_000, limit=2)
    assert nxt[0][0] == since + 1000 * 60_000
    assert nxt[0][1] == rows[-1][4]  # the next open is the previous close


async def test_fetch_trades(exchange):
    since = to_ms("2025-06-18T12:00")
    trades = await exchange.fetch_trades("SOL/USDT", since=since, limit=50)
    assert len(trades) == 50
    assert all(since <= t["timestamp"] < since + 3_600_000 for t in trades)
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert {t["side"] for t in trades} <= {"buy", "sell"}
    recent = await exchange.fetch_trades("SOL/USDT", limit=20)  # aggregates
    assert len(recent) == 20 and all(t["timestamp"] < NOW for t in recent)
    plain = await exchange.fetch_trades(
        "SOL/USDT", limit=200, params={"fetchTradesMethod": "publicGetTrades"}
    )
    assert all(t["cost"] == pytest.approx(t["price"] * t["amount"], rel=1e-6) for t in plain)
    # the newest aggregates are made of the newest trades: first/last trade ids
    by_id = {int(t["id"]): t for t in plain}
    for agg in recent:
        members = [by_id[i] for i in range(agg["info"]["f"], agg["info"]["l"] + 1) if i in by_id]
        assert members and members[0]["price"] == agg["price"]
        assert sum(m["amount"] for m in members) == pytest.approx(agg["amount"])


async def test_two_instances_with_one_seed_serve_identical_bytes():
    paths = [
        "/api/v3/exchangeInfo",
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000",
        "/api/v3/klines?symbol=ETHUSDT&interval=1s&startTime=1700000000000",
        "/api/v3/klines?symbol=SOLUSDT&interval=1M&startTime=0",
        "/api/v3/klines?symbol=XRPUSDT&interval=1w&limit=30",
        "/api/v3/aggTrades?symbol=BNBUSDT&startTime=1700000000000",
        "/api/v3/trades?symbol=DOGEUSDT&limit=1000",
    ]
    bodies = []
    for seed in (7, 7, 8):
        async with (
            SimServer(SimConfig(seed=seed, now=NOW)) as sim,
            aiohttp.ClientSession() as session,
        ):
            page = []
            for path in paths:
                async with session.get(sim.url + path) as resp:
                    assert resp.status == 200
                    page.append(await resp.read())
            bodies.append(page)
    assert bodies[0] == bodies[1]
    assert bodies[0][0] == bodies[2][0]  # markets do not depend on the seed, data do
    assert all(a != b for a, b in zip(bodies[0][1:], bodies[2][1:], strict=True))


@pytest.mark.parametrize("name", BINANCE_TIMEFRAMES)
async def test_raw_rows_are_binance_rows_and_the_forming_one_is_open(sim, name):
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.api_url}/klines?symbol=ETHBTC&interval={name}&limit=3") as resp,
    ):
        assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "2"
        rows = await resp.json()
    for row in rows:
        assert len(row) == 12 and isinstance(row[0], int) and isinstance(row[6], int)
        assert all(
            isinstance(row[i], str) and len(row[i].split(".")[1]) == 8
            for i in (1, 2, 3, 4, 5, 7, 9, 10)
        )
        assert isinstance(row[8], int) and row[11] == "0"
    assert rows[-1][0] <= NOW <= rows[-1][6]  # forming: closeTime >= now, never final
    assert all(r[6] < NOW for r in rows[:-1])


async def test_real_time_clock_by_default():
    async with SimServer() as sim:
        ex = ccxt.binance(ccxt_config(sim.url))
        ex.timeout_on_exit = 0
        try:
            assert abs(await ex.fetch_time() - time.time() * 1000) < 5_000
            rows = await ex.fetch_ohlcv("BTC/USDT", "1s", limit=3)
            assert abs(rows[-1][0] - time.time() * 1000) < 5_000
        finally:
            await ex.close()
