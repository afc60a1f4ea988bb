"""Fixtures of the widget tests: a real Workbench (embedded Redis, simulator, SQLite store).

Heartbeats beat every 0.25 s here (OHLCV_WORKBENCH_HEARTBEAT_INTERVAL), so a process counts
as STALE after 0.75 s without one.
"""

import os
from collections.abc import Iterator

import pytest
import redis

from ohlcv_workbench import Workbench
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.widgets import HeartbeatMonitor, MonitorRow

HEARTBEAT = "0.25"


def fast_env() -> dict[str, str]:
    """The run's environment with a quick heartbeat (for child processes too)."""
    return {**os.environ, "OHLCV_WORKBENCH_HEARTBEAT_INTERVAL": HEARTBEAT}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(fast_env())


@pytest.fixture
def wb(settings: Settings) -> Iterator[Workbench]:
    with Workbench(settings) as workbench:
        yield workbench


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the run's Redis, to read what is registered."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


def registry_keys(raw: redis.Redis) -> set[str]:
    """Every key in the run's Redis: process records and indexes, leases, stop requests."""
    return {str(k) for k in raw.scan_iter("*")}


def row_of(monitor: HeartbeatMonitor, process_id: str) -> MonitorRow:
    """The monitor's row of ``process_id`` (it must be listed)."""
    row = monitor.row(process_id)
    assert row is not None, f"{process_id} is not listed"
    return row


def is_on(watcher: object, name: str) -> bool:
    """``watcher.<name>`` read afresh (a property that changes under the test's feet)."""
    return bool(getattr(watcher, name))


def dom_classes(widget: object) -> set[str]:
    """Every CSS class in a widget tree."""
    found = set(getattr(widget, "_dom_classes", ()))
    for child in getattr(widget, "children", ()):
        found |= dom_classes(child)
    return found
