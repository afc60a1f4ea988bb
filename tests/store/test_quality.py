"""The data-quality report on constructed series: gaps, duplicates, zero volume, jumps."""

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.records import CandleBatch, SeriesKey
from ohlcv_workbench.store import Gap, Jump, quality_report
from ohlcv_workbench.timeframes import timeframe
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles

T0 = to_ms("2026-04-01T00:00")
MIN = 60_000
M1 = timeframe("1m")


def walk(n: int, *, level_shift_at: int, gap_at: int, seed: int = 4) -> CandleBatch:
    """1m candles (open = previous close, sigma 1e-3) with one +5% close-to-close move at
    ``level_shift_at`` and one +4% open-after-close gap (a flat candle) at ``gap_at``."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1e-3, n)
    steps[level_shift_at] = np.log(1.05)
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate(([100.0], close[:-1]))
    open_[gap_at] = close[gap_at - 1] * 1.04
    close[gap_at:] = close[gap_at:] * 1.04  # the level holds after the gap...
    close[gap_at] = open_[gap_at]  # ...and the gap candle itself is flat
    open_[gap_at + 1 :] = close[gap_at:-1]
    high = np.maximum(open_, close) + 0.01
    low = np.minimum(open_, close) - 0.01
    volume = np.full(n, 5.0)
    ts = T0 + MIN * np.arange(n, dtype=np.int64)
    return CandleBatch.from_columns(ts, open_, high, low, close, volume)


def silenced(batch: CandleBatch, where) -> CandleBatch:
    """``batch`` with zero volume where ``where`` selects."""
    volume = batch.volume.copy()
    volume[where] = 0.0
    return CandleBatch.from_columns(
        batch.ts, batch.open, batch.high, batch.low, batch.close, volume
    )


def test_gaps_count_longest_and_expected():
    skip = [*range(10, 13), *range(100, 130), 500]  # 3, 30 and 1 missing
    batch = candles(T0, 1000, skip=skip)
    report = quality_report(batch, M1, series=KEY)
    assert report.gaps == (
        Gap(T0 + 10 * MIN, T0 + 13 * MIN, 3),
        Gap(T0 + 100 * MIN, T0 + 130 * MIN, 30),
        Gap(T0 + 500 * MIN, T0 + 501 * MIN, 1),
    )
    assert (report.gap_count, report.longest_gap, report.missing_total) == (3, 30, 34)
    assert (report.count, report.expected) == (966, 1000)
    assert (report.first, report.last) == (T0, T0 + 999 * MIN)
    assert report.duplicates == 0 and report.zero_volume_share == 0.0


def test_gaps_of_an_hourly_series_and_of_months():
    hourly = quality_report(candles(T0, 48, "1h", skip=[5, 6, 7, 40]), timeframe("1h"))
    assert (hourly.gap_count, hourly.longest_gap, hourly.missing_total) == (2, 3, 4)
    monthly = quality_report(
        candles(to_ms("2023-10-01T00:00"), 12, "1M", skip=[3, 4]), timeframe("1M")
    )
    assert monthly.gaps == (Gap(to_ms("2024-01-01T00:00"), to_ms("2024-03-01T00:00"), 2),)


def test_duplicates_are_counted_once_and_not_used():
    batch = candles(T0, 20)
    pick = np.array([*range(20), 3, 3, 7])  # open time 3 three times, 7 twice: 3 duplicates
    fields = ("ts", "open", "high", "low", "close", "volume", "closed")
    doubled = CandleBatch(*(getattr(batch, name)[pick] for name in fields))
    report = quality_report(doubled, M1)
    assert report.duplicates == 3
    assert report.count == 20 and report.gaps == () and report.expected == 20


def test_zero_volume_share():
    batch = candles(T0, 200)
    quiet = silenced(batch, np.arange(200) % 8 == 0)
    assert quality_report(quiet, M1).zero_volume_share == 25 / 200
    assert quality_report(silenced(batch, slice(None)), M1).zero_volume_share == 1.0


def test_large_jumps_of_both_kinds_are_found():
    batch = walk(1000, level_shift_at=300, gap_at=700)
    report = quality_report(batch, M1)
    assert [(j.ts, j.kind) for j in report.jumps] == [
        (T0 + 300 * MIN, "return"),
        (T0 + 700 * MIN, "gap"),
        (T0 + 700 * MIN, "return"),  # the flat gap candle closes 4% above the previous close
    ]
    shift, gap, _ = report.jumps
    assert shift.change == pytest.approx(0.05, rel=1e-9)
    assert gap.change == pytest.approx(0.04, rel=1e-9)
    assert min(j.sigmas for j in report.jumps) > 8
    assert str(gap).startswith("2026-04-01T11:40:00Z: gap +4.0000% (")
    # a lax threshold also flags ordinary moves
    assert len(quality_report(batch, M1, jump_sigmas=1.0).jumps) > 10
    frame = report.jumps_frame()
    assert list(frame.columns) == ["kind", "change", "sigmas"] and len(frame) == 3
    assert str(pd.DatetimeIndex(frame.index).tz) == "UTC"


def test_moves_across_a_gap_are_not_jumps():
    batch = walk(1000, level_shift_at=300, gap_at=700)
    holed = batch.select(np.arange(1000) != 299)  # the candle before the shift is missing
    report = quality_report(holed, M1)
    assert [(j.ts, j.kind) for j in report.jumps] == [
        (T0 + 700 * MIN, "gap"),
        (T0 + 700 * MIN, "return"),
    ]


def test_store_report_matches_the_pure_function(store):
    batch = walk(600, level_shift_at=100, gap_at=400).select(np.arange(600) % 97 != 5)
    store.ohlcv_store(KEY, batch)
    from_store = store.ohlcv_quality(KEY)
    direct = quality_report(batch, M1, series=KEY)
    assert from_store == direct
    summary = from_store.to_dict()
    assert summary["series"] == "binance BTC/USDT 1m" and summary["gap_count"] == 7
    assert summary["first"] == "2026-04-01T00:00:00Z" and summary["jumps"] == len(direct.jumps)
    assert from_store.to_frame().loc["missing_total", "value"] == 7
    ranged = store.ohlcv_quality(KEY, T0 + 200 * MIN, T0 + 300 * MIN)
    assert (ranged.count, ranged.gap_count) == (99, 1)


def test_report_of_nothing():
    report = quality_report(CandleBatch.empty(), M1, series=SeriesKey("x", "A/B", "1m"))
    assert (report.count, report.expected, report.first, report.last) == (0, 0, None, None)
    assert report.gaps == () and report.jumps == () and report.longest_gap == 0
    assert report.zero_volume_share == 0.0
    assert Jump(T0, "gap", 0.5, 9.0).kind == "gap"


def test_uncovered_ranges_are_noted_replaced_and_reported(store):
    from ohlcv_workbench.errors import InputError

    store.ohlcv_store(KEY, candles(to_ms("2024-01-02T00:00"), 60))
    note = store.ohlcv_mark_uncovered(KEY, "2024-01-01", "2024-01-02", "no trades there")
    assert str(note) == "2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z (no trades there)"
    report = store.ohlcv_quality(KEY, "2023-12-31", "2024-01-03")
    assert report.uncovered == (note,) and report.gap_count == 0  # not a gap: never had it
    assert report.to_dict()["uncovered"] == str(note)
    assert store.ohlcv_quality(KEY, "2024-01-02", "2024-01-03").uncovered == ()  # outside
    wider = store.ohlcv_mark_uncovered(KEY, "2023-12-31T12:00", "2024-01-01T12:00", "again")
    assert store.ohlcv_uncovered(KEY) == [wider]  # an overlapping note replaces the older
    other = SeriesKey("binance", "ETH/USDT", "1m")
    assert store.ohlcv_uncovered(other) == [] and store.ohlcv_clear_uncovered(other) == 0
    assert store.ohlcv_clear_uncovered(KEY, "2024-01-01", "2024-01-02") == 1
    assert store.ohlcv_uncovered(KEY) == [] and store.ohlcv_quality(KEY).uncovered == ()
    with pytest.raises(InputError, match="is before start"):
        store.ohlcv_mark_uncovered(KEY, "2024-01-02", "2024-01-01", "backwards")
    with pytest.raises(InputError, match="end must follow start"):
        store.ohlcv_mark_uncovered(KEY, "2024-01-02", "2024-01-02", "empty")
