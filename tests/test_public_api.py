"""The public surface is deliberate: adding or removing a name is a visible change."""

import ohlcv_workbench

#: the analyst's tier: what a notebook uses
EXPECTED = {
    "BannedError",
    "Candle",
    "CandleBatch",
    "CandleChart",
    "CandleRepository",
    "CandleStore",
    "CollectorHandle",
    "CollectorPanel",
    "ConfigError",
    "Dashboard",
    "ExchangeError",
    "HeartbeatMonitor",
    "InactiveSymbolError",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "OhlcvRow",
    "PermanentExchangeError",
    "Phase",
    "ProcessCache",
    "ProcessStatus",
    "ProcessType",
    "PublicTrade",
    "QualityReport",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "RetryPolicy",
    "SeriesBusyError",
    "SeriesKey",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "TemporaryStoreError",
    "Timeframe",
    "TimeseriesRepository",
    "Trade",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "Workbench",
    "WorkbenchError",
    "iso",
    "open_exchange",
    "open_store",
    "timeframe",
    "to_ms",
}

#: the second tier: each subpackage's own surface
SUBPACKAGES = {
    "registry": {
        "PROCESS_TTL", "Heartbeat", "LeaseHolder", "ProcessCache", "ProcessInfo", "ProcessStatus",
        "ProcessType", "SeriesLease", "list_processes", "processes_frame", "request_stop",
    },
    "collectors": {
        "TRADES_TIMEFRAME", "CollectionSetup", "Collector", "CollectorContext", "CollectorKind",
        "CollectorManager", "CollectorSpec", "CollectorState", "Mode", "OhlcvCollector", "Phase",
        "Progress", "TradeCollector", "collector_for",
    },
}  # fmt: skip


def test_all_is_pinned():
    assert set(ohlcv_workbench.__all__) == EXPECTED
    assert sorted(ohlcv_workbench.__all__) == ohlcv_workbench.__all__


def test_subpackage_surfaces_are_pinned():
    import importlib

    for name, expected in SUBPACKAGES.items():
        module = importlib.import_module(f"ohlcv_workbench.{name}")
        assert set(module.__all__) == expected, name
        for public in module.__all__:
            assert getattr(module, public) is not None


def test_fullons_import_path_still_works():
    from ohlcv_workbench.process_cache import ProcessCache, ProcessStatus, ProcessType
    from ohlcv_workbench.registry import ProcessCache as Home

    assert ProcessCache is Home
    assert ProcessStatus("running") is ProcessStatus.RUNNING
    assert ProcessType("ohlcv") is ProcessType.OHLCV


def test_every_public_name_resolves_and_is_documented():
    for name in ohlcv_workbench.__all__:
        obj = getattr(ohlcv_workbench, name)
        assert obj.__doc__, f"{name} has no docstring"


def test_error_tree():
    from ohlcv_workbench import errors

    assert issubclass(errors.TemporaryExchangeError, errors.ExchangeError)
    assert issubclass(errors.RateLimitedError, errors.TemporaryExchangeError)
    assert issubclass(errors.TemporaryStoreError, errors.StoreError)
    assert issubclass(errors.PermanentExchangeError, errors.ExchangeError)
    assert issubclass(errors.UnknownSymbolError, errors.InputError)
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.SeriesBusyError, errors.RegistryError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.WorkbenchError)
        assert name in errors.__doc__, f"{name} is missing from the drawn tree"
