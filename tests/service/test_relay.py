"""The outbox relay: every appended event reaches the bus in seq order, even after a failure or a crash."""

from __future__ import annotations

import asyncio

from cardsort_app.bootstrap import build
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.domain.events import Event, Pile
from cardsort_app.service.runtime import Runtime

from .helpers import move, new_session


class FlakyBus(InProcessBus):
    """An in-process bus whose publishes fail while `down` is set (a network outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.published: list[Event] = []
        self.diagnostics: list[str] = []

    async def publish(self, event: Event) -> None:
        if self.down:
            raise ConnectionError("bus unreachable")
        self.published.append(event)
        await super().publish(event)

    async def debug(self, session_code: str, kind: str, detail: dict) -> None:
        self.diagnostics.append(kind)


async def test_publishes_in_order_and_marks_the_log(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    for card in state.card_ids[:5]:
        await move(rt, created.code, ann, card, Pile.IMPORTANT)
    await rt.relay.flush()
    assert rt.store.sync.unpublished(created.code) == []


async def test_published_events_are_marked_without_a_flush(rt: Runtime) -> None:
    """Marks are written a little after the publish, by one marker for every session (one per change cost
    the command path a write and two thread hand-offs): nobody has to flush for them."""
    for name in ("Ann", "Bob", "Cem"):
        created, (who,) = await new_session(rt, name)
        state = await rt.hub.state(created.code)
        await move(rt, created.code, who, state.card_ids[0], Pile.IMPORTANT)
    for _ in range(500):  # no flush: the marker's own pace (bounded wait, not a timed assertion)
        if not rt.store.sync.unpublished():
            break
        await asyncio.sleep(0.01)
    assert rt.store.sync.unpublished() == []


async def test_a_failed_publish_is_retried_until_it_lands(tmp_path) -> None:
    bus = FlakyBus()
    rt = build(f"sqlite:///{tmp_path / 'relay.db'}", bus=bus)
    try:
        created, (ann,) = await new_session(rt, "Ann")
        await rt.relay.flush()
        bus.down = True
        state = await rt.hub.state(created.code)
        made = [await move(rt, created.code, ann, c, Pile.IMPORTANT) for c in state.card_ids[:3]]
        await asyncio.sleep(0.5)
        assert len(rt.store.sync.unpublished(created.code)) == 3  # the log remembers what is pending
        bus.down = False
        await asyncio.wait_for(rt.relay.flush(), 10)
        seqs = [e.seq for e in bus.published if e.session_code == created.code]
        assert seqs == sorted(seqs) and seqs[-3:] == [e.seq for e in made]
        assert "relay-retry" in bus.diagnostics
        assert rt.store.sync.unpublished(created.code) == []
    finally:
        await rt.close()


async def test_a_new_process_publishes_what_a_crashed_one_appended(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    first = build(url, bus=FlakyBus())
    created, (ann,) = await new_session(first, "Ann")
    await first.relay.flush()
    first.bus.down = True  # appended, never published: then the process dies
    state = await first.hub.state(created.code)
    made = [await move(first, created.code, ann, c, Pile.IMPORTANT) for c in state.card_ids[:4]]
    await first.relay.close()
    first.store.sync.dispose()

    bus = FlakyBus()
    second = build(url, bus=bus)
    try:
        await second.start()
        assert [e.seq for e in bus.published] == [e.seq for e in made]
        assert second.store.sync.unpublished() == []
    finally:
        await second.close()


async def test_finished_sessions_leave_nothing_in_the_relay(rt: Runtime) -> None:
    """Thousands of abandoned sessions must cost the relay no memory: once a session's events are
    published and marked, none of its per-session entries (queue, seqs, worker, marker) stays."""
    for _ in range(5):
        created, (ann,) = await new_session(rt, "Ann")
        state = await rt.hub.state(created.code)
        await move(rt, created.code, ann, state.card_ids[0], Pile.IMPORTANT)
    await rt.relay.flush()
    relay = rt.relay
    assert rt.store.sync.unpublished() == []  # the flush wrote the marks (without waiting for their turn)
    assert {
        "queues": dict(relay._queues),
        "queued": dict(relay._queued),
        "workers": relay._workers,
        "idle": relay._idle,
        "to_mark": relay._to_mark,
        "marking": relay._marking,
    } == {"queues": {}, "queued": {}, "workers": {}, "idle": {}, "to_mark": {}, "marking": set()}


async def test_another_workers_publish_never_marks_an_event_this_worker_has_not_published(tmp_path) -> None:
    """Two workers on one log: worker A appends while its bus is down, worker B appends after it and
    publishes. B marks only its own seqs, so A's event stays in the outbox; when A dies, the next
    process's `recover()` still publishes it (before, B marked every seq up to its own)."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    a_bus, b_bus = FlakyBus(), FlakyBus()
    a, b = build(url, bus=a_bus), build(url, bus=b_bus)
    try:
        created, (ann, bea) = await new_session(a, "Ann", "Bea")
        await a.relay.flush()
        a_bus.down = True
        cards = (await a.hub.state(created.code)).card_ids
        stuck = await move(a, created.code, ann, cards[0], Pile.IMPORTANT)
        after = await move(b, created.code, bea, cards[1], Pile.IMPORTANT)
        await asyncio.wait_for(b.relay.flush(), 10)
        assert after.seq > stuck.seq
        assert [e.seq for e in b.store.sync.unpublished(created.code)] == [stuck.seq]
    finally:
        await a.relay.close()
        a.store.sync.dispose()
        await b.close()

    third_bus = FlakyBus()
    third = build(url, bus=third_bus)
    try:
        await third.start()
        assert stuck.seq in [e.seq for e in third_bus.published]
        assert third.store.sync.unpublished() == []
    finally:
        await third.close()
