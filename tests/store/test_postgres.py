"""The PostgreSQL store in fullon_ohlcv's layout: plain SQL both ways, a fullon-made table read
unchanged, names, the same results as SQLite, bad URLs, and connections lost mid-write."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
import pytest

from ohlcv_workbench.errors import ConfigError, InputError, StoreError
from ohlcv_workbench.records import CandleBatch, PublicTrade, SeriesKey
from ohlcv_workbench.services import free_port
from ohlcv_workbench.store import (
    Candle,
    CandleRepository,
    PostgresStore,
    SqliteStore,
    TimeseriesRepository,
    UpsertResult,
    open_store,
)
from ohlcv_workbench.store.pg_connect import StoreRetry
from ohlcv_workbench.store.pg_layout import candle_table, normalise, trades_table
from ohlcv_workbench.times import to_ms

from .conftest import KEY, candles

T0 = to_ms("2026-03-02T00:00")  # a Monday
MIN = 60_000
RESAMPLED = ("5m", "15m", "1h", "4h", "1d", "3d", "1w", "1M")


@pytest.fixture
def pg(postgres_database):
    with PostgresStore(postgres_database) as store:
        yield store


@pytest.fixture
def sql(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        yield conn


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# -- the layout, read and written with plain SQL ----------------------------------------------
def test_rows_the_workbench_writes_are_plain_sql_in_fullons_layout(pg, sql):
    batch = candles(T0, 500)
    pg.ohlcv_store(KEY, batch)
    pg.ohlcv_store(SeriesKey("binance", "BTC/USDT", "1h"), candles(T0, 5, "1h"))
    rows = sql.execute(
        'SELECT "timestamp", open, high, low, close, vol FROM binance.btc_usdt_candles1m '
        'ORDER BY "timestamp"'
    ).fetchall()
    assert len(rows) == 500
    assert rows[0] == (utc(T0), *(float(c[0]) for c in (batch.open, batch.high, batch.low,
                       batch.close, batch.volume)))  # fmt: skip
    assert [r[0] for r in rows] == [utc(int(t)) for t in batch.ts]
    assert np.array_equal(np.array([r[5] for r in rows]), batch.volume)  # bit for bit
    types = dict(
        sql.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'binance' AND table_name = 'btc_usdt_candles1m'"
        ).fetchall()
    )
    assert types == {"timestamp": "timestamp with time zone", "open": "double precision",
                     "high": "double precision", "low": "double precision",
                     "close": "double precision", "vol": "double precision"}  # fmt: skip
    unique = sql.execute(
        "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'binance.btc_usdt_candles1m'::regclass "
        "AND i.indisunique AND a.attname = 'timestamp' AND i.indnatts = 1"
    ).fetchone()
    assert unique == (1,)
    assert sql.execute("SELECT count(*) FROM binance.btc_usdt_candles1h").fetchone() == (5,)

    trades = [PublicTrade(str(100 + i), T0 + i * 500, 10.0 + i, 0.5, "buy" if i % 2 else "sell")
              for i in range(4)]  # fmt: skip
    pg.trades_store("binance", "BTC/USDT", trades)
    got = sql.execute(
        'SELECT "timestamp", price, volume, side, type, trade_id FROM binance.btc_usdt_trades '
        'ORDER BY "timestamp"'
    ).fetchall()
    assert got == [(utc(t.ts), t.price, t.amount, t.side.upper(), None, t.trade_id)
                   for t in trades]  # fmt: skip


def test_names_are_normalised_as_fullon_does():
    assert normalise("BTC/USDT") == "btc_usdt"
    assert normalise("BTC/USDT:USDT") == "btc_usdt_usdt"
    assert normalise("^GSPC") == "gspc" and normalise("EUR=X") == "eur_x"
    assert str(candle_table(SeriesKey("Kraken", "BTC/USD", "1s"))) == "kraken.btc_usd_candles1s"
    assert str(candle_table(SeriesKey("kraken", "BTC/USD", "1M"))) == "kraken.btc_usd_candles1mo"
    assert str(trades_table("binance", "ETH/BTC")) == "binance.eth_btc_trades"
    with pytest.raises(InputError, match="cannot be a PostgreSQL schema"):
        candle_table(SeriesKey("pg_catalog", "BTC/USDT", "1m"))
    with pytest.raises(InputError, match="63 characters"):
        candle_table(SeriesKey("binance", "X" * 60 + "/USDT", "1m"))


def test_a_second_symbol_claiming_a_table_is_refused(pg, sql):
    pg.ohlcv_store(KEY, candles(T0, 3))
    with pytest.raises(StoreError, match=r"holds binance BTC/USDT: binance BTC_USDT would share"):
        pg.ohlcv_store(SeriesKey("binance", "BTC_USDT", "1m"), candles(T0, 3, seed=2))
    assert sql.execute("SELECT count(*) FROM binance.btc_usdt_candles1m").fetchone() == (3,)
    assert sql.execute(
        "SELECT exchange, symbol, kind, schema_name, table_name FROM ohlcv_workbench.series"
    ).fetchall() == [("binance", "BTC/USDT", "1m", "binance", "btc_usdt_candles1m")]


# -- a table fullon made ------------------------------------------------------------------------
FULLON_DDL = """
CREATE SCHEMA kraken;
CREATE TABLE kraken.eth_usd_candles1m (
    "timestamp" TIMESTAMP WITH TIME ZONE NOT NULL PRIMARY KEY,
    open DOUBLE PRECISION NOT NULL, high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL, close DOUBLE PRECISION NOT NULL,
    vol DOUBLE PRECISION NOT NULL);
