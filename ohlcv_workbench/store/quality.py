"""Gaps and a data-quality report of a candle series: pure functions over numpy arrays.

:func:`find_gaps` lists the missing candles of a timeframe in a range, exactly (slot
arithmetic, months included). :func:`quality_report` summarises a series: gaps (count, longest,
total missing), duplicate open times, the share of zero-volume candles, and large jumps: a
close-to-close return, or a gap between a candle's open and the previous close, beyond
``jump_sigmas`` standard deviations of the close-to-close returns (adjacent candles only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ohlcv_workbench.records import OHLCV_COLUMNS, CandleBatch, SeriesKey
from ohlcv_workbench.timeframes import Timeframe
from ohlcv_workbench.times import iso

from .models import Gap, Uncovered
from .slots import slot_index, slot_start

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Jump", "QualityReport", "find_gaps", "quality_report"]

I64 = npt.NDArray[np.int64]


def find_gaps(ts: I64, tf: Timeframe, start: int, end: int) -> list[Gap]:
    """Missing candle open times of ``tf`` in ``[start, end)`` given the present ``ts``.

    ``ts`` must be ascending and unique; times outside the range are ignored.
    """
    if end <= start:
        return []
    ts = np.asarray(ts, dtype=np.int64)
    ts = ts[(ts >= start) & (ts < end)]
    first_slot = int(slot_index(tf, np.array([tf.ceil(start)]))[0])
    end_slot = int(slot_index(tf, np.array([tf.ceil(end)]))[0])
    if end_slot <= first_slot:
        return []
    present = slot_index(tf, ts)
    bounds = np.concatenate(([first_slot - 1], present, [end_slot]))
    missing = np.diff(bounds) - 1
    where = np.flatnonzero(missing > 0)
    if where.size == 0:
        return []
    starts = slot_start(tf, bounds[where] + 1)
    ends = slot_start(tf, bounds[where + 1])
    return [
        Gap(int(a), int(b), int(m))
        for a, b, m in zip(starts.tolist(), ends.tolist(), missing[where].tolist(), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Jump:
    """A large move at ``ts``: ``kind`` "return" (close to close) or "gap" (close to open)."""

    ts: int
    kind: Literal["return", "gap"]
    change: float  # relative: new / previous - 1
    sigmas: float

    def __str__(self) -> str:
        return f"{iso(self.ts)}: {self.kind} {self.change:+.4%} ({self.sigmas:.1f} sigma)"


@dataclass(frozen=True)
class QualityReport:
    """Data quality of one series (see the module docstring for the definitions)."""

    series: SeriesKey | None
    timeframe: str
    first: int | None
    last: int | None
    count: int
    expected: int
    gaps: tuple[Gap, ...]
    duplicates: int
    zero_volume_share: float
    jumps: tuple[Jump, ...]
    jump_sigmas: float
    #: ranges a collector could not get candles for (noted in the store), with the reason
    uncovered: tuple[Uncovered, ...] = ()

    @property
    def gap_count(self) -> int:
        """Number of gaps between the first and last candle."""
        return len(self.gaps)

    @property
    def longest_gap(self) -> int:
        """Candles missing in the longest gap (0 without gaps)."""
        return max((g.missing for g in self.gaps), default=0)

    @property
    def missing_total(self) -> int:
        """Candles missing between the first and last candle."""
        return sum(g.missing for g in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        """Summary as a flat dict (gaps and jumps as counts and the longest gap)."""
        return {
            "series": None if self.series is None else str(self.series),
            "timeframe": self.timeframe,
            "first": None if self.first is None else iso(self.first),
            "last": None if self.last is None else iso(self.last),
            "count": self.count,
            "expected": self.expected,
            "gap_count": self.gap_count,
            "longest_gap": self.longest_gap,
            "missing_total": self.missing_total,
            "duplicates": self.duplicates,
            "zero_volume_share": self.zero_volume_share,
            "jumps": len(self.jumps),
            "uncovered": "; ".join(str(u) for u in self.uncovered) or None,
        }

    def to_frame(self) -> pd.DataFrame:
        """The summary as a one-column DataFrame (metric -> value)."""
        import pandas as pd

        return pd.DataFrame({"value": pd.Series(self.to_dict(), dtype=object)})

    def jumps_frame(self) -> pd.DataFrame:
        """The large jumps: UTC "time" index, columns kind, change, sigmas."""
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime([j.ts for j in self.jumps], unit="ms", utc=True))
        return pd.DataFrame(
            {
                "kind": [j.kind for j in self.jumps],
                "change": np.array([j.change for j in self.jumps], dtype=np.float64),
                "sigmas": np.array([j.sigmas for j in self.jumps], dtype=np.float64),
            },
            index=index.rename("time"),
        )


def _jumps(batch: CandleBatch, tf: Timeframe, k: float) -> list[Jump]:
    if len(batch) < 3:
        return []
    slots = slot_index(tf, batch.ts)
    adjacent = np.diff(slots) == 1
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = batch.close[1:] / batch.close[:-1] - 1
        gaps = batch.open[1:] / batch.close[:-1] - 1
    usable = adjacent & np.isfinite(returns)
    if usable.sum() < 2:
        return []
    sigma = float(np.std(returns[usable]))
    if sigma == 0:
        return []
    found: list[Jump] = []
    kinds: tuple[tuple[Literal["return", "gap"], npt.NDArray[np.float64]], ...] = (
        ("return", returns),
        ("gap", gaps),
    )
    for kind, change in kinds:
        z = np.abs(change) / sigma
        for i in np.flatnonzero(usable & np.isfinite(z) & (z > k)).tolist():
            found.append(Jump(int(batch.ts[i + 1]), kind, float(change[i]), float(z[i])))
    found.sort(key=lambda j: (j.ts, j.kind))
    return found


def quality_report(
    batch: CandleBatch,
    tf: Timeframe,
    *,
    series: SeriesKey | None = None,
    jump_sigmas: float = 8.0,
) -> QualityReport:
    """The quality report of candles of ``tf`` (any order; duplicates are counted, not used)."""
    order = np.argsort(batch.ts, kind="stable")
    ordered = CandleBatch(
        *(getattr(batch, name)[order] for name in ("ts", *OHLCV_COLUMNS, "closed"))
    )
    unique = np.ones(len(ordered), dtype=np.bool_)
    unique[1:] = np.diff(ordered.ts) != 0
    clean = ordered.select(unique)
    n = len(clean)
    first = int(clean.ts[0]) if n else None
    last = int(clean.ts[-1]) if n else None
    gaps = [] if first is None or last is None else find_gaps(clean.ts, tf, first, tf.next(last))
    return QualityReport(
        series=series,
        timeframe=tf.name,
        first=first,
        last=last,
        count=n,
        expected=n + sum(g.missing for g in gaps),
        gaps=tuple(gaps),
        duplicates=int(len(ordered) - n),
        zero_volume_share=float(np.mean(clean.volume == 0)) if n else 0.0,
        jumps=tuple(_jumps(clean, tf, jump_sigmas)),
        jump_sigmas=jump_sigmas,
    )
