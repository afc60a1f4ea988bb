"""Validation rules, one reason per invalid row."""

import math

import numpy as np
import pytest

from ohlcv_workbench.errors import InvalidDataError
from ohlcv_workbench.records import CandleBatch, PublicTrade
from ohlcv_workbench.store.validation import candle_problems, check_candles, trade_problems
from ohlcv_workbench.timeframes import timeframe
from ohlcv_workbench.times import to_ms

T0 = to_ms("2026-01-01T00:00")
M1 = timeframe("1m")


def batch(rows):
    ts, o, h, lo, c, v = zip(*rows, strict=True)
    return CandleBatch.from_columns(ts, o, h, lo, c, v)


def test_valid_batch_has_no_problems():
    good = batch([(T0 + i * 60_000, 100.0, 101.0, 99.0, 100.5, 0.0) for i in range(5)])
    assert candle_problems(good, M1) == []
    check_candles(good, M1, "x")
    assert candle_problems(CandleBatch.empty(), M1) == []


def test_each_rule_gives_a_reason_naming_time_and_values():
    rows = [
        (T0, 100.0, 101.0, 99.0, 100.5, 1.0),  # fine
        (T0 + 60_000, 100.0, 99.5, 99.0, 100.1, 1.0),  # high < close
        (T0 + 120_000, 100.0, 101.0, 100.2, 100.5, 1.0),  # low > open
        (T0 + 180_000, 100.0, 101.0, 99.0, 100.5, -2.0),  # volume < 0
        (T0 + 240_000, math.nan, 101.0, 99.0, math.inf, 1.0),  # not finite
        (T0 + 300_500, 100.0, 101.0, 99.0, 100.5, 1.0),  # unaligned
        (T0 + 300_500, 100.0, 101.0, 99.0, 100.5, 1.0),  # duplicate (and unaligned)
        (T0 + 60_000, 100.0, 101.0, 99.0, 100.5, 1.0),  # out of order
    ]
    assert candle_problems(batch(rows), M1) == [
        "2026-01-01T00:01:00Z: high 99.5 < close 100.1",
        "2026-01-01T00:02:00Z: low 100.2 > open 100.0",
        "2026-01-01T00:03:00Z: volume -2.0 < 0",
        "2026-01-01T00:04:00Z: open nan is not finite; close inf is not finite",
        "2026-01-01T00:05:00.500Z: not aligned to 1m (that candle opens at 2026-01-01T00:05:00Z)",
        "2026-01-01T00:05:00.500Z: not aligned to 1m (that candle opens at 2026-01-01T00:05:00Z)"
        "; duplicate open time",
        "2026-01-01T00:01:00Z: out of order (after 2026-01-01T00:05:00.500Z)",
    ]


def test_check_raises_with_all_reasons():
    rows = [(T0 + i * 60_000, 100.0, 99.0, 98.0, 100.0, 1.0) for i in range(8)]
    with pytest.raises(InvalidDataError) as info:
        check_candles(batch(rows), M1, "binance BTC/USDT 1m")
    assert len(info.value.reasons) == 8
    assert str(info.value).startswith(
        "8 of 8 candles of binance BTC/USDT 1m rejected, nothing was written: "
        "2026-01-01T00:00:00Z: high 99.0 < open 100.0 | "
    )
    assert str(info.value).endswith(" ...")


def test_huge_finite_values_are_valid():
    big = 1.7e308
    assert candle_problems(batch([(T0, big, big, big, big, big)]), M1) == []


def test_trade_rules():
    trades = [
        PublicTrade("1", T0, 100.0, 0.5, "buy"),
        PublicTrade("1", T0, 100.0, 0.5, "buy"),
        PublicTrade("", T0, 0.0, -1.0, "BUY"),
        PublicTrade("3", np.int64(T0), math.nan, 1.0, "sell"),  # type: ignore[arg-type]
    ]
    assert trade_problems(trades) == [
        "2026-01-01T00:00:00Z trade '1': duplicate trade id '1'",
        "2026-01-01T00:00:00Z trade '': trade id '' is not a non-empty string; price 0.0 is not "
        "a finite positive number; amount -1.0 is not a finite number >= 0; side 'BUY' is not "
        "one of buy, sell",
        "2026-01-01T00:00:00Z trade '3': price nan is not a finite positive number",
    ]
