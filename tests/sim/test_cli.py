"""The standalone ``ohlcv-workbench sim`` command and the shared embedded simulator."""

import os
import signal
import subprocess
import sys

import pytest

from ohlcv_workbench.services import embedded_services
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim.control import SimControl
from ohlcv_workbench.sim.service import EmbeddedSimulator, simulator_url

from .conftest import NOW

URL_OF = (
    "from ohlcv_workbench.sim.service import simulator_url, EmbeddedSimulator; "
    "print(simulator_url(), EmbeddedSimulator().read_state().pid)"
)


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


def test_embedded_simulator_starts_once_for_several_processes(tmp_path):
    env = {**os.environ, "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path), "OHLCV_WORKBENCH_SIM_SEED": "5"}
    settings = Settings.from_env(env)
    service = EmbeddedSimulator(settings)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", URL_OF], env=env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        answers = {p.communicate(timeout=60)[0].strip() for p in procs}
        assert len(answers) == 1, answers
        url, pid = answers.pop().split()
        state = service.read_state()
        assert state is not None and state.pid == int(pid)
        assert simulator_url(settings) == url
        assert SimControl(url).info()["seed"] == 5
        assert service.status().running
    finally:
        assert service.stop() is True
    assert not service.status().running


def test_configured_url_is_used_and_nothing_started(tmp_path):
    settings = Settings(data_dir=tmp_path, sim_url="http://127.0.0.1:1")
    assert simulator_url(settings) == "http://127.0.0.1:1"
    assert not any(isinstance(s, EmbeddedSimulator) for s in embedded_services(settings))
    assert any(
        isinstance(s, EmbeddedSimulator) for s in embedded_services(Settings(data_dir=tmp_path))
    )
    assert not (tmp_path / "services").exists()


def test_a_running_simulator_with_another_seed_is_replaced(tmp_path):
    first = EmbeddedSimulator(Settings(data_dir=tmp_path, sim_seed=1))
    second = EmbeddedSimulator(Settings(data_dir=tmp_path, sim_seed=2))
    try:
        url = first.url()
        assert SimControl(url).info()["seed"] == 1
        assert SimControl(second.url()).info()["seed"] == 2
        assert not first.status().running  # it no longer answers as seed 1
    finally:
        second.stop()
