"""Process helpers the embedded services share (and leases use to spot a dead holder).

Nothing here starts a server: importing this module is cheap and has no side effect.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

__all__ = ["pid_alive", "reap", "terminate"]

#: seconds between checks while waiting for a process to exit
_POLL = 0.02


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


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is a child of ours that has ended (no zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, grace: float = 0.0, term_wait: float = 10.0) -> bool:
    """Wait ``grace`` seconds for ``pid`` to exit, then SIGTERM (``term_wait`` s), then SIGKILL.

    Returns True once the process is gone (False only if even SIGKILL did not end it).
    """
    for sig, wait in ((None, grace), (signal.SIGTERM, term_wait), (signal.SIGKILL, 2.0)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(_POLL)
        if not pid_alive(pid):
            break
    reap(pid)
    return not pid_alive(pid)
