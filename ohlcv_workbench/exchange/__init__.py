"""The exchange boundary: shared ccxt instances, validation, typed fetches, errors, retries.

::

    from ohlcv_workbench.exchange import open_exchange

    async with open_exchange("sim") as ex:         # or "sim_kraken", "binance", any ccxt id
        tf = ex.check_timeframe("1m")                       # offline
        await ex.check_symbol("BTC/USDT")                   # loads the markets once
        batch = await ex.fetch_candles("BTC/USDT", "1m", since=t0, until=t1)
        first = await ex.earliest_candle("BTC/USDT")

ccxt errors are translated here, once (see :mod:`.translate`), and temporary ones are retried
by a :class:`RetryPolicy` (stamina); nothing outside this package needs to import ccxt.
"""

from .client import ExchangeClient
from .history import find_earliest, page_windows
from .hub import ExchangeHub, close_exchanges, create_ccxt, exchange_hub, open_exchange
from .pages import candle_pages
from .pause import Pause, PauseGate
from .retry import NO_RETRY, OnRetry, RetryPolicy, describe_retry
from .trade_pages import TradeCursor, TradePage
from .translate import MalformedResponseError, retry_reason, translate
from .validation import SIM_ID, SIM_IDS, SIM_KRAKEN_ID, check_exchange_id, known_exchange_ids

__all__ = [
    "NO_RETRY",
    "SIM_ID",
    "SIM_IDS",
    "SIM_KRAKEN_ID",
    "ExchangeClient",
    "ExchangeHub",
    "MalformedResponseError",
    "OnRetry",
    "Pause",
    "PauseGate",
    "RetryPolicy",
    "TradeCursor",
    "TradePage",
    "candle_pages",
    "check_exchange_id",
    "close_exchanges",
    "create_ccxt",
    "describe_retry",
    "exchange_hub",
    "find_earliest",
    "known_exchange_ids",
    "open_exchange",
    "page_windows",
    "retry_reason",
    "translate",
]
