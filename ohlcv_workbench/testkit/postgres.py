"""Throw-away PostgreSQL databases on a server (the embedded one, in tests and notebooks)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

__all__ = ["scratch_database"]


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str = "scratch") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (any database of it), dropped
    (its connections closed) when the block ends; yields its URL. Its commits do not wait for
    the disk (``synchronous_commit off``): nothing in it is meant to outlive a crash."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(ident))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
