"""Fixtures: an in-process simulator with a fixed clock, and the boundary's client on it."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from ohlcv_workbench.exchange import ExchangeClient, RetryPolicy, exchange_hub, open_exchange
from ohlcv_workbench.sim.server import SimConfig, SimServer

#: a fixed "now" in the middle of a minute, hour and day: 2025-06-18 13:37:42.500 UTC (Wednesday)
NOW = int(datetime(2025, 6, 18, 13, 37, 42, 500000, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
INSTANT = RetryPolicy(instant=True)


def ms(text: str) -> int:
    """ISO text (UTC) as epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(seed=7, now=NOW, weight_limit=None)) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[ExchangeClient]:
    """The shared "sim" client (limiter off, instant retries); closed and checked after."""
    async with open_exchange("sim", url=sim.url, rate_limit=False, retry=INSTANT) as ex:
        yield ex
    assert ex.closed and ex.api.session is None
    assert exchange_hub().clients == []
