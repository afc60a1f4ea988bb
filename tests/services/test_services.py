"""The embedded Redis server, against the real binary: start, share, race, restart, persist."""

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.services import EmbeddedRedis, embedded_services, pid_alive, redis_url
from ohlcv_workbench.settings import Settings

ENSURE = (
    "from ohlcv_workbench.services import EmbeddedRedis; "
    "s = EmbeddedRedis().ensure(); print(s.pid, s.port)"
)


@pytest.fixture
def server(tmp_path):
    service = EmbeddedRedis(Settings(data_dir=tmp_path))
    yield service
    service.stop()


def run_ensure(data_dir, count=1):
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(data_dir)}
    procs = [
        subprocess.Popen([sys.executable, "-c", ENSURE], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    return [tuple(map(int, str(p.communicate(timeout=60)[0]).split())) for p in procs]


def valkey_pids(data_dir):
    """Server processes working in this data dir (valkey rewrites its argv, so look at cwd)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm.startswith(("valkey", "redis")) and cwd == str(data_dir / "services" / "redis"):
            pids.append(int(entry))
    return pids


def test_start_requires_password_and_keeps_it_private(server):
    state = server.ensure()
    assert pid_alive(state.pid)
    client = redis.Redis.from_url(server.url(state))
    assert client.ping() is True
    assert str(client.config_get("bind")["bind"]).split()[0] == "127.0.0.1"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=state.port, protocol=2).ping()
    assert oct(server.password_path.stat().st_mode & 0o777) == "0o600"
    assert server.status().running


def test_second_process_reuses_the_server(server):
    state = server.ensure()
    assert run_ensure(server.settings.data_dir) == [(state.pid, state.port)]


def test_start_race_ends_with_one_server(tmp_path):
    results = run_ensure(tmp_path, count=5)
    try:
        assert len(set(results)) == 1, results
        pid = results[0][0]
        assert valkey_pids(tmp_path) == [pid]
    finally:
        EmbeddedRedis(Settings(data_dir=tmp_path)).stop()


def test_restart_after_kill_keeps_port_and_data(server):
    state = server.ensure()
    client = redis.Redis.from_url(server.url(state))
    client.set("survives", "yes")
    client.execute_command("WAITAOF", 1, 0, 2000)  # fsynced to the append-only file
    os.kill(state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.status().running
    again = server.ensure()
    assert again.pid != state.pid
    assert again.port == state.port  # clients holding the old URL reconnect
    assert client.get("survives") == b"yes"


def test_persistence_across_down_and_up(server):
    state = server.ensure()
    redis.Redis.from_url(server.url(state)).set("kept", "1")
    assert server.stop() is True
    assert not pid_alive(state.pid)
    assert server.status().running is False
    again = server.ensure()
    assert redis.Redis.from_url(server.url(again)).get("kept") == b"1"


def test_stop_when_not_running(server):
    assert server.stop() is False


def test_external_url_is_honoured_and_nothing_started(tmp_path):
    settings = Settings.from_env(
        {
            "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path),
            "OHLCV_WORKBENCH_REDIS_URL": "redis://h:1/0",
            "OHLCV_WORKBENCH_SIM_URL": "http://127.0.0.1:1",
        }
    )
    assert redis_url(settings) == "redis://h:1/0"
    assert embedded_services(settings) == []
    assert not (tmp_path / "services").exists()


def test_failed_start_reports_the_log(tmp_path, monkeypatch):
    service = EmbeddedRedis(Settings(data_dir=tmp_path))
    bogus = tmp_path / "fake-server"
    bogus.write_text("#!/bin/sh\necho 'cannot start: bad config' >&2\nexit 3\n")
    bogus.chmod(0o755)
    monkeypatch.setattr("ohlcv_workbench.services.redis_server.redis_binary", lambda: bogus)
    with pytest.raises(ServiceError) as info:
        service.ensure()
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message
    assert "exited while starting: cannot start: bad config" in message
    assert service.read_state() is None


def test_cli_services_up_status_down(tmp_path):
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path)}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "ohlcv_workbench", "services", *args],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    up = cli("up")
    assert up.returncode == 0, up.stderr
    assert "redis: up, pid" in up.stdout
    status = cli("status")
    assert status.returncode == 0 and "redis: running" in status.stdout
    down = cli("down")
    assert down.returncode == 0 and "redis: stopped" in down.stdout
    status = cli("status")
    assert status.returncode == 1 and "redis: down (not started)" in status.stdout
    assert valkey_pids(tmp_path) == []
