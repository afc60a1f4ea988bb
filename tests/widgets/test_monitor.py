"""The heartbeat monitor against the real registry, other OS processes included."""

import json
import signal
import subprocess
import sys
import time

from ohlcv_workbench import Workbench
from ohlcv_workbench.registry import ProcessType
from ohlcv_workbench.widgets import HeartbeatMonitor

from .conftest import dom_classes, fast_env, is_on, row_of

# A collector in another OS process: registers with the settings' heartbeat interval, prints
# its process id, and beats until it is asked to stop through Redis (or killed).
CHILD = """
import asyncio, os, sys
from ohlcv_workbench.registry import Heartbeat
from ohlcv_workbench.registry import ProcessCache, ProcessStatus, ProcessType
from ohlcv_workbench.settings import Settings

async def main(component):
    settings = Settings.from_env()
    async with ProcessCache(settings=settings) as cache:
        hb = Heartbeat(cache, ProcessType.OHLCV, component, {"pid": os.getpid()},
                       interval=settings.heartbeat_interval)
        async with hb:
            await hb.set_status(ProcessStatus.RUNNING, "collecting elsewhere")
            print(hb.process_id, flush=True)
            await hb.stop_requested.wait()
            hb.final_message = "stopped on request"

asyncio.run(main(sys.argv[1]))
"""


def spawn(component: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, component],
        stdout=subprocess.PIPE,
        text=True,
        env=fast_env(),
    )


def read_id(proc: subprocess.Popen[str]) -> str:
    """The process id the child prints once registered."""
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def until(condition, monitor, timeout=15.0):
    """Refresh the monitor until ``condition()`` holds; the refreshes it took."""
    deadline = time.monotonic() + timeout
    count = 0
    while True:
        monitor.refresh()
        count += 1
        if condition():
            return count
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_processes_of_other_os_processes_stop_through_redis_and_go_stale(wb, raw):
    remote = spawn("ohlcv.sim.REMOTE/USDT")
    killed = spawn("ohlcv.sim.KILLED/USDT")
    monitor = HeartbeatMonitor(wb, watch=False)
    try:
        remote_id, killed_id = read_id(remote), read_id(killed)
        assert remote_id and killed_id

        monitor.refresh()
        own = monitor.row(wb.process_id)
        assert own is not None and own.stop_button.disabled  # the workbench's own record
        for pid in (remote_id, killed_id):
            row = monitor.row(pid)
            assert row is not None and row.status_text == "running" and not row.is_stale
            assert "collecting elsewhere" in row.message.value
            assert row.stop_button.description == "Stop" and not row.stop_button.disabled
            assert row.stale.value == ""
        stale_before = monitor.counts["stale"]  # other tests' leftovers share this Redis

        # Stop a collector of another process: a request through Redis, seen on its next beat
        row_of(monitor, remote_id).stop_button.click()
        monitor.wait()
        assert any("through Redis" in e.text for e in monitor.log.entries)
        assert remote.wait(15) == 0
        until(lambda: row_of(monitor, remote_id).status_text == "stopped", monitor)
        record = json.loads(raw.get(f"process:data:{remote_id}"))
        assert record["status"] == "stopped" and record["message"] == "stopped on request"
        assert not raw.hexists(f"process:active:{ProcessType.OHLCV.value}", remote_id)
        assert row_of(monitor, remote_id).stop_button.disabled

        # SIGKILL: no stop, no more beats; STALE once the heartbeat is older than 0.75 s
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        until(lambda: row_of(monitor, killed_id).is_stale, monitor)
        row = row_of(monitor, killed_id)
        assert row.status_text == "running" and "STALE" in row.stale.value
        assert monitor.counts["stale"] == stale_before + 1
        assert f"{stale_before + 1} stale" in monitor.health.value
        assert row.stop_button.description == "Clear" and not row.stop_button.disabled
        assert raw.hexists(f"process:active:{ProcessType.OHLCV.value}", killed_id)

        # Clear marks the lost process ended (ERROR) in the registry
        row.stop_button.click()
        monitor.wait()
        record = json.loads(raw.get(f"process:data:{killed_id}"))
        assert record["status"] == "error" and "no heartbeat" in record["message"]
        assert not raw.hexists(f"process:active:{ProcessType.OHLCV.value}", killed_id)
        row = row_of(monitor, killed_id)
        assert row.status_text == "error" and not row.is_stale and row.stop_button.disabled
        assert monitor.log.errors == []
    finally:
        for proc in (remote, killed):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        monitor.close()


def test_a_failing_stop_is_reported_in_the_log_area(wb, raw):
    pid = wb.run(wb.cache.register_process(ProcessType.OHLCV, "ohlcv.sim.GONE/USDT"))
    monitor = HeartbeatMonitor(wb, watch=False)
    try:
        monitor.refresh()
        row = monitor.row(pid)
        assert row is not None and not row.stop_button.disabled
        raw.delete(f"process:data:{pid}")  # the record vanishes before the click
        raw.hdel("process:components", "ohlcv.sim.GONE/USDT")
        row.stop_button.click()  # no exception in the cell
        monitor.wait()
        (entry,) = monitor.log.errors
        assert f"stopping {pid} failed: InputError: no process or component named" in entry.text
        assert entry.error is not None
        assert "InputError" in monitor.log.view.value
        assert monitor.row(pid) is None  # the refresh after the stop no longer lists it
    finally:
        raw.hdel(f"process:active:{ProcessType.OHLCV.value}", pid)
        monitor.close()


def test_one_throttled_watcher_that_close_and_the_workbench_stop(settings):
    wb = Workbench(settings)
    try:
        monitor = HeartbeatMonitor(wb, interval=0.05)  # asks for 20 Hz, gets 2 Hz
        assert monitor.interval == 0.5 and monitor.watching
        assert monitor.refreshes == 1  # the first one, before it is shown
        started = time.monotonic()
        time.sleep(1.3)
        elapsed = time.monotonic() - started
        assert 2 <= monitor.refreshes <= 2 + elapsed / 0.5
        assert "watching every 0.5 s" in monitor.health.value
        assert {"owb-monitor", "owb-monitor-health", "owb-monitor-row", "owb-monitor-stop",
                "owb-monitor-stop-0"} <= dom_classes(monitor.widget)  # fmt: skip
        monitor.close()
        assert not is_on(monitor, "watching")
        count = monitor.refreshes
        time.sleep(0.7)
        assert monitor.refreshes == count

        other = HeartbeatMonitor(wb, interval=0.5)
        assert other.watching
    finally:
        wb.close()
    assert not is_on(other, "watching")  # closing the workbench ended its watcher
    assert "not watching" in other.health.value
    other.close()  # and closing after the workbench is fine
