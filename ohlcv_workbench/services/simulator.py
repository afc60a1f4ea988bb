"""The machine's shared simulator, run as an embedded service, and the URL to use.

:func:`simulator_url` returns ``settings.sim_url`` when configured, else the URL of the shared
simulator under ``{data_dir}/services/sim/`` (started detached on first use, seeded with
``settings.sim_seed``), so notebooks, CLI runs and tests on one machine share one server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.settings import Settings

from .base import EmbeddedService, ServiceState

__all__ = ["EmbeddedSimulator", "simulator_url"]

#: started through a launcher that exits at once, so the server is nobody's child here: no
#: zombie when it stops, and no "subprocess is still running" ResourceWarning at our exit
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,"
    " stderr=subprocess.STDOUT, start_new_session=True)\n"
    "print(child.pid, flush=True)\n"
    "os._exit(0)\n"
)


def _get_json(url: str, timeout: float = 1.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class EmbeddedSimulator(EmbeddedService):
    """``ohlcv-workbench sim`` run detached on 127.0.0.1, shared by every local process."""

    name = "sim"

    @property
    def seed(self) -> int:
        """The seed the shared simulator must run with."""
        return self.settings.sim_seed

    def url(self, state: ServiceState | None = None) -> str:
        """Base URL of the simulator (started if needed)."""
        state = state or self.ensure()
        return f"http://{state.host}:{state.port}"

    def _launch(self, port: int) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ohlcv_workbench", "sim"]
        argv += ["--port", str(port), "--seed", str(self.seed)]
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(self.log_path), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            timeout=30,
            check=False,
        )
        if launched.returncode != 0 or not launched.stdout.strip().isdigit():
            raise ServiceError(f"could not launch the simulator: {launched.stderr.strip()}")
        return int(launched.stdout.strip())

    def _answers(self, state: ServiceState) -> bool:
        """``GET /api/v3/ping`` answers ``{}`` and the server runs with the configured seed."""
        base = f"http://{state.host}:{state.port}"
        try:
            if _get_json(f"{base}/api/v3/ping") != {}:
                return False
            return bool(_get_json(f"{base}/_sim/info").get("seed") == self.seed)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _extra(self) -> dict[str, Any]:
        return {"seed": self.seed}


def simulator_url(settings: Settings | None = None) -> str:
    """``settings.sim_url`` when set, else the shared embedded simulator (started if needed)."""
    settings = settings or Settings.from_env()
    if settings.sim_url is not None:
        return settings.sim_url
    return EmbeddedSimulator(settings).url()
