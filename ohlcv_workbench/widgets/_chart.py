"""The candle chart: a plotly candlestick with volume, for one stored series.

The chart reads the store through the workbench (``wb.candles``), so a display timeframe
coarser than the stored one is resampled on read (only complete buckets). It shows at most
``window`` candles: the most recent ones in the chosen range. In live mode a task on the
workbench's loop reads what was stored after the last candle shown, at most once a second, and
writes the batch into the same ``FigureWidget`` traces inside ``batch_update()`` (the oldest
candles roll out of the window); the figure is never rebuilt or displayed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe
from ohlcv_workbench.times import iso, parse_time_text

from ._common import LogArea, Runner, WorkbenchApi, inline

if TYPE_CHECKING:
    import concurrent.futures


__all__ = ["MIN_LIVE_INTERVAL", "CandleChart", "ChartView"]

#: live updates are written at most this often (seconds)
MIN_LIVE_INTERVAL = 1.0
UP, DOWN = "#26a69a", "#ef5350"
Series = tuple[str, str]


@dataclass(frozen=True)
class ChartView:
    """What the chart shows: a market, a display timeframe, a range (UTC ms), a window."""

    exchange: str
    symbol: str
    timeframe: str
    start: int | None = None
    end: int | None = None
    window: int = 500

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


def _empty_frame() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="time")
    return pd.DataFrame({c: np.empty(0) for c in ("open", "high", "low", "close", "volume")}, index)


class CandleChart:
    """Candlesticks and volume of a stored series, optionally following it live.

    ::

        chart = CandleChart(wb, "sim", "BTC/USDT", "1h", window=300)
        chart                                  # in a notebook cell
        chart.show("sim", "ETH/USDT", "1m", live=True)

    ``figure`` is the plotly ``FigureWidget``; ``frame`` the candles it shows. For scripts
    and tests, :meth:`refresh` reloads now and :meth:`poll` does one live step now.
    """

    def __init__(
        self,
        wb: WorkbenchApi,
        exchange: str | None = None,
        symbol: str | None = None,
        timeframe: str = "1m",
        *,
        start: str = "",
        end: str = "",
        window: int = 500,
        live: bool = False,
        interval: float = MIN_LIVE_INTERVAL,
        log: LogArea | None = None,
        height: int = 480,
    ) -> None:
        self.wb = wb
        self.log = log if log is not None else LogArea()
        self._owns_log = log is None
        self.runner = Runner(wb, self.log)
        self.interval = max(float(interval), MIN_LIVE_INTERVAL)
        self.frame = _empty_frame()
        self.view: ChartView | None = None
        #: figure updates written so far, and candles appended by live polls
        self.updates = 0
        self.appended = 0
        #: the message shown in the status line (empty when all is well)
        self.message = ""
        self._extra: list[Series] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # used on the loop only
        self._last_error = ""
        self._quiet = False
        self._closed = False
        style = {"description_width": "5em"}
        self.series = w.Dropdown(description="Series", style=style, layout=w.Layout(width="20em"))
        options = list(BINANCE_TIMEFRAMES)
        if timeframe not in options:
            options.append(timeframe)
        self.timeframe = w.Dropdown(
            options=options, value=timeframe, description="Timeframe", style=style,
            layout=w.Layout(width="12em"),
        )  # fmt: skip
        self.start = w.Text(
            value=start, description="From", placeholder="2026-01-01 or -6h; blank: latest",
            continuous_update=False, style=style, layout=w.Layout(width="20em"),
        )  # fmt: skip
        self.end = w.Text(
            value=end, description="To", placeholder="blank: now", continuous_update=False,
            style=style, layout=w.Layout(width="16em"),
        )  # fmt: skip
        self.window = w.BoundedIntText(
            value=window, min=10, max=200_000, description="Candles", style=style,
            layout=w.Layout(width="11em"),
        )  # fmt: skip
        self.live = w.ToggleButton(value=False, description="Live", icon="circle")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        for name in ("series", "timeframe", "start", "end", "window", "live", "status"):
            getattr(self, name).add_class(f"owb-chart-{name}")
        self.refresh_button.add_class("owb-chart-refresh")
        self.figure = self._make_figure(height)
        self.figure.add_class("owb-chart-figure")
        controls = w.HBox([self.series, self.timeframe, self.window])
        times = w.HBox([self.start, self.end, self.live, self.refresh_button])
        self.widget = w.VBox([controls, times, self.status, self.figure])
        self.widget.add_class("owb-chart")
        if exchange is not None and symbol is not None:
            self._extra.append((exchange, symbol))
        first = (exchange, symbol) if exchange is not None and symbol is not None else None
        self._set_options(self._series_options(), first)
        for control in (self.series, self.timeframe, self.start, self.end, self.window):
            control.observe(self.runner.callback(self._on_change, "changing the chart"), "value")
        self.live.observe(self.runner.callback(self._on_live, "switching live mode"), "value")
        self.refresh_button.on_click(self.runner.callback(self._on_refresh, "Refresh"))
        if self.series.value is not None:
            if self.wb.runtime.in_loop_thread():
                self.runner.submit(self._reload(), "loading the chart")
            else:
                self.refresh()
        else:
            self._status("Choose a series (start a collector to add one)", "muted")
        if live:
            self.live.value = True

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- the figure --------------------------------------------------------------------------
    @staticmethod
    def _make_figure(height: int) -> Any:
        base = make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03
        )
        base.add_trace(
            go.Candlestick(
                x=[], open=[], high=[], low=[], close=[], name="price",
                increasing={"line": {"color": UP}}, decreasing={"line": {"color": DOWN}},
            ),
            row=1, col=1,
        )  # fmt: skip
        base.add_trace(go.Bar(x=[], y=[], name="volume", marker={"color": []}), row=2, col=1)
        base.update_layout(
            height=height, showlegend=False, margin={"l": 50, "r": 20, "t": 40, "b": 30},
            xaxis_rangeslider_visible=False,
        )  # fmt: skip
        base.update_yaxes(title_text="price", row=1, col=1)
        base.update_yaxes(title_text="volume", row=2, col=1)
        base.update_xaxes(title_text="time (UTC)", row=2, col=1)
        return go.FigureWidget(base)

    def snapshot(self) -> Any:
        """A static ``plotly.graph_objects.Figure`` of what is shown (renders without widgets)."""
        return go.Figure(self.figure)

    def _draw(self, frame: pd.DataFrame, view: ChartView) -> None:
        """Write ``frame`` into the traces in one batch (runs on the loop)."""
        x = pd.DatetimeIndex(frame.index).tz_convert("UTC").tz_localize(None).to_numpy()
        colours = np.where(frame["close"].to_numpy() >= frame["open"].to_numpy(), UP, DOWN)
        with self.figure.batch_update():
            candles, volume = self.figure.data
            candles.x = x
            candles.open = frame["open"].to_numpy()
            candles.high = frame["high"].to_numpy()
            candles.low = frame["low"].to_numpy()
            candles.close = frame["close"].to_numpy()
            volume.x = x
            volume.y = frame["volume"].to_numpy()
            volume.marker.color = colours
            self.figure.layout.title.text = f"{view} · {len(frame):,} candles"
            self.figure.layout.uirevision = str(view)
        self.frame = frame
        self.updates += 1

    # -- the series --------------------------------------------------------------------------
    def _series_options(self) -> list[Series]:
        found = [(i.key.exchange, i.key.symbol) for i in self.wb.store.ohlcv_inventory()]
        return sorted(set(found) | set(self._extra))

    def _set_options(self, series: list[Series], value: Series | None) -> None:
        current = value if value is not None else self.series.value
        self._quiet = True
        try:
            self.series.options = [(f"{ex} {sym}", (ex, sym)) for ex, sym in series]
            self.series.value = current if current in series else (series[0] if series else None)
        finally:
            self._quiet = False

    def _read_view(self) -> ChartView | None:
        """The controls as a view, or None after showing what is wrong in the status line."""
        if self.series.value is None:
            self._status("Choose a series (start a collector to add one)", "muted")
            return None
        exchange, symbol = self.series.value
        now = int(time.time() * 1000)
        try:
            start = parse_time_text(self.start.value, "from", now)
            end = parse_time_text(self.end.value, "to", now)
        except InputError as exc:
            self._status(str(exc), "error")
            return None
        if start is not None and end is not None and end <= start:
            self._status(f"'to' {iso(end)} must be after 'from' {iso(start)}", "error")
            return None
        return ChartView(
            exchange, symbol, str(self.timeframe.value), start, end, int(self.window.value)
        )

    def _status(self, text: str, level: str = "muted") -> None:
        self.message = text if level in ("error", "warning") else ""
        self.status.value = inline(text, level)

    def show(
        self,
        exchange: str,
        symbol: str,
        timeframe: str | None = None,
        *,
        live: bool | None = None,
    ) -> concurrent.futures.Future[None] | None:
        """Show another series (and display timeframe); safe from any thread.

        Returns the future of the reload (None when the reload ran already).
        """
        if (exchange, symbol) not in self._extra:
            self._extra.append((exchange, symbol))
        self._quiet = True
        try:
            if timeframe is not None:
                if timeframe not in self.timeframe.options:
                    self.timeframe.options = [*self.timeframe.options, timeframe]
                self.timeframe.value = timeframe
        finally:
            self._quiet = False
        self._set_options(self._series_options(), (exchange, symbol))
        future = self.runner.submit(self._reload(), f"loading {exchange} {symbol}")
        if live is not None:
            self.live.value = live
        return future

    # -- loading -----------------------------------------------------------------------------
    def _on_change(self, _change: Mapping[str, Any]) -> None:
        if not self._quiet:
            self.runner.submit(self._reload(), "loading the chart")

    def _on_refresh(self, _button: object) -> None:
        self._set_options(self._series_options(), None)
        self.runner.submit(self._reload(), "refreshing the chart")

    def refresh(self, timeout: float = 30.0) -> pd.DataFrame:
        """Reload the chart now from the store; the candles shown."""
        self.wb.runtime.run(self._reload(), timeout)
        return self.frame

    def poll(self, timeout: float = 30.0) -> int:
        """One live step now: append what was stored since the last candle shown; how many."""
        return self.wb.runtime.run(self._poll(), timeout)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the chart's pending work has finished."""
        self.runner.wait(timeout)

    def _load(self, view: ChartView) -> pd.DataFrame:
        """The candles of ``view`` from the store (runs in a worker thread)."""
        tf = timeframe(view.timeframe)
        start = view.start
        if start is None:
            store = self.wb.store
            source = store.ohlcv_source(view.exchange, view.symbol, view.timeframe)
            last = store.ohlcv_last(source)
            anchor = view.end if view.end is not None else (tf.next(last) if last else 0)
            start = max(0, tf.floor(anchor) - (view.window + 1) * tf.nominal_ms)
        frame = self.wb.candles(view.exchange, view.symbol, view.timeframe, start, view.end)
        return frame.tail(view.window)

    async def _reload(self) -> None:
        async with self._lock:
            await self._reload_locked()

    async def _reload_locked(self) -> None:
        view = self._read_view()
        if view is None:
            return
        self.view = view
        try:
            frame = await asyncio.to_thread(self._load, view)
        except InputError as exc:  # nothing stored (yet), a timeframe it cannot give, ...
            self._draw(_empty_frame(), view)
            self._status(str(exc), "warning")
            return
        self._draw(frame, view)
        self._status(self._describe(frame), "muted")

    def _describe(self, frame: pd.DataFrame) -> str:
        if frame.empty:
            return "No candles in this range"
        first, last = frame.index[0], frame.index[-1]
        mode = f" · live, every {self.interval:g} s" if self.live.value else ""
        span = f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
        return f"{len(frame):,} candles, {span}{mode}"

    async def _poll(self) -> int:
        async with self._lock:  # one reload or poll at a time: each draws what it read
            if self.view is None or self.frame.empty:
                await self._reload_locked()
                self.appended = len(self.frame)
                return self.appended
            view, last = self.view, self.frame.index[-1]
            try:
                new = await asyncio.to_thread(
                    self.wb.candles, view.exchange, view.symbol, view.timeframe, last, view.end
                )
            except InputError as exc:  # the series was deleted meanwhile, ...
                self._status(str(exc), "warning")
                self.appended = 0
                return 0
            added = int((new.index > last).sum())
            if new.empty or (added == 0 and new.iloc[-1:].equals(self.frame.iloc[-1:])):
                self.appended = 0
                return 0
            kept = self.frame[self.frame.index < new.index[0]]
            frame = pd.concat([kept, new]).tail(view.window)
            self._draw(frame, view)
            self._status(self._describe(frame), "muted")
            self.appended = added
            return added

    # -- live --------------------------------------------------------------------------------
    @property
    def following(self) -> bool:
        """True while the live task runs."""
        return self._task is not None and not self._task.done()

    def _on_live(self, change: Mapping[str, Any]) -> None:
        if change["new"]:
            self.start_live()
        else:
            self.stop_live()

    def start_live(self) -> None:
        """Follow the series: append new candles at most once a second."""
        if self.following or self._closed:
            return
        self.live.value = True
        if self.wb.runtime.in_loop_thread():
            self._task = asyncio.create_task(self._follow(), name="candle chart live")
        else:
            self._task = self.wb.runtime.run(self._spawn(), 10)

    async def _spawn(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._follow(), name="candle chart live")

    async def _follow(self) -> None:
        while True:
            try:
                await self._poll()
                self._last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if text != self._last_error:
                    self.log.exception(f"following {self.view}", exc)
                    self._last_error = text
                self._status(f"Live update failed: {text} (retrying)", "error")
            await asyncio.sleep(self.interval)

    def stop_live(self, timeout: float = 10.0) -> None:
        """Stop following (the figure keeps what it shows)."""
        if self.live.value:
            self.live.value = False  # calls back here through the observer
            return
        task, self._task = self._task, None
        if task is None or task.done() or not self.wb.runtime.running:
            return
        if self.wb.runtime.in_loop_thread():
            task.cancel()
        else:
            self.wb.runtime.run(_cancel(task), timeout)

    def close(self) -> None:
        """Stop following and close the widgets."""
        if self._closed:
            return
        self._closed = True
        self.stop_live()
        for box in self.widget.children:
            for child in getattr(box, "children", ()):
                child.close()
        for widget in (*self.widget.children, self.widget):
            widget.close()
        if self._owns_log:
            self.log.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait({task})
