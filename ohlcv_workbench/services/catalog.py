"""Which embedded services a configuration uses, every kind there is, and stopping
everything a run left behind."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.settings import Settings

from .base import EmbeddedService
from .postgres_server import EmbeddedPostgres
from .processes import OsProcess, descendants, inspect, processes_in, terminate_all
from .redis_server import EmbeddedRedis
from .simulator import EmbeddedSimulator

__all__ = ["all_services", "embedded_services", "stop_leftovers"]

log = logging.getLogger(__name__)

#: seconds a leftover process gets between SIGTERM and SIGKILL
LEFTOVER_GRACE = 5.0


def embedded_services(settings: Settings | None = None) -> list[EmbeddedService]:
    """The embedded services this configuration uses (none when everything is external)."""
    settings = settings or Settings.from_env()
    services: list[EmbeddedService] = []
    if settings.uses_embedded_redis:
        services.append(EmbeddedRedis(settings))
    if settings.uses_embedded_postgres:
        services.append(EmbeddedPostgres(settings))
    if settings.sim_url is None:
        services.append(EmbeddedSimulator(settings))
    return services


def all_services(settings: Settings | None = None) -> list[EmbeddedService]:
    """Every kind of embedded service of the settings' data dir, used or not (what
    ``services down`` and a test run's end stop, so none is left running)."""
    settings = settings or Settings.from_env()
    return [EmbeddedRedis(settings), EmbeddedPostgres(settings), EmbeddedSimulator(settings)]


def _interpreter_helper(proc: OsProcess) -> bool:
    """multiprocessing's resource tracker or fork server: it ends with this interpreter."""
    return any(arg.startswith("from multiprocessing.") for arg in proc.argv)


def stop_leftovers(data_dir: Path, also_in: Iterable[Path] = ()) -> list[int]:
    """Stop what a run (a test session, a benchmark) left behind; the pids of the leftovers.

    The embedded services of ``data_dir`` first (gracefully, strays included), then every
    process still working in ``data_dir`` or in a folder of ``also_in``, and every process
    below this one (but multiprocessing's helpers): SIGTERM, then SIGKILL.
    """
    for service in all_services(Settings(data_dir=data_dir)):
        try:
            service.stop_servers()
        except ServiceError as exc:
            log.warning("%s", exc)
    leftovers: dict[int, int | None] = {
        p.pid: p.started for root in {data_dir, *also_in} for p in processes_in(root)
    }
    for pid in descendants(os.getpid()):
        proc = inspect(pid)
        if proc is not None and not _interpreter_helper(proc):
            leftovers.setdefault(pid, proc.started)
    if leftovers:
        log.warning("stopping what was left running: pids %s", sorted(leftovers))
        terminate_all(leftovers, 0.0, LEFTOVER_GRACE)
    return sorted(leftovers)
