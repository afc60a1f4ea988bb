"""Private files and folders: what the workbench writes under its data dir is its user's alone.

Folders are created 0700 and files 0600 whatever the umask (the store, the embedded servers'
state, logs, persistence, locks and password), so other local users read none of it.
:func:`tighten` narrows what an older version created wider; a folder that grants others only
its search bit (0701) is left so: the embedded PostgreSQL's server account passes it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "private_dir",
    "tighten",
    "touch_private",
    "write_private",
]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: the others' search bit alone, on a folder another account must pass (never to list it)
SEARCH_ONLY = 0o001


def private_dir(path: Path) -> Path:
    """``mkdir -p path`` where every folder created is 0700; returns ``path``."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            folder.mkdir(mode=PRIVATE_DIR)
            os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is narrowed by the umask only
    return path


def touch_private(path: Path) -> Path:
    """Create ``path`` empty and 0600 unless it exists; returns ``path``."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` in a 0600 file (a reader sees old or new)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None:  # a failed write names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def tighten(path: Path, *, recursive: bool = True) -> None:
    """Make ``path`` (and, for a folder, what is in it) private when it is ours and wider."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode):
        return
    wanted = PRIVATE_DIR if stat.S_ISDIR(info.st_mode) else PRIVATE_FILE
    if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077 == SEARCH_ONLY:
        pass  # 0701 on purpose: the embedded PostgreSQL's account passes it (see postgres_server)
    elif stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & wanted)
    if recursive and stat.S_ISDIR(info.st_mode):
        for child in path.iterdir():
            tighten(child)
