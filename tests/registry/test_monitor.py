"""The monitoring query and stop requests against the real server."""

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.registry import (
    ProcessInfo,
    ProcessStatus,
    ProcessType,
    list_processes,
    processes_frame,
    request_stop,
)
from ohlcv_workbench.registry.keys import stop_request_key

# A collector in another OS process: registers through the heartbeat helper, prints its
# process id and beats until it is killed.
CHILD = """
import asyncio, sys
from ohlcv_workbench.registry import Heartbeat, ProcessCache, ProcessStatus, ProcessType

async def main(url):
    async with ProcessCache(url) as cache:
        async with Heartbeat(cache, ProcessType.OHLCV, "ohlcv.sim.KILL/USDT", interval=0.1) as hb:
            await hb.set_status(ProcessStatus.RUNNING)
            print(hb.process_id, flush=True)
            await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1]))
"""


def backdate(raw, process_id, seconds, *fields):
    data = json.loads(raw.get(f"process:data:{process_id}"))
    old = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
    data.update(dict.fromkeys(fields, old))
    raw.set(f"process:data:{process_id}", json.dumps(data), keepttl=True)


async def test_every_record_with_age_active_and_stale(cache, raw):
    running = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT", {"done": 5})
    await cache.update_process(running, status=ProcessStatus.RUNNING, message="page 2")
    silent = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    backdate(raw, silent, 30, "heartbeat", "updated_at")  # active, no beat for 30 s
    ended = await cache.register_process(ProcessType.BOT, "bot_1")
    await cache.stop_process(ended, "done")

    infos = await list_processes(cache, stale_after=6.0)
    assert [i.process_id for i in infos] == [running, silent, ended]  # active first, newest first
    by_id = {i.process_id: i for i in infos}

    a = by_id[running]
    assert isinstance(a, ProcessInfo)
    assert (a.process_type, a.component, a.status) == ("ohlcv", "ohlcv.sim.A/USDT", "running")
    # one type per field: the record's text, whatever the value (known members compare equal)
    assert type(a.process_type) is str and type(a.status) is str
    assert a.known_type is ProcessType.OHLCV and a.known_status is ProcessStatus.RUNNING
    assert a.message == "page 2" and a.params == {"done": 5}
    assert a.active and not a.stale and 0 <= a.heartbeat_age < 5
    assert a.heartbeat.tzinfo is not None and a.heartbeat.utcoffset() == timedelta(0)
    assert a.created_at <= a.updated_at

    b = by_id[silent]
    assert b.active and b.stale and 29 < b.heartbeat_age < 40

    c = by_id[ended]
    assert not c.active and not c.stale and c.status == ProcessStatus.STOPPED
    assert type(c.status) is str and c.known_status is ProcessStatus.STOPPED

    # the default threshold is the settings' (3 heartbeat intervals of 2 s)
    assert [i.stale for i in await list_processes(cache)] == [False, True, False]
    assert all(not i.stale for i in await list_processes(cache, stale_after=60))


async def test_leaving_out_processes_that_ended_long_ago(cache, raw):
    recent = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    await cache.stop_process(recent)
    old = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    await cache.stop_process(old)
    backdate(raw, old, 600, "updated_at", "heartbeat")
    alive = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.C/USDT")
    backdate(raw, alive, 600, "updated_at", "heartbeat")  # active: always listed

    assert {i.process_id for i in await list_processes(cache)} == {recent, old, alive}
    kept = await list_processes(cache, ended_within=60)
    assert {i.process_id for i in kept} == {recent, alive}


async def test_records_of_fullon_and_unknown_shapes(cache, raw):
    foreign = {
        "process_id": "crawler:news:1.0",
        "process_type": "crawler",
        "component": "news",
        "params": {},
        "status": "weird",
        "message": "from elsewhere",
        "created_at": "2025-01-01T00:00:00",  # naive: read as UTC
        "updated_at": "2025-01-01T00:00:00",
        "heartbeat": "2025-01-01T00:00:00",
    }
    raw.set("process:data:crawler:news:1.0", json.dumps(foreign))
    raw.set("process:data:broken:1.0", "not json")
    raw.set("process:data:notime:1.0", json.dumps({"process_type": "bot"}))
    (info,) = await list_processes(raw_async := cache.client)
    assert raw_async is cache.client
    assert info.process_id == "crawler:news:1.0" and info.status == "weird"
    assert type(info.status) is str and info.known_status is None
    assert type(info.process_type) is str and info.known_type is ProcessType.CRAWLER
    assert info.heartbeat == datetime(2025, 1, 1, tzinfo=UTC)
    assert not info.active and not info.stale


async def test_processes_frame(cache, raw):
    a = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT", {"done": 1})
    b = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    backdate(raw, b, 30, "heartbeat")
    frame = processes_frame(await list_processes(cache, stale_after=6))
    assert list(frame.columns) == [
        "process_id",
        "process_type",
        "component",
        "status",
        "stale",
        "active",
        "heartbeat_age",
        "message",
        "heartbeat",
        "updated_at",
        "created_at",
        "params",
    ]
    assert len(frame) == 2 and set(frame["process_id"]) == {a, b}
    assert frame["heartbeat_age"].dtype == "float64" and frame["stale"].dtype == bool
    assert frame["active"].all()
    assert dict(zip(frame["process_id"], frame["stale"], strict=True)) == {a: False, b: True}
    assert str(frame["heartbeat"].dt.tz) == "UTC"
    assert frame["status"].tolist() == ["starting", "starting"]
    assert type(frame["status"].iloc[0]) is str and frame["process_type"].iloc[0] == "ohlcv"
    assert frame.loc[frame["process_id"] == a, "params"].iloc[0] == {"done": 1}

    empty = processes_frame([])
    assert list(empty.columns) == list(frame.columns) and len(empty) == 0
    assert empty["heartbeat_age"].dtype == "float64"
    assert isinstance(empty["heartbeat"].dtype, pd.DatetimeTZDtype)


async def test_a_killed_collector_stays_visible_as_stale(cache, url):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        pid = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        (before,) = await list_processes(cache, stale_after=0.5)
        assert before.process_id == pid and before.status == "running" and not before.stale
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    await asyncio.sleep(1.0)  # two stale_after periods without a beat
    (after,) = await list_processes(cache, stale_after=0.5)
    assert after.process_id == pid and after.active and after.stale
    assert after.status == "running" and after.heartbeat_age > 0.5
    await cache.stop_process(pid, "cleaned up")
    (cleaned,) = await list_processes(cache, stale_after=0.5)
    assert not cleaned.active and not cleaned.stale


async def test_request_stop_by_component_or_id(cache, raw):
    pid = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    assert await request_stop(cache, "ohlcv.sim.A/USDT") == pid
    key = stop_request_key(pid)
    assert key == f"ohlcv_workbench:stop:{pid}"
    assert raw.exists(key) and 3000 < raw.ttl(key) <= 3600
    raw.delete(key)
    assert await request_stop(cache.client, pid, ttl=60) == pid
    assert 50 < raw.ttl(key) <= 60


async def test_request_stop_of_an_unknown_target(cache, raw):
    await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    with pytest.raises(InputError) as info:
        await request_stop(cache, "ohlcv.sim.Z/USDT")
    message = str(info.value)
    assert "'ohlcv.sim.Z/USDT'" in message
    assert "ohlcv.sim.A/USDT, ohlcv.sim.B/USDT" in message
    with pytest.raises(InputError, match="target"):
        await request_stop(cache, "")
    assert raw.keys("ohlcv_workbench:stop:*") == []
