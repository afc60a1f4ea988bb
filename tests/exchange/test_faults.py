"""Each simulator fault surfaces as the right ccxt error and the right workbench error; storms
of temporary faults are ridden out with exact data and bounded attempts."""

from collections import Counter

import ccxt.async_support as ccxt
import numpy as np
import pytest

from ohlcv_workbench.errors import (
    PermanentExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)
from ohlcv_workbench.exchange import (
    NO_RETRY,
    MalformedResponseError,
    RetryPolicy,
    describe_retry,
    open_exchange,
)
from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.server import SimConfig, SimServer
from ohlcv_workbench.times import to_ms
from tests.helpers import INSTANT, MINUTE, NOW

SINCE = to_ms("2025-06-01T00:00")


@pytest.mark.parametrize(
    ("faults", "ccxt_error", "error", "reason"),
    [
        (Faults(rate_limited=1.0, retry_after=7), ccxt.DDoSProtection, RateLimitedError, "rate"),
        (
            Faults(server_error=1.0, server_error_body="html"),
            ccxt.ExchangeNotAvailable,
            TemporaryExchangeError,
            "HTTP 503",
        ),
        (
            Faults(server_error=1.0, server_error_body="html", status=502),
            ccxt.ExchangeNotAvailable,
            TemporaryExchangeError,
            "HTTP 502",
        ),
        # Binance's JSON bodies on 5xx: ccxt raises ExchangeError / OperationFailed for them
        (
            Faults(server_error=1.0, server_error_body="json"),
            ccxt.ExchangeError,
            TemporaryExchangeError,
            r"server busy or disconnected \(-1008\) \(HTTP 503\)",
        ),
        (
            Faults(server_error=1.0, server_error_body="json", status=500),
            ccxt.OperationFailed,
            TemporaryExchangeError,
            r"server busy or disconnected \(-1001\) \(HTTP 500\)",
        ),
        (Faults(drop=1.0), ccxt.ExchangeNotAvailable, TemporaryExchangeError, "not available"),
        (Faults(timeout=1.0, hang=5.0), ccxt.RequestTimeout, TemporaryExchangeError, "timed out"),
    ],
)
async def test_request_faults(sim, faults, ccxt_error, error, reason):
    async with open_exchange("sim", url=sim.url, rate_limit=False, request_timeout=0.3) as ex:
        await ex.load_markets()
        sim.set_faults(faults)
        with pytest.raises(ccxt_error):  # through ccxt itself
            await ex.api.fetch_ohlcv("BTC/USDT", "1m", SINCE, 10)
        with pytest.raises(error, match=reason) as caught:  # through the boundary
            await ex.fetch_candles("BTC/USDT", "1m", SINCE, 10, retry=NO_RETRY)
    assert type(caught.value) is error
    assert str(caught.value).startswith("sim fetch_candles BTC/USDT: ")
    assert isinstance(caught.value.__cause__, ccxt_error)
    if error is RateLimitedError:
        assert caught.value.retry_after == 7.0 and "Retry-After 7 s" in str(caught.value)


async def test_server_weight_limit_is_rate_limited_with_its_retry_after():
    async with (
        SimServer(SimConfig(now=NOW, weight_limit=25, weight_tolerance=0)) as sim,
        open_exchange("sim", url=sim.url, rate_limit=False) as ex,
    ):
        await ex.load_markets()  # weight 20
        await ex.fetch_candles("BTC/USDT", "1m", SINCE, 5, retry=NO_RETRY)  # + time 1 + klines 2
        await ex.fetch_candles("BTC/USDT", "1m", SINCE, 5, retry=NO_RETRY)  # 25: the limit
        with pytest.raises(RateLimitedError) as caught:
            await ex.fetch_candles("BTC/USDT", "1m", SINCE, 5, retry=NO_RETRY)
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 60
    assert sim.counters.rate_limited == 1


async def test_bad_symbol_from_the_exchange_is_permanent(sim, client):
    await client.load_markets()
    sim.clock.set(to_ms("2020-01-01T00:00"))  # before SUI/USDT was listed: "Invalid symbol."
    with pytest.raises(ccxt.BadSymbol):
        await client.api.fetch_ohlcv("SUI/USDT", "1m", None, 5)
    before = sim.counters.requests["klines"]
    with pytest.raises(PermanentExchangeError, match=r"sim fetch_candles SUI/USDT: bad symbol"):
        await client.fetch_candles("SUI/USDT", "1m")  # the client's policy retries: not this
    assert sim.counters.requests["klines"] == before + 1


