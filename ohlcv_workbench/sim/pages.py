"""Which candles a page holds: ``limit`` candles that exist, as exchanges count them.

Binance answers ``startTime`` with up to ``limit`` candles that exist from there on: an
outage, a closed market (a weekend of FX data) or a missing row is skipped, not counted (ccxt
issue 8068 shows a page jumping from 05:59 to 07:00). Without ``startTime`` it answers the
newest ``limit`` candles that exist up to ``endTime`` (or now). :func:`page_opens` plans such a
page over a :class:`~.series.Series`, leaving out the candles the faults remove (maintenance
ranges and injected gaps) and walking past them until the page is full or the range ends.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ohlcv_workbench.timeframes import Timeframe

from .bars import I64
from .faults import Counters, Faults
from .series import Series

__all__ = ["Missing", "missing_rows", "page_opens"]

#: which of the given open times are missing (True) from the answer
Missing = Callable[[I64], np.ndarray]


def missing_rows(
    faults: Faults, symbol: str, tf: Timeframe, counters: Counters, *, maintenance: bool
) -> Missing:
    """The rows the faults remove: injected gaps (counted), and (``maintenance``) candles
    opening in a maintenance range."""

    def missing(ts: I64) -> np.ndarray:
        out = np.zeros(ts.size, dtype=np.bool_)
        if faults.gaps > 0 and faults.applies_to(symbol):
            out = faults.row_mask("gaps", symbol, tf.name, ts)
            counters.faults["gaps"] += int(out.sum())
        if maintenance:
            out = out | faults.in_maintenance(symbol, ts)
        return out

    return missing


def page_opens(
    series: Series,
    tf: Timeframe,
    start: int | None,
    end: int | None,
    limit: int,
    now: int,
    missing: Missing,
    faults: Faults,
) -> I64:
    """Open times of the page: the first ``limit`` existing candles opening at or after
    ``start`` (or the newest ``limit`` without it), opening at or before ``end`` and ``now``."""
    upper = now if end is None else min(end, now)
    if upper < series.listing:  # nothing traded yet
        return np.empty(0, dtype=np.int64)
    stop = tf.next(tf.floor(upper))  # open times < stop
    lo = (
        tf.floor(series.listing) if start is None else max(tf.ceil(start), tf.floor(series.listing))
    )
    symbol = series.spec.symbol
    found: list[I64] = []
    need = limit
    newest = start is None
    while need > 0 and lo < stop:
        if newest:
            stop = faults.maintenance_start(symbol, stop)
        else:
            lo = tf.ceil(faults.maintenance_end(symbol, lo))
        if lo >= stop:
            break
        ts = series.opens(tf, lo, stop, need, newest)
        if ts.size == 0:
            break
        kept = ts[~missing(ts)]
        found.append(kept)
        need -= kept.size
        if ts.size < need + kept.size:  # fewer slots than asked: the range is exhausted
            break
        if newest:
            stop = int(ts[0])
        else:
            lo = tf.next(int(ts[-1]))
    if not found:
        return np.empty(0, dtype=np.int64)
    out = np.concatenate(found)
    return np.sort(out) if newest else out