CREATE VIEW kraken.eth_usd_candles1m_view AS
    SELECT "timestamp", open, high, low, close, vol FROM kraken.eth_usd_candles1m;
CREATE TABLE kraken.eth_usd_trades (
    "timestamp" TIMESTAMP WITH TIME ZONE NOT NULL, price DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL, side VARCHAR(4) NOT NULL, type VARCHAR(6));
"""


def fullon_install(sql, batch: CandleBatch) -> None:
    """What a fullon install leaves: its tables, a view, and rows put in with plain SQL."""
    for statement in FULLON_DDL.split(";"):
        if statement.strip():
            sql.execute(statement)
    with sql.cursor() as cur:
        cur.executemany(
            "INSERT INTO kraken.eth_usd_candles1m VALUES (%s, %s, %s, %s, %s, %s)",
            [(utc(r.ts), r.open, r.high, r.low, r.close, r.volume) for r in batch.rows()],
        )
        cur.executemany(
            "INSERT INTO kraken.eth_usd_trades VALUES (%s, %s, %s, %s, %s)",
            [(utc(T0 + 1000 * i), 2000.0 + i, 0.25, "BUY" if i % 2 else "SELL", "MARKET")
             for i in range(6)],
        )  # fmt: skip


def definition(sql):
    return sql.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'kraken' "
        "AND a.attnum > 0 ORDER BY 1, a.attnum"
    ).fetchall()


async def test_a_fullon_table_is_read_unchanged(postgres_database, sql):
    batch = candles(T0, 3 * 60, seed=5)
    fullon_install(sql, batch)
    before = definition(sql)
    key = SeriesKey("kraken", "ETH/USD", "1m")
    with open_store(postgres_database) as store:
        pd.testing.assert_frame_equal(store.ohlcv_load(key), batch.to_frame())
        hourly = store.ohlcv_load(key, timeframe="1h")
        assert len(hourly) == 3 and hourly["volume"].iloc[0] == batch.volume[:60].sum()
        assert [(i.key, i.count) for i in store.ohlcv_inventory("kraken", "ETH/USD")] == [
            (key, 180)
        ]
        # nobody registered the table: the inventory names it by its stem
        assert [i.key for i in store.ohlcv_inventory()] == [SeriesKey("kraken", "ETH_USD", "1m")]
        trades = store.trades_load("kraken", "ETH/USD")
        assert list(trades["price"]) == [2000.0 + i for i in range(6)]
        assert list(trades["side"]) == ["sell", "buy"] * 3 and set(trades["trade_id"]) == {""}
        async with CandleRepository("kraken", "ETH/USD", store=store) as repo:
            assert await repo.get_oldest_timestamp() == utc(T0)
            assert await repo.get_latest_timestamp() == utc(T0 + 179 * MIN)
            got = await repo.get_candles_in_range(utc(T0), utc(T0 + 2 * MIN))
            assert got == [Candle(utc(r.ts), r.open, r.high, r.low, r.close, r.volume)
                           for r in batch.rows()[:2]]  # fmt: skip
        async with TimeseriesRepository("kraken", "ETH/USD", store=store) as repo:
            rows = await repo.fetch_ohlcv(1, "hours", utc(T0), utc(T0 + 180 * MIN))
            assert [r[0] for r in rows] == [utc(T0 + h * 60 * MIN) for h in range(3)]
            assert rows[0][1:] == tuple(hourly.iloc[0])
        # candles written into fullon's table land in it; trades need an id it has no column for
        more = candles(T0 + 180 * MIN, 10, seed=6)
        assert store.ohlcv_store(key, more) == UpsertResult(inserted=10)
        assert store.ohlcv_store(key, batch) == UpsertResult(unchanged=180)
        with pytest.raises(StoreError, match=r"trade_id is missing .* never alters"):
            store.trades_store("kraken", "ETH/USD", [PublicTrade("1", T0, 1.0, 1.0, "buy")])
    assert definition(sql) == before  # not one column added, changed or dropped
    assert sql.execute("SELECT count(*) FROM kraken.eth_usd_candles1m_view").fetchone() == (190,)


def test_a_table_of_other_types_is_read_but_never_altered(pg, sql):
    sql.execute("CREATE SCHEMA bitstamp")
    sql.execute(
        'CREATE TABLE bitstamp.btc_eur_candles1m ("timestamp" timestamptz PRIMARY KEY, '
        "open numeric, high numeric, low numeric, close numeric, vol numeric)"
    )
    sql.execute(
        "INSERT INTO bitstamp.btc_eur_candles1m VALUES (%s, 1.5, 2.5, 1.0, 2.0, 0.125)", (utc(T0),)
    )
    key = SeriesKey("bitstamp", "BTC/EUR", "1m")
    assert pg.ohlcv_load(key).iloc[0].tolist() == [1.5, 2.5, 1.0, 2.0, 0.125]
    with pytest.raises(StoreError, match=r"column open is numeric \(the workbench writes double"):
        pg.ohlcv_store(key, candles(T0 + MIN, 2))
    assert sql.execute("SELECT count(*) FROM bitstamp.btc_eur_candles1m").fetchone() == (1,)
    sql.execute(
        "INSERT INTO bitstamp.btc_eur_candles1m VALUES (%s, 1, 1, 1, 1, NULL)", (utc(T0 + MIN),)
    )
    with pytest.raises(StoreError, match="NULL values"):
        pg.ohlcv_load(key)


# -- the same results as SQLite --------------------------------------------------------------
def test_results_are_identical_to_sqlites(pg, tmp_path):
    minutes = candles(T0 - 17 * MIN, 50 * 1440, skip=range(3000, 3400), seed=9)
    seconds = candles(T0, 4 * 3600, "1s", seed=10)
    trades = [PublicTrade(str(i), T0 + 37 * i, 100 + (i % 7), 0.01 * (i % 5), "buy")
              for i in range(20_000)]  # fmt: skip
    with SqliteStore(tmp_path / "same.sqlite") as lite:
        for store in (lite, pg):
            store.ohlcv_store(KEY, minutes)
            store.ohlcv_store(SeriesKey("binance", "BTC/USDT", "1s"), seconds)
            store.trades_store("binance", "BTC/USDT", trades)
        for tf in RESAMPLED:
            for partial in (False, True):
                a = lite.ohlcv_load(KEY, timeframe=tf, partial=partial)
                b = pg.ohlcv_load(KEY, timeframe=tf, partial=partial)
                assert len(a) > 0 or (tf == "1M" and not partial)  # no whole month in 50 days
                pd.testing.assert_frame_equal(a, b, check_exact=True)
                assert a.to_numpy().tobytes() == b.to_numpy().tobytes(), tf
        for tf in ("1m", "5m", "1h"):
            sec = SeriesKey("binance", "BTC/USDT", "1s")
            pd.testing.assert_frame_equal(
                lite.ohlcv_load(sec, timeframe=tf), pg.ohlcv_load(sec, timeframe=tf)
            )
            pd.testing.assert_frame_equal(
                lite.trades_to_ohlcv("binance", "BTC/USDT", tf),
                pg.trades_to_ohlcv("binance", "BTC/USDT", tf),
                check_exact=True,
            )
        assert lite.ohlcv_gaps(KEY) == pg.ohlcv_gaps(KEY)
        assert lite.ohlcv_coverage(KEY, T0, T0 + 3 * 1440 * MIN) == pg.ohlcv_coverage(
            KEY, T0, T0 + 3 * 1440 * MIN
        )
        assert lite.ohlcv_quality(KEY) == pg.ohlcv_quality(KEY)
        assert lite.ohlcv_inventory() == pg.ohlcv_inventory()
        assert lite.trades_last("binance", "BTC/USDT") == pg.trades_last("binance", "BTC/USDT")


# -- bad input -------------------------------------------------------------------------------
def _with(url: str, **parts: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    split = urlsplit(url)
    user = parts.get("user", split.username or "")
    password = parts.get("password", split.password or "")
    host = parts.get("host", f"{split.hostname}:{split.port}")
    path = parts.get("path", split.path)
    return urlunsplit(split._replace(netloc=f"{user}:{password}@{host}", path=path))


def test_bad_urls_are_named_before_anything_is_written(postgres_database):
    for url, error, message in [
        ("postgresql://u@127.0.0.1:notaport/db", ConfigError, "not valid"),
        ("postgresql+mysql://u@127.0.0.1/db", ConfigError, "expected sqlite:///path"),
        ("postgresql://u@127.0.0.1:5432", ConfigError, "names no database"),
        (_with(postgres_database, password="wrong"), StoreError,
         "refused the password of user 'postgres'"),
        (_with(postgres_database, path="/no_such_db"), StoreError,
         "database 'no_such_db' does not exist on the server at 127.0.0.1"),
        (_with(postgres_database, host=f"127.0.0.1:{free_port()}"), StoreError,
         "nothing accepts connections at 127.0.0.1"),
    ]:  # fmt: skip
        with pytest.raises(error, match=message) as info:
            open_store(url)
        assert "wrong" not in str(info.value)  # a password is never shown


# -- lost connections --------------------------------------------------------------------------
def terminate_backends(sql, database: str) -> int:
    rows = sql.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    return len(rows)


def test_terminated_connections_are_retried_and_nothing_is_half_written(
    postgres_database, sql, caplog
):
    database = postgres_database.rsplit("/", 1)[1]
    full = candles(T0, 60 * 250, seed=3)
    kills, written = 0, [0]
    with PostgresStore(postgres_database, retry=StoreRetry(wait_initial=0.01)) as store:
        done = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for i in range(0, len(full), 250):
                    store.ohlcv_store(KEY, full.select(slice(i, i + 250)))
                    written[0] += 1
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                errors.append(exc)
            finally:
                done.set()

        with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.store"):
            writer = threading.Thread(target=write)
            writer.start()
            seen = 0
            while not done.wait(0.005):
                if written[0] >= seen + 8:  # every few batches, once: mid-write or idle
                    seen = written[0]
                    kills += terminate_backends(sql, database) > 0
            writer.join()
        assert errors == []
        assert kills >= 3
        assert any("retrying" in r.getMessage() for r in caplog.records)
        pd.testing.assert_frame_equal(store.ohlcv_load(KEY), full.to_frame())
        assert store.ohlcv_gaps(KEY) == []


def test_a_server_gone_for_good_ends_in_a_store_error_naming_it(postgres_database, postgres_url):
    database = postgres_database.rsplit("/", 1)[1]
    store = PostgresStore(postgres_database, retry=StoreRetry(attempts=3, timeout=5))
    store.ohlcv_store(KEY, candles(T0, 10))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        try:
            terminate_backends(admin, database)
            reason = r"store candles of .* after \d+ attempts? in .* not currently accepting conn"
            with pytest.raises(StoreError, match=reason):
                store.ohlcv_store(KEY, candles(T0 + 10 * MIN, 10))
        finally:
            admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
    assert store.ohlcv_count(KEY) == 10  # the failed batch left nothing behind
    store.close()


def test_a_hand_made_trades_table_with_ids_takes_trades(pg, sql):
    sql.execute("CREATE SCHEMA okx")
    sql.execute(
        'CREATE TABLE okx.eth_usdt_trades ("timestamp" timestamptz NOT NULL, price float8, '
        "volume float8, side varchar(4), type varchar(6), trade_id varchar(32) UNIQUE)"
    )
    trades = [PublicTrade("7", T0, 10.0, 1.0, "buy"), PublicTrade("8", T0 + 5, 11.0, 2.0, "sell")]
    assert pg.trades_store("okx", "ETH/USDT", trades) == UpsertResult(inserted=2)
    assert pg.trades_store("okx", "ETH/USDT", trades) == UpsertResult(unchanged=2)
    assert sql.execute("SELECT side, trade_id FROM okx.eth_usdt_trades ORDER BY 2").fetchall() == [
        ("BUY", "7"),
        ("SELL", "8"),
    ]
    assert pg.trades_last("okx", "ETH/USDT") == trades[1]
