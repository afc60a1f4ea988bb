"""Fixtures of the store tests: a fresh SQLite store per test and candle builders."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ohlcv_workbench.records import CandleBatch, SeriesKey
from ohlcv_workbench.store import SqliteStore
from ohlcv_workbench.timeframes import timeframe

KEY = SeriesKey("binance", "BTC/USDT", "1m")


def candles(start: int, n: int, tf: str = "1m", *, seed: int = 1, skip=()) -> CandleBatch:
    """``n`` valid candles of ``tf`` from ``start`` (a random walk), without slots ``skip``."""
    ts = timeframe(tf).range(start, start + n * timeframe(tf).nominal_ms * 2)[:n]
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.random(n)
    low = np.minimum(open_, close) - rng.random(n)
    volume = np.round(rng.random(n) * 64, 3)
    keep = np.ones(n, dtype=bool)
    keep[list(skip)] = False
    return CandleBatch.from_columns(ts, open_, high, low, close, volume).select(keep)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "ohlcv.sqlite") as s:
        yield s
