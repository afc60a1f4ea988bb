"""Candle slots: a timeframe's open times numbered consecutively (pure numpy).

Slot ``i`` of a fixed timeframe opens at ``i * ms + offset`` (offset: Monday for weeks);
slot ``i`` of a month-based timeframe opens on month ``i * months`` counted from 1970-01.
Gaps are differences of slot numbers, and the store's chunks are runs of slots.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.timeframes import WEEK, Timeframe

__all__ = ["slot_index", "slot_start"]

I64 = npt.NDArray[np.int64]
_MONDAY_OFFSET = 4 * 24 * 3600 * 1000  # 1970-01-01 was a Thursday


def _offset(tf: Timeframe) -> int:
    assert tf.ms is not None
    return _MONDAY_OFFSET if tf.ms % WEEK == 0 else 0


def slot_index(tf: Timeframe, ts: I64) -> I64:
    """Slot number of the candle containing each ``ts``."""
    ts = np.asarray(ts, dtype=np.int64)
    if tf.ms is not None:
        return np.asarray((ts - _offset(tf)) // tf.ms, dtype=np.int64)
    months = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    return np.asarray(months // (tf.months or 1), dtype=np.int64)


def slot_start(tf: Timeframe, index: I64) -> I64:
    """Open time (UTC ms) of each slot number."""
    index = np.asarray(index, dtype=np.int64)
    if tf.ms is not None:
        return np.asarray(index * tf.ms + _offset(tf), dtype=np.int64)
    months = (index * (tf.months or 1)).astype("datetime64[M]")
    return np.asarray(months.astype("datetime64[ms]").astype(np.int64), dtype=np.int64)
