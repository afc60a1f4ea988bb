"""A socket guard: any connection or name lookup that would leave loopback raises."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

__all__ = ["NonLoopbackConnectionError", "loopback_only"]

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NonLoopbackConnectionError(ConnectionRefusedError):
    """Raised when code under test tries to reach beyond 127.0.0.1."""


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise NonLoopbackConnectionError(f"test tried to connect to {address!r}: loopback only")


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse every non-loopback connect and DNS lookup inside the block.

    Yields the list of refused targets, so a test can assert nothing was attempted.
    """
    refused: list[str] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        try:
            _check(self, address)
        except NonLoopbackConnectionError:
            refused.append(repr(address))
            raise
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        try:
            _check(self, address)
        except NonLoopbackConnectionError:
            refused.append(repr(address))
            raise
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            refused.append(repr(host))
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not loopback (test guard)")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo
