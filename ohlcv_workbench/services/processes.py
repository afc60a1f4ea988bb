"""Process helpers the embedded services share (and leases use to spot a dead holder).

A process is named by its pid *and* its start time (``/proc/{pid}/stat``), so a pid reused by
an unrelated program after a crash is never taken for a server of ours. :func:`processes_in`
finds the processes working in a folder (the embedded servers run in their service folder),
which is how servers that no state file names are found again. :func:`spawn_detached` starts
a server that is nobody's child here and writes private files only.

Nothing here starts a server on import: importing this module is cheap and has no side effect.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = [
    "OsProcess",
    "descendants",
    "inspect",
    "interrupt_on_sigterm",
    "pid_alive",
    "processes_in",
    "reap",
    "spawn_detached",
    "start_ticks",
    "terminate",
    "terminate_all",
]

#: seconds between checks while waiting for a process to exit
_POLL = 0.02
_DELETED = " (deleted)"

#: started through a launcher that exits at once, so the server is nobody's child here: no
#: zombie when it stops, and no "subprocess is still running" ResourceWarning at our exit.
#: The server gets umask 077 (its files are private) and appends its output to a 0600 log.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "os.umask(0o077)\n"
    "log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
    "child = subprocess.Popen(sys.argv[3:], cwd=sys.argv[2], stdin=subprocess.DEVNULL,"
    " stdout=log, stderr=log, start_new_session=True)\n"
    "print(child.pid, flush=True)\n"
    "os._exit(0)\n"
)


@dataclass(frozen=True)
class OsProcess:
    """A running process as the kernel shows it: pid, start time (clock ticks after boot),
    working directory (``deleted`` when it was removed), executable and argv."""

    pid: int
    started: int
    cwd: str
    deleted: bool
    exe: str
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        """The executable's file name (``valkey-server``, ``python3.11``...)."""
        return os.path.basename(self.exe)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), None when it does not exist (or no procfs)."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def pid_alive(pid: int, started: int | None = None) -> bool:
    """True when a process with this pid exists (and is not a zombie).

    With ``started`` (from :func:`start_ticks`), only when it is that very process.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return started is None
    fields = _stat_fields(pid)
    if fields is None:  # pragma: no cover - no procfs: trust kill(0)
        return True
    if fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def inspect(pid: int) -> OsProcess | None:
    """What the kernel shows of ``pid`` (None when it is gone or not ours to read)."""
    started = start_ticks(pid)
    if started is None:
        return None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(_DELETED)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = tuple(a.decode(errors="replace") for a in fh.read().split(b"\0") if a)
    except OSError:
        return None
    deleted = cwd.endswith(_DELETED)
    return OsProcess(pid, started, cwd.removesuffix(_DELETED), deleted, exe, argv)


def processes_in(directory: Path, *, include_deleted: bool = True) -> list[OsProcess]:
    """Every process (of ours) whose working directory is ``directory`` or below it.

    A folder that was removed still names its processes (as ``... (deleted)``); they are
    included unless ``include_deleted`` is false.
    """
    root = str(directory.resolve() if directory.exists() else directory.absolute())
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        proc = inspect(int(entry))
        if proc is None or (proc.deleted and not include_deleted):
            continue
        if proc.cwd == root or proc.cwd.startswith(root.rstrip("/") + "/"):
            found.append(proc)
    return found


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children...) that still exist."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    for entry in entries:
        fields = _stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt (as SIGINT does), so ``finally`` and ``with`` blocks
    stop what they started; returns the function that restores the previous handler.

    Does nothing (and restores nothing) off the main thread or when SIGTERM is handled already.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return lambda: None
    signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is a child of ours that has ended (no zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(
    pid: int, grace: float = 0.0, term_wait: float = 10.0, started: int | None = None
) -> bool:
    """Wait ``grace`` seconds for ``pid`` to exit, then SIGTERM (``term_wait`` s), then SIGKILL.

    With ``started``, only that very process is signalled (not a later one with its pid).
    Returns True once the process is gone (False only if even SIGKILL did not end it).
    """
    return terminate_all({pid: started}, grace, term_wait)


def terminate_all(
    processes: Mapping[int, int | None], grace: float = 0.0, term_wait: float = 10.0
) -> bool:
    """:func:`terminate` for several processes at once (pid -> start time or None).

    Each step signals every process still there, then waits for all of them together.
    """

    def remaining() -> dict[int, int | None]:
        return {pid: t for pid, t in processes.items() if pid_alive(pid, t)}

    for sig, wait in ((None, grace), (signal.SIGTERM, term_wait), (signal.SIGKILL, 2.0)):
        if sig is not None:
            for pid in remaining():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while remaining() and time.monotonic() < deadline:
            for pid in processes:
                reap(pid)
            time.sleep(_POLL)
        if not remaining():
            break
    for pid in processes:
        reap(pid)
    return not remaining()


def spawn_detached(
    argv: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> int:
    """Start ``argv`` in ``cwd``, in a session of its own, output appended to ``log_path``.

    Returns its pid at once (before it is ready). OSError when it could not be started, with
    the launcher's last line as the message.
    """
    try:
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(log_path), str(cwd), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=dict(os.environ if env is None else env),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:  # what it may have started works in cwd: a stray
        raise OSError(f"could not launch {argv[0]}: no answer within {timeout:.0f} s") from None
    pid = launched.stdout.strip()
    if launched.returncode != 0 or not pid.isdigit():
        lines = launched.stderr.strip().splitlines() or [f"exit status {launched.returncode}"]
        raise OSError(f"could not launch {argv[0]}: {lines[-1]}")
    return int(pid)
