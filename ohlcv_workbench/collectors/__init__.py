"""Collectors with the ProcessCache lifecycle, and the manager that hosts them.

::

    context = CollectorContext(settings, cache, store)
    async with CollectorManager(context, "ohlcv_daemon", {"args": argv}) as manager:
        collector = await manager.start(CollectorSpec.create("sim", "BTC/USDT", "1m", since=t0))
        state = await manager.wait(collector)
"""

from .base import Collector, CollectorContext, CollectorState, Phase
from .manager import CollectorManager, collector_for
from .ohlcv import OhlcvCollector
from .progress import Progress, format_duration
from .spec import TRADES_TIMEFRAME, CollectorKind, CollectorSpec, Mode
from .trades import TradeCollector

__all__ = [
    "TRADES_TIMEFRAME",
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
    "format_duration",
]
