"""The candle collector: backfill what is missing, then follow closed candles live.

Backfill fills the gaps of the stored series in ``[start, end)``: ``start`` is ``since``
(raised to the symbol's first candle, which the first page shows, or a search when that page
is empty: both during the validation, so a range before the listing is refused before
anything is registered), else the candle after the last stored one, else the
most recent page (so a chart has history at once); ``end`` is ``until``, else the open of the
forming candle. Pages are fetched with a few requests in flight (fixed windows, see
:func:`~ohlcv_workbench.exchange.candle_pages`) while earlier pages are being stored, and are
stored strictly in order, one write at a time: the pages that arrive while a write runs go
together into the next write (a slow store, e.g. a PostgreSQL server across the network,
gets fewer, larger transactions instead of holding the fetching up). A killed run leaves a
stored prefix, and a rerun fetches only what is missing. Only closed candles are stored.

On an exchange that serves only its most recent candles (``full_candle_history`` False:
Kraken's 720), the candles before the first one its candle endpoint returns are built from
trades (:mod:`.trade_candles`); where it gives no trade either, the range is *uncovered*:
named in the final message, the ``uncovered`` param and the store's note (quality report).

Live, the collector sleeps until the next candle closes by the exchange's clock, then fetches
every candle from the last stored one to the forming one, so an outage leaves no gap: once the
exchange answers again, the missed candles come in the same pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ohlcv_workbench.errors import InvalidTimeRangeError, TemporaryExchangeError
from ohlcv_workbench.exchange import ExchangeClient, candle_pages
from ohlcv_workbench.records import CandleBatch
from ohlcv_workbench.store.models import Gap, Uncovered
from ohlcv_workbench.timeframes import Timeframe
from ohlcv_workbench.times import iso

from .base import Collector, CollectorContext, Phase
from .spec import CollectorKind, CollectorSpec
from .trade_candles import TradeBackfill

__all__ = ["OhlcvCollector"]

log = logging.getLogger(__name__)

#: seconds after a candle's close before asking for it (the exchange must have closed it)
CLOSE_MARGIN = 0.03
#: seconds between asks while the exchange has not closed the candle yet
NOT_YET_DELAY = 0.1
#: a candle still missing this long after its close (and one more interval) is skipped
MISSING_AFTER = 10.0
#: seconds to wait after the retry budget ran out while live, before trying again
OUTAGE_DELAY = 5.0


class OhlcvCollector(Collector):
    """Collects one candle series (see the module docstring).

    ::

        spec = CollectorSpec.create("sim", "BTC/USDT", "1m", since="2026-01-01")
        state = await OhlcvCollector(spec, context).run()
    """

    def __init__(self, spec: CollectorSpec, context: CollectorContext) -> None:
        if spec.kind is not CollectorKind.OHLCV:
            raise ValueError(f"OhlcvCollector needs an ohlcv spec, got {spec.kind}")
        super().__init__(spec, context)
        self.tf: Timeframe | None = None
        self._history: tuple[int, CandleBatch | None] | None = None  # from since: start, page
        self._prefetched = 0  # candles of the first page, stored before the gaps were found
        # where the candle endpoint began serving from ``since`` (exchanges without full
        # history): what lies before it comes from trades
        self._candles_from: int | None = None
        #: ranges neither candles nor trades could cover
        self.uncovered: list[Uncovered] = []

    async def validate(self, ex: ExchangeClient) -> None:
        self.tf = ex.check_timeframe(self.spec.timeframe)
        await ex.check_symbol(self.spec.symbol, trading=True)
        self.spec.check_since(await ex.time_now(on_retry=self.on_retry))
        if self.spec.since is not None:
            self._history = await self._history_from(self.spec.since)

    async def _history_from(self, since: int) -> tuple[int, CandleBatch | None]:
        """Where collecting from ``since`` starts, and the first page when it was fetched.

        The first page from since shows where the history begins (Binance answers from the
        listing when since is before it); only when it is empty is the listing searched. A
        bounded range that ends before the listing is bad input (InvalidTimeRangeError): nothing
        is registered.
        """
        tf, ex, key, store = self._tf, self.exchange, self.spec.series, self.context.store
        until = self.spec.until
        forming = tf.floor(ex.now_ms() - ex.clock.uncertainty)
        end = forming if until is None else min(until, forming)
        start = tf.ceil(since)
        stored_first = await self.in_thread(store.ohlcv_first, key)
        if start >= end or (stored_first is not None and stored_first <= start):
            return start, None  # nothing to fetch first, or the listing lies before the store
        page = await ex.fetch_candles(
            self.spec.symbol, self.spec.timeframe, start, until=end, on_retry=self.on_retry
        )
        if not ex.full_candle_history:  # what its candle endpoint does not serve: from trades
            self._candles_from = int(page.ts[0]) if len(page) else end
            return start, page
        if len(page):
            return max(start, int(page.ts[0])), page
        first = await ex.earliest_candle(
            self.spec.symbol, self.spec.timeframe, on_retry=self.on_retry
        )
        if until is not None and (first is None or first >= until):
            listed = "has no candles" if first is None else f"has candles from {iso(first)} on"
            raise InvalidTimeRangeError(
                f"nothing to collect: {self.spec.exchange} {self.spec.symbol} {tf.name} {listed} "
                f"(its listing), and {iso(start)} .. {iso(until)} lies before that; "
                "choose --since/--until after the listing"
            )
        return (start if first is None else max(start, first)), None

    # -- the work ----------------------------------------------------------------------------
    async def collect(self) -> None:
        tf, ex = self._tf, self.exchange
        # the forming candle by the exchange's clock, less its error: what opens before it
        # has surely closed, so the backfill stores every candle it asks for
        forming = tf.floor(ex.now_ms() - ex.clock.uncertainty)
        end = forming if self.spec.until is None else min(self.spec.until, forming)
        start = await self._start(end)
        gaps = await self.in_thread(self.context.store.ohlcv_gaps, self.spec.series, start, end)
        await self._backfill(gaps, start, end)
        if self.spec.until is not None and self.spec.until <= end:
            return
        last = self.state.last_ts
        # live goes on from the last stored candle: one the exchange had not closed yet when
        # its page was served is asked for again
        await self._live(end if last is None or last < start else min(end, tf.next(last)))

    @property
    def _tf(self) -> Timeframe:
        if self.tf is None:
            raise RuntimeError(f"{self!r} was not validated")
        return self.tf

    async def _start(self, end: int) -> int:
        tf, key, store = self._tf, self.spec.series, self.context.store
        if self._history is not None:  # found by the validation, from since
            start, page = self._history
            if page is not None:  # the first page from since: stored at once
                self._prefetched = await self._store(page)
            return start
        last = await self.in_thread(store.ohlcv_last, key)
        if last is not None:
            return tf.next(last)
        return max(0, tf.next(end, -self.exchange.page_limit))  # the most recent page

    async def _backfill(self, gaps: list[Gap], start: int, end: int) -> None:
        progress = self.state.progress
        progress.total = self._prefetched + sum(gap.missing for gap in gaps)
        progress.done = self._prefetched
        self.state.phase = Phase.BACKFILLING
        self.heartbeat.report(phase="backfill")
        self._report_progress()
        if not gaps:
            return
        log.info("%s: backfilling %s .. %s (%d gaps)", self.spec, iso(start), iso(end), len(gaps))
        for gap in gaps:
            done_before = progress.done
            if self.exchange.full_candle_history:
                await self._page(gap, gap.start, done_before)
            else:
                await self._fill_gap(gap, done_before)
            progress.done = done_before + gap.missing
        self._report_progress()

    async def _page(self, gap: Gap, start: int, done_before: int) -> int:
        """Store the candles of ``[start, gap.end)`` page by page; how many."""
        progress = self.state.progress
        pages = candle_pages(
            self.exchange,
            self.spec.symbol,
            self.spec.timeframe,
            start,
            gap.end,
            concurrency=self.context.concurrency,
            on_retry=self.on_retry,
        )

        def written(batch: CandleBatch) -> None:
            reached = self._tf.next(int(batch.ts[-1]))
            progress.done = done_before + self._tf.count(gap.start, reached)
            self._report_progress()

        async with contextlib.aclosing(pages), _InOrder(self._store, written) as writes:
            async for batch in pages:
                await writes.put(batch)
        return writes.stored

    async def _fill_gap(self, gap: Gap, done_before: int) -> None:
        """A gap on an exchange without full history: what its candle endpoint serves, and
        the candles before that from trades (or the range noted as uncovered)."""
        tf, ex, key, store = self._tf, self.exchange, self.spec.series, self.context.store
        page: CandleBatch | None = None
        served = self._candles_from
        if served is None or served < gap.end:  # where does the endpoint begin here?
            page = await ex.fetch_candles(
                self.spec.symbol, self.spec.timeframe, gap.start, until=gap.end,
                on_retry=self.on_retry,
            )  # fmt: skip
            served = int(page.ts[0]) if len(page) else gap.end
        served = max(gap.start, min(served, gap.end))
        if served > gap.start:
            await self.in_thread(store.ohlcv_clear_uncovered, key, gap.start, served)

            def progressed(reached: int) -> None:
                self.state.progress.done = done_before + tf.count(gap.start, reached)
                self._report_progress()

            trades = TradeBackfill(
                ex, self.spec, tf, store, self.in_thread, self._store, self.on_retry, progressed
            )
            note = await trades.fill(gap.start, served)
            if note is not None:
                self.uncovered.append(note)
                await self.in_thread(
                    store.ohlcv_mark_uncovered, key, note.start, note.end, note.reason
                )
                log.warning("%s: not covered: %s", self.spec, note)
                self.report(f"Not covered: {note}", uncovered=[str(u) for u in self.uncovered])
        if page is not None and len(page):
            await self._store(page)
            if len(page) >= ex.page_limit:  # the endpoint has more after this page
                await self._page(gap, tf.next(int(page.ts[-1])), done_before)

    def final_message(self, stopped_by: str | None) -> str:
        """The STOPPED message, naming what could not be covered."""
        text = super().final_message(stopped_by)
        if self.uncovered:
            text += "; not covered: " + "; ".join(str(u) for u in self.uncovered)
        return text

    def _report_progress(self) -> None:
        progress = self.state.progress
        last = "" if self.state.last_ts is None else f", last {iso(self.state.last_ts)}"
        self.report(progress.message() + last, progress=progress.as_params())

    async def _store(self, batch: CandleBatch) -> int:
        closed = batch.closed_only()
        if not len(closed):
            return 0
        key, store = self.spec.series, self.context.store

        def write() -> None:
            store.ohlcv_store(key, closed)
            self.state.stored += len(closed)
            self.state.last_ts = int(closed.ts[-1])

        await self.in_thread(write)
        return len(closed)

    # -- live --------------------------------------------------------------------------------
    async def _live(self, next_open: int) -> None:
        tf, ex = self._tf, self.exchange
        self.state.phase = Phase.LIVE
        until = self.spec.until
        self.report(f"Live from {iso(next_open)}", phase="live")
        while until is None or next_open < until:
            close_at = tf.next(next_open)
            wait = (close_at - ex.now_ms()) / 1000 + CLOSE_MARGIN + ex.clock.uncertainty / 1000
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                next_open = await self._catch_up(next_open, close_at)
            except TemporaryExchangeError as exc:
                self.report(f"Exchange unavailable ({exc}); trying again in {OUTAGE_DELAY:.0f} s")
                await asyncio.sleep(OUTAGE_DELAY)

    async def _catch_up(self, next_open: int, close_at: int) -> int:
        """Store every closed candle from ``next_open``; the open time to wait for next."""
        tf, ex = self._tf, self.exchange
        forming = tf.floor(ex.now_ms())
        end = forming if self.spec.until is None else min(forming, self.spec.until)
        stored = 0
        if tf.count(next_open, end) > ex.page_limit:  # after an outage: page through the gap
            gap = Gap(next_open, end, tf.count(next_open, end))
            before = self.state.stored
            if ex.full_candle_history:
                await self._page(gap, next_open, self.state.progress.done)
            else:
                self._candles_from = None
                await self._fill_gap(gap, self.state.progress.done)
            stored = self.state.stored - before
        else:
            batch = await ex.fetch_candles(
                self.spec.symbol, self.spec.timeframe, next_open, until=max(end, close_at),
                on_retry=self.on_retry,
            )  # fmt: skip
            stored += await self._store(batch)
        last = self.state.last_ts
        if stored and last is not None:
            self.report(
                f"Live: {self.state.stored:,} candles stored, last {iso(last)}",
                last=iso(last),
                stored=self.state.stored,
            )
            return tf.next(last)
        if ex.now_ms() - close_at > max(MISSING_AFTER * 1000, tf.nominal_ms):
            log.warning("%s: no candle at %s from the exchange; skipped", self.spec, iso(next_open))
            return tf.next(next_open)
        await asyncio.sleep(NOT_YET_DELAY)  # not closed yet by the exchange
        return next_open


class _InOrder:
    """Stores batches one write at a time, in order; batches that come while a write runs are
    stored together by the next one. ``put`` waits only when ``MAX_PENDING`` are waiting.

    Leaving the block waits for every write; an error of a write is raised by the next ``put``
    or at the end; a cancellation lets the write under way finish and drops the others (what
    is stored stays a prefix).
    """

    MAX_PENDING = 16

    def __init__(
        self,
        store: Callable[[CandleBatch], Awaitable[int]],
        stored: Callable[[CandleBatch], None],
    ) -> None:
        self._store, self._stored = store, stored
        self._queue: asyncio.Queue[CandleBatch | None] = asyncio.Queue(self.MAX_PENDING)
        self._task: asyncio.Task[None] | None = None
        #: candles stored so far
        self.stored = 0

    async def __aenter__(self) -> _InOrder:
        self._task = asyncio.create_task(self._run(), name="ordered store writes")
        return self

    async def put(self, batch: CandleBatch) -> None:
        """Queue a batch (empty ones are skipped)."""
        assert self._task is not None
        if self._task.done():
            self._task.result()  # raises the write's error
            raise RuntimeError("the store writes ended early")
        if len(batch):
            await self._queue.put(batch)

    async def _run(self) -> None:
        while (batch := await self._queue.get()) is not None:
            batches, done = [batch], False
            while not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    done = True
                    break
                batches.append(more)
            together = CandleBatch.concat(batches)
            self.stored += await self._store(together)
            self._stored(together)
            if done:
                return

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        assert self._task is not None
        if exc_type is None:
            if not self._task.done():
                await self._queue.put(None)
            await self._task  # raises a write's error
            return
        self._task.cancel()  # the write under way finishes first (see BlockingWorker)
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - the error already leaving the block wins
            log.warning("a store write failed too: %s: %s", type(exc).__name__, exc)
