"""EventStore behaviour, on SQLite and PostgreSQL alike (see conftest's ``db_url``)."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cardsort_app.domain.events import Event, InvalidEvent
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.state import SessionState
from cardsort_app.store.errors import (
    DuplicateEventId,
    ParticipantExists,
    SessionExists,
    UnknownSession,
)
from cardsort_app.store.eventstore import EventStore, SessionRecord
from cardsort_app.store.tables import snapshots_table

from .helpers import DECK, created, joined, moves, new_code, trace_group_writes


def _session(store: EventStore) -> str:
    code = new_code()
    store.create_session(code, "Store test", DECK, "key-hash")
    return code


def _history(code: str, n_moves: int) -> list[Event]:
    """SESSION_CREATED, two joins, then ``n_moves`` valid moves of the first participant."""
    state = SessionState.empty(code)
    events = [created(code)]
    state = reduce(state, events[0])
    for pid, name in (("p1", "Ann"), ("p2", "Bob")):
        events.append(joined(state, pid, name))
        state = reduce(state, events[-1])
    more, _ = moves(state, "p1", n_moves)
    return events + more


def _append_all(store: EventStore, events: list[Event]) -> list[Event]:
    return [store.append(e) for e in events]


def test_create_and_get_session(store: EventStore) -> None:
    code = _session(store)
    rec = store.get_session(code)
    assert isinstance(rec, SessionRecord)
    assert (rec.code, rec.title, rec.deck, rec.facilitator_key_hash, rec.last_seq) == (
        code,
        "Store test",
        DECK,
        "key-hash",
        0,
    )
    assert rec.created_at.tzinfo is not None
    assert abs(rec.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.title = "x"  # type: ignore[misc]
    with pytest.raises(SessionExists):
        store.create_session(code, "again", DECK, "other")
    assert store.get_session(code).title == "Store test"  # type: ignore[union-attr]
    assert store.get_session(new_code()) is None
    store.ping()


def test_participants(store: EventStore) -> None:
    code = _session(store)
    assert store.participant_token_hash(code, "p1") is None
    store.add_participant(code, "p1", "hash-1")
    store.add_participant(code, "p1", "hash-1")  # idempotent
    store.add_participant(code, "p2", "hash-2")
    assert store.participant_token_hash(code, "p1") == "hash-1"
    assert store.participant_token_hash(code, "p2") == "hash-2"
    with pytest.raises(ParticipantExists):
        store.add_participant(code, "p1", "someone-else")
    assert store.participant_token_hash(code, "p1") == "hash-1"
    with pytest.raises(UnknownSession):
        store.add_participant(new_code(), "p1", "hash-1")


def test_the_same_participant_registered_at_once_by_several_writers_is_one_row(store: EventStore) -> None:
    """A join sent again while its first copy is still being decided (another worker, a double click):
    both register the same id and hash at once; neither fails, one row stays (PostgreSQL takes no table
    lock, so the second insert meets the first one's primary key)."""
    code = _session(store)
    for round_ in range(5):
        barrier = threading.Barrier(4)

        def register(pid: str = f"p{round_}", barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            store.add_participant(code, pid, "hash-same")

        with ThreadPoolExecutor(4) as pool:
            for done in [pool.submit(register) for _ in range(4)]:
                done.result()
        assert store.participant_token_hash(code, f"p{round_}") == "hash-same"


def test_append_assigns_consecutive_seqs(store: EventStore) -> None:
    code = _session(store)
    events = _history(code, 20)
    stored = _append_all(store, events)
    assert [e.seq for e in stored] == list(range(1, len(events) + 1))
    assert stored == [e.sequenced(i) for i, e in enumerate(events, 1)]
    assert store.last_seq(code) == len(events)
    assert store.get_session(code).last_seq == len(events)  # type: ignore[union-attr]
    assert store.events_after(code, 0) == stored
    assert store.get_event(events[5].id) == stored[5]


def test_reappend_is_idempotent(store: EventStore) -> None:
    code = _session(store)
    events = _history(code, 3)
    stored = _append_all(store, events)
    again = store.append(events[1])
    assert again == stored[1] and again.seq == 2
    assert store.append(stored[1]) == stored[1]  # an already sequenced copy, too
    assert store.last_seq(code) == len(events)
    assert len(store.events_after(code, 0)) == len(events)


def test_unknown_session(store: EventStore) -> None:
    code = new_code()
    with pytest.raises(UnknownSession):
        store.append(created(code))
    with pytest.raises(UnknownSession):
        store.last_seq(code)
    with pytest.raises(UnknownSession):
        store.load(code)
    with pytest.raises(UnknownSession):
        store.load_full(code)
    with pytest.raises(UnknownSession):
        store.save_snapshot(code, replay([created(code).sequenced(1)]))
    assert store.events_after(code, 0) == []
    assert store.get_session(code) is None


def test_event_id_of_another_session_is_refused(store: EventStore) -> None:
    a, b = _session(store), _session(store)
    first = store.append(created(a))
    clash = created(b).model_copy(update={"id": first.id})
    with pytest.raises(DuplicateEventId):
        store.append(clash)
    with pytest.raises(DuplicateEventId):
        store.append_many([clash])
    assert store.last_seq(b) == 0
    assert store.events_after(b, 0) == []


def test_events_after_paging(store: EventStore) -> None:
    code = _session(store)
    stored = _append_all(store, _history(code, 22))  # 25 events
    pages, after = [], 0
    while page := store.events_after(code, after, limit=10):
        pages.append([e.seq for e in page])
        after = page[-1].seq
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    assert store.events_after(code, 20) == stored[20:]
    assert store.events_after(code, 25) == []
    assert store.events_after(code, 0, limit=0) == []
    other = _session(store)
    store.append(created(other))
    assert [e.seq for e in store.events_after(other, 0)] == [1]  # sessions do not mix
    assert len(store.events_after(code, 0)) == 25


def test_load_of_a_session_without_events(store: EventStore) -> None:
    code = _session(store)
    assert store.load(code) == SessionState.empty(code) == store.load_full(code)


def test_snapshot_every_n_and_load_equals_replay(store: EventStore) -> None:
    code = _session(store)
    events = _history(code, 34)  # 37 events: snapshots at 10, 20, 30
    for i, e in enumerate(events, 1):
        store.append(e)
        expected = replay([x.sequenced(j) for j, x in enumerate(events[:i], 1)])
        if i in (1, 9, 10, 11, 30, 37):
            assert store.load(code) == store.load_full(code) == expected
    assert store.snapshot_seqs(code) == [10, 20, 30]
    full = store.load_full(code)
    assert full.version == 37
    assert store.load(code) == full == replay(store.events_after(code, 0))

    # each snapshot is exactly the state at its seq
    with store._engine.connect() as conn:  # white box: read the stored snapshot bodies
        rows = conn.execute(
            sa.select(snapshots_table.c.seq, snapshots_table.c.state).where(
                snapshots_table.c.session_code == code
            )
        ).all()
    sequenced = [e.sequenced(i) for i, e in enumerate(events, 1)]
    for seq, body in rows:
        assert SessionState.from_dict(json.loads(body)) == replay(sequenced[:seq])


def test_load_starts_from_the_newest_snapshot(store: EventStore) -> None:
    code = _session(store)
    events = _history(code, 10)  # 13 events, snapshot at 10
    _append_all(store, events)
    at12 = replay(store.events_after(code, 0, limit=12))
    marked = dataclasses.replace(at12, title="from the snapshot")
    store.save_snapshot(code, marked)
    store.save_snapshot(code, marked)  # no-op, not an error
    assert store.snapshot_seqs(code) == [10, 12]
    assert store.load(code).title == "from the snapshot"  # load = snapshot + events after it
    assert store.load(code).version == 13
    assert store.load_full(code).title == "Store test"  # load_full ignores snapshots
    with pytest.raises(ValueError):
        store.save_snapshot(new_code(), marked)


def test_unreadable_snapshot_falls_back_to_the_log(store: EventStore) -> None:
    code = _session(store)
    _append_all(store, _history(code, 12))  # 15 events, snapshot at 10
    with store._engine.begin() as conn:  # white box: a snapshot in a future format
        conn.execute(
            sa.update(snapshots_table)
            .where(snapshots_table.c.session_code == code)
            .values(state=json.dumps({"format": 999}))
        )
    assert store.load(code) == store.load_full(code)


def test_append_many(store: EventStore) -> None:
    code = _session(store)
    events = _history(code, 12)  # 15 events
    first = store.append_many(events[:8])
    assert [e.seq for e in first] == list(range(1, 9))
    assert store.snapshot_seqs(code) == []
    # a batch with already stored ids (and a repeat inside the batch) returns those as stored
    second = store.append_many([events[7], events[8], events[8], *events[9:13]])
    assert [e.seq for e in second] == [8, 9, 9, 10, 11, 12, 13]
    assert store.snapshot_seqs(code) == [10]  # the batch crossed seq 10
    assert [e.seq for e in store.append_many(events[13:])] == [14, 15]
    assert store.load(code) == store.load_full(code) == replay(store.events_after(code, 0))
    assert store.append_many([]) == []
    with pytest.raises(ValueError):
        store.append_many([created(new_code()), created(new_code())])


def test_outbox(store: EventStore) -> None:
    a, b = _session(store), _session(store)
    _append_all(store, _history(a, 3))  # 6 events
    _append_all(store, _history(b, 1))  # 4 events
    mine = store.unpublished(a)
    assert [e.seq for e in mine] == [1, 2, 3, 4, 5, 6] and {e.session_code for e in mine} == {a}
    assert store.mark_published(a, [1, 2, 4]) == 3  # exactly these: 3 may be another worker's, unpublished
    assert store.mark_published(a, [1, 2, 4]) == 0
    assert [e.seq for e in store.unpublished(a)] == [3, 5, 6]
    assert store.mark_published(a, [3]) == 1
    assert [e.seq for e in store.unpublished(a)] == [5, 6]
    assert [e.seq for e in store.unpublished(a, limit=1)] == [5]
    everyone = [(e.session_code, e.seq) for e in store.unpublished(limit=10_000)]
    assert [x for x in everyone if x[0] in (a, b)] == [(a, 5), (a, 6), (b, 1), (b, 2), (b, 3), (b, 4)]
    assert store.mark_published(b, range(1, 101)) == 4
    assert store.unpublished(b) == []


def test_writes_take_the_session_lock(store: EventStore) -> None:
    """SQLite: WAL, busy timeout, foreign keys; a lone append is one INSERT that reads the head itself
    (plain BEGIN for reads); PostgreSQL: the append locks the session row by bumping its counter in the
    very statement that inserts the event (one round trip)."""
    statements: list[str] = []

    @sa.event.listens_for(store._engine, "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).upper())

    code = _session(store)
    writes = trace_group_writes(store)  # the append's group write speaks the driver (store/lane.py)
    store.append(created(code))
    if store.dialect == "sqlite":
        # One statement, its own transaction: it takes the write lock before reading the head off the
        # (session_code, seq) index; no counter row is written.
        (write,) = writes
        assert write.startswith("INSERT INTO EVENTS") and "COALESCE(MAX(SEQ), 0) + 1" in write
        assert "UPDATE SESSIONS" not in write
        statements.clear()
        store.events_after(code, 0)
        assert statements[0] == "BEGIN"
        with store._engine.connect() as conn:
            pragma = {
                p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys")
            }
            assert pragma == {"journal_mode": "wal", "foreign_keys": 1}
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    else:
        (write,) = writes
        assert "UPDATE SESSIONS SET LAST_SEQ = LAST_SEQ + 1 WHERE CODE" in write
        assert "INSERT INTO EVENTS" in write


def test_an_event_that_bypassed_validation_is_refused(store: EventStore) -> None:
    code = _session(store)
    bad = created(code).model_copy(update={"participant_id": ""})  # model_copy does not validate
    with pytest.raises(InvalidEvent):
        store.append(bad)
    huge = created(code).model_copy(update={"id": "x" * 20_000})
    with pytest.raises(InvalidEvent):
        store.append(huge)
    assert store.last_seq(code) == 0
    assert store.append(created(code)).seq == 1
