import asyncio
import threading
import time

import pytest

from ohlcv_workbench.runtime.loop import LoopThread


@pytest.fixture
def lt():
    loop_thread = LoopThread("test-loop")
    yield loop_thread
    loop_thread.stop()


def test_runs_coroutines_on_its_own_thread(lt):
    async def where() -> str:
        return threading.current_thread().name

    assert lt.run(where()) == "test-loop"
    assert lt.submit(where()).result(5) == "test-loop"


def test_loop_keeps_running_while_caller_blocks(lt):
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    lt.submit(ticker())
    time.sleep(0.3)  # the "notebook cell" blocks; the loop does not care
    assert len(ticks) >= 5


def test_errors_propagate_and_timeout(lt):
    async def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        lt.run(boom())
    with pytest.raises(TimeoutError):
        lt.run(asyncio.sleep(5), timeout=0.05)


async def test_run_async_from_another_loop(lt):
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await lt.run_async(answer()) == 42


def test_run_from_own_loop_is_refused(lt):
    async def nested() -> None:
        lt.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="own loop"):
        lt.run(nested())


def test_stop_cancels_pending_tasks():
    lt = LoopThread()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    lt.submit(forever())
    time.sleep(0.05)
    lt.stop()
    assert cancelled.is_set()
    assert not lt.running
    with pytest.raises(RuntimeError, match="stopped"):
        lt.submit(asyncio.sleep(0))
