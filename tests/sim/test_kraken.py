"""The Kraken dialect through real ccxt kraken: codes, the 720-candle window, the trade cursor,
errors and the call counter; the same series as the Binance dialect."""

from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import numpy as np
import pytest

from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.limits import CallCounter
from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config, kraken_ccxt_config
from ohlcv_workbench.timeframes import timeframe
from ohlcv_workbench.times import to_ms
from tests.helpers import NOW

HOUR = 3_600_000


@pytest.fixture
async def both():
    """One simulator, and ccxt's kraken and binance classes on it (limiters off)."""
    async with SimServer(SimConfig(seed=7, now=NOW, weight_limit=None, kraken_rate=None)) as sim:
        kraken = ccxt.kraken(kraken_ccxt_config(sim.url, enableRateLimit=False))
        binance = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False))
        kraken.timeout_on_exit = binance.timeout_on_exit = 0
        try:
            yield sim, kraken, binance
        finally:
            await kraken.close()
            await binance.close()


async def raw(sim, path):
    async with aiohttp.ClientSession() as session, session.get(sim.url + path) as resp:
        return resp.status, await resp.json()


async def test_markets_in_krakens_codes_map_back_to_the_same_symbols(both):
    sim, kraken, binance = both
    markets, reference = await kraken.load_markets(), await binance.load_markets()
    assert set(markets) == set(reference)
    assert markets["BTC/USDT"]["id"] == "XBTUSDT" and markets["BTC/USDT"]["altname"] == "XBTUSDT"
    assert markets["ETH/BTC"]["id"] == "XETHXXBT" and markets["ETH/BTC"]["altname"] == "ETHXBT"
    assert markets["DOGE/USDT"]["id"] == "XDGUSDT" and markets["SOL/USDT"]["id"] == "SOLUSDT"
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["precision"] == {"amount": 1e-08, "price": 0.01}
    assert btc["info"]["base"] == "XXBT" and btc["info"]["pair_decimals"] == 2
    assert sim.counters.requests == {"exchangeInfo": 1, "Assets": 1, "AssetPairs": 1}
    _, assets = await raw(sim, "/0/public/Assets")
    assert assets["result"]["XXBT"]["altname"] == "XBT" and assets["result"]["USDT"]
    assert assets["result"]["XXDG"]["altname"] == "XDG"
    _, one = await raw(sim, "/0/public/AssetPairs?pair=XBTUSDT,ETHXBT")
    assert set(one["result"]) == {"XBTUSDT", "XETHXXBT"}
    sim.set_symbol_status("SUI/USDT", "BREAK")
    assert not (await kraken.load_markets(reload=True))["SUI/USDT"]["active"]


async def test_time_is_whole_seconds_and_status(both):
    sim, kraken, _ = both
    assert await kraken.fetch_time() == NOW // 1000 * 1000
    _, answer = await raw(sim, "/0/public/Time")
    assert answer["error"] == [] and answer["result"]["rfc1123"] == "Wed, 18 Jun 25 13:37:42 +0000"
    assert (await kraken.fetch_status())["status"] == "ok"


