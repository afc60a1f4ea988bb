"""Upserts: idempotent, exact, logged when a stored candle changes, all or nothing."""

import logging
import threading

import numpy as np
import pytest

from ohlcv_workbench.errors import ConfigError, InputError, InvalidDataError, StoreError
from ohlcv_workbench.records import CandleBatch, SeriesKey
from ohlcv_workbench.store import SqliteStore, UpsertResult, open_store
from ohlcv_workbench.store.chunks import CHUNK_SLOTS
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles

T0 = to_ms("2026-01-01T00:00")


def test_upsert_is_idempotent(store):
    batch = candles(T0, 3 * CHUNK_SLOTS + 17)
    assert store.ohlcv_store(KEY, batch) == UpsertResult(inserted=len(batch))
    assert store.ohlcv_store(KEY, batch) == UpsertResult(unchanged=len(batch))
    assert store.ohlcv_store(KEY, batch.select(slice(5, 300))) == UpsertResult(unchanged=295)
    assert store.ohlcv_count(KEY) == len(batch)
    assert store.ohlcv_load(KEY).equals(batch.to_frame())


def test_values_round_trip_bit_exactly(store):
    odd = [0.1 + 0.2, 5e-324, 1e-300, 1.7976931348623157e308, 2.0**-1074 * 3, 123456.78901234567]
    n = len(odd)
    ts = [T0 + i * 60_000 for i in range(n)]
    values = np.array(odd)
    batch = CandleBatch.from_columns(ts, values, values, values, values, values)
    store.ohlcv_store(KEY, batch)
    back = store.ohlcv_load_batch(KEY)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert getattr(back, name).tobytes() == getattr(batch, name).tobytes(), name


def test_out_of_order_batches_merge_into_one_series(store):
    full = candles(T0, 2 * CHUNK_SLOTS + 50)
    evens = full.select(np.arange(len(full)) % 2 == 0)
    odds = full.select(np.arange(len(full)) % 2 == 1)
    store.ohlcv_store(KEY, odds.select(slice(len(odds) // 2, None)))  # the later half first
    store.ohlcv_store(KEY, evens)
    result = store.ohlcv_store(KEY, odds)
    assert result.inserted == len(odds) - len(odds.select(slice(len(odds) // 2, None)))
    assert store.ohlcv_load(KEY).equals(full.to_frame())


def test_changed_candle_is_an_update_and_is_logged(store, caplog):
    batch = candles(T0, 10)
    store.ohlcv_store(KEY, batch)
    changed_close = batch.close.copy()
    changed_close[3] = batch.close[3] + 0.0
    high = batch.high.copy()
    high[3] = batch.high[3] + 1.5
    edited = CandleBatch.from_columns(
        batch.ts, batch.open, high, batch.low, changed_close, batch.volume
    )
    with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.store"):
        result = store.ohlcv_store(KEY, edited)
    assert result == UpsertResult(inserted=0, updated=1, unchanged=9)
    [record] = [r for r in caplog.records if r.name == "ohlcv_workbench.store"]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "binance BTC/USDT 1m" in text and "2026-01-01T00:03:00Z" in text
    assert f"high {float(batch.high[3])!r} -> {float(high[3])!r}" in text
    assert "close" not in text  # only the changed fields are named
    assert store.ohlcv_load(KEY)["high"].iloc[3] == high[3]


def test_many_updates_are_logged_with_a_summary(store, caplog):
    batch = candles(T0, 50)
    store.ohlcv_store(KEY, batch)
    louder = CandleBatch.from_columns(
        batch.ts, batch.open, batch.high, batch.low, batch.close, batch.volume + 1
    )
    with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.store"):
        assert store.ohlcv_store(KEY, louder).updated == 50
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 21 and "50 stored candles changed in all" in messages[-1]


def test_forming_candle_is_rejected_and_nothing_is_written(store):
    batch = candles(T0, 5)
    closed = np.array([True, True, True, True, False])
    forming = CandleBatch.from_columns(
        batch.ts, batch.open, batch.high, batch.low, batch.close, batch.volume, closed
    )
    with pytest.raises(InvalidDataError) as info:
        store.ohlcv_store(KEY, forming)
    assert info.value.reasons == [
        "2026-01-01T00:04:00Z: still forming (closed=False): store batch.closed_only()"
    ]
    assert store.ohlcv_count(KEY) == 0
    assert store.ohlcv_store(KEY, forming.closed_only()).inserted == 4


def test_invalid_rows_reject_the_whole_batch(store):
    batch = candles(T0, 2 * CHUNK_SLOTS)
    store.ohlcv_store(KEY, batch.select(slice(0, 10)))
    high = batch.high.copy()
    high[3] = min(batch.open[3], batch.close[3]) - 0.25
    bad = CandleBatch.from_columns(batch.ts, batch.open, high, batch.low, batch.close, batch.volume)
    with pytest.raises(InvalidDataError) as info:
        store.ohlcv_store(KEY, bad)
    assert len(info.value.reasons) == 1
    assert info.value.reasons[0].startswith("2026-01-01T00:03:00Z: high ")
    assert "nothing was written" in str(info.value)
    assert store.ohlcv_count(KEY) == 10


def test_batch_must_be_a_candle_batch_and_key_valid(store):
    with pytest.raises(InputError, match="CandleBatch"):
        store.ohlcv_store(KEY, [1, 2, 3])
    with pytest.raises(InputError, match="7x"):
        store.ohlcv_store(SeriesKey("binance", "BTC/USDT", "7x"), candles(T0, 1))
    with pytest.raises(InputError, match="exchange"):
        store.ohlcv_store(SeriesKey("", "BTC/USDT", "1m"), candles(T0, 1))
    assert store.ohlcv_store(KEY, CandleBatch.empty()) == UpsertResult()


def test_threads_share_one_store(store):
    errors: list[BaseException] = []
    batch = candles(T0, 1200)

    def write(part: int) -> None:
        try:
            for i in range(part, len(batch), 4):
                store.ohlcv_store(KEY, batch.select(slice(i, i + 1)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    frames = [store.ohlcv_load(KEY) for _ in range(20)]
    for t in threads:
        t.join()
    assert errors == []
    assert all(f.index.is_monotonic_increasing and f.index.is_unique for f in frames)
    assert store.ohlcv_load(KEY).equals(batch.to_frame())


def test_open_store_urls(tmp_path, wb_settings):
    with open_store(f"sqlite:///{tmp_path}/a/b.sqlite") as s:
        assert isinstance(s, SqliteStore) and s.path == tmp_path / "a" / "b.sqlite"
    with open_store(wb_settings) as s:
        assert s.url == wb_settings.resolved_store_url
    for url in (
        "mysql://h/db",
        "sqlite://",
        "sqlite:///:memory:",
        "nonsense",
        "timescaledb://h/db",
    ):
        with pytest.raises(ConfigError, match="sqlite:///path"):
            open_store(url)


def test_closed_store_raises(tmp_path):
    s = SqliteStore(tmp_path / "x.sqlite")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.ohlcv_count(KEY)


def test_store_written_with_another_layout_is_refused(tmp_path):
    path = tmp_path / "x.sqlite"
    SqliteStore(path).close()
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'chunk_slots'")
    with pytest.raises(StoreError, match="chunk_slots 99"):
        SqliteStore(path)
