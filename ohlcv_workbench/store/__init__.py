"""The candle and trade store: an interface, its SQLite and PostgreSQL backends, validation
and quality.

::

    with open_store() as store:                      # sqlite:///{data_dir}/ohlcv.sqlite
        key = SeriesKey("binance", "BTC/USDT", "1m")
        store.ohlcv_store(key, batch.closed_only())  # UpsertResult(inserted, updated, unchanged)
        hourly = store.ohlcv_load(key, "2024-01-01", "2025-01-01", timeframe="1h")

fullon_ohlcv users find its surface here as thin adapters over the same store:
``Candle``, ``Trade``, ``CandleRepository`` and ``TimeseriesRepository`` (see :mod:`.fullon`).

``open_store`` picks the backend from the URL: ``sqlite:///path`` (relative or absolute, as
SQLAlchemy spells it); ``postgresql://user:password@host:port/dbname`` (:class:`PostgresStore`,
fullon_ohlcv's layout; ``postgres://`` and SQLAlchemy's ``postgresql+asyncpg://`` spellings
too); ``postgresql+embedded://[/dbname]``, the PostgreSQL server the workbench runs itself
(started when needed, see :mod:`ohlcv_workbench.services.postgres_server`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ohlcv_workbench._lazy import lazy_exports
from ohlcv_workbench.errors import ConfigError
from ohlcv_workbench.settings import POSTGRES_SCHEMES, STORE_FORMS, Settings, mask_url

from .base import CandleStore, ohlcv_frame
from .fullon import Candle, CandleRepository, TimeseriesRepository, Trade
from .models import Coverage, Gap, SeriesInfo, Uncovered, UpsertResult
from .quality import Jump, QualityReport, find_gaps, quality_report
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = [
    "Candle",
    "CandleRepository",
    "CandleStore",
    "Coverage",
    "Gap",
    "Jump",
    "PostgresStore",
    "QualityReport",
    "SeriesInfo",
    "SqliteStore",
    "TimeseriesRepository",
    "Trade",
    "Uncovered",
    "UpsertResult",
    "find_gaps",
    "ohlcv_frame",
    "open_store",
    "quality_report",
]

_SQLITE_PREFIX = "sqlite:///"


def open_store(url_or_settings: str | Settings | None = None) -> CandleStore:
    """Open the store named by a URL, by settings (their ``resolved_store_url``) or, with no
    argument, by the environment's settings. Raises ConfigError for an unusable URL, StoreError
    when the store cannot be reached (both before anything is written).
    """
    settings = Settings.from_env() if url_or_settings is None else url_or_settings
    url = settings.resolved_store_url if isinstance(settings, Settings) else settings
    if not isinstance(url, str):
        raise ConfigError(f"store URL {url!r} is not valid: expected text such as {STORE_FORMS}")
    shown = repr(mask_url(url))  # a database URL may hold a password
    scheme, _, driver = urlsplit(url).scheme.lower().partition("+")
    if scheme in POSTGRES_SCHEMES:
        from ohlcv_workbench.services.postgres_server import store_url

        from .postgres import PostgresStore

        if driver == "embedded":
            base = settings if isinstance(settings, Settings) else Settings.from_env()
            url = store_url(replace(base, store_url=url))
        return PostgresStore(url)
    if scheme != "sqlite":
        raise ConfigError(f"store URL {shown} is not valid: expected {STORE_FORMS}")
    path = url[len(_SQLITE_PREFIX) :] if url.startswith(_SQLITE_PREFIX) else ""
    if not path or path.startswith(":memory:") or "?" in path:
        raise ConfigError(
            f"store URL {shown} is not valid: expected {_SQLITE_PREFIX}path to a file "
            "(relative, or absolute as sqlite:////abs/path); in-memory databases cannot be "
            "shared between processes"
        )
    return SqliteStore(path)


# PostgresStore is imported on first use: psycopg is not needed for SQLite
__getattr__, __dir__ = lazy_exports(__name__, {"PostgresStore": "postgres"})
