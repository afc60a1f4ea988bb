"""Binance's aggregate trades: runs of trades that filled together, with ids of their own.

Binance aggregates "trades that fill at the time, from the same order, with the same price".
Here an aggregate is a run of consecutive trades within one second at one price on one side
(the taker's): its price, the summed quantity, the time and side of its first trade, and the
ids of its first and last trade (``f``, ``l``). Aggregate ids are a sequence of their own:
``(second - listing second) * AGG_STRIDE + index of the aggregate in its second``, so they
differ from trade ids (which use ``ID_STRIDE`` per second) and a page can start at any
aggregate id (``fromId``). Aggregates never cross a second, so they must be computed from
whole seconds of trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bars import I64, Columnar
from .intraminute import Trades

__all__ = ["AGG_STRIDE", "AggTrades", "aggregate"]

#: aggregate ids per second (a second holds fewer than 700 trades, so fewer aggregates)
AGG_STRIDE = 1000


@dataclass(frozen=True)
class AggTrades(Columnar):
    """Aggregate trades in columns."""

    id: I64
    first: I64
    last: I64
    ts: I64
    price: I64
    qty: I64
    buyer_maker: npt.NDArray[np.bool_]


def aggregate(trades: Trades, listing_second: int) -> AggTrades:
    """The aggregates of ascending trades made of whole seconds."""
    n = len(trades)
    if n == 0:
        return AggTrades.empty()
    sec = trades.ts // 1000
    new = np.ones(n, dtype=np.bool_)
    new[1:] = (
        (sec[1:] != sec[:-1])
        | (trades.price[1:] != trades.price[:-1])
        | (trades.buyer_maker[1:] != trades.buyer_maker[:-1])
    )
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n) - 1
    group_sec = sec[starts]
    opens_second = np.ones(starts.size, dtype=np.bool_)
    opens_second[1:] = group_sec[1:] != group_sec[:-1]
    pos = np.arange(starts.size, dtype=np.int64)
    index_in_second = pos - np.maximum.accumulate(np.where(opens_second, pos, 0))
    return AggTrades(
        id=np.asarray((group_sec - listing_second) * AGG_STRIDE + index_in_second, np.int64),
        first=trades.id[starts],
        last=trades.id[ends],
        ts=trades.ts[starts],
        price=trades.price[starts],
        qty=np.add.reduceat(trades.qty, starts),
        buyer_maker=trades.buyer_maker[starts],
    )
