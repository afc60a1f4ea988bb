"""The workbench's exceptions: one small tree, every error a ``WorkbenchError``.

::

    WorkbenchError
    ├── ConfigError (ValueError)            bad setting, environment variable or URL
    ├── InputError (ValueError)             bad argument from a caller; nothing was started
    │   ├── UnknownExchangeError            exchange id not known to ccxt (lists close matches)
    │   ├── UnknownSymbolError              symbol not in the exchange's markets
    │   │   └── InactiveSymbolError         listed, but not trading (Binance BREAK/HALT)
    │   ├── UnsupportedTimeframeError       timeframe not offered by the exchange
    │   └── InvalidTimeRangeError           since in the future, until <= since, ...
    ├── ServiceError                        an embedded service (Redis, simulator) failed
    ├── ExchangeError                       the exchange answered badly (translated from ccxt)
    │   ├── TemporaryExchangeError          network, timeout, 429, 5xx: retried with backoff
    │   │   └── RateLimitedError            429, carries ``retry_after`` seconds
    │   │       └── BannedError             418: the IP is banned; every collector pauses
    │   └── PermanentExchangeError          bad symbol, bad request, auth: never retried
    ├── StoreError                          the candle store failed
    │   ├── TemporaryStoreError             busy (a lock held elsewhere) or unreachable for now:
    │   │                                   collectors retry it with backoff, bounded
    │   └── InvalidDataError (ValueError)   rows rejected by validation, with reasons
    └── RegistryError                       the process registry (Redis) failed
        ├── RegistryUnavailableError        Redis cannot be reached
        └── SeriesBusyError                 the series is collected elsewhere (names holder)

ccxt errors are translated once, at the exchange boundary; only temporary errors are retried.
A ban is not retried as a failed request: every request to that exchange waits until it ends.
Every store backend raises TemporaryStoreError for what waiting can fix (SQLite: a write lock
another process holds; a database server: a lost connection), StoreError otherwise.
"""

from __future__ import annotations

__all__ = [
    "BannedError",
    "ConfigError",
    "ExchangeError",
    "InactiveSymbolError",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "PermanentExchangeError",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "SeriesBusyError",
    "ServiceError",
    "StoreError",
    "TemporaryExchangeError",
    "TemporaryStoreError",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base of every error raised by ohlcv_workbench."""


class ConfigError(WorkbenchError, ValueError):
    """A setting, environment variable or URL is unknown or malformed."""


class InputError(WorkbenchError, ValueError):
    """An argument is invalid; raised before anything is registered or written."""


class UnknownExchangeError(InputError):
    """The exchange id is not one ccxt (or the workbench) knows."""


class UnknownSymbolError(InputError):
    """The symbol is not listed in the exchange's markets."""


class InactiveSymbolError(UnknownSymbolError):
    """The symbol is listed but not trading (status BREAK or HALT): no new candles come."""


class UnsupportedTimeframeError(InputError):
    """The timeframe is not offered by the exchange."""


class InvalidTimeRangeError(InputError):
    """A time range is impossible: ``since`` in the future, ``until <= since``, ..."""


class ServiceError(WorkbenchError):
    """An embedded service (the Redis server or the simulator) could not be run."""


class ExchangeError(WorkbenchError):
    """The exchange failed to answer as expected."""


class TemporaryExchangeError(ExchangeError):
    """A failure worth retrying: network, timeout, rate limit, server error."""


class RateLimitedError(TemporaryExchangeError):
    """The exchange asked us to slow down; ``retry_after`` is in seconds when it said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BannedError(RateLimitedError):
    """The exchange banned this IP (HTTP 418) for ``retry_after`` seconds: every request to
    that exchange waits until the ban ends (it is not a failed attempt to retry)."""


class PermanentExchangeError(ExchangeError):
    """A failure that retrying cannot fix: bad symbol, bad request, authentication."""


class StoreError(WorkbenchError):
    """The candle store failed."""


class TemporaryStoreError(StoreError):
    """The store cannot take the call now but may soon: busy (a lock held by another process)
    or unreachable. Collectors retry it with backoff, bounded, and show the wait."""


class InvalidDataError(StoreError, ValueError):
    """Rows were rejected by validation; ``reasons`` says why, and nothing was written."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []


class RegistryError(WorkbenchError):
    """The process registry (Redis) failed."""


class RegistryUnavailableError(RegistryError):
    """Redis cannot be reached."""


class SeriesBusyError(RegistryError):
    """The series already has a live collector; ``holder`` names it."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder
