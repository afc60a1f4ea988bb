"""Times and ranges: parsing and formatting, in one place.

The project's convention: times are UTC, and a time crossing a boundary is epoch milliseconds
(``int``). :func:`to_ms` accepts what a user may hold instead: a ``datetime`` (naive ones are
read as UTC), a ``pandas.Timestamp``, a ``numpy.datetime64`` or ISO text such as
``"2024-01-01"`` or ``"2024-01-01T00:03:00Z"``. A form field may also say ``now`` or a time ago
(``-2h``, see :func:`parse_time_text`). Ranges are half-open ``[start, end)``.

::

    to_ms("2026-01-01")                    # 1767225600000
    iso(1767225780000)                     # '2026-01-01T00:03:00Z'
    time_range("2026-01-02", "2026-01-01") # InvalidTimeRangeError
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

import numpy as np

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError

__all__ = [
    "TimeLike",
    "format_age",
    "format_duration",
    "iso",
    "ms_to_datetime",
    "parse_iso_text",
    "parse_iso_time",
    "parse_time_text",
    "time_range",
    "to_ms",
]

TimeLike: TypeAlias = "int | datetime | np.datetime64 | str"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_FORMS = "UTC milliseconds (int), a datetime, a pandas Timestamp, a numpy datetime64 or ISO text"
_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TEXT_FORMS = (
    "ISO time in UTC (2026-01-01, 2026-01-01 12:00), 'now', or a time ago (-90m, -2h, -3d)"
)


# -- parsing -------------------------------------------------------------------------------
def to_ms(value: TimeLike, name: str = "time") -> int:
    """``value`` as UTC epoch milliseconds; InputError naming it when it is not a time."""
    if isinstance(value, bool):
        raise InputError(f"{name}={value!r} is not a time: expected {_FORMS}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError(f"{name}={value!r} is not a time (NaT): expected {_FORMS}")
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, str):
        return to_ms(parse_iso_text(value, name), name)
    if isinstance(value, datetime):
        if value != value:  # pandas.NaT is a datetime that is not equal to itself
            raise InputError(f"{name}={value!r} is not a time (NaT): expected {_FORMS}")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _ONE_MS
    raise InputError(f"{name}={value!r} is not a time: expected {_FORMS}")


def parse_iso_text(value: str, name: str = "time", forms: str = _FORMS) -> datetime:
    """ISO time text (``Z`` for UTC allowed) as a datetime, naive when it names no zone;
    InputError naming ``name`` and the accepted ``forms`` otherwise."""
    text = value.strip()
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise InputError(f"{name}={value!r} is not ISO time text: expected {forms}") from None


def time_range(start: TimeLike | None, end: TimeLike | None) -> tuple[int | None, int | None]:
    """``[start, end)`` in ms; InvalidTimeRangeError when ``end`` is before ``start``."""
    lo = None if start is None else to_ms(start, "start")
    hi = None if end is None else to_ms(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise InvalidTimeRangeError(f"end {iso(hi)} is before start {iso(lo)}")
    return lo, hi


def parse_time_text(text: str, name: str, now_ms: int) -> int | None:
    """A time field's text as UTC ms: blank -> None, ``now``, ``-2h`` (ago) or ISO text (UTC).

    Raises InputError naming the field, the text and the accepted forms.
    """
    value = text.strip()
    if not value:
        return None
    if value.lower() == "now":
        return now_ms
    match = _RELATIVE.match(value)
    if match is not None:
        return now_ms - round(float(match.group(1)) * _UNIT_S[match.group(2)] * 1000)
    try:
        return to_ms(value, name)
    except InputError:
        raise InputError(f"{name} {value!r} is not a time: expected {_TEXT_FORMS}") from None


def parse_iso_time(value: object) -> datetime | None:
    """An ISO time (as stored in registry records) as an aware UTC datetime; naive means UTC.

    None when ``value`` is not ISO time text: records written by others may hold anything.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- formatting ----------------------------------------------------------------------------
def ms_to_datetime(ms: int) -> datetime:
    """UTC milliseconds as an aware ``datetime``."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """``2026-01-01T00:03:00Z`` (milliseconds shown only when there are any)."""
    moment = ms_to_datetime(int(ms))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


def format_duration(seconds: float) -> str:
    """``"1h02m"``, ``"3m05s"`` or ``"12s"`` (an ETA, an elapsed time)."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_age(seconds: float) -> str:
    """``"0.4 s"``, ``"12 s"``, ``"3m05s"``, ``"2h01m"`` (a heartbeat's age: tenths when fresh)."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return format_duration(seconds)
