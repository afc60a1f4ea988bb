"""pytest plugin: an isolated data dir per test run, and loopback-only networking.

Enable with ``-p ohlcv_workbench.testkit.pytest_plugin`` (the project's pyproject does).
The run gets a fresh ``OHLCV_WORKBENCH_DATA_DIR`` (so its Redis, store and simulator are its
own, also for notebook kernels started by nbmake, which inherit the environment), external
service variables are cleared, and the services are stopped when the run ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohlcv_workbench.services.catalog import embedded_services
from ohlcv_workbench.settings import PREFIX, Settings

from .netguard import loopback_only

_EXTERNAL = ("REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD")
_run_dir: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point the whole run (and child processes) at a fresh data dir."""
    global _run_dir
    if hasattr(config, "workerinput"):  # pragma: no cover - xdist workers share the master's
        return
    _run_dir = Path(tempfile.mkdtemp(prefix="ohlcv-wb-test-"))
    for key in list(os.environ):
        if key.startswith(PREFIX) or key in _EXTERNAL:
            del os.environ[key]
    os.environ[f"{PREFIX}DATA_DIR"] = str(_run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the run's services and remove its data dir."""
    if _run_dir is None:
        return
    for service in embedded_services(Settings.from_env()):
        service.stop()
    shutil.rmtree(_run_dir, ignore_errors=True)


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
