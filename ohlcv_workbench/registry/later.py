"""Registry writes that must not be lost to a Redis outage (a process' end, a lease release).

A write that finds Redis unreachable is handed to :class:`WritesForLater`, which retries it in
the background of the same process, with backoff, until Redis answers or a window of
:data:`LATER_WINDOW` seconds has passed. A host shutting down waits for them a little
(:meth:`WritesForLater.flush`); what is still unwritten then is given up, and the stale cleanup
ends those processes later.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from ohlcv_workbench.errors import RegistryError, RegistryUnavailableError

__all__ = ["LATER_WINDOW", "WritesForLater"]

log = logging.getLogger(__name__)

#: seconds a write that found Redis unreachable is retried in the background
LATER_WINDOW = 600.0
#: seconds before the first retry of such a write; doubled after each failure up to the max
LATER_FIRST_WAIT = 0.2
LATER_MAX_WAIT = 5.0


class WritesForLater:
    """The writes of one registry client that wait for Redis, each a task of the running loop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def add(
        self, write: Callable[[], Awaitable[object]], what: str, *, window: float = LATER_WINDOW
    ) -> None:
        """Retry ``write`` until Redis answers, for up to ``window`` seconds.

        Retried with backoff while it raises RegistryUnavailableError; ``what`` names it in the
        log (one line when it is written, or given up).
        """
        task = asyncio.get_running_loop().create_task(
            self._keep_trying(write, what, window), name=f"registry write later: {what}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_trying(
        self, write: Callable[[], Awaitable[object]], what: str, window: float
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        wait = LATER_FIRST_WAIT
        while True:
            await asyncio.sleep(wait * random.uniform(0.75, 1.0))  # jitter
            try:
                await write()
            except RegistryUnavailableError as exc:
                if loop.time() + wait > deadline:
                    log.warning("gave up writing %s after %.0f s: %s", what, window, exc)
                    return
                wait = min(2 * wait, LATER_MAX_WAIT)
                continue
            except RegistryError as exc:
                log.warning("could not write %s: %s", what, exc)
                return
            log.info("wrote %s once Redis was back", what)
            return

    async def flush(self, within: float, *, give_up: bool = False) -> int:
        """Wait up to ``within`` seconds for the pending writes; how many are left (given up,
        when ``give_up``)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
        return await self.give_up() if give_up else len(self._tasks)

    async def give_up(self) -> int:
        """Cancel the pending writes; how many there were."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)
