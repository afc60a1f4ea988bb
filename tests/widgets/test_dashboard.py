"""The dashboard end to end: start from the panel, watch it, chart it, stop it."""

import json
import time

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase
from ohlcv_workbench.registry import ProcessType
from ohlcv_workbench.widgets import Dashboard

from .conftest import dom_classes, is_on, row_of


def test_start_watch_chart_and_stop_from_the_dashboard(wb, raw):
    dash = wb.dashboard(watch=False)  # refreshed by hand: counts are exact
    try:
        assert isinstance(dash, Dashboard)
        panel, monitor, chart = dash.panel, dash.monitor, dash.chart
        panel.wait()
        panel.symbol.value = "ETH/USDT"
        panel.timeframe.value = "1s"
        panel.since.value = "-1m"
        panel.start_button.click()
        dash.wait()
        (handle,) = wb.collectors()
        assert handle.process_id is not None
        assert panel.errors == {} and handle.spec.symbol == "ETH/USDT"

        # in the monitor within two refreshes
        for _ in range(2):
            monitor.refresh()
            row = monitor.row(handle.process_id)
            if row is not None:
                break
        assert row is not None, "not listed after two refreshes"
        assert row.status_text in ("starting", "running") and not row.is_stale
        assert "ohlcv.sim.ETH/USDT" in row.component.value
        assert row.stop_button.description == "Stop" and not row.stop_button.disabled

        # the chart follows the new series and gains the candles being collected
        assert chart.series.value == ("sim", "ETH/USDT") and chart.timeframe.value == "1s"
        assert chart.following
        figure = chart.figure
        deadline = time.monotonic() + 20
        while len(chart.figure.data[0].x) < 30:  # the backfill of the last minute
            assert time.monotonic() < deadline, chart.message
            time.sleep(0.1)
        shown, newest = len(chart.figure.data[0].x), chart.frame.index[-1]
        while chart.frame.index[-1] <= newest:  # and the live candles after it
            assert time.monotonic() < deadline, chart.message
            time.sleep(0.1)
        assert len(chart.figure.data[0].x) > shown and chart.figure is figure
        assert chart.updates >= 2  # drawn into the same traces, batch after batch
        assert chart.frame.index[-1] <= wb.candles("sim", "ETH/USDT", "1s").index[-1]

        # Stop from the monitor: STOPPED in ProcessCache and in the table
        row.stop_button.click()
        monitor.wait()
        assert handle.status is Phase.STOPPED
        record = json.loads(raw.get(f"process:data:{handle.process_id}"))
        assert record["status"] == "stopped"
        assert not raw.hexists(f"process:active:{ProcessType.OHLCV.value}", handle.process_id)
        row = row_of(monitor, handle.process_id)
        assert row.status_text == "stopped" and "STOPPED" in row.status.value
        assert row.stop_button.disabled
        assert dash.log.errors == []
        assert [e.level for e in dash.log.entries] == ["info", "info"]  # started, stopped
    finally:
        dash.close()


def test_layout_classes_and_the_watchers_end_with_the_workbench(settings):
    wb = Workbench(settings)
    try:
        dash = wb.dashboard(interval=0.5)
        assert dash.monitor.watching and dash.monitor.interval == 0.5
        classes = dom_classes(dash.widget)
        for part in ("owb-dashboard", "owb-panel", "owb-monitor-health", "owb-monitor-rows",
                     "owb-chart", "owb-log", "owb-log-clear", "owb-panel-start"):  # fmt: skip
            assert part in classes
        dash.chart.show("sim", "XRP/USDT", "1m", live=True)  # nothing stored: said, not raised
        dash.wait()
        assert dash.chart.following
        assert "no stored series of sim XRP/USDT" in dash.chart.message
        kept = dash
        other = wb.dashboard()
        other.close()
        assert not is_on(other.monitor, "watching")
    finally:
        wb.close()
    # closing the workbench ended the watchers of the dashboard left open
    assert not is_on(kept.monitor, "watching") and not is_on(kept.chart, "following")
    assert kept.log.errors == []
    kept.close()
