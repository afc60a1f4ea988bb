"""Loading: the DataFrame contract, ranges, and resampling on read against pandas."""

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.store import ohlcv_frame
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles

T0 = to_ms("2024-01-29T03:17")  # a Monday, mid-hour; 70 days reach into April
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
# pandas rules with the exchange's alignment: epoch for s..d, Monday weeks, calendar months
RULES: dict[str, tuple[str, Any]] = {
    "5m": ("5min", "epoch"),
    "1h": ("1h", "epoch"),
    "4h": ("4h", "epoch"),
    "1d": ("24h", "epoch"),
    "3d": ("72h", "epoch"),
    "1w": ("168h", pd.Timestamp("1970-01-05", tz="UTC")),
    "1M": ("MS", "start_day"),
}


def reference(frame: pd.DataFrame, tf: str) -> pd.DataFrame:
    rule, origin = RULES[tf]
    out = frame.resample(rule, closed="left", label="left", origin=origin).agg(AGG)
    return out.dropna(subset=["open"])


def assert_contract(frame: pd.DataFrame) -> None:
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique


@pytest.fixture
def series(store):
    batch = candles(T0, 70 * 1440, skip=range(5000, 5090))  # 90 minutes missing
    store.ohlcv_store(KEY, batch)
    return batch


def test_frame_contract(store, series):
    frame = store.ohlcv_load(KEY)
    assert_contract(frame)
    pd.testing.assert_frame_equal(frame, series.to_frame())


def test_empty_frames_keep_the_contract(store, series):
    for frame in (
        store.ohlcv_load(SeriesKey("binance", "ETH/USDT", "1m")),
        store.ohlcv_load(KEY, "2020-01-01", "2020-01-02"),
        store.ohlcv_load(KEY, "2020-01-01", "2020-01-02", timeframe="1h"),
        ohlcv_frame(np.empty(0, dtype=np.int64), np.empty((5, 0))),
    ):
        assert len(frame) == 0
        assert_contract(frame)
        assert frame.index.dtype == series.to_frame().index.dtype


def test_range_is_half_open_and_accepts_time_types(store, series):
    start, end = to_ms("2024-02-01T00:00"), to_ms("2024-02-01T01:00")
    expected = series.to_frame().loc["2024-02-01 00:00":"2024-02-01 00:59"]
    assert len(expected) == 60
    for lo, hi in [
        (start, end),
        (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 1, 1, tzinfo=UTC)),
        (datetime(2024, 2, 1), datetime(2024, 2, 1, 1)),  # naive is UTC
        (pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-01 01:00", tz="UTC")),
        (np.datetime64("2024-02-01T00:00"), np.datetime64("2024-02-01T01:00")),
        ("2024-02-01", "2024-02-01T01:00:00Z"),
    ]:
        pd.testing.assert_frame_equal(store.ohlcv_load(KEY, lo, hi), expected)
    assert store.ohlcv_count(KEY, start, end) == 60
    assert len(store.ohlcv_load(KEY, start, start)) == 0


def test_bad_times_are_named(store):
    with pytest.raises(InvalidTimeRangeError, match="end 2024-01-01T00:00:00Z is before start"):
        store.ohlcv_load(KEY, "2024-01-02", "2024-01-01")
    with pytest.raises(InputError, match=r"start='yesterday' is not ISO time text"):
        store.ohlcv_load(KEY, "yesterday")
    with pytest.raises(InputError, match=r"end=1\.5 is not a time"):
        store.ohlcv_load(KEY, None, 1.5)


@pytest.mark.parametrize("tf", list(RULES))
def test_resampling_equals_pandas(store, series, tf):
    frame = series.to_frame()
    got = store.ohlcv_load(KEY, timeframe=tf, partial=True)
    assert_contract(got)
    pd.testing.assert_frame_equal(got, reference(frame, tf), check_freq=False, rtol=1e-12)


@pytest.mark.parametrize("tf", list(RULES))
def test_only_complete_buckets_by_default(store, series, tf):
    got = store.ohlcv_load(KEY, timeframe=tf)
    ref = reference(series.to_frame(), tf)
    first, end = series.to_frame().index[0], series.to_frame().index[-1] + pd.Timedelta("1min")
    rule = RULES[tf][0]
    step: Any = pd.offsets.MonthBegin() if rule == "MS" else pd.Timedelta(rule)
    ends = ref.index + step
    complete = ref[(ref.index >= first) & (ends <= end)]
    assert len(complete) >= 2 and len(complete) < len(ref)
    pd.testing.assert_frame_equal(got, complete, check_freq=False, rtol=1e-12)


def test_resampling_a_range_keeps_buckets_inside_it(store, series):
    got = store.ohlcv_load(KEY, "2024-02-01T00:30", "2024-02-01T05:00", timeframe="1h")
    assert list(got.index.hour) == [1, 2, 3, 4]
    partial = store.ohlcv_load(
        KEY, "2024-02-01T00:30", "2024-02-01T05:00", timeframe="1h", partial=True
    )
    assert list(partial.index.hour) == [0, 1, 2, 3, 4]
    head = series.to_frame().loc["2024-02-01 00:30":"2024-02-01 00:59"]
    assert partial["open"].iloc[0] == head["open"].iloc[0]
    assert partial["volume"].iloc[0] == pytest.approx(head["volume"].sum(), rel=1e-12)


def test_finer_or_misaligned_timeframes_are_refused(store, series):
    five = SeriesKey("binance", "BTC/USDT", "5m")
    store.ohlcv_store(five, candles(T0 - T0 % 300_000, 10, "5m"))
    with pytest.raises(InputError) as info:
        store.ohlcv_load(five, timeframe="1m")
    text = str(info.value)
    assert "1m is finer than the stored 5m" in text
    assert "can be resampled to 5m, 15m, 30m, 1h" in text and "1M" in text
    assert "stored for binance BTC/USDT: 1m, 5m" in text
    with pytest.raises(InputError, match="7m is not a multiple of the stored 5m"):
        store.ohlcv_load(five, timeframe="7m")
    weekly = SeriesKey("binance", "BTC/USDT", "1w")
    with pytest.raises(InputError, match="months do not start on 1w boundaries"):
        store.ohlcv_load(weekly, timeframe="1M")
    with pytest.raises(InputError, match="1w is not a multiple of the stored 3d"):
        store.ohlcv_load(SeriesKey("binance", "BTC/USDT", "3d"), timeframe="1w")
    with pytest.raises(InputError, match="not a timeframe"):
        store.ohlcv_load(KEY, timeframe="hourly")


def test_source_picks_the_coarsest_stored_divisor(store, series):
    store.ohlcv_store(SeriesKey("binance", "BTC/USDT", "5m"), candles(T0 - T0 % 300_000, 10, "5m"))
    assert store.ohlcv_timeframes("binance", "BTC/USDT") == ["1m", "5m"]
    assert store.ohlcv_source("binance", "BTC/USDT", "1h").timeframe == "5m"
    assert store.ohlcv_source("binance", "BTC/USDT", "1m").timeframe == "1m"
    assert store.ohlcv_source("binance", "BTC/USDT", "3m").timeframe == "1m"
    with pytest.raises(InputError, match="stored: nothing"):
        store.ohlcv_source("binance", "DOGE/USDT", "1h")
