"""SQLite's table of uncovered ranges: what collectors noted they could not get, and why.

One row per range of a series (``start`` and ``end`` in UTC ms, end excluded); a new note
replaces the notes it overlaps. :class:`UncoveredNotes` gives
:class:`~.sqlite.SqliteStore` the store's three primitives over it.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from ohlcv_workbench.records import SeriesKey

from .models import Uncovered

__all__ = ["SCHEMA", "UncoveredNotes", "clear", "read", "write"]

_LOWEST, _HIGHEST = -(2**53), 2**53
SCHEMA = """
CREATE TABLE IF NOT EXISTS ohlcv_uncovered (
    series_id INTEGER NOT NULL REFERENCES series (id), start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (series_id, start));
"""
_OVERLAPS = 'series_id = ? AND start < ? AND "end" > ?'


def write(con: sqlite3.Connection, series_id: int, note: Uncovered) -> None:
    """Replace the notes overlapping ``note`` with it (inside the caller's transaction)."""
    con.execute(f"DELETE FROM ohlcv_uncovered WHERE {_OVERLAPS}", (series_id, note.end, note.start))
    con.execute(
        "INSERT INTO ohlcv_uncovered VALUES (?, ?, ?, ?)",
        (series_id, note.start, note.end, note.reason),
    )


def read(
    con: sqlite3.Connection, series_id: int, start: int | None, end: int | None
) -> list[Uncovered]:
    """The notes overlapping ``[start, end)``, by start."""
    lo = _LOWEST if start is None else start
    hi = _HIGHEST if end is None else end
    rows = con.execute(
        f'SELECT start, "end", reason FROM ohlcv_uncovered WHERE {_OVERLAPS} ORDER BY start',
        (series_id, hi, lo),
    ).fetchall()
    return [Uncovered(int(a), int(b), str(r)) for a, b, r in rows]


def clear(con: sqlite3.Connection, series_id: int, start: int | None, end: int | None) -> int:
    """Delete the notes overlapping ``[start, end)``; how many."""
    lo = _LOWEST if start is None else start
    hi = _HIGHEST if end is None else end
    cursor = con.execute(f"DELETE FROM ohlcv_uncovered WHERE {_OVERLAPS}", (series_id, hi, lo))
    return int(cursor.rowcount)


class _Connections(Protocol):
    """What the notes need of the SQLite store."""

    def _conn(self) -> sqlite3.Connection: ...

    def _errors(self, action: str) -> AbstractContextManager[None]: ...

    def _write(self, action: str) -> AbstractContextManager[sqlite3.Connection]: ...

    def _id(
        self, con: sqlite3.Connection, table: str, names: tuple[str, ...], create: bool
    ) -> int | None: ...

    @staticmethod
    def _series(key: SeriesKey) -> tuple[str, ...]: ...


class UncoveredNotes:
    """The uncovered-range primitives of the store interface, on this table (mixed in)."""

    def _uncovered_write(self: _Connections, key: SeriesKey, note: Uncovered) -> None:
        with self._write(f"note an uncovered range of {key}") as con:
            sid = self._id(con, "series", self._series(key), create=True)
            assert sid is not None
            write(con, sid, note)

    def _uncovered_read(
        self: _Connections, key: SeriesKey, start: int | None, end: int | None
    ) -> list[Uncovered]:
        with self._errors(f"read the uncovered ranges of {key}"):
            con = self._conn()
            sid = self._id(con, "series", self._series(key), create=False)
            return [] if sid is None else read(con, sid, start, end)

    def _uncovered_clear(
        self: _Connections, key: SeriesKey, start: int | None, end: int | None
    ) -> int:
        with self._write(f"clear the uncovered ranges of {key}") as con:
            sid = self._id(con, "series", self._series(key), create=False)
            return 0 if sid is None else clear(con, sid, start, end)
