"""Embedded services under faults: a full disk, a killed server, leftovers of failed starts.

No server is ever orphaned (each one is recorded and found again by ``services down``), a
server that answers with an error is not declared dead, and every error is one line naming
the data dir.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.services import (
    EmbeddedRedis,
    EmbeddedService,
    EmbeddedSimulator,
    ServiceState,
    free_port,
    pid_alive,
)
from ohlcv_workbench.services.redis_server import redis_binary
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import SqliteStore
from tests.helpers import cli, project_pids, sim_candles, wait_for

SINCE, UNTIL = "2026-10-01", "2026-10-01T06:00"  # 360 candles of 1m


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (no traceback, no second line)."""
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    return lines[0]


def services_env(data: Path) -> dict[str, str]:
    """A CLI environment on ``data`` with the embedded Redis and simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OHLCV_WORKBENCH_")}
    return {**env, "OHLCV_WORKBENCH_DATA_DIR": str(data)}


def holders(directory: Path) -> set[int]:
    """Processes working in ``directory`` or holding a file open under it."""
    found = project_pids(directory)
    root = str(directory.resolve()) + "/"
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}").startswith(root):
                        found.add(int(entry))
    found.discard(os.getpid())
    return found


def stop_everything_in(directory: Path) -> None:
    for pid in holders(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not holders(directory), 10, "the processes to go")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs mounted for this test (root only), always unmounted."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which only root can mount")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        stop_everything_in(mount)
        subprocess.run(["umount", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file."""
    path = disk / "filler"
    with open(path, "wb") as fh:
        written = 0
        while written < 1 << 30:
            try:
                fh.write(b"\0" * 65536)
                fh.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return path
            written += 65536
    raise AssertionError(f"{disk} never filled up")


def test_a_full_disk_orphans_no_server_and_every_error_is_one_line(small_disk):
    data = small_disk / "data"
    env = services_env(data)
    settings = Settings(data_dir=data)
    assert cli(env, "services", "up").returncode == 0
    redis_service, sim_service = EmbeddedRedis(settings), EmbeddedSimulator(settings)
    redis_state, sim_state = redis_service.read_state(), sim_service.read_state()
    assert redis_state is not None and sim_state is not None
    servers = {redis_state.pid, sim_state.pid}
    assert project_pids(data) == servers
    args = ("collect", "sim", "BTC/USDT", "--since", SINCE, "--until", UNTIL, "-q")
    assert cli(env, *args).returncode == 0

    filler = fill(small_disk)
    client = redis.Redis.from_url(redis_service.url(redis_state))

    def refuses_writes() -> bool:
        try:
            client.set("probe", "x" * 100_000)
        except redis.ResponseError as exc:
            return "MISCONF" in str(exc)
        return False

    wait_for(refuses_writes, 10, "Redis to refuse writes")
    # it answers, with an error: it is not dead, so nothing may kill or replace it
    status = cli(env, "status")
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and len(status.stderr.splitlines()) <= 1
    assert project_pids(data) == servers
    again = cli(env, "collect", "sim", "BTC/USDT", "--since", UNTIL, "--until", "2026-10-02")
    assert again.returncode == 2
    line = one_line_error(again)
    assert str(data) in line and "disk" in line and "full" in line, line
    assert project_pids(data) == servers

    # the server dies; no start can succeed on a full disk, and none leaves a server behind
    os.kill(redis_state.pid, signal.SIGKILL)
    wait_for(lambda: redis_state.pid not in project_pids(data), 10, "Redis to die")
    for command in (("services", "up"), ("status",), ("services", "up")):
        failed = cli(env, *command)
        assert failed.returncode == 2, failed
        line = one_line_error(failed)
        assert str(data) in line and "No space left on device" in line, line
        assert project_pids(data) == {sim_state.pid}
    down = cli(env, "services", "down")
    assert down.returncode == 0, down.stderr
    assert project_pids(data) == set()

    # with room again everything comes back, and the stored candles are the simulator's
    filler.unlink()
    assert cli(env, "services", "up").returncode == 0
    done = cli(env, *args)
    assert done.returncode == 0, done.stderr
    store = SqliteStore(data / "ohlcv.sqlite")
    got = store.ohlcv_load(SeriesKey("sim", "BTC/USDT", "1m"))
    store.close()
    expected = sim_candles(EmbeddedSimulator(settings).url(), "BTC/USDT", "1m", SINCE, UNTIL)
    assert len(got) == 360
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert cli(env, "services", "down").returncode == 0
    assert project_pids(data) == set()


