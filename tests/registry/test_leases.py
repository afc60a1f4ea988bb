"""Series leases against the real server: one winner among many, expiry, holder-only changes."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from ohlcv_workbench.errors import InputError, SeriesBusyError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import LeaseHolder, SeriesLease
from ohlcv_workbench.registry.keys import lease_key
from ohlcv_workbench.services import pid_alive

SERIES = SeriesKey("sim", "BTC/USDT", "1m")
KEY = "ohlcv_workbench:lease:sim:BTC/USDT:1m"

# A lease holder in another OS process: waits for "go" on stdin, tries once, prints the
# outcome, holds the lease until stdin closes.
CHILD = """
import asyncio, sys
import redis.asyncio as aioredis
from ohlcv_workbench.errors import SeriesBusyError
from ohlcv_workbench.registry import SeriesLease
from ohlcv_workbench.records import SeriesKey

async def main(url, name, ttl):
    async with aioredis.Redis.from_url(url) as client:
        lease = SeriesLease(client, SeriesKey("sim", "BTC/USDT", "1m"), name, float(ttl))
        await asyncio.to_thread(sys.stdin.readline)
        try:
            await lease.acquire()
            print("won", flush=True)
        except SeriesBusyError:
            print("busy", flush=True)
        await asyncio.to_thread(sys.stdin.read)

asyncio.run(main(*sys.argv[1:]))
"""


def child(url, name, ttl=60):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, name, str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_lease_key():
    assert lease_key(SERIES) == KEY


async def test_acquire_stores_the_holder_as_json(client, raw):
    lease = SeriesLease(client, SERIES, "ohlcv:ohlcv.sim.BTC/USDT:1.5", ttl=30)
    holder = await lease.acquire()
    data = json.loads(raw.get(KEY))
    assert data == {
        "process_id": "ohlcv:ohlcv.sim.BTC/USDT:1.5",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": holder.acquired_at.isoformat(),
    }
    assert abs(datetime.fromisoformat(data["acquired_at"]) - datetime.now(UTC)).total_seconds() < 5
    assert 29_000 < raw.pttl(KEY) <= 30_000
    assert await SeriesLease(client, SERIES, "someone else", ttl=30).holder() == holder
    assert await lease.acquire() == await lease.holder()  # acquiring again is harmless


async def test_many_concurrent_acquirers_one_winner(client, url, raw):
    children = [child(url, f"os-process-{n}") for n in range(3)]
    leases = [SeriesLease(client, SERIES, f"task-{n}", ttl=60) for n in range(20)]

    async def attempt(lease):
        try:
            await lease.acquire()
        except SeriesBusyError:
            return False
        return True

    try:
        for proc in children:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        in_tasks = await asyncio.gather(*(attempt(lease) for lease in leases))
        in_children = [await asyncio.to_thread(proc.stdout.readline) for proc in children]
    finally:
        for proc in children:
            proc.stdin.close()
            proc.wait(timeout=30)
    outcomes = [*in_tasks, *(line.strip() == "won" for line in in_children)]
    assert all(line.strip() in ("won", "busy") for line in in_children), in_children
    assert sum(outcomes) == 1
    holder = json.loads(raw.get(KEY)) if raw.exists(KEY) else None
    winners = [
        lease.own_holder.process_id for lease, won in zip(leases, in_tasks, strict=True) if won
    ]
    if winners:  # a task won and still holds it; a child releases nothing but exits
        assert holder is not None and holder["process_id"] == winners[0]


async def test_busy_error_names_the_holder(client):
    first = SeriesLease(client, SERIES, "ohlcv:first:1.0", ttl=30)
    await first.acquire()
    with pytest.raises(SeriesBusyError) as info:
        await SeriesLease(client, SERIES, "ohlcv:second:2.0", ttl=30).acquire()
    message = str(info.value)
    assert "ohlcv:first:1.0" in message
    assert f"pid {os.getpid()}" in message and socket.gethostname() in message
    assert str(SERIES) in message
    assert info.value.holder == "ohlcv:first:1.0"


async def test_an_abandoned_lease_expires(client):
    abandoned = LeaseHolder("ohlcv:gone:1.0", "another-host", 1, datetime.now(UTC))
    await SeriesLease(client, SERIES, abandoned, ttl=0.3).acquire()
    late = SeriesLease(client, SERIES, "ohlcv:late:2.0", ttl=30)
    with pytest.raises(SeriesBusyError, match="another-host"):
        await late.acquire()
    await asyncio.sleep(0.5)
    assert await late.holder() is None
    assert (await late.acquire()).process_id == "ohlcv:late:2.0"


async def test_only_the_holder_renews_or_releases(client, raw):
    holder = SeriesLease(client, SERIES, "ohlcv:holder:1.0", ttl=5)
    other = SeriesLease(client, SERIES, "ohlcv:other:2.0", ttl=60)
    await holder.acquire()
    value = raw.get(KEY)
    assert await other.renew() is False
    assert await other.release() is False
    assert await other.rebind("ohlcv:other:3.0") is False
    assert raw.get(KEY) == value and raw.pttl(KEY) <= 5000

    raw.pexpire(KEY, 1000)
    assert await holder.renew() is True
    assert 4000 < raw.pttl(KEY) <= 5000
    assert await holder.release() is True
    assert not raw.exists(KEY)
    assert await holder.renew() is False and await holder.release() is False


async def test_rebind_names_the_registered_process(client, raw):
    lease = SeriesLease(client, SERIES, "", ttl=30)
    await lease.acquire()
    assert await lease.rebind("ohlcv:ohlcv.sim.BTC/USDT:9.0")
    assert json.loads(raw.get(KEY))["process_id"] == "ohlcv:ohlcv.sim.BTC/USDT:9.0"
    assert 25_000 < raw.pttl(KEY) <= 30_000
    assert await lease.renew() and await lease.release()


async def test_a_lease_of_a_killed_process_on_this_host_is_taken_over(client, url, raw):
    proc = child(url, "ohlcv:killed:1.0", ttl=60)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "won"
    dead_pid = proc.pid
    assert json.loads(raw.get(KEY))["pid"] == dead_pid
    os.kill(dead_pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: the pid no longer exists
    assert not pid_alive(dead_pid)

    holder = await SeriesLease(client, SERIES, "ohlcv:rerun:2.0", ttl=60).acquire()
    assert holder.process_id == "ohlcv:rerun:2.0"
    assert json.loads(raw.get(KEY))["pid"] == os.getpid()


async def test_a_dead_pid_on_another_host_is_not_taken_over(client):
    elsewhere = LeaseHolder("ohlcv:remote:1.0", "another-host", 999_999_999, datetime.now(UTC))
    await SeriesLease(client, SERIES, elsewhere, ttl=30).acquire()
    with pytest.raises(SeriesBusyError, match="pid 999999999 on another-host"):
        await SeriesLease(client, SERIES, "ohlcv:local:2.0", ttl=30).acquire()


async def test_bad_arguments(client, raw):
    with pytest.raises(InputError, match="ttl"):
        SeriesLease(client, SERIES, "x", ttl=0)
    with pytest.raises(InputError, match="ttl"):
        SeriesLease(client, SERIES, "x", ttl=float("nan"))
    with pytest.raises(TypeError, match="SeriesKey"):
        SeriesLease(client, ("sim", "BTC/USDT", "1m"), "x", ttl=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="holder"):
        SeriesLease(client, SERIES, 42, ttl=1)  # type: ignore[arg-type]
    assert raw.dbsize() == 0
