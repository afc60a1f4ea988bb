"""pytest plugin: an isolated data dir per test run, loopback-only networking, and a run that
stops everything it started, also when it is interrupted.

Enable with ``-p ohlcv_workbench.testkit.pytest_plugin`` (the project's pyproject does).
The run gets a fresh ``OHLCV_WORKBENCH_DATA_DIR`` (so its Redis, store, simulator and
PostgreSQL are its own, also for notebook kernels started by nbmake, which inherit the
environment), external service variables (fullon's ``REDIS_*`` and ``DB_*`` too) are cleared.
When the run ends, normally or by SIGINT or SIGTERM (turned into a KeyboardInterrupt, so
pytest unwinds), it stops every embedded service of the run's data dir, every process still
working in the run's data dir or in pytest's temporary folder (servers a test started for its
``tmp_path``), and every child process a test left behind; then the data dir is removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohlcv_workbench.files import private_dir
from ohlcv_workbench.services.catalog import stop_leftovers
from ohlcv_workbench.services.processes import interrupt_on_sigterm
from ohlcv_workbench.settings import FULLON_VARIABLES, PREFIX, Settings

from .netguard import loopback_only
from .postgres import scratch_database

_run_dir: Path | None = None
_temp_roots: set[Path] = set()


def pytest_configure(config: pytest.Config) -> None:
    """Point the whole run (and child processes) at a fresh data dir; SIGTERM interrupts."""
    global _run_dir
    if hasattr(config, "workerinput"):  # pragma: no cover - xdist workers share the master's
        return
    _run_dir = private_dir(Path(tempfile.mkdtemp(prefix="ohlcv-wb-test-")))
    for key in list(os.environ):
        if key.startswith(PREFIX) or key in FULLON_VARIABLES:
            del os.environ[key]
    os.environ[f"{PREFIX}DATA_DIR"] = str(_run_dir)
    interrupt_on_sigterm()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop everything the run started and remove its data dir."""
    if _run_dir is None:
        return
    try:
        stop_leftovers(_run_dir, _temp_roots)
    finally:
        shutil.rmtree(_run_dir, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def _session_temp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Remember pytest's temporary folder: servers started for a ``tmp_path`` work there."""
    _temp_roots.add(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[list[str]]:
    with loopback_only() as refused:
        yield refused


@pytest.fixture
def wb_settings() -> Settings:
    """The run's settings (its own data dir and embedded services)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the run's embedded Redis server (started on first use)."""
    from ohlcv_workbench.services.redis_server import redis_url as _redis_url

    return _redis_url(Settings.from_env())


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the run's embedded PostgreSQL server (its ``postgres`` database), started on
    first use and stopped when the run ends."""
    from ohlcv_workbench.services.postgres_server import EmbeddedPostgres

    return EmbeddedPostgres(Settings.from_env()).url()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty database on the run's PostgreSQL server, dropped after the test."""
    with scratch_database(postgres_url, "test") as url:
        yield url
