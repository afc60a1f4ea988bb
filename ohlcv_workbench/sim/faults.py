"""Fault injection and request counters of the simulator.

Fault decisions are deterministic: a request's fate is hashed from the fault seed, the request
(path and sorted query) and how many times that same request was seen, so a rerun of the same
request sequence meets the same faults, and a retry of a failed request gets a fresh draw.
Gaps and malformed rows are hashed from (seed, symbol, interval, open time). Maintenance
ranges are periods in which nothing traded: no trade, and no candle opening inside them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .bars import I64, stream_key, uniform

__all__ = ["Counters", "Fault", "Faults", "Range", "ServerErrorBody"]

Fault = Literal["drop", "timeout", "server_error", "rate_limited"]
MalformedKind = Literal["mixed", "non_numeric", "high_below_low"]
#: what a 5xx answer carries: the edge's HTML page, the exchange's JSON error, or either
ServerErrorBody = Literal["html", "json", "mixed"]
#: a time range ``(start, end)`` in UTC ms, end excluded
Range = tuple[int, int]
_FRACTIONS = ("rate_limited", "server_error", "timeout", "drop", "gaps", "malformed")
_MAX_TRACKED = 200_000


def _ranges(value: Sequence[Sequence[int]]) -> tuple[Range, ...]:
    ranges = []
    for item in value:
        start, end = (int(x) for x in item)
        if end <= start:
            raise ValueError(f"Faults.maintenance range {item!r}: the end must follow the start")
        ranges.append((start, end))
    return tuple(sorted(ranges))


@dataclass(frozen=True)
class Faults:
    """What goes wrong, per run. Fractions are in [0, 1]; ``symbols`` limits the scope.

    - ``latency``: seconds added before every answer.
    - ``rate_limited``: fraction answered 429 (Binance: with ``Retry-After: retry_after``).
    - ``server_error``: fraction answered ``status`` (5xx); ``server_error_body`` says whether
      the body is the edge's HTML page, the exchange's JSON error (Binance -1001
      DISCONNECTED or -1008 SERVER_BUSY, Kraken ``EService:Unavailable``/``Busy``) or either.
    - ``timeout``: fraction that hang ``hang`` seconds (longer than a client's timeout),
      then lose the connection.
    - ``drop``: fraction whose connection is closed without an answer.
    - ``gaps``: fraction of kline rows left out (missing rows, whatever the exchange).
    - ``malformed``: fraction of kline rows corrupted (``malformed_kind``: a non-numeric
      price, high below low, or either).
    - ``maintenance``: ``(start, end)`` ranges (ms) in which nothing traded: no trades, and
      no candle opening inside them (Binance skips them; Kraken shows flat candles).
    - ``ban_after``: after this many 429 answers the client's IP is banned (Binance: 418
      with Retry-After) for ``ban_seconds``, doubled for every further ban; 0: never.
    - ``symbols``: ccxt symbols the faults apply to (None: every request).
    """

    latency: float = 0.0
    rate_limited: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    gaps: float = 0.0
    malformed: float = 0.0
    malformed_kind: MalformedKind = "mixed"
    retry_after: int = 1
    hang: float = 30.0
    status: int = 503
    server_error_body: ServerErrorBody = "mixed"
    maintenance: tuple[Range, ...] = ()
    ban_after: int = 0
    ban_seconds: float = 120.0
    symbols: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in _FRACTIONS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name}={value!r}: expected a fraction in [0, 1]")
        request_share = self.rate_limited + self.server_error + self.timeout + self.drop
        if request_share > 1.0 + 1e-9:
            raise ValueError("Faults: rate_limited + server_error + timeout + drop exceeds 1")
        if self.latency < 0 or self.hang < 0 or self.retry_after < 0:
            raise ValueError("Faults: latency, hang and retry_after must not be negative")
        if not 500 <= self.status <= 599:
            raise ValueError(f"Faults.status={self.status}: expected a 5xx status")
        if self.malformed_kind not in ("mixed", "non_numeric", "high_below_low"):
            raise ValueError(f"Faults.malformed_kind={self.malformed_kind!r} is not known")
        if self.server_error_body not in ("html", "json", "mixed"):
            raise ValueError(
                f"Faults.server_error_body={self.server_error_body!r}: expected html, json or mixed"
            )
        if self.ban_after < 0 or self.ban_seconds <= 0:
            raise ValueError("Faults: ban_after must not be negative, ban_seconds must be positive")
        object.__setattr__(self, "maintenance", _ranges(self.maintenance))
        if self.symbols is not None:
            object.__setattr__(self, "symbols", tuple(self.symbols))

    @property
    def active(self) -> bool:
        """True when anything is injected."""
        return self != Faults(seed=self.seed)

    def applies_to(self, symbol: str | None) -> bool:
        """True when the faults cover a request for ``symbol`` (None: no symbol)."""
        return self.symbols is None or (symbol is not None and symbol in self.symbols)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = dataclasses.asdict(self)
        data["symbols"] = list(self.symbols) if self.symbols is not None else None
        data["maintenance"] = [list(r) for r in self.maintenance]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        """Build from a JSON object; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        if values.get("symbols") is not None:
            values["symbols"] = tuple(values["symbols"])
        if values.get("maintenance"):
            values["maintenance"] = _ranges(values["maintenance"])
        return cls(**values)

    # -- decisions ---------------------------------------------------------------------------
    def request_fault(self, request_key: str, occurrence: int) -> Fault | None:
        """The fault (if any) for the ``occurrence``-th sight of this request."""
        if self.rate_limited + self.server_error + self.timeout + self.drop <= 0:
            return None
        digest = hashlib.blake2b(
            f"{self.seed}|{request_key}|{occurrence}".encode(), digest_size=8
        ).digest()
        u = int.from_bytes(digest, "little") / 2.0**64
        edge = 0.0
        for name in ("drop", "timeout", "server_error", "rate_limited"):
            edge += getattr(self, name)
            if u < edge:
                return name
        return None

    def server_error_json(self, request_key: str, occurrence: int) -> bool:
        """Whether this 5xx answer carries the exchange's JSON error (else the HTML page)."""
        if self.server_error_body != "mixed":
            return self.server_error_body == "json"
        digest = hashlib.blake2b(
            f"{self.seed}|body|{request_key}|{occurrence}".encode(), digest_size=1
        ).digest()
        return digest[0] % 2 == 1

    def in_maintenance(self, symbol: str, ts: I64) -> npt.NDArray[np.bool_]:
        """Where times ``ts`` fall in a maintenance range (for a symbol in scope)."""
        out = np.zeros(ts.size, dtype=np.bool_)
        if not self.maintenance or not self.applies_to(symbol):
            return out
        for start, end in self.maintenance:
            out |= (ts >= start) & (ts < end)
        return out

    def maintenance_end(self, symbol: str, t: int) -> int:
        """``t``, or the end of the maintenance range holding it."""
        if self.applies_to(symbol):
            for start, end in self.maintenance:
                if start <= t < end:
                    return end
        return t

    def maintenance_start(self, symbol: str, t: int) -> int:
        """``t``, or the start of the maintenance range holding ``t - 1`` (walking back)."""
        if self.applies_to(symbol):
            for start, end in self.maintenance:
                if start < t <= end:
                    return start
        return t

    def row_mask(self, kind: str, symbol: str, interval: str, ts: I64) -> npt.NDArray[np.bool_]:
        """Rows hit by ``kind`` ("gaps" or "malformed")."""
        fraction = float(getattr(self, kind))
        if fraction <= 0 or ts.size == 0:
            return np.zeros(ts.size, dtype=np.bool_)
        key = stream_key(self.seed, f"{symbol}|{interval}", kind)
        return np.asarray(uniform(key, ts) < fraction, dtype=np.bool_)


