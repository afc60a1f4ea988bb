"""Where history comes from and what stops it: the candle window of Kraken (older candles from
trades, or the range named as uncovered), and a ban that pauses every collector."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.exchange import RetryPolicy
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim.server import SimConfig
from ohlcv_workbench.sim.thread import SimThread
from tests.helpers import INTERVAL

from .test_backfill import assert_stored_exactly

HOUR = 3_600_000


def fx_hours(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Hourly FX-like rows without the weekend (Friday 22:00 to Sunday 22:00 UTC)."""
    hours = pd.date_range(start, end, freq="1h", inclusive="left")
    dow, hour = hours.day_of_week, hours.hour
    weekend = ((dow == 4) & (hour >= 22)) | (dow == 5) | ((dow == 6) & (hour < 22))
    hours = hours[~weekend]
    rng = np.random.default_rng(3)
    close = 1.1 + np.cumsum(rng.normal(0, 0.0005, hours.size))
    open_ = np.concatenate(([1.1], close[:-1]))
    return pd.DataFrame(
        {
            "timestamp": hours.as_unit("ms").asi8,
            "open": open_,
            "high": np.maximum(open_, close) + 0.0002,
            "low": np.minimum(open_, close) - 0.0002,
            "close": close,
            "volume": rng.integers(100, 900, hours.size).astype(float),
        }
    ).round(5)


@pytest.fixture
def replay_settings(settings: Settings) -> Iterator[Settings]:
    """Settings on a simulator of its own that replays 60 days of hourly EUR/USD."""
    now = pd.Timestamp.now(tz="UTC").floor("1h")
    data = fx_hours(now - pd.Timedelta(days=60), now + pd.Timedelta(days=2))
    config = SimConfig(seed=11, weight_limit=None, kraken_rate=None, replays={"EUR/USD": data})
    with SimThread(config) as sim:
        yield dataclasses.replace(settings, sim_url=sim.url)


def test_where_neither_candles_nor_trades_reach_the_range_is_named(replay_settings, raw_redis):
    """A replayed file has no trades: on Kraken, only its last 720 hours can be had."""
    now = pd.Timestamp.now(tz="UTC").floor("1h")
    since, until = now - pd.Timedelta(days=45), now
    with Workbench(replay_settings, rate_limit=False, retry=RetryPolicy(instant=True)) as wb:
        handle = wb.start_collector("sim_kraken", "EUR/USD", "1h", since=since, until=until)
        state = handle.wait(60)
        assert state.phase is Phase.STOPPED, state.message
        window = now - pd.Timedelta(hours=719)
        gap = f"{since:%Y-%m-%dT%H:%M:%SZ} .. {window:%Y-%m-%dT%H:%M:%SZ}"
        assert f"; not covered: {gap} (sim_kraken serves no candles before" in state.message
        params = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))["params"]
        assert params["uncovered"] and params["uncovered"][0].startswith(gap)
        report = wb.quality("sim_kraken", "EUR/USD", "1h", since, until)
        assert [str(u).split(" (")[0] for u in report.uncovered] == [gap]
        assert report.to_dict()["uncovered"].startswith(gap)
        stored = wb.candles("sim_kraken", "EUR/USD", "1h")
        assert stored.index[0] == window and len(stored) == 719  # weekends: flat candles
        flat = stored[stored.volume == 0]
        assert len(flat) and (flat.open == flat.close).all()
        # a rerun asks again, and names the same range once
        again = wb.start_collector("sim_kraken", "EUR/USD", "1h", since=since, until=until)
        assert again.wait(60).phase is Phase.STOPPED and "not covered" in again.message
        key = SeriesKey("sim_kraken", "EUR/USD", "1h")
        assert len(wb.store.ohlcv_uncovered(key)) == 1
        # the Binance dialect serves the whole file, weekends skipped: nothing uncovered
        full = wb.start_collector("sim", "EUR/USD", "1h", since=since, until=until)
        full.wait(60)
        assert full.message == f"Collected {len(wb.candles('sim', 'EUR/USD', '1h'))} candles"
        assert wb.quality("sim", "EUR/USD", "1h").uncovered == ()


def test_a_ban_pauses_every_collector_and_the_backfills_complete(settings, sim, raw_redis):
    sim.set_faults(latency=0.03)  # each backfill takes a few seconds
    retry = RetryPolicy(attempts=2, instant=True)  # a ban counted as a failure would end it
    with Workbench(settings, rate_limit=False, retry=retry, concurrency=1) as wb:
        since, until = "2026-08-01", "2026-08-31"
        handles = [
            wb.start_collector("sim", symbol, "1m", since=since, until=until)
            for symbol in ("ETH/BTC", "BNB/USDT")
        ]
        key = SeriesKey("sim", "ETH/BTC", "1m")
        deadline = time.monotonic() + 20
        while wb.store.ohlcv_count(key) < 5000 and time.monotonic() < deadline:
            time.sleep(0.01)
        sim.ban(1.5)
        seen: dict[str | None, dict[str, Any]] = {}
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            for h in handles:
                rec = json.loads(raw_redis.get(f"process:data:{h.process_id}"))
                if rec["params"].get("paused_until"):
                    seen[h.process_id] = rec
            time.sleep(INTERVAL / 4)
        assert len(seen) == 2, "both collectors show the pause"
        assert all(r["message"].startswith("Paused until ") and "HTTP 418" in r["message"]
                   for r in seen.values())  # fmt: skip
        for h in handles:
            state = h.wait(60)
            assert state.phase is Phase.STOPPED, state.message
            assert state.message == "Collected 43,200 candles"
            rec = json.loads(raw_redis.get(f"process:data:{h.process_id}"))
            assert rec["params"]["paused_until"] is None
        sim.clear_faults()
        for h in handles:
            assert_stored_exactly(wb, "sim", h.spec.symbol, "1m", since, until)
    assert sim.counters()["banned"] >= 1
