"""Live collection of 1s candles: latency after the close, lifecycle, heartbeats, stopping."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import redis

from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.timeframes import timeframe
from tests.helpers import INTERVAL, Dialect, near_minute_close, sim_candles


class Monitor:
    """Records every status written for one component, from Redis' MONITOR stream."""

    def __init__(self, url: str, component: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.component = component
        self.statuses: list[str] = []
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for event in monitor.listen():
                if self._stop:
                    return
                command = event.get("command", "").replace("\\", "")
                if self.component not in command:  # its process id holds the component
                    continue
                for status in ("starting", "running", "stopped", "error"):
                    written = f'"status": "{status}"' in command
                    if written and (not self.statuses or self.statuses[-1] != status):
                        self.statuses.append(status)

    def wait_for(self, status: str, timeout: float = 10.0) -> None:
        """Until ``status`` was seen (MONITOR delivers events a little after the command)."""
        deadline = time.monotonic() + timeout
        while status not in self.statuses and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self.client.ping()  # one more event wakes the listener
        self._thread.join(5)
        self.client.close()


def test_live_1s_candles_are_stored_right_after_they_close(wb, raw_redis, redis_url):
    key = SeriesKey("sim", "ETH/USDT", "1s")
    monitor = Monitor(redis_url, "ohlcv.sim.ETH/USDT")
    handle = wb.start_collector("sim", "ETH/USDT", "1s")
    seen: dict[int, float] = {}  # candle open time -> when we first saw it stored
    deadline = time.time() + 20
    while handle.status is not Phase.LIVE and time.time() < deadline:
        time.sleep(0.01)
    end = time.time() + 4
    while time.time() < end:
        last = wb.store.ohlcv_last(key)
        if last is not None and last not in seen:
            seen[last] = time.time()
        time.sleep(0.01)
    lags = sorted(seen[ts] - (ts + 1000) / 1000 for ts in list(seen)[1:])
    assert len(lags) >= 3, seen
    assert lags[len(lags) // 2] <= 1.0, lags  # median: well within a second of the close
    assert lags[-1] <= 2.5, lags

    # heartbeats go on while this (the notebook's main) thread is blocked
    hb_before = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))["heartbeat"]
    time.sleep(3 * INTERVAL)
    rec = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))
    assert rec["heartbeat"] > hb_before and rec["status"] == "running"
    assert rec["params"]["phase"] == "live" and rec["message"].startswith("Live:")

    state = handle.stop()
    # stopped by its stop event, not cancelled after the grace period
    assert state.phase is Phase.STOPPED and state.message.startswith("Stopped: Collected")
    frame = wb.candles("sim", "ETH/USDT", "1s")
    assert (
        frame.index.is_unique
        and (frame.index.to_series().diff().dropna().dt.total_seconds() == 1).all()
    )
    monitor.wait_for("stopped")
    monitor.close()
    assert monitor.statuses == ["starting", "running", "stopped"], monitor.statuses


def test_no_candle_is_lost_between_backfill_and_live(wb, monkeypatch):
    """A large clock error (slow time requests) must not leave a hole where live begins."""
    from ohlcv_workbench.exchange.clock import ExchangeClock

    sample = ExchangeClock._sample

    async def uncertain(self, fetch):  # as after a time request with a 0.8 s round trip
        server = await sample(self, fetch)
        self.uncertainty = 400
        return server

    monkeypatch.setattr(ExchangeClock, "_sample", uncertain)
    key = SeriesKey("sim", "BTC/USDT", "1s")
    since = (time.time() // 1 - 20) * 1000
    handle = wb.start_collector("sim", "BTC/USDT", "1s", since=int(since))
    deadline = time.time() + 20
    while handle.status is not Phase.LIVE and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(2.5)
    handle.stop()
    assert wb.store.ohlcv_gaps(key, int(since)) == []
    assert handle.stored >= 21


def test_live_stores_each_closed_candle_once(wb, sim, dialect: Dialect):
    """Both dialects: backfill the latest page, then each candle once it has closed (Kraken's
    finest is 1m: the simulator's clock is set so that a minute closes soon)."""
    tf = timeframe(dialect.live)
    assert tf.ms is not None
    if dialect.exchange == "sim_kraken":
        near_minute_close(sim)
    key = SeriesKey(dialect.exchange, "ETH/BTC", dialect.live)
    handle = wb.start_collector(dialect.exchange, "ETH/BTC", dialect.live)
    deadline = time.monotonic() + 20
    while handle.status is not Phase.LIVE and time.monotonic() < deadline:
        time.sleep(0.01)
    first = wb.store.ohlcv_last(key)
    assert first is not None and handle.status is Phase.LIVE
    deadline = time.monotonic() + 10
    while (wb.store.ohlcv_last(key) or 0) < first + 2 * tf.ms and time.monotonic() < deadline:
        if dialect.exchange == "sim_kraken" and (wb.store.ohlcv_last(key) or 0) > first:
            break  # one new minute is enough
        time.sleep(0.02)
    state = handle.stop()
    assert state.phase is Phase.STOPPED
    frame = wb.candles(dialect.exchange, "ETH/BTC", dialect.live)
    assert int(frame.index[-1].value // 10**6) > first  # a candle came in live
    steps = frame.index.to_series().diff().dropna()
    assert frame.index.is_unique and (steps == pd.Timedelta(milliseconds=tf.ms)).all()
    end = frame.index[-1] + pd.Timedelta(milliseconds=tf.ms)
    assert end.value // 10**6 <= sim.now()  # closed ones only
    expected = sim_candles(
        str(wb.settings.sim_url),
        "ETH/BTC",
        dialect.live,
        frame.index[0].value // 10**6,
        end.value // 10**6,
    )
    pd.testing.assert_frame_equal(frame, expected, check_freq=False, check_exact=True)
