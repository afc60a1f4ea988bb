"""Trades: upsert by trade id (idempotent, updates logged), edges, loading, candles from trades."""

import logging

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.errors import InvalidDataError
from ohlcv_workbench.records import PublicTrade
from ohlcv_workbench.store import UpsertResult
from ohlcv_workbench.times import iso, to_ms

from .test_load import AGG, assert_contract

T0 = to_ms("2026-05-04T00:00")
MIN = 60_000
EX, SYM = "binance", "ETH/USDT"


def some_trades(n: int, *, seed: int = 2, first_id: int = 1000) -> list[PublicTrade]:
    """``n`` trades over about 15 minutes: several per millisecond at times, ids ascending."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(T0, T0 + 15 * MIN, n))
    if n > 14:
        ts[10:14] = ts[10]  # four trades in one millisecond
    price = np.round(2500 + np.cumsum(rng.normal(0, 0.5, n)), 2)
    amount = np.round(rng.random(n) * 3, 4)
    side = rng.choice(["buy", "sell"], n)
    return [
        PublicTrade(str(first_id + i), int(t), float(p), float(a), str(s))
        for i, (t, p, a, s) in enumerate(zip(ts, price, amount, side, strict=True))
    ]


def test_upsert_by_trade_id_is_idempotent(store):
    trades = some_trades(500)
    assert store.trades_store(EX, SYM, trades) == UpsertResult(inserted=500)
    assert store.trades_store(EX, SYM, trades) == UpsertResult(unchanged=500)
    more = some_trades(50, seed=9, first_id=1500)
    overlapping = trades[450:] + more
    assert store.trades_store(EX, SYM, overlapping) == UpsertResult(inserted=50, unchanged=50)
    assert store.trades_count(EX, SYM) == 550
    assert store.trades_count(EX, "BTC/USDT") == 0 and store.trades_count("kraken", SYM) == 0
    assert store.trades_store(EX, SYM, []) == UpsertResult()


def test_changed_trade_is_an_update_and_is_logged(store, caplog):
    trades = some_trades(20)
    store.trades_store(EX, SYM, trades)
    old = trades[7]
    fixed = PublicTrade(old.trade_id, old.ts, old.price + 1.0, old.amount, old.side)
    with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.store"):
        result = store.trades_store(EX, SYM, [trades[6], fixed])
    assert result == UpsertResult(updated=1, unchanged=1)
    [record] = caplog.records
    assert f"trade {old.trade_id} changed" in record.getMessage()
    assert f"price {old.price!r} -> {old.price + 1.0!r}" in record.getMessage()
    loaded = store.trades_load(EX, SYM)
    assert loaded["price"].iloc[7] == old.price + 1.0 and len(loaded) == 20


def test_invalid_trades_reject_the_batch_with_reasons(store):
    good = some_trades(5)
    bad = PublicTrade("x1", T0, -1.0, 1.0, "buy")
    with pytest.raises(InvalidDataError) as info:
        store.trades_store(EX, SYM, [*good, bad, good[0]])
    assert info.value.reasons == [
        "2026-05-04T00:00:00Z trade 'x1': price -1.0 is not a finite positive number",
        f"{iso(good[0].ts)} trade '1000': duplicate trade id '1000'",
    ]
    assert store.trades_count(EX, SYM) == 0


def test_edges_and_load_order_ids_as_numbers(store):
    same_ms = [
        PublicTrade("10", T0 + 5, 101.0, 1.0, "buy"),
        PublicTrade("9", T0 + 5, 100.0, 2.0, "sell"),
        PublicTrade("100", T0 + 5, 102.0, 0.5, "buy"),
        PublicTrade("8", T0 + 1, 99.0, 0.1, "sell"),
    ]
    assert store.trades_first(EX, SYM) is None and store.trades_last(EX, SYM) is None
    store.trades_store(EX, SYM, same_ms)
    assert store.trades_first(EX, SYM) == same_ms[3]
    assert store.trades_last(EX, SYM) == same_ms[2]  # "100" > "10" > "9" as numbers
    frame = store.trades_load(EX, SYM)
    assert frame["trade_id"].tolist() == ["8", "9", "10", "100"]
    assert list(frame.columns) == ["trade_id", "price", "amount", "side"]
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"
    assert frame["price"].dtype == np.float64 and frame["amount"].dtype == np.float64
    candle = store.trades_to_ohlcv(EX, SYM, "1m")
    assert candle.iloc[0].tolist() == [99.0, 102.0, 99.0, 102.0, 3.6]
    assert len(store.trades_load(EX, SYM, T0 + 2, T0 + 5)) == 0  # half-open


@pytest.mark.parametrize("tf", ["1m", "5m", "1h"])
def test_candles_from_trades_equal_a_pandas_reference(store, tf):
    trades = some_trades(3000)
    store.trades_store(EX, SYM, trades)
    frame = pd.DataFrame(
        {"price": [t.price for t in trades], "amount": [t.amount for t in trades]},
        index=pd.to_datetime([t.ts for t in trades], unit="ms", utc=True),
    )
    rule = {"1m": "1min", "5m": "5min", "1h": "1h"}[tf]
    grouped = frame.resample(rule, closed="left", label="left")
    reference = pd.DataFrame(
        {
            "open": grouped["price"].first(),
            "high": grouped["price"].max(),
            "low": grouped["price"].min(),
            "close": grouped["price"].last(),
            "volume": grouped["amount"].sum(),
        }
    )
    reference = reference[grouped["price"].count() > 0].rename_axis("time")
    got = store.trades_to_ohlcv(EX, SYM, tf)
    assert_contract(got)
    pd.testing.assert_frame_equal(got, reference, check_freq=False, rtol=1e-12)
    assert set(AGG) == set(got.columns)


def test_candles_from_trades_of_a_range_and_of_nothing(store):
    store.trades_store(EX, SYM, some_trades(800))
    whole = store.trades_to_ohlcv(EX, SYM, "1m")
    part = store.trades_to_ohlcv(EX, SYM, "1m", T0 + 3 * MIN, T0 + 6 * MIN)
    pd.testing.assert_frame_equal(part, whole.iloc[3:6])
    empty = store.trades_to_ohlcv(EX, "NONE/USDT", "1h")
    assert len(empty) == 0
    assert_contract(empty)
