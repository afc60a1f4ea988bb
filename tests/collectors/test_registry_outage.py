"""Redis killed while collectors run: the work goes on, and their final state reaches the
registry once Redis is back (same process); a host that exits first leaves its records to
the stale cleanup."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import ProcessCache, list_processes
from ohlcv_workbench.services import EmbeddedRedis, pid_alive
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import SqliteStore
from tests.helpers import INSTANT, cli, sim_candles, spawn, wait_for

SINCE, UNTIL = "2026-10-01", "2026-10-03"  # 2,880 candles of 1m: three pages


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to kill and restart."""
    server = EmbeddedRedis(Settings(data_dir=tmp_path / "redis"))
    server.ensure()
    yield server
    server.stop()


def records(url: str) -> dict[str, dict[str, Any]]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return {
            str(data["process_id"]): data
            for key in client.keys("process:data:*")
            if (data := json.loads(str(client.get(key))))
        }


def kill(server: EmbeddedRedis) -> None:
    """SIGKILL the server once what it holds is on disk."""
    state = server.read_state()
    assert state is not None
    with redis.Redis.from_url(server.url(state)) as client:
        client.execute_command("WAITAOF", 1, 0, 2000)
    os.kill(state.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(state.pid), 10, "Redis to die")


def assert_equals_the_simulator(store_path: Path, sim_url: str, symbol: str) -> None:
    with SqliteStore(store_path) as store:
        got = store.ohlcv_load(SeriesKey("sim", symbol, "1m"))
    assert len(got) == 2880
    expected = sim_candles(sim_url, symbol, "1m", SINCE, UNTIL)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_an_end_during_an_outage_is_recorded_once_redis_is_back(settings, sim, own_redis):
    url = own_redis.url()
    mine = dataclasses.replace(settings, redis_url=url)
    sim.set_faults(latency=0.4, symbols=["ETH/USDT"])  # three pages one by one: over a second
    with Workbench(mine, rate_limit=False, retry=INSTANT, concurrency=1) as wb:
        handle = wb.start_collector("sim", "ETH/USDT", "1m", since=SINCE, until=UNTIL)
        process_id = handle.process_id
        assert process_id is not None
        kill(own_redis)
        state = handle.wait(30)  # the collection is not held up by the registry
        assert state.phase is Phase.STOPPED and state.message == "Collected 2,880 candles"
        assert records_or_none(url) is None  # Redis is still down
        own_redis.ensure()  # back, with what it had persisted
        wait_for(lambda: records(url)[process_id]["status"] == "stopped", 30, "the end")
        final = records(url)[process_id]
        assert final["message"] == "Collected 2,880 candles"
        assert final["params"]["progress"]["done"] == 2880
        assert records(url)[wb.process_id]["status"] == "running"  # the host goes on
    assert records(url)[wb.process_id]["status"] == "stopped"
    assert_equals_the_simulator(settings.data_dir / "ohlcv.sqlite", sim.url, "ETH/USDT")


def records_or_none(url: str) -> dict[str, dict[str, Any]] | None:
    try:
        return records(url)
    except redis.ConnectionError:
        return None


def test_a_host_that_exits_during_the_outage_leaves_its_records_to_the_stale_cleanup(
    env, settings, sim, own_redis
):
    url = own_redis.url()
    sim.set_faults(latency=0.4, symbols=["SOL/USDT"])
    args = ("collect", "sim", "SOL/USDT", "--since", SINCE, "--until", UNTIL, "--concurrency",
            "1", "-q")  # fmt: skip
    daemon = spawn({**env, "OHLCV_WORKBENCH_REDIS_URL": url}, *args)
    wait_for(lambda: len(records(url)) == 2, 30, "the daemon and its collector")
    kill(own_redis)
    _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines and "stale cleanup" in lines[-1], err
    own_redis.ensure()
    ours = records(url)
    assert {r["status"] for r in ours.values()} == {"running"}  # their last written state

    async def listing_then_cleanup() -> tuple[list[Any], int, list[Any]]:
        async with ProcessCache(url, settings=settings) as cache:
            before = await list_processes(cache, stale_after=0.5)
            await asyncio.sleep(0.7)
            cleaned = await cache.cleanup_stale_processes(stale_minutes=0.01)
            return before, cleaned, await list_processes(cache)

    stale_listing, cleaned, after = asyncio.run(listing_then_cleanup())
    assert {(i.active, i.stale) for i in stale_listing} == {(True, True)}  # not "running"
    assert cleaned == 2
    assert {(i.status, i.active) for i in after} == {("stopped", False)}
    assert_equals_the_simulator(settings.data_dir / "ohlcv.sqlite", sim.url, "SOL/USDT")
    assert cli(env, "status").returncode == 0