def test_a_failed_start_is_recorded_first_and_stops_what_it_started(tmp_path, monkeypatch):
    silent = tmp_path / "silent-server"
    silent.write_text("#!/bin/sh\nexec sleep 600\n")  # runs, never answers
    silent.chmod(0o755)
    monkeypatch.setattr("ohlcv_workbench.services.redis_server.redis_binary", lambda: silent)
    service = EmbeddedRedis(Settings(data_dir=tmp_path / "data"))
    service.start_timeout = 2.0
    outcome: list[BaseException] = []
    starting = threading.Thread(target=lambda: _catch(service.ensure, outcome))
    starting.start()
    # while it waits for an answer, the state file already names the server's process
    wait_for(lambda: service.read_state() is not None, 10, "the state file")
    state = service.read_state()
    assert state is not None and pid_alive(state.pid, state.pid_started)
    assert state.pid in project_pids(tmp_path / "data")
    starting.join(30)
    (error,) = outcome
    assert isinstance(error, ServiceError)
    assert "did not answer within 2 s" in str(error) and "\n" not in str(error)
    assert not pid_alive(state.pid, state.pid_started)
    assert service.read_state() is None
    assert project_pids(tmp_path / "data") == set()


def _catch(fn: Callable[[], object], into: list[BaseException]) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        into.append(exc)


def _stray(service: EmbeddedService, argv: list[str]) -> int:
    """A server started in the service folder that no state file names (a failed start)."""
    service.directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        argv, cwd=service.directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: service.strays(), 10, "the stray server to run")
    return proc.pid


def test_services_down_stops_servers_no_state_file_names(tmp_path):
    data = tmp_path / "data"
    env = services_env(data)
    settings = Settings(data_dir=data)
    redis_service, sim_service = EmbeddedRedis(settings), EmbeddedSimulator(settings)
    strays = [
        _stray(redis_service, [str(redis_binary()), "--port", str(free_port()), "--save", ""]),
        _stray(sim_service, [sys.executable, "-m", "ohlcv_workbench", "sim", "--port", "0"]),
    ]
    status = cli(env, "services", "status")
    assert status.returncode == 1
    for pid in strays:
        assert f"stray server(s) (pids {pid})" in status.stdout, status.stdout
    # a start first stops what a failed start left in its way
    assert cli(env, "services", "up").returncode == 0
    assert not any(pid_alive(pid) for pid in strays)
    recorded = {s.read_state().pid for s in (redis_service, sim_service)}  # type: ignore[union-attr]
    assert project_pids(data) == recorded
    # services down stops the recorded servers and any stray one
    stray = _stray(redis_service, [str(redis_binary()), "--port", str(free_port()), "--save", ""])
    down = cli(env, "services", "down")
    assert down.returncode == 0, down.stderr
    assert str(stray) in down.stdout
    assert project_pids(data) == set()
    assert "not started" in cli(env, "services", "status").stdout


def test_a_reused_pid_is_not_taken_for_the_server(tmp_path):
    service = EmbeddedRedis(Settings(data_dir=tmp_path))
    first = service.ensure()
    service.stop()
    # the recorded pid now belongs to another program (here: this test's process)
    service.directory.mkdir(parents=True, exist_ok=True)
    for stale in (
        dataclasses.replace(first, pid=os.getpid()),  # same pid, other start time
        dataclasses.replace(first, pid=os.getpid(), pid_started=None),  # an older state file
    ):
        service.state_path.write_text(json.dumps(dataclasses.asdict(stale)))
        assert not service.status().running
        try:
            again = service.ensure()
            assert again.pid != os.getpid() and service.status().healthy
        finally:
            service.stop()
        assert pid_alive(os.getpid())


class ToyServer(EmbeddedService):
    """A service written as a new one would be: a command line, a yes/no health check and
    its executable's name; it gets the same guarantees as Redis and the simulator."""

    name = "toy"
    server_names = (Path(sys.executable).resolve().name,)

    def _argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]

    def _answers(self, state: ServiceState) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{state.port}/", timeout=1):
                return True
        except OSError:
            return False


def test_a_new_service_gets_the_same_guarantees(tmp_path):
    toy = ToyServer(Settings(data_dir=tmp_path))
    state = toy.ensure()
    assert toy.status().healthy and state.pid_started is not None
    assert toy.ensure() == state  # reused
    stray = _stray(toy, toy._argv(free_port()))
    assert toy.status().strays == (stray,)
    assert sorted(toy.stop_servers()) == sorted([state.pid, stray])
    assert project_pids(tmp_path) == set()
