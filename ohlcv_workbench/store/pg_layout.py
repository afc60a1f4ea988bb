"""fullon_ohlcv's layout in PostgreSQL: names, the tables the workbench creates, its registry.

One schema per exchange; per symbol ``{sym}_candles1m`` (``"timestamp"`` timestamptz unique,
``open``, ``high``, ``low``, ``close``, ``vol`` double precision) and ``{sym}_trades``
(``"timestamp"``, ``price``, ``volume``, ``side``, ``type``, plus ``trade_id``, by which the
workbench upserts trades). Names are normalised as fullon does: lower case, ``/`` ``:`` ``=``
become ``_``, ``^`` is removed (``BTC/USDT`` -> ``btc_usdt``); the exchange's schema the same
way. Other timeframes get tables of the same pattern (``btc_usdt_candles1h``,
``btc_usdt_candles1s``); months are ``candles1mo``, since unquoted SQL folds ``1M`` into the
``1m`` of minutes.

Normalising loses information (``BTC/USDT`` and ``BTC_USDT`` share a table), so the workbench
keeps a small registry in a schema of its own, ``ohlcv_workbench.series``: which exchange,
symbol and timeframe (or ``trades``) each table it writes holds (and, in
``ohlcv_workbench.uncovered``, the ranges collectors noted they could not get). A second
symbol claiming a table raises StoreError instead of mixing two markets. Tables nobody
registered (made by fullon) are read by name; the inventory shows their symbol as the
upper-cased stem (``BTC_USDT``, which names the same table again) unless the caller asked for
a symbol.

Objects that exist are used as they are, never altered or dropped. With the ``timescaledb``
extension installed in the database, tables the workbench creates become hypertables on
``"timestamp"`` (so the trades' unique key is ``(trade_id, "timestamp")`` everywhere, and
trade ids are kept unique by the writers, which hold a lock per table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from ohlcv_workbench.errors import InputError
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.timeframes import Timeframe, timeframe

__all__ = [
    "CANDLE_COLUMNS",
    "REGISTRY",
    "REGISTRY_DDL",
    "Table",
    "candle_ddl",
    "candle_table",
    "normalise",
    "parse_candle_table",
    "trades_ddl",
    "trades_table",
]

#: the workbench's own schema (its registry)
REGISTRY = "ohlcv_workbench"
SCHEMA_VERSION = "1"
#: the columns of a candle table, in COPY order, and the type each must have
CANDLE_COLUMNS = (
    ("timestamp", "timestamp with time zone"),
    ("open", "double precision"),
    ("high", "double precision"),
    ("low", "double precision"),
    ("close", "double precision"),
    ("vol", "double precision"),
)
TRADE_COLUMNS = (
    ("timestamp", "timestamp with time zone"),
    ("price", "double precision"),
    ("volume", "double precision"),
    ("side", "text"),
    ("type", "text"),
    ("trade_id", "text"),
)
TRADES = "trades"
MAX_NAME = 63  # PostgreSQL truncates longer identifiers silently: refused instead
_RESERVED = ("pg_", "information_schema", REGISTRY, "_timescaledb")
_CANDLES = re.compile(r"(?P<stem>.+)_candles(?P<count>[0-9]+)(?P<unit>mo|[smhdwy])")

REGISTRY_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {REGISTRY}",
    f"CREATE TABLE IF NOT EXISTS {REGISTRY}.meta (key text PRIMARY KEY, value text NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {REGISTRY}.series (
        exchange text NOT NULL, symbol text NOT NULL, kind text NOT NULL,
        schema_name text NOT NULL, table_name text NOT NULL,
        PRIMARY KEY (exchange, symbol, kind), UNIQUE (schema_name, table_name))""",
    f"INSERT INTO {REGISTRY}.meta VALUES ('schema_version', '{SCHEMA_VERSION}') "
    "ON CONFLICT (key) DO NOTHING",
    f"""CREATE TABLE IF NOT EXISTS {REGISTRY}.uncovered (
        exchange text NOT NULL, symbol text NOT NULL, timeframe text NOT NULL,
        start bigint NOT NULL, "end" bigint NOT NULL, reason text NOT NULL,
        PRIMARY KEY (exchange, symbol, timeframe, start))""",
)
#: the registry's last object: when it exists, the registry is complete
REGISTRY_LAST = f"{REGISTRY}.uncovered"


