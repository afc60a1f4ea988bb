"""What every widget shares: the visible log area and the runner of callback work.

Widget callbacks never do the work themselves: they read their fields and hand a coroutine to
:class:`Runner`, which schedules it on the workbench's loop and reports whatever it raises in
the :class:`LogArea` (and the package's logger), so no traceback lands in the cell and nothing
is swallowed. The coroutines update their widgets themselves before they return, so once a
:meth:`Runner.wait` returns, the widgets show the outcome (what headless tests rely on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import ipywidgets as w

from ohlcv_workbench.registry import ProcessCache
from ohlcv_workbench.runtime import CollectorHandle, LoopThread
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import CandleStore
from ohlcv_workbench.times import TimeLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LogArea", "LogEntry", "Runner", "WorkbenchApi", "css_slug"]

T = TypeVar("T")
log = logging.getLogger("ohlcv_workbench.widgets")

#: colours of log levels and statuses (dark enough to read on white and on JupyterLab's dark)
COLOURS = {
    "info": "#1f6feb",
    "warning": "#b7791f",
    "error": "#d1242f",
    "ok": "#1a7f37",
    "muted": "#6e7781",
}
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


class WorkbenchApi(Protocol):
    """What the widgets use of a :class:`~ohlcv_workbench.Workbench` (which provides it).

    The widgets depend on this much only, so the Workbench can offer ``dashboard()`` without
    the two importing each other.
    """

    settings: Settings
    cache: ProcessCache
    store: CandleStore
    runtime: LoopThread

    @property
    def process_id(self) -> str:
        """The ProcessCache id of the workbench (the host of its collectors)."""

    def candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        partial: bool = False,
    ) -> pd.DataFrame:
        """Stored candles, resampled on read."""

    def collectors(self, *, running_only: bool = False) -> list[CollectorHandle]:
        """Handles of the collectors started here."""

    async def start_collector_async(
        self,
        exchange: str,
        symbol: str,
        timeframe: str = "1m",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        trades: bool = False,
    ) -> CollectorHandle:
        """Start collecting a series (registered and running when it returns)."""


def css_slug(text: str) -> str:
    """``text`` in a CSS class name: ``ohlcv:ohlcv.sim.A/B:1`` -> ``ohlcv-ohlcv-sim-A-B-1``."""
    return _SLUG.sub("-", text).strip("-")


def inline(text: str, level: str = "error") -> str:
    """HTML of an inline message next to a field (empty text: nothing)."""
    if not text:
        return ""
    colour = COLOURS.get(level, COLOURS["muted"])
    return f'<span style="color:{colour};font-size:0.9em">{html.escape(text)}</span>'


@dataclass(frozen=True)
class LogEntry:
    """One line of the log area; ``error`` is the exception it reports, if any."""

    time: datetime
    level: str
    text: str
    error: BaseException | None = None


class LogArea:
    """A visible log of what widget callbacks did and what went wrong (newest last).

    ``entries`` holds every line (``error`` keeps the exception for inspection); the widget
    shows the last ``shown`` ones. Safe to write from any thread.
    """

    def __init__(self, shown: int = 30) -> None:
        self.shown = shown
        self.entries: list[LogEntry] = []
        self._lock = threading.Lock()
        self.view = w.HTML(value="", layout=w.Layout(max_height="12em", overflow="auto"))
        self.view.add_class("owb-log-lines")
        self.clear_button = w.Button(description="Clear log", layout=w.Layout(width="auto"))
        self.clear_button.add_class("owb-log-clear")
        self.clear_button.on_click(lambda _button: self.clear())
        self.widget = w.VBox([self.view, self.clear_button])
        self.widget.add_class("owb-log")
        self._render()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def info(self, text: str) -> None:
        """Add an information line."""
        self._add(LogEntry(datetime.now(UTC), "info", text))

    def warning(self, text: str) -> None:
        """Add a warning line."""
        self._add(LogEntry(datetime.now(UTC), "warning", text))

    def error(self, text: str, error: BaseException | None = None) -> None:
        """Add an error line (with the exception that caused it); also sent to the logger."""
        log.error("%s", text, exc_info=error)
        self._add(LogEntry(datetime.now(UTC), "error", text, error))

    def exception(self, what: str, error: BaseException) -> None:
        """Report ``error`` raised while doing ``what``."""
        self.error(f"{what} failed: {type(error).__name__}: {error}", error)

    @property
    def errors(self) -> list[LogEntry]:
        """The error lines."""
        with self._lock:
            return [e for e in self.entries if e.level == "error"]

    def clear(self) -> None:
        """Forget every line."""
        with self._lock:
            self.entries.clear()
        self._render()

    def _add(self, entry: LogEntry) -> None:
        with self._lock:
            self.entries.append(entry)
        self._render()

    def _render(self) -> None:
        with self._lock:
            last = self.entries[-self.shown :]
        if not last:
            self.view.value = inline("No messages yet.", "muted")
            return
        lines = [
            f'<div style="font-family:monospace;font-size:0.85em;color:{COLOURS[e.level]}">'
            f"{e.time:%H:%M:%S} {e.level.upper():7} {html.escape(e.text)}</div>"
            for e in last
        ]
        self.view.value = "".join(lines)

    def close(self) -> None:
        """Close the widgets."""
        self.widget.close()
        self.view.close()
        self.clear_button.close()


class Runner:
    """Runs callback work on the workbench's loop and reports its errors in the log area."""

    def __init__(self, wb: WorkbenchApi, log_area: LogArea) -> None:
        self.wb = wb
        self.log = log_area
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(
        self, coro: Coroutine[Any, Any, T], what: str
    ) -> concurrent.futures.Future[T | None]:
        """Schedule ``coro`` on the loop; an error it raises goes to the log (result None)."""
        try:
            future = self.wb.runtime.submit(self._guarded(coro, what))
        except RuntimeError as exc:  # the workbench was closed
            coro.close()
            self.log.exception(what, exc)
            done: concurrent.futures.Future[T | None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    async def _guarded(self, coro: Coroutine[Any, Any, T], what: str) -> T | None:
        try:
            return await coro
        except asyncio.CancelledError:
            self.log.warning(f"{what}: cancelled")
            raise
        except Exception as exc:
            self.log.exception(what, exc)
            return None

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the work submitted so far has finished (TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            left = deadline - time.monotonic()
            _done, not_done = concurrent.futures.wait(pending, timeout=max(left, 0))
            if not_done and time.monotonic() >= deadline:
                raise TimeoutError(f"widget work still running after {timeout} s")

    def callback(self, fn: Callable[..., None], what: str) -> Callable[..., None]:
        """``fn`` as a widget callback: an error it raises goes to the log, not the cell."""

        @functools.wraps(fn)
        def wrapper(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:
                self.log.exception(what, exc)

        return wrapper
