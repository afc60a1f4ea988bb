"""ccxt errors translated, once, into the workbench's tree; Retry-After captured per response.

::

    HTTP 418 (an IP ban)                                           -> BannedError
    ccxt.RateLimitExceeded, ccxt.DDoSProtection, HTTP 429          -> RateLimitedError
    any HTTP 5xx, whatever ccxt raised for its body                -> TemporaryExchangeError
    an exchange's "try again" code (Binance -1001, -1006-8)        -> TemporaryExchangeError
    ccxt.NetworkError (RequestTimeout, ExchangeNotAvailable, ...)  -> TemporaryExchangeError
    other ccxt.OperationFailed (BadResponse, ...)                  -> TemporaryExchangeError
    ccxt.ExchangeError (BadSymbol, BadRequest, Authentication...)  -> PermanentExchangeError
    a transport failure ccxt reports as a plain ExchangeError      -> TemporaryExchangeError

Binance answers a busy or disconnected backend with a 5xx and its JSON error (``-1008
SERVER_BUSY``, ``-1001 DISCONNECTED``); ccxt reads the code first and raises ExchangeError or
OperationFailed, not a NetworkError, so the status and the code decide here.

ccxt does not put response headers into its exceptions, and ``last_response_headers`` of a
shared instance is overwritten by concurrent requests. :class:`ResponseInfoMixin` is mixed into
the ccxt class we instantiate; its ``handle_errors`` (called by ccxt with the headers of *this*
response) attaches the HTTP status, the parsed Retry-After and whether the body's error code
is a temporary one to the exception it raises.
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
    BannedError,
    ExchangeError,
    PermanentExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)

__all__ = [
    "TEMPORARY_CODES",
    "MalformedResponseError",
    "ResponseInfoMixin",
    "http_status_of",
    "retry_after_of",
    "retry_reason",
    "temporary_code_of",
    "translate",
]

_STATUS_ATTR = "ohlcv_workbench_http_status"
_RETRY_AFTER_ATTR = "ohlcv_workbench_retry_after"
_TEMPORARY_CODE_ATTR = "ohlcv_workbench_temporary_code"
_RATE_LIMIT_STATUSES = (418, 429)
_BAN_STATUS = 418
#: error codes that mean "try again", by exchange family (Binance: DISCONNECTED,
#: UNEXPECTED_RESP, TIMEOUT, SERVER_BUSY)
TEMPORARY_CODES = {"binance": frozenset({"-1001", "-1006", "-1007", "-1008"})}


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
            family = "binance" if isinstance(self, ccxt.binance) else str(getattr(self, "id", ""))
            body_code = response.get("code") if isinstance(response, dict) else None
            temporary = str(body_code) in TEMPORARY_CODES.get(family, frozenset())
            setattr(exc, _TEMPORARY_CODE_ATTR, str(body_code) if temporary else None)
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


def temporary_code_of(exc: BaseException) -> str | None:
    """The exchange's "try again" error code in the body that raised ``exc`` (if any)."""
    code = getattr(exc, _TEMPORARY_CODE_ATTR, None)
    return code if isinstance(code, str) else None


def _is_transport_failure(exc: BaseException) -> bool:
    """ccxt turns some aiohttp failures (e.g. a payload cut short) into a plain ExchangeError."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientError | OSError | asyncio.TimeoutError)


def _is_rate_limit(exc: ccxt.BaseError) -> bool:
    status = http_status_of(exc)
    return isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or (
        status in _RATE_LIMIT_STATUSES
    )


def _kind(exc: ccxt.BaseError) -> str:
    status = http_status_of(exc)
    if _is_rate_limit(exc):
        return "rate limited" if status != _BAN_STATUS else "banned (HTTP 418)"
    code = temporary_code_of(exc)
    if code is not None:
        return f"server busy or disconnected ({code})"
    if status is not None and status >= 500:
        return "exchange not available"
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
    head = f"{where}: {kind}" + (f" (HTTP {status})" if status and status != _BAN_STATUS else "")
    if _is_rate_limit(exc):
        retry_after = retry_after_of(exc)
        wait = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
        error = BannedError if status == _BAN_STATUS else RateLimitedError
        return error(f"{head}{wait}: {detail}", retry_after=retry_after)
    temporary = temporary_code_of(exc) is not None or (status is not None and status >= 500)
    if temporary or isinstance(exc, ccxt.OperationFailed) or _is_transport_failure(exc):
        return TemporaryExchangeError(f"{head}: {detail}")
    return PermanentExchangeError(f"{head}: {detail}")


def retry_reason(error: BaseException) -> str:
    """A short label for a heartbeat: "rate limited", "request timed out", ..."""
    cause = error.__cause__
    if isinstance(cause, ccxt.BaseError):
        return _kind(cause)
    if isinstance(error, BannedError):
        return "banned"
    if isinstance(error, RateLimitedError):
        return "rate limited"
    return "temporary error" if isinstance(error, TemporaryExchangeError) else "error"
