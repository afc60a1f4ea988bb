"""The public surface is deliberate: adding or removing a name is a visible change."""

import ohlcv_workbench

EXPECTED = {
    "Candle",
    "CandleBatch",
    "CandleChart",
    "CandleRepository",
    "CandleStore",
    "CollectorHandle",
    "CollectorPanel",
    "CollectorSpec",
    "ConfigError",
    "Dashboard",
    "ExchangeError",
    "Heartbeat",
    "HeartbeatMonitor",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "LeaseHolder",
    "OhlcvCollector",
    "OhlcvRow",
    "PermanentExchangeError",
    "Phase",
    "ProcessCache",
    "ProcessInfo",
    "ProcessStatus",
    "ProcessType",
    "Progress",
    "PublicTrade",
    "QualityReport",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "RetryPolicy",
    "SeriesBusyError",
    "SeriesKey",
    "SeriesLease",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "Timeframe",
    "TimeseriesRepository",
    "Trade",
    "TradeCollector",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "Workbench",
    "WorkbenchError",
    "list_processes",
    "open_exchange",
    "open_store",
    "processes_frame",
    "request_stop",
    "timeframe",
}


def test_all_is_pinned():
    assert set(ohlcv_workbench.__all__) == EXPECTED
    assert sorted(ohlcv_workbench.__all__) == ohlcv_workbench.__all__


def test_every_public_name_resolves_and_is_documented():
    for name in ohlcv_workbench.__all__:
        obj = getattr(ohlcv_workbench, name)
        assert obj.__doc__, f"{name} has no docstring"


def test_error_tree():
    from ohlcv_workbench import errors

    assert issubclass(errors.TemporaryExchangeError, errors.ExchangeError)
    assert issubclass(errors.RateLimitedError, errors.TemporaryExchangeError)
    assert issubclass(errors.PermanentExchangeError, errors.ExchangeError)
    assert issubclass(errors.UnknownSymbolError, errors.InputError)
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.SeriesBusyError, errors.RegistryError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.WorkbenchError)
        assert name in errors.__doc__, f"{name} is missing from the drawn tree"
