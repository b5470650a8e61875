"""`EventStore.load_at`: the state right after any seq, whatever order the jumps come in (the replay keeps
recently rebuilt states to start the next jump from), on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest

from cardsort_app.domain.events import Event
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.state import SessionState
from cardsort_app.store.errors import UnknownSession
from cardsort_app.store.eventstore import EventStore

from .helpers import DECK, created, joined, moves, new_code


def _history(code: str, n_moves: int, names: tuple[str, str] = ("Ann", "Bob")) -> list[Event]:
    state = SessionState.empty(code)
    events = [created(code)]
    state = reduce(state, events[0])
    for pid, name in zip(("p1", "p2"), names, strict=True):
        events.append(joined(state, pid, name))
        state = reduce(state, events[-1])
    more, _ = moves(state, "p1", n_moves)
    return events + more


def _new_session(store: EventStore, events_for) -> tuple[str, list[Event]]:
    code = new_code()
    store.create_session(code, "Store test", DECK, "key-hash")
    stored = store.append_many(events_for(code))
    return code, stored


def test_any_jump_in_any_order_equals_the_log_replayed_to_that_seq(store: EventStore) -> None:
    code, stored = _new_session(store, lambda c: _history(c, 44))  # 47 events, snapshots every 10
    head = len(stored)
    rng = random.Random(5)
    # Forward steps (playback), back and forth (a slider drag), far jumps, the same seq twice.
    seqs = [1, 2, 3, 9, 10, 11, 12, 30, 29, 21, 20, 19, 47, 47, 46, 5, 33, 34, 35, 40]
    seqs += [rng.randint(1, head) for _ in range(60)]
    for seq in seqs:
        assert store.load_at(code, seq) == replay(stored[:seq]), seq
    assert store.load_at(code, head + 5) == replay(stored)  # past the head: the head
    assert store.load_at(code, 0) == SessionState.empty(code)
    # A fresh store (nothing cached) agrees.
    other = EventStore(store.url, snapshot_every=store.snapshot_every)
    try:
        for seq in seqs[:20]:
            assert other.load_at(code, seq) == store.load_at(code, seq), seq
    finally:
        other.dispose()


def test_a_session_recreated_under_the_same_code_is_not_answered_from_the_old_one(store: EventStore) -> None:
    """Another process deletes a session (retention) and a new one gets its code: ids tell them apart."""
    code, old = _new_session(store, lambda c: _history(c, 15))
    for seq in (12, 13, 14, 18):
        store.load_at(code, seq)  # remembered
    elsewhere = EventStore(store.url, snapshot_every=store.snapshot_every)
    try:
        elsewhere.delete_session(code)
        elsewhere.create_session(code, "Store test", DECK, "key-hash")
        new = elsewhere.append_many(_history(code, 15, names=("Cy", "Dee")))
    finally:
        elsewhere.dispose()
    for seq in (14, 13, 18, 12, 2):
        got = store.load_at(code, seq)
        assert got == replay(new[:seq]) != replay(old[:seq]), seq


def test_jumps_into_an_unknown_session_fail(store: EventStore) -> None:
    with pytest.raises(UnknownSession):
        store.load_at(new_code(), 3)
    with pytest.raises(UnknownSession):
        store.load_at(new_code(), 0)
