"""The candle chart over the real store: resampling on read, range, window, live batches."""

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ohlcv_workbench.widgets import CandleChart

from .conftest import dom_classes, is_on


def x_of(chart) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(chart.figure.data[0].x).tz_localize("UTC")


def test_resampled_on_read_with_range_and_window(wb):
    now = pd.Timestamp.now(tz="UTC").floor("1min")  # up to the last closed candle
    handle = wb.start_collector("sim", "BNB/USDT", "1m", since=now - pd.Timedelta("6h"), until=now)
    handle.wait(30)
    stored = wb.candles("sim", "BNB/USDT", "1m")
    assert len(stored) >= 359

    chart = CandleChart(wb, "sim", "BNB/USDT", "1h")
    try:
        hourly = wb.candles("sim", "BNB/USDT", "1h")
        assert 5 <= len(chart.frame) <= 6 and chart.message == ""
        pd.testing.assert_frame_equal(chart.frame, hourly.tail(len(chart.frame)))
        assert (x_of(chart) == chart.frame.index).all()
        assert np.array_equal(chart.figure.data[0].close, chart.frame["close"].to_numpy())
        assert np.array_equal(chart.figure.data[1].y, chart.frame["volume"].to_numpy())
        assert "sim BNB/USDT 1h" in chart.figure.layout.title.text
        assert {"owb-chart", "owb-chart-series", "owb-chart-timeframe", "owb-chart-start",
                "owb-chart-end", "owb-chart-window", "owb-chart-live", "owb-chart-refresh",
                "owb-chart-figure"} <= dom_classes(chart.widget)  # fmt: skip

        # the display timeframe and the window, changed from the controls
        chart.timeframe.value = "5m"
        chart.window.value = 20
        chart.wait()
        assert len(chart.frame) == 20
        assert set(chart.frame.index.to_series().diff().dropna()) == {pd.Timedelta("5min")}
        assert chart.frame.index[-1] == wb.candles("sim", "BNB/USDT", "5m").index[-1]

        # a range: everything in [from, to) up to the window
        chart.window.value = 500
        chart.start.value = "-3h"
        chart.end.value = "-1h"
        chart.wait()
        assert 23 <= len(chart.frame) <= 25
        now = pd.Timestamp.now(tz="UTC")
        assert chart.frame.index[0] >= now - pd.Timedelta("3h5min")
        assert chart.frame.index[-1] < now - pd.Timedelta("1h")

        # what cannot be shown is said in the status line, not raised, not logged
        chart.start.value = chart.end.value = ""
        chart.timeframe.value = "1s"  # finer than what is stored
        chart.wait()
        assert "no stored series of sim BNB/USDT can give 1s" in chart.message
        assert chart.frame.empty and len(chart.figure.data[0].x) == 0
        chart.start.value = "last tuesday"
        chart.wait()
        assert "from 'last tuesday' is not a time" in chart.message
        assert chart.log.errors == []

        # a static copy renders where widgets do not (nbmake, exports)
        chart.start.value = ""
        chart.timeframe.value = "15m"
        chart.wait()
        snapshot = chart.snapshot()
        assert isinstance(snapshot, go.Figure) and not isinstance(snapshot, go.FigureWidget)
        assert len(snapshot.data[0].x) == len(chart.frame) > 0
    finally:
        chart.close()


def test_live_mode_appends_batches_to_the_same_figure(wb):
    since = pd.Timestamp.now(tz="UTC") - pd.Timedelta("2min")
    handle = wb.start_collector("sim", "DOGE/USDT", "1s", since=since)
    chart = CandleChart(wb, "sim", "DOGE/USDT", "1s", window=30)
    try:
        figure, traces = chart.figure, [t.uid for t in chart.figure.data]
        deadline = time.monotonic() + 20
        while len(chart.frame) < 30:  # the backfill lands
            assert time.monotonic() < deadline
            chart.poll()
            time.sleep(0.2)
        last = chart.frame.index[-1]

        while chart.poll() == 0:  # the next closed 1 s candle
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert chart.appended >= 1 and chart.frame.index[-1] > last
        assert len(chart.frame) == len(chart.figure.data[0].x) == 30  # rolling window
        assert x_of(chart)[-1] == chart.frame.index[-1]
        assert chart.figure is figure and [t.uid for t in chart.figure.data] == traces
        stored = wb.candles("sim", "DOGE/USDT", "1s", start=chart.frame.index[0])
        pd.testing.assert_frame_equal(chart.frame, stored.loc[: chart.frame.index[-1]])

        # the live task: at most one figure update a second
        chart.live.value = True
        assert chart.following
        updates, started = chart.updates, time.monotonic()
        time.sleep(2.5)
        elapsed = time.monotonic() - started
        assert 1 <= chart.updates - updates <= 1 + elapsed / chart.interval
        assert chart.frame.index[-1] > last
        assert chart.figure is figure
        chart.live.value = False
        assert not is_on(chart, "following")
    finally:
        chart.close()
        handle.stop()
    assert chart.log.errors == []
