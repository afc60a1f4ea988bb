"""ohlcv_workbench: collect and explore crypto OHLCV candles from a notebook.

The public surface is what ``__all__`` lists; everything else is an implementation module.
Heavy parts (ccxt, Redis, the store, widgets) are imported on first use of their names, so
``import ohlcv_workbench`` and the CLI start fast.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .collectors import (
        CollectorSpec,
        OhlcvCollector,
        Phase,
        Progress,
        TradeCollector,
    )
    from .exchange import RetryPolicy, open_exchange
    from .heartbeat import Heartbeat
    from .leases import LeaseHolder, SeriesLease
    from .process_cache import ProcessCache, ProcessStatus, ProcessType
    from .process_monitor import ProcessInfo, list_processes, processes_frame, request_stop
    from .runtime import CollectorHandle, Workbench
    from .store import (
        Candle,
        CandleRepository,
        CandleStore,
        QualityReport,
        TimeseriesRepository,
        Trade,
        open_store,
    )
    from .widgets import CandleChart, CollectorPanel, Dashboard, HeartbeatMonitor

__version__ = "0.1.0"

#: public names imported on first use: name -> module
_LAZY = {
    "CandleChart": ".widgets",
    "CollectorPanel": ".widgets",
    "Dashboard": ".widgets",
    "HeartbeatMonitor": ".widgets",
    "Candle": ".store",
    "CandleRepository": ".store",
    "TimeseriesRepository": ".store",
    "Trade": ".store",
    "CandleStore": ".store",
    "CollectorHandle": ".runtime",
    "CollectorSpec": ".collectors",
    "Heartbeat": ".heartbeat",
    "LeaseHolder": ".leases",
    "OhlcvCollector": ".collectors",
    "Phase": ".collectors",
    "ProcessCache": ".process_cache",
    "ProcessInfo": ".process_monitor",
    "ProcessStatus": ".process_cache",
    "ProcessType": ".process_cache",
    "Progress": ".collectors",
    "QualityReport": ".store",
    "RetryPolicy": ".exchange",
    "SeriesLease": ".leases",
    "TradeCollector": ".collectors",
    "Workbench": ".runtime",
    "list_processes": ".process_monitor",
    "open_exchange": ".exchange",
    "open_store": ".store",
    "processes_frame": ".process_monitor",
    "request_stop": ".process_monitor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Candle",
    "CandleBatch",
    "CandleChart",
    "CandleRepository",
    "CandleStore",
    "CollectorHandle",
    "CollectorPanel",
    "CollectorSpec",
    "ConfigError",
    "Dashboard",
    "ExchangeError",
    "Heartbeat",
    "HeartbeatMonitor",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "LeaseHolder",
    "OhlcvCollector",
    "OhlcvRow",
    "PermanentExchangeError",
    "Phase",
    "ProcessCache",
    "ProcessInfo",
    "ProcessStatus",
    "ProcessType",
    "Progress",
    "PublicTrade",
    "QualityReport",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "RetryPolicy",
    "SeriesBusyError",
    "SeriesKey",
    "SeriesLease",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "Timeframe",
    "TimeseriesRepository",
    "Trade",
    "TradeCollector",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "Workbench",
    "WorkbenchError",
    "list_processes",
    "open_exchange",
    "open_store",
    "processes_frame",
    "request_stop",
    "timeframe",
]
