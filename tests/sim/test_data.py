"""Properties of the generated data: determinism, exact aggregates, listing, now, forming candle."""

from dataclasses import fields

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohlcv_workbench.sim.bars import Bars
from ohlcv_workbench.sim.faults import Counters, Faults
from ohlcv_workbench.sim.generator import GeneratedSeries
from ohlcv_workbench.sim.markets import BUILTIN_SYMBOLS, spec_for
from ohlcv_workbench.sim.pages import missing_rows, page_opens
from ohlcv_workbench.sim.series import GeneratedMarket
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, DAY, HOUR, MINUTE, timeframe
from ohlcv_workbench.times import to_ms

SPECS = {spec.symbol: spec for spec in BUILTIN_SYMBOLS}
SERIES = {s: GeneratedSeries(spec, 7) for s, spec in SPECS.items()}
NOW = to_ms("2025-06-18T13:37:42.500")
FIELDS = [f.name for f in fields(Bars)]

symbols = st.sampled_from(sorted(SPECS))
PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plan(market, tf, start, end, limit, now):
    """Open times of a klines page without faults."""
    faults = Faults()
    missing = missing_rows(faults, market.spec.symbol, tf, Counters(), maintenance=True)
    return page_opens(market, tf, start, end, limit, now, missing, faults)


def same(a: Bars, b: Bars) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def moment(symbol: str, draw_fraction: float) -> int:
    """A time between the symbol's listing and NOW."""
    listing = SPECS[symbol].listing
    return listing + int((NOW - listing) * draw_fraction)


def candle_ok(bars: Bars) -> None:
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low >= 1).all()
    assert (bars.taker_base <= bars.volume).all() and (bars.trades >= 1).all()


@PROFILE
@given(symbols, st.floats(0, 1))
def test_same_seed_same_data_other_seed_other_data(symbol, where):
    t = moment(symbol, where) // MINUTE
    a, b = GeneratedSeries(SPECS[symbol], 7), GeneratedSeries(SPECS[symbol], 7)
    same(a.minutes(t, t + 90), b.minutes(t, t + 90))
    same(a.seconds(t * 60, t * 60 + 90), b.seconds(t * 60, t * 60 + 90))
    ta, tb = a.trades_of_minutes(t, t + 1), b.trades_of_minutes(t, t + 1)
    for name in ("id", "ts", "price", "qty", "buyer_maker"):
        np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
    other = GeneratedSeries(SPECS[symbol], 8).minutes(t, t + 90)
    assert not np.array_equal(other.close, a.minutes(t, t + 90).close)


@PROFILE
@given(symbols, st.floats(0, 1), st.integers(1, 400))
def test_pieces_do_not_depend_on_the_request_window(symbol, where, shift):
    """A minute is the same whether computed alone, in a page or in a cached chunk."""
    series = SERIES[symbol]
    t = moment(symbol, where) // MINUTE
    wide = series.minutes(t - shift, t + 1000)
    same(series.minutes(t, t + 1), wide.take(slice(shift, shift + 1)))


