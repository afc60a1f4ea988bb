"""The exchange boundary on ``sim_kraken`` (ccxt's kraken class on the simulator): what comes
from ccxt's description, candles in the 720 window, trade pages, the clock; and the costs
the workbench corrects on Binance."""

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt
import numpy as np
import pytest

from ohlcv_workbench.errors import InactiveSymbolError, UnsupportedTimeframeError
from ohlcv_workbench.exchange import (
    ExchangeClient,
    TradeCursor,
    TradePage,
    create_ccxt,
    open_exchange,
)
from ohlcv_workbench.exchange.costs import BINANCE_COSTS
from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from ohlcv_workbench.times import to_ms
from tests.helpers import INSTANT, NOW

HOUR = 3_600_000


@pytest.fixture
async def kraken(sim: SimServer) -> AsyncIterator[ExchangeClient]:
    async with open_exchange("sim_kraken", url=sim.url, rate_limit=False, retry=INSTANT) as ex:
        yield ex


async def test_what_comes_from_ccxts_description(client, kraken):
    assert isinstance(kraken.api, ccxt.kraken) and not kraken.binance_family
    assert kraken.api.urls["api"]["public"] == client.api.urls["api"]["public"].removesuffix(
        "/api/v3"
    )
    assert kraken.page_limit == 720 and client.page_limit == 1000  # features.fetchOHLCV.limit
    assert kraken.rate_limit_ms == 1000 and client.rate_limit_ms == 50  # rateLimit
    assert kraken.timeframes == ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w", "2w")
    assert not kraken.full_candle_history and client.full_candle_history
    with pytest.raises(UnsupportedTimeframeError, match="'1s' is not offered by sim_kraken"):
        kraken.check_timeframe("1s")
    await kraken.check_symbol("ETH/BTC")


async def test_candles_equal_binances_inside_the_window(sim, client, kraken):
    since = to_ms("2025-06-10T00:00")
    until = to_ms("2025-06-18T00:00")
    got = await kraken.fetch_candles("ETH/USDT", "1h", since, until=until)
    want = await client.fetch_candles("ETH/USDT", "1h", since, until=until)
    assert len(got) == 192
    for name in ("ts", "open", "high", "low", "close", "volume", "closed"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    old = await kraken.fetch_candles("ETH/USDT", "1h", to_ms("2025-01-01T00:00"))
    assert int(old.ts[0]) == NOW // HOUR * HOUR - 719 * HOUR  # the window, not since
    assert not old.closed[-1] and old.closed[:-1].all()  # the forming one, not closed


async def test_trade_pages_follow_the_nanosecond_cursor(sim, client, kraken):
    since, until = to_ms("2025-06-18T10:00"), to_ms("2025-06-18T10:20")
    pages: list[TradePage] = []
    cursor: TradeCursor | None = TradeCursor(since)
    while cursor is not None:
        page = await kraken.fetch_trade_page("SOL/USDT", cursor, until)
        pages.append(page)
        cursor = page.next
    trades = [t for p in pages for t in p.trades]
    assert len(pages) > 3 and all(p.next is None or p.next.token for p in pages)
    assert all(since <= t.ts < until for t in trades)
    ids = [int(t.trade_id) for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # no repeats at the seams
    assert pages[-1].complete_until == until
    # Binance's aggregates of the same range hold the same quantity, in other pages
    agg, cursor = [], TradeCursor(since)
    while cursor is not None:
        page = await client.fetch_trade_page("SOL/USDT", cursor, until)
        agg += page.trades
        cursor = page.next
    assert [p for p in agg if p.trade_id in {t.trade_id for t in trades}] == []  # other ids
    assert sum(t.amount for t in agg) == pytest.approx(sum(t.amount for t in trades))
    assert sim.counters.requests["Trades"] == len(pages)


async def test_the_clock_knows_whole_seconds(sim, kraken):
    server = await kraken.server_time()
    assert server % 1000 == 0 and kraken.clock.resolution == 1000
    assert kraken.clock.uncertainty >= 500
    assert abs(kraken.now_ms() - NOW) <= kraken.clock.uncertainty


async def test_an_inactive_market_is_refused_by_name(sim, client, kraken):
    sim.set_symbol_status("SUI/USDT", "BREAK")
    with pytest.raises(InactiveSymbolError, match=r"SUI/USDT on sim is not trading \(status BREAK"):
        await client.check_symbol("SUI/USDT", trading=True)
    with pytest.raises(InactiveSymbolError, match=r"not trading \(status reduce_only"):
        await kraken.check_symbol("SUI/USDT", trading=True)
    assert await client.check_symbol("SUI/USDT") == "SUI/USDT"  # still listed


def test_binance_costs_are_corrected_for_ccxts_limiter():
    api = create_ccxt("sim", url="http://127.0.0.1:9")
    for path, cost in BINANCE_COSTS.items():
        assert api.calculate_rate_limiter_cost("public", "GET", path, {}, {"cost": 0.1}) == cost
    assert api.calculate_rate_limiter_cost("public", "GET", "klines", {}, {"cost": 0.4}) == 0.4
    kraken = create_ccxt("sim_kraken", url="http://127.0.0.1:9")
    assert kraken.calculate_rate_limiter_cost("public", "GET", "Trades", {}, {"cost": 1.2}) == 1.2


async def test_ccxts_own_trade_costs_overrun_binances_limit_and_ours_do_not():
    """With the weight limit scaled to one second (ccxt's pace is 100 weight a second),
    aggTrades at ccxt's pace: ccxt's table (weight 2) is refused, the corrected one is not."""
    config = SimConfig(now=NOW, weight_limit=100, weight_window_ms=1000, weight_tolerance=10)
    async with SimServer(config) as sim:
        plain = ccxt.binance(ccxt_config(sim.url))  # ccxt's own costs, limiter on
        plain.timeout_on_exit = 0
        ours = create_ccxt("sim", url=sim.url)  # what the workbench creates
        try:
            for ex in (plain, ours):
                await ex.load_markets()
            sim.reset()

            async def hammer() -> None:
                for _ in range(80):
                    await plain.fetch_trades("BTC/USDT", limit=5)

            with pytest.raises(ccxt.DDoSProtection):
                await hammer()
            refused = sim.counters.rate_limited
            sim.reset()
            for _ in range(30):
                await ours.fetch_trades("BTC/USDT", limit=5)
            assert refused == 1 and sim.counters.rate_limited == 0
        finally:
            await plain.close()
            await ours.close()
