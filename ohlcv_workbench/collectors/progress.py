"""Progress of a collection: done/total, rate and ETA, as shown in heartbeats and widgets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ohlcv_workbench.times import format_duration

__all__ = ["Progress"]


@dataclass
class Progress:
    """Counts candles (or trades) done against an expected total, with a rate and an ETA."""

    total: int = 0
    done: int = 0
    unit: str = "candles"
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Units per second since the start."""
        return self.done / self.elapsed

    @property
    def fraction(self) -> float:
        """0..1; 1 when there is nothing to do."""
        return 1.0 if self.total <= 0 else min(self.done / self.total, 1.0)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before anything is done)."""
        if self.done <= 0 or self.total <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    def add(self, count: int) -> None:
        """Record ``count`` more units done."""
        self.done += count

    def message(self, prefix: str = "Backfilling") -> str:
        """Human-readable line for heartbeats and the CLI."""
        eta = self.eta
        tail = f", ETA {format_duration(eta)}" if eta is not None and self.done < self.total else ""
        return (
            f"{prefix} {self.done:,}/{self.total:,} {self.unit} ({self.fraction:.0%}), "
            f"{self.rate:,.0f}/s{tail}"
        )

    def as_params(self) -> dict[str, float | int | None]:
        """JSON-ready fields for the ProcessCache params (``progress``)."""
        eta = self.eta
        return {
            "done": self.done,
            "total": self.total,
            "fraction": round(self.fraction, 4),
            "rate": round(self.rate, 1),
            "eta_s": None if eta is None else round(eta, 1),
        }
