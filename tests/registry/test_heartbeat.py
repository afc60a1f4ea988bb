"""The heartbeat helper against real servers: beats, errors, cancels, outages, stop requests."""

import asyncio
import json
import logging
import os
import signal
import threading
import time
from datetime import datetime

import pytest
import redis

from ohlcv_workbench.errors import InputError, SeriesBusyError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import (
    Heartbeat,
    ProcessCache,
    ProcessStatus,
    ProcessType,
    request_stop,
)
from ohlcv_workbench.runtime.loop import LoopThread
from ohlcv_workbench.services import EmbeddedRedis, pid_alive
from ohlcv_workbench.settings import Settings

from .conftest import record, record_or_none, sent_commands, until

SERIES = SeriesKey("sim", "BTC/USDT", "1m")
COMPONENT = SERIES.component
LEASE_KEY = "ohlcv_workbench:lease:sim:BTC/USDT:1m"
INTERVAL = 0.1


def heartbeat(cache, **kwargs):
    kwargs.setdefault("interval", INTERVAL)
    return Heartbeat(cache, ProcessType.OHLCV, COMPONENT, {"exchange": "sim"}, **kwargs)


async def test_lifecycle_on_the_wire(cache, raw):
    async with heartbeat(cache, message="Starting") as hb:
        pid = hb.process_id
        first = record(raw, pid)
        assert first["status"] == "starting" and first["message"] == "Starting"
        assert first["params"] == {"exchange": "sim"}
        assert raw.hget("process:components", COMPONENT) == pid

        assert await hb.set_status(ProcessStatus.RUNNING, "Collecting")
        assert record(raw, pid)["status"] == "running"  # written at once

        hb.report("page 1", done=10, total=100)
        hb.report(done=20)
        assert record(raw, pid)["params"] == {"exchange": "sim"}  # only the next beat sends
        await until(lambda: record(raw, pid)["params"].get("done") == 20, 5)
        data = record(raw, pid)
        assert data["message"] == "page 1" and data["params"]["total"] == 100
        beats = hb.beats
        await until(lambda: hb.beats >= beats + 2, 5)
        hb.final_message = "Backfill done"
        hb.report(done=100)
    data = record(raw, pid)
    assert data["status"] == "stopped" and data["message"] == "Backfill done"
    assert data["params"] == {"exchange": "sim", "done": 100, "total": 100}
    assert raw.hgetall("process:active:ohlcv") == {} and raw.hgetall("process:components") == {}
    assert hb.beats >= 2


async def test_default_final_message(cache, raw):
    async with heartbeat(cache) as hb:
        pass
    assert record(raw, hb.process_id)["message"] == "Collector stopped"


def test_beats_go_on_while_the_loop_owner_thread_is_busy(url, raw):
    """The loop runs in a background thread; the main thread sleeps (a blocking cell)."""
    runtime = LoopThread(name="heartbeat-test-loop")
    started = threading.Event()
    release = threading.Event()
    ids = []

    async def work():
        async with ProcessCache(url) as cache, heartbeat(cache) as hb:
            ids.append(hb.process_id)
            started.set()
            await asyncio.to_thread(release.wait)

    try:
        future = runtime.submit(work())
        assert started.wait(10)
        beats = []
        for _ in range(6):
            time.sleep(3 * INTERVAL)  # the main thread is blocked, not the loop
            beats.append(datetime.fromisoformat(record(raw, ids[0])["heartbeat"]))
        release.set()
        future.result(10)
    finally:
        runtime.stop()
    assert beats == sorted(beats) and len(set(beats)) == len(beats)
    assert record(raw, ids[0])["status"] == "stopped"


async def test_failure_records_error_with_the_reason(cache, raw):
    box = {}

    async def failing_work():
        async with heartbeat(cache, lease=SERIES) as hb:
            box["hb"] = hb
            await hb.set_status(ProcessStatus.RUNNING)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await failing_work()
    data = record(raw, box["hb"].process_id)
    assert data["status"] == "error" and data["message"] == "ValueError: boom"
    assert raw.hgetall("process:active:ohlcv") == {} and raw.hgetall("process:components") == {}
    assert not raw.exists(LEASE_KEY)


async def test_cancellation_stops_and_propagates(cache, raw):
    entered = asyncio.Event()
    box = {}

    async def collector():
        async with heartbeat(cache, lease=SERIES) as hb:
            box["hb"] = hb
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(collector(), name="collector under test")
    await entered.wait()
    await asyncio.sleep(2 * INTERVAL)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    data = record(raw, box["hb"].process_id)
    assert data["status"] == "stopped" and data["message"] == "Cancelled"
    assert not raw.exists(LEASE_KEY)
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not any(name.startswith("heartbeat") for name in names)


async def test_a_stop_request_is_seen_within_one_interval(cache):
    interval = 0.3
    async with heartbeat(cache, interval=interval) as hb:
        await asyncio.sleep(interval / 2)
        asked = asyncio.get_running_loop().time()
        assert await request_stop(cache, COMPONENT) == hb.process_id
        await asyncio.wait_for(hb.stop_requested.wait(), timeout=5)
        seen = asyncio.get_running_loop().time()
    assert seen - asked <= interval + 0.1


