"""Reaching PostgreSQL: the URL, the first connection's clear errors, and bounded retries.

:func:`parse_url` accepts ``postgresql://`` and ``postgres://`` URLs (a SQLAlchemy driver part
such as ``postgresql+asyncpg://``, as fullon's configuration spells it, is ignored) and returns
the libpq conninfo and the URL with its password masked (what messages show).
:func:`check_connection` connects once before anything else, so a wrong password, a missing
database or an unreachable server is one StoreError naming it, before any collector
registers. :class:`StoreRetry` bounds the retries of a transaction whose connection was lost
(the server restarted, the backend was terminated): a transaction is all or nothing, so a
retry never leaves anything half-written.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ohlcv_workbench.errors import ConfigError, StoreError
from ohlcv_workbench.settings import POSTGRES_DRIVERS, POSTGRES_SCHEMES, STORE_FORMS
from ohlcv_workbench.settings import mask_url as mask

__all__ = ["StoreRetry", "check_connection", "describe", "parse_url"]

CONNECT_TIMEOUT = 5  # seconds for a connection attempt (libpq counts whole seconds)


def parse_url(url: str) -> tuple[str, str]:
    """(conninfo, masked URL) of a PostgreSQL URL; ConfigError naming what is wrong."""
    shown = mask(url)
    scheme, plus, driver = urlsplit(url).scheme.partition("+")
    if scheme not in POSTGRES_SCHEMES or (plus and driver not in POSTGRES_DRIVERS):
        raise ConfigError(f"store URL {shown!r} is not valid: expected {STORE_FORMS}")
    conninfo = f"postgresql{url[len(urlsplit(url).scheme) :]}"
    try:
        parts = urlsplit(conninfo)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
        params = conninfo_to_dict(conninfo)
    except (ValueError, psycopg.ProgrammingError) as exc:
        raise ConfigError(f"store URL {shown!r} is not valid: {exc}") from None
    if not params.get("dbname"):
        raise ConfigError(
            f"store URL {shown!r} names no database: expected "
            "postgresql://user:password@host:port/dbname"
        )
    return conninfo, shown


def describe(exc: BaseException) -> str:
    """A one-line reason of a psycopg error (libpq's text without its prefixes)."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    return re.sub(r"connection to server at (\S+), port (\d+) failed: ", "", text) or repr(exc)


def _connect_problem(exc: psycopg.Error, params: Mapping[str, object]) -> str:
    text = describe(exc)
    user, dbname = params.get("user") or "(default)", params.get("dbname")
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    if "password authentication failed" in text or "no password supplied" in text:
        return f"the server at {where} refused the password of user {user!r} ({text})"
    if re.search(r'database ".*" does not exist', text):
        return (
            f"database {dbname!r} does not exist on the server at {where} "
            f"(create it with CREATE DATABASE, or fix the URL's /dbname)"
        )
    if re.search(r'role ".*" does not exist', text):
        return f"user {user!r} does not exist on the server at {where}"
    if "Connection refused" in text or "could not connect" in text:
        return f"nothing accepts connections at {where} (is PostgreSQL running there?): {text}"
    if "timeout expired" in text:
        return f"the server at {where} did not answer within {CONNECT_TIMEOUT} s ({text})"
    if "could not translate host name" in text or "failed to resolve host" in text:
        return f"host {params.get('host')!r} is not known ({text})"
    return text


def check_connection(conninfo: str, shown: str) -> None:
    """Connect once and run ``SELECT 1``; StoreError naming what is wrong otherwise."""
    params = conninfo_to_dict(conninfo)
    try:
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot open the store {shown}: {_connect_problem(exc, params)}"
        ) from None


@dataclass(frozen=True)
class StoreRetry:
    """How a transaction whose connection failed is retried.

    ``attempts`` counts every try; ``timeout`` bounds the seconds from the first (waits
    included). The first retry is made at once (the pool's connection may simply have died
    while idle: the next one is fresh); then waits double from ``wait_initial`` up to
    ``wait_max``, plus up to 10 % jitter.
    """

    attempts: int = 8
    timeout: float = 60.0
    wait_initial: float = 0.1
    wait_max: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"StoreRetry.attempts={self.attempts}: expected at least 1")
        if min(self.timeout, self.wait_initial, self.wait_max) < 0:
            raise ValueError("StoreRetry times must not be negative")

    def wait(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure."""
        if failures <= 1:
            return 0.0
        wait = min(self.wait_max, self.wait_initial * 2.0 ** (failures - 2))
        return float(wait * (1 + random.uniform(0, 0.1)))
