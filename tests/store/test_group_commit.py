"""Group commit (store/group_commit.py): concurrent appends share one write, each caller is answered only
after its own event is committed, and one caller's bad event never costs another its append."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from cardsort_app.domain import rules
from cardsort_app.domain.events import Event, InvalidEvent, Pile
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.rules import DomainError
from cardsort_app.domain.state import SessionState
from cardsort_app.store import migrate
from cardsort_app.store.async_store import AsyncStore
from cardsort_app.store.errors import DuplicateEventId, StoreUnavailable, UnknownSession
from cardsort_app.store.eventstore import IDLE_PING_AFTER_S, EventStore
from cardsort_app.store.group_commit import Job
from tests.support.databases import Database

from .helpers import DECK, created, joined, moves, new_code, trace_group_writes

SESSIONS = 6
PER_SESSION = 40


@pytest.fixture
def store(db_url: str) -> Iterator[EventStore]:
    """One write lane (PostgreSQL's default is several), so that the tests can build a group."""
    s = EventStore(db_url, snapshot_every=10, write_lanes=1)
    yield s
    s.dispose()


def _session(store: EventStore, pid: str = "ann", code: str | None = None) -> tuple[str, SessionState]:
    code = code or new_code()
    store.create_session(code, "t", DECK, "h")
    state = replay([store.append(created(code))])
    state = reduce(state, store.append(joined(state, pid, pid.title())))
    return code, state


def _hold_the_lead(store: EventStore) -> tuple[threading.Event, Future]:
    """Make a job lead and wait inside its plan, so that the next jobs queue up and form ONE group."""
    entered, go = threading.Event(), threading.Event()

    def plan() -> None:
        entered.set()
        go.wait(30)

    job = Job("", plan, lambda seq: None, lambda conn: None, lambda exc: None)
    pool = ThreadPoolExecutor(1)
    held = pool.submit(store._group.submit, job)
    pool.shutdown(wait=False)
    assert entered.wait(10)
    return go, held


def _queue_then_release(store: EventStore, go: threading.Event, calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call (each queues behind the held lead), then release them together; their outcomes."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        deadline = time.monotonic() + 10
        while len(store._group._queue) < len(calls):
            assert time.monotonic() < deadline, "the calls did not queue"
            time.sleep(0.001)
        go.set()
        out: list[Any] = []
        for f in futures:
            try:
                out.append(f.result(30))
            except Exception as exc:
                out.append(exc)
    return out


@pytest.mark.parametrize("lanes", [1, 2])  # 2 lanes for 6 writers: several always wait for a lane
def test_concurrent_writers_on_many_sessions_share_commits(db_url: str, lanes: int) -> None:
    with EventStore(db_url, snapshot_every=10, write_lanes=lanes) as store:
        _many_writers(store)


def _many_writers(store: EventStore) -> None:
    sessions = [_session(store, f"p{i}") for i in range(SESSIONS)]
    batches = [moves(state, f"p{i}", PER_SESSION)[0] for i, (_, state) in enumerate(sessions)]
    writes = trace_group_writes(store)
    barrier = threading.Barrier(SESSIONS)

    def writer(i: int) -> list[Event]:
        barrier.wait(30)
        return [store.append(e) for e in batches[i]]

    with ThreadPoolExecutor(SESSIONS) as pool:
        acked = list(pool.map(writer, range(SESSIONS)))
    for (code, _), events, got in zip(sessions, batches, acked, strict=True):
        log = store.events_after(code, 0)
        assert [e.seq for e in log] == list(range(1, PER_SESSION + 3))  # gapless, no duplicate
        assert log[2:] == got  # every acknowledged event is in the log, as acknowledged, in order
        assert [e.id for e in got] == [e.id for e in events]
        assert store.last_seq(code) == PER_SESSION + 2
    # Grouped: PostgreSQL stores a group with one (autocommit) statement, SQLite in one transaction.
    inserts = sum("INSERT INTO EVENTS" in w for w in writes)
    shared = inserts if store.dialect == "postgresql" else writes.count("COMMIT")
    assert 0 < shared < SESSIONS * PER_SESSION
    if store.dialect == "sqlite":
        assert inserts == SESSIONS * PER_SESSION  # one insert per event, several per transaction


def test_one_bad_event_does_not_cost_the_others_their_append(store: EventStore) -> None:
    (a, sa_), (b, sb), (c, sc) = _session(store), _session(store), _session(store)
    clash = rules.move_card(sc, "ann", sc.card_ids[0], Pile.IMPORTANT)
    stored_clash = store.append(clash)  # this id now belongs to session c
    stolen = rules.move_card(sb, "ann", sb.card_ids[0], Pile.IMPORTANT).model_copy(update={"id": clash.id})
    good_a = rules.move_card(sa_, "ann", sa_.card_ids[0], Pile.IMPORTANT)
    gone = new_code()  # a session that does not exist
    decided = rules.move_card(sb, "ann", sb.card_ids[1], Pile.IMPORTANT)

    def refused(state: SessionState) -> Event:
        raise DomainError("not now")

    go, held = _hold_the_lead(store)
    many: list[Any] = []
    real = store._group._store_many
    store._group._store_many = lambda items: many.append(len(items)) or real(items)
    try:
        out = _queue_then_release(
            store,
            go,
            [
                lambda: store.append(good_a),
                lambda: store.append(stolen),  # the id of c's event: refused, alone
                lambda: store.append(created(gone)),  # unknown session
                lambda: store.append_decided(b, sb, lambda s: decided),
                lambda: store.append_decided(c, sc, refused),  # the rules refuse it
            ],
        )
    finally:
        store._group._store_many = real
    held.result(10)
    assert many and many[0] >= 3  # they were one group
    assert out[0] == good_a.sequenced(3)
    assert isinstance(out[1], DuplicateEventId)
    assert isinstance(out[2], UnknownSession)
    assert out[3] == ([], decided.sequenced(3))
    assert isinstance(out[4], DomainError)
    assert [e.id for e in store.events_after(a, 2)] == [good_a.id]
    assert [e.id for e in store.events_after(b, 2)] == [decided.id]
    assert store.events_after(c, 2) == [stored_clash]


def test_a_malformed_event_never_reaches_the_log_even_in_a_group(store: EventStore) -> None:
    (_, sa_), (b, sb) = _session(store), _session(store)
    good = rules.move_card(sa_, "ann", sa_.card_ids[0], Pile.IMPORTANT)
    bad = rules.move_card(sb, "ann", sb.card_ids[0], Pile.IMPORTANT).model_copy(update={"participant_id": ""})
    go, held = _hold_the_lead(store)
    out = _queue_then_release(
        store, go, [lambda: store.append(good), lambda: store.append_decided(b, sb, lambda s: bad)]
    )
    held.result(10)
    assert out[0] == good.sequenced(3)
    assert isinstance(out[1], InvalidEvent)
    assert store.last_seq(b) == 2 and store.events_after(b, 2) == []


def test_a_stale_decision_in_a_group_is_decided_again_on_the_head(store: EventStore) -> None:
    (a, stale), (_, sb) = _session(store), _session(store)
    card = stale.card_ids[0]
    other = store.append(rules.move_card(stale, "ann", card, Pile.IMPORTANT))  # another worker's append
    seen: list[int] = []

    def decide(state: SessionState) -> Event:
        seen.append(state.version)
        return rules.move_card(state, "ann", card, Pile.NOT_IMPORTANT)

    good = rules.move_card(sb, "ann", sb.card_ids[0], Pile.IMPORTANT)
    go, held = _hold_the_lead(store)
    out = _queue_then_release(
        store, go, [lambda: store.append_decided(a, stale, decide), lambda: store.append(good)]
    )
    held.result(10)
    tail, stored = out[0]
    assert tail == [other] and seen[-1] == other.seq
    assert stored.seq == other.seq + 1 and stored.payload.from_pile == Pile.IMPORTANT
    assert out[1] == good.sequenced(3)
    assert store.load_full(a).participant("ann").pile_of(card) == Pile.NOT_IMPORTANT


async def test_twenty_sessions_appending_at_once_wait_for_one_group(db_url: str) -> None:
    """The app's path (AsyncStore): every session's command waits in the same group, not only as many
    as the event loop's default executor has threads."""
    sync = EventStore(db_url, snapshot_every=10, write_lanes=1)
    store = AsyncStore(sync)
    try:
        sessions = [_session(sync) for _ in range(20)]
        moves_ = [rules.move_card(st, "ann", st.card_ids[0], Pile.IMPORTANT) for _, st in sessions]
        go, held = _hold_the_lead(sync)
        tasks = [
            asyncio.ensure_future(store.append_decided(code, st, lambda s, m=m: m))
            for (code, st), m in zip(sessions, moves_, strict=True)
        ]
        deadline = time.monotonic() + 20
        while len(sync._group._queue) < len(tasks):
            assert time.monotonic() < deadline, f"only {len(sync._group._queue)} appends could wait"
            await asyncio.sleep(0.005)
        go.set()
        results = await asyncio.gather(*tasks)
        held.result(10)
        assert [stored for _, stored in results] == [m.sequenced(3) for m in moves_]
        for (code, _), m in zip(sessions, moves_, strict=True):
            assert store.sync.events_after(code, 2) == [m.sequenced(3)]
    finally:
        await store.close()


def test_an_idle_connection_dropped_by_the_server_is_replaced(db_url: str) -> None:
    """PostgreSQL: connections are pinged only after sitting idle; one the server dropped meanwhile is
    replaced before the append uses it (SQLite has no server to lose)."""
    if not db_url.startswith("postgresql"):
        store = EventStore(db_url)
        code, _ = _session(store)
        assert store.last_seq(code) == 2
        store.dispose()
        return
    name = f"cardsort-ping-{new_code()}"
    store = EventStore(db_url, engine_kwargs={"connect_args": {"application_name": name}})
    try:
        code, state = _session(store)
        admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            dropped = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :n"
                ),
                {"n": name},
            ).scalar_one()
        admin.dispose()
        assert dropped >= 1
        time.sleep(IDLE_PING_AFTER_S + 0.2)
        move = rules.move_card(state, "ann", state.card_ids[0], Pile.IMPORTANT)
        assert store.append(move) == move.sequenced(3)
    finally:
        store.dispose()