def normalise(name: str) -> str:
    """fullon's table name of a symbol (or exchange): ``BTC/USDT:USDT`` -> ``btc_usdt_usdt``."""
    return name.replace("/", "_").replace(":", "_").replace("=", "_").replace("^", "").lower()


@dataclass(frozen=True, slots=True)
class Table:
    """A table of the layout: its schema and name, and the registry's ``kind`` for it."""

    schema: str
    name: str
    kind: str

    @property
    def ident(self) -> sql.Identifier:
        """The quoted, schema-qualified identifier."""
        return sql.Identifier(self.schema, self.name)

    @property
    def qualified(self) -> str:
        """``schema.name`` as text (messages, advisory-lock keys, ``to_regclass``)."""
        return f'"{self.schema}"."{self.name}"'

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def _schema(exchange: str) -> str:
    schema = normalise(exchange)
    if not schema or schema.startswith(_RESERVED) or len(schema) > MAX_NAME:
        raise InputError(
            f"exchange {exchange!r} cannot be a PostgreSQL schema (fullon's layout: one schema "
            f"per exchange, {MAX_NAME} characters at most, not pg_*, information_schema or "
            f"{REGISTRY})"
        )
    return schema


def _table(exchange: str, symbol: str, suffix: str, kind: str) -> Table:
    name = f"{normalise(symbol)}_{suffix}"
    if not normalise(symbol) or len(name) > MAX_NAME:
        raise InputError(
            f"symbol {symbol!r} gives the table name {name!r}: PostgreSQL names have at most "
            f"{MAX_NAME} characters"
        )
    return Table(_schema(exchange), name, kind)


def _suffix(tf: Timeframe) -> str:
    return f"candles{tf.name[:-1]}mo" if tf.name.endswith("M") else f"candles{tf.name}"


def candle_table(key: SeriesKey) -> Table:
    """The table of a candle series: ``binance.btc_usdt_candles1m``."""
    tf = timeframe(key.timeframe)
    return _table(key.exchange, key.symbol, _suffix(tf), tf.name)


def trades_table(exchange: str, symbol: str) -> Table:
    """The trades table of a market: ``binance.btc_usdt_trades``."""
    return _table(exchange, symbol, TRADES, TRADES)


def parse_candle_table(name: str) -> tuple[str, str] | None:
    """(stem, timeframe) of a candle table's name, or None when it is not one."""
    match = _CANDLES.fullmatch(name)
    if match is None:
        return None
    unit = "M" if match["unit"] == "mo" else match["unit"]
    try:
        tf = timeframe(f"{int(match['count'])}{unit}")
    except InputError:
        return None
    return match["stem"], tf.name


def candle_ddl(table: Table) -> list[sql.Composed]:
    """CREATE statements of a candle table."""
    return [
        sql.SQL(
            'CREATE TABLE {} ("timestamp" timestamptz NOT NULL UNIQUE, open double precision '
            "NOT NULL, high double precision NOT NULL, low double precision NOT NULL, "
            "close double precision NOT NULL, vol double precision NOT NULL)"
        ).format(table.ident)
    ]


def trades_ddl(table: Table) -> list[sql.Composed]:
    """CREATE statements of a trades table (unique by trade id and time, indexed by time)."""
    return [
        sql.SQL(
            'CREATE TABLE {} ("timestamp" timestamptz NOT NULL, price double precision NOT NULL, '
            "volume double precision NOT NULL, side text NOT NULL, type text, "
            'trade_id text NOT NULL, UNIQUE (trade_id, "timestamp"))'
        ).format(table.ident),
        sql.SQL('CREATE INDEX {} ON {} ("timestamp")').format(
            sql.Identifier(f"{table.name}_time_idx"[:MAX_NAME]), table.ident
        ),
    ]
