"""Typed candles and trades: the fast path equals fetch_ohlcv; closed flags follow the exchange."""

from contextlib import aclosing

import numpy as np
import pytest

from ohlcv_workbench.exchange import candle_pages, find_earliest, page_windows
from ohlcv_workbench.exchange.rows import to_batch
from ohlcv_workbench.records import CandleBatch
from ohlcv_workbench.timeframes import timeframe
from ohlcv_workbench.times import to_ms
from tests.helpers import MINUTE, NOW

COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def as_rows(batch: CandleBatch) -> list[list[float]]:
    return [[int(t), o, h, lo, c, v] for t, o, h, lo, c, v, _ in zip(*_cols(batch), strict=True)]


def _cols(batch):
    return [getattr(batch, name) for name in (*COLUMNS, "closed")]


@pytest.mark.parametrize(
    ("name", "since", "limit", "until"),
    [
        ("1s", NOW - 900_000, None, None),
        ("1m", to_ms("2024-02-28T22:00"), None, None),
        ("1m", None, None, None),
        ("5m", to_ms("2021-05-19T00:00") + 123, 777, None),
        ("15m", to_ms("2017-08-01T00:00"), 1000, None),  # before the listing
        ("1h", to_ms("2023-01-01T00:00"), None, to_ms("2023-01-20T00:00")),
        ("4h", None, 10, NOW - 86_400_000),
        ("1d", to_ms("2019-06-01T00:00"), 60, None),
        ("3d", to_ms("2018-01-01T00:00"), 20, None),
        ("1w", to_ms("2024-01-01T00:00"), None, None),
        ("1M", to_ms("2017-01-01T00:00"), 8, None),
    ],
)
async def test_fast_path_equals_fetch_ohlcv(client, name, since, limit, until):
    assert client.binance_family and client.page_limit == 1000
    batch = await client.fetch_candles("BTC/USDT", name, since, limit, until)
    params = {"until": until - 1} if until is not None else {}
    expected = await client.api.fetch_ohlcv("BTC/USDT", name, since, limit or 1000, params)
    assert len(batch) == len(expected) > 0
    assert as_rows(batch) == expected  # exact: same ints, bit-identical floats
    for column in _cols(batch):
        assert column.flags.c_contiguous
    assert batch.ts.dtype == np.int64 and batch.open.dtype == np.float64


async def test_generic_path_gives_the_same_batch(client):
    since = to_ms("2025-06-17T20:00")
    fast = await client.fetch_candles("ETH/USDT", "1m", since)
    client.binance_family = False  # as for any non-binance exchange: ccxt's fetch_ohlcv
    slow = await client.fetch_candles("ETH/USDT", "1m", since)
    for a, b in zip(_cols(fast), _cols(slow), strict=True):
        np.testing.assert_array_equal(a, b)


async def test_closed_flag_follows_the_exchange_clock(sim, client):
    # the simulator's clock stands at 13:37:42.5 while ours runs in the present
    since = timeframe("1m").floor(NOW) - 5 * MINUTE
    batch = await client.fetch_candles("BTC/USDT", "1m", since=since)
    assert list(batch.ts) == [since + k * MINUTE for k in range(6)]
    assert list(batch.closed) == [True] * 5 + [False]  # 13:37 still forming
    assert abs(client.now_ms() - NOW) < 1000 and client.clock.last_server_time == NOW
    hours = await client.fetch_candles("BTC/USDT", "1h", since=to_ms("2025-06-18T10:00"))
    assert list(hours.closed) == [True, True, True, False]
    month = await client.fetch_candles("BTC/USDT", "1M", since=to_ms("2025-04-01T00:00"))
    assert list(month.closed) == [True, True, False]
    sim.clock.set(to_ms("2025-06-18T13:38:00"))  # 13:37 closes now, 13:38 opens
    await client.sync_clock()
    batch = await client.fetch_candles("BTC/USDT", "1m", since=since)
    assert list(batch.closed) == [True] * 6 + [False] and len(batch) == 7
    assert batch.closed_only().ts[-1] == to_ms("2025-06-18T13:37")


async def test_server_time(sim, client):
    assert await client.server_time() == NOW
    sim.clock.advance(5_000)
    assert await client.server_time() == NOW + 5_000
    assert abs(client.now_ms() - (NOW + 5_000)) < 1000


@pytest.mark.parametrize(("symbol", "name"), [("BTC/USDT", "1m"), ("SOL/USDT", "1d")])
async def test_earliest_candle_is_the_listing(sim, client, symbol, name):
    listing = sim.info()["symbols"][symbol]
    assert await client.earliest_candle(symbol, name) == timeframe(name).floor(listing)
    assert sim.counters.requests["klines"] == 1  # startTime=0: one request on binance


