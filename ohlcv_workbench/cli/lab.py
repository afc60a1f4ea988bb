"""``ohlcv-workbench lab``: bring the services up and run JupyterLab on ``notebooks/``."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

from ohlcv_workbench.errors import ConfigError
from ohlcv_workbench.services.catalog import embedded_services
from ohlcv_workbench.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lab`` command."""
    parser = sub.add_parser("lab", help="start JupyterLab on the notebooks (headless)")
    parser.add_argument("--notebooks", type=Path, default=None, help="notebook directory")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--token", default=None, help="access token (default: generated)")
    parser.set_defaults(handler=run)


def notebook_dir(settings: Settings, given: Path | None) -> Path:
    """``--notebooks``, else ``notebooks/`` next to the data dir, else ``./notebooks``."""
    candidates = [given] if given else [settings.data_dir.parent / "notebooks", Path("notebooks")]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate.resolve()
    raise ConfigError(f"notebook directory not found (tried {', '.join(map(str, candidates))})")


def run(args: argparse.Namespace, settings: Settings) -> NoReturn:
    """Start the services, then replace this process with JupyterLab."""
    root = notebook_dir(settings, args.notebooks)
    for service in embedded_services(settings):
        state = service.ensure()
        print(f"{service.name}: up, pid {state.pid} on 127.0.0.1:{state.port}", flush=True)
    token = args.token or secrets.token_hex(24)
    host = "127.0.0.1" if args.ip in ("0.0.0.0", "") else args.ip
    print(f"JupyterLab: http://{host}:{args.port}/lab?token={token}", flush=True)
    argv = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        f"--ip={args.ip}",
        f"--port={args.port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        argv.append("--allow-root")
    os.execv(sys.executable, argv)
