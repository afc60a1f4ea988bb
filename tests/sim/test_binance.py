"""The Binance dialect as Binance's docs and changelog describe it, through real ccxt: pages of
candles that exist across a gap, request weights, bans, symbol statuses, aggregate trades."""

import itertools

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.sim.aggtrades import AGG_STRIDE
from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from ohlcv_workbench.times import to_ms
from tests.helpers import NOW

MINUTE = 60_000


async def raw(sim, path):
    async with aiohttp.ClientSession() as session, session.get(sim.url + path) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_a_page_after_an_outage_holds_limit_existing_candles(sim, exchange):
    """As in ccxt issue 8068: a page from 05:57 jumps from 05:59 to 07:00."""
    outage = (to_ms("2025-06-17T06:00"), to_ms("2025-06-17T07:00"))
    sim.set_faults(Faults(maintenance=(outage,)))
    rows = await exchange.fetch_ohlcv("ETH/BTC", "1m", since=to_ms("2025-06-17T05:57"), limit=6)
    assert [r[0] for r in rows] == [
        to_ms("2025-06-17T05:57"), to_ms("2025-06-17T05:58"), to_ms("2025-06-17T05:59"),
        to_ms("2025-06-17T07:00"), to_ms("2025-06-17T07:01"), to_ms("2025-06-17T07:02"),
    ]  # fmt: skip
    inside = await exchange.fetch_ohlcv("ETH/BTC", "1m", since=outage[0] + 10 * MINUTE, limit=2)
    assert [r[0] for r in inside] == [outage[1], outage[1] + MINUTE]
    newest = await exchange.publicGetKlines(
        {"symbol": "ETHBTC", "interval": "1m", "endTime": outage[1] - 1, "limit": 3}
    )
    assert [r[0] for r in newest] == [outage[0] - 3 * MINUTE, outage[0] - 2 * MINUTE,
                                      outage[0] - MINUTE]  # fmt: skip
    hours = await exchange.fetch_ohlcv("ETH/BTC", "1h", since=outage[0] - 3_600_000, limit=2)
    assert [r[0] for r in hours] == [outage[0] - 3_600_000, outage[1]]
    trades = await exchange.fetch_trades("ETH/BTC", since=outage[0] - 1000, limit=1000)
    assert trades and all(not outage[0] <= t["timestamp"] < outage[1] for t in trades)


async def test_request_weights_are_binances():
    async with SimServer(SimConfig(now=NOW)) as sim:
        ex = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False))
        ex.timeout_on_exit = 0
        used = []

        def weight() -> int:
            used.append(int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]))
            return used[-1] - (used[-2] if len(used) > 1 else 0)

        try:
            await ex.load_markets()
            assert weight() == 20  # exchangeInfo
            await ex.fetch_time()
            assert weight() == 1
            await ex.fetch_ohlcv("BTC/USDT", "1m", limit=1000)
            assert weight() == 2
            await ex.fetch_trades("BTC/USDT", limit=10)
            assert weight() == 4  # aggTrades (2024-04)
            await ex.fetch_trades("BTC/USDT", params={"fetchTradesMethod": "publicGetTrades"})
            assert weight() == 25  # trades (2025-03)
        finally:
            await ex.close()
        _, headers, _ = await raw(sim, "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5")
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) - used[-1] == 25
        assert sim.counters.weight == 20 + 1 + 2 + 4 + 25 + 25


