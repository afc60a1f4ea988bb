"""Which embedded services a configuration uses."""

from __future__ import annotations

from ohlcv_workbench.settings import Settings

from .base import EmbeddedService
from .redis_server import EmbeddedRedis
from .simulator import EmbeddedSimulator

__all__ = ["embedded_services"]


def embedded_services(settings: Settings | None = None) -> list[EmbeddedService]:
    """The embedded services this configuration uses (none when everything is external)."""
    settings = settings or Settings.from_env()
    services: list[EmbeddedService] = []
    if settings.uses_embedded_redis:
        services.append(EmbeddedRedis(settings))
    if settings.sim_url is None:
        services.append(EmbeddedSimulator(settings))
    return services
