"""Fixtures of the registry tests: a flushed database of the run's Redis, clients on it, and
readers of the raw keys (the wire format is checked as fullon_cache writes it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import redis.asyncio as aioredis

from ohlcv_workbench.registry import ProcessCache

#: the registry tests' own database on the run's server; flushed before every test
DB = 5


def db_url(url: str, db: int = DB) -> str:
    """``url`` pointed at database ``db``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture
def url(redis_url: str) -> str:
    """The URL of the flushed test database."""
    with redis.Redis.from_url(db_url(redis_url)) as client:
        client.flushdb()
    return db_url(redis_url)


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    """A plain (sync) client on the test database, to read and plant raw keys."""
    with redis.Redis.from_url(url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def client(url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on the test database."""
    async with aioredis.Redis.from_url(url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def cache(url: str) -> AsyncIterator[ProcessCache]:
    """A ProcessCache on the test database."""
    async with ProcessCache(url) as cache:
        yield cache


def record_or_none(raw: redis.Redis, process_id: str) -> dict[str, Any] | None:
    """The stored record of ``process_id``, or None."""
    text = raw.get(f"process:data:{process_id}")
    return None if text is None else dict(json.loads(str(text)))


def record(raw: redis.Redis, process_id: str) -> dict[str, Any]:
    """The stored record of ``process_id`` (it must exist)."""
    found = record_or_none(raw, process_id)
    assert found is not None, f"no record for {process_id}"
    return found


async def until(predicate: Callable[[], object], within: float, step: float = 0.01) -> None:
    """Wait until ``predicate()`` is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(step)


async def sent_commands(
    url: str, client: aioredis.Redis, action: Callable[[], Awaitable[None]]
) -> list[str]:
    """Commands the server received from ``client``'s connection while ``action`` ran (MONITOR).

    Commands run inside a Lua script are reported by MONITOR as coming from "lua": left out.
    """
    conn_id = await client.client_id()
    async with aioredis.Redis.from_url(url, decode_responses=True) as probe:
        (info,) = await probe.client_list(client_id=[conn_id])
        port = info["addr"].rsplit(":", 1)[1]
        async with probe.monitor() as monitor:
            await action()
            await probe.echo("end of the measurement")  # from another connection
            seen: list[str] = []
            while True:
                command = await asyncio.wait_for(monitor.next_command(), 5)
                if command["command"] == "ECHO end of the measurement":
                    return seen
                if command["client_type"] != "lua" and command["client_port"] == port:
                    seen.append(command["command"].split()[0].upper())
