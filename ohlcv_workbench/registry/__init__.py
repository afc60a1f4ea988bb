"""The process registry: fullon_cache's ProcessCache, leases, heartbeats and the monitor.

Rooms, from the wire up:

- :mod:`.keys`: every Redis key and prefix (fullon's ``process:*`` layout and the workbench's
  own ``ohlcv_workbench:*`` keys), defined once;
- :mod:`.records`: fullon's enums, argument checks and the JSON encoding of record fields;
- :mod:`.wire`: the client, error translation and the Lua scripts (one round trip each);
- :mod:`.cache`: :class:`ProcessCache`, fullon_cache 0.5.11's API over that layout;
- :mod:`.later`: writes that found Redis unreachable, retried until it is back (bounded);
- :mod:`.leases`: one live collector per series, across processes and hosts;
- :mod:`.heartbeat`: register, beat from a task of its own, always stop;
- :mod:`.monitor`: every record with its heartbeat age and STALE flag, and stop requests.

::

    from ohlcv_workbench.registry import ProcessCache, ProcessStatus, ProcessType

    async with ProcessCache() as cache:
        pid = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.BTC/USDT")
        await cache.update_process(pid, status=ProcessStatus.RUNNING, message="Collecting")
        await cache.stop_process(pid, "Collector stopped")
"""

from .cache import ProcessCache
from .heartbeat import Heartbeat
from .leases import LeaseHolder, SeriesLease
from .monitor import ProcessInfo, list_processes, processes_frame, request_stop
from .records import PROCESS_TTL, ProcessStatus, ProcessType

__all__ = [
    "PROCESS_TTL",
    "Heartbeat",
    "LeaseHolder",
    "ProcessCache",
    "ProcessInfo",
    "ProcessStatus",
    "ProcessType",
    "SeriesLease",
    "list_processes",
    "processes_frame",
    "request_stop",
]