async def test_earliest_by_binary_search_on_window_exchanges():
    tf, first, now, page = (
        timeframe("1h"),
        to_ms("2019-03-05T07:00"),
        to_ms("2025-06-18T13:00"),
        500,
    )
    calls = []

    async def window_probe(since: int, limit: int) -> CandleBatch:
        calls.append(since)
        start = max(tf.ceil(since), first)
        ts = tf.range(start, min(tf.next(tf.ceil(since), limit), now))
        ones = np.ones(len(ts))
        return CandleBatch.from_columns(ts, ones, ones, ones, ones, ones)

    assert await find_earliest(window_probe, page, now, tf) == first
    assert len(calls) <= 12  # 0, the newest window, then a binary search

    async def empty_probe(since: int, limit: int) -> CandleBatch:
        return CandleBatch.empty()

    assert await find_earliest(empty_probe, page, now, tf) is None


async def test_earliest_on_a_generic_exchange_path(sim, client):
    client.binance_family = False
    listing = sim.info()["symbols"]["SUI/USDT"]
    assert await client.earliest_candle("SUI/USDT", "1h") == timeframe("1h").floor(listing)


def test_to_batch_sorts_deduplicates_and_filters():
    ts = np.array([300, 100, 200, 200, 400], dtype=np.int64)
    values = np.array([[3, 3, 3, 3, 1], [1, 1, 1, 1, 1], [2, 2, 2, 2, 1], [2, 4, 2, 4, 9], [4] * 5])
    batch = to_batch(
        ts, values.astype(np.float64), timeframe("1s"), since=150, until=400, limit=None,
        closed_before=1_200, where="t",
    )  # fmt: skip
    assert list(batch.ts) == [200, 300]
    assert list(batch.volume) == [9, 1]  # the later duplicate wins
    assert list(batch.closed) == [True, False]  # 300 + 1000 > 1200


def test_page_windows():
    tf = timeframe("1m")
    assert list(page_windows(tf, 30_000, 5 * MINUTE + 1, 2)) == [
        (MINUTE, 3 * MINUTE),
        (3 * MINUTE, 5 * MINUTE),
        (5 * MINUTE, 5 * MINUTE + 1),
    ]


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_candle_pages_cover_a_range_exactly(sim, client, concurrency):
    since, until = to_ms("2025-06-10T00:00") + 17, to_ms("2025-06-12T00:00")
    pages = []
    async with aclosing(
        candle_pages(client, "XRP/USDT", "1m", since, until, concurrency=concurrency, page=700)
    ) as stream:
        async for page in stream:
            pages.append(page)
    ts = np.concatenate([p.ts for p in pages])
    np.testing.assert_array_equal(ts, timeframe("1m").range(since, until))
    assert [len(p) for p in pages] == [700, 700, 700, 700, 79]
    assert sim.counters.klines_pages("XRP/USDT", "1m") == 5


async def test_candle_pages_left_early_cancels_the_rest(sim, client):
    stream = candle_pages(
        client, "BTC/USDT", "1m", to_ms("2025-01-01T00:00"), NOW, concurrency=3, page=100
    )
    async with aclosing(stream):
        async for _ in stream:
            break
    assert sim.counters.klines_pages() <= 4


async def test_fetch_trades(sim, client):
    since = to_ms("2025-06-18T12:00")
    trades = await client.fetch_trades("SOL/USDT", since=since, limit=100)
    assert len(trades) == 100
    assert all(since <= t.ts < since + 3_600_000 for t in trades)
    assert [t.ts for t in trades] == sorted(t.ts for t in trades)
    assert len({t.trade_id for t in trades}) == 100 and {t.side for t in trades} <= {"buy", "sell"}
    raw = await client.api.fetch_trades("SOL/USDT", since, 100)
    assert [(t.trade_id, t.ts, t.price, t.amount) for t in trades] == [
        (r["id"], r["timestamp"], r["price"], r["amount"]) for r in raw
    ]
    bounded = await client.fetch_trades("SOL/USDT", since=since, until=since + 60_000)
    assert bounded and all(since <= t.ts < since + 60_000 for t in bounded)
    # since 2022 Binance has no 1-hour window: a range of two hours is one request
    wide = await client.fetch_trades("SOL/USDT", since=since - 7_200_000, until=since, limit=5)
    assert [t.ts for t in wide] == sorted(t.ts for t in wide) and wide[0].ts >= since - 7_200_000


async def test_time_now_shares_one_clock_sample(sim, client):
    before = sim.counters.requests.get("time", 0)
    first = await client.time_now()
    second = await client.time_now()
    assert abs(first - NOW) < 5_000 and second >= first
    assert sim.counters.requests["time"] - before == 1  # one sample served both


async def test_numeric_rows_only_inside_the_fast_path(sim, client):
    from ohlcv_workbench.exchange.rows import numeric_rows

    body = '[[1,"2.50000000","abc"],[3,"0.1"]]'
    assert client.api.parse_json('[[1,"2.5"]]') == [[1, "2.5"]]  # outside: ccxt's strings
    with numeric_rows():
        assert client.api.parse_json('[[1,"2.50000000","3"]]') == [[1, 2.5, 3]]
        assert client.api.parse_json(body) == [[1, "2.50000000", "abc"], [3, "0.1"]]
        assert client.api.parse_json('{"code":-1121}') == {"code": -1121}
