"""``ohlcv-workbench lab`` (what ``make lab`` runs): services up, JupyterLab answering."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from ohlcv_workbench.services import EmbeddedRedis, embedded_services, free_port
from ohlcv_workbench.settings import Settings
from tests.helpers import project_pids


@pytest.mark.slow
def test_lab_serves_jupyterlab_with_token_and_redis_with_password(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    data = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "OHLCV_WORKBENCH_DATA_DIR": str(data),
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohlcv_workbench", "lab", "--port", str(port),
         "--notebooks", str(notebooks)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"JupyterLab: (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url is not None and "token=" in url
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = response.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert status == 200
        without_token = url.split("?")[0]
        with (
            pytest.raises(urllib.error.HTTPError),
            urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/api/contents"), timeout=5
            ),
        ):
            pass
        assert without_token.endswith("/lab")

        service = EmbeddedRedis(Settings(data_dir=data))
        state = service.read_state()
        assert state is not None
        assert redis.Redis.from_url(service.url(state)).ping() is True
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=state.port, protocol=2).ping()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        for embedded in embedded_services(Settings(data_dir=data)):  # the simulator too
            embedded.stop()
    assert project_pids(data) == set()