async def test_a_ban_through_ccxt(sim, exchange):
    await exchange.load_markets()
    until = sim.ban(30)
    with pytest.raises(ccxt.DDoSProtection, match="418") as caught:
        await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert f"IP banned until {until}" in str(caught.value)
    assert 29 <= int(exchange.last_response_headers["Retry-After"]) <= 30
    sim.reset()
    assert len(await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5


async def test_symbol_status_break_and_halt(sim, exchange):
    sim.set_symbol_status("SUI/USDT", "BREAK")
    sim.set_symbol_status("DOGE/USDT", "HALT")
    markets = await exchange.load_markets()
    assert not markets["SUI/USDT"]["active"] and markets["SUI/USDT"]["info"]["status"] == "BREAK"
    assert not markets["DOGE/USDT"]["active"] and markets["BTC/USDT"]["active"]
    _, _, broken = await raw(sim, "/api/v3/exchangeInfo?symbolStatus=BREAK")
    assert [s["symbol"] for s in broken["symbols"]] == ["SUIUSDT"]
    _, _, trading = await raw(sim, "/api/v3/exchangeInfo?symbolStatus=TRADING")
    assert {s["status"] for s in trading["symbols"]} == {"TRADING"} and len(trading["symbols"]) == 6
    status, _, body = await raw(sim, "/api/v3/exchangeInfo?symbolStatus=OPEN")
    assert status == 400 and body["code"] == -1100
    status, _, body = await raw(sim, "/api/v3/exchangeInfo?symbolStatus=BREAK&symbol=SUIUSDT")
    assert status == 400 and body["code"] == -1128
    with pytest.raises(ValueError, match="CLOSED"):
        sim.set_symbol_status("SUI/USDT", "CLOSED")


async def test_aggregate_trades_semantics(sim, exchange):
    """No 1-hour window since 2022; startTime or endTime alone; ids of their own."""
    start, end = to_ms("2025-06-17T10:00"), to_ms("2025-06-17T14:00")
    wide = await exchange.publicGetAggTrades(
        {"symbol": "XRPUSDT", "startTime": start, "endTime": end, "limit": 1000}
    )
    assert len(wide) == 1000 and wide[0]["T"] >= start  # four hours: no -1127
    alone = await exchange.publicGetAggTrades({"symbol": "XRPUSDT", "startTime": start})
    assert alone == wide[:500]  # default limit 500, from startTime on
    before = await exchange.publicGetAggTrades(
        {"symbol": "XRPUSDT", "endTime": end, "limit": 20}
    )  # endTime alone: the newest 20 up to it
    assert len(before) == 20 and before[-1]["T"] <= end and before[0]["T"] > end - 60_000
    later = await exchange.publicGetAggTrades(
        {"symbol": "XRPUSDT", "endTime": end + 60_000, "limit": 1000}
    )
    assert [a["a"] for a in later if a["T"] <= end][-20:] == [a["a"] for a in before]
    by_id = await exchange.publicGetAggTrades(
        {"symbol": "XRPUSDT", "fromId": wide[500]["a"], "limit": 100}
    )
    assert by_id == wide[500:600]
    # aggregate ids are a sequence of their own; f..l are the trades each one holds
    assert all(a["a"] != a["f"] for a in wide[1:])
    assert all(b["f"] == a["l"] + 1 for a, b in itertools.pairwise(wide)
               if a["T"] // 1000 == b["T"] // 1000)  # fmt: skip
    merged = [a for a in wide if a["l"] > a["f"]]
    assert merged, "some trades were aggregated"
    trades = await raw(
        sim, f"/api/v3/historicalTrades?symbol=XRPUSDT&fromId={merged[0]['f']}&limit=50"
    )
    members = [t for t in trades[2] if merged[0]["f"] <= t["id"] <= merged[0]["l"]]
    assert len(members) == merged[0]["l"] - merged[0]["f"] + 1
    assert {t["price"] for t in members} == {merged[0]["p"]}
    assert sum(float(t["qty"]) for t in members) == pytest.approx(float(merged[0]["q"]))
    assert {t["isBuyerMaker"] for t in members} == {merged[0]["m"]}
    assert int(wide[0]["a"]) // AGG_STRIDE == (wide[0]["T"] // 1000 - sim.markets[
        "XRP/USDT"].listing // 1000)  # fmt: skip


async def test_historical_trades_page_by_trade_id(sim):
    _, _, recent = await raw(sim, "/api/v3/trades?symbol=BNBUSDT&limit=10")
    _, _, old = await raw(sim, f"/api/v3/historicalTrades?symbol=BNBUSDT&fromId={recent[0]['id']}")
    assert old[:10] == recent and len(old) == 10  # nothing after the newest
    _, _, default = await raw(sim, "/api/v3/historicalTrades?symbol=BNBUSDT&limit=10")
    assert default == recent
