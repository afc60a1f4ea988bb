"""Extent, inventory, delete, coverage and gaps: exact on constructed series."""

import pandas as pd
import pytest

from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.store import Gap
from ohlcv_workbench.store.chunks import CHUNK_SLOTS
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles

T0 = to_ms("2026-03-01T00:00")
MIN = 60_000


def test_first_last_count_and_inventory(store):
    assert store.ohlcv_first(KEY) is None and store.ohlcv_last(KEY) is None
    assert store.ohlcv_count(KEY) == 0 and store.ohlcv_inventory() == []
    frame = store.ohlcv_inventory_frame()
    assert list(frame.columns) == ["exchange", "symbol", "timeframe", "first", "last", "count"]
    store.ohlcv_store(KEY, candles(T0, 1000))
    hourly = SeriesKey("binance", "BTC/USDT", "1h")
    store.ohlcv_store(hourly, candles(T0, 48, "1h"))
    other = SeriesKey("kraken", "ETH/USD", "1d")
    store.ohlcv_store(other, candles(T0, 3, "1d"))
    assert store.ohlcv_first(KEY) == T0 and store.ohlcv_last(KEY) == T0 + 999 * MIN
    assert store.ohlcv_count(KEY) == 1000
    infos = store.ohlcv_inventory()
    assert [(i.key, i.first, i.last, i.count) for i in infos] == [
        (KEY, T0, T0 + 999 * MIN, 1000),
        (hourly, T0, T0 + 47 * 3_600_000, 48),
        (other, T0, T0 + 2 * 86_400_000, 3),
    ]
    assert [i.key for i in store.ohlcv_inventory("binance")] == [KEY, hourly]
    frame = store.ohlcv_inventory_frame()
    assert frame["timeframe"].tolist() == ["1m", "1h", "1d"]
    assert frame["first"].iloc[0] == pd.Timestamp("2026-03-01", tz="UTC")
    assert frame["count"].tolist() == [1000, 48, 3]


def test_gaps_and_coverage_are_exact(store):
    edge = -(T0 // MIN) % CHUNK_SLOTS + CHUNK_SLOTS  # index of a candle opening a chunk
    missing = [*range(10, 13), *range(edge - 2, edge + 5), 1500]  # one gap across chunks
    store.ohlcv_store(KEY, candles(T0, 2000, skip=missing))
    gaps = store.ohlcv_gaps(KEY)
    assert gaps == [
        Gap(T0 + 10 * MIN, T0 + 13 * MIN, 3),
        Gap(T0 + (edge - 2) * MIN, T0 + (edge + 5) * MIN, 7),
        Gap(T0 + 1500 * MIN, T0 + 1501 * MIN, 1),
    ]
    assert str(gaps[0]) == "2026-03-01T00:10:00Z .. 2026-03-01T00:13:00Z (3 missing)"
    # a range wider than the data: leading and trailing gaps too
    coverage = store.ohlcv_coverage(KEY, T0 - 5 * MIN, T0 + 2010 * MIN)
    assert coverage.expected == 2015 and coverage.present == 2000 - 11
    assert coverage.missing == 26
    assert coverage.gaps[0] == Gap(T0 - 5 * MIN, T0, 5)
    assert coverage.gaps[-1] == Gap(T0 + 2000 * MIN, T0 + 2010 * MIN, 10)
    assert coverage.ratio == pytest.approx(1989 / 2015)
    # an unaligned range counts the candles opening inside it
    inner = store.ohlcv_coverage(KEY, T0 + 9 * MIN + 1, T0 + 13 * MIN + 1)
    assert (inner.expected, inner.present, inner.gaps) == (
        4,
        1,
        (Gap(T0 + 10 * MIN, T0 + 13 * MIN, 3),),
    )
    assert store.ohlcv_gaps(SeriesKey("binance", "NONE/USDT", "1m")) == []
    assert store.ohlcv_coverage(KEY).to_dict()["missing"] == 11


@pytest.mark.parametrize(
    ("tf", "start", "missing_at", "gap"),
    [
        ("1w", "2024-01-01", [2, 3], ("2024-01-15", "2024-01-29", 2)),
        ("1M", "2023-11-01", [2, 3, 4], ("2024-01-01", "2024-04-01", 3)),  # across a year end
        ("3d", "2024-01-03", [1], ("2024-01-06", "2024-01-09", 1)),  # epoch-aligned 3d
    ],
)
def test_gaps_of_calendar_timeframes(store, tf, start, missing_at, gap):
    key = SeriesKey("binance", "BTC/USDT", tf)
    store.ohlcv_store(key, candles(to_ms(f"{start}T00:00"), 12, tf, skip=missing_at))
    assert store.ohlcv_gaps(key) == [
        Gap(to_ms(f"{gap[0]}T00:00"), to_ms(f"{gap[1]}T00:00"), gap[2])
    ]
    assert store.ohlcv_coverage(key).expected == 12


def test_delete_a_range(store):
    batch = candles(T0, 3 * CHUNK_SLOTS)
    store.ohlcv_store(KEY, batch)
    lo, hi = T0 + 100 * MIN, T0 + (2 * CHUNK_SLOTS + 7) * MIN  # whole and partial chunks
    assert store.ohlcv_delete(KEY, lo, hi) == 2 * CHUNK_SLOTS - 93
    assert store.ohlcv_gaps(KEY) == [Gap(lo, hi, 2 * CHUNK_SLOTS - 93)]
    assert store.ohlcv_delete(KEY, lo, hi) == 0
    frame = batch.to_frame()
    kept = frame[(frame.index < pd.Timestamp(lo, unit="ms", tz="UTC"))
                 | (frame.index >= pd.Timestamp(hi, unit="ms", tz="UTC"))]  # fmt: skip
    pd.testing.assert_frame_equal(store.ohlcv_load(KEY), kept)
    assert store.ohlcv_delete(KEY) == len(kept)
    assert store.ohlcv_count(KEY) == 0 and store.ohlcv_inventory() == []
    assert store.ohlcv_store(KEY, batch).inserted == len(batch)  # the series is usable again
