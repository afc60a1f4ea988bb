"""ohlcv_workbench: collect and explore crypto OHLCV candles from a notebook.

The public surface comes in two tiers. ``__all__`` here is what an analyst uses: the
:class:`Workbench`, its widgets, the store and exchange entry points, the typed records, the
errors, times and timeframes, and fullon's ProcessCache names. The internals have homes of
their own, each with its ``__all__``:

- :mod:`ohlcv_workbench.registry`: ProcessCache, heartbeats, leases, the process monitor;
- :mod:`ohlcv_workbench.collectors`: specs, collectors, their manager and setup;
- :mod:`ohlcv_workbench.exchange`, :mod:`ohlcv_workbench.store`, :mod:`ohlcv_workbench.sim`,
  :mod:`ohlcv_workbench.services`, :mod:`ohlcv_workbench.widgets`.

Heavy parts (ccxt, Redis, the store, widgets) are imported on first use of their names, so
``import ohlcv_workbench`` and the CLI start fast.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .errors import (
    BannedError,
    ConfigError,
    ExchangeError,
    InactiveSymbolError,
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
    TemporaryStoreError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    WorkbenchError,
)
from .records import CandleBatch, OhlcvRow, PublicTrade, SeriesKey
from .settings import Settings
from .timeframes import Timeframe, timeframe
from .times import iso, to_ms

if TYPE_CHECKING:
    from .collectors import Phase
    from .exchange import RetryPolicy, open_exchange
    from .registry import ProcessCache, ProcessStatus, ProcessType
    from .runtime import CollectorHandle
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
    from .workbench import Workbench

__version__ = "0.1.0"

#: public names imported on first use: name -> module
_LAZY = {
    "Candle": "store",
    "CandleChart": "widgets",
    "CandleRepository": "store",
    "CandleStore": "store",
    "CollectorHandle": "runtime",
    "CollectorPanel": "widgets",
    "Dashboard": "widgets",
    "HeartbeatMonitor": "widgets",
    "Phase": "collectors",
    "ProcessCache": "registry",
    "ProcessStatus": "registry",
    "ProcessType": "registry",
    "QualityReport": "store",
    "RetryPolicy": "exchange",
    "TimeseriesRepository": "store",
    "Trade": "store",
    "Workbench": "workbench",
    "open_exchange": "exchange",
    "open_store": "store",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "BannedError",
    "Candle",
    "CandleBatch",
    "CandleChart",
    "CandleRepository",
    "CandleStore",
    "CollectorHandle",
    "CollectorPanel",
    "ConfigError",
    "Dashboard",
    "ExchangeError",
    "HeartbeatMonitor",
    "InactiveSymbolError",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "OhlcvRow",
    "PermanentExchangeError",
    "Phase",
    "ProcessCache",
    "ProcessStatus",
    "ProcessType",
    "PublicTrade",
    "QualityReport",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "RetryPolicy",
    "SeriesBusyError",
    "SeriesKey",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "TemporaryStoreError",
    "Timeframe",
    "TimeseriesRepository",
    "Trade",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "Workbench",
    "WorkbenchError",
    "iso",
    "open_exchange",
    "open_store",
    "timeframe",
    "to_ms",
]
