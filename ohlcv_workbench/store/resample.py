"""Resampling candles (and trades) to a coarser, exchange-aligned timeframe: pure numpy.

Buckets are those of :mod:`ohlcv_workbench.timeframes` (epoch-aligned seconds to days, Monday
weeks, calendar months): open = first, high = max, low = min, close = last, volume = sum;
a bucket with no candle is absent. By default only *complete* buckets are returned: a bucket
is kept when it lies inside the loaded extent, i.e. ``[max(start, first candle),
min(end, last candle + one stored interval))``; buckets cut by that extent (the listing day,
the hour still forming, a range edge) are included only with ``partial=True``. Interior gaps
do not make a bucket partial, as on an exchange.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.timeframes import BINANCE_TIMEFRAMES, DAY, Timeframe, timeframe

from .slots import slot_index, slot_start

__all__ = ["aggregate", "reachable", "resample", "resample_problem"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_MONDAY_OFFSET = 4 * DAY


def resample_problem(stored: Timeframe, target: Timeframe) -> str | None:
    """Why candles of ``stored`` cannot be resampled to ``target``, or None when they can."""
    if stored.ms is not None and target.ms is not None:
        if target.ms < stored.ms:
            return f"{target.name} is finer than the stored {stored.name}"
        if target.ms % stored.ms:
            return f"{target.name} is not a multiple of the stored {stored.name}"
        offsets = [
            _MONDAY_OFFSET if tf.ms and tf.ms % (7 * DAY) == 0 else 0 for tf in (stored, target)
        ]
        if (offsets[1] - offsets[0]) % stored.ms:
            return f"{target.name} buckets (Monday weeks) do not start on {stored.name} boundaries"
        return None
    if stored.ms is None and target.ms is None:
        assert stored.months is not None and target.months is not None
        if target.months % stored.months:
            return f"{target.name} is not a multiple of the stored {stored.name}"
        return None
    if stored.ms is None:
        return f"{target.name} is finer than the stored {stored.name}"
    if DAY % stored.ms:
        return f"months do not start on {stored.name} boundaries"
    return None


def reachable(stored: Timeframe) -> list[str]:
    """The Binance timeframes candles of ``stored`` can be resampled to."""
    return [n for n in BINANCE_TIMEFRAMES if resample_problem(stored, timeframe(n)) is None]


def aggregate(
    keys: I64, o: F64, h: F64, lo: F64, c: F64, v: F64
) -> tuple[I64, F64, F64, F64, F64, F64]:
    """Merge runs of equal (ascending) ``keys`` into one candle each, stamped with the key."""
    if keys.size == 0:
        return keys, o, h, lo, c, v
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
    ends = np.append(starts[1:], keys.size) - 1
    return (
        keys[starts],
        o[starts],
        np.maximum.reduceat(h, starts),
        np.minimum.reduceat(lo, starts),
        c[ends],
        np.add.reduceat(v, starts),
    )


def resample(
    ts: I64,
    values: F64,
    stored: Timeframe,
    target: Timeframe,
    window: tuple[int, int],
    partial: bool,
) -> tuple[I64, F64]:
    """Resample ascending candles (``values`` is 5 x n: open, high, low, close, volume).

    ``window`` is the loaded extent ``[lo, hi)``; see the module docstring. Returns the bucket
    open times and a 5 x m array.
    """
    assert resample_problem(stored, target) is None
    keys = target.floor_array(ts)
    out_ts, *cols = aggregate(keys, *values)
    if not partial and out_ts.size:
        if target.ms is not None:
            ends = out_ts + target.ms
        else:
            ends = slot_start(target, slot_index(target, out_ts) + 1)
        keep = (out_ts >= window[0]) & (ends <= window[1])
        out_ts, cols = out_ts[keep], [col[keep] for col in cols]
    return out_ts, np.stack(cols) if out_ts.size else np.empty((5, 0), dtype=np.float64)
