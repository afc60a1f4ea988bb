"""Collectors with the ProcessCache lifecycle, and the manager that hosts them.

::

    async with CollectionSetup(settings, "ohlcv_daemon", {"args": argv}) as setup:
        collector = await setup.manager.start(CollectorSpec.create("sim", "BTC/USDT", "1m"))
        state = await setup.manager.wait(collector)

:class:`CollectionSetup` builds the store, the ProcessCache, the :class:`CollectorContext` and
the :class:`CollectorManager` that hosts the collectors, and shuts them down in order.
"""

from .base import Collector, CollectorContext, CollectorState, Phase
from .manager import CollectorManager, collector_for
from .ohlcv import OhlcvCollector
from .progress import Progress
from .setup import CollectionSetup
from .spec import TRADES_TIMEFRAME, CollectorKind, CollectorSpec, Mode
from .trades import TradeCollector

__all__ = [
    "TRADES_TIMEFRAME",
    "CollectionSetup",
    "Collector",
    "CollectorContext",
    "CollectorKind",
    "CollectorManager",
    "CollectorSpec",
    "CollectorState",
    "Mode",
    "OhlcvCollector",
    "Phase",
    "Progress",
    "TradeCollector",
    "collector_for",
]
