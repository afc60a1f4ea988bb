"""The SQLite backend: WAL mode, one connection per thread, chunked columnar candles.

Tables: ``series`` (id per exchange/symbol/timeframe), ``ohlcv_chunks`` (one row per chunk of
:data:`.chunks.CHUNK_SLOTS` slots: ``n``, ``first_ts``, ``last_ts`` and the blob, see
:mod:`.chunks`), ``markets`` (id per exchange/symbol), ``trades`` (one row per trade,
keyed by trade id) and ``ohlcv_uncovered`` (see :mod:`.sqlite_uncovered`). Writes run in
short ``BEGIN IMMEDIATE`` transactions (read, merge and rewrite the touched chunks), so
several processes and threads can write and read at once; readers see a consistent snapshot
(WAL) and never wait for writers. A write lock held by another connection is waited for up to
``busy_timeout`` seconds, then TemporaryStoreError (collectors retry it); opening a store
whose schema exists writes nothing, so it never waits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ohlcv_workbench.errors import StoreError, TemporaryStoreError
from ohlcv_workbench.files import private_dir, tighten, touch_private
from ohlcv_workbench.records import CandleBatch, PublicTrade, SeriesKey
from ohlcv_workbench.timeframes import timeframe

from . import chunks, sqlite_uncovered
from .base import F64, I64, CandleStore
from .changes import TradeValues, log_candle_updates, log_trade_updates, trade_values
from .models import SeriesInfo, TradeColumns, UpsertResult, inventory_order

__all__ = ["SCHEMA_VERSION", "SqliteStore"]


SCHEMA_VERSION = "1"
#: seconds a call waits for another connection's write lock before TemporaryStoreError
BUSY_TIMEOUT = 5.0
#: SQLite's primary result codes of a lock held elsewhere: SQLITE_BUSY, SQLITE_LOCKED
_BUSY_CODES = (5, 6)
_LOWEST, _HIGHEST = -(2**53), 2**53  # open range ends, in ms (+-285,000 years)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    UNIQUE (exchange, symbol, timeframe));
CREATE TABLE IF NOT EXISTS ohlcv_chunks (
    series_id INTEGER NOT NULL REFERENCES series (id), chunk INTEGER NOT NULL,
    n INTEGER NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, chunk));
CREATE TABLE IF NOT EXISTS markets (
    id INTEGER PRIMARY KEY, exchange TEXT NOT NULL, symbol TEXT NOT NULL,
    UNIQUE (exchange, symbol));
CREATE TABLE IF NOT EXISTS trades (
    market_id INTEGER NOT NULL REFERENCES markets (id), trade_id TEXT NOT NULL,
    ts INTEGER NOT NULL, price REAL NOT NULL, amount REAL NOT NULL, side TEXT NOT NULL,
    PRIMARY KEY (market_id, trade_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trades_by_time ON trades (market_id, ts);
"""
# trade ids are ordered as numbers when they are (length first), else as text
_TRADE_ORDER = "ts {0}, length(trade_id) {0}, trade_id {0}"


