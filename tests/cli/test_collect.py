"""The CLI daemon: exit codes, kill -9 and resume, stop from another process, busy series."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
from typing import Any

import pandas as pd
import pytest

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.errors import SeriesBusyError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry.keys import lease_key
from ohlcv_workbench.store import SqliteStore
from ohlcv_workbench.times import iso
from tests.helpers import Dialect, cli, sim_candles, spawn, wait_for


def listing(env: dict[str, str]) -> list[dict[str, Any]]:
    """``status --json``: one JSON array of every process."""
    done = cli(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, list)
    return found


def test_bounded_backfill_exits_0_and_registers_the_daemon(env, raw_redis):
    done = cli(env, "collect", "sim", "BTC/USDT", "ETH/USDT", "--since", "2026-10-01",
               "--until", "2026-10-01T12:00")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Collected 720 candles" in done.stderr
    daemons = [r for r in listing(env) if r["component"] == "ohlcv_daemon"]
    assert daemons and daemons[0]["status"] == "stopped"
    assert daemons[0]["params"]["args"][:2] == ["ohlcv_daemon", "collect"]
    assert isinstance(daemons[0]["params"]["pid"], int)


def test_bad_input_exits_2_and_registers_nothing(env, raw_redis):
    before = set(raw_redis.keys("process:data:*"))
    done = cli(env, "collect", "sim", "BTC/USDX")
    assert done.returncode == 2
    assert "Unknown symbol 'BTC/USDX'" in done.stderr and "BTC/USDT" in done.stderr
    assert set(raw_redis.keys("process:data:*")) == before


def test_kill_9_midway_then_rerun_equals_an_uninterrupted_run(
    env, settings, sim, tmp_path, dialect: Dialect
):
    exchange, tf = dialect.exchange, dialect.timeframe
    binance = exchange == "sim"
    if binance:  # 45 pages one by one: over 2 s
        since, until, total, kill_at, latency = "2026-08-01", "2026-09-01", 44_640, 10_000, 0.05
    else:  # the window (719 hours) at once, then about 12 pages of trades for the oldest hour
        since_ms, until_ms = dialect.backfill_range()
        since, until, total, kill_at, latency = iso(since_ms), iso(until_ms), 720, 700, 0.2
    key = SeriesKey(exchange, "ETH/BTC", tf)
    args = ("collect", exchange, "ETH/BTC", "-t", tf, "--since", since, "--until", until,
            "--concurrency", "1", "--no-rate-limit", "-q")  # fmt: skip
    sim.set_faults(latency=latency, symbols=["ETH/BTC"])
    store = SqliteStore(settings.data_dir / "ohlcv.sqlite")
    daemon = spawn(env, *args)
    wait_for(lambda: store.ohlcv_count(key) >= kill_at, what="a part of the backfill")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(10)
    stored = store.ohlcv_count(key)
    assert kill_at <= stored < total, stored
    # what was stored has no hole: the rerun fetches only what is missing
    first = pd.Timestamp(store.ohlcv_first(key) or 0, unit="ms")
    last = pd.Timestamp(store.ohlcv_last(key) or 0, unit="ms")
    assert store.ohlcv_gaps(key, since if binance else first, last) == []
    time.sleep(2 * latency + 0.2)  # the killed daemon's last request is served and counted
    sim.reset()
    again = cli(env, *args)
    assert again.returncode == 0, again.stderr
    counters = sim.counters()
    if binance:
        pages = -(-(total - stored) // 1000)
        assert counters["klines"]["ETH/BTC"] == {"1m": pages}, counters  # nothing refetched
        assert counters["requests"]["klines"] == pages
    else:  # one OHLC request (where the window begins now), trades for the hour before it
        assert counters["ohlc"]["ETH/BTC"] == {"1h": 1}, counters
        assert 0 < counters["requests"]["Trades"] <= 20, counters
    resumed = store.ohlcv_load(key)
    store.close()

    clean = dataclasses.replace(settings, data_dir=tmp_path / "clean")
    with Workbench(clean, rate_limit=False) as wb:
        wb.start_collector(exchange, "ETH/BTC", tf, since=since, until=until).wait(60)
        uninterrupted = wb.candles(exchange, "ETH/BTC", tf)
    assert len(resumed) == total
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def test_stop_from_another_process_and_busy_across_processes(env, wb, raw_redis):
    daemon = spawn(env, "collect", "sim", "DOGE/USDT", "-t", "1s", "-q")
    try:

        def running() -> bool:
            return any(
                r["component"] == "ohlcv.sim.DOGE/USDT" and r["status"] == "running" and r["active"]
                for r in listing(env)
            )

        wait_for(running, what="the CLI collector to run")
        with pytest.raises(SeriesBusyError, match=r"ohlcv\.sim\.DOGE/USDT") as info:
            wb.start_collector("sim", "DOGE/USDT", "1s")
        assert str(daemon.pid) in str(info.value)
        stopped = cli(env, "stop", "ohlcv.sim.DOGE/USDT")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "stopped" in stopped.stdout
        assert daemon.wait(10) == 0  # its only collector ended: the daemon exits
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    handle = wb.start_collector("sim", "DOGE/USDT", "1s")  # the lease was released
    handle.stop()
    assert handle.status is Phase.STOPPED


def test_sigterm_stops_the_daemon_cleanly(env, raw_redis):
    daemon = spawn(env, "collect", "sim", "SUI/USDT", "-t", "1s", "-q")

    def registered() -> bool:
        found = [r for r in listing(env) if r["component"] == "ohlcv.sim.SUI/USDT"]
        return any(r["active"] and r["status"] == "running" for r in found)

    wait_for(registered, what="the collector to run")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    mine = [r for r in listing(env) if r["params"].get("pid") == daemon.pid]
    assert mine and all(r["status"] == "stopped" and not r["active"] for r in mine), mine


def test_a_second_daemon_of_a_collected_series_is_refused_and_registers_nothing(
    env, raw_redis, sim, settings
):
    def daemons() -> dict[str, dict[str, Any]]:
        found = {}
        for key in raw_redis.keys("process:data:ohlcv:ohlcv_daemon:*"):
            data = json.loads(raw_redis.get(key))
            found[data["process_id"]] = data
        return found

    before = set(daemons())
    first = spawn(env, "collect", "sim", "XRP/USDT", "-t", "1s", "-q")
    try:
        wait_for(lambda: len(set(daemons()) - before) == 1, what="the first daemon")
        (host,) = set(daemons()) - before
        wait_for(lambda: daemons()[host]["status"] == "running", what="it to run")
        assert raw_redis.hget("process:components", "ohlcv_daemon") == host
        records = set(raw_redis.keys("process:data:*"))

        second = cli(env, "collect", "sim", "XRP/USDT", "-t", "1s")
        assert second.returncode == 2
        line = second.stderr.strip()
        assert "\n" not in line and "already being collected" in line and str(first.pid) in line
        assert set(raw_redis.keys("process:data:*")) == records  # nothing registered
        assert raw_redis.hget("process:components", "ohlcv_daemon") == host

        stopped = cli(env, "stop", "ohlcv_daemon")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert first.wait(15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert daemons()[host]["status"] == "stopped"
    key = SeriesKey("sim", "XRP/USDT", "1s")
    with SqliteStore(settings.data_dir / "ohlcv.sqlite") as store:
        got = store.ohlcv_load(key)
    assert len(got) >= 1000  # the first page, then live candles
    expected = sim_candles(sim.url, "XRP/USDT", "1s", got.index[0].value // 10**6,
                           got.index[-1].value // 10**6 + 1000)  # fmt: skip
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_ending_one_of_two_daemons_leaves_the_other_reachable_by_component(env, sim, settings):
    def daemon_ids() -> dict[int, str]:
        return {
            r["params"]["pid"]: r["process_id"]
            for r in listing(env)
            if r["component"] == "ohlcv_daemon" and r["active"] and r["status"] == "running"
        }

    first = spawn(env, "collect", "sim", "SOL/USDT", "-t", "1s", "-q")
    try:
        wait_for(lambda: first.pid in daemon_ids(), what="the first daemon")
        second = spawn(env, "collect", "sim", "ETH/USDT", "-t", "1s", "-q")
        try:
            wait_for(lambda: second.pid in daemon_ids(), what="the second daemon")
            # the second registered last: stopping it by id hands the component back
            stopped = cli(env, "stop", daemon_ids()[second.pid])
            assert stopped.returncode == 0, stopped.stderr
            assert second.wait(15) == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
        by_component = cli(env, "stop", "ohlcv_daemon")
        assert by_component.returncode == 0, by_component.stdout + by_component.stderr
        assert first.wait(15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    with SqliteStore(settings.data_dir / "ohlcv.sqlite") as store:
        for symbol in ("SOL/USDT", "ETH/USDT"):
            got = store.ohlcv_load(SeriesKey("sim", symbol, "1s"))
            first_ms, last_ms = got.index[0].value // 10**6, got.index[-1].value // 10**6
            expected = sim_candles(sim.url, symbol, "1s", first_ms, last_ms + 1000)
            pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_an_unusable_store_exits_2_before_anything_registers(env, raw_redis, postgres_url):
    from ohlcv_workbench.services import free_port

    before = set(raw_redis.keys("process:*"))
    good = postgres_url.rsplit("@", 1)[1]
    for url, message in [
        (f"postgresql://postgres:wrong@{good}", "refused the password of user 'postgres'"),
        (f"postgresql://postgres:wrong@127.0.0.1:{free_port()}/ohlcv", "nothing accepts"),
        ("postgresql://postgres:wrong@127.0.0.1:99999/ohlcv", "is not a valid URL"),
    ]:
        done = cli({**env, "OHLCV_WORKBENCH_STORE_URL": url}, "collect", "sim", "BTC/USDT")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "wrong" not in done.stderr
    assert set(raw_redis.keys("process:*")) == before


def test_busy_series_are_reported_and_the_others_collected(env, raw_redis):
    live = spawn(env, "collect", "sim", "SUI/USDT", "-t", "1s", "-q")
    try:
        wait_for(lambda: raw_redis.exists(lease_key(SeriesKey("sim", "SUI/USDT", "1s"))) == 1,
                 what="the live collector's lease")  # fmt: skip
        done = cli(env, "collect", "sim", "SUI/USDT", "XRP/USDT", "-t", "1s", "--since",
                   "2026-10-01T00:00", "--until", "2026-10-01T00:10")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "busy: sim SUI/USDT 1s is already being collected by process" in done.stderr
        assert f"(pid {live.pid} on " in done.stderr and "collecting the others" in done.stderr
        assert "XRP/USDT 1s [stopped] Collected 600 candles" in done.stderr
        alone = cli(env, "collect", "sim", "SUI/USDT", "-t", "1s")
        assert alone.returncode == 2 and "busy: sim SUI/USDT" in alone.stderr
    finally:
        live.send_signal(signal.SIGTERM)
        live.wait(10)


def test_wait_busy_takes_a_series_over_once_its_holder_stops(env, raw_redis):
    live = spawn(env, "collect", "sim", "BNB/USDT", "-t", "1s", "-q")
    waiting = None
    try:
        wait_for(lambda: raw_redis.exists(lease_key(SeriesKey("sim", "BNB/USDT", "1s"))) == 1,
                 what="the live collector's lease")  # fmt: skip
        window = ("--since", "2026-10-01T00:00", "--until", "2026-10-01T00:05")
        waiting = spawn(env, "collect", "sim", "BNB/USDT", "-t", "1s", *window, "--wait-busy")
        lines: list[str] = []
        stderr = waiting.stderr
        assert stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")))
        reader.start()
        wait_for(lambda: any("waiting for it" in line for line in lines), 60, "the busy report")
        assert waiting.poll() is None  # waiting for the lease
        live.send_signal(signal.SIGTERM)
        assert live.wait(10) == 0
        assert waiting.wait(60) == 0
        reader.join(10)
        text = "".join(lines)
        assert f"(pid {live.pid} on " in text and "took over sim BNB/USDT 1s" in text
        assert "BNB/USDT 1s [stopped] Collected 300 candles" in text
    finally:
        for proc in (live, waiting):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
