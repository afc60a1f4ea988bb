"""What every embedded service shares: its directory, state file, lock, start and stop.

A service lives under ``{data_dir}/services/{name}/``: a state file (pid, port, start time), a
log, and a lock file. :meth:`EmbeddedService.ensure` takes the lock, reuses the running server
when it answers, and otherwise starts one detached from the caller (it outlives kernels and
CLI runs), so several processes starting at once end up with exactly one server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.settings import Settings

from .processes import pid_alive, terminate

__all__ = ["START_TIMEOUT", "EmbeddedService", "ServiceState", "ServiceStatus", "free_port"]

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
        terminate(pid, grace, STOP_TIMEOUT)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
