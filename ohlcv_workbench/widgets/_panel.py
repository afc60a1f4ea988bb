"""The collector panel: choose a series and a range, press Start.

The fields are checked as the runtime would check them (exchange id, timeframe, symbol against
the loaded markets, the times) and a bad value is shown next to its field; nothing is started
then. The start itself runs on the workbench's loop, where the exchange checks the request once
more before anything is registered; what it rejects lands next to the field it concerns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ohlcv_workbench.errors import (
    InputError,
    InvalidTimeRangeError,
    SeriesBusyError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from ohlcv_workbench.exchange import RetryPolicy, known_exchange_ids, open_exchange
from ohlcv_workbench.exchange.validation import check_exchange_id, check_symbol, check_timeframe
from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, timeframe
from ohlcv_workbench.times import iso, parse_time_text

from ._common import LogArea, Runner, WorkbenchApi, inline

if TYPE_CHECKING:
    import concurrent.futures

    from ohlcv_workbench.runtime import CollectorHandle

__all__ = ["FIELDS", "CollectorPanel", "StartRequest"]

#: the panel's fields, in order; "start" names the message next to the Start button
FIELDS = ("exchange", "symbol", "timeframe", "since", "until", "mode", "trades")
#: one quick retry for listing markets: a person is waiting, and can pick again
MARKETS_RETRY = RetryPolicy(attempts=2, timeout=15.0, wait_initial=0.5, wait_jitter=0.2)


@dataclass(frozen=True)
class StartRequest:
    """What the panel asks the workbench to start (times in UTC ms)."""

    exchange: str
    symbol: str
    timeframe: str
    since: int | None
    until: int | None
    trades: bool

    def __str__(self) -> str:
        kind = "trades" if self.trades else self.timeframe
        return f"{self.exchange} {self.symbol} {kind}"


def _field_of(error: BaseException) -> str:
    """The field an error of the runtime's checks concerns ("start" when none)."""
    if isinstance(error, UnknownExchangeError):
        return "exchange"
    if isinstance(error, UnknownSymbolError):
        return "symbol"
    if isinstance(error, UnsupportedTimeframeError):
        return "timeframe"
    if isinstance(error, InvalidTimeRangeError):
        return "since"  # what is left for the exchange to reject: since after its clock
    return "start"


