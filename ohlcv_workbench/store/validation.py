"""Validation of candles and trades before they are stored: pure functions, no I/O.

Each problem row gets one reason naming its time and every rule it breaks, e.g.
``"2026-01-01T00:03:00Z: high 99.5 < close 100.1"``. The ``check_*`` functions raise
:class:`InvalidDataError` with all the reasons, so a batch is stored whole or not at all.

Rules for candles: finite values; ``low <= min(open, close)``; ``high >= max(open, close)``;
``volume >= 0``; open times aligned to the timeframe, strictly ascending, without duplicates;
closed (a forming candle is never stored: pass ``batch.closed_only()``).
Rules for trades: non-empty id, unique in the batch; finite ``price > 0``; finite
``amount >= 0``; side ``"buy"`` or ``"sell"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ohlcv_workbench.errors import InvalidDataError
from ohlcv_workbench.records import OHLCV_COLUMNS, CandleBatch, PublicTrade
from ohlcv_workbench.timeframes import Timeframe
from ohlcv_workbench.times import iso

__all__ = ["candle_problems", "check_candles", "check_trades", "trade_problems"]

TRADE_SIDES = ("buy", "sell")
_SHOWN = 5


def _num(x: float) -> str:
    return repr(float(x))


def candle_problems(batch: CandleBatch, tf: Timeframe) -> list[str]:
    """One reason per invalid candle (empty when the batch is valid), in batch order."""
    n = len(batch)
    if n == 0:
        return []
    ts = np.asarray(batch.ts, dtype=np.int64)
    o, h, lo, c, v = (np.asarray(getattr(batch, k), dtype=np.float64) for k in OHLCV_COLUMNS)
    bottom, top = np.minimum(o, c), np.maximum(o, c)
    # a quick pass for the common, valid case; any doubt goes to the rule-by-rule pass
    with np.errstate(over="ignore", invalid="ignore"):
        sums_finite = bool(np.isfinite(o + h + lo + c + v).all())
    if (
        sums_finite
        and bool(((lo <= bottom) & (h >= top) & (v >= 0)).all())
        and bool((tf.floor_array(ts) == ts).all())
        and bool((ts[1:] > ts[:-1]).all())
        and bool(np.asarray(batch.closed).all())
    ):
        return []
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)
    low_bad = finite & (lo > bottom)
    high_bad = finite & (h < top)
    vol_bad = finite & (v < 0)
    unaligned = tf.floor_array(ts) != ts
    duplicate = np.zeros(n, dtype=np.bool_)
    duplicate[1:] = ts[1:] == ts[:-1]
    unordered = np.zeros(n, dtype=np.bool_)
    unordered[1:] = ts[1:] < ts[:-1]
    forming = ~np.asarray(batch.closed, dtype=np.bool_)
    bad = ~finite | low_bad | high_bad | vol_bad | unaligned | duplicate | unordered | forming
    reasons: list[str] = []
    for i in np.flatnonzero(bad).tolist():
        problems: list[str] = []
        if not finite[i]:
            values = (o[i], h[i], lo[i], c[i], v[i])
            problems += [
                f"{name} {_num(x)} is not finite"
                for name, x in zip(OHLCV_COLUMNS, values, strict=True)
                if not math.isfinite(x)
            ]
        if low_bad[i]:
            name, ref = ("open", o[i]) if o[i] <= c[i] else ("close", c[i])
            problems.append(f"low {_num(lo[i])} > {name} {_num(ref)}")
        if high_bad[i]:
            name, ref = ("open", o[i]) if o[i] >= c[i] else ("close", c[i])
            problems.append(f"high {_num(h[i])} < {name} {_num(ref)}")
        if vol_bad[i]:
            problems.append(f"volume {_num(v[i])} < 0")
        if unaligned[i]:
            problems.append(
                f"not aligned to {tf.name} (that candle opens at {iso(tf.floor(int(ts[i])))})"
            )
        if duplicate[i]:
            problems.append("duplicate open time")
        if unordered[i]:
            problems.append(f"out of order (after {iso(int(ts[i - 1]))})")
        if forming[i]:
            problems.append("still forming (closed=False): store batch.closed_only()")
        reasons.append(f"{iso(int(ts[i]))}: {'; '.join(problems)}")
    return reasons


def _raise(kind: str, what: str, total: int, reasons: list[str]) -> None:
    shown = " | ".join(reasons[:_SHOWN]) + (" ..." if len(reasons) > _SHOWN else "")
    raise InvalidDataError(
        f"{len(reasons)} of {total} {kind} of {what} rejected, nothing was written: {shown}",
        reasons,
    )


def check_candles(batch: CandleBatch, tf: Timeframe, series: str) -> None:
    """Raise InvalidDataError (with ``.reasons``) when any candle of the batch is invalid."""
    reasons = candle_problems(batch, tf)
    if reasons:
        _raise("candles", series, len(batch), reasons)


def trade_problems(trades: Sequence[PublicTrade]) -> list[str]:
    """One reason per invalid trade (empty when all are valid), in batch order."""
    reasons: list[str] = []
    seen: set[str] = set()
    for trade in trades:
        problems: list[str] = []
        if not isinstance(trade.trade_id, str) or not trade.trade_id:
            problems.append(f"trade id {trade.trade_id!r} is not a non-empty string")
        elif trade.trade_id in seen:
            problems.append(f"duplicate trade id {trade.trade_id!r}")
        else:
            seen.add(trade.trade_id)
        if isinstance(trade.ts, bool) or not isinstance(trade.ts, int | np.integer):
            problems.append(f"time {trade.ts!r} is not integer UTC milliseconds")
        price, amount = float(trade.price), float(trade.amount)
        if not (math.isfinite(price) and price > 0):
            problems.append(f"price {_num(price)} is not a finite positive number")
        if not (math.isfinite(amount) and amount >= 0):
            problems.append(f"amount {_num(amount)} is not a finite number >= 0")
        if trade.side not in TRADE_SIDES:
            problems.append(f"side {trade.side!r} is not one of {', '.join(TRADE_SIDES)}")
        if problems:
            when = iso(int(trade.ts)) if isinstance(trade.ts, int | np.integer) else "?"
            reasons.append(f"{when} trade {trade.trade_id!r}: {'; '.join(problems)}")
    return reasons


def check_trades(trades: Sequence[PublicTrade], market: str) -> None:
    """Raise InvalidDataError (with ``.reasons``) when any trade of the batch is invalid."""
    reasons = trade_problems(trades)
    if reasons:
        _raise("trades", market, len(trades), reasons)
