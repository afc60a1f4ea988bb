"""Fixtures of the store tests: a fresh store per test, of each backend, and candle builders.

``store`` (and ``store_url``) run every test that uses them twice: on SQLite and on
PostgreSQL (a fresh database on the run's embedded server), so one suite covers both.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ohlcv_workbench.records import CandleBatch, SeriesKey
from ohlcv_workbench.store import CandleStore, open_store
from ohlcv_workbench.timeframes import timeframe

KEY = SeriesKey("binance", "BTC/USDT", "1m")
BACKENDS = ("sqlite", "postgres")


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


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ohlcv.sqlite'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[CandleStore]:
    with open_store(store_url) as s:
        yield s
