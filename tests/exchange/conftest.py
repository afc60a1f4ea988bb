"""Fixtures: an in-process simulator with a fixed clock, and the boundary's client on it."""

from collections.abc import AsyncIterator

import pytest

from ohlcv_workbench.exchange import ExchangeClient, exchange_hub, open_exchange
from ohlcv_workbench.sim.server import SimConfig, SimServer
from tests.helpers import INSTANT, NOW


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(seed=7, now=NOW, weight_limit=None, kraken_rate=None)) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[ExchangeClient]:
    """The shared "sim" client (limiter off, instant retries); closed and checked after."""
    async with open_exchange("sim", url=sim.url, rate_limit=False, retry=INSTANT) as ex:
        yield ex
    assert ex.closed and ex.api.session is None
    assert exchange_hub().clients == []
