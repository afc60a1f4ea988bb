"""What the multi-host test runs inside its namespaces: ``python -m tests.multihost.probe CMD``.

The test process stays in the machine's own network namespace, which has no route to the test
hosts; every look at Redis, PostgreSQL or the simulator goes through this script, run with
``ip netns exec`` in one of the namespaces, with the workbench's URLs in the environment.
Each command prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import redis

from ohlcv_workbench.exchange import candle_pages, open_exchange
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.registry import ProcessCache, list_processes
from ohlcv_workbench.services.postgres_server import PostgresCluster
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.sim.control import SimControl
from ohlcv_workbench.store import open_store
from ohlcv_workbench.times import to_ms


def postgres(args: argparse.Namespace) -> dict[str, Any]:
    """initdb and start a PostgreSQL server on ``host:port`` (this namespace), make ``ohlcv``."""
    cluster = PostgresCluster(Path(args.pgdata), Path(args.log))
    cluster.init(args.password)
    pid = cluster.start(args.host, args.port)
    url = f"postgresql://postgres:{args.password}@{args.host}:{args.port}/postgres"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ohlcv")
    return {"pid": pid}


def ready(settings: Settings) -> dict[str, Any]:
    """Wait until Redis, PostgreSQL and the simulator all answer (from this namespace)."""
    deadline, last = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        try:
            assert settings.redis_url and settings.store_url and settings.sim_url
            redis.Redis.from_url(settings.redis_url).ping()
            psycopg.connect(settings.store_url, connect_timeout=2).close()
            SimControl(settings.sim_url).info()
            return {"ready": True}
        except Exception as exc:  # noqa: BLE001 - not up yet: try again
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
    return {"ready": False, "last": last}


def counts(settings: Settings, symbols: list[str]) -> dict[str, int]:
    with open_store(settings) as store:
        return {s: store.ohlcv_count(SeriesKey("sim", s, "1m")) for s in symbols}


async def processes(settings: Settings) -> list[dict[str, Any]]:
    async with ProcessCache(settings=settings) as cache:
        found = await list_processes(cache)
    return [
        {"component": p.component, "status": p.status, "stale": p.stale, "active": p.active,
         "pid": p.params.get("pid"), "message": p.message}
        for p in found
    ]  # fmt: skip


async def compare(settings: Settings, since: int, until: int, symbols: list[str]) -> Any:
    """Each stored series against the simulator's own candles, fetched now."""
    out = {}
    with open_store(settings) as store:
        async with open_exchange("sim", settings=settings, rate_limit=False) as ex:
            for symbol in symbols:
                pages = candle_pages(ex, symbol, "1m", since, until)
                expected = pd.concat([page.to_frame() async for page in pages])
                key = SeriesKey("sim", symbol, "1m")
                got = store.ohlcv_load(key, since, until)
                out[symbol] = {
                    "rows": len(got),
                    "expected": len(expected),
                    "equal": bool(got.equals(expected)),
                    "gaps": len(store.ohlcv_gaps(key, since, until)),
                    "unique": bool(got.index.is_unique),
                }
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="probe")
    sub = parser.add_subparsers(dest="command", required=True)
    pg = sub.add_parser("postgres")
    for name in ("pgdata", "log", "password", "host"):
        pg.add_argument(name)
    pg.add_argument("port", type=int)
    sub.add_parser("ready")
    faults = sub.add_parser("faults")
    faults.add_argument("json")
    for name in ("counts", "compare"):
        cmd = sub.add_parser(name)
        if name == "compare":
            cmd.add_argument("since")
            cmd.add_argument("until")
        cmd.add_argument("symbols", nargs="+")
    sub.add_parser("processes")
    args = parser.parse_args(argv)
    if args.command == "postgres":
        result: Any = postgres(args)
    else:
        settings = Settings.from_env()
        if args.command == "ready":
            result = ready(settings)
        elif args.command == "faults":
            assert settings.sim_url is not None
            result = SimControl(settings.sim_url).set_faults(**json.loads(args.json)).as_dict()
        elif args.command == "counts":
            result = counts(settings, args.symbols)
        elif args.command == "processes":
            result = asyncio.run(processes(settings))
        else:
            window = to_ms(args.since), to_ms(args.until)
            result = asyncio.run(compare(settings, *window, args.symbols))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
