"""The heartbeat monitor: every process in the registry, refreshed by one throttled watcher.

One row per process record in Redis (collectors of this workbench, of other kernels and CLI
daemons, fullon's processes): component, type, status, message, backfill progress, heartbeat
age, a STALE badge, and a Stop button. Stop stops a collector of this workbench directly and
asks any other process through Redis (it stops on its next heartbeat); a STALE process (no
heartbeat for longer than the settings' limit, e.g. killed with SIGKILL) cannot hear a request,
so its button reads Clear and marks the record ended (ERROR) in the registry.

The watcher is a task on the workbench's loop, refreshing at most twice a second; it ends with
:meth:`HeartbeatMonitor.close` or when the workbench closes (its loop cancels it). Rows are
kept per process and updated in place, so a refresh sends only the values that changed.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ohlcv_workbench.registry import ProcessInfo, ProcessStatus, list_processes, request_stop
from ohlcv_workbench.times import format_age

from ._common import COLOURS, LogArea, Runner, WorkbenchApi, css_slug, inline

if TYPE_CHECKING:
    import concurrent.futures

    from ohlcv_workbench.runtime import CollectorHandle

__all__ = ["MIN_INTERVAL", "HeartbeatMonitor", "MonitorRow"]

#: the watcher refreshes at most this often (seconds between two refreshes)
MIN_INTERVAL = 0.5
#: ended processes are listed this long after they ended (seconds)
ENDED_WITHIN = 3600.0

STATUS_COLOURS = {
    "starting": COLOURS["info"],
    "running": COLOURS["ok"],
    "processing": COLOURS["ok"],
    "idle": COLOURS["muted"],
    "error": COLOURS["error"],
    "stopped": COLOURS["muted"],
}
COLUMNS = (
    ("Component", "17em"),
    ("Type", "5em"),
    ("Status", "7em"),
    ("Message", "26em"),
    ("Progress", "12em"),
    ("Heartbeat", "6em"),
    ("", "5em"),
    ("", "6em"),
)


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def _progress(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    progress = params.get("progress")
    return progress if isinstance(progress, Mapping) else None


class MonitorRow:
    """The widgets of one process's row (updated in place on every refresh)."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self.info: ProcessInfo | None = None
        self.stopping = False
        widths = [width for _title, width in COLUMNS]
        self.component = w.HTML(layout=w.Layout(width=widths[0]))
        self.process_type = w.HTML(layout=w.Layout(width=widths[1]))
        self.status = w.HTML(layout=w.Layout(width=widths[2]))
        self.message = w.HTML(layout=w.Layout(width=widths[3]))
        self.progress = w.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=w.Layout(width="7em", visibility="hidden")
        )
        self.progress_label = w.HTML(layout=w.Layout(width="5em"))
        self.age = w.HTML(layout=w.Layout(width=widths[5]))
        self.stale = w.HTML(layout=w.Layout(width=widths[6]))
        self.stop_button = w.Button(description="Stop", layout=w.Layout(width=widths[7]))
        self.status.add_class("owb-monitor-status")
        self.progress.add_class("owb-monitor-progress")
        self.stale.add_class("owb-monitor-stale")
        self.stop_button.add_class("owb-monitor-stop")
        self._index_class: str | None = None
        self.widget = w.HBox(
            [
                self.component, self.process_type, self.status, self.message,
                w.HBox([self.progress, self.progress_label], layout=w.Layout(width=widths[4])),
                self.age, self.stale, self.stop_button,
            ]
        )  # fmt: skip
        self.widget.add_class("owb-monitor-row")
        self.widget.add_class(f"owb-process-{css_slug(process_id)}")

    @property
    def status_text(self) -> str:
        """The status shown ("running", "stopped", ...)."""
        return "" if self.info is None else _text(self.info.status)

    @property
    def is_stale(self) -> bool:
        """True while the STALE badge is shown."""
        return bool(self.info is not None and self.info.stale)

    def set_index(self, index: int) -> None:
        """Name the row's Stop button ``owb-monitor-stop-<index>`` (0 = first row)."""
        name = f"owb-monitor-stop-{index}"
        if name == self._index_class:
            return
        if self._index_class is not None:
            self.stop_button.remove_class(self._index_class)
        self.stop_button.add_class(name)
        self._index_class = name

    def update(self, info: ProcessInfo, own_id: str) -> None:
        """Show ``info`` (``own_id``: the workbench's own host record, which has no Stop)."""
        self.info = info
        status = _text(info.status)
        title = html.escape(f"{info.process_id}\nparams: {dict(info.params)}")
        self._set(
            self.component,
            f'<span title="{title}"><code>{html.escape(info.component)}</code></span>',
        )
        self._set(self.process_type, html.escape(_text(info.process_type)))
        colour = STATUS_COLOURS.get(status, COLOURS["muted"])
        self._set(self.status, f'<b style="color:{colour}">{html.escape(status.upper())}</b>')
        self._set(self.message, html.escape(info.message))
        progress = _progress(info.params)
        if progress is not None:
            fraction = float(progress.get("fraction") or 0.0)
            self.progress.value = min(max(fraction, 0.0), 1.0)
            self.progress.bar_style = "success" if fraction >= 1 else "info"
            self.progress.layout.visibility = "visible"
            self._set(self.progress_label, f"{fraction:.0%}")
        else:
            self.progress.layout.visibility = "hidden"
            self._set(self.progress_label, "")
        age = format_age(info.heartbeat_age)
        self._set(self.age, age if info.active else inline(age, "muted"))
        badge = (
            f'<span style="background:{COLOURS["error"]};color:white;padding:0 0.4em;'
            f'border-radius:0.3em;font-weight:bold" title="no heartbeat for {age}">STALE</span>'
        )
        self._set(self.stale, badge if info.stale else "")
        button = self.stop_button
        if not info.active:
            self.stopping = False
            button.description, button.disabled = "Stop", True
            button.tooltip = f"{status}: nothing to stop"
        elif info.process_id == own_id:
            button.description, button.disabled = "Stop", True
            button.tooltip = "This workbench's own record: close the workbench (wb.close())"
        elif info.stale:
            button.description, button.disabled = "Clear", False
            button.tooltip = f"No heartbeat for {age}: mark it ended (ERROR) in the registry"
        elif self.stopping:
            button.description, button.disabled = "Stopping", True
        else:
            button.description, button.disabled = "Stop", False
            button.tooltip = f"Stop {info.component}"

    @staticmethod
    def _set(widget: Any, value: str) -> None:
        if widget.value != value:
            widget.value = value

    def close(self) -> None:
        """Close the row's widgets."""
        for child in self.widget.children:
            for grandchild in getattr(child, "children", ()):
                grandchild.close()
            child.close()
        self.widget.close()


