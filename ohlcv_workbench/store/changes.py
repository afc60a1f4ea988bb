"""What an upsert changes, computed and logged the same way by every backend.

:func:`compare` matches new candles against stored ones by open time and tells, bit for bit,
which are new, changed or equal; the ``log_*`` functions write one WARNING per changed candle or
trade (up to :data:`LOGGED_UPDATES` per call) and a summary line beyond that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.records import OHLCV_COLUMNS, PublicTrade, SeriesKey
from ohlcv_workbench.times import iso

__all__ = [
    "LOGGED_UPDATES",
    "Changes",
    "Comparison",
    "TradeValues",
    "changes_of",
    "compare",
    "log_candle_updates",
    "log_trade_updates",
    "trade_values",
]

logger = logging.getLogger("ohlcv_workbench.store")

LOGGED_UPDATES = 20  # per call; further updates are summarised in one line

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
#: a stored trade's (time, price, amount, side)
TradeValues = tuple[int, float, float, str]


@dataclass(frozen=True)
class Comparison:
    """New candles against stored ones: ``found[i]`` when new candle ``i`` is stored (at
    ``at[k]`` of the stored ones, for the k-th found), ``changed[k]`` when its values differ."""

    found: B
    at: I64
    changed: B

    @property
    def inserted(self) -> int:
        """Candles new to the store."""
        return int((~self.found).sum())

    @property
    def updated(self) -> int:
        """Stored candles whose values change."""
        return int(self.changed.sum())

    @property
    def unchanged(self) -> int:
        """Stored candles given again with the same values."""
        return int(self.found.sum()) - self.updated


@dataclass(frozen=True)
class Changes:
    """Updated candles: their open times and values before and after (5 x k each)."""

    ts: I64
    before: F64
    after: F64


def compare(old_ts: I64, old_values: F64, new_ts: I64, new_values: F64) -> Comparison:
    """Match ascending new candles (5 x n values) with ascending stored ones, bitwise."""
    n = old_ts.size
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return Comparison(np.zeros(new_ts.size, dtype=np.bool_), empty, np.zeros(0, np.bool_))
    pos = np.searchsorted(old_ts, new_ts)
    found = (pos < n) & (old_ts[np.minimum(pos, n - 1)] == new_ts)
    at = pos[found]
    before, after = old_values[:, at], new_values[:, found]
    changed = (before.view(np.int64) != after.view(np.int64)).any(axis=0)
    return Comparison(found, at, changed)


def changes_of(comparison: Comparison, old_values: F64, new_ts: I64, new_values: F64) -> Changes:
    """The updated candles of a comparison."""
    c = comparison
    return Changes(
        new_ts[c.found][c.changed],
        old_values[:, c.at[c.changed]],
        new_values[:, c.found][:, c.changed],
    )


def log_candle_updates(key: SeriesKey, changes: Sequence[Changes], total: int) -> None:
    """One WARNING per changed candle (up to LOGGED_UPDATES), then a summary line."""
    logged = 0
    for change in changes:
        for i, ts in enumerate(change.ts.tolist()):
            if logged == LOGGED_UPDATES:
                logger.warning("%s: %d stored candles changed in all", key, total)
                return
            diffs = [
                f"{name} {float(change.before[j, i])!r} -> {float(change.after[j, i])!r}"
                for j, name in enumerate(OHLCV_COLUMNS)
                if change.before[j, i].tobytes() != change.after[j, i].tobytes()
            ]
            logger.warning("%s %s changed: %s", key, iso(ts), ", ".join(diffs))
            logged += 1


def trade_values(trade: PublicTrade) -> TradeValues:
    """The stored values of a trade, as compared on upsert."""
    return (int(trade.ts), float(trade.price), float(trade.amount), trade.side)


def log_trade_updates(
    exchange: str, symbol: str, changes: Sequence[tuple[PublicTrade, TradeValues]]
) -> None:
    """One WARNING per changed trade (up to LOGGED_UPDATES), then a summary line."""
    for t, (ts, price, amount, side) in changes[:LOGGED_UPDATES]:
        logger.warning(
            "%s %s trade %s changed: time %s -> %s, price %r -> %r, amount %r -> %r, "
            "side %s -> %s",
            exchange, symbol, t.trade_id, iso(ts), iso(t.ts), price, t.price, amount, t.amount,
            side, t.side,
        )  # fmt: skip
    if len(changes) > LOGGED_UPDATES:
        logger.warning("%s %s: %d trades changed in all", exchange, symbol, len(changes))
