"""The candle and trade store: an interface, its SQLite backend, validation and quality.

::

    with open_store() as store:                      # sqlite:///{data_dir}/ohlcv.sqlite
        key = SeriesKey("binance", "BTC/USDT", "1m")
        store.ohlcv_store(key, batch.closed_only())  # UpsertResult(inserted, updated, unchanged)
        hourly = store.ohlcv_load(key, "2024-01-01", "2025-01-01", timeframe="1h")

fullon_ohlcv users find its surface here as thin adapters over the same store:
``Candle``, ``Trade``, ``CandleRepository`` and ``TimeseriesRepository`` (see :mod:`.fullon`).

``open_store`` picks the backend from the URL: ``sqlite:///path`` (relative or absolute, as
SQLAlchemy spells it). PostgreSQL / TimescaleDB with fullon_ohlcv's layout is planned.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ohlcv_workbench.errors import ConfigError
from ohlcv_workbench.settings import Settings, mask_url

from .base import CandleStore, ohlcv_frame
from .fullon import Candle, CandleRepository, TimeseriesRepository, Trade
from .models import Coverage, Gap, SeriesInfo, Uncovered, UpsertResult
from .quality import Jump, QualityReport, find_gaps, quality_report
from .sqlite import SqliteStore

__all__ = [
    "Candle",
    "CandleRepository",
    "CandleStore",
    "Coverage",
    "Gap",
    "Jump",
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

_PLANNED = ("postgresql", "postgres", "timescaledb", "timescale")
_SQLITE_PREFIX = "sqlite:///"


def open_store(url_or_settings: str | Settings | None = None) -> CandleStore:
    """Open the store named by a URL, by settings (their ``resolved_store_url``) or, with no
    argument, by the environment's settings. Raises ConfigError for an unusable URL.
    """
    if url_or_settings is None:
        url_or_settings = Settings.from_env()
    url = (
        url_or_settings.resolved_store_url
        if isinstance(url_or_settings, Settings)
        else url_or_settings
    )
    if not isinstance(url, str):
        raise ConfigError(f"store URL {url!r} is not valid: expected text such as sqlite:///path")
    shown = repr(mask_url(url))  # a database URL may hold a password
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme in _PLANNED:
        raise ConfigError(
            f"store URL {shown}: the PostgreSQL/TimescaleDB backend is planned but not available "
            f"yet; use {_SQLITE_PREFIX}path"
        )
    if scheme != "sqlite":
        raise ConfigError(f"store URL {shown} is not valid: expected {_SQLITE_PREFIX}path")
    path = url[len(_SQLITE_PREFIX) :] if url.startswith(_SQLITE_PREFIX) else ""
    if not path or path.startswith(":memory:") or "?" in path:
        raise ConfigError(
            f"store URL {shown} is not valid: expected {_SQLITE_PREFIX}path to a file "
            "(relative, or absolute as sqlite:////abs/path); in-memory databases cannot be "
            "shared between processes"
        )
    return SqliteStore(path)
