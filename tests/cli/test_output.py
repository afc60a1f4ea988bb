"""What the CLI prints: one JSON array, errors as one line on stderr (exit 2), quiet pipes,
clear words for a refused password or a range before the listing, a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pytest
import redis

from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import ProcessCache, ProcessType
from ohlcv_workbench.store import SqliteStore
from tests.helpers import CLI, cli, interrupt, sim_candles, spawn, wait_for

#: a database of the run's Redis of its own, emptied for each test
DB = 7


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ohlcv-workbench: error: "), done.stderr
    return lines[0]


@pytest.fixture
def empty_env(env: dict[str, str], redis_url: str) -> Iterator[dict[str, str]]:
    """The CLI environment on an empty registry."""
    url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{DB}"))
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield {**env, "OHLCV_WORKBENCH_REDIS_URL": url}
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def test_status_json_is_one_array_also_when_the_registry_is_empty(empty_env):
    done = cli(empty_env, "status", "--json")
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, [], "")
    assert cli(empty_env, "status").stdout == "no processes registered\n"


def test_a_pipe_closed_early_ends_quietly(empty_env):
    async def register_many() -> None:
        async with ProcessCache(empty_env["OHLCV_WORKBENCH_REDIS_URL"]) as cache:
            for i in range(1000):
                await cache.register_process(ProcessType.BOT, f"bot_{i}")

    asyncio.run(register_many())
    listing = json.loads(cli(empty_env, "status", "--json").stdout)
    assert len(listing) == 1000 and {r["component"] for r in listing} >= {"bot_0", "bot_999"}
    assert len(cli(empty_env, "status").stdout) > 1 << 16  # more than a pipe holds
    for args in (("status",), ("status", "--json")):
        reader = subprocess.Popen(
            [*CLI, *args], env=empty_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.read(10)  # like `| head -c 10`
        reader.stdout.close()
        assert reader.wait(30) == 141
        assert reader.stderr.read() == b""
        reader.stderr.close()


def test_errors_are_one_line_on_stderr_with_exit_2(env):
    assert "--concurrency 0" in one_line(
        cli(env, "collect", "sim", "BTC/USDT", "--concurrency", "0")
    )
    assert "Unknown symbol" in one_line(cli(env, "collect", "sim", "NOPE/USDT"))
    assert "no process or component" in one_line(cli(env, "stop", "nothing.here"))


def test_a_wrong_redis_password_is_reported_as_such(env, redis_url):
    parts = urlsplit(redis_url)
    wrong = parts._replace(netloc=f":not-the-password@{parts.hostname}:{parts.port}")
    for url in (
        urlunsplit(wrong),
        urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port}")),
    ):
        line = one_line(cli({**env, "OHLCV_WORKBENCH_REDIS_URL": url}, "status"))
        assert "refused the credentials" in line and "cannot be reached" not in line, line
        assert "not-the-password" not in line


def test_a_malformed_redis_url_is_named_without_its_password(env):
    bad = {**env, "OHLCV_WORKBENCH_REDIS_URL": "redis://:hunter2secret@localhost:63a79/0"}
    line = one_line(cli(bad, "status"))
    assert "OHLCV_WORKBENCH_REDIS_URL='redis://:***@localhost:63a79/0'" in line
    assert "hunter2secret" not in line


def test_a_range_before_the_listing_is_refused_before_anything_is_registered(env, raw_redis):
    before = set(raw_redis.keys("process:data:*"))
    args = ("collect", "sim", "BTC/USDT", "--since", "1970-01-01", "--until", "1970-01-02")
    line = one_line(cli(env, *args))
    assert "nothing to collect" in line and "listing" in line and "1970-01-01" in line, line
    assert set(raw_redis.keys("process:data:*")) == before


def test_ctrl_c_stops_a_live_collect_cleanly(env, settings, sim, raw_redis):
    daemon = spawn(env, "collect", "sim", "BNB/USDT", "-t", "1s")

    def live() -> bool:
        found = [json.loads(raw_redis.get(k)) for k in raw_redis.keys("process:data:*")]
        return any(
            r["component"] == "ohlcv.sim.BNB/USDT"
            and r["params"].get("pid") == daemon.pid
            and r["params"].get("phase") == "live"
            and r["params"].get("stored", 0) >= 2
            for r in found
        )

    try:
        wait_for(live, 30, "live candles")
    except AssertionError:
        daemon.kill()
        raise
    output = interrupt(daemon, signal.SIGINT, timeout=30)
    assert daemon.returncode == 0, output
    assert "Traceback" not in output and "never retrieved" not in output, output
    assert "[stopped] Stopped: Collected" in output
    mine = [json.loads(raw_redis.get(k)) for k in raw_redis.keys("process:data:*")]
    mine = [r for r in mine if r["params"].get("pid") == daemon.pid]
    assert len(mine) == 2 and all(r["status"] == "stopped" for r in mine), mine
    with SqliteStore(settings.data_dir / "ohlcv.sqlite") as store:
        got = store.ohlcv_load(SeriesKey("sim", "BNB/USDT", "1s"))
    first, last = got.index[0].value // 10**6, got.index[-1].value // 10**6
    expected = sim_candles(sim.url, "BNB/USDT", "1s", first, last + 1000)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_no_password_in_output_or_logs(env, redis_url):
    password = urlsplit(redis_url).password
    assert password
    debug = {**env, "OHLCV_WORKBENCH_LOG_LEVEL": "DEBUG"}
    args = ("collect", "sim", "BTC/USDT", "--since", "2026-10-01", "--until", "2026-10-01T01:00")
    runs = [cli(debug, *args), cli(debug, "status", "--json"), cli(debug, "status")]
    # the run's own embedded services (the same Redis, through its data dir)
    own = {k: v for k, v in env.items() if k != "OHLCV_WORKBENCH_REDIS_URL"}
    own["OHLCV_WORKBENCH_DATA_DIR"] = os.environ["OHLCV_WORKBENCH_DATA_DIR"]
    runs += [cli(own, "services", "status", "--json"), cli(own, "services", "status")]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0], [r.stderr for r in runs]
    assert len(runs[0].stderr.splitlines()) > 5  # the debug log was on
    for run in runs:
        assert password not in run.stdout + run.stderr
