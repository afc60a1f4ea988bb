"""The PostgreSQL backend: fullon_ohlcv's layout, binary COPY both ways, a connection pool.

The tables are fullon's (see :mod:`.pg_layout`): a fullon database opens as it is, and fullon
code reads what the workbench writes. Candles move as binary COPY streams decoded and encoded
with numpy (:mod:`.pg_binary`), never row by row. Writes of one table hold a transaction-scoped
advisory lock on it, read the stored candles of the batch's range, and then COPY the new ones
in and UPDATE the changed ones (compared bit for bit, logged as in SQLite): counts of
inserted, updated and unchanged are exact, and several processes and hosts can write the same
series without losing or duplicating a row. Readers never wait (MVCC). Resampling happens
after the COPY, in numpy, as for SQLite (the same code, so the same results).

Connections come from a psycopg pool (a forked child opens its own). A transaction whose
connection fails (server restart, terminated backend, deadlock) is retried as a whole within
:class:`~.pg_connect.StoreRetry`'s bounds, then raises TemporaryStoreError with the reason
(collectors wait longer for it, see :meth:`~ohlcv_workbench.collectors.Collector.in_thread`);
other errors are StoreError. A retried write whose first COMMIT did reach the server counts
its rows as unchanged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from ohlcv_workbench.errors import StoreError, TemporaryStoreError
from ohlcv_workbench.records import CandleBatch, PublicTrade, SeriesKey
from ohlcv_workbench.times import ms_to_datetime

from . import pg_layout as layout
from .base import F64, I64, CandleStore
from .changes import (
    Changes,
    TradeValues,
    changes_of,
    compare,
    log_candle_updates,
    log_trade_updates,
    trade_values,
)
from .models import SeriesInfo, TradeColumns, Uncovered, UpsertResult, inventory_order
from .pg_binary import decode_candles, encode_candles, read_copy
from .pg_connect import StoreRetry, check_connection, describe, parse_url

__all__ = ["PostgresStore"]

log = logging.getLogger("ohlcv_workbench.store")
T = TypeVar("T")
Conn = psycopg.Connection[TupleRow]
Tx = Literal["block", "none", "begun"]

#: errors after which the whole transaction is tried again
RETRYABLE = (psycopg.OperationalError, PoolTimeout, psycopg.errors.UniqueViolation)
#: seconds one attempt waits for a connection of the pool
POOL_WAIT = 10.0
#: the advisory lock every DDL of the workbench holds (tables, schemas, the registry)
DDL_LOCK = 0x6F686C6376  # "ohlcv"
#: UTC milliseconds of a timestamptz (exact: extract gives a numeric)
_MS = "floor(extract(epoch FROM {}) * 1000)::bigint"
_EXTENT = sql.SQL(
    'SELECT floor(extract(epoch FROM min("timestamp")) * 1000)::bigint, '
    'floor(extract(epoch FROM max("timestamp")) * 1000)::bigint, count(*) FROM {}'
)
_LOWEST, _HIGHEST = -(2**53), 2**53  # open range ends, in ms, as SQLite's
#: the years a datetime (so a timestamptz literal) can hold, in UTC milliseconds
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999
_CANDLE_SELECT = sql.SQL(
    'SELECT "timestamp"::timestamptz, open::float8, high::float8, low::float8, close::float8, '
    'vol::float8 FROM {table}{where} ORDER BY "timestamp"'
)
#: trade ids are ordered as numbers when they are (length first), else byte by byte
_TRADE_ORDER = '"timestamp" {0}, length(trade_id) {0}, trade_id COLLATE "C" {0}'


@dataclass(frozen=True)
class _Columns:
    """What an existing table has: column name -> type."""

    types: dict[str, str]

    def problems(self, wanted: Sequence[tuple[str, str]]) -> list[str]:
        """What keeps the workbench from writing these columns (text takes varchar too)."""
        return [
            f"{name} is {self.types.get(name, 'missing')} (the workbench writes {kind})"
            for name, kind in wanted
            if self.types.get(name) != kind
            and not (kind == "text" and self.types.get(name) == "character varying")
        ]


def _time(ms: int) -> sql.Composable:
    """A timestamptz literal of ``ms`` (exact: datetimes carry microseconds)."""
    return sql.Literal(ms_to_datetime(ms))


def _range(start: int | None, end: int | None) -> sql.Composable:
    """``WHERE`` of the half-open time range (ends beyond datetime's years stay open)."""
    if (end is not None and end <= _FIRST_MS) or (start is not None and start > _LAST_MS):
        return sql.SQL(" WHERE false")
    parts = []
    if start is not None and start > _FIRST_MS:
        parts.append(sql.SQL('"timestamp" >= {}').format(_time(start)))
    if end is not None and end <= _LAST_MS:
        parts.append(sql.SQL('"timestamp" < {}').format(_time(end)))
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts) if parts else sql.SQL("")


