"""Malformed rows on candle pages (Binance klines and Kraken OHLC share the OHLC positions).

Missing rows (the ``gaps`` fault) are left out when a page is planned (:mod:`.pages`).
"""

from __future__ import annotations

import json

import numpy as np

from ohlcv_workbench.timeframes import Timeframe

from .bars import I64, stream_key, uniform
from .faults import Counters, Faults

__all__ = ["corrupt_rows"]


def _malform(row: str, kind: str) -> str:
    values = json.loads(row)
    if kind == "non_numeric":
        values[4] = "n/a"  # close price
    else:
        high, low = values[2], values[3]
        values[2], values[3] = (low, high) if high != low else ("0", low)
    return json.dumps(values, separators=(",", ":"))


def corrupt_rows(
    faults: Faults, symbol: str, tf: Timeframe, ts: I64, rows: list[str], counters: Counters
) -> list[str]:
    """Corrupt the rows hit by ``faults.malformed`` (open time ``ts`` of each row)."""
    bad = faults.row_mask("malformed", symbol, tf.name, ts)
    if not bad.any():
        return rows
    counters.faults["malformed"] += int(bad.sum())
    out = list(rows)
    coin = uniform(stream_key(faults.seed, f"{symbol}|{tf.name}", "malformed_kind"), ts) < 0.5
    for i in np.flatnonzero(bad).tolist():
        kind = faults.malformed_kind
        if kind == "mixed":
            kind = "non_numeric" if coin[i] else "high_below_low"
        out[i] = _malform(rows[i], kind)
    return out