@pytest.mark.parametrize("name", ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"])
async def test_ohlc_is_the_binance_series_in_a_720_window(both, name):
    sim, kraken, binance = both
    listing = sim.markets["ETH/USDT"].listing
    rows = await kraken.fetch_ohlcv("ETH/USDT", name)
    tf, tf_ms = timeframe(name), kraken.parse_timeframe(name) * 1000
    listed = tf.count(tf.floor(listing), tf.next(NOW))
    assert len(rows) == min(720, listed) and rows[-1][0] == tf.floor(NOW)  # forming one last
    reference = await binance.fetch_ohlcv("ETH/USDT", name, since=rows[0][0], limit=720)
    assert rows[:-1] == reference[: len(rows) - 1]  # closed candles: identical
    assert rows[-1][:2] == reference[len(rows) - 1][:2]  # the forming one: same open
    older = await kraken.fetch_ohlcv("ETH/USDT", name, since=rows[0][0] - 50 * tf_ms)
    assert older[0][0] == rows[0][0]  # nothing older than the window, whatever since says
    later = await kraken.fetch_ohlcv("ETH/USDT", name, since=rows[100][0])
    assert later == rows[100:]


async def test_ohlc_raw_rows_and_last(both):
    sim, _, _ = both
    _, answer = await raw(sim, "/0/public/OHLC?pair=XBTUSDT&interval=60")
    result = answer["result"]
    rows, last = result["XBTUSDT"], result["last"]
    assert len(rows) == 720 and last == rows[-2][0]  # the last closed candle
    t, o, h, lo, c, vwap, volume, count = rows[0]
    assert isinstance(t, int) and isinstance(count, int) and count > 0
    assert all(len(x.split(".")[1]) == 2 for x in (o, h, lo, c, vwap))  # pair_decimals
    assert len(volume.split(".")[1]) == 8 and float(lo) <= float(vwap) <= float(h)
    _, since = await raw(sim, f"/0/public/OHLC?pair=XBTUSDT&interval=60&since={rows[-3][0]}")
    assert [r[0] for r in since["result"]["XBTUSDT"]] == [rows[-2][0], rows[-1][0]]  # exclusive
    _, later = await raw(sim, f"/0/public/OHLC?pair=XBTUSDT&interval=60&since={rows[-1][0] + 60}")
    assert [r[0] for r in later["result"]["XBTUSDT"]] == [rows[-1][0]]  # the forming one, always


async def test_maintenance_is_flat_candles_on_kraken_and_skipped_on_binance(both):
    sim, kraken, binance = both
    start = NOW // HOUR * HOUR - 10 * HOUR
    sim.set_faults(Faults(maintenance=((start, start + 2 * HOUR),), symbols=("BTC/USDT",)))
    rows = await kraken.fetch_ohlcv("BTC/USDT", "1m", since=start - 60_000, limit=200)
    by_ts = {r[0]: r for r in rows}
    before = by_ts[start - 60_000]
    flat = [by_ts[t] for t in range(start, start + 2 * HOUR, 60_000)]
    assert all(r[1:5] == [before[4]] * 4 and r[5] == 0 for r in flat)  # previous close, no volume
    assert by_ts[start + 2 * HOUR][5] > 0
    gapped = await binance.fetch_ohlcv("BTC/USDT", "1m", since=start - 60_000, limit=3)
    assert [r[0] for r in gapped] == [start - 60_000, start + 2 * HOUR, start + 2 * HOUR + 60_000]
    trades = await kraken.fetch_trades("BTC/USDT", since=start - 1000, limit=1000)
    assert not [t for t in trades if start <= t["timestamp"] < start + 2 * HOUR]


async def test_trades_page_by_seconds_and_by_the_nanosecond_cursor(both):
    _, kraken, binance = both
    since = to_ms("2025-06-18T12:00")
    first = await kraken.fetch_trades("SOL/USDT", since=since, limit=1000)
    assert len(first) == 1000 and first[0]["timestamp"] >= since
    last = first[-1]["info"][-1]  # ccxt appends Kraken's "last" to the page's last trade
    assert len(last) == 19 and int(last) // 1_000_000 == first[-1]["timestamp"]
    second = await kraken.fetch_trades("SOL/USDT", None, 1000, {"since": last})
    ids = [int(t["id"]) for t in first + second]
    assert ids == sorted(ids) and len(set(ids)) == 2000  # no repeat, no hole at the seam
    assert int(second[0]["id"]) == int(first[-1]["id"]) + 1 or (
        second[0]["timestamp"] // 1000 != first[-1]["timestamp"] // 1000
    )
    assert {t["side"] for t in first} == {"buy", "sell"}
    # the same trades as the Binance dialect's: their aggregates hold the same quantities
    binance_trades = await binance.fetch_trades(
        "SOL/USDT", since=since, limit=1000, params={"until": first[-1]["timestamp"]}
    )
    window = [t for t in first if t["timestamp"] <= binance_trades[-1]["timestamp"]]
    assert sum(t["amount"] for t in window) == pytest.approx(
        sum(t["amount"] for t in binance_trades)
    )
    newest = await kraken.fetch_trades("SOL/USDT", limit=5)
    assert len(newest) == 5 and all(t["timestamp"] < NOW for t in newest)


async def test_trades_add_up_to_the_candles(both):
    _, kraken, binance = both
    start = to_ms("2025-06-18T11:00")
    trades: list[dict[str, Any]] = []
    token = str(start * 1_000_000 - 1)
    while not trades or trades[-1]["timestamp"] < start + 10 * 60_000:
        page = await kraken.fetch_trades("DOGE/USDT", None, 1000, {"since": token})
        trades += page
        token = page[-1]["info"][-1]
    candles = await binance.fetch_ohlcv("DOGE/USDT", "1m", since=start, limit=10)
    for ts, o, h, lo, c, v in candles:
        inside = [t for t in trades if ts <= t["timestamp"] < ts + 60_000]
        prices = [t["price"] for t in inside]
        assert (prices[0], max(prices), min(prices), prices[-1]) == (o, h, lo, c)
        assert round(sum(t["amount"] for t in inside), 8) == v


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/0/public/OHLC?pair=NOPEUSD", "EQuery:Unknown asset pair"),
        ("/0/public/OHLC?pair=XBTUSDT&interval=7", "EGeneral:Invalid arguments"),
        ("/0/public/OHLC?pair=XBTUSDT&interval=21600", "EGeneral:Invalid arguments"),
        ("/0/public/Trades", "EGeneral:Invalid arguments:pair"),
        ("/0/public/Trades?pair=XBTUSDT&count=5000", "EGeneral:Invalid arguments:count"),
        ("/0/public/AssetPairs?pair=NOPE", "EQuery:Unknown asset pair"),
    ],
)
async def test_errors_in_krakens_shape(both, path, error):
    sim, _, _ = both
    status, answer = await raw(sim, path)
    assert status == 200 and answer == {"error": [error]}


