"""Generated passwords of the embedded services, each kept in a 0600 file of its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .base import EmbeddedService

__all__ = ["PasswordService", "password_file"]


def password_file(path: Path, make_directory: Callable[[], None]) -> str:
    """The password in ``path``; generated (URL-safe, 32 characters) into a new 0600 file,
    after ``make_directory()``, when there is none. Of two processes creating it at once, the
    loser reads the winner's."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    make_directory()
    secret = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its password
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret)
    return secret


class PasswordService(EmbeddedService):
    """An embedded service whose server requires a password generated for it."""

    @property
    def password_path(self) -> Path:
        """The 0600 file holding the generated password."""
        return self.directory / "password"

    def password(self) -> str:
        """The server's password, generated on first use and kept in a 0600 file."""
        with self._os_errors("create the password of"):
            return password_file(self.password_path, self._make_directory)