class HeartbeatMonitor:
    """A live table of every process in the registry, with a system-health line above it.

    ::

        monitor = HeartbeatMonitor(wb)     # starts its watcher (interval >= 0.5 s)
        monitor                            # in a notebook cell
        monitor.refresh()                  # refresh now (scripts, tests)
        monitor.close()                    # stops the watcher

    ``infos`` is what the last refresh read; :meth:`row` gives a process's row widgets.
    """

    def __init__(
        self,
        wb: WorkbenchApi,
        *,
        log: LogArea | None = None,
        interval: float = 1.0,
        ended_within: float | None = ENDED_WITHIN,
        watch: bool = True,
    ) -> None:
        self.wb = wb
        self.log = log if log is not None else LogArea()
        self._owns_log = log is None
        self.runner = Runner(wb, self.log)
        self.interval = max(float(interval), MIN_INTERVAL)
        self.ended_within = ended_within
        self.infos: list[ProcessInfo] = []
        #: refreshes done so far (by the watcher or :meth:`refresh`)
        self.refreshes = 0
        #: the error of the last refresh, None when it read the registry
        self.last_error: BaseException | None = None
        self._rows: dict[str, MonitorRow] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.health = w.HTML(value=inline("Not refreshed yet", "muted"))
        self.health.add_class("owb-monitor-health")
        header = w.HBox(
            [w.HTML(f"<b>{title}</b>", layout=w.Layout(width=width)) for title, width in COLUMNS]
        )
        self.rows = w.VBox([])
        self.rows.add_class("owb-monitor-rows")
        self.table = w.VBox([header, self.rows])
        self.widget = w.VBox([self.health, self.table])
        self.widget.add_class("owb-monitor")
        if watch:
            if self.wb.runtime.in_loop_thread():
                self.refresh_soon()
            else:
                self.refresh()  # the table is filled before it is first shown
            self.start()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- refreshing --------------------------------------------------------------------------
    def refresh(self, timeout: float = 15.0) -> list[ProcessInfo]:
        """Read the registry and update the table now; the processes read."""
        if self.wb.runtime.in_loop_thread():
            raise RuntimeError("HeartbeatMonitor.refresh() called on the loop: await _refresh()")
        return self.wb.runtime.run(self._refresh(), timeout)

    def refresh_soon(self) -> concurrent.futures.Future[list[ProcessInfo] | None]:
        """Refresh on the loop without waiting (from any thread, the loop's included)."""
        return self.runner.submit(self._refresh(), "refreshing the monitor")

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the monitor's pending work (stops, refreshes) has finished."""
        self.runner.wait(timeout)

    def row(self, process_id: str) -> MonitorRow | None:
        """The row of ``process_id`` as of the last refresh (None when not listed)."""
        return self._rows.get(process_id)

    async def _refresh(self) -> list[ProcessInfo]:
        started = time.perf_counter()
        try:
            infos = await list_processes(
                self.wb.cache.client,
                stale_after=self.wb.settings.stale_after,
                ended_within=self.ended_within,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.refreshes += 1
            if self.last_error is None:
                self.log.exception("reading the process registry", exc)
            self.last_error = exc
            self.health.value = self._health_html(error=exc)
            return self.infos
        if self.last_error is not None:
            self.log.info("the process registry can be read again")
            self.last_error = None
        self._apply(infos)
        self.refreshes += 1
        self.health.value = self._health_html(elapsed=time.perf_counter() - started)
        return infos

    def _apply(self, infos: list[ProcessInfo]) -> None:
        self.infos = infos
        own = self.wb.process_id
        seen: list[MonitorRow] = []
        for index, info in enumerate(infos):
            row = self._rows.get(info.process_id)
            if row is None:
                row = self._rows[info.process_id] = MonitorRow(info.process_id)
                row.stop_button.on_click(self.runner.callback(self._on_stop(row), "Stop"))
            row.update(info, own)
            row.set_index(index)
            seen.append(row)
        gone = set(self._rows) - {info.process_id for info in infos}
        children = tuple(row.widget for row in seen)
        if children != tuple(self.rows.children):
            self.rows.children = children
        for process_id in gone:
            self._rows.pop(process_id).close()

    def _on_stop(self, row: MonitorRow) -> Callable[[object], None]:
        def clicked(_button: object) -> None:
            self.stop(row.process_id)

        return clicked

    def _health_html(self, *, elapsed: float = 0.0, error: BaseException | None = None) -> str:
        now = f"{datetime.now(UTC):%H:%M:%S} UTC"
        watcher = f"watching every {self.interval:g} s" if self.watching else "not watching"
        if error is not None:
            return (
                f'<span style="color:{COLOURS["error"]}">● Registry unreachable: '
                f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</span> · "
                f"tried {now} · {watcher}"
            )
        counts = self.counts
        running, stale, errors, ended = (counts[k] for k in ("running", "stale", "error", "ended"))
        colour = COLOURS["error"] if stale or errors else COLOURS["ok"]
        parts = [
            f'<span style="color:{colour}">●</span> Redis reachable ({elapsed * 1000:.0f} ms)',
            f"{running} running",
            f'<span style="color:{COLOURS["error"] if stale else "inherit"}">{stale} stale</span>',
            f'<span style="color:{COLOURS["error"] if errors else "inherit"}">'
            f"{errors} error</span>",
            f"{ended} ended",
            f"updated {now}",
            watcher,
        ]
        return " · ".join(parts)

    @property
    def counts(self) -> dict[str, int]:
        """Processes by health as of the last refresh: running, stale, error, ended."""
        return {
            "running": sum(
                i.active and not i.stale and _text(i.status) != "error" for i in self.infos
            ),
            "stale": sum(i.stale for i in self.infos),
            "error": sum(_text(i.status) == "error" for i in self.infos),
            "ended": sum(not i.active for i in self.infos),
        }

    # -- the watcher -------------------------------------------------------------------------
    @property
    def watching(self) -> bool:
        """True while the background watcher runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the background watcher (no-op when it runs)."""
        if self.watching or self._closed:
            return
        if self.wb.runtime.in_loop_thread():
            self._task = asyncio.create_task(self._watch(), name="heartbeat monitor")
        else:
            self._task = self.wb.runtime.run(self._spawn(), 10)

    async def _spawn(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._watch(), name="heartbeat monitor")

    async def _watch(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self._refresh()
        finally:  # the task is not done yet here, so `watching` would still say True
            self.health.value = self.health.value.replace(
                f"watching every {self.interval:g} s", "not watching"
            )

    def stop_watching(self, timeout: float = 10.0) -> None:
        """Stop the background watcher and wait until it has ended."""
        task = self._task
        if task is None or task.done() or not self.wb.runtime.running:
            return
        self.wb.runtime.run(self._cancel(task), timeout)

    @staticmethod
    async def _cancel(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.wait({task})

    # -- stopping processes ------------------------------------------------------------------
    def stop(self, process_id: str) -> concurrent.futures.Future[None]:
        """What the row's button does: stop (or clear) ``process_id`` on the loop."""
        row = self._rows.get(process_id)
        if row is not None:
            row.stopping = True
            row.stop_button.description, row.stop_button.disabled = "Stopping", True
        return self.runner.submit(self._stop(process_id), f"stopping {process_id}")

    def _local(self, process_id: str) -> CollectorHandle | None:
        for handle in self.wb.collectors():
            if handle.process_id == process_id:
                return handle
        return None

    async def _stop(self, process_id: str) -> None:
        row = self._rows.get(process_id)
        info = row.info if row is not None else None
        name = info.component if info is not None else process_id
        handle = self._local(process_id)
        try:
            if info is not None and info.stale:
                age = format_age(info.heartbeat_age)
                await request_stop(self.wb.cache.client, process_id)
                await self.wb.cache.stop_process(
                    process_id,
                    f"Lost: no heartbeat for {age}; cleared from the heartbeat monitor",
                    status=ProcessStatus.ERROR,
                )
                self.log.warning(f"cleared {name}: no heartbeat for {age}")
            elif handle is not None:
                state = await handle.stop_async()
                self.log.info(f"stopped {name}: {state.message}")
            else:
                await request_stop(self.wb.cache.client, process_id)
                self.log.info(f"asked {name} to stop through Redis (on its next heartbeat)")
        finally:
            if row is not None:
                row.stopping = handle is None and not (info is not None and info.stale)
            await self._refresh()

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the watcher and close the widgets."""
        if self._closed:
            return
        self._closed = True
        self.stop_watching()
        for row in self._rows.values():
            row.close()
        self._rows.clear()
        for child in self.table.children:
            for grandchild in getattr(child, "children", ()):
                grandchild.close()
            child.close()
        for widget in (self.table, self.health, self.widget):
            widget.close()
        if self._owns_log:
            self.log.close()
