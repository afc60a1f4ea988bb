"""``ohlcv-workbench services up|down|status``: the embedded Redis, simulator and PostgreSQL.

``up`` and ``status`` cover the services the settings use; ``down`` stops every embedded
service running in the data dir (one the settings no longer use included).
"""

from __future__ import annotations

import argparse
import json

from ohlcv_workbench.services.catalog import all_services, embedded_services
from ohlcv_workbench.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``services`` command."""
    parser = sub.add_parser("services", help="start, stop or inspect the embedded services")
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``services`` command."""
    services = embedded_services(settings)
    if not services:
        print("no embedded services: Redis is external (" + str(settings.redis_source) + ")")
    if args.action == "up":
        for service in services:
            state = service.ensure()
            print(f"{service.name}: up, pid {state.pid} on 127.0.0.1:{state.port}")
    elif args.action == "down":
        used = {service.name for service in services}
        for service in all_services(settings):
            pids = service.stop_servers()
            if pids or service.name in used:
                done = f"stopped (pid {', '.join(map(str, pids))})" if pids else "was not running"
                print(f"{service.name}: {done}")
    else:
        statuses = [service.status() for service in services]
        if args.json:
            print(json.dumps([s.as_dict() for s in statuses], indent=2))
        for status in statuses if not args.json else ():
            shown = "running" if status.healthy else "unhealthy" if status.running else "down"
            print(f"{status.name}: {shown} ({status.detail})")
        return 0 if all(s.healthy and not s.strays for s in statuses) else 1
    return 0
