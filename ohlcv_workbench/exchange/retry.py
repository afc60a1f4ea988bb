"""Retrying temporary exchange errors with stamina: bounded, backed off, honouring Retry-After.

Only :class:`~ohlcv_workbench.errors.TemporaryExchangeError` is retried; a permanent error (or
anything else) goes straight through. stamina drives the attempts, the total-time bound and the
sleeping; the policy's backoff hook picks each wait: the server's Retry-After when it sent one,
else ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``
(stamina's own formula). A Retry-After longer than what is left of the time budget is not
waited for: the error is raised at once, carrying ``retry_after`` for the caller. A ban
(:class:`~ohlcv_workbench.errors.BannedError`) is not retried here either: the exchange client
pauses every request until it ends and then starts the call afresh (``max_pause`` bounds the
waiting), so a ban never uses up a request's attempts.

``RetryPolicy(instant=True)`` (or stamina's global ``stamina.set_testing(True)``) takes the
same decisions without sleeping, so tests of fault storms run in milliseconds; the waits it
reports are those it would have slept, and they count against the time budget.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina

from ohlcv_workbench.errors import BannedError, RateLimitedError, TemporaryExchangeError

from .translate import retry_reason

__all__ = ["NO_RETRY", "OnRetry", "RetryPolicy", "describe_retry"]

T = TypeVar("T")


class _OwnRetries(logging.Filter):
    """Drops stamina's WARNING per retry of an exchange call: the collectors report their
    retries in their heartbeat (and log them at INFO), so stderr is not flooded in a storm.
    Other uses of stamina keep their log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        caused_by = str(getattr(record, "stamina.caused_by", ""))
        return not (
            record.msg == "stamina.retry_scheduled" and caused_by.startswith(_TEMPORARY_NAMES)
        )


_TEMPORARY_NAMES = tuple(f"{cls.__name__}(" for cls in (TemporaryExchangeError, RateLimitedError))
logging.getLogger("stamina").addFilter(_OwnRetries())

#: ``on_retry(attempt, error, wait)``: ``attempt`` is the number of the attempt about to be
#: made (2 after the first failure), ``wait`` the seconds waited before it.
OnRetry = Callable[[int, TemporaryExchangeError, float], None]


def describe_retry(attempt: int, error: BaseException, wait: float, attempts: int) -> str:
    """Heartbeat text, e.g. ``"retrying: rate limited (attempt 2/8) in 1.0 s"``."""
    return f"retrying: {retry_reason(error)} (attempt {attempt}/{attempts}) in {wait:.1f} s"


@dataclass(frozen=True)
class RetryPolicy:
    """How temporary exchange errors are retried.

    ``attempts`` counts every try (the first included); ``timeout`` bounds the total seconds
    from the first try (waits included); waits grow from ``wait_initial`` by ``wait_exp_base``
    up to ``wait_max``, plus up to ``wait_jitter`` seconds of random jitter; ``instant`` takes
    every decision without sleeping (tests); ``max_pause`` bounds the seconds one call waits
    out bans (Binance bans last from 2 minutes to 3 days).
    """

    attempts: int = 8
    timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    wait_exp_base: float = 2.0
    instant: bool = False
    max_pause: float = 3 * 86400.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts={self.attempts}: expected at least 1")
        for name in ("timeout", "wait_initial", "wait_max", "wait_jitter", "max_pause"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must not be negative")
        if self.wait_exp_base < 1:
            raise ValueError("RetryPolicy.wait_exp_base must be at least 1")

    def backoff(self, failures: int) -> float:
        """Exponential wait (with jitter) after the ``failures``-th failure."""
        jitter = random.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        try:
            wait = self.wait_initial * self.wait_exp_base ** (failures - 1) + jitter
        except OverflowError:
            return self.wait_max
        return min(self.wait_max, wait)

    def wait_for(self, failures: int, error: BaseException) -> float:
        """The wait after the ``failures``-th failure: Retry-After when given, else backoff."""
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return float(error.retry_after)
        return self.backoff(failures)

    async def call(self, fn: Callable[[], Awaitable[T]], *, on_retry: OnRetry | None = None) -> T:
        """Await ``fn()``, retrying it on temporary exchange errors within the bounds."""
        failures = 0
        started = time.monotonic()
        slept_virtually = 0.0

        def on_error(exc: Exception) -> bool | float:
            nonlocal failures, slept_virtually
            if not isinstance(exc, TemporaryExchangeError) or isinstance(exc, BannedError):
                return False
            failures += 1
            wait = self.wait_for(failures, exc)
            elapsed = time.monotonic() - started + slept_virtually
            if failures >= self.attempts or elapsed + wait > self.timeout:
                return False
            if on_retry is not None:
                on_retry(failures + 1, exc, wait)
            if self.instant:
                slept_virtually += wait
                return 0.0
            return wait

        async for attempt in stamina.retry_context(
            on=on_error,
            attempts=self.attempts,
            timeout=None if self.instant else self.timeout,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
            wait_exp_base=self.wait_exp_base,
        ):
            with attempt:
                return await fn()
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


#: a policy that never retries (one attempt)
NO_RETRY = RetryPolicy(attempts=1)
