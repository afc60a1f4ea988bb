"""Injected faults, the weight limit and bad requests surface through ccxt as the right errors."""

import asyncio
import time

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from tests.helpers import NOW


def client(sim, **config):
    ex = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False, **config))
    ex.timeout_on_exit = 0
    return ex


async def fetch_raw(sim, path):
    async with aiohttp.ClientSession() as session, session.get(f"{sim.url}{path}") as resp:
        return resp.status, dict(resp.headers), await resp.text()


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (Faults(rate_limited=1.0, retry_after=7), ccxt.DDoSProtection),
        (Faults(server_error=1.0, server_error_body="html"), ccxt.ExchangeNotAvailable),
        (Faults(server_error=1.0, server_error_body="html", status=500), ccxt.ExchangeNotAvailable),
        (Faults(drop=1.0), ccxt.ExchangeNotAvailable),
        (Faults(timeout=1.0, hang=5.0), ccxt.RequestTimeout),
    ],
)
async def test_request_faults_raise_network_errors(sim, faults, error):
    ex = client(sim, timeout=300)
    try:
        await ex.load_markets()
        sim.set_faults(faults)
        with pytest.raises(error) as caught:
            await ex.fetch_ohlcv("BTC/USDT", "1m", limit=10)
        assert isinstance(caught.value, ccxt.NetworkError)  # all temporary
        kind = next(
            k for k in ("rate_limited", "server_error", "drop", "timeout") if getattr(faults, k)
        )
        assert sim.counters.faults[kind] >= 1
    finally:
        await ex.close()


async def test_rate_limit_fault_sends_retry_after(sim):
    sim.set_faults(Faults(rate_limited=1.0, retry_after=7))
    status, headers, body = await fetch_raw(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert status == 429 and headers["Retry-After"] == "7" and '"code":-1003' in body


async def test_timeout_fault_is_released_on_close():
    sim = SimServer(SimConfig(now=NOW, faults=Faults(timeout=1.0, hang=60)))
    await sim.start()
    ex = client(sim, timeout=200)
    with pytest.raises(ccxt.RequestTimeout):
        await ex.fetch_time()
    started = time.monotonic()
    await sim.close()
    await ex.close()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [(503, -1008, ccxt.ExchangeError), (500, -1001, ccxt.OperationFailed)],
)
async def test_5xx_with_binance_json_bodies(sim, status, code, error):
    """Binance also answers 5xx with its JSON error (-1008 SERVER_BUSY, -1001 DISCONNECTED);
    ccxt then raises what its code table says, not a NetworkError (the workbench's
    translation treats every 5xx as temporary, see tests/exchange)."""
    sim.set_faults(Faults(server_error=1.0, server_error_body="json", status=status))
    raw_status, _, body = await fetch_raw(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert raw_status == status and f'"code":{code}' in body
    ex = client(sim)
    try:
        with pytest.raises(error, match=str(code)) as caught:
            await ex.fetch_ohlcv("BTC/USDT", "1m", limit=10)
        assert not isinstance(caught.value, ccxt.NetworkError)
    finally:
        await ex.close()
    sim.set_faults(Faults(server_error=1.0, seed=4))  # "mixed": HTML and JSON bodies
    bodies = {(await fetch_raw(sim, f"/api/v3/klines?symbol=BTCUSDT&interval=1m&limit={n}"))[2][0]
              for n in range(1, 30)}  # fmt: skip
    assert bodies == {"<", "{"}


async def test_latency_and_symbol_scope(sim, exchange):
    await exchange.load_markets()
    sim.set_faults(
        Faults(latency=0.3, server_error=1.0, server_error_body="html", symbols=("ETH/USDT",))
    )
    started = time.monotonic()
    rows = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)  # out of scope: untouched
    assert len(rows) == 5 and time.monotonic() - started < 0.3
    started = time.monotonic()
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await exchange.fetch_ohlcv("ETH/USDT", "1m", limit=5)
    assert time.monotonic() - started >= 0.3
    assert sim.counters.faults["latency"] == 1


async def test_fault_decisions_are_deterministic():
    outcomes = []
    for _ in range(2):
        async with SimServer(SimConfig(now=NOW, faults=Faults(server_error=0.3, seed=11))) as sim:
            ex = client(sim)
            seen = []
            for since in range(NOW - 40 * 60_000, NOW - 20 * 60_000, 60_000):
                for _attempt in range(2):
                    try:
                        await ex.publicGetKlines(
                            {"symbol": "BTCUSDT", "interval": "1m", "startTime": since}
                        )
                        seen.append("ok")
                    except (ccxt.ExchangeNotAvailable, ccxt.ExchangeError):
                        seen.append("5xx")
            await ex.close()
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert 5 <= outcomes[0].count("5xx") <= 20  # about 30 %


