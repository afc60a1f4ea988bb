"""What every embedded service shares: its folder, state file, lock, start, health and stop.

A service lives in ``{data_dir}/services/{name}/`` (0700): a state file (pid and start time,
port), a log and a lock file, all 0600; the server runs with that folder as its working
directory. :meth:`EmbeddedService.ensure` reuses the running server and otherwise starts one
detached from the caller (it outlives kernels and CLI runs), under the lock, so several
processes starting at once end up with exactly one server. The promises:

- a server is declared dead only when its process is gone: one that answers with an error
  (Redis' MISCONF on a full disk) or not at all is never killed or replaced by ``ensure``;
- every server started is recorded in the state file before anything else can fail, and a
  start that fails stops what it started;
- :meth:`EmbeddedService.stop` (``services down``) stops the recorded server and every other
  server working in the service folder (what a failed start or a lost state file left);
- an operating-system error (a full disk, a folder that cannot be written) is one
  :class:`ServiceError` line naming the data dir.

A service implements :meth:`~EmbeddedService._argv` (or :meth:`~EmbeddedService._launch`, for
a server that daemonizes itself: it returns the server's pid), :meth:`~EmbeddedService._probe`
(or the plain :meth:`~EmbeddedService._answers`), and names its executables in
:attr:`~EmbeddedService.server_names` (or overrides :meth:`~EmbeddedService._is_server`); its
server must work in the service folder (or below it), which is how strays are found.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.files import private_dir, tighten, touch_private, write_private
from ohlcv_workbench.settings import Settings

from .processes import OsProcess, inspect, pid_alive, processes_in, spawn_detached, start_ticks
from .processes import terminate as terminate_process

__all__ = [
    "START_TIMEOUT",
    "EmbeddedService",
    "Health",
    "Probe",
    "ServiceState",
    "ServiceStatus",
    "free_port",
]

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServiceState:
    """What the state file records of a server: its process (pid and start time), its port."""

    name: str
    pid: int
    host: str
    port: int
    started_at: str
    extra: dict[str, Any] = field(default_factory=dict)
    #: the process' start time (clock ticks after boot): a reused pid is not this server
    pid_started: int | None = None


class Health(enum.Enum):
    """What a server's health check found."""

    UP = "up"  # answers as it should
    FAULTY = "faulty"  # answers, with an error (e.g. MISCONF): alive, never replaced
    SILENT = "silent"  # does not answer (yet)
    MISMATCH = "mismatch"  # answers, but runs another configuration: replaced on purpose


@dataclass(frozen=True)
class Probe:
    """A health check's outcome and what it saw."""

    health: Health
    detail: str = ""


@dataclass(frozen=True)
class ServiceStatus:
    """The answer to ``services status`` for one service.

    ``running``: its recorded process exists; ``healthy``: it also answers as it should;
    ``strays``: pids of other servers working in the service folder (left by a failed start).
    """

    name: str
    running: bool
    state: ServiceState | None
    detail: str
    healthy: bool = False
    strays: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "running": self.running,
            "healthy": self.healthy,
            "detail": self.detail,
            "strays": list(self.strays),
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


def _reason(exc: OSError) -> str:
    """An OSError as ``No space left on device (path)``: its text without the errno noise."""
    text = exc.strerror or str(exc)
    return f"{text} ({exc.filename})" if exc.filename else text


