"""A simulator on its own event loop in a background thread, for synchronous code."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from types import TracebackType

from .server import SimConfig, SimServer

__all__ = ["SimThread"]


class SimThread:
    """``with SimThread(SimConfig(seed=7)) as sim:`` serves until the block ends.

    ``sim.url`` is the base URL; ``sim.server`` is the :class:`SimServer` (call its methods
    only through :meth:`call`, or use :class:`~ohlcv_workbench.sim.control.SimControl`).
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.server = SimServer(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running simulator."""
        return self.server.url

    def start(self) -> SimThread:
        """Start the loop thread and the server; returns self."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Stop the server and the loop thread."""
        if not self._thread.is_alive():
            return
        future: Future[None] = asyncio.run_coroutine_threadsafe(self.server.close(), self._loop)
        future.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> SimThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
