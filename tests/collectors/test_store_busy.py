"""A store whose write lock another process holds for long: collectors wait and catch up."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.records import SeriesKey
from tests.helpers import sim_candles, wait_for

#: seconds the other process holds the write lock: longer than SQLite's busy timeout ever was
LOCK_SECONDS = 45

HOLD_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
"""


@pytest.mark.slow
def test_a_live_collector_waits_out_a_long_write_lock_and_loses_nothing(wb, sim, raw_redis):
    key = SeriesKey("sim", "ETH/BTC", "1s")
    handle = wb.start_collector("sim", "ETH/BTC", "1s")
    wait_for(lambda: handle.status is Phase.LIVE and handle.stored > 1005, 30, "live candles")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(wb.settings.data_dir / "ohlcv.sqlite"),
         str(LOCK_SECONDS)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = wb.store.ohlcv_last(key)

        def waiting() -> bool:
            data = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))
            return bool(data["params"].get("store_retrying")) and "Store busy" in data["message"]

        wait_for(waiting, 30, "the heartbeat to show the wait")
        assert wb.store.ohlcv_last(key) == locked_at  # nothing could be written meanwhile
        assert holder.wait(LOCK_SECONDS + 30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    released = time.time()
    wait_for(lambda: (wb.store.ohlcv_last(key) or 0) >= released * 1000 - 2000, 30, "catch-up")
    assert handle.status is Phase.LIVE and handle.error is None
    assert handle.stop().phase is Phase.STOPPED
    data = json.loads(raw_redis.get(f"process:data:{handle.process_id}"))
    assert data["status"] == "stopped" and data["params"]["store_retrying"] is None
    assert data["params"]["store_retries"] >= 1
    got = wb.candles("sim", "ETH/BTC", "1s")
    first, last = got.index[0].value // 10**6, got.index[-1].value // 10**6
    assert wb.store.ohlcv_gaps(key, first, last + 1000) == []  # no hole where the lock was
    expected = sim_candles(sim.url, "ETH/BTC", "1s", first, last + 1000)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
