"""The dashboard: the collector panel, the heartbeat monitor and the candle chart, with a log.

Starting a collector from the panel points the chart at its series (following it live when
the collector does) and refreshes the monitor at once. Every callback error of the three lands
in the shared log area at the bottom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ohlcv_workbench.collectors import CollectorKind

from ._chart import CandleChart
from ._common import LogArea, WorkbenchApi
from ._monitor import HeartbeatMonitor
from ._panel import CollectorPanel

if TYPE_CHECKING:
    from ohlcv_workbench.runtime import CollectorHandle

__all__ = ["Dashboard"]


def _section(title: str) -> Any:
    return w.HTML(f"<h4 style='margin:0.6em 0 0.2em 0'>{title}</h4>")


class Dashboard:
    """Everything on one screen: ``Workbench().dashboard()``.

    ``panel``, ``monitor``, ``chart`` and ``log`` are the parts; :meth:`close` stops the
    monitor's watcher and the chart's live task (closing the workbench stops them as well).
    """

    def __init__(
        self,
        wb: WorkbenchApi,
        *,
        interval: float = 1.0,
        exchange: str = "sim",
        symbol: str = "BTC/USDT",
        timeframe: str = "1m",
        window: int = 500,
        watch: bool = True,
    ) -> None:
        self.wb = wb
        self.log = LogArea()
        self.panel = CollectorPanel(
            wb, log=self.log, exchange=exchange, symbol=symbol, timeframe=timeframe
        )
        self.monitor = HeartbeatMonitor(wb, log=self.log, interval=interval, watch=watch)
        self.chart = CandleChart(wb, timeframe=timeframe, window=window, log=self.log)
        self.panel.on_started(self._on_started)
        self.widget = w.VBox(
            [
                w.HTML("<h3 style='margin:0.2em 0'>OHLCV workbench</h3>"),
                self.monitor.health,
                _section("Start a collector"),
                self.panel.widget,
                _section("Processes"),
                self.monitor.table,
                _section("Candles"),
                self.chart.widget,
                _section("Log"),
                self.log.widget,
            ]
        )
        self.widget.add_class("owb-dashboard")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _on_started(self, handle: CollectorHandle) -> None:
        """After a start (on the loop): chart the series, refresh the monitor soon."""
        spec = handle.spec
        if spec.kind is CollectorKind.OHLCV:  # live also while backfilling: candles as stored
            self.chart.show(spec.exchange, spec.symbol, spec.timeframe, live=True)
        self.monitor.refresh_soon()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the pending work of every part has finished."""
        for part in (self.panel, self.chart, self.monitor):
            part.wait(timeout)

    def close(self) -> None:
        """Stop the watchers and close every widget (collectors go on)."""
        self.monitor.close()
        self.chart.close()
        self.panel.close()
        for child in self.widget.children:
            child.close()
        self.widget.close()
        self.log.close()
