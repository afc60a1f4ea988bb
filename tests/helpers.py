"""Helpers shared by test packages (fixtures stay in each package's conftest)."""

from datetime import UTC, datetime

from ohlcv_workbench.exchange import RetryPolicy

#: a fixed "now" in the middle of a minute, hour and day: 2025-06-18 13:37:42.500 UTC (Wednesday)
NOW = int(datetime(2025, 6, 18, 13, 37, 42, 500000, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000

#: fast heartbeats in the live-stack fixtures, so stops and stale flags show quickly
INTERVAL = 0.2
#: retries without waiting
INSTANT = RetryPolicy(instant=True)
