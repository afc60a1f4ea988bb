"""The simulator for benchmarks, in its own process: ``python -m benchmarks.simproc``.

It is the package's :class:`~ohlcv_workbench.sim.SimServer` (same data, limits and counters as
``ohlcv-workbench sim``) with two additions the metrics need:

- ``--extra-symbols N`` serves N more generated symbols (``X001/USDT`` ...) cloned from
  BTC/USDT's spec with their own data (the built-in set has 8; 200 live collectors need 200).
- Answers are not gzipped (the simulator's compression, 2.5 ms of its own CPU per page,
  would make it the bottleneck of the backfill figures, which measure the clients).
- ``GET /_bench/times`` answers the arrival times (epoch seconds, this process's clock) of the
  first API request, the first klines request and the last API request since the last
  ``DELETE /_bench/times``; :class:`SimProcess` reads them.

It prints ``simulator: serving on URL`` once listening and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from ohlcv_workbench.sim.control import SimControl
from ohlcv_workbench.sim.markets import BUILTIN_SYMBOLS, SymbolSpec
from ohlcv_workbench.sim.server import SimConfig, SimServer, serve_until_signalled

from .harness import Context, Popen, python, stop_process

__all__ = ["SimProcess", "extra_symbols", "main"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def extra_symbols(count: int) -> tuple[SymbolSpec, ...]:
    """``count`` symbols ``X001/USDT``... with BTC/USDT's shape and their own data."""
    btc = BUILTIN_SYMBOLS[0]
    return tuple(dataclasses.replace(btc, symbol=f"X{i:03d}/USDT") for i in range(1, count + 1))


class _Times:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first: float | None = None
        self.first_klines: float | None = None
        self.last: float | None = None
        self.requests = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "first_klines": self.first_klines,
            "last": self.last,
            "requests": self.requests,
        }


class BenchSimServer(SimServer):
    """SimServer plus the ``/_bench/times`` endpoint (see the module docstring)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.times = _Times()

    def app(self) -> web.Application:
        """The simulator's routes behind a middleware that stamps API request arrivals."""
        times = self.times

        @web.middleware
        async def stamp(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith("/api/v3/"):
                now = time.time()
                if times.first is None:
                    times.first = now
                if times.first_klines is None and request.path == "/api/v3/klines":
                    times.first_klines = now
                times.last = now
                times.requests += 1
            return await handler(request)

        async def get_times(request: web.Request) -> web.StreamResponse:
            return web.json_response(times.as_dict())

        async def reset_times(request: web.Request) -> web.StreamResponse:
            times.reset()
            return web.json_response({})

        app = super().app()
        app.middlewares.append(stamp)
        app.router.add_get("/_bench/times", get_times)
        app.router.add_delete("/_bench/times", reset_times)
        return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simproc")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--weight-limit", type=int, default=6000, help="0: no limit")
    parser.add_argument("--extra-symbols", type=int, default=0)
    args = parser.parse_args(argv)
    config = SimConfig(
        seed=args.seed,
        port=args.port,
        weight_limit=args.weight_limit or None,
        symbols=BUILTIN_SYMBOLS + extra_symbols(args.extra_symbols),
        gzip=False,
    )
    asyncio.run(serve_until_signalled(BenchSimServer(config)))
    return 0


class SimProcess:
    """``with SimProcess(ctx, ...) as sim:`` runs :func:`main` in a child process.

    ``sim.url`` is its base URL and ``sim.control`` a :class:`SimControl`.
    """

    def __init__(self, ctx: Context, *, weight_limit: int = 6000, extra_symbols: int = 0) -> None:
        self.ctx = ctx
        self.argv = python(
            "-m", "benchmarks.simproc",
            "--weight-limit", str(weight_limit),
            "--extra-symbols", str(extra_symbols),
        )  # fmt: skip
        self.url = ""
        self._child: Popen | None = None

    def __enter__(self) -> SimProcess:
        child = self._child = self.ctx.spawn("sim", self.argv)
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the server listens (or dies)
        if "serving on " not in line:
            stop_process(child)
            raise RuntimeError(f"the simulator did not start: {line}{self.ctx.log_tail('sim')}")
        self.url = line.rsplit(" ", 1)[1].strip()
        self.control.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            stop_process(self._child)

    @property
    def control(self) -> SimControl:
        """The simulator's control client."""
        return SimControl(self.url)

    @property
    def pid(self) -> int:
        """The simulator's process id."""
        assert self._child is not None
        return self._child.pid

    def times(self) -> dict[str, Any]:
        """First / first klines / last API request arrival times (epoch s), request count."""
        with urllib.request.urlopen(f"{self.url}/_bench/times", timeout=5) as response:
            return dict(json.loads(response.read()))

    def reset(self) -> None:
        """Zero the counters, the weight window and the request times."""
        self.control.reset_counters()
        request = urllib.request.Request(f"{self.url}/_bench/times", method="DELETE")
        with urllib.request.urlopen(request, timeout=5):
            pass


if __name__ == "__main__":
    raise SystemExit(main())
