"""The socket guard is active in these tests, and talking to the simulator never leaves loopback."""

import socket

import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.testkit import NonLoopbackConnectionError


async def test_ccxt_against_the_simulator_stays_on_loopback(refused, exchange):
    await exchange.load_markets()
    await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=10)
    await exchange.fetch_trades("BTC/USDT", limit=10)
    await exchange.fetch_time()
    assert refused == []  # nothing else was attempted


async def test_the_guard_refuses_the_real_exchange(refused):
    real = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
    real.timeout_on_exit = 0
    try:
        with pytest.raises(ccxt.NetworkError):
            await real.fetch_time()
    finally:
        await real.close()
    assert any("binance.com" in target for target in refused)
    with socket.socket() as sock, pytest.raises(NonLoopbackConnectionError):
        sock.connect(("10.255.255.1", 80))
    refused.clear()