@PROFILE
@given(symbols, st.floats(0, 1))
def test_one_minute_is_sixty_seconds_exactly(symbol, where):
    series = SERIES[symbol]
    t = moment(symbol, where) // MINUTE
    seconds = series.seconds(t * 60, (t + 3) * 60)
    candle_ok(seconds)
    same(seconds.aggregate(seconds.ts // MINUTE * MINUTE), series.minutes(t, t + 3))


@PROFILE
@given(symbols, st.floats(0, 1))
def test_one_hour_is_sixty_minutes_exactly(symbol, where):
    series = SERIES[symbol]
    h = moment(symbol, where) // HOUR * HOUR
    minutes = series.minutes(h // MINUTE, h // MINUTE + 120)
    candle_ok(minutes)
    same(
        series.closed_candles(timeframe("1h"), h, h + 2 * HOUR),
        minutes.aggregate(minutes.ts // HOUR * HOUR),
    )


@pytest.mark.parametrize("name", ["3m", "5m", "15m", "30m", "2h", "4h", "6h", "8h", "12h", "1d"])
def test_intraday_intervals_aggregate_minutes(name):
    tf, series = timeframe(name), SERIES["ETH/USDT"]
    day = to_ms("2024-02-28T00:00")
    minutes = series.minutes(day // MINUTE, (day + DAY) // MINUTE)
    same(series.closed_candles(tf, day, day + DAY), minutes.aggregate(tf.floor_array(minutes.ts)))


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("3d", "2024-01-01T00:00", "2024-03-01T00:00"),
        ("1w", "2024-01-01T00:00", "2024-03-04T00:00"),
        ("1M", "2023-11-01T00:00", "2024-04-01T00:00"),
    ],
)
def test_long_intervals_aggregate_days(name, start, end):
    tf, series = timeframe(name), SERIES["BTC/USDT"]
    first, end_ms = tf.ceil(to_ms(start)), tf.floor(to_ms(end))
    days = series.closed_candles(timeframe("1d"), first, end_ms)
    long = series.closed_candles(tf, first, end_ms)
    assert len(long) >= 2
    same(long, days.aggregate(tf.floor_array(days.ts)))
    assert all(tf.is_aligned(int(t)) for t in long.ts)
    if name == "1w":
        assert all(np.datetime64(int(t), "ms").astype(object).weekday() == 0 for t in long.ts)


@pytest.mark.parametrize("name", BINANCE_TIMEFRAMES)
@pytest.mark.parametrize("symbol", ["BTC/USDT", "SUI/USDT"])
def test_nothing_before_listing_first_candle_holds_listing(symbol, name):
    tf, spec = timeframe(name), SPECS[symbol]
    market = GeneratedMarket(spec, 7)
    opens = plan(market, tf, 0, None, 3, NOW)
    assert int(opens[0]) == tf.floor(spec.listing) and opens.size == 3
    page = market.candles(tf, int(opens[0]), tf.next(int(opens[-1])), NOW)
    rows = page.binance_rows(tf)
    assert int(page.ts[0]) == tf.floor(spec.listing) and len(rows) == 3
    listing_minute = market.series.minutes(spec.listing // MINUTE, spec.listing // MINUTE + 1)
    first_open = int(rows[0].split(",")[1].strip('"').replace(".", "")) // spec.tick_e8
    assert first_open == int(listing_minute.open[0])  # the first candle opens at the listing
    assert plan(market, tf, None, spec.listing - 1, 10, NOW).size == 0


@PROFILE
@given(st.sampled_from(BINANCE_TIMEFRAMES), st.integers(1, 1000), st.floats(0, 1))
def test_nothing_after_now_and_forming_candle_last(name, limit, where):
    tf = timeframe(name)
    spec = SPECS["SOL/USDT"]
    now = moment("SOL/USDT", where)
    market = GeneratedMarket(spec, 7)
    opens = plan(market, tf, None, None, limit, now)
    assert (
        opens.size <= limit
        and int(opens[-1]) == tf.floor(now)
        and int(opens[0]) >= tf.floor(spec.listing)
    )
    opens = plan(market, tf, now - 5 * tf.nominal_ms, None, limit, now)
    assert opens.size and int(opens[-1]) <= now


@PROFILE
@given(symbols, st.sampled_from(["1s", "1m", "5m", "1h", "4h", "1d", "1w", "1M"]), st.floats(0, 1))
def test_forming_candle_grows_and_never_equals_the_final(symbol, name, where):
    tf, series = timeframe(name), SERIES[symbol]
    start = tf.floor(moment(symbol, where))
    end = tf.next(start)
    final = series.closed_candles(tf, start, end)
    assert len(final) == 1
    volumes = []
    for frac in (0.0, 0.001, 0.3, 0.7, 0.999, 0.99999):
        now = start + int((end - start) * frac)
        if now < series.listing:
            continue
        partial = series.partial(start, now)
        assert len(partial) == 1 and int(partial.ts[0]) == start
        assert int(partial.open[0]) == int(final.open[0]) or start < series.listing
        assert int(partial.volume[0]) < int(final.volume[0])  # never the final candle
        assert final.low[0] <= partial.low[0] <= partial.high[0] <= final.high[0]
        volumes.append(int(partial.volume[0]))
    assert volumes == sorted(volumes)


def test_forming_candle_through_the_page_and_then_closed():
    market = GeneratedMarket(SPECS["BTC/USDT"], 7)
    tf = timeframe("1m")
    start = tf.floor(NOW)
    seen = set()
    for now in range(start, start + MINUTE, 7_919):
        page = market.candles(tf, start, start + MINUTE, now)
        seen.add(page.binance_rows(tf)[-1])
    closed = market.candles(tf, start, start + MINUTE, start + MINUTE).binance_rows(tf)
    assert closed[0] not in seen and len(seen) > 5


def test_trades_add_up_to_their_seconds():
    series = SERIES["DOGE/USDT"]
    t = to_ms("2025-01-02T03:04") // MINUTE
    seconds = series.seconds(t * 60, t * 60 + 60)
    trades = series.trades_of_minutes(t, t + 1)
    sec = trades.ts // 1000
    assert (np.diff(trades.id) > 0).all() and (np.diff(trades.ts) >= 0).all()
    for k in range(60):
        mask = sec == seconds.ts[k] // 1000
        price, qty = trades.price[mask], trades.qty[mask]
        assert price[0] == seconds.open[k] and price[-1] == seconds.close[k]
        assert price.max() == seconds.high[k] and price.min() == seconds.low[k]
        assert (
            qty.sum() == seconds.volume[k] and mask.sum() == seconds.trades[k] and (qty > 0).all()
        )
        assert qty[~trades.buyer_maker[mask]].sum() == seconds.taker_base[k]


def test_spec_lookup_and_listing_on_hours():
    assert spec_for("BTCUSDT") is spec_for("BTC/USDT") is SPECS["BTC/USDT"]
    assert spec_for("NOPE/USDT") is None
    assert all(spec.listing % HOUR == 0 for spec in BUILTIN_SYMBOLS)
