"""``python -m benchmarks.workers.live_many --symbols A,B,...``: live 1s collectors in one
Workbench, until SIGTERM.

Settings come from the environment (the benchmark sets the data dir, simulator and store).
ccxt's limiter is off (see :mod:`benchmarks.metrics.live_many`). Prints ``live`` once every
collector follows live candles, then waits; SIGTERM closes the Workbench (every collector
STOPPED in ProcessCache) and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Sequence

from ohlcv_workbench import Workbench
from ohlcv_workbench.collectors import Phase


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers.live_many")
    parser.add_argument("--symbols", required=True, help="comma-separated")
    parser.add_argument("--timeframe", default="1s")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Workbench(rate_limit=False) as wb:
        handles = [wb.start_collector("sim", s, args.timeframe) for s in args.symbols.split(",")]
        while not stop.is_set():
            failed = [h for h in handles if h.status is Phase.ERROR]
            if failed:
                raise RuntimeError(f"{failed[0].spec}: {failed[0].message}")
            if all(h.status is Phase.LIVE for h in handles):
                break
            time.sleep(0.1)
        print("live", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
