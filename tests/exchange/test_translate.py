"""ccxt errors map onto the workbench's tree once; Retry-After travels with its own response."""

import email.utils

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohlcv_workbench.errors import (
    BannedError,
    PermanentExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)
from ohlcv_workbench.exchange import MalformedResponseError, create_ccxt, retry_reason, translate
from ohlcv_workbench.exchange.translate import http_status_of, parse_retry_after, retry_after_of


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ccxt.NetworkError, TemporaryExchangeError),
        (ccxt.RequestTimeout, TemporaryExchangeError),
        (ccxt.ExchangeNotAvailable, TemporaryExchangeError),
        (ccxt.OnMaintenance, TemporaryExchangeError),
        (ccxt.BadResponse, TemporaryExchangeError),
        (ccxt.RateLimitExceeded, RateLimitedError),
        (ccxt.DDoSProtection, RateLimitedError),
        (ccxt.BadSymbol, PermanentExchangeError),
        (ccxt.BadRequest, PermanentExchangeError),
        (ccxt.AuthenticationError, PermanentExchangeError),
        (ccxt.PermissionDenied, PermanentExchangeError),
        (ccxt.NotSupported, PermanentExchangeError),
        (ccxt.ExchangeError, PermanentExchangeError),
    ],
)
def test_mapping(error, expected):
    translated = translate(
        error("binance boom"), exchange="sim", call="fetch_candles", symbol="X/Y"
    )
    assert type(translated) is expected
    assert str(translated).startswith("sim fetch_candles X/Y: ")
    assert "binance boom" in str(translated)
    assert not isinstance(translated, PermanentExchangeError) or not isinstance(
        translated, TemporaryExchangeError
    )


def test_transport_failure_reported_as_exchange_error_is_temporary():
    try:
        try:
            raise aiohttp.ClientPayloadError("payload cut short")
        except aiohttp.ClientError as cause:
            raise ccxt.ExchangeError("binance GET /klines") from cause
    except ccxt.ExchangeError as exc:
        translated = translate(exc, exchange="binance", call="fetch_candles")
    assert type(translated) is TemporaryExchangeError and "network error" in str(translated)


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == 30.0


def api():
    return create_ccxt("sim", url="http://127.0.0.1:9")


def handle(ex, status, headers, body, reason="Too Many Requests"):
    url = "http://127.0.0.1:9/api/v3/klines"
    ex.handle_errors(status, reason, url, "GET", headers, body, ex.parse_json(body), {}, None)


@pytest.mark.parametrize(("status", "header"), [(429, "Retry-After"), (418, "retry-after")])
def test_rate_limit_carries_retry_after_of_its_response(status, header):
    ex = api()
    with pytest.raises(ccxt.DDoSProtection) as caught:
        handle(ex, status, {header: "120"}, '{"code":-1003,"msg":"Too many requests"}')
    assert http_status_of(caught.value) == status and retry_after_of(caught.value) == 120.0
    translated = translate(caught.value, exchange="binance", call="fetch_candles", symbol="B/U")
    assert isinstance(translated, RateLimitedError) and translated.retry_after == 120.0
    assert f"HTTP {status}" in str(translated) and "Retry-After 120 s" in str(translated)


def test_status_only_errors_are_annotated_too():
    ex = api()
    with pytest.raises(ccxt.ExchangeNotAvailable) as caught:
        handle(ex, 503, {}, "<html>Service Unavailable</html>", "Service Unavailable")
    assert http_status_of(caught.value) == 503 and retry_after_of(caught.value) is None
    assert retry_reason(translate(caught.value, exchange="sim", call="c")) == (
        "exchange not available"
    )
    with pytest.raises(ccxt.BadSymbol) as bad:
        handle(ex, 400, {}, '{"code":-1121,"msg":"Invalid symbol."}', "Bad Request")
    assert http_status_of(bad.value) == 400
    handle(ex, 200, {}, "[]", "OK")  # a good answer passes


def test_a_429_without_retry_after():
    with pytest.raises(ccxt.DDoSProtection) as caught:
        handle(api(), 429, {}, "")
    translated = translate(caught.value, exchange="sim", call="c")
    assert isinstance(translated, RateLimitedError) and translated.retry_after is None


def test_malformed_response_is_permanent():
    assert issubclass(MalformedResponseError, PermanentExchangeError)


@pytest.mark.parametrize(
    ("status", "body", "ccxt_error", "kind"),
    [
        # Binance's JSON bodies on 5xx: ccxt reads the code and raises no NetworkError
        (503, '{"code":-1008,"msg":"Server is currently overloaded"}', ccxt.ExchangeError,
         "server busy or disconnected (-1008)"),
        (500, '{"code":-1001,"msg":"Internal error"}', ccxt.OperationFailed,
         "server busy or disconnected (-1001)"),
        # any 5xx is temporary, whatever ccxt made of its body
        (502, '{"code":-1121,"msg":"Invalid symbol."}', ccxt.BadSymbol, "exchange not available"),
        # a "try again" code is temporary even on a 4xx
        (400, '{"code":-1008,"msg":"Server is currently overloaded"}', ccxt.ExchangeError,
         "server busy or disconnected (-1008)"),
    ],
)  # fmt: skip
def test_5xx_and_busy_codes_are_temporary(status, body, ccxt_error, kind):
    with pytest.raises(ccxt_error) as caught:
        handle(api(), status, {}, body, "Error")
    translated = translate(caught.value, exchange="sim", call="fetch_candles", symbol="B/U")
    assert type(translated) is TemporaryExchangeError
    assert retry_reason(translated) == kind and kind in str(translated)


def test_418_is_a_ban_with_its_retry_after():
    with pytest.raises(ccxt.DDoSProtection) as caught:
        handle(api(), 418, {"Retry-After": "90"}, '{"code":-1003,"msg":"IP banned until 1"}')
    translated = translate(caught.value, exchange="sim", call="fetch_candles")
    assert type(translated) is BannedError and translated.retry_after == 90.0
    assert isinstance(translated, RateLimitedError) and retry_reason(translated) == (
        "banned (HTTP 418)"
    )
    assert "banned (HTTP 418), Retry-After 90 s" in str(translated)


def kraken_handle(status, body):
    ex = create_ccxt("sim_kraken", url="http://127.0.0.1:9")
    url = "http://127.0.0.1:9/0/public/OHLC"
    ex.handle_errors(status, "", url, "GET", {}, body, ex.parse_json(body), {}, None)


@pytest.mark.parametrize(
    ("status", "error", "ccxt_error", "expected"),
    [
        (503, "EService:Unavailable", ccxt.ExchangeNotAvailable, TemporaryExchangeError),
        (200, "EService:Busy", ccxt.ExchangeNotAvailable, TemporaryExchangeError),
        (429, "EGeneral:Too many requests", ccxt.DDoSProtection, RateLimitedError),
        (200, "EGeneral:Invalid arguments", ccxt.BadRequest, PermanentExchangeError),
        (200, "EQuery:Unknown asset pair", ccxt.ExchangeError, PermanentExchangeError),
    ],
)
def test_kraken_error_lists(status, error, ccxt_error, expected):
    with pytest.raises(ccxt_error) as caught:
        kraken_handle(status, f'{{"error":["{error}"],"result":{{}}}}')
    translated = translate(caught.value, exchange="sim_kraken", call="fetch_candles")
    assert type(translated) is expected and error in str(translated)
