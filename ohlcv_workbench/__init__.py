"""ohlcv_workbench: collect and explore crypto OHLCV candles from a notebook.

The public surface is what ``__all__`` lists; everything else is an implementation module.
"""

from .errors import (
    ConfigError,
    ExchangeError,
    InputError,
    InvalidDataError,
    InvalidTimeRangeError,
    PermanentExchangeError,
    RateLimitedError,
    RegistryError,
    RegistryUnavailableError,
    SeriesBusyError,
    ServiceError,
    StoreError,
    TemporaryExchangeError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    WorkbenchError,
)
from .records import CandleBatch, OhlcvRow, PublicTrade, SeriesKey
from .settings import Settings
from .timeframes import Timeframe, timeframe

__version__ = "0.1.0"

__all__ = [
    "CandleBatch",
    "ConfigError",
    "ExchangeError",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "OhlcvRow",
    "PermanentExchangeError",
    "PublicTrade",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "SeriesBusyError",
    "SeriesKey",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "Timeframe",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "WorkbenchError",
    "timeframe",
]
