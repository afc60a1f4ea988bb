"""One shared ccxt instance per exchange id (and limiter setting) per loop, closed cleanly."""

import asyncio
import gc
import threading
import warnings

import pytest

from ohlcv_workbench.exchange import ExchangeHub, close_exchanges, exchange_hub, open_exchange
from ohlcv_workbench.settings import Settings
from tests.helpers import INSTANT, MINUTE, NOW


async def test_one_shared_instance_per_id_and_limiter(sim):
    hub = exchange_hub()
    async with (
        open_exchange("sim", url=sim.url) as a,
        open_exchange("sim", url=sim.url + "/") as b,
        open_exchange("sim", url=sim.url, rate_limit=False) as fast,
    ):
        assert a is b and a.api is b.api and hub.refs(a) == 2
        assert fast is not a and fast.api is not a.api
        assert a.api.enableRateLimit and not fast.api.enableRateLimit
        assert a.rate_limit and not fast.rate_limit
        await asyncio.gather(
            a.fetch_candles("BTC/USDT", "1m", since=NOW - 30 * MINUTE),
            b.fetch_candles("ETH/USDT", "1m", since=NOW - 30 * MINUTE),
            a.fetch_trades("SOL/USDT", since=NOW - MINUTE),
        )
        assert sim.counters.requests["exchangeInfo"] == 1  # markets loaded once, shared
        assert sim.counters.requests["time"] == 1  # one clock sample, shared
        assert len(hub.clients) == 2
    assert hub.clients == [] and hub.refs(a) == 0
    assert a.closed and fast.closed and a.api.session is None and fast.api.session is None


async def test_last_holder_closes_and_a_new_open_starts_afresh(sim):
    async with open_exchange("sim", url=sim.url, retry=INSTANT) as first:
        async with open_exchange("sim", url=sim.url) as second:
            assert second is first
        assert exchange_hub().refs(first) == 1  # still held, still open
        await first.fetch_candles("BTC/USDT", "1m", limit=3)
    assert first.closed
    async with open_exchange("sim", url=sim.url) as again:
        assert again is not first and not again.closed


async def test_closed_client_refuses_calls(sim):
    async with open_exchange("sim", url=sim.url, retry=INSTANT) as ex:
        pass
    with pytest.raises(Exception, match="client is closed"):
        await ex.fetch_candles("BTC/USDT", "1m")


def test_one_hub_per_event_loop(sim_thread_url):
    seen = {}

    def run(name):
        async def main():
            async with open_exchange("sim", url=sim_thread_url) as ex:
                await ex.fetch_candles("BTC/USDT", "1m", limit=2)
                seen[name] = (exchange_hub(), ex, ex.api.asyncio_loop)

        asyncio.run(main())

    threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (hub_a, ex_a, loop_a), (hub_b, ex_b, loop_b) = seen["a"], seen["b"]
    assert hub_a is not hub_b and ex_a is not ex_b and loop_a is not loop_b
    assert ex_a.closed and ex_b.closed


@pytest.fixture
def sim_thread_url():
    from ohlcv_workbench.sim.server import SimConfig
    from ohlcv_workbench.sim.thread import SimThread

    with SimThread(SimConfig(now=NOW)) as sim:
        yield sim.url


async def test_closing_survives_cancellation_of_the_holder(sim):
    entered = asyncio.Event()

    async def holder():
        async with open_exchange("sim", url=sim.url) as ex:
            await ex.fetch_candles("BTC/USDT", "1m", limit=2)
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(holder())
    await entered.wait()
    (client,) = exchange_hub().clients
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert client.closed and client.api.session is None


async def test_hub_aclose_closes_everything(sim):
    hub = ExchangeHub()
    a = await hub.acquire("sim", url=sim.url)
    b = await hub.acquire("sim", url=sim.url, rate_limit=False)
    await a.fetch_candles("BTC/USDT", "1m", limit=2)
    await b.fetch_candles("BTC/USDT", "1m", limit=2)
    await hub.aclose()
    assert a.closed and b.closed and hub.clients == []
    with pytest.raises(ValueError, match="not held"):
        await hub.release(a)


async def test_close_exchanges_of_the_running_loop(sim):
    client = await exchange_hub().acquire("sim", url=sim.url)
    await client.fetch_candles("BTC/USDT", "1m", limit=2)
    await close_exchanges()
    assert client.closed and exchange_hub().clients == []


async def test_sim_url_from_settings(sim, tmp_path):
    settings = Settings(data_dir=tmp_path, sim_url=sim.url)
    async with open_exchange("sim", settings=settings) as ex:
        assert ex.api.urls["api"]["public"] == f"{sim.url}/api/v3"
        assert ex.api.options["fetchMarkets"]["types"] == ["spot"]
        assert (await ex.fetch_candles("BTC/USDT", "1m", limit=1)).ts.size == 1


def test_no_unclosed_session_warnings(sim_thread_url):
    async def main():
        async with open_exchange("sim", url=sim_thread_url) as ex:
            await ex.fetch_candles("BTC/USDT", "1m", limit=5)
            await ex.fetch_trades("BTC/USDT", since=NOW - MINUTE)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    # only the warnings of a client left open count: other tests' leftovers may be collected here
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert unclosed == []
