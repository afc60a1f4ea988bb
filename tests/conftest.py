"""Fixtures of the live stack, shared by the collector and CLI tests: a simulator on a thread
(real-time clock), a per-test store, the run's Redis, fast heartbeats, and the two dialects
the collector tests run against (``dialect``, see :class:`tests.helpers.Dialect`).

Packages with other needs override them (``sim`` is an in-process simulator with a fixed clock
in ``tests/sim`` and ``tests/exchange``; the widget tests use the embedded services).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ohlcv_workbench import Workbench
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim import SimControl
from ohlcv_workbench.sim.server import SimConfig
from ohlcv_workbench.sim.thread import SimThread
from tests.helpers import DIALECTS, INSTANT, INTERVAL, Dialect


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    thread = SimThread(SimConfig(seed=11, weight_limit=None, kraken_rate=None)).start()
    try:
        yield thread.url
    finally:
        thread.stop()


@pytest.fixture(params=sorted(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """Each collector test that takes it runs on both dialects."""
    return DIALECTS[request.param]


@pytest.fixture
def sim(sim_url: str) -> Iterator[SimControl]:
    """Control of the shared simulator; faults and counters are reset around each test."""
    control = SimControl(sim_url)
    control.reset(clock=True)
    yield control
    control.reset(clock=True)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, sim_url: str) -> Settings:
    """This test's own store, the run's Redis, the thread simulator, fast heartbeats."""
    return dataclasses.replace(
        Settings.from_env(),
        data_dir=tmp_path,
        redis_url=redis_url,
        sim_url=sim_url,
        heartbeat_interval=INTERVAL,
    )


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment of a CLI subprocess using the same settings."""
    prefix = "OHLCV_WORKBENCH_"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(prefix)},
        f"{prefix}DATA_DIR": str(settings.data_dir),
        f"{prefix}REDIS_URL": str(settings.redis_url),
        f"{prefix}SIM_URL": str(settings.sim_url),
        f"{prefix}HEARTBEAT_INTERVAL": str(INTERVAL),
    }


@pytest.fixture
def wb(settings: Settings) -> Iterator[Workbench]:
    bench = Workbench(settings, rate_limit=False, retry=INSTANT, request_timeout=1.0)
    try:
        yield bench
    finally:
        bench.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()
