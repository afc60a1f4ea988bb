"""ccxt errors translated, once, into the workbench's tree; Retry-After captured per response.

::

    ccxt.NetworkError (RequestTimeout, ExchangeNotAvailable, ...)  -> TemporaryExchangeError
    ccxt.RateLimitExceeded, ccxt.DDoSProtection (429, 418)        -> RateLimitedError
    other ccxt.OperationFailed (BadResponse, ...)                  -> TemporaryExchangeError
    ccxt.ExchangeError (BadSymbol, BadRequest, Authentication...)  -> PermanentExchangeError
    a transport failure ccxt reports as a plain ExchangeError      -> TemporaryExchangeError

ccxt does not put response headers into its exceptions, and ``last_response_headers`` of a
shared instance is overwritten by concurrent requests. :class:`ResponseInfoMixin` is mixed into
the ccxt class we instantiate; its ``handle_errors`` (called by ccxt with the headers of *this*
response) attaches the HTTP status and the parsed Retry-After to the exception it raises.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from typing import Any

import aiohttp
import ccxt.async_support as ccxt

from ohlcv_workbench.errors import (
    ExchangeError,
    PermanentExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)

__all__ = [
    "MalformedResponseError",
    "ResponseInfoMixin",
    "http_status_of",
    "retry_after_of",
    "retry_reason",
    "translate",
]

_STATUS_ATTR = "ohlcv_workbench_http_status"
_RETRY_AFTER_ATTR = "ohlcv_workbench_retry_after"
_RATE_LIMIT_STATUSES = (418, 429)


class MalformedResponseError(PermanentExchangeError):
    """The exchange answered with rows that are not valid candles or trades (never retried)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered:
            return str(value)
    return None


class ResponseInfoMixin:
    """Mixed into a ccxt exchange class: errors carry their HTTP status and Retry-After.

    ccxt calls ``handle_errors`` with the headers of the response being handled, then
    ``handle_http_status_code`` without them; this override runs both, so whichever raises,
    the exception leaves with ``http_status_of(exc)`` and ``retry_after_of(exc)`` set.
    """

    def handle_errors(
        self,
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: Any,
        body: str,
        response: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        """ccxt's error handling for one response, annotating what it raises."""
        try:
            result = super().handle_errors(  # type: ignore[misc]
                code, reason, url, method, headers, body, response, request_headers, request_body
            )
            if isinstance(code, int) and code >= 400:
                self.handle_http_status_code(code, reason, url, method, body)  # type: ignore[attr-defined]
        except ccxt.BaseError as exc:
            setattr(exc, _STATUS_ATTR, code)
            retry_after = parse_retry_after(_header(headers, "Retry-After"))
            setattr(exc, _RETRY_AFTER_ATTR, retry_after)
            raise
        return result


def http_status_of(exc: BaseException) -> int | None:
    """The HTTP status of the response that raised ``exc`` (when known)."""
    status = getattr(exc, _STATUS_ATTR, None)
    return status if isinstance(status, int) else None


def retry_after_of(exc: BaseException) -> float | None:
    """Retry-After (seconds) of the response that raised ``exc`` (when it said so)."""
    value = getattr(exc, _RETRY_AFTER_ATTR, None)
    return float(value) if isinstance(value, int | float) else None


def _is_transport_failure(exc: BaseException) -> bool:
    """ccxt turns some aiohttp failures (e.g. a payload cut short) into a plain ExchangeError."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientError | OSError | asyncio.TimeoutError)


def _kind(exc: ccxt.BaseError) -> str:
    status = http_status_of(exc)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or (
        status in _RATE_LIMIT_STATUSES
    ):
        return "rate limited" if status != 418 else "banned for a while (HTTP 418)"
    if isinstance(exc, ccxt.RequestTimeout):
        return "request timed out"
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return "exchange not available"
    if isinstance(exc, ccxt.NetworkError) or _is_transport_failure(exc):
        return "network error"
    if isinstance(exc, ccxt.OperationFailed):
        return "bad response"
    if isinstance(exc, ccxt.BadSymbol):
        return "bad symbol"
    if isinstance(exc, ccxt.BadRequest):
        return "bad request"
    if isinstance(exc, ccxt.AuthenticationError):
        return "not authorised"
    return "exchange error"


def translate(
    exc: ccxt.BaseError, *, exchange: str, call: str, symbol: str | None = None
) -> ExchangeError:
    """The workbench error for a ccxt error; the message names exchange, call and symbol.

    The ccxt original is attached as ``__cause__`` (raise it ``from exc`` all the same).
    """
    translated = _translate(exc, exchange=exchange, call=call, symbol=symbol)
    translated.__cause__ = exc
    return translated


def _translate(
    exc: ccxt.BaseError, *, exchange: str, call: str, symbol: str | None
) -> ExchangeError:
    where = f"{exchange} {call}" + (f" {symbol}" if symbol else "")
    kind = _kind(exc)
    status = http_status_of(exc)
    detail = str(exc).strip() or type(exc).__name__
    if len(detail) > 300:
        detail = detail[:300] + "..."
    head = f"{where}: {kind}" + (f" (HTTP {status})" if status else "")
    is_rate_limit = isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or (
        status in _RATE_LIMIT_STATUSES
    )
    if is_rate_limit:
        retry_after = retry_after_of(exc)
        wait = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
        return RateLimitedError(f"{head}{wait}: {detail}", retry_after=retry_after)
    if isinstance(exc, ccxt.OperationFailed) or _is_transport_failure(exc):
        return TemporaryExchangeError(f"{head}: {detail}")
    return PermanentExchangeError(f"{head}: {detail}")


def retry_reason(error: BaseException) -> str:
    """A short label for a heartbeat: "rate limited", "request timed out", ..."""
    cause = error.__cause__
    if isinstance(cause, ccxt.BaseError):
        return _kind(cause)
    if isinstance(error, RateLimitedError):
        return "rate limited"
    return "temporary error" if isinstance(error, TemporaryExchangeError) else "error"
