"""Every Redis key and prefix of the registry, defined once (the Lua scripts take theirs here).

fullon_cache's layout (``specs/process-cache.md``), prefix ``process``:

==============================  ======  ===================================================
key                             type    content
==============================  ======  ===================================================
``process:data:{process_id}``   string  the JSON record (TTL 86400 s, reset by updates)
``process:active:{type}``       hash    process_id -> ISO time of the last register/update
``process:components``          hash    component -> latest process_id registered for it
``process:broadcast:{type}``    pubsub  ``{message, data, timestamp}``
==============================  ======  ===================================================

The workbench's own keys, prefix ``ohlcv_workbench`` (fullon ignores them):
``ohlcv_workbench:lease:{exchange}:{symbol}:{timeframe}`` (a series lease, see
:mod:`.leases`) and ``ohlcv_workbench:stop:{process_id}`` (a stop request, see
:mod:`.monitor`).
"""

from __future__ import annotations

from ohlcv_workbench.records import SeriesKey

__all__ = [
    "ACTIVE_PREFIX",
    "COMPONENTS_KEY",
    "DATA_PREFIX",
    "LEASE_PREFIX",
    "PREFIX",
    "STOP_PREFIX",
    "WORKBENCH_PREFIX",
    "active_key",
    "broadcast_channel",
    "data_key",
    "data_pattern",
    "lease_key",
    "lease_pattern",
    "stop_request_key",
]

#: fullon_cache's prefix of every process key
PREFIX = "process"
DATA_PREFIX = f"{PREFIX}:data:"
ACTIVE_PREFIX = f"{PREFIX}:active:"
COMPONENTS_KEY = f"{PREFIX}:components"
BROADCAST_PREFIX = f"{PREFIX}:broadcast:"

#: the workbench's own keys
WORKBENCH_PREFIX = "ohlcv_workbench"
LEASE_PREFIX = f"{WORKBENCH_PREFIX}:lease"
STOP_PREFIX = f"{WORKBENCH_PREFIX}:stop"


def data_key(process_id: str) -> str:
    """Key of a process record."""
    return f"{DATA_PREFIX}{process_id}"


def data_pattern(component: str | None = None) -> str:
    """SCAN pattern of every process record, or of the records of one ``component``.

    Process ids are ``{type}:{component}:{timestamp}``; the component is glob-escaped, and a
    component holding ``:`` may match others' records too, so callers check the record.
    """
    if component is None:
        return f"{DATA_PREFIX}*"
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in component)
    return f"{DATA_PREFIX}*:{escaped}:*"


def active_key(process_type: str) -> str:
    """Key of the hash of active processes of one type (the enum's value)."""
    return f"{ACTIVE_PREFIX}{process_type}"


def broadcast_channel(process_type: str) -> str:
    """Pub/sub channel of broadcasts to one process type (the enum's value)."""
    return f"{BROADCAST_PREFIX}{process_type}"


def lease_key(series: SeriesKey) -> str:
    """The key of a series' lease."""
    return f"{LEASE_PREFIX}:{series.exchange}:{series.symbol}:{series.timeframe}"


def lease_pattern(exchange: str = "*", symbol: str = "*") -> str:
    """SCAN pattern of the leases of an exchange / symbol (every lease by default)."""
    return f"{LEASE_PREFIX}:{exchange}:{symbol}:*"


def stop_request_key(process_id: str) -> str:
    """The key that asks ``process_id`` to stop."""
    return f"{STOP_PREFIX}:{process_id}"