async def test_gaps_are_deterministic_and_counted(sim, exchange):
    since = NOW - 1000 * 60_000
    full = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=1000)
    sim.set_faults(Faults(gaps=0.2, seed=3))
    gappy = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=400)
    again = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=400)
    assert gappy == again and len(gappy) == 400  # a page holds 400 candles that exist
    assert all(row in full for row in gappy)  # the rest is unchanged
    skipped = full.index(gappy[-1]) + 1 - 400
    assert 40 < skipped < 130
    assert sim.counters.faults["gaps"] >= 2 * skipped


async def test_malformed_rows(sim, exchange):
    since = NOW - 300 * 60_000
    sim.set_faults(Faults(malformed=0.1, malformed_kind="non_numeric"))
    rows = await exchange.fetch_ohlcv("XRP/USDT", "1m", since=since, limit=300)
    assert 10 < sum(r[4] is None for r in rows) < 60  # ccxt parses "n/a" as None
    sim.set_faults(Faults(malformed=0.1, malformed_kind="high_below_low"))
    rows = await exchange.fetch_ohlcv("XRP/USDT", "1m", since=since, limit=300)
    assert 10 < sum(r[2] < r[3] for r in rows) < 60
    sim.set_faults(Faults(malformed=0.2))
    rows = await exchange.fetch_ohlcv("XRP/USDT", "1m", since=since, limit=300)
    assert any(r[4] is None for r in rows) and any(r[4] is not None and r[2] < r[3] for r in rows)


@pytest.mark.parametrize(
    ("params", "error", "code"),
    [
        ({"symbol": "NOPEUSDT", "interval": "1m"}, ccxt.BadSymbol, "-1121"),
        ({"symbol": "BTCUSDT", "interval": "7m"}, ccxt.BadRequest, "-1120"),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": 1001}, ccxt.BadRequest, "-1130"),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "x"}, ccxt.BadRequest, "-1100"),
        ({"interval": "1m"}, ccxt.BadRequest, "-1102"),
    ],
)
async def test_bad_klines_requests(exchange, params, error, code):
    with pytest.raises(error, match=code):
        await exchange.publicGetKlines(params)


async def test_bad_requests_through_unified_calls(exchange):
    await exchange.load_markets()
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await exchange.fetch_ohlcv("BTC/USDT", "7m")
    # since 2022 Binance has no 1-hour limit between startTime and endTime
    two_hours = await exchange.fetch_trades(
        "BTC/USDT", since=NOW - 7_200_000, params={"until": NOW}
    )
    assert len(two_hours) == 500
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        await exchange.publicGetAggTrades({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.BadRequest, match="-1128"):
        await exchange.publicGetAggTrades({"symbol": "BTCUSDT", "fromId": 1, "startTime": NOW})
    status, _, _ = await fetch_raw(exchange_sim(exchange), "/api/v3/depth?symbol=BTCUSDT")
    assert status == 404


def exchange_sim(exchange):
    class Url:
        url = exchange.urls["api"]["public"].removesuffix("/api/v3")

    return Url


async def test_weight_limit_answers_429_with_headers():
    async with SimServer(SimConfig(now=NOW, weight_limit=10, weight_tolerance=0)) as sim:
        statuses = []
        for _ in range(6):
            status, headers, _ = await fetch_raw(
                sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"
            )
            statuses.append(
                (status, headers.get("X-MBX-USED-WEIGHT-1M"), headers.get("Retry-After"))
            )
        assert [s[:2] for s in statuses[:5]] == [(200, str(2 * i)) for i in range(1, 6)]
        assert statuses[5][0] == 429 and 1 <= int(statuses[5][2]) <= 60
        assert sim.counters.rate_limited == 1 and sim.counters.weight == 10
        ex = client(sim)
        with pytest.raises(ccxt.DDoSProtection):
            await ex.fetch_time()
        sim.set_weight_limit(None)
        assert await ex.fetch_time() == NOW
        await ex.close()


async def hammer(ex, since, times):
    for _ in range(times):
        await ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=10)


async def test_ccxt_default_limiter_fits_the_weight_limit():
    """With the limit scaled to one second, ccxt's own pace is never refused; twice it is."""
    config = SimConfig(now=NOW, weight_limit=100, weight_window_ms=1000, weight_tolerance=10)
    async with SimServer(config) as sim:
        ex = ccxt.binance(ccxt_config(sim.url))  # default limiter, 50 ms per cost unit
        ex.timeout_on_exit = 0
        try:
            await ex.load_markets()
            await asyncio.sleep(1.0 - (time.time() % 1.0))
            sim.reset()
            deadline = time.monotonic() + 2.2
            since = NOW - 100 * 86_400_000
            while time.monotonic() < deadline:
                await ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=10)
            assert sim.counters.rate_limited == 0 and sim.counters.requests["klines"] >= 40
            ex.throttler.config["refillRate"] = 1 / 10  # five times ccxt's pace: refused
            with pytest.raises(ccxt.DDoSProtection):
                await hammer(ex, since, 400)
        finally:
            await ex.close()
