"""Exchange rows to records: vectorised kline conversion, checks, ordering and the closed flag.

Binance klines (``[openTime, "open", "high", "low", "close", "volume", closeTime, ...]``) are
converted column-wise with numpy; each price string goes through Python's ``float`` exactly as
ccxt's ``parse_ohlcv`` does, so both paths give bit-identical floats. Rows that are not valid
candles (missing or non-numeric fields, high below low, open or close outside [low, high],
negative volume) raise :class:`MalformedResponseError`, a permanent error naming the candles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ohlcv_workbench.records import CandleBatch, PublicTrade
from ohlcv_workbench.timeframes import Timeframe

from .translate import MalformedResponseError

__all__ = [
    "batch_from_ccxt_ohlcv",
    "batch_from_klines",
    "closed_mask",
    "to_batch",
    "trades_from_ccxt",
]

_OPEN_TIME = itemgetter(0)
_OHLCV = itemgetter(1, 2, 3, 4, 5)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def closed_mask(tf: Timeframe, ts: IntArray, exchange_now: int) -> npt.NDArray[np.bool_]:
    """True where the candle opening at ``ts`` has closed by ``exchange_now``."""
    if tf.ms is not None:
        return np.asarray(ts + tf.ms <= exchange_now, dtype=np.bool_)
    ends = np.fromiter((tf.next(int(t)) for t in ts), dtype=np.int64, count=len(ts))
    return np.asarray(ends <= exchange_now, dtype=np.bool_)


#: set while a klines request of the fast path is in flight (see :class:`NumericRowsMixin`)
_NUMERIC_ROWS: ContextVar[bool] = ContextVar("numeric_rows", default=False)


@contextmanager
def numeric_rows() -> Iterator[None]:
    """Within the block, this task's kline responses are parsed with numbers, not strings."""
    token = _NUMERIC_ROWS.set(True)
    try:
        yield
    finally:
        _NUMERIC_ROWS.reset(token)


class NumericRowsMixin:
    """Mixed into a ccxt exchange class: inside :func:`numeric_rows`, a response that is an
    array of arrays is parsed with its quotes removed, so Binance's numeric strings arrive as
    numbers (the same IEEE values ``float(text)`` gives) for half the parsing cost. A body that
    does not parse that way (a non-numeric field) takes ccxt's own path, unchanged.
    """

    def parse_json(self, http_response: Any) -> Any:
        """ccxt's JSON parsing, with the fast path above."""
        if (
            _NUMERIC_ROWS.get()
            and isinstance(http_response, str)
            and http_response.startswith("[[")
            and "\\" not in http_response
        ):
            try:
                return orjson.loads(http_response.replace('"', ""))
            except orjson.JSONDecodeError:
                pass
        return super().parse_json(http_response)  # type: ignore[misc]


def batch_from_klines(rows: Any, where: str) -> tuple[IntArray, FloatArray]:
    """Binance kline rows to (open times, an (n, 5) float array of OHLCV), unchecked order."""
    if not isinstance(rows, list):
        raise MalformedResponseError(f"{where}: expected a list of klines, got {_kind(rows)}")
    n = len(rows)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64)
    try:
        ts = np.fromiter(map(_OPEN_TIME, rows), dtype=np.int64, count=n)
        values = np.array(list(map(_OHLCV, rows)), dtype=np.float64)
    except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        bad = _first_bad_kline(rows)
        raise MalformedResponseError(f"{where}: malformed kline row {bad}: {exc}") from None
    if values.shape != (n, 5):
        raise MalformedResponseError(f"{where}: malformed kline rows (shape {values.shape})")
    return ts, values


def _first_bad_kline(rows: list[Any]) -> str:
    for row in rows:
        try:
            int(row[0])
            [float(x) for x in row[1:6]]
            if len(row) < 6:
                raise ValueError
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):
            return repr(row)[:200]
    return "(unknown)"  # pragma: no cover - only reached when numpy and float disagree


