"""The store worker thread: results, errors, cancellation waiting for a begun call."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ohlcv_workbench.collectors.worker import BlockingWorker


async def test_results_errors_and_one_thread():
    worker = BlockingWorker()
    names = await asyncio.gather(*(worker.run(lambda: threading.current_thread().name)
                                   for _ in range(5)))  # fmt: skip
    assert set(names) == {worker.name}
    with pytest.raises(ZeroDivisionError):
        await worker.run(lambda: 1 / 0)
    worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        await worker.run(time.sleep, 0)


async def test_a_cancelled_caller_waits_for_the_begun_call():
    worker = BlockingWorker()
    done: list[str] = []

    def slow_write() -> None:
        time.sleep(0.3)
        done.append("written")

    task = asyncio.create_task(worker.run(slow_write))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == ["written"]  # the cancellation went on only after the write
    worker.close()
