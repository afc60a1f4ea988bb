from datetime import UTC, datetime

import numpy as np
import pytest

from ohlcv_workbench.errors import UnsupportedTimeframeError
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, DAY, MINUTE, timeframe


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_all_binance_timeframes_parse():
    for name in BINANCE_TIMEFRAMES:
        assert timeframe(name).name == name
    assert timeframe("1m").ms == MINUTE
    assert timeframe("1M").months == 1
    assert timeframe("1y").months == 12


@pytest.mark.parametrize("bad", ["", "1", "m", "0m", "1x", "1 m", "01m", "1min"])
def test_bad_timeframes(bad):
    with pytest.raises(UnsupportedTimeframeError, match="1s, 1m"):
        timeframe(bad)


def test_weeks_open_on_monday():
    tf = timeframe("1w")
    wednesday = ms(2026, 11, 18, 15, 30)
    assert tf.floor(wednesday) == ms(2026, 11, 16)  # Monday
    assert datetime.fromtimestamp(tf.floor(wednesday) / 1000, UTC).weekday() == 0
    assert tf.next(wednesday) == ms(2026, 11, 23)


def test_three_days_align_to_epoch():
    tf = timeframe("3d")
    assert tf.floor(ms(2026, 11, 18)) % (3 * DAY) == 0


def test_months_open_on_the_first():
    tf = timeframe("1M")
    assert tf.floor(ms(2024, 2, 29, 12)) == ms(2024, 2, 1)
    assert tf.next(ms(2024, 2, 29)) == ms(2024, 3, 1)
    assert tf.next(ms(2024, 12, 5)) == ms(2025, 1, 1)
    assert timeframe("3M").floor(ms(2024, 5, 20)) == ms(2024, 4, 1)
    assert list(tf.range(ms(2024, 1, 15), ms(2024, 4, 1))) == [ms(2024, 2, 1), ms(2024, 3, 1)]
    assert tf.count(ms(2024, 1, 1), ms(2025, 1, 1)) == 12


def test_ceil_range_count_fixed():
    tf = timeframe("5m")
    start = ms(2026, 1, 1, 0, 2)
    assert tf.ceil(start) == ms(2026, 1, 1, 0, 5)
    assert tf.ceil(ms(2026, 1, 1, 0, 5)) == ms(2026, 1, 1, 0, 5)
    values = tf.range(start, ms(2026, 1, 1, 1))
    assert values[0] == ms(2026, 1, 1, 0, 5) and values[-1] == ms(2026, 1, 1, 0, 55)
    assert tf.count(start, ms(2026, 1, 1, 1)) == len(values) == 11
    assert tf.count(5, 5) == 0


@pytest.mark.parametrize("name", ["1m", "1h", "3d", "1w", "1M", "3M"])
def test_floor_array_matches_floor(name):
    tf = timeframe(name)
    rng = np.random.default_rng(1)
    stamps = rng.integers(ms(2000, 1, 1), ms(2030, 1, 1), size=200, dtype=np.int64)
    assert list(tf.floor_array(stamps)) == [tf.floor(int(t)) for t in stamps]
    assert all(tf.is_aligned(int(t)) for t in tf.floor_array(stamps))