def batch_from_ccxt_ohlcv(rows: Any, where: str) -> tuple[IntArray, FloatArray]:
    """ccxt's unified ``[[ts, o, h, l, c, v], ...]`` (None for unparsable fields) to arrays."""
    if not isinstance(rows, list):
        raise MalformedResponseError(f"{where}: expected a list of candles, got {_kind(rows)}")
    n = len(rows)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64)
    try:
        stamps = [row[0] for row in rows]
        if any(not isinstance(t, int) or isinstance(t, bool) for t in stamps):
            raise ValueError("an open time is not an integer")
        ts = np.array(stamps, dtype=np.int64)
        values = np.array([row[1:6] for row in rows], dtype=np.float64)  # None -> nan
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise MalformedResponseError(f"{where}: malformed candle rows: {exc}") from None
    if values.shape != (n, 5):
        raise MalformedResponseError(f"{where}: malformed candle rows (shape {values.shape})")
    return ts, values


def to_batch(
    ts: IntArray,
    values: FloatArray,
    tf: Timeframe,
    *,
    since: int | None,
    until: int | None,
    limit: int | None,
    closed_before: int,
    where: str,
) -> CandleBatch:
    """Checked, ascending, de-duplicated (last wins) candles in ``[since, until)``.

    ``closed_before``: a candle whose close is at or before it is flagged closed.
    """
    _check(ts, values, where)
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], values[order]
        keep = np.append(ts[1:] != ts[:-1], True)
        ts, values = ts[keep], values[keep]
    if since is not None or until is not None:
        mask = np.ones(ts.size, dtype=np.bool_)
        if since is not None:
            mask &= ts >= since
        if until is not None:
            mask &= ts < until
        if not bool(mask.all()):
            ts, values = ts[mask], values[mask]
    if limit is not None and ts.size > limit:
        ts, values = ts[:limit], values[:limit]
    columns = np.ascontiguousarray(values.T)
    return CandleBatch(
        ts=np.ascontiguousarray(ts, dtype=np.int64),
        open=columns[0],
        high=columns[1],
        low=columns[2],
        close=columns[3],
        volume=columns[4],
        closed=closed_mask(tf, ts, closed_before),
    )


def _check(ts: IntArray, values: FloatArray, where: str) -> None:
    if values.size == 0:
        return
    o, h, lo, c, v = values.T
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(values).all(axis=1), dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        bad = ~finite | (h < lo) | (o < lo) | (o > h) | (c < lo) | (c > h) | (v < 0) | (lo < 0)
    if not bool(bad.any()):
        return
    index = np.flatnonzero(bad).tolist()
    samples = []
    for i in index[:3]:
        reason = "inconsistent OHLCV" if bool(finite[i]) else "missing or non-numeric field"
        samples.append(f"open time {int(ts[i])}: {reason} {values[i].tolist()}")
    more = f" (and {len(index) - 3} more)" if len(index) > 3 else ""
    raise MalformedResponseError(
        f"{where}: {len(index)} malformed candle(s): {'; '.join(samples)}{more}"
    )


def trades_from_ccxt(
    trades: Any, where: str, *, since: int | None, until: int | None
) -> list[PublicTrade]:
    """ccxt's unified trades to :class:`PublicTrade`, in ``[since, until)``, ascending, unique."""
    if not isinstance(trades, list):
        raise MalformedResponseError(f"{where}: expected a list of trades, got {_kind(trades)}")
    out: dict[str, PublicTrade] = {}
    for trade in trades:
        record = _trade(trade, where)
        if since is not None and record.ts < since:
            continue
        if until is not None and record.ts >= until:
            continue
        out[record.trade_id] = record
    return sorted(out.values(), key=_trade_order)


def _trade_order(trade: PublicTrade) -> tuple[int, int, str]:
    tid = trade.trade_id
    return (trade.ts, int(tid) if tid.isdigit() else 0, tid)


def _trade(trade: Any, where: str) -> PublicTrade:
    try:
        tid, ts = trade["id"], trade["timestamp"]
        price, amount, side = trade["price"], trade["amount"], trade["side"]
        if tid is None or not isinstance(ts, int) or side not in ("buy", "sell"):
            raise ValueError("missing id, timestamp or side")
        record = PublicTrade(str(tid), int(ts), float(price), float(amount), str(side))
    except (TypeError, ValueError, KeyError) as exc:
        raise MalformedResponseError(f"{where}: malformed trade {trade!r:.200}: {exc}") from None
    if not (np.isfinite(record.price) and np.isfinite(record.amount)) or record.amount < 0:
        raise MalformedResponseError(f"{where}: malformed trade {trade!r:.200}")
    return record


def _kind(value: object) -> str:
    return type(value).__name__
