"""The runtime facade: async variants, listings, outage catch-up, trades, closing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pandas as pd

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.exchange import RetryPolicy, TradeCursor, open_exchange
from ohlcv_workbench.records import SeriesKey
from tests.helpers import INTERVAL, Dialect


async def test_async_variants_from_another_loop(wb):
    handle = await wb.start_collector_async(
        "sim", "BTC/USDT", "1m", since="2026-10-01", until="2026-10-01T06:00"
    )
    state = await asyncio.wait_for(handle.wait_async(), 30)
    assert state.phase is Phase.STOPPED and handle.stored == 360
    assert [h.process_id for h in wb.collectors()] == [handle.process_id]
    assert wb.collectors(running_only=True) == []


def test_processes_lists_the_host_and_its_collectors(wb):
    handle = wb.start_collector("sim", "SOL/USDT", "1s")
    time.sleep(2 * INTERVAL)  # the host reports its collectors with its next beat
    frame = wb.processes()
    mine = frame[frame.process_id.isin([handle.process_id, wb.process_id])]
    assert set(mine.status) == {"running"} and not mine.stale.any()
    assert mine.heartbeat_age.max() < 5
    host = frame[frame.process_id == wb.process_id].iloc[0]
    assert host.component.startswith("workbench.") and host.message == "Hosting 1 collectors"
    handle.stop()


def test_live_catches_up_after_an_outage_without_a_gap(settings, sim):
    key = SeriesKey("sim", "XRP/USDT", "1s")
    retry = RetryPolicy(attempts=40, timeout=30, wait_initial=0.1, wait_max=0.3, wait_jitter=0)
    with Workbench(settings, rate_limit=False, retry=retry, request_timeout=1.0) as wb:
        handle = wb.start_collector("sim", "XRP/USDT", "1s")
        deadline = time.monotonic() + 20
        while handle.status is not Phase.LIVE and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.2)
        sim.set_faults(server_error=1.0, symbols=["XRP/USDT"])
        before = wb.store.ohlcv_last(key)
        time.sleep(2.5)
        assert wb.store.ohlcv_last(key) == before  # nothing came in during the outage
        sim.clear_faults()
        time.sleep(1.5)
        handle.stop()
        assert handle.status is Phase.STOPPED
        last = wb.store.ohlcv_last(key)
        assert before is not None and last is not None
        assert last >= before + 3000  # the outage's candles came in
        assert wb.store.ohlcv_gaps(key) == []
    assert sim.counters()["faults"]


def test_trades_backfill_equals_the_simulator_and_resumes(wb, sim, dialect: Dialect):
    exchange = dialect.exchange
    since, until = "2026-10-01T00:00", "2026-10-01T00:15"
    handle = wb.start_collector(exchange, "ETH/USDT", since=since, until=until, trades=True)
    state = handle.wait(60)
    assert state.phase is Phase.STOPPED, state.message
    assert handle.component == f"trades.{exchange}.ETH/USDT"
    got = wb.trades(exchange, "ETH/USDT")

    async def expected() -> list[Any]:
        trades = []
        start, end = (pd.Timestamp(t, tz="UTC").value // 10**6 for t in (since, until))
        async with open_exchange(exchange, settings=wb.settings, rate_limit=False) as ex:
            cursor: TradeCursor | None = TradeCursor(start)
            while cursor is not None:
                page = await ex.fetch_trade_page("ETH/USDT", cursor, end)
                trades += page.trades
                cursor = page.next
        return trades

    want = {t.trade_id: t for t in wb.run(expected())}
    assert len(got) == len(want) == handle.stored > 0
    assert set(got.trade_id) == set(want)
    assert got.index.is_monotonic_increasing
    again = wb.start_collector(exchange, "ETH/USDT", since=since, until=until, trades=True)
    assert again.wait(30).phase is Phase.STOPPED
    assert again.stored == 0 and len(wb.trades(exchange, "ETH/USDT")) == len(want)
    # the trades hold the candles' volume, on either dialect
    minutes = wb.store.trades_to_ohlcv(exchange, "ETH/USDT", "1m", since, until)
    assert len(minutes) == 15 and minutes.volume.sum() > 0


def test_close_stops_everything_and_is_idempotent(settings, raw_redis):
    wb = Workbench(settings, rate_limit=False)
    handle = wb.start_collector("sim", "BNB/USDT", "1s")
    wb.close()
    wb.close()
    for process_id in (handle.process_id, wb.process_id):
        assert json.loads(raw_redis.get(f"process:data:{process_id}"))["status"] == "stopped"
    assert not wb.runtime.running


def test_interpreter_exit_stops_the_collectors(env, raw_redis):
    import subprocess
    import sys

    script = (
        "from ohlcv_workbench import Workbench\n"
        "wb = Workbench()\n"
        "h = wb.start_collector('sim', 'ETH/BTC', '1s')\n"
        "print(h.process_id, wb.process_id)\n"
    )  # no close(): the kernel-exit path (atexit) must stop everything
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for process_id in done.stdout.split():
        rec = json.loads(raw_redis.get(f"process:data:{process_id}"))
        assert rec["status"] == "stopped", rec
    assert not raw_redis.keys("ohlcv_workbench:lease:sim:ETH/BTC:*")


def test_exchange_client_stays_open_for_markets(wb):
    client = wb.exchange("sim")
    markets = wb.run(client.load_markets())
    assert "BTC/USDT" in markets and "1s" in client.timeframes
    assert wb.exchange("sim") is client and not client.closed