async def test_the_lease_makes_a_second_collector_fail_before_registering(cache, raw):
    async with heartbeat(cache, lease=SERIES) as first:
        holder = json.loads(raw.get(LEASE_KEY))
        assert holder["process_id"] == first.process_id and holder["pid"] == os.getpid()
        with pytest.raises(SeriesBusyError, match=first.process_id) as info:
            async with heartbeat(cache, lease=SERIES):
                pytest.fail("the second collector must not start")
        assert info.value.holder == first.process_id
        assert raw.hgetall("process:components") == {COMPONENT: first.process_id}
        assert len(raw.keys("process:data:*")) == 1
        ttl = raw.pttl(LEASE_KEY)
        await asyncio.sleep(3 * INTERVAL)
        assert raw.pttl(LEASE_KEY) > ttl - 2 * INTERVAL * 1000  # renewed by the beats
    assert not raw.exists(LEASE_KEY)


async def test_a_lost_lease_is_reported(cache, raw):
    async with heartbeat(cache, lease=SERIES) as hb:
        raw.set(LEASE_KEY, json.dumps({"process_id": "thief", "host": "h", "pid": 1}))
        await asyncio.wait_for(hb.lease_lost.wait(), timeout=5)
        assert not hb.stop_requested.is_set()
    assert json.loads(raw.get(LEASE_KEY))["process_id"] == "thief"  # not ours to release


async def test_each_beat_is_one_round_trip(cache, url):

    async with heartbeat(cache, lease=SERIES) as hb:
        await hb.set_status(ProcessStatus.RUNNING)  # scripts cached from here on
        beats = hb.beats

        async def some_beats():
            await until(lambda: hb.beats >= beats + 3, 5)

        sent = await sent_commands(url, cache.client, some_beats)
    assert sent and set(sent) == {"EVALSHA"}


@pytest.fixture
def own_server(tmp_path):
    server = EmbeddedRedis(Settings(data_dir=tmp_path))
    server.ensure()
    yield server
    server.stop()


async def test_the_record_comes_back_after_redis_is_killed_and_restarted(own_server, caplog):
    interval = 0.2
    state = own_server.ensure()
    url = own_server.url(state)
    raw = redis.Redis.from_url(url, decode_responses=True)
    async with ProcessCache(url) as cache, heartbeat(cache, interval=interval) as hb:
        await hb.set_status(ProcessStatus.RUNNING, "Collecting")
        pid = hb.process_id
        created = record(raw, pid)["created_at"]

        os.kill(state.pid, signal.SIGKILL)
        await until(lambda: not pid_alive(state.pid), 5)
        with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.registry.heartbeat"):
            for n in range(4):  # the work goes on while Redis is down
                hb.report(f"page {n}", done=n)
                await asyncio.sleep(interval)
        assert any("retrying" in r.getMessage() for r in caplog.records)

        restarted = await asyncio.to_thread(own_server.ensure)
        assert restarted.port == state.port and restarted.pid != state.pid
        back = time.monotonic()
        await until(
            lambda: (record_or_none(raw, pid) or {}).get("params", {}).get("done") == 3, 2.5
        )
        assert time.monotonic() - back <= 2 * interval + 0.3

        # a server that lost its data: the record is written back with the same id
        raw.flushdb()
        gone = time.monotonic()
        await until(lambda: record_or_none(raw, pid) is not None, 2.5)
        assert time.monotonic() - gone <= 2 * interval + 0.3
        data = record(raw, pid)
        assert data["process_id"] == pid and data["created_at"] == created
        assert data["status"] == "running" and data["message"] == "page 3"
        assert data["params"] == {"exchange": "sim", "done": 3}
        assert raw.hget("process:components", COMPONENT) == pid
        assert pid in raw.hgetall("process:active:ohlcv")
    assert record(raw, pid)["status"] == "stopped"
    raw.close()


async def test_stop_is_recorded_even_when_the_record_vanished(cache, raw):
    async with heartbeat(cache, interval=30) as hb:
        hb.report("last words", done=1)
        raw.delete(f"process:data:{hb.process_id}")
    data = record(raw, hb.process_id)
    assert data["status"] == "stopped" and data["params"]["done"] == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": 0}, InputError),
        ({"interval": float("inf")}, InputError),
        ({"interval": 1, "lease": ("sim", "BTC/USDT", "1m")}, TypeError),
        ({"interval": 1, "message": 3}, TypeError),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_written(cache, raw, kwargs, error):
    with pytest.raises(error):
        Heartbeat(cache, ProcessType.OHLCV, COMPONENT, **kwargs)
    with pytest.raises(TypeError, match="ProcessType"):
        Heartbeat(cache, "ohlcv", COMPONENT, interval=1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="component"):
        Heartbeat(cache, ProcessType.OHLCV, "", interval=1)
    with pytest.raises(TypeError, match="params"):
        Heartbeat(cache, ProcessType.OHLCV, COMPONENT, ["x"], interval=1)  # type: ignore[arg-type]
    assert raw.dbsize() == 0


async def test_report_refuses_values_that_are_not_json(cache, raw):
    async with heartbeat(cache) as hb:
        with pytest.raises(TypeError, match="when"):
            hb.report(when=object())
        with pytest.raises(InputError, match="rate"):
            hb.report(rate=float("nan"))
        with pytest.raises(TypeError, match="ProcessStatus"):
            await hb.set_status("running")
    assert record(raw, hb.process_id)["status"] == "stopped"
