"""Notebook widgets (ipywidgets 8 + plotly): collector panel, heartbeat monitor, candle chart.

::

    from ohlcv_workbench import Workbench

    wb = Workbench()
    wb.dashboard()                      # all of them, with a log area for callback errors

    from ohlcv_workbench.widgets import CandleChart, CollectorPanel, HeartbeatMonitor
    CandleChart(wb, "sim", "BTC/USDT", "1h")

The widgets are thin views over the workbench: their callbacks only hand work to the
workbench's event loop (so they behave the same on whichever thread JupyterLab runs them) and
report errors in a visible log area, never as a traceback in the cell. The background watchers
(the monitor's refresh, the chart's live updates) are tasks on that loop: ``close()`` stops
them, and so does closing the workbench. Interactive elements carry stable CSS classes
(``owb-panel-start``, ``owb-monitor-stop-0``, ``owb-chart-live``, ...) for browser tests.
"""

from ._chart import CandleChart, ChartView
from ._common import LogArea, LogEntry
from ._dashboard import Dashboard
from ._monitor import HeartbeatMonitor, MonitorRow
from ._panel import CollectorPanel, StartRequest

__all__ = [
    "CandleChart",
    "ChartView",
    "CollectorPanel",
    "Dashboard",
    "HeartbeatMonitor",
    "LogArea",
    "LogEntry",
    "MonitorRow",
    "StartRequest",
]
