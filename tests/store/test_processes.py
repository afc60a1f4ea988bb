"""Three writer processes and a reader process on one store, all at once (each backend).

The writers upsert overlapping, interleaved batches of three series (two 1m, one 1h) in small
transactions, in shuffled order; the reader loads every series as DataFrames meanwhile. No
process may fail, every row must be inserted exactly once (overlaps are unchanged rows), the
reader must only ever see valid, correct rows, and the final content must equal the union.
"""

import itertools
import multiprocessing
import time
import traceback
from typing import Any

import numpy as np

from ohlcv_workbench.records import CandleBatch, SeriesKey
from ohlcv_workbench.store import UpsertResult, open_store
from ohlcv_workbench.times import to_ms

from .conftest import candles

T0 = to_ms("2026-06-01T00:00")
SERIES = (
    (SeriesKey("binance", "BTC/USDT", "1m"), 2400),
    (SeriesKey("binance", "ETH/USDT", "1m"), 1800),
    (SeriesKey("kraken", "BTC/USD", "1h"), 500),
)
#: which rows of which series each writer writes: overlapping, and together all of them
SHARES = (
    ((0, 0, 2400), (2, 0, 300)),
    ((0, 600, 2400), (1, 0, 1800)),
    ((0, 0, 1800), (1, 900, 1800), (2, 200, 500)),
)
TIMEOUT = 60


def full(series: int) -> CandleBatch:
    key, n = SERIES[series]
    return candles(T0, n, key.timeframe, seed=series + 1)


def writer(
    url: str, number: int, barrier: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    try:
        rng = np.random.default_rng(100 + number)
        work: list[tuple[int, CandleBatch]] = []
        for series, lo, hi in SHARES[number]:
            batch = full(series)
            cuts = np.cumsum(rng.integers(1, 20, hi - lo))
            bounds = [lo, *(lo + c for c in cuts.tolist() if lo + c < hi), hi]
            work += [(series, batch.select(slice(a, b))) for a, b in itertools.pairwise(bounds)]
        order = rng.permutation(len(work))  # interleave the series and the ranges
        totals = [UpsertResult() for _ in SERIES]
        with open_store(url) as store:
            barrier.wait(TIMEOUT)
            started = time.time()
            for i in order.tolist():
                series, part = work[i]
                totals[series] += store.ohlcv_store(SERIES[series][0], part)
            ended = time.time()
        counts = [(t.inserted, t.updated, t.unchanged) for t in totals]
        results.put(("writer", number, counts, len(work), started, ended, None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("writer", number, None, 0, 0.0, 0.0, traceback.format_exc()))


def reader(
    url: str, barrier: Any, stop: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    try:
        import pandas as pd  # imported before the start, not while the writers run

        expected = [full(i).to_frame() for i in range(len(SERIES))]
        load_times: list[float] = []
        seen = [0] * len(SERIES)
        with open_store(url) as store:
            barrier.wait(TIMEOUT)
            done = False
            while not done:
                done = stop.is_set()  # one more round after the writers have finished
                for i, (key, _) in enumerate(SERIES):
                    frame = store.ohlcv_load(key)
                    assert frame.index.is_monotonic_increasing and frame.index.is_unique
                    assert len(frame) >= seen[i], f"{key}: {len(frame)} rows after {seen[i]}"
                    seen[i] = len(frame)
                    pd.testing.assert_frame_equal(frame, expected[i].loc[frame.index])
                    assert store.ohlcv_count(key) >= len(frame)
                load_times.append(time.time())
        results.put(("reader", load_times, seen, None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("reader", [], [], traceback.format_exc()))


def test_three_writer_processes_and_a_reader_at_once(store_url: str):
    url = store_url
    open_store(url).close()  # the schema exists before the race starts
    ctx = multiprocessing.get_context("spawn")
    barrier, stop, results = ctx.Barrier(4), ctx.Event(), ctx.Queue()
    writers = [
        ctx.Process(target=writer, args=(url, n, barrier, results), name=f"writer-{n}")
        for n in range(3)
    ]
    read = ctx.Process(target=reader, args=(url, barrier, stop, results), name="reader")
    for process in [*writers, read]:
        process.start()
    try:
        outcomes = [results.get(timeout=TIMEOUT) for _ in writers]
        stop.set()
        outcomes.append(results.get(timeout=TIMEOUT))
    finally:
        stop.set()
        for process in [*writers, read]:
            process.join(TIMEOUT)
            if process.is_alive():  # pragma: no cover - only on a hang
                process.kill()
    errors = [o[-1] for o in outcomes if o[-1] is not None]
    assert errors == []
    assert all(p.exitcode == 0 for p in [*writers, read])

    written = [o for o in outcomes if o[0] == "writer"]
    [(_, load_times, seen, _)] = [o for o in outcomes if o[0] == "reader"]
    # they really ran at once: the writers overlapped, and the reader loaded meanwhile
    first_end = min(o[5] for o in written)
    last_start = max(o[4] for o in written)
    assert last_start < first_end
    assert any(min(o[4] for o in written) <= t <= max(o[5] for o in written) for t in load_times)
    assert sum(o[3] for o in written) > 300  # many small transactions

    with open_store(url) as store:
        for i, (key, n) in enumerate(SERIES):
            inserted = sum(o[2][i][0] for o in written)
            updated = sum(o[2][i][1] for o in written)
            unchanged = sum(o[2][i][2] for o in written)
            shared = sum(hi - lo for w in SHARES for s, lo, hi in w if s == i)
            assert (inserted, updated, unchanged) == (n, 0, shared - n), key
            assert store.ohlcv_load(key).equals(full(i).to_frame()), key
            assert store.ohlcv_gaps(key) == []
        assert [(info.key, info.count) for info in store.ohlcv_inventory()] == [
            (SERIES[0][0], 2400),
            (SERIES[1][0], 1800),
            (SERIES[2][0], 500),
        ]
    assert seen == [n for _, n in SERIES]  # the reader's last round saw everything