class SqliteStore(sqlite_uncovered.UncoveredNotes, CandleStore):
    """The store in one SQLite file (created with its directory when missing)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._connections: dict[int, sqlite3.Connection] = {}
        self._inherited: list[sqlite3.Connection] = []  # from a parent process: never used
        self._pid = os.getpid()
        self._closed = False
        self._ids: dict[tuple[str, ...], int] = {}
        try:  # private: folders 0700, the file 0600 (SQLite gives its -wal and -shm the same)
            private_dir(self.path.parent)
            touch_private(self.path)
            for part in ("", "-wal", "-shm"):
                tighten(self.path.with_name(self.path.name + part))
        except OSError as exc:
            raise StoreError(
                f"cannot create the store {self.path}: {exc.strerror or exc}{_full(self.path)}"
            ) from exc
        with self._errors("open"):
            con = self._conn()
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: cannot use WAL mode (journal_mode is {mode!r})")
        if not self._schema_ready():
            with self._write("create the schema") as con:
                for statement in (_SCHEMA + sqlite_uncovered.SCHEMA).split(";"):
                    if statement.strip():
                        con.execute(statement)
        self._check_version()

    # -- connections and transactions ------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        ident = threading.get_ident()
        with self._lock:
            if self._pid != os.getpid():  # forked: a parent's connection must not be touched
                self._inherited.extend(self._connections.values())
                self._connections, self._pid = {}, os.getpid()
            con = self._connections.get(ident)
            if con is None:
                con = sqlite3.connect(
                    self.path,
                    timeout=self._busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                con.execute("PRAGMA synchronous=NORMAL")
                self._connections[ident] = con
            return con

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _BUSY_CODES:
                raise TemporaryStoreError(
                    f"{action} failed on {self.path}: {exc} (another connection holds the "
                    f"write lock; waited {self._busy_timeout:g} s)"
                ) from exc
            raise StoreError(f"{action} failed on {self.path}: {exc}{_full(self.path)}") from exc

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        con = self._conn()
        with self._errors(action):
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            if con.in_transaction:
                con.execute("COMMIT")

    _TABLES = ("meta", "series", "ohlcv_chunks", "markets", "trades", "ohlcv_uncovered")

    def _schema_ready(self) -> bool:
        """True when every table exists (a read: never waits for a writer)."""
        with self._errors("read the schema"):
            names = {
                row[0]
                for row in self._conn().execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        return names.issuperset(self._TABLES)

    def _check_version(self) -> None:
        expected = {"schema_version": SCHEMA_VERSION, "chunk_slots": str(chunks.CHUNK_SLOTS)}
        with self._errors("read the schema version"):
            found = dict(self._conn().execute("SELECT key, value FROM meta").fetchall())
        if not set(expected) <= set(found):  # a new store: record what it is written with
            with self._write("record the schema version") as con:
                con.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", expected.items())
                found = dict(con.execute("SELECT key, value FROM meta").fetchall())
        for name, value in expected.items():
            if found[name] != value:
                raise StoreError(
                    f"{self.path} was written with {name} {found[name]}, this workbench "
                    f"reads {name} {value}"
                )

    def _id(
        self, con: sqlite3.Connection, table: str, names: tuple[str, ...], create: bool
    ) -> int | None:
        """Id of a series or market; created (not cached until seen committed) on demand."""
        cache_key = (table, *names)
        found = self._ids.get(cache_key)
        if found is not None:
            return found
        columns = ("exchange", "symbol", "timeframe")[: len(names)]
        where = " AND ".join(f"{c} = ?" for c in columns)
        row = con.execute(f"SELECT id FROM {table} WHERE {where}", names).fetchone()
        if row is not None:
            self._ids[cache_key] = int(row[0])
            return int(row[0])
        if not create:
            return None
        marks = ", ".join("?" for _ in columns)
        cursor = con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", names)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @staticmethod
    def _series(key: SeriesKey) -> tuple[str, ...]:
        return (key.exchange, key.symbol, key.timeframe)

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for con in connections:
            con.close()

    # -- candles ---------------------------------------------------------------------------
    def _ohlcv_write(self, key: SeriesKey, batch: CandleBatch) -> UpsertResult:
        tf = timeframe(key.timeframe)
        rows = chunks.rows_of(batch)
        keys = chunks.chunk_keys(tf, batch.ts)
        first_key, last_key = int(keys[0]), int(keys[-1])
        starts = [0]
        if first_key != last_key:
            starts += (np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()
        bounds = list(zip(starts, [*starts[1:], len(batch)], strict=True))
        merges: list[chunks.Merge] = []
        with self._write(f"store candles of {key}") as con:
            sid = self._id(con, "series", self._series(key), create=True)
            old = dict(
                con.execute(
                    "SELECT chunk, data FROM ohlcv_chunks WHERE series_id = ? "
                    "AND chunk BETWEEN ? AND ?",
                    (sid, first_key, last_key),
                ).fetchall()
            )
            upserts = []
            for a, b in bounds:
                chunk = int(keys[a])
                blob = old.get(chunk)
                merged = chunks.merge(None if blob is None else chunks.decode(blob), rows[:, a:b])
                merges.append(merged)
                if merged.rows is not None:
                    ts = chunks.times(merged.rows)
                    n = ts.size
                    upserts.append(
                        (sid, chunk, n, int(ts[0]), int(ts[-1]), chunks.encode(merged.rows))
                    )
            con.executemany(
                "INSERT INTO ohlcv_chunks VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, chunk) "
                "DO UPDATE SET n = excluded.n, first_ts = excluded.first_ts, "
                "last_ts = excluded.last_ts, data = excluded.data",
                upserts,
            )
        result = UpsertResult()
        for m in merges:
            result += UpsertResult(m.inserted, m.updated, m.unchanged)
        if result.updated:
            log_candle_updates(key, [m.changes for m in merges], result.updated)
        return result

    def _ohlcv_read(self, key: SeriesKey, start: int | None, end: int | None) -> tuple[I64, F64]:
        tf = timeframe(key.timeframe)
        lo = _LOWEST if start is None else start
        hi = _HIGHEST if end is None else end
        bounds = chunks.chunk_keys(tf, np.array([lo, max(hi - 1, lo)], dtype=np.int64)).tolist()
        with self._errors(f"load candles of {key}"):
            con = self._conn()
            sid = self._id(con, "series", self._series(key), create=False)
            blobs = (
                []
                if sid is None
                else con.execute(
                    "SELECT data FROM ohlcv_chunks WHERE series_id = ? AND chunk BETWEEN ? AND ? "
                    "ORDER BY chunk",
                    (sid, *bounds),
                ).fetchall()
            )
        if not blobs:
            return np.empty(0, dtype=np.int64), np.empty((5, 0), dtype=np.float64)
        parts = [chunks.decode(blob) for (blob,) in blobs]
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        ts = chunks.times(rows)
        a = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        b = ts.size if end is None else int(np.searchsorted(ts, end, side="left"))
        return ts[a:b], rows[1:, a:b]

    def _ohlcv_extent(self, key: SeriesKey) -> tuple[int, int, int] | None:
        with self._errors(f"read the extent of {key}"):
            con = self._conn()
            sid = self._id(con, "series", self._series(key), create=False)
            if sid is None:
                return None
            first, last, count = con.execute(
                "SELECT MIN(first_ts), MAX(last_ts), SUM(n) FROM ohlcv_chunks WHERE series_id = ?",
                (sid,),
            ).fetchone()
        return None if count is None else (int(first), int(last), int(count))

    def _ohlcv_delete(self, key: SeriesKey, start: int | None, end: int | None) -> int:
        tf = timeframe(key.timeframe)
        lo = _LOWEST if start is None else start
        hi = _HIGHEST if end is None else end
        if hi <= lo:
            return 0
        bounds = chunks.chunk_keys(tf, np.array([lo, hi - 1], dtype=np.int64)).tolist()
        removed = 0
        with self._write(f"delete candles of {key}") as con:
            sid = self._id(con, "series", self._series(key), create=False)
            if sid is None:
                return 0
            found = con.execute(
                "SELECT chunk, n, first_ts, last_ts, data FROM ohlcv_chunks "
                "WHERE series_id = ? AND chunk BETWEEN ? AND ?",
                (sid, *bounds),
            ).fetchall()
            for chunk, n, first, last, blob in found:
                if lo <= first and last < hi:
                    con.execute(
                        "DELETE FROM ohlcv_chunks WHERE series_id = ? AND chunk = ?", (sid, chunk)
                    )
                    removed += n
                    continue
                rows = chunks.decode(blob)
                ts = chunks.times(rows)
                keep = (ts < lo) | (ts >= hi)
                if keep.all():
                    continue
                kept = np.ascontiguousarray(rows[:, keep])
                removed += n - kept.shape[1]
                kept_ts = chunks.times(kept)
                con.execute(
                    "UPDATE ohlcv_chunks SET n = ?, first_ts = ?, last_ts = ?, data = ? "
                    "WHERE series_id = ? AND chunk = ?",
                    (
                        kept_ts.size,
                        int(kept_ts[0]),
                        int(kept_ts[-1]),
                        chunks.encode(kept),
                        sid,
                        chunk,
                    ),
                )
        return removed

    def ohlcv_inventory(
        self, exchange: str | None = None, symbol: str | None = None
    ) -> list[SeriesInfo]:
        """Every stored series with candles (optionally of one exchange / symbol)."""
        where, params = [], []
        for column, value in (("exchange", exchange), ("symbol", symbol)):
            if value is not None:
                where.append(f"s.{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._errors("read the inventory"):
            rows = (
                self._conn()
                .execute(
                    "SELECT s.exchange, s.symbol, s.timeframe, MIN(c.first_ts), MAX(c.last_ts), "
                    "SUM(c.n) FROM series s JOIN ohlcv_chunks c ON c.series_id = s.id "
                    f"{clause} GROUP BY s.id",
                    params,
                )
                .fetchall()
            )
        infos = [SeriesInfo(SeriesKey(e, s, t), first, last, n) for e, s, t, first, last, n in rows]
        return inventory_order(infos)

    # -- trades ----------------------------------------------------------------------------
    def _trades_write(
        self, exchange: str, symbol: str, trades: Sequence[PublicTrade]
    ) -> UpsertResult:
        ids = json.dumps([t.trade_id for t in trades])
        changes: list[tuple[PublicTrade, TradeValues]] = []
        with self._write(f"store trades of {exchange} {symbol}") as con:
            mid = self._id(con, "markets", (exchange, symbol), create=True)
            old: dict[str, TradeValues] = {
                row[0]: tuple(row[1:])
                for row in con.execute(
                    "SELECT trade_id, ts, price, amount, side FROM trades WHERE market_id = ? "
                    "AND trade_id IN (SELECT value FROM json_each(?))",
                    (mid, ids),
                )
            }
            inserts, updates, unchanged = [], [], 0
            for t in trades:
                new = trade_values(t)
                before = old.get(t.trade_id)
                if before is None:
                    inserts.append((mid, t.trade_id, *new))
                elif before != new:
                    updates.append((*new, mid, t.trade_id))
                    changes.append((t, before))
                else:
                    unchanged += 1
            con.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?)", inserts)
            con.executemany(
                "UPDATE trades SET ts = ?, price = ?, amount = ?, side = ? "
                "WHERE market_id = ? AND trade_id = ?",
                updates,
            )
        log_trade_updates(exchange, symbol, changes)
        return UpsertResult(len(inserts), len(updates), unchanged)

    def _trades_read(
        self, exchange: str, symbol: str, start: int | None, end: int | None
    ) -> TradeColumns:
        lo = _LOWEST if start is None else start
        hi = _HIGHEST if end is None else end
        with self._errors(f"load trades of {exchange} {symbol}"):
            con = self._conn()
            mid = self._id(con, "markets", (exchange, symbol), create=False)
            rows = (
                []
                if mid is None
                else con.execute(
                    "SELECT trade_id, ts, price, amount, side FROM trades WHERE market_id = ? "
                    f"AND ts >= ? AND ts < ? ORDER BY {_TRADE_ORDER.format('ASC')}",
                    (mid, lo, hi),
                ).fetchall()
            )
        ids, ts, price, amount, side = zip(*rows, strict=True) if rows else ((), (), (), (), ())
        return TradeColumns(
            list(ids),
            np.array(ts, dtype=np.int64),
            np.array(price, dtype=np.float64),
            np.array(amount, dtype=np.float64),
            list(side),
        )

    def _trades_edge(self, exchange: str, symbol: str, newest: bool) -> PublicTrade | None:
        order = _TRADE_ORDER.format("DESC" if newest else "ASC")
        with self._errors(f"read trades of {exchange} {symbol}"):
            con = self._conn()
            mid = self._id(con, "markets", (exchange, symbol), create=False)
            row = (
                None
                if mid is None
                else con.execute(
                    "SELECT trade_id, ts, price, amount, side FROM trades WHERE market_id = ? "
                    f"ORDER BY {order} LIMIT 1",
                    (mid,),
                ).fetchone()
            )
        return None if row is None else PublicTrade(*row)

    def trades_count(self, exchange: str, symbol: str) -> int:
        """Number of stored trades of a market."""
        with self._errors(f"count trades of {exchange} {symbol}"):
            con = self._conn()
            mid = self._id(con, "markets", (exchange, symbol), create=False)
            if mid is None:
                return 0
            return int(
                con.execute("SELECT COUNT(*) FROM trades WHERE market_id = ?", (mid,)).fetchone()[0]
            )


def _full(path: Path) -> str:
    """``"; the disk of ... is full"`` when it is (SQLite only says "disk I/O error")."""
    try:
        disk = os.statvfs(path.parent)
    except OSError:
        return ""
    return f"; the disk of {path.parent} is full" if disk.f_bavail == 0 else ""
