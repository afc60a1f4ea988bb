"""The benchmark harness: a run stops what it started, also when it is interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness import ROOT
from ohlcv_workbench.services import pid_alive
from tests.helpers import assert_stopped, interrupt

#: a benchmark context with its Redis and simulator up, waiting to be interrupted
RUN = """
import time
from benchmarks.harness import Context
from benchmarks.simproc import SimProcess
from ohlcv_workbench.services import EmbeddedRedis
with Context(quick=True) as ctx, SimProcess(ctx) as sim:
    ctx.redis_url()
    print(ctx.root, EmbeddedRedis().read_state().pid, sim.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_benchmark_run_leaves_nothing_running(sig):
    run = subprocess.Popen(
        [sys.executable, "-c", RUN], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert run.stdout is not None
    root_text, *pids = run.stdout.readline().split()
    root = Path(root_text)
    assert root.is_dir() and all(pid_alive(int(pid)) for pid in pids)
    output = interrupt(run, sig)
    assert run.returncode != 0 and "KeyboardInterrupt" in output, output
    assert_stopped(map(int, pids), root)
    assert not root.exists()
