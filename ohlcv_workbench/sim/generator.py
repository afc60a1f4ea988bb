"""Deterministic candles and trades of a generated symbol: pure functions of (seed, symbol, time).

The base series is one candle per minute. Its price path P(m) is the symbol's anchor history
(log-linear) times multi-octave value noise in log-price, whose lattice values are hashed from
(seed, symbol, octave, index); ``open(m) = P(m)``, ``close(m) = P(m + 1)``, high and low reach
beyond by hashed amounts, trade counts and volumes follow a hashed activity level. Seconds and
trades are derived top-down from their minute (:mod:`.intraminute`); hours are aggregated from
minutes and cached in chunks of 32 days, and every larger interval is aggregated from hours,
so 1h = 60 x 1m, 1m = 60 x 1s, 1d, 3d, 1w and 1M hold exactly.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ohlcv_workbench.timeframes import HOUR, MINUTE, SECOND, Timeframe

from .bars import F64, I64, Bars, stream_key, uniform
from .intraminute import ID_STRIDE, Trades, derive_seconds, derive_trades
from .markets import SymbolSpec

__all__ = ["GeneratedSeries"]

OCTAVES = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16)
CHUNK_HOURS = 32 * 24
KNOT_OCTAVE = 6  # slow octaves are evaluated every 2**6 minutes and interpolated
CHUNK_MS = CHUNK_HOURS * HOUR
MIN_TRADES_PER_MINUTE = 120
MAX_TRADES_PER_MINUTE = 20_000
QUOTE_E = 6  # quote volumes are integers of 1e-6 quote units


class GeneratedSeries:
    """Candles and trades of one generated symbol (listing at an hour boundary)."""

    def __init__(self, spec: SymbolSpec, seed: int, cache_chunks: int = 256) -> None:
        if spec.listing % HOUR:
            raise ValueError(f"{spec.symbol}: listing time must be on an hour boundary")
        self.spec = spec
        self.seed = seed
        self.listing = spec.listing
        self.tick_e8 = spec.tick_e8
        self.lot_e8 = spec.step_e8
        # quote micro-units per (tick x lot), as a fraction num / den
        num, den = self.tick_e8 * self.lot_e8, 10 ** (16 - QUOTE_E)
        common = int(np.gcd(num, den))
        self._quote_num, self._quote_den = num // common, den // common
        times, prices = spec.anchor_points()
        self._anchor_t = np.asarray(times, dtype=np.float64) / MINUTE
        self._anchor_logp = np.log(np.asarray(prices, dtype=np.float64) * 1e8 / self.tick_e8)
        self._octave_keys = [stream_key(seed, spec.symbol, f"octave{o}") for o in OCTAVES]
        self._activity_keys = [stream_key(seed, spec.symbol, f"activity{o}") for o in (6, 9, 12)]
        self._keys = {n: stream_key(seed, spec.symbol, n) for n in ("hi", "lo", "n", "v", "b", "w")}
        self._chunks: OrderedDict[int, Bars] = OrderedDict()
        self._cache_chunks = cache_chunks

    # -- minutes -------------------------------------------------------------------------
    def _noise(self, keys: list[np.uint64], octaves: tuple[int, ...], m: I64) -> F64:
        total = np.zeros(m.size, dtype=np.float64)
        for key, octave in zip(keys, octaves, strict=True):
            period = 1 << octave
            cell = m >> octave
            first = int(cell[0])
            lattice = uniform(key, np.arange(first, int(cell[-1]) + 2, dtype=np.int64)) * 2 - 1
            local = cell - first
            if octave == 0:
                value = lattice[local]
            else:
                f = (m & (period - 1)) / period
                s = f * f * (3 - 2 * f)
                v0 = lattice[local]
                value = v0 + (lattice[local + 1] - v0) * s
            total += value * np.sqrt(period)
        return total

    def price_ticks(self, m: I64) -> I64:
        """P(m): the price in ticks at the start of each minute index ``m`` (ascending).

        The slow octaves (periods of 64 minutes and more) are evaluated on 64-minute knots and
        interpolated linearly, which keeps a 32-day chunk cheap.
        """
        fast = [o for o in OCTAVES if o < KNOT_OCTAVE]
        slow = [o for o in OCTAVES if o >= KNOT_OCTAVE]
        noise = self._noise(self._octave_keys[: len(fast)], tuple(fast), m)
        knot = m >> KNOT_OCTAVE
        knots = np.arange(int(knot[0]), int(knot[-1]) + 2, dtype=np.int64)
        at_knots = self._noise(self._octave_keys[len(fast) :], tuple(slow), knots << KNOT_OCTAVE)
        local = knot - knots[0]
        frac = (m & ((1 << KNOT_OCTAVE) - 1)) / (1 << KNOT_OCTAVE)
        noise += at_knots[local] + (at_knots[local + 1] - at_knots[local]) * frac
        anchors = np.interp(knots.astype(np.float64) * 64, self._anchor_t, self._anchor_logp)
        trend = anchors[local] + (anchors[local + 1] - anchors[local]) * frac
        logp = trend + self.spec.sigma * 0.8 * noise
        return np.asarray(np.maximum(np.rint(np.exp(logp)), 1), dtype=np.int64)

    def minutes(self, m0: int, m1: int) -> Bars:
        """One-minute candles for minute indices ``[m0, m1)`` (not clipped to the listing)."""
        if m1 <= m0:
            return Bars.empty()
        m = np.arange(m0, m1 + 1, dtype=np.int64)
        price = self.price_ticks(m)
        m = m[:-1]
        o, c = price[:-1], price[1:]
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        keys, sigma = self._keys, self.spec.sigma
        reach = top * sigma * 1.5
        high = top + np.floor(uniform(keys["hi"], m) ** 3 * reach).astype(np.int64)
        low = np.maximum(bottom - np.floor(uniform(keys["lo"], m) ** 3 * reach), 1).astype(np.int64)
        act = np.exp(0.15 * self._noise(self._activity_keys, (6, 9, 12), m) / 8)
        act = act * (1 + np.minimum(np.abs(c - o) / (o * sigma), 8) * 0.25)
        n = np.rint(self.spec.trades_per_min * act * (0.5 + uniform(keys["n"], m)))
        n = np.clip(n, MIN_TRADES_PER_MINUTE, MAX_TRADES_PER_MINUTE).astype(np.int64)
        extra = np.rint(n * (self.spec.lots_per_trade - 1) * (0.2 + 1.6 * uniform(keys["v"], m)))
        volume = n + extra.astype(np.int64)
        taker = np.floor(volume * (0.3 + 0.4 * uniform(keys["b"], m))).astype(np.int64)
        vwap = low + np.floor(uniform(keys["w"], m) * (high - low + 1)).astype(np.int64)
        vwap = np.minimum(vwap, high)
        quote = volume * vwap * self._quote_num // self._quote_den
        taker_quote = np.floor(quote.astype(np.float64) * (taker / volume)).astype(np.int64)
        return Bars(
            ts=m * MINUTE, open=o, high=high, low=low, close=c, volume=volume, trades=n,
            taker_base=taker, quote=quote, taker_quote=np.clip(taker_quote, 0, quote),
        )  # fmt: skip

    # -- seconds and trades ----------------------------------------------------------------
    def seconds(self, s0: int, s1: int) -> Bars:
        """One-second candles for second indices ``[s0, s1)``."""
        if s1 <= s0:
            return Bars.empty()
        m0, m1 = s0 // 60, -(-s1 // 60)
        bars = derive_seconds(self.seed, self.spec.symbol, self.minutes(m0, m1))
        return bars.take(slice(s0 - m0 * 60, s1 - m0 * 60))

    def trades_of_minutes(self, m0: int, m1: int) -> Trades:
        """Every trade of minutes ``[m0, m1)`` at or after the listing."""
        m0 = max(m0, self.listing // MINUTE)
        if m1 <= m0:
            return Trades.empty()
        seconds = derive_seconds(self.seed, self.spec.symbol, self.minutes(m0, m1))
        return derive_trades(self.seed, self.spec.symbol, seconds, self.listing // SECOND)

    def second_of_trade_id(self, trade_id: int) -> int:
        """The second index holding the trade id (ids encode their second)."""
        return self.listing // SECOND + max(trade_id, 0) // ID_STRIDE

    # -- hours, cached -----------------------------------------------------------------------
    def _chunk(self, index: int) -> Bars:
        found = self._chunks.get(index)
        if found is not None:
            self._chunks.move_to_end(index)
            return found
        m0 = index * CHUNK_MS // MINUTE
        minutes = self.minutes(m0, m0 + CHUNK_HOURS * 60)
        hours = minutes.aggregate(minutes.ts // HOUR * HOUR)
        hours = hours.take(hours.ts >= self.listing)
        self._chunks[index] = hours
        if len(self._chunks) > self._cache_chunks:
            self._chunks.popitem(last=False)
        return hours

    def hours(self, t0: int, t1: int) -> Bars:
        """Hour candles opening in ``[t0, t1)`` from the listing on (hour-aligned bounds)."""
        t0 = max(t0, self.listing)
        if t1 <= t0:
            return Bars.empty()
        parts = [self._chunk(i) for i in range(t0 // CHUNK_MS, (t1 - 1) // CHUNK_MS + 1)]
        bars = Bars.concat(parts)
        return bars.take((bars.ts >= t0) & (bars.ts < t1))

    # -- candles of any interval ----------------------------------------------------------
    def closed_candles(self, tf: Timeframe, first: int, end: int) -> Bars:
        """Final candles of ``tf`` opening in ``[first, end)`` (``first`` aligned, data only)."""
        if end <= first:
            return Bars.empty()
        if tf.ms is not None and tf.ms < MINUTE:
            bars = self.seconds(first // SECOND, -(-end // SECOND))
        elif tf.ms is not None and tf.ms < HOUR:
            bars = self.minutes(first // MINUTE, -(-end // MINUTE))
        else:
            bars = self.hours(first, tf.next(end - 1))
        if tf.ms not in (SECOND, MINUTE, HOUR):
            bars = bars.aggregate(tf.floor_array(bars.ts))
        return bars.take((bars.ts >= first) & (bars.ts < end))

    def partial(self, start: int, now: int) -> Bars:
        """The forming candle opening at ``start``: everything traded in ``[start, now)``.

        Built from closed hours, minutes and seconds and the trades before ``now`` of the
        current second; its last trade (at millisecond 999) is never included, so it always
        differs from the final candle.
        """
        now_hour, now_minute, now_second = now // HOUR * HOUR, now // MINUTE * MINUTE, now // SECOND
        parts: list[Bars] = []
        if start % HOUR == 0 and now_hour > start:
            parts.append(self.hours(start, now_hour))
        lo = max(start, now_hour)
        parts.append(
            self.minutes(lo // MINUTE, now_minute // MINUTE) if now_minute > lo else Bars.empty()
        )
        lo = max(start, now_minute)
        parts.append(
            self.seconds(lo // SECOND, now_second) if now_second * SECOND > lo else Bars.empty()
        )
        current = self.seconds(now_second, now_second + 1)
        if now_second * SECOND >= max(start, self.listing):
            parts.append(self._partial_second(current, now))
        parts = [p for p in parts if len(p) and int(p.volume.sum()) > 0]
        if parts:
            return Bars.concat(parts).merged(start)
        # nothing traded yet: a flat candle at the open price, no volume
        price, zero = current.open[:1], np.zeros(1, dtype=np.int64)
        ts = np.asarray([start], dtype=np.int64)
        return Bars(ts, price, price, price, price, zero, zero, zero, zero, zero)

    def _partial_second(self, second: Bars, now: int) -> Bars:
        minute = int(second.ts[0]) // MINUTE
        trades = self.trades_of_minutes(minute, minute + 1)
        trades = trades.take((trades.ts >= second.ts[0]) & (trades.ts < now))
        if len(trades) == 0:
            return Bars.empty()
        volume = int(trades.qty.sum())
        full = int(second.volume[0])

        def scaled(x: I64) -> I64:
            return np.asarray([int(x[0]) * volume // full], dtype=np.int64)

        return Bars(
            ts=second.ts, open=second.open, high=np.asarray([trades.price.max()]),
            low=np.asarray([trades.price.min()]), close=trades.price[-1:],
            volume=np.asarray([volume]), trades=np.asarray([len(trades)]),
            taker_base=np.asarray([int(trades.qty[~trades.buyer_maker].sum())]),
            quote=scaled(second.quote), taker_quote=scaled(second.taker_quote),
        )  # fmt: skip
