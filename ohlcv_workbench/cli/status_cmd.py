"""``ohlcv-workbench status`` and ``ohlcv-workbench stop``: the processes in this Redis."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from ohlcv_workbench.settings import Settings

from .output import error

if TYPE_CHECKING:
    from ohlcv_workbench.registry import ProcessInfo

#: process statuses that mean "still working"
_WORKING = ("starting", "running", "processing")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` and ``stop`` commands."""
    status = sub.add_parser("status", help="list every process in the registry")
    status.add_argument("--json", action="store_true", help="a JSON array, one object per process")
    status.add_argument(
        "--ended-within",
        type=float,
        metavar="SECONDS",
        help="leave out processes that ended longer ago than this",
    )
    status.set_defaults(handler=run_status)
    stop = sub.add_parser(
        "stop", help="ask a process (maybe in another terminal or kernel) to stop"
    )
    stop.add_argument("target", metavar="COMPONENT|PROCESS_ID")
    stop.add_argument("--no-wait", action="store_true", help="do not wait for it to stop")
    stop.add_argument(
        "--timeout", type=float, help="seconds to wait (default: 3 heartbeat intervals + 2)"
    )
    stop.set_defaults(handler=run_stop)


def _status_of(info: ProcessInfo) -> str:
    return f"{info.status} STALE" if info.stale else info.status


def _as_json(info: ProcessInfo) -> dict[str, Any]:
    return {
        "process_id": info.process_id,
        "process_type": info.process_type,
        "component": info.component,
        "status": info.status,
        "stale": info.stale,
        "active": info.active,
        "heartbeat_age": round(info.heartbeat_age, 3),
        "message": info.message,
        "params": dict(info.params),
        "heartbeat": info.heartbeat.isoformat(),
        "created_at": info.created_at.isoformat(),
    }


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``status`` command."""
    from ohlcv_workbench.registry import ProcessCache, list_processes

    async def listing() -> list[ProcessInfo]:
        async with ProcessCache(settings=settings) as cache:
            return await list_processes(cache, ended_within=args.ended_within)

    infos = asyncio.run(listing())
    if args.json:
        print(json.dumps([_as_json(info) for info in infos], indent=2))
        return 0
    if not infos:
        print("no processes registered")
        return 0
    rows = [
        (i.component, _status_of(i), f"{i.heartbeat_age:.1f}s", i.message, i.process_id)
        for i in infos
    ]
    header = ("COMPONENT", "STATUS", "AGE", "MESSAGE", "PROCESS_ID")
    widths = [min(48, max(len(str(r[c])) for r in [header, *rows])) for c in range(4)]
    for row in [header, *rows]:
        cells = [str(cell)[:width].ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[4])]))
    return 0


def run_stop(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``stop`` command."""
    from ohlcv_workbench.registry import ProcessCache, request_stop

    timeout = args.timeout if args.timeout is not None else 3 * settings.heartbeat_interval + 2

    async def stopping() -> tuple[str, str | None]:
        async with ProcessCache(settings=settings) as cache:
            process_id = await request_stop(cache, args.target)
            if args.no_wait:
                return process_id, None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                record = await cache.get_process(process_id)
                status = None if record is None else str(record.get("status"))
                if status not in _WORKING or loop.time() >= deadline:
                    return process_id, status
                await asyncio.sleep(0.1)

    process_id, status = asyncio.run(stopping())
    if args.no_wait:
        print(f"stop requested for {process_id}")
        return 0
    if status in _WORKING:
        error(f"{process_id} is still {status} after {timeout:.0f} s")
        return 1
    print(f"{process_id}: {status or 'gone'}")
    return 0