def _configure(conn: Conn) -> None:
    conn.execute("SET TIME ZONE 'UTC'")  # casts of a hand-made table's plain timestamps


class PostgresStore(CandleStore):
    """The store in a PostgreSQL database, in fullon_ohlcv's layout (see the module docstring).

    ``url`` is ``postgresql://user:password@host:port/dbname``; the first connection is made
    here, so a wrong URL, password or database raises StoreError (ConfigError for a malformed
    URL) at once. ``store.url`` shows the URL with the password masked.
    """

    def __init__(self, url: str, *, retry: StoreRetry | None = None, pool_size: int = 4) -> None:
        self._conninfo, self.url = parse_url(url)
        self.retry = retry or StoreRetry()
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._closed = False
        self._inherited: list[ConnectionPool[Conn]] = []  # a parent's: never used nor closed
        self._known: dict[layout.Table, _Columns] = {}
        self._claimed: set[tuple[layout.Table, str, str]] = set()  # (table, exchange, symbol)
        check_connection(self._conninfo, self.url)
        self._pid = os.getpid()
        self._pool = self._new_pool()
        self._registry, self._timescale = self._tx("open the store", self._prepare)

    # -- connections and transactions ------------------------------------------------------
    def _new_pool(self) -> ConnectionPool[Conn]:
        pool: ConnectionPool[Conn] = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=_configure,
            timeout=POOL_WAIT,
            name=f"ohlcv-workbench {self.url}",
            open=False,
        )
        pool.open()
        return pool

    def _pool_here(self) -> ConnectionPool[Conn]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.url} is closed")
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._inherited.append(self._pool)
                self._pool, self._pid = self._new_pool(), os.getpid()
            return self._pool

    def _tx(self, action: str, work: Callable[[Conn], T], *, transaction: Tx = "block") -> T:
        """``work(conn)`` in one transaction, retried as a whole when the connection fails.

        ``transaction``: ``"block"`` (psycopg's transaction block), ``"none"`` (autocommit, for
        a single read), or ``"begun"``: ``work`` starts it with :meth:`_begin` (BEGIN and its
        first statement in one round trip, for the writes collectors make all the time) and it
        is committed here, or rolled back when ``work`` raises.
        """
        failures, started = 0, time.monotonic()
        while True:
            left = self.retry.timeout - (time.monotonic() - started)
            try:
                with self._pool_here().connection(timeout=max(0.5, min(POOL_WAIT, left))) as conn:
                    if transaction == "none":
                        return work(conn)
                    if transaction == "block":
                        with conn.transaction():
                            return work(conn)
                    try:
                        result = work(conn)
                    except BaseException:
                        if conn.info.transaction_status == TransactionStatus.INTRANS:
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
            except RETRYABLE as exc:
                failures += 1
                reason = self._unreachable() if isinstance(exc, PoolTimeout) else describe(exc)
                wait = self.retry.wait(failures)
                elapsed = time.monotonic() - started
                if failures >= self.retry.attempts or elapsed + wait > self.retry.timeout:
                    raise TemporaryStoreError(
                        f"{action} failed on {self.url} after {failures} attempt"
                        f"{'s' if failures > 1 else ''} in {elapsed:.1f} s: {reason}"
                    ) from exc
                log.warning(
                    "%s on %s: %s; retrying in %.1f s (attempt %d of %d)",
                    action, self.url, reason, wait, failures + 1, self.retry.attempts,
                )  # fmt: skip
                time.sleep(wait)
            except psycopg.Error as exc:
                raise StoreError(f"{action} failed on {self.url}: {describe(exc)}") from exc

    @staticmethod
    def _begin(conn: Conn, statement: sql.Composed) -> TupleRow | None:
        """BEGIN and ``statement`` (its values bound client-side) in one round trip; the
        statement's first row."""
        cursor = psycopg.ClientCursor(conn)
        cursor.execute(sql.SQL("BEGIN; {}").format(statement))
        cursor.nextset()
        return cursor.fetchone()

    def _unreachable(self) -> str:
        """Why the pool has no connection to give: what a connection attempt says now."""
        try:
            check_connection(self._conninfo, self.url)
        except StoreError as exc:
            return str(exc).split(": ", 1)[-1]
        return f"no connection of the pool came free within {POOL_WAIT:.0f} s"

    def close(self) -> None:
        """Close the pool's connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = self._pool
        if self._pid == os.getpid():
            pool.close()

    # -- layout ----------------------------------------------------------------------------
    def _prepare(self, conn: Conn) -> tuple[bool, bool]:
        """Create the registry when missing; (registry usable, TimescaleDB installed)."""
        timescale = (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            is not None
        )
        if conn.execute("SELECT to_regclass(%s)", (layout.REGISTRY_LAST,)).fetchone() == (None,):
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
                    for statement in layout.REGISTRY_DDL:
                        conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege as exc:
                log.info("%s: no registry (%s): tables are read by name only", self.url, exc)
                return False, timescale
        row = conn.execute(
            f"SELECT value FROM {layout.REGISTRY}.meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None or row[0] != layout.SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise StoreError(
                f"{self.url}: {layout.REGISTRY}.meta has schema_version {found}, this "
                f"workbench reads schema_version {layout.SCHEMA_VERSION}"
            )
        return True, timescale

    def _columns(self, conn: Conn, table: layout.Table, cache: bool = True) -> _Columns | None:
        """The table's columns, or None when it does not exist (existing ones are cached;
        ``cache=False`` inside a transaction that may create it: others see it once committed)."""
        known = self._known.get(table)
        if known is not None:
            return known
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (table.qualified,),
        ).fetchall()
        if not rows:
            return None
        columns = _Columns({str(name): str(kind) for name, kind in rows})
        if cache:
            self._known[table] = columns
        return columns

    def _ensure(self, table: layout.Table, exchange: str, symbol: str) -> _Columns:
        """The table, created when missing, claimed in the registry for this market."""
        if (table, exchange, symbol) in self._claimed:
            return self._known[table]

        def work(conn: Conn) -> _Columns:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            columns = self._columns(conn, table, cache=False)
            if columns is None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema))
                )
                ddl = layout.trades_ddl if table.kind == layout.TRADES else layout.candle_ddl
                for statement in ddl(table):
                    conn.execute(statement)
                if self._timescale:  # the one TimescaleDB step: see pg_layout
                    conn.execute(
                        "SELECT create_hypertable(%s, 'timestamp', "
                        "create_default_indexes => false)",
                        (table.qualified,),
                    )
                columns = self._columns(conn, table, cache=False)
                assert columns is not None
            if self._registry:
                self._claim(conn, table, exchange, symbol)
            return columns

        columns = self._tx(f"prepare the table {table}", work)
        self._known[table] = columns  # committed: every thread may rely on it now
        self._claimed.add((table, exchange, symbol))
        return columns

    def _claim(self, conn: Conn, table: layout.Table, exchange: str, symbol: str) -> None:
        conn.execute(
            f"INSERT INTO {layout.REGISTRY}.series VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (exchange, symbol, table.kind, table.schema, table.name),
        )
        owner = conn.execute(
            f"SELECT exchange, symbol FROM {layout.REGISTRY}.series "
            "WHERE schema_name = %s AND table_name = %s",
            (table.schema, table.name),
        ).fetchone()
        if owner is not None and tuple(owner) != (exchange, symbol):
            raise StoreError(
                f"table {table} holds {owner[0]} {owner[1]}: {exchange} {symbol} would share it "
                "(fullon's table names drop case and turn '/', ':' and '=' into '_')"
            )

    @staticmethod
    def _lock_table(conn: Conn, table: layout.Table) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (table.qualified,))

    # -- candles ---------------------------------------------------------------------------
    @staticmethod
    def _copy_out(conn: Conn, table: layout.Table, start: int | None, end: int | None) -> bytes:
        query = _CANDLE_SELECT.format(table=table.ident, where=_range(start, end))
        return read_copy(conn, sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(query))

    def _decode(self, table: layout.Table, stream: bytes) -> tuple[I64, F64]:
        try:
            return decode_candles(stream)
        except ValueError as exc:
            raise StoreError(f"{self.url}: table {table} holds {exc}") from None

    def _ohlcv_write(self, key: SeriesKey, batch: CandleBatch) -> UpsertResult:
        table = layout.candle_table(key)
        problems = self._ensure(table, key.exchange, key.symbol).problems(layout.CANDLE_COLUMNS)
        if problems:
            raise StoreError(
                f"cannot store candles of {key} in {table}: column {'; '.join(problems)}; "
                "the workbench never alters an existing table"
            )
        ts = batch.ts
        values = np.stack((batch.open, batch.high, batch.low, batch.close, batch.volume))

        lo, hi = int(ts[0]), int(ts[-1]) + 1
        stored_in_range = sql.SQL(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0)), EXISTS (SELECT FROM {}{})"
        ).format(sql.Literal(table.qualified), table.ident, _range(lo, hi))

        def work(conn: Conn) -> tuple[int, int, int, Changes]:
            # the table's lock, and whether anything is stored in the batch's range (a new
            # range, as a backfill or a live append writes, needs no read)
            row = self._begin(conn, stored_in_range)
            stream = self._copy_out(conn, table, lo, hi) if row and row[1] else b""
            old_ts, old = self._decode(table, stream)
            c = compare(old_ts, old, ts, values)
            if c.inserted:
                new = ~c.found
                columns = sql.SQL(", ").join(sql.Identifier(n) for n, _ in layout.CANDLE_COLUMNS)
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    table.ident, columns
                )
                with conn.cursor().copy(copy_sql) as copy:
                    copy.write(encode_candles(ts[new], values[:, new]))
            changes = changes_of(c, old, ts, values)
            if c.updated:
                update = sql.SQL(
                    "UPDATE {} SET open = %s, high = %s, low = %s, close = %s, vol = %s "
                    'WHERE "timestamp" = %s'
                ).format(table.ident)
                rows = [
                    (*map(float, changes.after[:, i]), ms_to_datetime(int(t)))
                    for i, t in enumerate(changes.ts.tolist())
                ]
                conn.cursor().executemany(update, rows)
            return c.inserted, c.updated, c.unchanged, changes

        inserted, updated, unchanged, changes = self._tx(
            f"store candles of {key}", work, transaction="begun"
        )
        if updated:
            log_candle_updates(key, [changes], updated)
        return UpsertResult(inserted, updated, unchanged)

    def _ohlcv_read(self, key: SeriesKey, start: int | None, end: int | None) -> tuple[I64, F64]:
        table = layout.candle_table(key)

        def work(conn: Conn) -> bytes:
            if self._columns(conn, table) is None:
                return b""
            return self._copy_out(conn, table, start, end)

        return self._decode(table, self._tx(f"load candles of {key}", work, transaction="none"))

    def _ohlcv_extent(self, key: SeriesKey) -> tuple[int, int, int] | None:
        table = layout.candle_table(key)

        def work(conn: Conn) -> tuple[int, int, int] | None:
            if self._columns(conn, table) is None:
                return None
            first, last, count = conn.execute(_EXTENT.format(table.ident)).fetchone() or (0, 0, 0)
            return None if not count else (int(first), int(last), int(count))

        return self._tx(f"read the extent of {key}", work)

    def _ohlcv_delete(self, key: SeriesKey, start: int | None, end: int | None) -> int:
        table = layout.candle_table(key)
        if start is not None and end is not None and end <= start:
            return 0

        def work(conn: Conn) -> int:
            if self._columns(conn, table) is None:
                return 0
            self._lock_table(conn, table)
            cursor = conn.execute(
                sql.SQL("DELETE FROM {}{}").format(table.ident, _range(start, end))
            )
            return cursor.rowcount

        return self._tx(f"delete candles of {key}", work)

    def ohlcv_inventory(
        self, exchange: str | None = None, symbol: str | None = None
    ) -> list[SeriesInfo]:
        """Every candle table with rows (of one exchange / symbol), as a series."""
        schema = (
            None
            if exchange is None
            else layout.candle_table(SeriesKey(exchange, symbol or "x", "1m")).schema
        )
        stem = None if symbol is None else layout.normalise(symbol)

        def work(conn: Conn) -> list[SeriesInfo]:
            found = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND strpos(c.relname, '_candles') > 0 "
                "AND NOT starts_with(n.nspname, 'pg_') "
                "AND NOT starts_with(n.nspname, '_timescaledb') "
                "AND n.nspname NOT IN ('information_schema', %s) AND (%s::text IS NULL OR "
                "n.nspname = %s) ORDER BY 1, 2",
                (layout.REGISTRY, schema, schema),
            ).fetchall()
            tables = []
            for space, name in found:
                parsed = layout.parse_candle_table(str(name))
                if parsed is not None and (stem is None or parsed[0] == stem):
                    tables.append((str(space), str(name), *parsed))
            if not tables:
                return []
            owners = {}
            if self._registry:
                owners = {
                    (s, t): (e, y)
                    for e, y, _, s, t in conn.execute(
                        f"SELECT exchange, symbol, kind, schema_name, table_name "
                        f"FROM {layout.REGISTRY}.series"
                    ).fetchall()
                }
            union = sql.SQL(" UNION ALL ").join(
                _EXTENT.format(sql.Identifier(space, name)) for space, name, _, _ in tables
            )
            infos = []
            rows = conn.execute(union).fetchall()  # in the order of the tables
            for (space, name, table_stem, tf), (first, last, count) in zip(
                tables, rows, strict=True
            ):
                if not count:
                    continue
                owner = owners.get((space, name))
                if owner is None:
                    owner = (exchange or space, symbol or table_stem.upper())
                key = SeriesKey(str(owner[0]), str(owner[1]), tf)
                infos.append(SeriesInfo(key, int(first), int(last), int(count)))
            return infos

        infos = self._tx("read the inventory", work, transaction="none")
        return inventory_order(infos)

    # -- uncovered ranges ------------------------------------------------------------------
    _UNCOVERED = (
        f"FROM {layout.REGISTRY}.uncovered WHERE exchange = %s AND symbol = %s AND "
        'timeframe = %s AND start < %s AND "end" > %s'
    )

    def _uncovered_write(self, key: SeriesKey, note: Uncovered) -> None:
        if not self._registry:
            raise StoreError(
                f"{self.url}: cannot note an uncovered range of {key}: the workbench's "
                f"{layout.REGISTRY} schema could not be created (no privilege)"
            )
        series = (key.exchange, key.symbol, key.timeframe)

        def work(conn: Conn) -> None:
            conn.execute(f"DELETE {self._UNCOVERED}", (*series, note.end, note.start))
            conn.execute(
                f"INSERT INTO {layout.REGISTRY}.uncovered VALUES (%s, %s, %s, %s, %s, %s)",
                (*series, note.start, note.end, note.reason),
            )

        self._tx(f"note an uncovered range of {key}", work)

    def _uncovered_read(
        self, key: SeriesKey, start: int | None, end: int | None
    ) -> list[Uncovered]:
        if not self._registry:
            return []
        bounds = (_HIGHEST if end is None else end, _LOWEST if start is None else start)
        rows = self._tx(
            f"read the uncovered ranges of {key}",
            lambda conn: conn.execute(
                f'SELECT start, "end", reason {self._UNCOVERED} ORDER BY start',
                (key.exchange, key.symbol, key.timeframe, *bounds),
            ).fetchall(),
            transaction="none",
        )
        return [Uncovered(int(a), int(b), str(r)) for a, b, r in rows]

    def _uncovered_clear(self, key: SeriesKey, start: int | None, end: int | None) -> int:
        if not self._registry:
            return 0
        bounds = (_HIGHEST if end is None else end, _LOWEST if start is None else start)
        return self._tx(
            f"clear the uncovered ranges of {key}",
            lambda conn: (
                conn.execute(
                    f"DELETE {self._UNCOVERED}", (key.exchange, key.symbol, key.timeframe, *bounds)
                ).rowcount
            ),
        )

    # -- trades ----------------------------------------------------------------------------
    def _trades_write(
        self, exchange: str, symbol: str, trades: Sequence[PublicTrade]
    ) -> UpsertResult:
        table = layout.trades_table(exchange, symbol)
        columns = self._ensure(table, exchange, symbol)
        problems = columns.problems(layout.TRADE_COLUMNS)
        if problems:
            raise StoreError(
                f"cannot store trades of {exchange} {symbol} in {table}: column "
                f"{'; '.join(problems)}; the workbench upserts trades by trade_id and never "
                "alters an existing table"
            )
        ms = sql.SQL(_MS.format('"timestamp"'))

        def work(conn: Conn) -> tuple[int, int, list[tuple[PublicTrade, TradeValues]]]:
            self._lock_table(conn, table)
            old: dict[str, TradeValues] = {
                str(row[0]): (int(row[1]), float(row[2]), float(row[3]), str(row[4]))
                for row in conn.execute(
                    sql.SQL(
                        "SELECT trade_id, {}, price, volume, lower(side) FROM {} "
                        "WHERE trade_id = ANY(%s)"
                    ).format(ms, table.ident),
                    ([t.trade_id for t in trades],),
                )
            }
            inserts, changes = [], []
            for t in trades:
                before = old.get(t.trade_id)
                if before is None:
                    inserts.append(t)
                elif before != trade_values(t):
                    changes.append((t, before))
            copy_sql = sql.SQL(
                'COPY {} ("timestamp", price, volume, side, trade_id) FROM STDIN (FORMAT BINARY)'
            ).format(table.ident)
            with conn.cursor().copy(copy_sql) as copy:
                copy.set_types(["timestamptz", "float8", "float8", "text", "text"])
                for t in inserts:
                    row = (ms_to_datetime(int(t.ts)), t.price, t.amount, t.side.upper(), t.trade_id)
                    copy.write_row(row)
            update = sql.SQL(
                'UPDATE {} SET "timestamp" = %s, price = %s, volume = %s, side = %s '
                "WHERE trade_id = %s"
            ).format(table.ident)
            conn.cursor().executemany(
                update,
                [
                    (ms_to_datetime(int(t.ts)), t.price, t.amount, t.side.upper(), t.trade_id)
                    for t, _ in changes
                ],
            )
            return len(inserts), len(changes), changes

        inserted, updated, changes = self._tx(f"store trades of {exchange} {symbol}", work)
        log_trade_updates(exchange, symbol, changes)
        return UpsertResult(inserted, updated, len(trades) - inserted - updated)

    def _trades_query(
        self, conn: Conn, table: layout.Table, where: sql.Composable, order: str, limit: str = ""
    ) -> list[TupleRow]:
        columns = self._columns(conn, table)
        if columns is None:
            return []
        has_id = "trade_id" in columns.types
        query = sql.SQL(
            "SELECT {}, {}, price::float8, volume::float8, lower(side) FROM {}{} ORDER BY {}{}"
        ).format(
            sql.SQL("trade_id" if has_id else "''"),
            sql.SQL(_MS.format('"timestamp"')),
            table.ident,
            where,
            sql.SQL(_TRADE_ORDER.format(order) if has_id else f'"timestamp" {order}'),
            sql.SQL(limit),
        )
        return conn.execute(query).fetchall()

    def _trades_read(
        self, exchange: str, symbol: str, start: int | None, end: int | None
    ) -> TradeColumns:
        table = layout.trades_table(exchange, symbol)
        rows = self._tx(
            f"load trades of {exchange} {symbol}",
            lambda conn: self._trades_query(conn, table, _range(start, end), "ASC"),
            transaction="none",
        )
        ids, ts, price, amount, side = zip(*rows, strict=True) if rows else ((), (), (), (), ())
        return TradeColumns(
            [str(i) for i in ids],
            np.array(ts, dtype=np.int64),
            np.array(price, dtype=np.float64),
            np.array(amount, dtype=np.float64),
            [str(s) for s in side],
        )

    def _trades_edge(self, exchange: str, symbol: str, newest: bool) -> PublicTrade | None:
        table = layout.trades_table(exchange, symbol)
        order = "DESC" if newest else "ASC"
        rows = self._tx(
            f"read trades of {exchange} {symbol}",
            lambda conn: self._trades_query(conn, table, sql.SQL(""), order, " LIMIT 1"),
            transaction="none",
        )
        if not rows:
            return None
        trade_id, ts, price, amount, side = rows[0]
        return PublicTrade(str(trade_id), int(ts), float(price), float(amount), str(side))

    def trades_count(self, exchange: str, symbol: str) -> int:
        """Number of stored trades of a market."""
        table = layout.trades_table(exchange, symbol)

        def work(conn: Conn) -> int:
            if self._columns(conn, table) is None:
                return 0
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.ident)).fetchone()
            return int(row[0]) if row else 0

        return self._tx(f"count trades of {exchange} {symbol}", work, transaction="none")
