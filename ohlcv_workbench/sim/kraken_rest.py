"""The Kraken dialect: the public REST endpoints ccxt's ``kraken`` calls, under ``/0/public/``.

Checked against Kraken's REST documentation and ccxt's ``kraken.py``:

- Every answer is ``{"error": [...], "result": ...}``; an error is a list of strings such as
  ``EQuery:Unknown asset pair`` or ``EGeneral:Invalid arguments`` (HTTP 200).
- ``Time``: ``unixtime`` (whole seconds) and ``rfc1123``. ``SystemStatus``. ``Assets`` and
  ``AssetPairs`` with Kraken's codes (``XXBT``/``XBT``, ``ZUSD``, pair ids such as
  ``XETHXXBT`` or ``XBTUSDT``, see :mod:`.kraken_markets`).
- ``OHLC`` (``pair``, ``interval`` in minutes: 1, 5, 15, 30, 60, 240, 1440, 10080; ``since``
  in seconds, exclusive): only the 720 most recent candles of any interval exist, the forming
  one always last, whatever ``since`` asks for; ``last`` is the last closed candle's time.
  Intervals without a trade (a maintenance range, a hole in a replayed file) are flat
  candles at the previous close with no volume, as Kraken shows them. Kraken's 21600 (15
  days, which ccxt calls "2w") is not served.
- ``Trades`` (``pair``, ``since``: seconds, or the nanosecond cursor of a former answer's
  ``last``, exclusive; ``count`` up to 1000): the trades after ``since``, or the newest ones;
  each with its trade id; ``last`` is the cursor of the page's last trade.
- Rate limit: a call counter per IP (per IP and pair for ``OHLC`` and ``Trades``), see
  :class:`~.limits.CallCounter`; over it, HTTP 429 with ``EGeneral:Too many requests``.
  Injected 5xx answer ``EService:Unavailable`` (503) or ``EService:Busy``, or an HTML page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from aiohttp import web

from ohlcv_workbench.timeframes import Timeframe, timeframe

from .bars import I64
from .dialect import DialectError, RestDialect, SimState
from .faults import Faults
from .intraminute import Trades
from .kraken_fmt import decimals_of, trade_ns, trade_rows
from .kraken_markets import asset_code, asset_entry, pair_entry, pair_of
from .limits import CallCounter
from .pages import missing_rows, page_opens
from .series import Series, collect

__all__ = ["OHLC_WINDOW", "KrakenRest", "kraken_ccxt_config"]

#: candles of any interval that Kraken's OHLC endpoint serves (the most recent ones)
OHLC_WINDOW = 720
#: Kraken's OHLC intervals (minutes) the simulator serves, by ccxt timeframe
INTERVALS = {1: "1m", 5: "5m", 15: "15m", 30: "30m", 60: "1h", 240: "4h", 1440: "1d", 10080: "1w"}
MAX_COUNT = 1000
#: ``since`` values below this are seconds, others nanoseconds (Kraken's cursor)
_SECONDS_BELOW = 10**11
_PER_PAIR = frozenset({"OHLC", "Trades"})


def kraken_ccxt_config(url: str, **extra: Any) -> dict[str, Any]:
    """The ccxt kraken config that talks to the simulator at ``url``."""
    config: dict[str, Any] = {"urls": {"api": {"public": url.rstrip("/")}}}
    config.update(extra)
    return config


def _error(*messages: str, status: int = 200) -> DialectError:
    return DialectError(status, {"error": list(messages)})


def _ok(result: Any) -> dict[str, Any]:
    return {"error": [], "result": result}


def _int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(float(raw)) if "." in raw else int(raw)
    except ValueError:
        raise _error(f"EGeneral:Invalid arguments:{name}") from None


class KrakenRest(RestDialect):
    """Kraken's public REST API over the shared simulator (see the module docstring)."""

    name = "kraken"
    prefix = "/0/public/"

    def __init__(self, sim: SimState, limiter: CallCounter) -> None:
        super().__init__(sim)
        self.limiter = limiter
        self.routes = {
            "Time": self._time,
            "SystemStatus": self._status,
            "Assets": self._assets,
            "AssetPairs": self._asset_pairs,
            "OHLC": self._ohlc,
            "Trades": self._trades,
        }

    # -- markets -------------------------------------------------------------------------------
    def _listed(self) -> list[Series]:
        now = self.sim.clock.now()
        return [s for s in self.sim.markets.values() if s.listing <= now]

    def _pairs(self) -> dict[str, Series]:
        """Listed series by Kraken pair id and altname."""
        found: dict[str, Series] = {}
        for series in self._listed():
            pair = pair_of(series.spec)
            found[pair.id] = found[pair.altname] = series
        return found

    def series_of(self, query: Mapping[str, str]) -> Series | None:
        """The series of the ``pair`` parameter (id or altname)."""
        return self._pairs().get(query.get("pair", ""))

    def _series(self, query: Mapping[str, str]) -> Series:
        if not query.get("pair"):
            raise _error("EGeneral:Invalid arguments:pair")
        series = self.series_of(query)
        if series is None:
            raise _error("EQuery:Unknown asset pair")
        return series

    # -- the dialect's answers ----------------------------------------------------------------
    def _too_many(self, request: web.Request | None = None) -> web.Response:
        self.sim.counters.rate_limited += 1
        self.sim.counters.statuses["429"] += 1
        return web.json_response({"error": ["EGeneral:Too many requests"]}, status=429)

    def admit(
        self, name: str, query: Mapping[str, str], series: Series | None
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Count the call; refuse it when the counter is over its limit."""
        key = f"ip|{query.get('pair', '')}" if name in _PER_PAIR else "ip"
        if not self.limiter.charge(key, time.time_ns() // 1_000_000):
            return self._too_many(), {}
        return None, {}

    def rate_limited(self, request: web.Request, faults: Faults) -> web.Response:
        """Kraken's refusal (no Retry-After)."""
        return web.json_response({"error": ["EGeneral:Too many requests"]}, status=429)

    def server_error(self, request: web.Request, faults: Faults, as_json: bool) -> web.Response:
        """``EService:Unavailable`` on 503, ``EService:Busy`` otherwise, or an HTML page."""
        if not as_json:
            return web.Response(status=faults.status, text="<html>Service Unavailable</html>")
        error = "EService:Unavailable" if faults.status == 503 else "EService:Busy"
        return self.respond(request, {"error": [error]}, faults.status)

    def not_found(self, request: web.Request) -> web.Response:
        """Kraken's answer to an unknown method."""
        return web.json_response({"error": ["EGeneral:Unknown method"]}, status=404)

    # -- endpoints -----------------------------------------------------------------------------
    def _time(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        seconds = self.sim.clock.now() // 1000
        stamp = time.strftime("%a, %e %b %y %H:%M:%S +0000", time.gmtime(seconds))
        return _ok({"unixtime": seconds, "rfc1123": stamp})

    def _status(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.sim.clock.now() // 1000))
        return _ok({"status": "online", "timestamp": stamp})

    def _assets(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        codes = sorted({c for s in self._listed() for c in (s.spec.base, s.spec.quote)})
        entries = {asset_code(c)[0]: asset_entry(c) for c in codes}
        wanted = [a for a in query.get("asset", "").split(",") if a]
        if wanted:
            by_name = {**entries, **{e["altname"]: e for e in entries.values()}}
            ids = {e["altname"]: k for k, e in entries.items()}
            if any(w not in by_name for w in wanted):
                raise _error("EQuery:Unknown asset")
            entries = {ids.get(w, w): by_name[w] for w in wanted}
        return _ok(entries)

    def _asset_pairs(self, query: Mapping[str, str], _: Series | None) -> dict[str, Any]:
        listed = self._listed()
        wanted = [p for p in query.get("pair", "").split(",") if p]
        if wanted:
            pairs = self._pairs()
            if any(w not in pairs for w in wanted):
                raise _error("EQuery:Unknown asset pair")
            chosen = {id(pairs[w]): pairs[w] for w in wanted}
            listed = list(chosen.values())
        sim = self.sim
        return _ok(
            {
                pair_of(s.spec).id: pair_entry(s.spec, sim.symbol_status(s.spec.symbol))
                for s in listed
            }
        )

    def _interval(self, query: Mapping[str, str], series: Series) -> Timeframe:
        minutes = _int(query, "interval")
        name = INTERVALS.get(1 if minutes is None else minutes)
        if name is None or not series.supports(timeframe(name)):
            raise _error("EGeneral:Invalid arguments")
        return timeframe(name)

    def _ohlc(self, query: Mapping[str, str], _: Series | None) -> str:
        sim = self.sim
        series = self._series(query)
        tf = self._interval(query, series)
        since = _int(query, "since")
        now, faults, symbol = sim.clock.now(), sim.faults, series.spec.symbol
        forming = tf.floor(now)
        lo = max(tf.next(forming, -(OHLC_WINDOW - 1)), tf.floor(series.listing))
        if since is not None:  # exclusive; the forming candle comes whatever since says
            lo = min(max(lo, tf.ceil(since * 1000 + 1)), forming)
        slots = tf.range(lo, tf.next(forming))
        rows = self._ohlc_rows(series, tf, slots, now, faults)
        pair = pair_of(series.spec).id
        last = tf.next(forming, -1) // 1000
        sim.counters.ohlc_page(symbol, tf.name, len(rows))
        return f'{{"error":[],"result":{{"{pair}":[{",".join(rows)}],"last":{last}}}}}'

    def _ohlc_rows(
        self, series: Series, tf: Timeframe, slots: I64, now: int, faults: Faults
    ) -> list[str]:
        """Rows of every slot: the candle where one traded, a flat candle elsewhere."""
        if slots.size == 0:
            return []
        symbol = series.spec.symbol
        decimals = decimals_of(series.spec.tick_e8)
        first, stop = int(slots[0]), tf.next(int(slots[-1]))
        candles = series.candles(tf, first, stop, now)
        traded = candles.take(~faults.in_maintenance(symbol, candles.ts))
        flat_ts = slots[~np.isin(slots, traded.ts)]
        by_ts = dict(zip(traded.ts.tolist(), traded.kraken_rows(decimals), strict=True))
        if flat_ts.size:
            closes = self._previous_closes(series, tf, traded, flat_ts, now)
            if closes is not None:
                flat = traded.flat(flat_ts[closes[0]], closes[1])
                by_ts.update(zip(flat.ts.tolist(), flat.kraken_rows(decimals), strict=True))
        ts = np.asarray(sorted(by_ts), dtype=np.int64)
        gone = missing_rows(faults, symbol, tf, self.sim.counters, maintenance=False)(ts)
        rows = [by_ts[t] for t, skip in zip(ts.tolist(), gone.tolist(), strict=True) if not skip]
        if faults.malformed and faults.applies_to(symbol):
            from .corrupt import corrupt_rows

            rows = corrupt_rows(faults, symbol, tf, ts[~gone], rows, self.sim.counters)
        return rows

    def _previous_closes(
        self, series: Series, tf: Timeframe, traded: Any, flat_ts: I64, now: int
    ) -> tuple[np.ndarray, Any] | None:
        """For each flat slot, the close of the last candle that traded before it (slots
        before any such candle get none): (which flat slots, their prices)."""
        ts, closes = traded.ts, traded.closes()
        prior = page_opens(
            series, tf, None, int(flat_ts[0]) - 1, 1, now,
            missing_rows(self.sim.faults, series.spec.symbol, tf, self.sim.counters,
                         maintenance=True), self.sim.faults,
        )  # fmt: skip
        if prior.size:
            before = series.candles(tf, int(prior[0]), tf.next(int(prior[0])), now)
            ts = np.concatenate([before.ts, ts])
            closes = np.concatenate([before.closes(), closes])
        where = np.searchsorted(ts, flat_ts, side="right") - 1
        has = where >= 0
        if not bool(has.any()):
            return None
        return np.flatnonzero(has), closes[where[has]]

    def _trades(self, query: Mapping[str, str], _: Series | None) -> str:
        series = self._series(query)
        count = _int(query, "count")
        count = MAX_COUNT if count is None else count
        if not 1 <= count <= MAX_COUNT:
            raise _error("EGeneral:Invalid arguments:count")
        since = _int(query, "since")
        now = self.sim.clock.now()
        symbol = series.spec.symbol

        def trading(block: Trades) -> Trades:
            gone = self.sim.faults.in_maintenance(symbol, block.ts)
            return block.take(~gone) if bool(gone.any()) else block

        if since is None:
            blocks = series.trade_blocks(series.listing, now, now, reverse=True)
            trades = collect(blocks, count, trading, Trades.concat, reverse=True)
            last_ns = int(trade_ns(trades)[-1]) if len(trades) else now * 1_000_000
        else:
            since_ns = since * 10**9 if since < _SECONDS_BELOW else since
            blocks = series.trade_blocks(since_ns // 1_000_000, now, now, reverse=False)

            def after(block: Trades) -> Trades:
                block = trading(block)
                return block.take(trade_ns(block) > since_ns)

            trades = collect(blocks, count, after, Trades.concat)
            last_ns = int(trade_ns(trades)[-1]) if len(trades) else since_ns
        self.sim.counters.trades[symbol] += 1
        self.sim.counters.rows["trades"] += len(trades)
        spec = series.spec
        rows = trade_rows(trades, spec.tick_e8, spec.step_e8, decimals_of(spec.tick_e8))
        pair = pair_of(spec).id
        return f'{{"error":[],"result":{{"{pair}":[{",".join(rows)}],"last":"{last_ns}"}}}}'
