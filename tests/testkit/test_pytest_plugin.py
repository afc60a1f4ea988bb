"""The pytest plugin: a test run that is interrupted still stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ohlcv_workbench.services import pid_alive
from tests.helpers import assert_stopped, interrupt, wait_for

#: a test that starts what tests start (the run's Redis, a simulator in its tmp_path, a CLI
#: child), tells where, and then waits to be interrupted
INNER = """
import json, os, subprocess, sys, time
from ohlcv_workbench.services import EmbeddedRedis, EmbeddedSimulator
from ohlcv_workbench.settings import Settings

def test_starts_servers_then_hangs(redis_url, tmp_path):
    own = EmbeddedSimulator(Settings(data_dir=tmp_path / "data"))
    own.ensure()
    child = subprocess.Popen([sys.executable, "-m", "ohlcv_workbench", "sim", "--port", "0"],
                             stdout=subprocess.DEVNULL)
    report = {
        "data_dir": os.environ["OHLCV_WORKBENCH_DATA_DIR"],
        "tmp_path": str(tmp_path),
        "pids": [EmbeddedRedis().read_state().pid, own.read_state().pid, child.pid],
    }
    with open(os.environ["INNER_REPORT"] + ".tmp", "w") as fh:
        json.dump(report, fh)
    os.rename(os.environ["INNER_REPORT"] + ".tmp", os.environ["INNER_REPORT"])
    time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_leaves_no_process_and_no_data_dir(tmp_path, sig):
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(INNER))
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OHLCV_WORKBENCH_")}
    env["INNER_REPORT"] = str(report)
    argv = [sys.executable, "-m", "pytest", "-c", os.devnull, "-p",
            "ohlcv_workbench.testkit.pytest_plugin", "-p", "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner-tmp'}", "--rootdir", str(tmp_path), "-q",
            str(test_file)]  # fmt: skip
    inner = subprocess.Popen(
        argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(report.exists, 60, "the inner test to start its servers")
    except AssertionError:
        interrupt(inner, signal.SIGKILL)
        raise
    started = json.loads(report.read_text())
    data_dir, inner_tmp = Path(started["data_dir"]), Path(started["tmp_path"])
    assert data_dir.is_dir() and all(pid_alive(pid) for pid in started["pids"])
    output = interrupt(inner, sig)
    assert inner.returncode != 0 and "KeyboardInterrupt" in output, output
    assert_stopped(started["pids"], data_dir, inner_tmp)
    assert not data_dir.exists()
