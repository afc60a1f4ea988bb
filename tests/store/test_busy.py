"""A write lock held by another connection: a temporary error, reads and opening go on."""

import sqlite3

import pytest

from ohlcv_workbench.errors import StoreError, TemporaryStoreError
from ohlcv_workbench.store import SqliteStore

from .conftest import KEY, candles

T0 = 1_780_000_000_000 // 60_000 * 60_000


def test_a_held_write_lock_is_a_temporary_error_and_nothing_else_waits(tmp_path):
    path = tmp_path / "ohlcv.sqlite"
    with SqliteStore(path) as store:
        store.ohlcv_store(KEY, candles(T0, 10))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process' writer, say
    try:
        with SqliteStore(path, busy_timeout=0.2) as store:  # opening writes nothing
            with pytest.raises(TemporaryStoreError, match="holds the write lock") as info:
                store.ohlcv_store(KEY, candles(T0 + 600_000, 5))
            assert isinstance(info.value, StoreError) and "\n" not in str(info.value)
            assert store.ohlcv_count(KEY) == 10  # readers never wait
    finally:
        other.execute("ROLLBACK")
        other.close()
    with SqliteStore(path) as store:
        assert store.ohlcv_store(KEY, candles(T0 + 600_000, 5)).inserted == 5
        assert store.ohlcv_count(KEY) == 15
