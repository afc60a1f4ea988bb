"""The machine's shared simulator, run as an embedded service, and the URL to use.

:func:`simulator_url` returns ``settings.sim_url`` when configured, else the URL of the shared
simulator under ``{data_dir}/services/sim/`` (started detached on first use, seeded with
``settings.sim_seed``), so notebooks, CLI runs and tests on one machine share one server.
A running simulator with another seed is replaced (see :mod:`.base` for the lifecycle).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

from ohlcv_workbench.settings import Settings

from .base import EmbeddedService, Health, Probe, ServiceState
from .processes import OsProcess

__all__ = ["EmbeddedSimulator", "simulator_url"]

#: how the simulator's command line reads (``python -m ohlcv_workbench sim ...``)
_MODULE_ARGS = ("-m", "ohlcv_workbench", "sim")


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

    def _argv(self, port: int) -> list[str]:
        return [sys.executable, *_MODULE_ARGS, "--port", str(port), "--seed", str(self.seed)]

    def _env(self) -> dict[str, str]:
        return {**super()._env(), "PYTHONUNBUFFERED": "1"}

    def _probe(self, state: ServiceState) -> Probe:
        """``GET /api/v3/ping`` answers ``{}`` and the server runs with the configured seed."""
        base = f"http://{state.host}:{state.port}"
        try:
            if _get_json(f"{base}/api/v3/ping") != {}:
                return Probe(Health.FAULTY, "/api/v3/ping does not answer {}")
            seed = _get_json(f"{base}/_sim/info").get("seed")
        except urllib.error.HTTPError as exc:
            return Probe(Health.FAULTY, f"HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError) as exc:
            return Probe(Health.SILENT, str(exc))
        except (ValueError, AttributeError) as exc:
            return Probe(Health.FAULTY, f"answers no JSON object: {exc}")
        if seed != self.seed:
            return Probe(Health.MISMATCH, f"serves seed {seed}, not {self.seed}")
        return Probe(Health.UP)

    def _is_server(self, proc: OsProcess) -> bool:
        argv = proc.argv
        return any(argv[i : i + 3] == _MODULE_ARGS for i in range(len(argv)))

    def _extra(self) -> dict[str, Any]:
        return {"seed": self.seed}


def simulator_url(settings: Settings | None = None) -> str:
    """``settings.sim_url`` when set, else the shared embedded simulator (started if needed)."""
    settings = settings or Settings.from_env()
    if settings.sim_url is not None:
        return settings.sim_url
    return EmbeddedSimulator(settings).url()