def test_a_lane_connection_dropped_while_in_use_fails_that_append_and_is_replaced(db_url: str) -> None:
    """A write lane keeps its connection (store/lane.py). If the server drops it between two appends
    (no idle ping: it was used a moment ago), the append on it fails as unavailable, nothing of it is
    stored, and the next append runs on a new connection."""
    if not db_url.startswith("postgresql"):  # SQLite has no server to lose: the appends simply work
        with EventStore(db_url) as store:
            code, _ = _session(store)
            assert store.last_seq(code) == 2
        return
    name = f"cardsort-lane-{new_code()}"
    store = EventStore(db_url, write_lanes=1, engine_kwargs={"connect_args": {"application_name": name}})
    try:
        code, state = _session(store)
        admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
        with admin.connect() as conn:  # waits (5 s at most) until each backend is gone
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = :n"
                ),
                {"n": name},
            )
        admin.dispose()
        move = rules.move_card(state, "ann", state.card_ids[0], Pile.IMPORTANT)
        with pytest.raises(StoreUnavailable):
            store.append(move)
        assert store.last_seq(code) == 2 and store.events_after(code, 2) == []
        assert store.append(move) == move.sequenced(3)
    finally:
        store.dispose()


def test_a_session_stays_on_its_lane_while_it_has_appends_in_flight(db_url: str) -> None:
    """Lanes are picked per append (an idle one first), but a session with an append in flight keeps
    its lane: its appends stay in order and two lanes never lock the same session row. Another session
    meanwhile writes on an idle lane, without waiting."""
    with EventStore(db_url, snapshot_every=10, write_lanes=2) as store:
        if store.dialect == "sqlite":  # one writer, one lane: nothing to pick
            assert len(store._lanes) == 1
            return
        (a, sa_), (_, sb) = _session(store), _session(store)
        entered, go = threading.Event(), threading.Event()

        def plan() -> None:  # holds a's lane: its job plans nothing and waits
            entered.set()
            go.wait(30)

        with ThreadPoolExecutor(2) as pool:
            hold = Job(a, plan, lambda seq: None, lambda c: None, lambda e: None)
            held = pool.submit(store._submit, a, hold)
            assert entered.wait(10)
            lane = next(lane for lane in store._lanes if lane.load)
            move_a = rules.move_card(sa_, "ann", sa_.card_ids[0], Pile.IMPORTANT)
            queued = pool.submit(store.append, move_a)
            deadline = time.monotonic() + 10
            while lane.load < 2:  # behind the held job, on the same lane, though the other one is idle
                assert time.monotonic() < deadline, "a's second append did not queue on a's lane"
                time.sleep(0.001)
            move_b = rules.move_card(sb, "ann", sb.card_ids[0], Pile.IMPORTANT)
            assert store.append(move_b) == move_b.sequenced(3)  # b: the idle lane, a still held
            assert not queued.done()
            go.set()
            held.result(10)
            assert queued.result(10) == move_a.sequenced(3)
        assert store._pinned == {}  # nothing in flight: no session pinned any more


