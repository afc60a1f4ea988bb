"""Driving a simulator over HTTP (SimControl) and in-process; counters; the clock."""

import ccxt
import pytest

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.sim.clock import SimClock
from ohlcv_workbench.sim.control import SimControl
from ohlcv_workbench.sim.faults import Faults
from ohlcv_workbench.sim.server import SimConfig, ccxt_config
from ohlcv_workbench.sim.thread import SimThread
from tests.helpers import NOW


@pytest.fixture
def threaded():
    with SimThread(SimConfig(seed=7, now=NOW)) as sim:
        yield sim


@pytest.fixture
def sync_exchange(threaded):
    return ccxt.binance(ccxt_config(threaded.url, enableRateLimit=False))


def test_counters_faults_and_reset_over_http(threaded, sync_exchange):
    control = SimControl(threaded.url)
    assert control.ping() and control.info()["seed"] == 7
    sync_exchange.load_markets()
    sync_exchange.fetch_ohlcv("BTC/USDT", "1m", limit=10)
    sync_exchange.fetch_ohlcv("BTC/USDT", "1h", limit=10)
    sync_exchange.fetch_ohlcv("ETH/USDT", "1m", limit=10)
    sync_exchange.fetch_trades("ETH/USDT", limit=7)
    counters = control.counters()
    assert counters["requests"] == {"ping": 1, "exchangeInfo": 1, "klines": 3, "aggTrades": 1}
    assert counters["klines"] == {"BTC/USDT": {"1m": 1, "1h": 1}, "ETH/USDT": {"1m": 1}}
    assert counters["klines_pages"] == 3 and counters["rows"] == {"klines": 30, "trades": 7}
    # Binance's weights: ping 1, exchangeInfo 20, klines 2, aggTrades 4
    assert counters["weight"] == 1 + 20 + 3 * 2 + 4 and counters["statuses"] == {"200": 6}

    control.set_faults(Faults(server_error=1.0, server_error_body="html", symbols=("ETH/USDT",)))
    assert control.faults().symbols == ("ETH/USDT",)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        sync_exchange.fetch_ohlcv("ETH/USDT", "1m", limit=10)
    sync_exchange.fetch_ohlcv("BTC/USDT", "1m", limit=10)
    assert control.counters()["faults"] == {"server_error": 1}
    control.clear_faults()
    sync_exchange.fetch_ohlcv("ETH/USDT", "1m", limit=10)

    control.set_faults(rate_limited=1.0)
    control.reset()
    assert control.faults() == Faults()
    assert control.counters()["requests"] == {} and control.counters()["klines_pages"] == 0
    control.set_weight_limit(2)
    sync_exchange.fetch_ohlcv("ETH/USDT", "1m", limit=10)  # weight 2 of 2
    with pytest.raises(ccxt.DDoSProtection):
        sync_exchange.fetch_ohlcv("ETH/USDT", "1m", limit=10)
    control.set_weight_limit(None)
    control.reset_counters()
    assert control.counters()["rate_limited"] == 0


def test_clock_over_http(threaded, sync_exchange):
    control = SimControl(threaded.url)
    assert control.now() == NOW and control.clock()["mode"] == "fixed"
    first = sync_exchange.fetch_ohlcv("BTC/USDT", "1m", limit=2)
    assert control.set_clock(advance=60_000) == NOW + 60_000
    second = sync_exchange.fetch_ohlcv("BTC/USDT", "1m", limit=2)
    assert second[0][0] == first[1][0] and second[0] != first[1]  # closed now, and final
    assert sync_exchange.fetch_time() == NOW + 60_000
    control.set_clock(offset=-86_400_000)
    assert control.clock()["mode"] == "offset"
    control.set_clock(real=True)
    assert control.clock()["mode"] == "real"
    control.set_clock(fixed=NOW)
    control.reset(clock=True)
    assert control.now() == NOW
    with pytest.raises(ValueError, match="exactly one"):
        control.set_clock(fixed=1, advance=2)
    with pytest.raises(ServiceError, match="400"):
        control._call("POST", "/_sim/clock", {"tomorrow": 1})
    with pytest.raises(ServiceError, match="unknown fault"):
        control._call("PUT", "/_sim/faults", {"typo": 1})


def test_unreachable_simulator():
    control = SimControl("http://127.0.0.1:9", timeout=0.5)
    assert control.ping() is False
    with pytest.raises(ServiceError, match="cannot be reached"):
        control.info()
    with pytest.raises(ServiceError, match="did not answer"):
        control.wait_ready(timeout=0.2)


def test_in_process_controls(threaded):
    server = threaded.server
    assert server.set_faults(drop=0.5).drop == 0.5
    assert server.set_faults(Faults(gaps=0.1), latency=0.2) == Faults(gaps=0.1, latency=0.2)
    assert server.set_faults(None) == Faults()
    with pytest.raises(ValueError, match="fraction"):
        Faults(server_error=2)
    with pytest.raises(ValueError, match="exceeds 1"):
        Faults(server_error=0.6, drop=0.6)


def test_clock_modes():
    clock = SimClock(fixed=1_000)
    assert clock.now() == 1_000 and clock.advance(500) == 1_500
    clock.set_offset(-60_000)
    assert clock.mode == "offset" and abs(SimClock().now() - 60_000 - clock.now()) < 1_000
    clock.advance(60_000)
    assert clock.as_dict()["mode"] == "real"
