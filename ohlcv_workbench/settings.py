"""One settings object, read from the environment, that rejects unknown or malformed values.

Every variable starts with ``OHLCV_WORKBENCH_``; a typo such as ``OHLCV_WORKBENCH_DATADIR``
raises a :class:`ConfigError` naming it and the valid names, instead of being ignored.
fullon's ``REDIS_HOST`` / ``REDIS_PORT`` / ``REDIS_DB`` / ``REDIS_PASSWORD`` are honoured so the
workbench joins an existing fullon Redis, and fullon_ohlcv's ``DB_HOST`` / ``DB_PORT`` /
``DB_USER`` / ``DB_PASSWORD`` / ``DB_OHLCV_NAME`` so it opens fullon's candle database (when
``DB_OHLCV_NAME`` is set and ``OHLCV_WORKBENCH_STORE_URL`` is not).

The store URL is ``sqlite:///path`` (the default, in the data dir), ``postgresql://...`` (any
PostgreSQL, in fullon_ohlcv's layout) or :data:`EMBEDDED_POSTGRES` (``postgresql+embedded://``,
optionally ``postgresql+embedded:///dbname``): the PostgreSQL server the workbench runs itself
under the data dir.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from .errors import ConfigError

__all__ = [
    "EMBEDDED_POSTGRES",
    "FULLON_VARIABLES",
    "PREFIX",
    "RedisSource",
    "Settings",
    "StoreSource",
    "mask_url",
]

PREFIX = "OHLCV_WORKBENCH_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis", "rediss", "unix")
#: the store URL that asks for the embedded PostgreSQL server (database ``ohlcv``)
EMBEDDED_POSTGRES = "postgresql+embedded://"
EMBEDDED_DATABASE = "ohlcv"
POSTGRES_SCHEMES = ("postgresql", "postgres")
#: SQLAlchemy's driver spellings (fullon's URLs carry one): the driver part is ignored
POSTGRES_DRIVERS = ("psycopg", "psycopg2", "asyncpg")
STORE_SCHEMES = (
    "sqlite",
    *POSTGRES_SCHEMES,
    *(f"{s}+{d}" for s in POSTGRES_SCHEMES for d in POSTGRES_DRIVERS),
    "postgresql+embedded",
)
SIM_SCHEMES = ("http",)
#: fullon's variables the workbench reads (and a test run clears)
FULLON_VARIABLES = (
    "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD",
    "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_OHLCV_NAME",
)  # fmt: skip
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

RedisSource = Literal["embedded", "url", "fullon"]
StoreSource = Literal["default", "url", "fullon", "embedded"]


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (editable install), if any."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        if 'name = "ohlcv_workbench"' in pyproject.read_text(encoding="utf-8"):
            return root
    except OSError:
        return None
    return None


def default_data_dir() -> Path:
    """``data/`` of the source checkout when running from one, else ``./data``."""
    root = _checkout_root()
    return (root / "data") if root else (Path.cwd() / "data")


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={raw!r} is not valid: expected a positive number of seconds")
    return value


def _int_in(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not valid: expected an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is not valid: expected {low}..{high}")
    return value


#: how the valid store URLs are shown in errors (the driver spellings are left out)
STORE_FORMS = "sqlite:///path, postgresql://user:password@host:port/dbname or " + EMBEDDED_POSTGRES


#: ``scheme://user:PASSWORD@``: the password runs to the last ``@`` (it may hold ``:`` or ``/``)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)(?P<secret>.*)@")
#: ``?password=...`` / ``&password=...`` (redis-py reads a password from the query too)
_QUERY_SECRET = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&#]*)", re.IGNORECASE)
MASK = "***"


def _secrets(text: str) -> list[str]:
    found = [m.group("secret") for m in (_USERINFO.search(text), _QUERY_SECRET.search(text)) if m]
    return [secret for secret in found if secret]


def mask_url(text: str) -> str:
    """``text`` with the passwords of the URLs in it replaced by ``***`` (for output and logs).

    ``redis://:s3cret@host:6379/0`` -> ``redis://:***@host:6379/0``; also ``?password=``.
    """
    masked = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", masked)


def _url(name: str, raw: str, schemes: tuple[str, ...], forms: str | None = None) -> str:
    shown = repr(mask_url(raw))  # errors name the value, never its password
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        # urllib's reason may quote part of a password that holds "/", "?" or "#"
        detail = (
            "it cannot be parsed (percent-encode characters such as / ? # @ in the password)"
            if _secrets(raw)
            else str(exc)
        )
        raise ConfigError(f"{name}={shown} is not a valid URL: {detail}") from None
    if parts.scheme not in schemes:
        valid = forms or ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{name}={shown} is not valid: the scheme must be one of {valid}")
    if parts.scheme in ("redis", "rediss", "http") and not parts.hostname:
        raise ConfigError(f"{name}={shown} is not valid: it names no host")
    if parts.scheme in ("unix", "sqlite") and not parts.path:
        raise ConfigError(f"{name}={shown} is not valid: it names no path")
    if parts.scheme == "postgresql+embedded":
        embedded_database(raw, name)
    return raw


def embedded_database(url: str, name: str = "the store URL") -> str:
    """The database an embedded-PostgreSQL URL names (``ohlcv`` by default).

    ``postgresql+embedded://`` or ``postgresql+embedded:///dbname``: the workbench chooses the
    server's address, user and password, so a URL naming any of them is refused.
    """
    parts = urlsplit(url)
    if parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"{name}={url!r} is not valid: the embedded PostgreSQL takes no host, user, "
            f"password or options (its address and password are the workbench's); use "
            f"{EMBEDDED_POSTGRES} or {EMBEDDED_POSTGRES}/dbname"
        )
    database = parts.path.lstrip("/") or EMBEDDED_DATABASE
    if not _DATABASE_NAME.fullmatch(database):
        raise ConfigError(
            f"{name}={url!r} is not valid: database name {database!r} must be a letter or _ "
            "followed by up to 62 letters, digits or _"
        )
    return database


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}={raw!r} is not valid: expected one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class Settings:
    """The workbench's configuration (see the README's configuration table).

    Build it with :meth:`from_env`; construct it directly in tests.
    """

    data_dir: Path
    redis_url: str | None = None
    store_url: str | None = None
    heartbeat_interval: float = 2.0
    log_level: str = "WARNING"
    sim_url: str | None = None
    sim_seed: int = 7
    redis_source: RedisSource = "embedded"
    store_source: StoreSource = "default"

    def __repr__(self) -> str:
        """The fields, with the passwords in URLs masked (settings get printed and logged)."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            text = repr(mask_url(value)) if isinstance(value, str) else repr(value)
            shown.append(f"{f.name}={text}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to SQLite in the data dir (may be :data:`EMBEDDED_POSTGRES`,
        which :func:`~ohlcv_workbench.store.open_store` resolves to the embedded server)."""
        return self.store_url or f"sqlite:///{self.data_dir / 'ohlcv.sqlite'}"

    @property
    def uses_embedded_postgres(self) -> bool:
        """True when the store is the PostgreSQL server the workbench runs itself."""
        return urlsplit(self.resolved_store_url).scheme == "postgresql+embedded"

    @property
    def stale_after(self) -> float:
        """Seconds without a heartbeat after which a process is shown as STALE."""
        return 3 * self.heartbeat_interval

    @property
    def uses_embedded_redis(self) -> bool:
        """True when the workbench runs its own Redis server."""
        return self.redis_source == "embedded"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raise ConfigError for an unknown or malformed variable."""
        env = os.environ if environ is None else environ
        known = {f"{PREFIX}{name.upper()}" for name in _PARSERS}
        for key in env:
            if key.startswith(PREFIX) and key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise ConfigError(
                    f"Unknown setting {key}.{hint} Valid settings: {', '.join(sorted(known))}"
                )
        values: dict[str, object] = {}
        for name, parse in _PARSERS.items():
            key = f"{PREFIX}{name.upper()}"
            raw = env.get(key)
            if raw is not None and raw.strip() != "":
                values[name] = parse(key, raw.strip())
        values.setdefault("data_dir", default_data_dir())
        if "redis_url" in values:
            values["redis_source"] = "url"
        else:
            fullon = _fullon_redis_url(env)
            if fullon is not None:
                values["redis_url"] = fullon
                values["redis_source"] = "fullon"
        store = values.get("store_url")
        if store is None:
            store = _fullon_store_url(env)
            if store is not None:
                values["store_url"] = store
                values["store_source"] = "fullon"
        elif isinstance(store, str):
            embedded = urlsplit(store).scheme == "postgresql+embedded"
            values["store_source"] = "embedded" if embedded else "url"
        return cls(**values)  # type: ignore[arg-type]


