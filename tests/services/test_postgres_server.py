"""The embedded PostgreSQL server against the real binaries: password, loopback, one server per
data dir for every process, databases, persistence, the services command."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ohlcv_workbench.services import EmbeddedPostgres, embedded_services, pid_alive, store_url
from ohlcv_workbench.settings import EMBEDDED_POSTGRES, Settings
from ohlcv_workbench.store import PostgresStore, open_store
from tests.store.conftest import KEY, candles

ENSURE = (
    "from ohlcv_workbench.services import EmbeddedPostgres; "
    "s = EmbeddedPostgres().ensure(); print(s.pid, s.port)"
)


def data_dir() -> Iterator[Path]:
    """A data dir outside pytest's base temp: pytest resets that one to 0700 whenever a run
    starts, and the server's system user must be able to reach its directory."""
    path = Path(tempfile.mkdtemp(prefix="ohlcv-wb-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    for path in data_dir():
        service = EmbeddedPostgres(Settings(data_dir=path))
        yield service
        service.stop()
        assert postmasters(service) == []


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    yield from data_dir()


def postmasters(service: EmbeddedPostgres) -> list[int]:
    """postgres processes working on this service's data directory."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and str(service.cluster.pgdata).encode() in argv:
            found.append(int(entry))
    return found


def test_the_server_needs_its_password_and_listens_on_loopback_only(server):
    state = server.ensure()
    assert pid_alive(state.pid) and state.host == "127.0.0.1"
    with psycopg.connect(server.url(state)) as conn:
        settings: dict[str, str] = dict(
            conn.execute("SELECT name, setting FROM pg_settings").fetchall()
        )
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["unix_socket_directories"] == ""
    assert settings["password_encryption"] == "scram-sha-256"
    for password in ("", "wrong"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres:{password}@127.0.0.1:{state.port}/postgres")
    assert stat.S_IMODE(server.password_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.cluster.pgdata.stat().st_mode) == 0o700
    if os.geteuid() == 0:  # PostgreSQL never runs as root: the wheel's system user does
        assert server.cluster.pgdata.owner() == "pgserver"
        assert Path(f"/proc/{state.pid}").owner() == "pgserver"
    assert server.status().running and [state.pid] == postmasters(server)[:1]


def test_other_processes_share_the_server(server):
    state = server.ensure()
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(server.settings.data_dir)}
    done = subprocess.run([sys.executable, "-c", ENSURE], env=env, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == [str(state.pid), str(state.port)]


def test_the_embedded_store_url_makes_its_database_and_data_persists(server):
    settings = Settings.from_env(
        {"OHLCV_WORKBENCH_DATA_DIR": str(server.settings.data_dir),
         "OHLCV_WORKBENCH_STORE_URL": f"{EMBEDDED_POSTGRES}/candles"}
    )  # fmt: skip
    assert settings.store_source == "embedded" and settings.uses_embedded_postgres
    assert [s.name for s in embedded_services(settings)] == ["redis", "postgres", "sim"]
    url = store_url(settings)
    assert url.endswith(f"@127.0.0.1:{server.ensure().port}/candles")
    with open_store(settings) as store:
        assert isinstance(store, PostgresStore) and "***" in store.url
        store.ohlcv_store(KEY, candles(1_767_225_600_000, 30))
    old = server.ensure().pid
    assert server.stop() is True and not pid_alive(old)
    with open_store(settings) as store:  # started again on first use: the rows are still there
        assert store.ohlcv_count(KEY) == 30
    assert server.ensure().pid != old


def test_start_race_ends_with_one_server(tmp_dir):
    tmp_path = tmp_dir
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", ENSURE], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]  # fmt: skip
    service = EmbeddedPostgres(Settings(data_dir=tmp_path))
    try:
        answers = {p.communicate(timeout=120)[0].strip() for p in procs}
        assert len(answers) == 1, answers
        assert postmasters(service) == [int(answers.pop().split()[0])]
    finally:
        service.stop()
    assert postmasters(service) == []


def test_cli_services_manage_the_embedded_postgres(tmp_dir):
    tmp_path = tmp_dir
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path),
           "OHLCV_WORKBENCH_STORE_URL": EMBEDDED_POSTGRES}  # fmt: skip

    def cli(*args, environ=env):
        return subprocess.run(
            [sys.executable, "-m", "ohlcv_workbench", "services", *args],
            env=environ, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    service = EmbeddedPostgres(Settings(data_dir=tmp_path))
    try:
        up = cli("up")
        assert up.returncode == 0, up.stderr
        assert "postgres: up, pid" in up.stdout
        assert "postgres: running" in cli("status").stdout
        # the settings no longer ask for it: `down` still stops it
        plain = {k: v for k, v in env.items() if k != "OHLCV_WORKBENCH_STORE_URL"}
        down = cli("down", environ=plain)
        assert down.returncode == 0 and "postgres: stopped" in down.stdout
    finally:
        service.stop()
    assert postmasters(service) == []
