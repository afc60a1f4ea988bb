import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.records import CandleBatch, OhlcvRow, SeriesKey


def sample() -> CandleBatch:
    return CandleBatch.from_columns(
        [0, 60_000, 120_000], [1, 2, 3], [2, 3, 4], [0.5, 1.5, 2.5], [2, 3, 3.5], [10, 0, 5],
        [True, True, False],
    )  # fmt: skip


def test_frame_contract():
    frame = sample().to_frame()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index[1] == pd.Timestamp("1970-01-01 00:01", tz="UTC")


def test_round_trips():
    batch = sample()
    assert CandleBatch.from_rows(batch.rows()).rows() == batch.rows()
    closed = batch.closed_only()
    assert len(closed) == 2
    assert CandleBatch.from_frame(closed.to_frame()).rows() == closed.rows()
    assert batch.rows()[2] == OhlcvRow(120_000, 3.0, 4.0, 2.5, 3.5, 5.0, False)
    assert len(CandleBatch.empty()) == 0
    assert CandleBatch.from_frame(CandleBatch.empty().to_frame()).rows() == []


def test_mismatched_columns_rejected():
    with pytest.raises(ValueError, match="'close' has a different length"):
        CandleBatch.from_columns([1, 2], [1, 2], [1, 2], [1, 2], [1], [1, 2])


def test_series_component_follows_seed_convention():
    assert SeriesKey("sim", "BTC/USDT", "1m").component == "ohlcv.sim.BTC/USDT"
