"""The records of the process registry: fullon_cache's enums, argument checks and the JSON
encoding of record fields (used by :mod:`.cache` and :mod:`.heartbeat`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TypeVar

from ohlcv_workbench.errors import InputError

__all__ = [
    "PROCESS_TTL",
    "ProcessStatus",
    "ProcessType",
    "check_component",
    "check_message",
    "check_process_id",
    "check_process_type",
    "check_status",
    "encode_params",
    "encode_value",
    "update_record_args",
]

E = TypeVar("E", bound=Enum)

PROCESS_TTL = 86400  # seconds; reset by every update (fullon_cache's value)


class ProcessType(str, Enum):  # noqa: UP042 - fullon_cache's (str, Enum), not StrEnum
    """Kinds of process (fullon_cache's values; trade collectors are filed under OHLCV)."""

    TICK = "tick"
    OHLCV = "ohlcv"
    BOT = "bot"
    ACCOUNT = "account"
    ORDER = "order"
    BOT_STATUS_SERVICE = "bot_status_service"
    CRAWLER = "crawler"
    USER_TRADES_SERVICE = "user_trades_service"


class ProcessStatus(str, Enum):  # noqa: UP042 - as ProcessType
    """Lifecycle states of a process (fullon_cache's values)."""

    STARTING = "starting"
    RUNNING = "running"
    PROCESSING = "processing"
    IDLE = "idle"
    ERROR = "error"
    STOPPED = "stopped"


# -- argument checks (raised before anything is written) -----------------------------------
def _member(enum: type[E], value: object, name: str) -> E:
    if not isinstance(value, enum):
        valid = ", ".join(f"{enum.__name__}.{m.name}" for m in enum)
        raise TypeError(f"{name} must be a {enum.__name__} member ({valid}), got {value!r}")
    return value


def check_process_type(value: object) -> ProcessType:
    """``value`` when it is a ProcessType member, else TypeError."""
    return _member(ProcessType, value, "process_type")


def check_status(value: object) -> ProcessStatus:
    """``value`` when it is a ProcessStatus member, else TypeError."""
    return _member(ProcessStatus, value, "status")


def _non_empty(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r}")
    if not value.strip():
        raise InputError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_component(value: object) -> str:
    """A non-empty component string."""
    return _non_empty(value, "component")


def check_process_id(value: object) -> str:
    """A non-empty process id string."""
    return _non_empty(value, "process_id")


def check_message(value: object) -> str | None:
    """None or a str."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"message must be a str or None, got {type(value).__name__}: {value!r}")
    return value


def encode_params(params: object) -> dict[str, str]:
    """Each param value as JSON text (keys must be str, values JSON-serializable and finite)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict or None, got {type(params).__name__}: {params!r}")
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"params keys must be str, got {type(key).__name__}: {key!r}")
        encoded[key] = encode_value(value, f"params[{key!r}]")
    return encoded


def encode_value(value: object, name: str) -> str:
    """``value`` as JSON text; TypeError when not serializable, InputError for NaN/inf."""
    try:
        return json.dumps(value, allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"{name} is not JSON-serializable: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{name} is not valid JSON ({exc}): {value!r}") from None
    except RecursionError:
        raise InputError(f"{name} is nested too deeply (or circular)") from None


def update_record_args(
    process_id: str,
    now: datetime,
    *,
    status: ProcessStatus | None,
    message: str | None,
    params: Mapping[str, str],
    heartbeat: bool,
    ttl: int = PROCESS_TTL,
) -> list[str | int]:
    """ARGV for ``update_record`` (``params`` already JSON-encoded by :func:`encode_params`)."""
    stamp = now.isoformat()
    args: list[str | int] = [
        process_id,
        stamp,
        json.dumps(stamp),
        "1" if heartbeat else "0",
        json.dumps(status.value) if status is not None else "",
        json.dumps(message) if message is not None else "",
        ttl,
    ]
    for key, value in params.items():
        args += [json.dumps(key), value]
    return args
