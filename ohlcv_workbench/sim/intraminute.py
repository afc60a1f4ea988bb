"""Inside a minute: its 60 one-second candles and their trades, derived top-down.

A minute candle (O, H, L, C, V, N, ...) is split into seconds whose aggregate is the minute
exactly: a path of 61 anchor prices inside [L, H] that starts at O, ends at C and touches H and
L; volumes, trade counts and quote volumes are integer partitions of the minute's. Each second
then gets its trades: the first at the second's open, the last at its close (at millisecond
999), one at its high and one at its low when those lie beyond open and close, quantities
summing to the second's volume and the takers' buys to its taker-buy volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bars import (
    I64,
    Bars,
    Columnar,
    below,
    group_starts,
    partition,
    segment_partition,
    stream_key,
    uniform,
)

__all__ = ["ID_STRIDE", "Trades", "derive_seconds", "derive_trades"]

#: trade ids are ``(second - listing second) * ID_STRIDE + index within the second``
ID_STRIDE = 10_000
MIN_TRADES_PER_SECOND = 2


@dataclass(frozen=True)
class Trades(Columnar):
    """Public trades in columns: ids, ms timestamps, ticks, lots, buyer-was-maker flags."""

    id: I64
    ts: I64
    price: I64
    qty: I64
    buyer_maker: npt.NDArray[np.bool_]


_STREAMS = (
    "ih",
    "il",
    "path",
    "wn",
    "wv",
    "eh",
    "el",
    "toff",
    "tpx",
    "thi",
    "tlo",
    "tside",
    "tqty",
)
_KEYS: dict[tuple[int, str], dict[str, np.uint64]] = {}


def _keys(seed: int, symbol: str) -> dict[str, np.uint64]:
    found = _KEYS.get((seed, symbol))
    if found is None:
        found = {name: stream_key(seed, symbol, f"sec.{name}") for name in _STREAMS}
        _KEYS[(seed, symbol)] = found
    return found


def derive_seconds(seed: int, symbol: str, minutes: Bars) -> Bars:
    """The 60 one-second candles of each minute, in order; they aggregate to the minutes."""
    k = _keys(seed, symbol)
    m = minutes.ts // 60_000
    count = m.size
    if count == 0:
        return Bars.empty()
    sec = (m[:, None] * 60 + np.arange(60)[None, :]).astype(np.int64)  # second indices
    o, h, lo, c = (minutes.open[:, None], minutes.high[:, None], minutes.low[:, None],
                   minutes.close[:, None])  # fmt: skip

    # anchor path p[0..60]: p0 = O, p60 = C, p[i_h] = H, p[i_l] = L, noise in between
    i_h = 1 + below(k["ih"], m, 59)
    i_l = 1 + (i_h - 1 + 1 + below(k["il"], m, 58)) % 59
    first, second = np.minimum(i_h, i_l)[:, None], np.maximum(i_h, i_l)[:, None]
    v_first = np.where(i_h < i_l, minutes.high, minutes.low)[:, None]
    v_second = np.where(i_h < i_l, minutes.low, minutes.high)[:, None]
    x = np.arange(61)[None, :]
    xs = [np.zeros_like(first), first, second, np.full_like(first, 60)]
    ys = [o, v_first, v_second, c]
    line = np.zeros((count, 61), dtype=np.float64)
    for seg in range(3):
        x0, x1, y0, y1 = xs[seg], xs[seg + 1], ys[seg], ys[seg + 1]
        inside = (x >= x0) & (x <= x1)
        span = np.maximum(x1 - x0, 1)
        line = np.where(inside, y0 + (y1 - y0) * (x - x0) / span, line)
    anchors_idx = (m[:, None] * 61 + x).astype(np.int64)
    noise = (uniform(k["path"], anchors_idx) - 0.5) * 0.5 * (h - lo)
    path = np.clip(np.rint(line + noise).astype(np.int64), lo, h)
    path[:, 0] = minutes.open
    path[:, 60] = minutes.close
    rows = np.arange(count)
    path[rows, i_h] = minutes.high
    path[rows, i_l] = minutes.low
    s_open, s_close = path[:, :60], path[:, 1:]

    # trade counts (>= 2 each), volumes (>= trades), taker buys, quote volumes
    w_n = 32768 + below(k["wn"], sec, 32768)
    n = MIN_TRADES_PER_SECOND + partition(minutes.trades - 60 * MIN_TRADES_PER_SECOND, w_n)
    w_v = 1 + below(k["wv"], sec, 65535)
    v = n + partition(minutes.volume - minutes.trades, w_v)
    b = partition(minutes.taker_base, v)
    w_q = np.maximum(v * 65536 // np.maximum(v.max(axis=1, keepdims=True), 1), 1)
    q = partition(minutes.quote, w_q)
    bq = partition(minutes.taker_quote, w_q)

    # highs and lows beyond open/close where enough trades exist to print them
    top, bottom = np.maximum(s_open, s_close), np.minimum(s_open, s_close)
    reach = (h - lo) * 0.35
    ext_h = np.floor(uniform(k["eh"], sec) ** 2 * reach).astype(np.int64)
    ext_l = np.floor(uniform(k["el"], sec) ** 2 * reach).astype(np.int64)
    s_high = np.where(n >= 3, np.minimum(top + ext_h, h), top)
    s_low = np.where(n >= 4, np.maximum(bottom - ext_l, lo), bottom)
    return Bars(
        ts=(sec * 1000).ravel(), open=s_open.ravel(), high=s_high.ravel(), low=s_low.ravel(),
        close=s_close.ravel(), volume=v.ravel(), trades=n.ravel(), taker_base=b.ravel(),
        quote=q.ravel(), taker_quote=bq.ravel(),
    )  # fmt: skip


def derive_trades(seed: int, symbol: str, seconds: Bars, listing_second: int) -> Trades:
    """Every trade of the given one-second candles, in time order."""
    k = _keys(seed, symbol)
    n = seconds.trades
    total = int(n.sum())
    if total == 0:
        return Trades.empty()
    starts = np.concatenate(([0], np.cumsum(n)[:-1])).astype(np.int64)
    sid = np.repeat(np.arange(n.size), n)  # which second each trade belongs to
    j = np.arange(total, dtype=np.int64) - starts[sid]
    nn = n[sid]
    sec = seconds.ts[sid] // 1000
    key = sec * 65536 + j  # hash index of each trade

    # times: spread over [0, 999) in order, the last trade (the close) at 999
    offset = np.floor((j + uniform(k["toff"], key) * 0.999) * 999 / nn).astype(np.int64)
    offset = np.where(j == nn - 1, 999, np.minimum(offset, 998))
    ts = sec * 1000 + offset

    # prices: open first, close last, high and low once each in between, others inside
    o, h, lo, c = (seconds.open[sid], seconds.high[sid], seconds.low[sid], seconds.close[sid])
    price = lo + np.minimum(
        np.floor(uniform(k["tpx"], key) * (h - lo + 1)).astype(np.int64), h - lo
    )
    inner = np.maximum(nn - 2, 1)
    j_h = 1 + below(k["thi"], sec, inner)
    j_l = 1 + (j_h - 1 + 1 + below(k["tlo"], sec, np.maximum(nn - 3, 1))) % inner
    price = np.where((j == j_h) & (h > np.maximum(o, c)), h, price)
    price = np.where((j == j_l) & (lo < np.minimum(o, c)), lo, price)
    price = np.where(j == 0, o, np.where(j == nn - 1, c, price))

    # sides: a feasible number of taker buys per second, chosen trades by hashed rank
    v, b = seconds.volume, seconds.taker_base
    low_buys = np.maximum((b > 0).astype(np.int64), n - (v - b))
    high_buys = np.minimum(b, n - (v - b > 0).astype(np.int64))
    buys = np.clip(np.rint(n * b / np.maximum(v, 1)).astype(np.int64), low_buys, high_buys)
    side_key = (uniform(k["tside"], key) * 2**40).astype(np.int64)
    order = np.lexsort((side_key, sid))
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total) - starts[sid[order]]
    is_buy = rank < buys[sid]

    # quantities: the taker buys share b, the taker sells share v - b, each at least one lot
    seg = sid * 2 + is_buy
    by_seg = np.argsort(seg, kind="stable")
    seg_sorted = seg[by_seg]
    seg_starts = group_starts(seg_sorted)
    seg_ids = seg_sorted[seg_starts]
    seg_total = np.where(seg_ids % 2 == 1, b[seg_ids // 2], (v - b)[seg_ids // 2])
    weights = 1 + below(k["tqty"], key[by_seg], 255)
    qty = np.empty(total, dtype=np.int64)
    qty[by_seg] = segment_partition(seg_total, seg_starts, weights)

    ids = (sec - listing_second) * ID_STRIDE + j
    return Trades(id=ids, ts=ts, price=price, qty=qty, buyer_maker=~is_buy)
