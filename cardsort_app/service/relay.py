"""Outbox relay: nothing appended is lost between the log and the bus, and nothing gets it stuck.

Every appended event is queued per session and published in batches (the bus packs a batch into as
few messages as its limits allow), then marked published in the log. The log is durable before the
publish, so the relay runs beside the command path: local tabs never wait for it.

Failures are sorted (the bus raises `PublishError` with ``retryable``):

* transient (disconnected, no ACK, rate limited, 5xx, token renewal): the *same* batch is retried with
  exponential backoff and jitter, so the retry carries the same message ids and Ably drops repeats;
* permanent (Ably refused the messages for good, e.g. 40031 or 40009): the batch is given up, counted
  in `refused`, and the relay moves on. The bus has logged the error code once and reports itself
  ``degraded``; the events stay in the log and other workers fetch them on their next gap or resync.
* connection errors and timeouts from a bus that does not sort its errors: transient;
* anything else (a bug): retried like a transient error at most `MAX_UNEXPECTED` times, then given up
  like a permanent one, so no batch can block a session for ever.

An event appended by a worker that died before publishing stays unpublished in the log, and
`recover()` (at start-up and after the bus reconnects) publishes it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict, deque

from cardsort_app.domain.events import Event
from cardsort_app.service.bus_port import EventBus, PublishError
from cardsort_app.service.store_port import Store

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
RECOVER_PAGE = 500
#: Events handed to the bus at once when a backlog has built up (an outage, a burst).
BATCH = 200
#: Attempts for a batch failing with an error that is not a PublishError.
MAX_UNEXPECTED = 5
#: Published events are marked in the log this long after their publish, every session's at once: a mark
#: is bookkeeping (a crash before it only republishes them, and subscribers apply by seq), and one per
#: change cost a write transaction and two thread hand-offs on the command path's loop. `flush` marks now.
MARK_AFTER_S = 0.25


def backoff(attempt: int, first: float = RETRY_FIRST_S, cap: float = RETRY_MAX_S) -> float:
    """Exponential backoff with "equal jitter": half of the step fixed, half random, capped."""
    step = min(cap, first * 2 ** max(attempt, 0))
    return step / 2 + random.uniform(0, step / 2)


class OutboxRelay:
    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._queues: defaultdict[str, deque[Event]] = defaultdict(deque)
        self._queued: defaultdict[str, set[int]] = defaultdict(set)  # seqs in the queue (no doubles)
        self._workers: dict[str, asyncio.Task] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._to_mark: dict[str, set[int]] = {}  # per session: seqs published, not marked yet
        self._marking: set[str] = set()  # sessions whose marks are being written
        self._marker: asyncio.Task | None = None  # one for every session (`_run_marker`)
        self._pause: asyncio.Future[None] | None = None  # the marker's wait, cut short by a flush
        self._flushing = 0  # while somebody flushes, marks are written without waiting
        self.retries = 0
        self.refused = 0  # events given up after a permanent error (still in the log)

    def submit(self, event: Event) -> None:
        """Queue a sequenced event for publishing (returns at once; a repeat of a queued seq is ignored)."""
        code = event.session_code
        if event.seq is None or event.seq in self._queued[code]:
            return
        self._queued[code].add(event.seq)
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
        """Wait until everything queued so far (for one session, or all) is handled and marked."""
        idles = [self._idle[code]] if code in self._idle else [] if code else list(self._idle.values())
        self._flushing += 1
        self._hurry()
        try:
            for idle in idles:
                await idle.wait()
        finally:
            self._flushing -= 1

    async def _drain(self, code: str) -> None:
        queue = self._queues[code]
        while queue:
            batch = [queue[i] for i in range(min(len(queue), BATCH))]
            published = await self._contiguous(code, batch)
            await self._publish(code, published)
            for event in batch:
                queue.popleft()
                self._queued[code].discard(event.seq or 0)
            self._mark(code, [e.seq or 0 for e in published])
        self._settle(code)

    def _settle(self, code: str) -> None:
        """The session is idle once nothing of it waits to be published or marked: a flush returns, and
        its entries go, so thousands of finished sessions cost no memory (a later submit recreates them)."""
        queue = self._queues.get(code)
        if queue or code in self._to_mark or code in self._marking:
            return
        worker = self._workers.get(code)
        if worker is not None and not worker.done() and worker is not asyncio.current_task():
            return  # a drain that has not started yet (its queue is about to fill)
        if (idle := self._idle.pop(code, None)) is not None:
            idle.set()
        self._queues.pop(code, None)
        self._workers.pop(code, None)
        if not self._queued.get(code, True):
            del self._queued[code]

    async def _contiguous(self, code: str, batch: list[Event]) -> list[Event]:
        """A backlog with holes (other workers' events between ours, after an outage) is filled from the
        log, so the bus can pack it into a few contiguous ranges instead of one message per run. The
        extra events are harmless repeats for subscribers (they apply by seq)."""
        if len(batch) < 2:
            return batch
        seqs = sorted(e.seq or 0 for e in batch)
        if seqs[-1] - seqs[0] + 1 == len(seqs) or seqs[-1] - seqs[0] >= 4 * BATCH:
            return batch
        try:
            filled = await self._store.events_after(code, seqs[0] - 1, seqs[-1] - seqs[0] + 1)
        except Exception:  # noqa: BLE001 - the batch as it is still works, in more messages
            log.debug("relay: could not fill the holes of %s up to %s", code, seqs[-1], exc_info=True)
            return batch
        return filled if [e.seq for e in filled][-1:] == [seqs[-1]] else batch

    async def _publish(self, code: str, batch: list[Event]) -> None:
        """Publish `batch` until it is accepted or refused for good (see the module docstring)."""
        attempt = 0
        unexpected = 0
        while True:
            try:
                await self._bus.publish_many(batch)
                return
            except Exception as exc:  # noqa: BLE001 - sorted below; nothing may stop the relay
                if isinstance(exc, PublishError):
                    retryable = exc.retryable
                elif isinstance(exc, OSError | TimeoutError):  # ConnectionError included
                    retryable = True
                else:  # a bug somewhere
                    unexpected += 1
                    log.exception("relay: unexpected error publishing %s seq %s..", code, batch[0].seq)
                    retryable = unexpected < MAX_UNEXPECTED
                if not retryable:
                    self.refused += len(batch)
                    log.warning(
                        "relay: %s seq %s..%s refused for good (%s); other workers read them from the log",
                        code,
                        batch[0].seq,
                        batch[-1].seq,
                        exc,
                    )
                    await self._debug(code, "relay-refused", batch, exc)
                    return
                self.retries += 1
                delay = backoff(attempt)
                attempt += 1
                log.warning(
                    "relay: publish of %s seq %s.. failed (%s); retry %d in %.2fs",
                    code,
                    batch[0].seq,
                    exc,
                    attempt,
                    delay,
                )
                if attempt == 1:
                    await self._debug(code, "relay-retry", batch, exc)
                await asyncio.sleep(delay)

    def _mark(self, code: str, seqs: list[int]) -> None:
        """Mark exactly what was published, in the background and a little later (`MARK_AFTER_S`, with
        every other session's): the next publish need not wait for the write. Only these seqs: another
        worker's event between them may still wait for its relay."""
        self._to_mark.setdefault(code, set()).update(seqs)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.get_running_loop().create_task(self._run_marker())

    def _hurry(self) -> None:
        if self._pause is not None and not self._pause.done():
            self._pause.set_result(None)

    async def _run_marker(self) -> None:
        loop = asyncio.get_running_loop()
        while self._to_mark:
            if not self._flushing:
                self._pause = loop.create_future()
                timer = loop.call_later(MARK_AFTER_S, self._hurry)
                try:
                    await self._pause
                finally:
                    timer.cancel()
                    self._pause = None
            pending, self._to_mark = self._to_mark, {}
            self._marking.update(pending)
            for code, seqs in pending.items():
                try:
                    await self._store.mark_published(code, seqs)
                except Exception:  # still unpublished in the log: a later recover() republishes, harmlessly
                    log.exception("relay: marking %d event(s) of %s published failed", len(seqs), code)
                finally:
                    self._marking.discard(code)
                    self._settle(code)

    async def _debug(self, code: str, kind: str, batch: list[Event], exc: Exception) -> None:
        try:  # diagnostics are best effort
            detail = {"seq": batch[0].seq, "last": batch[-1].seq, "error": str(exc)[:200]}
            await self._bus.debug(code, kind, detail)
        except Exception:  # noqa: BLE001
            log.debug("relay: diagnostic for %s not sent", code, exc_info=True)

    async def close(self) -> None:
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        if self._marker is not None and not self._marker.done():  # what was published gets marked now
            self._flushing += 1
            self._hurry()
            await asyncio.gather(self._marker, return_exceptions=True)
            self._flushing -= 1
        self._marker = None