async def test_bad_request_from_the_exchange_is_permanent(sim, client):
    with pytest.raises(ccxt.BadRequest, match="-1130"):
        await client.api.publicGetKlines({"symbol": "BTCUSDT", "interval": "1m", "limit": 5000})
    client.page_limit = 5000  # as if ccxt said so: the exchange refuses
    with pytest.raises(PermanentExchangeError, match="bad request"):
        await client.fetch_candles("BTC/USDT", "1m", SINCE)
    assert sim.counters.requests["klines"] == 2


@pytest.mark.parametrize("kind", ["non_numeric", "high_below_low"])
@pytest.mark.parametrize("fast", [True, False])
async def test_malformed_rows_are_permanent(sim, client, kind, fast):
    sim.set_faults(Faults(malformed=0.05, malformed_kind=kind))
    rows = await client.api.fetch_ohlcv("XRP/USDT", "1m", SINCE, 1000)  # ccxt lets them pass
    if kind == "non_numeric":
        assert any(r[4] is None for r in rows)
    else:
        assert any(r[2] < r[3] for r in rows)
    client.binance_family = fast
    with pytest.raises(MalformedResponseError, match="malformed") as caught:
        await client.fetch_candles("XRP/USDT", "1m", SINCE)
    assert isinstance(caught.value, PermanentExchangeError)
    assert "sim fetch_candles XRP/USDT 1m" in str(caught.value)
    assert sim.counters.requests["klines"] == 2  # never retried


async def test_gaps_are_not_errors(sim, client):
    sim.set_faults(Faults(gaps=0.1))
    batch = await client.fetch_candles("BTC/USDT", "1m", SINCE, 500)  # 500 that exist
    steps = np.diff(batch.ts)
    assert len(batch) == 500 and bool(np.all(steps >= MINUTE)) and bool(np.any(steps > MINUTE))
    bounded = await client.fetch_candles("BTC/USDT", "1m", SINCE, 500, SINCE + 500 * MINUTE)
    assert 400 < len(bounded) < 500  # a fixed window holds what exists in it


async def fetch_sequence(ex, **kwargs):
    pages = []
    for k in range(30):
        since = SINCE + k * 200 * MINUTE
        pages.append(await ex.fetch_candles("ETH/USDT", "1m", since, 200, **kwargs))
    return pages


async def test_storm_of_5xx_and_429_completes_with_exact_data():
    async with (
        SimServer(SimConfig(seed=7, now=NOW, weight_limit=None)) as clean,
        open_exchange("sim", url=clean.url, rate_limit=False) as ex,
    ):
        expected = await fetch_sequence(ex)
    storm = Faults(server_error=0.2, rate_limited=0.1, retry_after=3, seed=5)
    async with (
        SimServer(SimConfig(seed=7, now=NOW, weight_limit=None, faults=storm)) as sim,
        open_exchange("sim", url=sim.url, rate_limit=False) as ex,
    ):
        retries = []
        messages = []

        def on_retry(attempt, error, wait):
            retries.append((attempt, type(error), wait))
            messages.append(describe_retry(attempt, error, wait, INSTANT.attempts))

        got = await fetch_sequence(ex, retry=INSTANT, on_retry=on_retry)
    for a, b in zip(expected, got, strict=True):
        for name in ("ts", "open", "high", "low", "close", "volume", "closed"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    faults = sim.counters.faults
    assert faults["server_error"] > 0 and faults["rate_limited"] > 0
    # every failed request was retried once, and nothing else was requested
    requests = sim.counters.requests
    assert requests["klines"] + requests["time"] + requests["exchangeInfo"] == (
        30 + 2 + faults["server_error"] + faults["rate_limited"]
    )
    assert len(retries) == faults["server_error"] + faults["rate_limited"]
    assert max(attempt for attempt, _, _ in retries) <= INSTANT.attempts
    assert Counter(kind for _, kind, _ in retries)[RateLimitedError] == faults["rate_limited"]
    assert {wait for _, kind, wait in retries if kind is RateLimitedError} == {3.0}
    assert any("retrying: rate limited (attempt 2/8)" in m for m in messages)
    assert any("exchange not available" in m for m in messages)


async def test_a_storm_beyond_the_attempts_fails_temporary():
    faults = Faults(server_error=1.0)
    async with (
        SimServer(SimConfig(now=NOW, weight_limit=None, faults=faults)) as sim,
        open_exchange("sim", url=sim.url, rate_limit=False) as ex,
    ):
        policy = RetryPolicy(attempts=4, instant=True)
        with pytest.raises(
            TemporaryExchangeError, match=r"sim fetch_candles BTC/USDT: (exchange not|server busy)"
        ):
            await ex.fetch_candles("BTC/USDT", "1m", SINCE, retry=policy)
    assert sim.counters.requests == {"exchangeInfo": 4}
