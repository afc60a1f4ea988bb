"""Fixtures: an in-process simulator with a fixed clock and a real ccxt binance wired to it."""

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.sim.server import SimConfig, SimServer, ccxt_config
from tests.helpers import NOW


@pytest.fixture
def refused(request: pytest.FixtureRequest) -> list[str]:
    """Targets the test plugin's autouse socket guard refused during this test."""
    targets: list[str] = request.getfixturevalue("_loopback_only")
    return targets


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(seed=7, now=NOW)) as server:
        yield server


@pytest.fixture
async def exchange(sim: SimServer) -> AsyncIterator[ccxt.binance]:
    ex = ccxt.binance(ccxt_config(sim.url, enableRateLimit=False))
    ex.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS sockets; loopback has none
    try:
        yield ex
    finally:
        await ex.close()
