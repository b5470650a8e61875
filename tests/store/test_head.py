"""The session's head (its newest seq) and the lone append's path.

SQLite takes the next seq off UNIQUE(session_code, seq)'s index in the INSERT itself and keeps no counter
row; every reader takes the head as ``max(seq)`` (PostgreSQL keeps its counter, equal to it). A lone
append on an idle lane runs on its caller's thread, in one statement that is committed before it returns.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.store import migrate
from cardsort_app.store.appender import Prepared
from cardsort_app.store.eventstore import EventStore
from cardsort_app.store.group_commit import GroupCommitter, Job, Planned

from .helpers import DECK, created, joined, moves, new_code


def _events_stored(url: str, code: str) -> list[int]:
    """The seqs of ``code`` as a connection of its own sees them (nothing shared with the store)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT seq FROM events WHERE session_code = :c ORDER BY seq"), {"c": code}
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def test_every_writer_and_reader_agrees_on_the_head(db_url: str) -> None:
    """append, append_many, append_decided's fast and full paths: gapless, and every reader's head is the
    log's newest seq."""
    with EventStore(db_url, snapshot_every=1000) as store:
        code = new_code()
        store.create_session(code, "t", DECK, "h")
        assert store.last_seq(code) == 0 and store.get_session(code).last_seq == 0  # type: ignore[union-attr]
        state = replay([store.append(created(code))])
        state = reduce(state, store.append(joined(state, "ann", "Ann")))
        batch, after = moves(state, "ann", 3)
        assert [e.seq for e in store.append_many(batch)] == [3, 4, 5]
        more, _ = moves(after, "ann", 1)
        _, fast = store.append_decided(code, after, lambda s: more[0])  # base is the head: the fast path
        tail, full = store.append_decided(code, state, lambda s: moves(s, "ann", 1)[0][0])  # stale: full path
        assert fast is not None and full is not None
        assert (fast.seq, full.seq, [e.seq for e in tail]) == (6, 7, [3, 4, 5, 6])
        assert store.last_seq(code) == 7
        assert store.get_session(code).last_seq == 7  # type: ignore[union-attr]
        assert _events_stored(db_url, code) == list(range(1, 8))


def test_a_lone_append_is_committed_when_it_returns(db_url: str) -> None:
    """Acknowledged means committed: a connection of its own sees the event the moment append returns."""
    with EventStore(db_url) as store:
        code = new_code()
        store.create_session(code, "t", DECK, "h")
        for seq in (1, 2):
            event = created(code) if seq == 1 else joined(replay(store.events_after(code, 0)), "ann", "Ann")
            assert store.append(event).seq == seq
            assert _events_stored(db_url, code) == list(range(1, seq + 1))


def test_sqlite_sequences_off_the_log_whatever_the_counter_says(tmp_path: Path) -> None:
    """SQLite keeps no counter: a ``sessions.last_seq`` left anywhere (e.g. by an older version) changes
    nothing, the next seq is the log's newest plus one and every reader reports the log's head."""
    url = f"sqlite:///{tmp_path / 'head.db'}"
    migrate.upgrade(url)
    with EventStore(url) as store:
        code = new_code()
        store.create_session(code, "t", DECK, "h")
        state = replay([store.append(created(code))])
        with store._engine.begin() as conn:
            conn.execute(sa.text("UPDATE sessions SET last_seq = 40 WHERE code = :c"), {"c": code})
        assert store.append(joined(state, "ann", "Ann")).seq == 2
        assert store.last_seq(code) == 2 and store.get_session(code).last_seq == 2  # type: ignore[union-attr]
        with store._engine.connect() as conn:
            counter = conn.execute(sa.text("SELECT last_seq FROM sessions WHERE code = :c"), {"c": code})
            assert counter.scalar_one() == 40  # not written by the append


def test_a_lone_job_on_an_idle_lane_runs_on_its_callers_thread() -> None:
    """No queue, no hand-off: the caller plans, stores and settles its own job, and the lane is idle
    again afterwards (the next job is alone too)."""
    threads: list[int] = []
    stored: list[list[str]] = []

    def store_many(items: list[Planned]) -> dict[str, int]:
        threads.append(threading.get_ident())
        stored.append([i.code for i in items])
        return {i.event.event.id: 1 for i in items}

    lane = GroupCommitter(store_many, lambda: None)
    p = Prepared(created("ABCD12"))
    for _ in range(2):
        job = Job("ABCD12", lambda: Planned("ABCD12", p), p.sequenced, lambda conn: None, lambda exc: None)
        assert lane.submit(job).seq == 1
        assert job.wake is None and lane.load == 0
    assert threads == [threading.get_ident()] * 2 and stored == [["ABCD12"], ["ABCD12"]]