class Counters:
    """What the simulator served: requests, pages, rows, refusals and faults. Resettable."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.klines: dict[str, Counter[str]] = {}
        self.ohlc: dict[str, Counter[str]] = {}
        self.trades: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.rate_limited = 0
        self.banned = 0
        self.weight = 0
        self._seen: Counter[str] = Counter()

    def occurrence(self, request_key: str) -> int:
        """How many times this exact request was seen before (then counts this one)."""
        if len(self._seen) > _MAX_TRACKED:
            self._seen.clear()
        n = self._seen[request_key]
        self._seen[request_key] = n + 1
        return n

    def klines_page(self, symbol: str, interval: str, rows: int) -> None:
        """Count one klines page served (Binance)."""
        self.klines.setdefault(symbol, Counter())[interval] += 1
        self.rows["klines"] += rows

    def ohlc_page(self, symbol: str, interval: str, rows: int) -> None:
        """Count one OHLC page served (Kraken); ``interval`` is ccxt's name, e.g. ``1h``."""
        self.ohlc.setdefault(symbol, Counter())[interval] += 1
        self.rows["ohlc"] += rows

    def klines_pages(self, symbol: str | None = None, interval: str | None = None) -> int:
        """Klines pages served, optionally for one symbol and/or interval."""
        return sum(
            n
            for sym, per in self.klines.items()
            if symbol in (None, sym)
            for tf, n in per.items()
            if interval in (None, tf)
        )

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready copy of every counter."""
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "klines": {sym: dict(per) for sym, per in self.klines.items()},
            "klines_pages": self.klines_pages(),
            "ohlc": {sym: dict(per) for sym, per in self.ohlc.items()},
            "trades": dict(self.trades),
            "rows": dict(self.rows),
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "banned": self.banned,
            "weight": self.weight,
        }
