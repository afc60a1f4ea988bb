"""The standalone ``ohlcv-workbench sim`` command."""

import signal
import subprocess
import sys

import pytest

from ohlcv_workbench.sim.control import SimControl
from tests.helpers import NOW


def start_cli(*args, env=None):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohlcv_workbench", "sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert "serving on http://127.0.0.1:" in line, proc.stderr.read()
    return proc, line.split("serving on ")[1].split()[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted(tmp_path, sig):
    csv = tmp_path / "foo.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n60000,1.5,2,1,1.25,3\n")
    proc, url = start_cli("--seed", "3", "--now", str(NOW), "--replay", f"FOO/USDT={csv}")
    try:
        control = SimControl(url)
        info = control.info()
        assert info["seed"] == 3 and info["replays"] == ["FOO/USDT"] and control.now() == NOW
        assert info["symbols"]["FOO/USDT"] == 0
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "simulator: stopped" in out


def test_cli_rejects_a_bad_replay():
    result = subprocess.run(
        [sys.executable, "-m", "ohlcv_workbench", "sim", "--replay", "BTCUSDT"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "SYMBOL=FILE" in result.stderr