class CollectorPanel:
    """Start a collector without code: exchange, symbol, timeframe, since/until, mode, trades.

    ::

        panel = CollectorPanel(wb)
        panel                           # in a notebook cell
        panel.on_started(lambda handle: print(handle))

    ``errors`` maps a field (or "start") to the message shown next to it. For scripts and
    tests: set the fields' ``value`` and ``start_button.click()``, then :meth:`wait`.
    """

    def __init__(
        self,
        wb: WorkbenchApi,
        *,
        log: LogArea | None = None,
        exchange: str = "sim",
        symbol: str = "BTC/USDT",
        timeframe: str = "1m",
    ) -> None:
        self.wb = wb
        self.log = log if log is not None else LogArea()
        self._owns_log = log is None
        self.runner = Runner(wb, self.log)
        self.errors: dict[str, str] = {}
        self._started: list[Callable[[CollectorHandle], None]] = []
        self._markets: dict[str, list[str]] = {}
        self._timeframes: dict[str, tuple[str, ...]] = {}
        self._loading: str | None = None
        #: the handle of the last collector started here
        self.last_started: CollectorHandle | None = None
        wide = w.Layout(width="22em")
        style = {"description_width": "6em"}
        self.exchange = w.Combobox(
            value=exchange, options=list(known_exchange_ids()), ensure_option=False,
            description="Exchange", placeholder="sim or a ccxt id", layout=wide, style=style,
            continuous_update=False,
        )  # fmt: skip
        self.symbol = w.Combobox(
            value=symbol, options=[], ensure_option=False, description="Symbol",
            placeholder="BTC/USDT (type to search)", layout=wide, style=style,
            continuous_update=False,
        )  # fmt: skip
        options = list(BINANCE_TIMEFRAMES)
        if timeframe not in options:
            options.append(timeframe)
        self.timeframe = w.Dropdown(
            options=options, value=timeframe, description="Timeframe", layout=wide, style=style
        )
        self.since = w.Text(
            description="Since", placeholder="2026-01-01 or -2h (UTC); blank: resume",
            layout=wide, style=style, continuous_update=False,
        )  # fmt: skip
        self.until = w.Text(
            description="Until", placeholder="blank: last closed candle (backfill only)",
            layout=wide, style=style, continuous_update=False,
        )  # fmt: skip
        self.mode = w.ToggleButtons(
            options=[("Backfill, then live", "live"), ("Backfill only", "backfill")],
            value="live", description="Mode", style={**style, "button_width": "10em"},
        )  # fmt: skip
        self.trades = w.Checkbox(value=False, description="Trades instead of candles", indent=True)
        self.start_button = w.Button(description="Start", button_style="primary", icon="play")
        self.messages = {name: w.HTML() for name in (*FIELDS, "start")}
        for name in FIELDS:
            getattr(self, name).add_class(f"owb-panel-{name}")
        self.start_button.add_class("owb-panel-start")
        for name, html_widget in self.messages.items():
            html_widget.add_class(f"owb-panel-message-{name}")
        rows = [w.HBox([getattr(self, name), self.messages[name]]) for name in FIELDS]
        rows.append(w.HBox([self.start_button, self.messages["start"]]))
        self.widget = w.VBox(rows)
        self.widget.add_class("owb-panel")
        self.start_button.on_click(self.runner.callback(self._on_start, "Start"))
        self.exchange.observe(
            self.runner.callback(self._on_exchange, "choosing the exchange"), names="value"
        )
        self.trades.observe(
            self.runner.callback(self._on_trades, "switching trades"), names="value"
        )
        self.load_exchange()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def on_started(self, callback: Callable[[CollectorHandle], None]) -> None:
        """Call ``callback(handle)`` (on the workbench's loop) after each successful start."""
        self._started.append(callback)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the panel's pending work (markets, a start) has finished."""
        self.runner.wait(timeout)

    # -- inline messages ---------------------------------------------------------------------
    def _show(self, name: str, text: str, level: str = "error") -> None:
        if level == "error" and text:
            self.errors[name] = text
        else:
            self.errors.pop(name, None)
        self.messages[name].value = inline(text, level)

    def _clear_errors(self) -> None:
        for name in list(self.errors):
            self._show(name, "")

    # -- the exchange's markets and timeframes -----------------------------------------------
    def _on_exchange(self, _change: Mapping[str, Any]) -> None:
        self.load_exchange()

    def _on_trades(self, change: Mapping[str, Any]) -> None:
        self.timeframe.disabled = bool(change["new"])

    def load_exchange(self) -> concurrent.futures.Future[None] | None:
        """List the chosen exchange's timeframes and symbols (on the loop); None when unknown."""
        exchange_id = self.exchange.value.strip()
        try:
            check_exchange_id(exchange_id)
        except UnknownExchangeError as exc:
            self._show("exchange", str(exc))
            return None
        self._show("exchange", "")
        if exchange_id in self._markets:
            self._apply_markets(exchange_id)
            return None
        self._loading = exchange_id
        self._show("symbol", f"Loading the markets of {exchange_id} …", "muted")
        return self.runner.submit(
            self._load_exchange(exchange_id), f"loading the markets of {exchange_id}"
        )

    async def _load_exchange(self, exchange_id: str) -> None:
        try:
            async with open_exchange(exchange_id, settings=self.wb.settings) as ex:
                self._timeframes[exchange_id] = ex.timeframes
                markets = await ex.load_markets(retry=MARKETS_RETRY)
        except Exception as exc:
            if self._loading == exchange_id:
                self._show("symbol", f"Could not list the markets of {exchange_id}: {exc}")
            raise
        self._markets[exchange_id] = sorted(markets)
        if self._loading == exchange_id:
            self._apply_markets(exchange_id)

    def _apply_markets(self, exchange_id: str) -> None:
        self._loading = None
        if self.exchange.value.strip() != exchange_id:
            return  # the person has picked another exchange meanwhile
        symbols = self._markets[exchange_id]
        self.symbol.options = symbols
        timeframes = list(self._timeframes.get(exchange_id, ()))
        if timeframes:
            keep = self.timeframe.value
            self.timeframe.options = timeframes
            self.timeframe.value = keep if keep in timeframes else timeframes[0]
        if "symbol" not in self.errors:
            self._show("symbol", f"{len(symbols)} markets on {exchange_id}", "muted")

    # -- starting ----------------------------------------------------------------------------
    def read(self, now_ms: int | None = None) -> StartRequest | None:
        """The fields as a request, or None after showing what is wrong next to the fields."""
        self._clear_errors()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        exchange = self.exchange.value.strip()
        symbol = self.symbol.value.strip()
        tf = str(self.timeframe.value or "")
        trades = bool(self.trades.value)
        try:
            check_exchange_id(exchange)
        except UnknownExchangeError as exc:
            self._show("exchange", str(exc))
        if not symbol:
            self._show("symbol", "Choose a symbol, e.g. BTC/USDT")
        elif exchange in self._markets:
            markets = dict.fromkeys(self._markets[exchange])
            try:
                check_symbol(exchange, markets, symbol, None)
            except UnknownSymbolError as exc:
                self._show("symbol", str(exc))
        if not trades and exchange in self._timeframes:
            try:
                check_timeframe(exchange, dict.fromkeys(self._timeframes[exchange]), tf)
            except UnsupportedTimeframeError as exc:
                self._show("timeframe", str(exc))
        since = self._time("since", now)
        until = self._time("until", now)
        if since is not None and since > now:
            self._show("since", f"since {iso(since)} is in the future (now is {iso(now)})")
        if self.mode.value == "live" and until is not None:
            self._show(
                "until",
                "Leave until blank to backfill and then follow live candles, "
                "or choose 'Backfill only'",
            )
        if self.mode.value == "backfill" and until is None and "until" not in self.errors:
            until = self._last_close(now, tf, trades)
        if since is not None and until is not None and until <= since and not self.errors:
            self._show("until", f"until {iso(until)} must be after since {iso(since)}")
        if self.errors:
            return None
        return StartRequest(exchange, symbol, tf, since, until, trades)

    @staticmethod
    def _last_close(now: int, tf: str, trades: bool) -> int:
        """``until`` for a blank field: the close of the last closed candle (trades: now)."""
        if trades:
            return now
        try:
            return timeframe(tf).floor(now)
        except UnsupportedTimeframeError:
            return now  # the timeframe was flagged next to its field already

    def _time(self, name: str, now: int) -> int | None:
        try:
            return parse_time_text(getattr(self, name).value, name, now)
        except InputError as exc:
            self._show(name, str(exc))
            return None

    def _on_start(self, _button: object) -> None:
        request = self.read()
        if request is None:
            self._show("start", "Not started: correct the fields above", "warning")
            return
        self.start_button.disabled = True
        self.last_started = None
        self._show("start", f"Starting {request} …", "info")
        self.runner.submit(self._start(request), f"starting {request}")

    def start(self) -> CollectorHandle | None:
        """Press Start and wait: the new collector's handle, or None (see :attr:`errors`)."""
        self.last_started = None
        self.start_button.click()
        self.wait()
        return self.last_started

    async def _start(self, request: StartRequest) -> CollectorHandle | None:
        try:
            handle = await self.wb.start_collector_async(
                request.exchange, request.symbol, request.timeframe,
                request.since, request.until, request.trades,
            )  # fmt: skip
        except (InputError, SeriesBusyError) as exc:
            field = _field_of(exc)
            self._show(field, str(exc))
            if field != "start":
                self._show("start", "Not started: see the message above", "warning")
            return None
        except BaseException:
            self._show("start", f"Could not start {request}: see the log")
            raise
        finally:
            self.start_button.disabled = False
        self.last_started = handle
        mode = "backfill" if request.until is not None else "backfill, then live"
        since = "resume" if request.since is None else iso(request.since)
        self._show("start", f"Started {handle.component} ({mode} from {since})", "ok")
        self.log.info(f"started {handle.component} {request.timeframe}: {handle.process_id}")
        for callback in self._started:
            try:
                callback(handle)
            except Exception as exc:
                self.log.exception(f"after starting {request}", exc)
        return handle

    def close(self) -> None:
        """Close the widgets (started collectors go on)."""
        for child in (
            self.exchange, self.symbol, self.timeframe, self.since, self.until, self.mode,
            self.trades, self.start_button, *self.messages.values(), *self.widget.children,
            self.widget,
        ):  # fmt: skip
            child.close()
        if self._owns_log:
            self.log.close()
