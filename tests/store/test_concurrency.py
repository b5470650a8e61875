"""Concurrent appends never leave a gap or a duplicate: 8 writers x 500 events, as threads sharing one
store and as separate OS processes, on SQLite and PostgreSQL; racing re-sends of one event store it once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from cardsort_app.domain import rules
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.state import SessionState
from cardsort_app.store.eventstore import EventStore

from .helpers import DECK, created, joined, moves, new_code, writer_events

WRITERS = 8
PER_WRITER = 500
SNAPSHOT_EVERY = 10


def _write(store: EventStore, code: str, writer: int, barrier: Any) -> list[int]:
    """Append this writer's events one transaction each; returns the seqs the store assigned."""
    events, _ = writer_events(code, writer, PER_WRITER)  # built before the start line
    barrier.wait(timeout=120)
    if writer != 0:  # everyone else starts as soon as writer 0 has created the session
        while store.last_seq(code) < 1:
            time.sleep(0.0005)
    return [store.append(e).seq for e in events]


_process_barrier: Any = None


def _init_process(barrier: Any) -> None:
    global _process_barrier
    _process_barrier = barrier


def _process_writer(url: str, code: str, writer: int) -> list[int]:
    store = EventStore(url, snapshot_every=SNAPSHOT_EVERY)
    try:
        return _write(store, code, writer, _process_barrier)
    finally:
        store.dispose()


def _verify(store: EventStore, code: str, seqs_by_writer: list[list[int]]) -> None:
    total = WRITERS * PER_WRITER
    log = store.events_after(code, 0)
    assert [e.seq for e in log] == list(range(1, total + 1))  # no gap, no duplicate
    assert store.last_seq(code) == total
    assert len({e.id for e in log}) == total
    expected_ids: set[str] = set()
    finals: dict[str, SessionState] = {}
    for w, seqs in enumerate(seqs_by_writer):
        assert len(seqs) == PER_WRITER
        assert seqs == sorted(seqs)  # each writer's own order is kept
        events, final = writer_events(code, w, PER_WRITER)
        expected_ids |= {e.id for e in events}
        assert [log[s - 1].id for s in seqs] == [e.id for e in events]
        finals[f"p{w}"] = final
    assert sorted(s for seqs in seqs_by_writer for s in seqs) == list(range(1, total + 1))
    assert {e.id for e in log} == expected_ids

    # the interleaved log is a valid history, and every way of loading it agrees
    state = SessionState.empty(code)
    for e in log:
        rules.check(state, e)
        state = reduce(state, e)
    assert store.load(code) == store.load_full(code) == state == replay(log)
    for pid, final in finals.items():
        assert state.participants[pid].piles == final.participants[pid].piles
    assert store.snapshot_seqs(code) == list(range(SNAPSHOT_EVERY, total + 1, SNAPSHOT_EVERY))


def test_concurrent_writers_threads(db_url: str) -> None:
    code = new_code()
    with EventStore(db_url, snapshot_every=SNAPSHOT_EVERY) as store:
        store.create_session(code, "Store test", DECK, "h")
        barrier = threading.Barrier(WRITERS)
        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [pool.submit(_write, store, code, w, barrier) for w in range(WRITERS)]
            seqs = [f.result() for f in futures]
        _verify(store, code, seqs)


def test_concurrent_writers_processes(db_url: str) -> None:
    code = new_code()
    with EventStore(db_url, snapshot_every=SNAPSHOT_EVERY) as store:
        store.create_session(code, "Store test", DECK, "h")
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(WRITERS)
        with ProcessPoolExecutor(
            WRITERS, mp_context=ctx, initializer=_init_process, initargs=(barrier,)
        ) as pool:
            futures = [pool.submit(_process_writer, db_url, code, w) for w in range(WRITERS)]
            seqs = [f.result(timeout=300) for f in futures]
        _verify(store, code, seqs)


def test_same_event_from_many_threads_is_stored_once(db_url: str) -> None:
    code = new_code()
    with EventStore(db_url, snapshot_every=SNAPSHOT_EVERY) as store:
        store.create_session(code, "Store test", DECK, "h")
        state = reduce(SessionState.empty(code), store.append(created(code)))
        state = reduce(state, store.append(joined(state, "p1", "Ann")))
        events, _ = moves(state, "p1", 15)
        barrier = threading.Barrier(WRITERS)

        def send(event):
            barrier.wait(timeout=30)
            return store.append(event)

        with ThreadPoolExecutor(WRITERS) as pool:
            for i, event in enumerate(events):
                results = list(pool.map(send, [event] * WRITERS))
                assert {r.seq for r in results} == {i + 3}
                assert all(r == event.sequenced(i + 3) for r in results)
        log = store.events_after(code, 0)
        assert [e.seq for e in log] == list(range(1, len(events) + 3))
        assert [e.id for e in log[2:]] == [e.id for e in events]
        assert store.last_seq(code) == len(events) + 2
