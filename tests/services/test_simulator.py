"""The shared embedded simulator: one per data dir, started once, replaced on a seed change."""

import os
import subprocess
import sys

from ohlcv_workbench.services import EmbeddedSimulator, embedded_services, simulator_url
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim.control import SimControl

URL_OF = (
    "from ohlcv_workbench.services import simulator_url, EmbeddedSimulator; "
    "print(simulator_url(), EmbeddedSimulator().read_state().pid)"
)


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
        assert not first.status().healthy  # it no longer answers as seed 1
    finally:
        second.stop()
