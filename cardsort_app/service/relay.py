"""Outbox relay: nothing appended is lost between the log and the bus.

Every appended event is published in `seq` order per session and then marked published in the log. A
publish that fails is retried with backoff; an event appended by a worker that died before publishing
stays unpublished in the log, and `recover()` (at start-up and after the bus reconnects) publishes it.
Repeats are harmless: the bus dedupes by message id `{code}:{seq}` and subscribers by `seq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque

from cardsort_app.bus.base import EventBus
from cardsort_app.domain.events import Event
from cardsort_app.service.store_port import AsyncStore

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
RECOVER_PAGE = 500
#: Events published in one round trip when a backlog has built up (an outage, a burst).
BATCH = 50


class OutboxRelay:
    def __init__(self, store: AsyncStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._queues: defaultdict[str, deque[Event]] = defaultdict(deque)
        self._workers: dict[str, asyncio.Task] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self.retries = 0

    def submit(self, event: Event) -> None:
        """Queue a sequenced event for publishing (returns at once)."""
        code = event.session_code
        self._queues[code].append(event)
        self._idle.setdefault(code, asyncio.Event()).clear()
        worker = self._workers.get(code)
        if worker is None or worker.done():
            self._workers[code] = asyncio.get_running_loop().create_task(self._drain(code))

    async def recover(self, code: str | None = None) -> int:
        """Publish everything the log holds as unpublished (all sessions, or one); returns how many."""
        total = 0
        while True:
            events = await self._store.unpublished(code, RECOVER_PAGE)
            for event in events:
                self.submit(event)
            total += len(events)
            await self.flush(code)  # published events are marked, so the next page holds new ones
            if len(events) < RECOVER_PAGE:
                break
        if total:
            log.info("relay: published %d event(s) the log held as unpublished", total)
        return total

    async def flush(self, code: str | None = None) -> None:
        """Wait until everything queued so far (for one session, or all) is published and marked."""
        idles = [self._idle[code]] if code in self._idle else [] if code else list(self._idle.values())
        for idle in idles:
            await idle.wait()

    async def _drain(self, code: str) -> None:
        queue = self._queues[code]
        delay = RETRY_FIRST_S
        while queue:
            batch = [queue[i] for i in range(min(len(queue), BATCH))]
            try:
                await self._publish(batch)
            except Exception as exc:
                self.retries += 1
                log.warning("relay: publish of %s seq %s.. failed (%s); retrying", code, batch[0].seq, exc)
                await self._debug(code, batch[0], exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_FIRST_S
            for _ in batch:
                queue.popleft()
            try:
                await self._store.mark_published(code, max(e.seq or 0 for e in batch))
            except Exception:  # still unpublished in the log: a later recover() republishes, harmlessly
                log.exception("relay: marking %s up to %s published failed", code, batch[-1].seq)
        self._idle[code].set()

    async def _publish(self, batch: list[Event]) -> None:
        """One round trip for a backlog when the bus can take several events at once."""
        if len(batch) > 1 and (publish_many := getattr(self._bus, "publish_many", None)) is not None:
            await publish_many(batch)
        else:
            for event in batch:
                await self._bus.publish(event)

    async def _debug(self, code: str, event: Event, exc: Exception) -> None:
        with contextlib.suppress(Exception):  # diagnostics are best effort
            await self._bus.debug(code, "relay-retry", {"seq": event.seq, "error": str(exc)[:200]})

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
