"""The collector panel, driven as a person would: set the fields, press Start."""

import html
import threading

from ohlcv_workbench.widgets import CollectorPanel

from .conftest import dom_classes, registry_keys

NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z


def fill(panel, **values):
    """Set the fields as a person would (the defaults first)."""
    defaults = {
        "exchange": "sim",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "since": "",
        "until": "",
        "mode": "live",
        "trades": False,
    }
    for name, value in {**defaults, **values}.items():
        getattr(panel, name).value = value
    panel.wait()


def test_the_panel_lists_the_markets_and_timeframes_of_the_exchange(wb):
    panel = CollectorPanel(wb)
    try:
        panel.wait()
        assert "BTC/USDT" in panel.symbol.options and "ETH/BTC" in panel.symbol.options
        assert "1s" in panel.timeframe.options and "1M" in panel.timeframe.options
        assert "markets on sim" in panel.messages["symbol"].value
        assert panel.errors == {}
        assert {
            "owb-panel",
            "owb-panel-exchange",
            "owb-panel-symbol",
            "owb-panel-timeframe",
            "owb-panel-since",
            "owb-panel-until",
            "owb-panel-mode",
            "owb-panel-trades",
            "owb-panel-start",
            "owb-panel-message-symbol",
            "owb-panel-message-start",
        } <= dom_classes(panel.widget)
        panel.trades.value = True
        assert panel.timeframe.disabled
        # an exchange that is not known is flagged as soon as it is typed
        panel.exchange.value = "binanse"
        panel.wait()
        assert "Did you mean 'binance'" in panel.errors["exchange"]
    finally:
        panel.close()


BAD_INPUT = [
    ({"exchange": "binanse"}, "exchange", "Unknown exchange 'binanse'. Did you mean 'binance'"),
    ({"symbol": "BTC/USDX"}, "symbol", "Unknown symbol 'BTC/USDX' on sim. Did you mean 'BTC/USDT'"),
    ({"symbol": "btcusdt"}, "symbol", "Did you mean 'BTC/USDT'"),
    ({"symbol": "  "}, "symbol", "Choose a symbol"),
    ({"since": "yesterday"}, "since", "since 'yesterday' is not a time"),
    ({"since": "2999-01-01"}, "since", "since 2999-01-01T00:00:00Z is in the future"),
    ({"until": "-1h"}, "until", "Leave until blank to backfill and then follow live"),
    ({"mode": "backfill", "since": "-1h", "until": "-2h"}, "until", "must be after since"),
    ({"mode": "backfill", "until": "soon"}, "until", "until 'soon' is not a time"),
]


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_registered(wb, raw):
    panel = CollectorPanel(wb)
    try:
        panel.wait()
        before = registry_keys(raw)
        for values, field, text in BAD_INPUT:
            fill(panel, **values)
            panel.start_button.click()
            panel.wait()
            assert field in panel.errors, (values, panel.errors)
            assert text in panel.errors[field], (values, panel.errors[field])
            assert html.escape(text) in panel.messages[field].value
            assert "Not started" in panel.messages["start"].value
            assert not panel.start_button.disabled
        assert wb.collectors() == []
        assert registry_keys(raw) - before == set()  # no record, no lease, no stop request
        assert panel.log.errors == []  # bad input is inline, not an error of the widget
    finally:
        panel.close()


def test_a_series_collected_already_is_refused_next_to_start(wb, raw):
    panel = CollectorPanel(wb)
    try:
        fill(panel, symbol="SOL/USDT", since="-5m")
        # the click of a callback thread other than the kernel's main one works the same
        clicker = threading.Thread(target=panel.start_button.click)
        clicker.start()
        clicker.join()
        panel.wait()
        (handle,) = wb.collectors()
        started = panel.last_started
        assert started == handle and panel.errors == {}  # the very handle (no __eq__)
        assert handle.process_id is not None
        assert f"Started {handle.component}" in panel.messages["start"].value
        assert raw.exists(f"process:data:{handle.process_id}")
        before = registry_keys(raw)

        assert panel.start() is None  # the same series again
        assert "SOL/USDT" in panel.errors["start"]
        assert handle.process_id in panel.errors["start"]  # names the holder
        assert len(wb.collectors()) == 1
        assert registry_keys(raw) - before == set()  # no second record or lease
        assert any("started ohlcv.sim.SOL/USDT" in e.text for e in panel.log.entries)
    finally:
        panel.close()
