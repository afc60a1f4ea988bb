"""Helpers shared by test packages (fixtures stay in each package's conftest)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ohlcv_workbench.exchange import RetryPolicy, candle_pages, open_exchange
from ohlcv_workbench.records import CandleBatch
from ohlcv_workbench.services.processes import pid_alive
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim import SimControl
from ohlcv_workbench.times import to_ms

#: a fixed "now" in the middle of a minute, hour and day: 2025-06-18 13:37:42.500 UTC (Wednesday)
NOW = int(datetime(2025, 6, 18, 13, 37, 42, 500000, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000

#: fast heartbeats in the live-stack fixtures, so stops and stale flags show quickly
INTERVAL = 0.2
#: retries without waiting
INSTANT = RetryPolicy(instant=True)

CLI = [sys.executable, "-m", "ohlcv_workbench"]


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``ohlcv-workbench ARGS`` to its end."""
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``ohlcv-workbench ARGS`` (stdout and stderr piped)."""
    return subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "it") -> None:
    """Poll ``predicate`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def interrupt(proc: subprocess.Popen[str], sig: int, timeout: float = 60) -> str:
    """Send ``sig`` to ``proc`` and wait for its end; its output (stdout, then stderr)."""
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (out or "") + (err or "")


def assert_stopped(pids: Iterable[int], *folders: Path) -> None:
    """None of ``pids`` runs, and no process works in (or names) one of ``folders``."""
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert {str(folder): project_pids(folder) for folder in folders} == {
        str(folder): set() for folder in folders
    }


def sim_candles(
    sim_url: str, symbol: str, tf: str, since: str | int, until: str | int
) -> pd.DataFrame:
    """The simulator's own candles in ``[since, until)``, fetched through the exchange boundary
    (what a collector must have stored, candle for candle)."""

    async def fetch() -> list[CandleBatch]:
        settings = Settings(data_dir=Path("/nonexistent"), sim_url=sim_url)
        async with open_exchange("sim", settings=settings, rate_limit=False) as ex:
            pages = candle_pages(ex, symbol, tf, to_ms(since), to_ms(until))
            return [batch async for batch in pages]

    batches = asyncio.run(fetch())
    return pd.concat([batch.to_frame() for batch in batches])


def project_pids(directory: Path) -> set[int]:
    """Processes that work in ``directory`` or name it on their command line (deleted too).

    Independent of the package's own bookkeeping: what ``ps`` would show an operator.
    """
    root = str(directory.resolve())
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd").removesuffix(" (deleted)")
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/") or root in argv:
            found.add(int(entry))
    return found


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How the collector tests use one of the simulator's dialects.

    ``sim`` (Binance) backfills 1m candles of a fixed range; ``sim_kraken`` 1h candles of the
    last 30 days: Kraken's OHLC serves the last 720 candles, so the oldest hour of the range
    comes from trades. ``live`` is the finest timeframe each offers.
    """

    exchange: str
    timeframe: str
    live: str
    days: float

    def backfill_range(self, days: float | None = None) -> tuple[int, int]:
        """(since, until) in ms: a fixed range on Binance, the last ``days`` on Kraken."""
        days = self.days if days is None else days
        if self.exchange == "sim":
            since = pd.Timestamp("2026-10-01", tz="UTC")
            until = since + pd.Timedelta(days=days)
        else:
            until = pd.Timestamp.now(tz="UTC").floor("1h")
            since = until - pd.Timedelta(days=days)
        return since.value // 10**6, until.value // 10**6

    def candles(self, days: float | None = None) -> int:
        """Candles in :meth:`backfill_range`."""
        since, until = self.backfill_range(days)
        step = 60_000 if self.timeframe == "1m" else 3_600_000
        return (until - since) // step


DIALECTS = {
    "sim": Dialect("sim", "1m", "1s", 3),
    "sim_kraken": Dialect("sim_kraken", "1h", "1m", 30),
}


def near_minute_close(control: SimControl, seconds_before: float = 2.5) -> None:
    """Shift the simulator's clock so its next minute closes ``seconds_before`` from now."""
    now_ms = time.time() * 1000
    to_close = 60_000 - now_ms % 60_000
    control.set_clock(offset=int(to_close - seconds_before * 1000))
