"""Backfills into PostgreSQL: exact, through lost connections and a server restart, and into
ERROR with the reason (what was stored a prefix without holes) when the server stays away."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.services import EmbeddedPostgres
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import PostgresStore
from ohlcv_workbench.store.pg_connect import StoreRetry
from tests.helpers import INSTANT, sim_candles

SINCE, UNTIL = "2026-09-01", "2026-09-11"  # ten days of 1m: 14,400 candles, 15 pages


def bench(settings: Settings, url: str) -> Workbench:
    pg = dataclasses.replace(settings, store_url=url)
    return Workbench(pg, rate_limit=False, retry=INSTANT, concurrency=1, request_timeout=2.0)


def terminate(admin: psycopg.Connection, database: str) -> int:
    return len(
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    )


def test_backfill_through_terminated_connections_is_exact(
    settings, sim, postgres_database, postgres_url
):
    sim.set_faults(latency=0.15, symbols=["SOL/USDT"])  # 15 pages one by one: over 2 s
    key = SeriesKey("sim", "SOL/USDT", "1m")
    database = postgres_database.rsplit("/", 1)[1]
    with bench(settings, postgres_database) as wb, psycopg.connect(postgres_url) as admin:
        admin.autocommit = True
        assert isinstance(wb.store, PostgresStore)
        handle = wb.start_collector("sim", "SOL/USDT", "1m", since=SINCE, until=UNTIL)
        kills, seen = 0, 0
        while handle.status not in (Phase.STOPPED, Phase.ERROR):
            stored = wb.store.ohlcv_count(key)
            if stored >= seen + 1000:  # after each page, once
                seen = stored
                kills += terminate(admin, database) > 0
            time.sleep(0.01)
        state = handle.wait(60)
        assert state.phase is Phase.STOPPED, state.message
        assert kills >= 3  # each time, the workbench's connections were dropped
        sim.clear_faults()
        pd.testing.assert_frame_equal(
            wb.candles("sim", "SOL/USDT", "1m"),
            sim_candles(str(wb.settings.sim_url), "SOL/USDT", "1m", SINCE, UNTIL),
            check_freq=False,
        )


def test_a_store_gone_for_good_ends_in_error_with_a_prefix_stored(
    settings, sim, postgres_database, postgres_url, raw_redis
):
    sim.set_faults(latency=0.05, symbols=["SUI/USDT"])
    key = SeriesKey("sim", "SUI/USDT", "1m")
    database = postgres_database.rsplit("/", 1)[1]
    with bench(settings, postgres_database) as wb, psycopg.connect(postgres_url) as admin:
        admin.autocommit = True
        assert isinstance(wb.store, PostgresStore)
        wb.store.retry = StoreRetry(attempts=3, timeout=3.0)
        wb.setup.context.store_wait = 3.0  # the collector's own waiting for a store that is away
        handle = wb.start_collector("sim", "SUI/USDT", "1m", since=SINCE, until=UNTIL)
        while wb.store.ohlcv_count(key) < 3000:
            time.sleep(0.01)
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        try:
            terminate(admin, database)
            state = handle.wait(60)
        finally:
            admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        assert state.phase is Phase.ERROR
        assert "TemporaryStoreError: store candles of sim SUI/USDT 1m failed" in state.message
        assert "not currently accepting connections" in state.message
        rec = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))
        assert rec["status"] == "error" and "not currently accepting" in rec["message"]
        stored = wb.store.ohlcv_load(key)
        assert 3000 <= len(stored) < 14_400
        last = stored.index[-1]
        assert wb.store.ohlcv_gaps(key, SINCE, last) == []  # a prefix, every page whole
        assert len(stored) % 1000 == 0


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, so restarting it disturbs no other test."""
    path = Path(tempfile.mkdtemp(prefix="ohlcv-wb-pg-"))
    service = EmbeddedPostgres(Settings(data_dir=path))
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(path, ignore_errors=True)


def test_backfill_through_a_server_restart_is_exact(settings, sim, own_server):
    url = own_server.ensure_database("ohlcv")
    state = own_server.ensure()
    sim.set_faults(latency=0.05, symbols=["BNB/USDT"])
    key = SeriesKey("sim", "BNB/USDT", "1m")
    with bench(settings, url) as wb:
        handle = wb.start_collector("sim", "BNB/USDT", "1m", since=SINCE, until=UNTIL)
        while wb.store.ohlcv_count(key) < 3000:
            time.sleep(0.01)
        own_server.cluster.stop()  # a fast shutdown: every connection is dropped
        restarted = threading.Timer(1.0, own_server.cluster.start, ("127.0.0.1", state.port))
        restarted.start()
        result = handle.wait(90)
        restarted.join()
        assert result.phase is Phase.STOPPED, result.message
        sim.clear_faults()
        pd.testing.assert_frame_equal(
            wb.candles("sim", "BNB/USDT", "1m"),
            sim_candles(str(wb.settings.sim_url), "BNB/USDT", "1m", SINCE, UNTIL),
            check_freq=False,
        )
