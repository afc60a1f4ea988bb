"""Bad exchange ids, symbols and timeframes fail with close matches, before any needless request."""

import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.errors import (
    InputError,
    InvalidTimeRangeError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from ohlcv_workbench.exchange import check_exchange_id, known_exchange_ids, open_exchange
from ohlcv_workbench.exchange.validation import check_timeframe, suggest_symbols
from tests.helpers import INSTANT, NOW

MARKETS = {s: {"symbol": s} for s in ("BTC/USDT", "ETH/USDT", "ETH/BTC", "SOL/USDT")}
IDS = {s.replace("/", ""): [{"symbol": s}] for s in MARKETS}


def test_known_exchange_ids():
    ids = known_exchange_ids()
    assert ids[:2] == ("sim", "sim_kraken") and "binance" in ids and "kraken" in ids
    assert set(ids[2:]) == set(ccxt.exchanges)
    assert check_exchange_id("sim") == "sim" and check_exchange_id("kraken") == "kraken"


@pytest.mark.parametrize(
    ("bad", "suggested"),
    [("binanse", "binance"), ("Binance", "binance"), ("krakken", "kraken"), ("SIM", "sim")],
)
def test_unknown_exchange_suggests_close_ids(bad, suggested):
    with pytest.raises(UnknownExchangeError, match=f"Did you mean '{suggested}'") as caught:
        check_exchange_id(bad)
    assert isinstance(caught.value, InputError) and repr(bad) in str(caught.value)
    assert "ccxt.exchanges" in str(caught.value)


def test_unknown_exchange_without_match():
    with pytest.raises(UnknownExchangeError) as caught:
        check_exchange_id("zzzzqqqq")
    assert "Did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "first"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("btc/usdt", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"),
        ("BTC_USDT", "BTC/USDT"),
        ("ETH/USTD", "ETH/USDT"),
        ("ETHBTC", "ETH/BTC"),
    ],
)
def test_symbol_suggestions(bad, first):
    assert suggest_symbols(bad, MARKETS, IDS)[0] == first


def test_timeframe_check_lists_valid_ones():
    timeframes = {"1m": "1m", "5m": "5m", "1h": "1h", "1d": "1d"}
    assert check_timeframe("x", timeframes, "5m").ms == 300_000
    with pytest.raises(UnsupportedTimeframeError, match="Valid timeframes: 1m, 5m, 1h, 1d"):
        check_timeframe("kraken", timeframes, "7m")
    with pytest.raises(UnsupportedTimeframeError, match="Did you mean '1h'"):
        check_timeframe("kraken", timeframes, "1H")
    with pytest.raises(UnsupportedTimeframeError, match="has no OHLCV"):
        check_timeframe("odd", None, "1m")


async def test_unknown_exchange_before_anything(sim):
    with pytest.raises(UnknownExchangeError, match="Did you mean 'sim'"):
        async with open_exchange("simm", url=sim.url):
            pytest.fail("opened")  # pragma: no cover
    assert sim.counters.requests == {}


async def test_unsupported_timeframe_before_any_request(sim, client):
    with pytest.raises(UnsupportedTimeframeError, match="'2m' is not offered by sim"):
        await client.fetch_candles("BTC/USDT", "2m", since=NOW - 10 * 60_000)
    with pytest.raises(UnsupportedTimeframeError):
        await client.earliest_candle("BTC/USDT", "1y")
    with pytest.raises(UnsupportedTimeframeError):
        await client.validate("BTC/USDT", "90s")
    assert sim.counters.requests == {}


async def test_bad_time_range_before_any_request(sim, client):
    with pytest.raises(InvalidTimeRangeError, match="until"):
        await client.fetch_candles("BTC/USDT", "1m", since=NOW, until=NOW)
    with pytest.raises(InvalidTimeRangeError):
        await client.fetch_trades("BTC/USDT", since=NOW, until=NOW - 1)
    assert sim.counters.requests == {}


async def test_unknown_symbol_needs_only_the_markets(sim, client):
    with pytest.raises(UnknownSymbolError, match="Did you mean 'BTC/USDT'") as caught:
        await client.fetch_candles("BTCUSDT", "1m", since=NOW - 10 * 60_000)
    assert "BASE/QUOTE" in str(caught.value) and "on sim" in str(caught.value)
    with pytest.raises(UnknownSymbolError, match="Did you mean 'ETH/USDT'"):
        await client.fetch_trades("eth/usdt", since=NOW - 60_000)
    with pytest.raises(UnknownSymbolError):
        await client.earliest_candle("NOPE/USDT")
    assert await client.validate("SOL/USDT", "1h") is not None
    assert sim.counters.requests == {"exchangeInfo": 1}  # loaded once, no klines, no trades


async def test_unreachable_exchange_is_not_contacted_for_offline_checks(refused):
    # nothing listens on port 9; contacting it would raise, not UnsupportedTimeframeError
    async with open_exchange("sim", url="http://127.0.0.1:9", retry=INSTANT) as ex:
        with pytest.raises(UnsupportedTimeframeError):
            await ex.fetch_candles("BTC/USDT", "13m")
        with pytest.raises(InvalidTimeRangeError):
            await ex.fetch_candles("BTC/USDT", "1m", since=5, until=4)
        assert not ex.markets_loaded and ex.api.session is None  # no HTTP session ever opened
    with pytest.raises(UnknownExchangeError):
        async with open_exchange("not-an-exchange"):
            pass  # pragma: no cover
    assert refused == []


@pytest.fixture
def refused(request):
    return request.getfixturevalue("_loopback_only")
