"""The simulator's rate limits: Binance's request weight and IP bans, Kraken's call counter.

All three run on real time (epoch ms passed in by the caller), not on the simulated clock: a
client's pace is measured in the seconds it really spends.

- :class:`WeightLimiter`: Binance's ``REQUEST_WEIGHT`` limit, ``limit`` weight per fixed
  window (6000 per minute); over it, 429 with ``Retry-After`` (seconds to the next window).
- :class:`Ban`: Binance's answer to a client that goes on after 429s: HTTP 418 with
  ``Retry-After`` (seconds until the ban ends) for every request until it ends; bans grow for
  repeat offenders (Binance: from 2 minutes to 3 days).
- :class:`CallCounter`: Kraken's public limit. Each call adds 1 to a counter (per IP for most
  endpoints, per IP and pair for ``OHLC`` and ``Trades``) that decays by ``rate`` per second;
  a call that would take it over ``burst`` is refused (``EGeneral:Too many requests``) and
  the key stays locked for ``lockout`` seconds. About one call per second never trips it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Ban", "CallCounter", "WeightLimiter"]


class WeightLimiter:
    """Binance's request-weight limit: ``limit`` weight per fixed window of real time.

    ``tolerance`` (default 1 % of the limit, 60 at 6000) absorbs the burst ccxt's leaky bucket
    allows on top of its pace (its capacity plus one request's cost, at most 25 weight for
    binance), so a client at exactly ccxt's pace is never refused.
    """

    def __init__(
        self, limit: int | None = 6000, window_ms: int = 60_000, tolerance: int | None = None
    ) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self._tolerance = tolerance
        self._window = -1
        self.used = 0

    @property
    def tolerance(self) -> int:
        """Weight accepted beyond the limit in one window."""
        if self._tolerance is not None:
            return self._tolerance
        return (self.limit or 0) // 100

    def charge(self, weight: int, real_ms: int) -> tuple[bool, int, int]:
        """Count ``weight``; return (allowed, weight used in the window, Retry-After seconds)."""
        window = real_ms // self.window_ms
        if window != self._window:
            self._window, self.used = window, 0
        if self.limit is not None and self.used + weight > self.limit + self.tolerance:
            remaining = (window + 1) * self.window_ms - real_ms
            return False, self.used, max(1, math.ceil(remaining / 1000))
        self.used += weight
        return True, self.used, 0

    def reset(self) -> None:
        """Forget the weight used in the current window."""
        self._window, self.used = -1, 0


class Ban:
    """An IP ban (HTTP 418): struck by 429 answers, lifted when its time is over."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No ban, no strikes, no history."""
        self.until_ms = 0
        self.strikes = 0
        self.count = 0

    def remaining(self, real_ms: int) -> int:
        """Milliseconds until the ban ends (0: not banned)."""
        return max(0, self.until_ms - real_ms)

    def start(self, seconds: float, real_ms: int) -> int:
        """Ban from now for ``seconds``; returns the end (epoch ms)."""
        self.until_ms = max(self.until_ms, real_ms + math.ceil(seconds * 1000))
        self.strikes = 0
        self.count += 1
        return self.until_ms

    def strike(self, after: int, seconds: float, real_ms: int) -> bool:
        """One more 429; True when it started a ban (``after`` strikes, 0: never ban).

        The n-th ban lasts ``seconds * 2**(n - 1)``.
        """
        if after <= 0:
            return False
        self.strikes += 1
        if self.strikes < after:
            return False
        self.start(seconds * 2**self.count, real_ms)
        return True


@dataclass
class _Level:
    level: float
    at_ms: int
    locked_until: int = 0


class CallCounter:
    """Kraken's public call counter (see the module docstring); ``rate=None`` disables it."""

    def __init__(self, rate: float | None = 1.0, burst: float = 15.0, lockout: float = 5.0) -> None:
        self.rate = rate
        self.burst = burst
        self.lockout = lockout
        self._keys: dict[str, _Level] = {}

    def charge(self, key: str, real_ms: int) -> bool:
        """Count one call for ``key``; False when it is refused."""
        if self.rate is None:
            return True
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Level(0.0, real_ms)
        state.level = max(0.0, state.level - (real_ms - state.at_ms) / 1000 * self.rate)
        state.at_ms = real_ms
        if real_ms < state.locked_until:
            return False
        if state.level + 1 > self.burst:
            state.locked_until = real_ms + int(self.lockout * 1000)
            return False
        state.level += 1
        return True

    def reset(self) -> None:
        """Forget every counter and lockout."""
        self._keys.clear()