def _data_dir(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}={raw!r} is not valid: it exists and is not a directory")
    return path.resolve()


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "data_dir": _data_dir,
    "redis_url": lambda n, r: _url(n, r, REDIS_SCHEMES),
    "store_url": lambda n, r: _url(n, r, STORE_SCHEMES, STORE_FORMS),
    "heartbeat_interval": _positive_float,
    "log_level": _log_level,
    "sim_url": lambda n, r: _url(n, r, SIM_SCHEMES).rstrip("/"),
    "sim_seed": lambda n, r: _int_in(n, r, 0, 2**63 - 1),
}
assert set(_PARSERS) <= {f.name for f in fields(Settings)}


def _fullon_redis_url(env: Mapping[str, str]) -> str | None:
    """fullon_cache's REDIS_HOST / REDIS_PORT / REDIS_DB / REDIS_PASSWORD, as a URL."""
    host = env.get("REDIS_HOST", "").strip()
    port_raw = env.get("REDIS_PORT", "").strip()
    if not host and not port_raw:
        return None
    port = _int_in("REDIS_PORT", port_raw, 1, 65535) if port_raw else 6379
    db_raw = env.get("REDIS_DB", "").strip()
    db = _int_in("REDIS_DB", db_raw, 0, 1_000_000) if db_raw else 0
    password = env.get("REDIS_PASSWORD", "")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host or 'localhost'}:{port}/{db}"


def _fullon_store_url(env: Mapping[str, str]) -> str | None:
    """fullon_ohlcv's DB_HOST / DB_PORT / DB_USER / DB_PASSWORD / DB_OHLCV_NAME, as a URL.

    Used only when ``DB_OHLCV_NAME`` is set (``DB_HOST`` alone may serve fullon's other
    database); host ``localhost``, port 5432 and user ``postgres`` by default.
    """
    database = env.get("DB_OHLCV_NAME", "").strip()
    if not database:
        return None
    host = env.get("DB_HOST", "").strip() or "localhost"
    port_raw = env.get("DB_PORT", "").strip()
    port = _int_in("DB_PORT", port_raw, 1, 65535) if port_raw else 5432
    user = env.get("DB_USER", "").strip() or "postgres"
    password = env.get("DB_PASSWORD", "")
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"postgresql://{auth}@{netloc}:{port}/{quote(database, safe='')}"
