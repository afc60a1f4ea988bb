"""Metric 4, ``load_series``: one year of 1m candles from the store into pandas.

525,600 generated candles are written once to a fresh SQLite store and, as the same DataFrame,
to a Parquet file (pandas' ``to_parquet``, pyarrow, default snappy compression). Timed, warm,
interleaved, median of the repeats:

- ``load_series``: ``store.ohlcv_load(key)`` against ``pyarrow.parquet.read_table(path)
  .to_pandas()`` (both give the same frame: UTC DatetimeIndex, float64 OHLCV; checked).
- ``load_series:resample_1h``: ``store.ohlcv_load(key, timeframe="1h")`` against the Parquet
  read followed by pandas' ``resample("1h")`` with first/max/min/last/sum (same values; checked).

Target: ratio <= 3 for both (the issue sets it for the load; the resample line uses the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.harness import Context, Result, Target, median

if TYPE_CHECKING:
    import pandas as pd

NAME = "load_series"
ROWS = 525_600
START_MS = 1_704_067_200_000  # 2024-01-01
TARGET = Target("ratio", "<=", 3.0)
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def candles(rows: int, seed: int = 1) -> tuple[Any, ...]:
    """Deterministic, valid 1m candles: ts, open, high, low, close, volume."""
    rng = np.random.default_rng(seed)
    ts = START_MS + np.arange(rows, dtype=np.int64) * 60_000
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, rows)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, rows))
    volume = rng.uniform(0, 10, rows)
    return ts, open_, high, low, close, volume


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(ctx: Context) -> list[Result]:
    """Both lines of the metric."""
    import pyarrow.parquet as pq

    from ohlcv_workbench.records import CandleBatch, SeriesKey
    from ohlcv_workbench.store import SqliteStore

    folder = ctx.scratch(NAME)
    key = SeriesKey("sim", "BTC/USDT", "1m")
    parquet = folder / "btc_1m.parquet"
    repeats = 5 if ctx.quick else 15
    with SqliteStore(folder / "ohlcv.sqlite") as store:
        t0 = time.perf_counter()
        store.ohlcv_store(key, CandleBatch.from_columns(*candles(ROWS)))
        write_s = time.perf_counter() - t0
        frame = store.ohlcv_load(key)
        frame.to_parquet(parquet)

        def store_load() -> pd.DataFrame:
            return store.ohlcv_load(key)

        def parquet_load() -> pd.DataFrame:
            frame: pd.DataFrame = pq.read_table(parquet).to_pandas()
            return frame

        def store_hourly() -> pd.DataFrame:
            return store.ohlcv_load(key, timeframe="1h")

        def parquet_hourly() -> pd.DataFrame:
            frame: pd.DataFrame = pq.read_table(parquet).to_pandas()
            return frame.resample("1h").agg(AGG)

        _check_same(store_load(), parquet_load(), ROWS)
        _check_same(store_hourly(), parquet_hourly(), ROWS // 60)
        timings: dict[str, list[float]] = {}
        for _ in range(repeats):  # interleaved, so drifts in the machine hit both sides
            for name, fn in (
                ("store", store_load),
                ("parquet", parquet_load),
                ("store_1h", store_hourly),
                ("parquet_1h", parquet_hourly),
            ):
                timings.setdefault(name, []).append(_time(fn))
    common = {"rows": ROWS, "repeats": repeats}
    return [
        Result(
            NAME,
            median(timings["store"]),
            "s",
            median(timings["parquet"]),
            TARGET,
            {
                **common,
                "min": min(timings["store"]),
                "baseline_min": min(timings["parquet"]),
                "store_write_s": write_s,
                "baseline_is": "pyarrow.parquet.read_table(file).to_pandas()",
            },
        ),
        Result(
            f"{NAME}:resample_1h",
            median(timings["store_1h"]),
            "s",
            median(timings["parquet_1h"]),
            TARGET,
            {
                **common,
                "min": min(timings["store_1h"]),
                "baseline_min": min(timings["parquet_1h"]),
                "baseline_is": "parquet read + resample('1h').agg(first/max/min/last/sum)",
            },
        ),
    ]


def _check_same(ours: pd.DataFrame, theirs: pd.DataFrame, rows: int) -> None:
    if len(ours) != rows or not np.array_equal(ours.to_numpy(), theirs.to_numpy()):
        raise RuntimeError(f"store and Parquet frames differ ({len(ours)} vs {len(theirs)} rows)")
    if not ours.index.equals(theirs.index):
        raise RuntimeError("store and Parquet frames have different indexes")
