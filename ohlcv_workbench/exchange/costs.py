"""ccxt's request costs, corrected where the exchange has changed its weights since.

ccxt's limiter charges each request a cost from its endpoint table and waits ``rateLimit``
milliseconds per unit. For Binance (``rateLimit`` 50 ms: 20 units per second, 6000 weight per
minute) a unit is 5 weight, so cost = weight x 0.2. Binance raised ``aggTrades`` to weight 4
and ``trades``/``historicalTrades`` to 25 (spot changelog, 2024-04 and 2025-03); ccxt 4.5
still charges 2 and 10, which would let a trade backfill at ccxt's pace exceed the limit and
earn 429s, then a ban. :class:`CostMixin` (mixed into every ccxt class the workbench
instantiates) charges the real weights.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt

__all__ = ["BINANCE_COSTS", "CostMixin"]

#: ccxt cost units of Binance's spot public endpoints whose weight ccxt has out of date
BINANCE_COSTS = {"aggTrades": 0.8, "trades": 5.0, "historicalTrades": 5.0}


class CostMixin:
    """ccxt's ``calculate_rate_limiter_cost`` with the corrected costs above."""

    def calculate_rate_limiter_cost(
        self, api: Any, method: Any, path: Any, params: Any, config: Any = None
    ) -> Any:
        """The cost ccxt's limiter charges for one request."""
        name = api if isinstance(api, str) else (api[0] if api else None)
        if isinstance(self, ccxt.binance) and name == "public" and path in BINANCE_COSTS:
            return BINANCE_COSTS[path]
        return super().calculate_rate_limiter_cost(  # type: ignore[misc]
            api, method, path, params, config if config is not None else {}
        )