class EmbeddedService:
    """A server the workbench starts on demand and every local process shares.

    ``start_timeout``: seconds a new server has to answer its health check.
    """

    name: str
    start_timeout: float = START_TIMEOUT

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.directory = self.settings.data_dir / "services" / self.name
        self.state_path = self.directory / "state.json"
        self.lock_path = self.directory / "lock"
        self.log_path = self.directory / f"{self.name}.log"

    #: file names of this service's server executables: how a stray server is recognised
    server_names: tuple[str, ...] = ()

    # -- implemented by each service -------------------------------------------------------
    def _argv(self, port: int) -> list[str]:
        """The server's command line (it runs in :attr:`directory`); or override _launch."""
        raise NotImplementedError(f"{type(self).__name__} implements _argv or _launch")

    def _launch(self, port: int) -> int:
        """Start the server detached on ``port``; its pid, at once (before it is ready).

        Services whose server daemonizes itself override this and return the server's pid.
        """
        return spawn_detached(
            self._argv(port), cwd=self.directory, log_path=self.log_path, env=self._env()
        )

    def _probe(self, state: ServiceState) -> Probe:
        """The health check of the server described by ``state`` (quick; never raises).

        By default UP when :meth:`_answers` says so, else SILENT; a service that can tell an
        error answer (FAULTY) or another configuration (MISMATCH) overrides this instead.
        """
        return Probe(Health.UP) if self._answers(state) else Probe(Health.SILENT, "no answer")

    def _answers(self, state: ServiceState) -> bool:
        """True when the server answers its health check (or override :meth:`_probe`)."""
        raise NotImplementedError(f"{type(self).__name__} implements _probe or _answers")

    def _is_server(self, proc: OsProcess) -> bool:
        """True when ``proc`` (working in :attr:`directory`) is a server of this service:
        by default, when its executable is one of :attr:`server_names`."""
        return proc.name in self.server_names

    def _shutdown(self, state: ServiceState) -> None:
        """Ask the server to exit (SIGTERM unless the service knows better)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)

    def _extra(self) -> dict[str, Any]:
        return {}

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    # -- shared mechanics ------------------------------------------------------------------
    @contextlib.contextmanager
    def _os_errors(self, action: str) -> Iterator[None]:
        """OSError -> one ServiceError line naming the data dir."""
        try:
            yield
        except OSError as exc:
            raise ServiceError(
                f"cannot {action} the embedded {self.name} of data dir "
                f"{self.settings.data_dir}: {_reason(exc)}"
            ) from exc

    def _make_directory(self) -> None:
        private_dir(self.directory)
        tighten(self.directory.parent, recursive=False)
        tighten(self.directory)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._make_directory()
        touch_private(self.lock_path)
        with open(self.lock_path, encoding="utf-8") as lock:
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
        write_private(self.state_path, json.dumps(asdict(state), indent=2))

    def _alive(self, state: ServiceState) -> bool:
        """The recorded server's process still exists (the same process, not a reused pid)."""
        if state.pid_started is not None:
            return pid_alive(state.pid, state.pid_started)
        # a state file of an older version, or no procfs: check what the pid runs, if we can
        proc = inspect(state.pid)
        return self._is_server(proc) if proc is not None else pid_alive(state.pid)

    def running_state(self) -> ServiceState | None:
        """The state of the running server, or None when it is not up and answering."""
        state = self.read_state()
        if state is not None and self._alive(state) and self._probe(state).health is Health.UP:
            return state
        return None

    def strays(self, recorded: ServiceState | None = None) -> list[OsProcess]:
        """Servers working in the service folder other than the recorded one."""
        if recorded is None:
            recorded = self.read_state()
        return [
            proc
            for proc in processes_in(self.directory)
            if self._is_server(proc)
            and not (recorded is not None and proc.pid == recorded.pid and self._alive(recorded))
        ]

    def ensure(self) -> ServiceState:
        """The running server, started if there is none; exactly one wins a start race.

        Raises ServiceError when it cannot be started, or when its process runs but does not
        answer (it is left alone: ``services down`` stops it).
        """
        state = self.running_state()
        if state is not None:
            return state
        with self._os_errors("start"), self._locked():
            return self._ensure_locked()

    def _ensure_locked(self) -> ServiceState:
        previous = self.read_state()
        probe = None
        if previous is not None and self._alive(previous):
            probe = self._wait_for_answer(previous, self.start_timeout)
        if previous is not None and probe is not None and self._alive(previous):
            if probe.health is Health.UP:
                return previous
            if probe.health is Health.FAULTY:
                log.warning(
                    "the embedded %s (pid %s) of data dir %s answers with an error: %s",
                    self.name, previous.pid, self.settings.data_dir, probe.detail,
                )  # fmt: skip
                return previous
            if probe.health is Health.SILENT:
                raise ServiceError(
                    f"the embedded {self.name} of data dir {self.settings.data_dir} runs (pid "
                    f"{previous.pid}) but does not answer on {previous.host}:{previous.port}: "
                    f"{probe.detail or 'no answer'}; `ohlcv-workbench services down` stops it"
                )
            log.info("replacing the embedded %s: %s", self.name, probe.detail)
            self._stop_process(previous)
        for stray in self.strays(previous):  # left by a failed start: it would be in the way
            log.warning("stopping a stray %s server (pid %s) in %s", self.name, stray.pid,
                        self.directory)  # fmt: skip
            terminate_process(stray.pid, 0.0, STOP_TIMEOUT, stray.started)
        return self._start(previous)

    def _start(self, previous: ServiceState | None) -> ServiceState:
        port = free_port(previous.port if previous else None)
        self._prepare(port)
        pid = self._launch(port)
        try:  # recorded before anything else can fail: a failed start never orphans it
            state = ServiceState(
                name=self.name,
                pid=pid,
                host="127.0.0.1",
                port=port,
                started_at=datetime.now(UTC).isoformat(),
                extra=self._extra(),
                pid_started=start_ticks(pid),
            )
            self._write_state(state)
            probe = self._wait_for_answer(state, self.start_timeout, started=True)
            if probe.health is not Health.UP:
                raise ServiceError(self._start_failure(state, probe))
        except BaseException:
            terminate_process(pid, 0.0, STOP_TIMEOUT)
            with contextlib.suppress(OSError):
                self.state_path.unlink(missing_ok=True)
            raise
        log.info("started %s (pid %s) on 127.0.0.1:%s", self.name, pid, port)
        return state

    def _prepare(self, port: int) -> None:
        """Write what the server needs before it starts (a config file...); nothing here."""

    def _wait_for_answer(
        self, state: ServiceState, timeout: float, *, started: bool = False
    ) -> Probe:
        """Probe until UP (or, for a server not started here, any answer) or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            probe = self._probe(state)
            if probe.health is Health.UP or (not started and probe.health is not Health.SILENT):
                return probe
            if not self._alive(state):
                return Probe(Health.SILENT, "its process ended")
            if time.monotonic() > deadline:
                return probe
            time.sleep(0.02)

    def _start_failure(self, state: ServiceState, probe: Probe) -> str:
        if not self._alive(state):
            what = "exited while starting"
        elif probe.health is Health.SILENT:
            what = f"did not answer within {self.start_timeout:.0f} s"
        else:
            what = f"answered with an error ({probe.detail})"
        return (
            f"the embedded {self.name} of data dir {self.settings.data_dir} {what}: "
            f"{self._log_line()} (log: {self.log_path})"
        )

    def stop(self) -> bool:
        """Stop the server and any stray one; True when one was running (``services down``)."""
        return bool(self.stop_servers())

    def stop_servers(self) -> list[int]:
        """Stop the recorded server and every stray server of the folder; their pids."""
        if not self.directory.exists():
            return []
        with self._os_errors("stop"), self._locked():
            state = self.read_state()
            stopped: list[int] = []
            if state is not None and self._alive(state):
                self._stop_process(state)
                stopped.append(state.pid)
            for stray in self.strays(None):
                if terminate_process(stray.pid, 0.0, STOP_TIMEOUT, stray.started):
                    stopped.append(stray.pid)
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
            return stopped

    def _stop_process(self, state: ServiceState) -> None:
        try:
            self._shutdown(state)
        except Exception as exc:  # noqa: BLE001 - any failure falls through to SIGKILL below
            log.warning("graceful shutdown of %s failed: %s", self.name, exc)
        terminate_process(state.pid, STOP_TIMEOUT, STOP_TIMEOUT, state.pid_started)

    def status(self) -> ServiceStatus:
        """Whether the server runs and answers, with its state and any stray servers."""
        state = self.read_state()
        strays = tuple(p.pid for p in self.strays(state)) if self.directory.exists() else ()
        note = (
            f"; {len(strays)} stray server(s) (pids {', '.join(map(str, strays))}): "
            "`ohlcv-workbench services down` stops them"
            if strays
            else ""
        )
        if state is None:
            return ServiceStatus(self.name, False, None, "not started" + note, strays=strays)
        if not self._alive(state):
            return ServiceStatus(self.name, False, state, f"pid {state.pid} is gone{note}",
                                 strays=strays)  # fmt: skip
        probe = self._probe(state)
        where = f"pid {state.pid} on {state.host}:{state.port}"
        if probe.health is Health.UP:
            return ServiceStatus(self.name, True, state, where + note, True, strays)
        detail = {
            Health.FAULTY: "answers with an error",
            Health.SILENT: "does not answer",
            Health.MISMATCH: "runs another configuration",
        }[probe.health]
        text = f"{where} {detail}" + (f": {probe.detail}" if probe.detail else "")
        return ServiceStatus(self.name, True, state, text + note, False, strays)

    def _log_line(self) -> str:
        """The last line of the server's log that says something."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        meaningful = [line.strip() for line in lines if line.strip()]
        return meaningful[-1] if meaningful else "(empty log)"
