"""Columnar integer candles, hashing and integer partitions: the simulator's arithmetic.

Prices are integer ticks, volumes integer lots and quote volumes integer micro-units of the
quote asset, so every aggregate (sums, first/last, max/min) is exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Self

import numpy as np
import numpy.typing as npt

__all__ = [
    "F64",
    "I64",
    "U64",
    "Bars",
    "Columnar",
    "group_starts",
    "hash_u64",
    "partition",
    "stream_key",
]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)


def stream_key(seed: int, symbol: str, stream: str) -> np.uint64:
    """A 64-bit key for one random stream of one symbol (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{stream}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def hash_u64(key: np.uint64, index: I64) -> U64:
    """splitmix64 of ``key + index * golden``: independent uniform 64-bit values per index."""
    with np.errstate(over="ignore"):
        z = np.asarray(index, dtype=np.int64).astype(np.uint64) * _GOLDEN + key
        z = (z ^ (z >> np.uint64(30))) * _C1
        z = (z ^ (z >> np.uint64(27))) * _C2
        return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def uniform(key: np.uint64, index: I64) -> F64:
    """Uniform floats in [0, 1) per index."""
    return np.asarray((hash_u64(key, index) >> np.uint64(11)).astype(np.float64) * 2.0**-53)


def below(key: np.uint64, index: I64, n: I64 | int) -> I64:
    """Uniform integers in [0, n) per index (n >= 1)."""
    return np.asarray(hash_u64(key, index) % np.asarray(n).astype(np.uint64), dtype=np.int64)


def partition(total: I64, weights: I64) -> I64:
    """Split each ``total[i]`` into ``weights.shape[1]`` integers proportional to ``weights[i]``.

    Largest-remainder rounding: every row sums exactly to its total. Products must fit int64.
    """
    rows, cols = weights.shape
    weight_sum = weights.sum(axis=1, keepdims=True)
    base, rem = np.divmod(total[:, None] * weights, weight_sum)
    deficit = total - base.sum(axis=1)
    order = np.argsort(-rem, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(cols), (rows, cols)), axis=1)
    return np.asarray(base + (ranks < deficit[:, None]), dtype=np.int64)


def segment_partition(total: I64, starts: I64, weights: I64) -> I64:
    """Split ``total[g]`` over the items of segment g (items ``starts[g]:starts[g+1]``).

    Every item gets at least 1; the rest goes proportionally to ``weights`` (largest
    remainder), so each segment sums exactly to its total. Requires total >= item count.
    """
    n = weights.size
    counts = np.diff(np.append(starts, n))
    seg = np.repeat(np.arange(starts.size), counts)
    spare = total - counts
    weight_sum = np.add.reduceat(weights, starts)
    base, rem = np.divmod(spare[seg] * weights, weight_sum[seg])
    deficit = spare - np.add.reduceat(base, starts)
    order = np.lexsort((-rem, seg))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[seg[order]]
    return np.asarray(base + 1 + (rank < deficit[seg]), dtype=np.int64)


def group_starts(keys: I64) -> I64:
    """Indices where a sorted key array changes value (the starts of equal-key runs)."""
    if keys.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))).astype(np.int64)


class Columnar:
    """Rows kept as numpy columns (the fields of a dataclass): length, subsets, joining."""

    def __len__(self) -> int:
        return int(getattr(self, fields(self)[0].name).size)  # type: ignore[arg-type]

    def take(self, index: I64 | slice | npt.NDArray[np.bool_]) -> Self:
        """A subset of the rows."""
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))  # type: ignore[arg-type]

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        """The rows of several batches, in order (an empty list: no rows)."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))  # type: ignore[arg-type]

    @classmethod
    def empty(cls) -> Self:
        """No rows (integer columns; boolean ones where the field says so)."""
        columns: list[npt.NDArray[np.generic]] = []
        for f in fields(cls):  # type: ignore[arg-type]
            dtype = np.bool_ if "bool" in str(f.type) else np.int64
            columns.append(np.empty(0, dtype=dtype))
        return cls(*columns)


@dataclass(frozen=True)
class Bars(Columnar):
    """Candles in integer columns: ticks, lots, micro-units of quote, trade counts."""

    ts: I64
    open: I64
    high: I64
    low: I64
    close: I64
    volume: I64
    trades: I64
    taker_base: I64
    quote: I64
    taker_quote: I64

    def aggregate(self, keys: I64) -> Bars:
        """Merge runs of equal ``keys`` (sorted) into one candle each, stamped with the key."""
        if len(self) == 0:
            return self
        starts = group_starts(keys)
        ends = np.append(starts[1:], len(self)) - 1
        return Bars(
            ts=keys[starts],
            open=self.open[starts],
            high=np.maximum.reduceat(self.high, starts),
            low=np.minimum.reduceat(self.low, starts),
            close=self.close[ends],
            volume=np.add.reduceat(self.volume, starts),
            trades=np.add.reduceat(self.trades, starts),
            taker_base=np.add.reduceat(self.taker_base, starts),
            quote=np.add.reduceat(self.quote, starts),
            taker_quote=np.add.reduceat(self.taker_quote, starts),
        )

    def merged(self, ts: int) -> Bars:
        """All candles as one, stamped ``ts`` (empty stays empty)."""
        return self.aggregate(np.full(len(self), ts, dtype=np.int64)) if len(self) else self