@pytest.fixture(scope="module")
def pg_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL of this module's own (row-lock order is PostgreSQL's question only: SQLite
    has one writer)."""
    db = Database("postgresql", tmp_path_factory.mktemp("db-lock-order"), prefix="store_lock_order")
    migrate.upgrade(db.url)
    yield db.url
    db.drop()


@pytest.mark.parametrize("held", [0, 1])
def test_a_group_locks_its_sessions_in_code_order(pg_db_url: str, held: int) -> None:
    """Two workers' groups over the same sessions must take the session rows' locks in one order, or
    each can hold a row the other waits for: a deadlock, which PostgreSQL breaks only after its
    deadlock_timeout (a 1 s stall, then the appends run again alone). A group takes them in code order
    whatever plan the server picks: here a hash join that scans the sessions table (nested loops and
    merge joins off), whose later code was created first, so the scan meets it first. While the group
    waits for the row another transaction holds, it must hold exactly the rows with a smaller code."""
    url = sa.make_url(pg_db_url)
    name = f"cardsort-lock-order-{new_code()}"  # the store's connections, for pg_stat_activity
    options = f"{url.query.get('options', '')} -c enable_nestloop=off -c enable_mergejoin=off"
    options += f" -c application_name={name}"
    kwargs = {"connect_args": {"options": options}}
    with EventStore(pg_db_url, snapshot_every=10, write_lanes=1, engine_kwargs=kwargs) as store:
        prefix = new_code()[:8]
        (late, late_state), (early, early_state) = (
            _session(store, code=f"{prefix}{s}") for s in ("Z9", "A1")
        )
        codes = [early, late]  # code order
        states = {early: early_state, late: late_state}
        other = sa.create_engine(pg_db_url, poolclass=sa.pool.NullPool)
        try:
            with other.connect() as holder, other.connect() as probe:
                holder.execute(
                    sa.text("SELECT 1 FROM sessions WHERE code = :c FOR UPDATE"), {"c": codes[held]}
                )
                go, lead = _hold_the_lead(store)
                with ThreadPoolExecutor(2) as pool:
                    futures = [pool.submit(store.append, moves(states[c], "ann", 1)[0][0]) for c in codes]
                    deadline = time.monotonic() + 10
                    while len(store._group._queue) < 2:
                        assert time.monotonic() < deadline, "the appends did not queue"
                        time.sleep(0.001)
                    go.set()
                    lead.result(10)
                    _wait_for_a_lock_wait(probe, name)
                    # a smaller code than the held one: the group holds it already; a larger: not taken
                    free = [_try_lock(probe, code) for code in codes]
                    holder.commit()  # the group goes on
                    acked = [f.result(30) for f in futures]
        finally:
            other.dispose()
        expected = [i > held for i in range(len(codes))]
        expected[held] = False  # the holder's
        assert free == expected, (codes, held, free)
        assert [e.seq for e in acked] == [3, 3]
        for code in codes:
            assert store.last_seq(code) == 3


def _wait_for_a_lock_wait(probe: sa.Connection, application_name: str) -> None:
    """Until the store's connection waits for a lock (the group, behind the holder)."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while not probe.execute(waiting, {"n": application_name}).scalar_one():
        assert time.monotonic() < deadline, "the group never waited for the held row"
        probe.rollback()
        time.sleep(0.01)
    probe.rollback()


def _try_lock(probe: sa.Connection, code: str) -> bool:
    """Whether ``code``'s session row is free: locked at once (then released), or held by someone."""
    try:
        probe.execute(sa.text("SELECT 1 FROM sessions WHERE code = :c FOR UPDATE NOWAIT"), {"c": code})
        return True
    except sa.exc.OperationalError:  # lock_not_available
        return False
    finally:
        probe.rollback()
