"""The public surface is deliberate: adding or removing a name is a visible change."""

import ohlcv_workbench

EXPECTED = {
    "CandleBatch",
    "ConfigError",
    "ExchangeError",
    "InputError",
    "InvalidDataError",
    "InvalidTimeRangeError",
    "OhlcvRow",
    "PermanentExchangeError",
    "PublicTrade",
    "RateLimitedError",
    "RegistryError",
    "RegistryUnavailableError",
    "SeriesBusyError",
    "SeriesKey",
    "ServiceError",
    "Settings",
    "StoreError",
    "TemporaryExchangeError",
    "Timeframe",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedTimeframeError",
    "WorkbenchError",
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
