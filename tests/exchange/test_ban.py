"""A 418 ban through real ccxt: every request of the exchange waits, none uses up attempts."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ohlcv_workbench.errors import BannedError
from ohlcv_workbench.exchange import NO_RETRY, ExchangeClient, Pause, RetryPolicy, open_exchange
from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.server import SimConfig, SimServer
from ohlcv_workbench.times import to_ms
from tests.helpers import NOW

SINCE = to_ms("2025-06-01T00:00")


async def test_the_simulator_bans_after_repeated_429s_with_retry_after():
    faults = Faults(rate_limited=1.0, retry_after=1, ban_after=3, ban_seconds=120)
    async with SimServer(SimConfig(now=NOW, faults=faults)) as sim, aiohttp.ClientSession() as s:
        statuses = []
        for n in range(5):
            async with s.get(f"{sim.api_url}/klines?symbol=BTCUSDT&interval=1m&limit={n + 1}") as r:
                statuses.append((r.status, r.headers.get("Retry-After"), await r.json()))
        async with s.get(f"{sim.api_url}/ping") as r:  # a ban is IP-wide, ping included
            ping = r.status
    assert [status for status, _, _ in statuses] == [429, 429, 429, 418, 418]
    _, retry_after, body = statuses[3]
    assert retry_after is not None and 119 <= int(retry_after) <= 120 and body["code"] == -1003
    assert "IP banned until" in body["msg"] and ping == 418
    assert sim.counters.banned == 3 and sim.counters.faults["ban"] == 1


@pytest.fixture
async def ex(sim: SimServer) -> AsyncIterator[ExchangeClient]:
    """The "sim" client with its markets and clock, one attempt per request."""
    async with open_exchange("sim", url=sim.url, rate_limit=False, retry=NO_RETRY) as client:
        await client.load_markets()
        await client.time_now()
        yield client


async def test_a_ban_pauses_every_request_and_burns_no_attempt(sim, ex):
    events: list[Pause | None] = []
    ex.gate.subscribe(events.append)
    sim.ban(1.2)
    got = await asyncio.gather(
        ex.fetch_candles("BTC/USDT", "1m", SINCE, 10),
        ex.fetch_candles("ETH/USDT", "1m", SINCE, 10),
        ex.fetch_trades("SOL/USDT", SINCE, SINCE + 60_000),
    )
    # one attempt each (NO_RETRY): the ban was waited out, not counted as a failure
    assert [len(x) for x in got[:2]] == [10, 10] and got[2]
    assert 1 <= sim.counters.banned <= 3  # the requests in flight when the ban began
    assert sim.counters.statuses["200"] >= 3
    assert len(events) == 2 and isinstance(events[0], Pause) and events[1] is None
    assert "sim banned this IP (HTTP 418" in events[0].reason
    assert ex.gate.count == 1 and ex.gate.pause_in_force is None


async def test_a_request_while_paused_is_not_sent(sim, ex):
    sim.ban(1.0)
    paused = asyncio.Event()

    def on_pause(pause: Pause | None) -> None:
        if pause is not None:
            paused.set()

    ex.gate.subscribe(on_pause)
    first = asyncio.ensure_future(ex.fetch_candles("BTC/USDT", "1m", SINCE, 5))
    await asyncio.wait_for(paused.wait(), 10)
    before = sim.counters.requests["klines"]
    second = await ex.fetch_candles("ETH/USDT", "1m", SINCE, 5)  # waits, then one request
    assert len(second) == 5 and len(await first) == 5
    assert sim.counters.requests["klines"] == before + 2  # the retry of the first, the second
    assert sim.counters.banned == 1


async def test_a_ban_longer_than_the_pause_budget_is_raised(sim, ex):
    sim.ban(600)
    with pytest.raises(BannedError, match=r"banned \(HTTP 418\), Retry-After 600 s"):
        await ex.fetch_candles("BTC/USDT", "1m", SINCE, 5, retry=RetryPolicy(max_pause=60))
    assert ex.gate.pause_in_force is None  # nothing was paused for a ban it gave up on


async def test_the_ban_fault_through_ccxt_after_429s(sim, ex):
    """429, 429 (the second strike starts a ban), 418: the third attempt met the ban, which
    pauses the client instead of ending the call; after it the request goes through."""
    sim.set_faults(Faults(rate_limited=1.0, retry_after=0, ban_after=2, ban_seconds=1))

    def lift(pause: Pause | None) -> None:  # the exchange forgives once the ban is served
        if pause is not None:
            sim.set_faults(None)

    ex.gate.subscribe(lift)
    batch = await ex.fetch_candles(
        "BTC/USDT", "1m", SINCE, 5, retry=RetryPolicy(attempts=3, instant=True)
    )
    assert len(batch) == 5
    assert sim.counters.statuses["429"] == 2 and sim.counters.statuses["418"] == 1
    assert sim.counters.faults["ban"] == 1 and ex.gate.count == 1
