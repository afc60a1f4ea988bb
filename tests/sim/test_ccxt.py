"""Real ccxt binance against the simulator: markets, time, klines of every interval, trades."""

import pytest

from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe

from .conftest import NOW, ms


async def test_load_markets(exchange, sim):
    markets = await exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ETH/BTC"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert btc["created"] == ms("2017-08-17T04:00")
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
    since = ms("2024-01-01T00:00")
    rows = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=since, limit=1000)
    assert len(rows) == 1000
    assert [r[0] for r in rows] == list(range(since, since + 1000 * 60_000, 60_000))
    nxt = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=rows[-1][0] + 60_000, limit=2)
    assert nxt[0][0] == since + 1000 * 60_000
    assert nxt[0][1] == rows[-1][4]  # the next open is the previous close


async def test_fetch_trades(exchange):
    since = ms("2025-06-18T12:00")
    trades = await exchange.fetch_trades("SOL/USDT", since=since, limit=50)
    assert len(trades) == 50
    assert all(since <= t["timestamp"] < since + 3_600_000 for t in trades)
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert {t["side"] for t in trades} <= {"buy", "sell"}
    recent = await exchange.fetch_trades("SOL/USDT", limit=20)
    assert len(recent) == 20 and all(t["timestamp"] < NOW for t in recent)
    plain = await exchange.fetch_trades(
        "SOL/USDT", limit=20, params={"fetchTradesMethod": "publicGetTrades"}
    )
    assert [t["id"] for t in plain] == [t["id"] for t in recent]
    assert all(t["cost"] == pytest.approx(t["price"] * t["amount"], rel=1e-6) for t in plain)
