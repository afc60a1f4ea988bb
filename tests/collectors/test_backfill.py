"""Backfills from the simulator: exact data, resume, fault storms, permanent errors, bad input."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pandas as pd
import pytest

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.errors import (
    InactiveSymbolError,
    InvalidTimeRangeError,
    SeriesBusyError,
    TemporaryExchangeError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from ohlcv_workbench.exchange import RetryPolicy, open_exchange
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry.keys import lease_key
from ohlcv_workbench.store.validation import candle_problems
from ohlcv_workbench.timeframes import timeframe
from tests.helpers import Dialect, sim_candles

SINCE, UNTIL = "2026-10-01", "2026-10-04"  # three days of 1m: 4,320 candles


def assert_stored_exactly(
    wb: Workbench, exchange: str, symbol: str, tf: str, since: str | int, until: str | int
) -> None:
    """The stored series is the simulator's (its Binance dialect: full history), value for
    value."""
    pd.testing.assert_frame_equal(
        wb.candles(exchange, symbol, tf),
        sim_candles(str(wb.settings.sim_url), symbol, tf, since, until),
        check_freq=False,
        check_exact=True,
    )


def record(raw_redis: Any, process_id: str | None) -> Any:
    return json.loads(raw_redis.get(f"process:data:{process_id}"))


def test_backfill_equals_the_simulator_exactly(wb, sim, raw_redis, dialect: Dialect):
    exchange, tf = dialect.exchange, dialect.timeframe
    since, until = dialect.backfill_range()
    n = dialect.candles()  # 4,320 minutes on Binance, 720 hours on Kraken
    handle = wb.start_collector(exchange, "BTC/USDT", tf, since=since, until=until)
    state = handle.wait(60)
    assert state.phase is Phase.STOPPED and state.error is None
    assert state.message == f"Collected {n:,} candles"
    got = wb.candles(exchange, "BTC/USDT", tf)
    expected = sim_candles(str(wb.settings.sim_url), "BTC/USDT", tf, since, until)
    assert len(got) == n and got.index.is_unique and got.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(got, expected, check_freq=False, check_exact=True)
    key = SeriesKey(exchange, "BTC/USDT", tf)
    assert wb.store.ohlcv_gaps(key, since, until) == []
    rec = record(raw_redis, handle.process_id)
    assert rec["status"] == "stopped" and rec["message"] == f"Collected {n:,} candles"
    assert rec["component"] == f"ohlcv.{exchange}.BTC/USDT"
    params = rec["params"]
    assert params["exchange"] == exchange and params["symbol"] == "BTC/USDT"
    assert params["timeframe"] == tf and params["mode"] == "backfill"
    assert params["progress"]["done"] == params["progress"]["total"] == n
    assert isinstance(params["pid"], int)
    assert not raw_redis.exists(lease_key(key))
    if exchange == "sim_kraken":  # the window, then trades for the hour before it
        requests = sim.counters()["requests"]
        assert requests["OHLC"] == 1 and requests["Trades"] > 10
        first_hour = wb.trades(exchange, "BTC/USDT", since, since + 3_600_000)
        assert len(first_hour) > 10_000 and wb.quality(exchange, "BTC/USDT", tf).uncovered == ()


def test_no_since_and_nothing_stored_starts_with_the_latest_page(wb, dialect: Dialect):
    before = pd.Timestamp.now(tz="UTC")
    handle = wb.start_collector(dialect.exchange, "ETH/BTC", "1h")
    deadline = time.monotonic() + 20
    while handle.status is not Phase.LIVE and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.stop()
    after = pd.Timestamp.now(tz="UTC")
    frame = wb.candles(dialect.exchange, "ETH/BTC", "1h")
    page = 1000 if dialect.exchange == "sim" else 720  # ccxt's features.fetchOHLCV.limit
    assert page - 1 <= len(frame) <= page
    # the last closed hour (the run may straddle an hour's close, and the exchange's clock
    # error counts against closing)
    hour = pd.Timedelta("1h")
    assert (before - pd.Timedelta("2s")).floor("1h") - hour <= frame.index[-1]
    assert frame.index[-1] <= after.floor("1h") - hour
    assert frame.index.is_unique


def test_a_second_backfill_fills_only_the_gaps(wb, sim):
    key = SeriesKey("sim", "SOL/USDT", "1m")
    wb.start_collector("sim", "SOL/USDT", "1m", since="2026-10-02", until="2026-10-03").wait(30)
    sim.reset_counters()
    handle = wb.start_collector("sim", "SOL/USDT", "1m", since=SINCE, until=UNTIL)
    assert handle.wait(30).phase is Phase.STOPPED
    assert handle.stored == 4320 - 1440  # the stored day was not fetched again
    assert wb.store.ohlcv_gaps(key, SINCE, UNTIL) == []
    # the first page from since (1,000 candles), the rest of that day (1), the last day (2)
    assert sim.counters()["klines"]["SOL/USDT"] == {"1m": 4}


def test_fault_storm_completes_exactly_and_shows_the_retrying(
    settings, sim, raw_redis, caplog, dialect: Dialect
):
    caplog.set_level("INFO", logger="ohlcv_workbench.collectors")
    sim.set_faults(
        rate_limited=0.15, server_error=0.15, drop=0.1, timeout=0.05, hang=2.0, retry_after=1,
        symbols=["XRP/USDT"], seed=3,
    )  # fmt: skip
    since, until = dialect.backfill_range()
    retry = RetryPolicy(attempts=12, instant=True)
    with Workbench(settings, rate_limit=False, retry=retry, request_timeout=0.3) as wb:
        handle = wb.start_collector(
            dialect.exchange, "XRP/USDT", dialect.timeframe, since=since, until=until
        )
        state = handle.wait(60)
        assert state.phase is Phase.STOPPED, state.message
        sim.clear_faults()
        assert_stored_exactly(wb, dialect.exchange, "XRP/USDT", dialect.timeframe, since, until)
        params = record(raw_redis, handle.process_id)["params"]
    faults = sim.counters()["faults"]
    assert sum(faults.values()) >= 3, faults  # the storm really happened
    assert params["retries"] >= 2 and params["retrying"] is None  # retried, then answered
    retried = [r.getMessage() for r in caplog.records if "retrying:" in r.getMessage()]
    assert retried and all("attempt" in m for m in retried)


def test_a_5xx_with_a_json_body_is_retried_and_the_backfill_completes_exactly(
    settings, sim, raw_redis, dialect: Dialect
):
    """Binance's -1008/-1001 and Kraken's EService errors on 5xx are temporary."""
    sim.set_faults(server_error=0.4, server_error_body="json", symbols=["SOL/USDT"], seed=9)
    since, until = dialect.backfill_range(days=1 if dialect.exchange == "sim" else 30)
    with Workbench(settings, rate_limit=False, retry=RetryPolicy(attempts=10, instant=True)) as wb:
        handle = wb.start_collector(
            dialect.exchange, "SOL/USDT", dialect.timeframe, since=since, until=until
        )
        assert handle.wait(60).phase is Phase.STOPPED, handle.message
        sim.clear_faults()
        assert_stored_exactly(wb, dialect.exchange, "SOL/USDT", dialect.timeframe, since, until)
    assert sim.counters()["faults"]["server_error"] > 0
    assert record(raw_redis, handle.process_id)["params"]["retries"] > 0


def test_retries_are_bounded_and_end_in_error(settings, sim, raw_redis, caplog, dialect: Dialect):
    sim.set_faults(server_error=1.0, symbols=["DOGE/USDT"])
    since, until = dialect.backfill_range()
    retry = RetryPolicy(attempts=3, instant=True)
    with Workbench(settings, rate_limit=False, retry=retry) as wb:
        # from since, the first page is part of the opening: refused, nothing registered
        pattern = f"process:data:ohlcv:ohlcv.{dialect.exchange}.DOGE*"
        before = set(raw_redis.keys(pattern))
        with pytest.raises(TemporaryExchangeError, match=r"HTTP 503"):
            wb.start_collector(
                dialect.exchange, "DOGE/USDT", dialect.timeframe, since=since, until=until
            )
        assert set(raw_redis.keys(pattern)) == before
        sim.reset_counters()
        # without since the opening passes (server time is not per symbol); candles fail
        with caplog.at_level(logging.ERROR, logger="ohlcv_workbench.collectors.manager"):
            handle = wb.start_collector(
                dialect.exchange, "DOGE/USDT", dialect.timeframe, until=until
            )
            handle.wait(30)
        (logged,) = [r.getMessage() for r in caplog.records if r.name.endswith("manager")]
        assert logged.startswith(
            f"collector ohlcv {dialect.exchange} DOGE/USDT {dialect.timeframe} ended with Temporary"
        )
        assert handle.status is Phase.ERROR
        with pytest.raises(TemporaryExchangeError, match=r"HTTP 503"):
            handle.raise_for_error()
        rec = record(raw_redis, handle.process_id)
    assert rec["status"] == "error" and "TemporaryExchangeError" in rec["message"]
    counters = sim.counters()
    assert sum(counters["faults"].values()) == 3, counters  # three attempts, then the error
    assert "DOGE/USDT" not in counters["klines"] and "DOGE/USDT" not in counters["ohlc"]
    key = SeriesKey(dialect.exchange, "DOGE/USDT", dialect.timeframe)
    assert not raw_redis.exists(lease_key(key))


def test_permanent_error_mid_run_is_error_with_nothing_invalid_stored(wb, sim, raw_redis):
    key = SeriesKey("sim", "BNB/USDT", "1m")
    sim.set_faults(malformed=0.0005, malformed_kind="high_below_low", symbols=["BNB/USDT"])
    handle = wb.start_collector("sim", "BNB/USDT", "1m", since="2026-09-01", until=UNTIL)
    state = handle.wait(60)
    assert state.phase is Phase.ERROR
    rec = record(raw_redis, handle.process_id)
    assert rec["status"] == "error"
    assert "MalformedResponseError" in rec["message"] and "inconsistent OHLCV" in rec["message"]
    assert not raw_redis.exists(lease_key(key))
    stored = wb.store.ohlcv_load_batch(key)
    assert candle_problems(stored, timeframe("1m")) == []
    assert 0 < len(stored) < 47 * 1440
    sim.clear_faults()
    got = wb.candles("sim", "BNB/USDT", "1m")
    first, last = got.index[0], got.index[-1] + pd.Timedelta("1min")
    expected = sim_candles(str(wb.settings.sim_url), "BNB/USDT", "1m", str(first), str(last))
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_a_busy_series_names_its_holder(wb):
    first = wb.start_collector("sim", "SUI/USDT", "1m")
    with pytest.raises(SeriesBusyError) as info:
        wb.start_collector("sim", "SUI/USDT", "1m", since=SINCE)
    assert info.value.holder and first.process_id in info.value.holder
    assert first.process_id in str(info.value)
    first.stop()
    again = wb.start_collector("sim", "SUI/USDT", "1m", since=SINCE, until="2026-10-01T01:00")
    assert again.wait(20).phase is Phase.STOPPED


@pytest.mark.parametrize(
    ("args", "error", "named"),
    [
        (("simm", "BTC/USDT", "1m"), UnknownExchangeError, "simm"),
        (("sim", "BTC/USDX", "1m"), UnknownSymbolError, "BTC/USDX"),
        (("sim", "BTC/USDT", "7m"), UnsupportedTimeframeError, "7m"),
        (("sim", "BTC/USDT", "1m", "2999-01-01"), InvalidTimeRangeError, "in the future"),
        (("sim", "BTC/USDT", "1m", "2026-10-02", "2026-10-01"), InvalidTimeRangeError, "after"),
        (("sim", "BTC/USDT", "1m", "yesterday"), ValueError, "yesterday"),
        (("sim_kraken", "BTC/USDT", "1s"), UnsupportedTimeframeError, "'1s' is not offered"),
        (("sim_kraken", "BTC/USDX", "1h"), UnknownSymbolError, "BTC/USDX"),
        (("sim_krakn", "BTC/USDT", "1h"), UnknownExchangeError, "sim_kraken"),
    ],
)
def test_bad_input_is_refused_before_anything_is_registered(wb, raw_redis, args, error, named):
    before = set(raw_redis.keys("process:data:*"))
    with pytest.raises(error, match=named):
        wb.start_collector(*args)
    after = set(raw_redis.keys("process:data:*"))
    assert after == before
    assert raw_redis.keys("ohlcv_workbench:lease:*") == []
    assert wb.store.ohlcv_inventory() == []


def test_an_inactive_symbol_is_refused_with_its_status(wb, sim, raw_redis, dialect: Dialect):
    sim.set_symbol_status("SUI/USDT", "BREAK")
    before = set(raw_redis.keys("process:data:*"))
    status = "BREAK" if dialect.exchange == "sim" else "reduce_only"
    with pytest.raises(InactiveSymbolError, match=rf"SUI/USDT on {dialect.exchange} is not "
                       rf"trading \(status {status}"):  # fmt: skip
        wb.start_collector(dialect.exchange, "SUI/USDT", dialect.timeframe, since=SINCE)
    with pytest.raises(InactiveSymbolError):
        wb.start_collector(dialect.exchange, "SUI/USDT", since=SINCE, trades=True)
    assert set(raw_redis.keys("process:data:*")) == before


def test_since_before_the_listing_starts_at_the_listing(wb, sim):
    async def listing() -> int | None:
        async with open_exchange("sim", settings=wb.settings, rate_limit=False) as ex:
            return await ex.earliest_candle("SUI/USDT", "1m")

    first = wb.run(listing())
    assert first is not None
    until = first + 3 * 60 * 60_000  # three hours after the listing
    sim.reset_counters()
    handle = wb.start_collector("sim", "SUI/USDT", "1m", since="2015-01-01", until=until)
    assert handle.wait(30).phase is Phase.STOPPED
    got = wb.candles("sim", "SUI/USDT", "1m")
    assert got.index[0].value // 10**6 == first and len(got) == 180
    assert sim.counters()["klines"]["SUI/USDT"] == {"1m": 1}  # the first page held it all