async def test_unknown_bad_interval_through_ccxt(both):
    _, kraken, _ = both
    await kraken.load_markets()
    with pytest.raises(ccxt.BadRequest):
        await kraken.publicGetOHLC({"pair": "XBTUSDT", "interval": 7})
    status, answer = await raw(both[0], "/0/public/Depth?pair=XBTUSDT")
    assert status == 404 and answer == {"error": ["EGeneral:Unknown method"]}


@pytest.mark.parametrize(
    ("faults", "ccxt_error"),
    [
        (Faults(server_error=1.0, server_error_body="json"), ccxt.ExchangeNotAvailable),
        (Faults(server_error=1.0, server_error_body="html"), ccxt.ExchangeNotAvailable),
        (Faults(rate_limited=1.0), ccxt.DDoSProtection),
    ],
)
async def test_faults_in_krakens_shape(both, faults, ccxt_error):
    sim, kraken, _ = both
    await kraken.load_markets()
    sim.set_faults(faults)
    with pytest.raises(ccxt_error):
        await kraken.fetch_ohlcv("BTC/USDT", "1h")


async def test_the_call_counter_refuses_bursts_as_kraken_does():
    async with SimServer(SimConfig(now=NOW, kraken_burst=5)) as sim:  # 1 call per second
        kraken = ccxt.kraken(kraken_ccxt_config(sim.url, enableRateLimit=False))
        kraken.timeout_on_exit = 0
        try:
            await kraken.load_markets()  # Assets, AssetPairs: 2 of the IP's 5
            for _ in range(5):  # OHLC counts per pair: 5 for XBTUSDT
                await kraken.fetch_ohlcv("BTC/USDT", "1h", limit=1)
            with pytest.raises(ccxt.DDoSProtection, match="EGeneral:Too many requests"):
                await kraken.fetch_ohlcv("BTC/USDT", "1h", limit=1)
            await kraken.fetch_ohlcv("ETH/USDT", "1h", limit=1)  # another pair: its own count
        finally:
            await kraken.close()
    assert sim.counters.rate_limited == 1 and sim.counters.statuses["429"] == 1


def test_call_counter_pace():
    counter = CallCounter(rate=1.0, burst=15, lockout=5)
    assert all(counter.charge("ip", 1000 * i) for i in range(300))  # one per second: never
    fast = CallCounter(rate=1.0, burst=15, lockout=5)
    allowed = [fast.charge("ip", 500 * i) for i in range(40)]  # two per second
    refused = allowed.index(False)
    assert 25 <= refused <= 35 and not any(allowed[refused : refused + 10])  # locked out 5 s
    assert fast.charge("ip", 500 * 40 + 5000)
    assert np.all([fast.charge("pair", 0) for _ in range(15)]) and not fast.charge("pair", 0)
