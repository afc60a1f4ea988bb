"""The retry policy: temporary errors only, bounded by attempts and time, Retry-After honoured."""

import asyncio
import time

import ccxt.async_support as ccxt
import pytest
import stamina

from ohlcv_workbench.errors import (
    PermanentExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
    UnknownSymbolError,
)
from ohlcv_workbench.exchange import NO_RETRY, RetryPolicy, describe_retry, translate


class Flaky:
    """Fails with the given errors in turn, then answers "ok"; counts its calls."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def recorder():
    events = []
    return events, lambda attempt, error, wait: events.append((attempt, type(error), wait))


async def test_temporary_errors_are_retried_until_success():
    events, on_retry = recorder()
    fn = Flaky(TemporaryExchangeError("a"), RateLimitedError("b", retry_after=2.0))
    policy = RetryPolicy(instant=True, wait_initial=0.5, wait_jitter=0)
    assert await policy.call(fn, on_retry=on_retry) == "ok"
    assert fn.calls == 3
    assert events == [(2, TemporaryExchangeError, 0.5), (3, RateLimitedError, 2.0)]


@pytest.mark.parametrize(
    "error", [PermanentExchangeError("p"), UnknownSymbolError("u"), ValueError("v")]
)
async def test_other_errors_are_never_retried(error):
    events, on_retry = recorder()
    fn = Flaky(error)
    with pytest.raises(type(error)):
        await RetryPolicy(instant=True).call(fn, on_retry=on_retry)
    assert fn.calls == 1 and events == []


async def test_bounded_by_attempts():
    events, on_retry = recorder()
    fn = Flaky(*[TemporaryExchangeError(str(i)) for i in range(20)])
    with pytest.raises(TemporaryExchangeError, match=r"^4$"):
        await RetryPolicy(attempts=5, instant=True).call(fn, on_retry=on_retry)
    assert fn.calls == 5 and [e[0] for e in events] == [2, 3, 4, 5]


async def test_bounded_by_time_budget_in_instant_mode():
    # waits of 1, 2, 4, 8 s count against a 10 s budget without being slept
    fn = Flaky(*[TemporaryExchangeError(str(i)) for i in range(20)])
    policy = RetryPolicy(timeout=10, wait_initial=1, wait_jitter=0, instant=True)
    started = time.monotonic()
    with pytest.raises(TemporaryExchangeError):
        await policy.call(fn)
    assert fn.calls == 4  # 1 + 2 + 4 = 7 s waited; the next 8 s would pass the budget
    assert time.monotonic() - started < 1


async def test_retry_after_longer_than_the_budget_is_raised_at_once():
    fn = Flaky(RateLimitedError("ban", retry_after=600))
    with pytest.raises(RateLimitedError) as caught:
        await RetryPolicy(timeout=120, instant=True).call(fn)
    assert fn.calls == 1 and caught.value.retry_after == 600


def test_backoff_grows_exponentially_with_bounded_jitter():
    policy = RetryPolicy(wait_initial=0.5, wait_max=30, wait_jitter=0)
    assert [policy.backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    jittery = RetryPolicy(wait_initial=0.5, wait_jitter=1.0)
    waits = [jittery.backoff(1) for _ in range(200)]
    assert all(0.5 <= w <= 1.5 for w in waits) and len(set(waits)) > 100
    rate_limited = RateLimitedError("x", retry_after=7)
    assert policy.wait_for(1, rate_limited) == 7.0
    assert policy.wait_for(3, RateLimitedError("x")) == 2.0


async def test_retry_after_is_really_waited():
    events, on_retry = recorder()
    fn = Flaky(RateLimitedError("slow down", retry_after=0.3))
    started = time.monotonic()
    assert await RetryPolicy(wait_jitter=0).call(fn, on_retry=on_retry) == "ok"
    assert time.monotonic() - started >= 0.3
    assert events == [(2, RateLimitedError, 0.3)]


async def test_stamina_testing_mode_is_honoured():
    fn = Flaky(RateLimitedError("slow down", retry_after=30), TemporaryExchangeError("x"))
    with stamina.set_testing(True, attempts=3):
        started = time.monotonic()
        assert await RetryPolicy().call(fn) == "ok"
    assert fn.calls == 3 and time.monotonic() - started < 1


async def test_no_retry_policy():
    fn = Flaky(TemporaryExchangeError("once"))
    with pytest.raises(TemporaryExchangeError):
        await NO_RETRY.call(fn)
    assert fn.calls == 1


async def test_cancellation_during_a_wait_propagates():
    fn = Flaky(*[TemporaryExchangeError("x") for _ in range(5)])
    task = asyncio.ensure_future(RetryPolicy(wait_initial=30, wait_jitter=0).call(fn))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fn.calls == 1


def test_describe_retry_for_heartbeats():
    try:
        raise ccxt.DDoSProtection("binance 429 Too Many Requests")
    except ccxt.DDoSProtection as exc:
        error = translate(exc, exchange="sim", call="fetch_candles")
        error.__cause__ = exc
    assert describe_retry(2, error, 1.0, 8) == "retrying: rate limited (attempt 2/8) in 1.0 s"


def test_policy_checks_its_bounds():
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="timeout"):
        RetryPolicy(timeout=-1)


async def test_stamina_does_not_log_a_warning_per_exchange_retry(caplog):
    failures = [TemporaryExchangeError("503"), TemporaryExchangeError("503")]

    async def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    caplog.set_level("DEBUG")
    assert await RetryPolicy(instant=True).call(flaky) == "ok"
    assert not [r for r in caplog.records if r.getMessage() == "stamina.retry_scheduled"]
