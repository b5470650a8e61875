"""The per-session SQL event log: the single source of truth and the ordering authority.

Every append takes the session's next ``seq`` inside its own transaction, under a lock that serializes
the session's writers - threads or processes - so the log is gapless and duplicate-free. PostgreSQL: the
counter ``sessions.last_seq``, bumped in the statement that inserts the event (the row's lock). SQLite:
one writer at a time (``BEGIN IMMEDIATE`` / the statement's own write lock), so the next seq is read off
UNIQUE(session_code, seq)'s index and ``last_seq`` is not kept there. Readers of a session's head take
``max(seq)`` on both (``_head_of``). ``UNIQUE(event_id)`` makes appends idempotent: re-appending a stored
id returns the stored event. The API is synchronous on purpose; async callers wrap calls in
``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from cardsort_app.domain.events import MAX_EVENT_BYTES, Event, InvalidEvent, parse_event
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.state import SessionState
from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION, parse_versioned
from cardsort_app.service.store_port import SessionRecord

from .appender import Prepared, append_one, store_group_pg, store_group_sqlite
from .errors import (
    DuplicateEventId,
    ParticipantExists,
    SessionExists,
    StoreError,
    StoreUnavailable,
    UnknownSession,
)
from .group_commit import MAX_GROUP, GroupCommitter, Job, Planned
from .lane import IDLE_PING_AFTER_S, LaneConnection
from .tables import events_table, participants_table, sessions_table, snapshots_table, utcnow

__all__ = ["EventStore", "SessionRecord"]

log = logging.getLogger(__name__)

_S = sessions_table.c
_P = participants_table.c
_E = events_table.c
_N = snapshots_table.c

#: Execution option marking a connection whose transaction must start with ``BEGIN IMMEDIATE`` (SQLite).
_WRITE_OPTION = "cardsort_write"

#: One lock per SQLite file shared by every EventStore of this process: threads queue on it instead of
#: polling SQLite's busy handler (which sleeps up to 100 ms per retry); other processes still serialize
#: on BEGIN IMMEDIATE.
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()


def _sqlite_lock(path: str) -> threading.Lock:
    key = os.path.realpath(path)
    with _SQLITE_LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(key, threading.Lock())


#: States ``load_at`` keeps for the next jump (the replay scrubs and plays near its last position). States are
#: immutable and share their unchanged parts, so each costs little beyond what changed.
TRAVEL_CACHE_SIZE = 16


class _TravelCache:
    """A small thread-safe LRU of rebuilt states, each with the id of the event it ends on (to notice a
    session deleted and recreated under the same code by any process: event ids are unique)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], tuple[SessionState, str]] = OrderedDict()
        self._lock = threading.Lock()

    def nearest(self, code: str, seq: int, floor: int) -> tuple[SessionState, str] | None:
        """The newest cached state of ``code`` with floor <= version <= seq."""
        with self._lock:
            best = max(
                (v for c, v in self._items if c == code and floor <= v <= seq),
                default=None,
            )
            if best is None:
                return None
            self._items.move_to_end((code, best))
            return self._items[(code, best)]

    def put(self, code: str, state: SessionState, event_id: str) -> None:
        with self._lock:
            self._items[(code, state.version)] = (state, event_id)
            self._items.move_to_end((code, state.version))
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, code: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == code]:
                del self._items[key]


def _head_of(code: Any) -> Any:
    """The newest seq of session ``code`` (0 before its first event), read off UNIQUE(session_code, seq)'s
    index: the one definition on both databases (SQLite does not keep ``sessions.last_seq``)."""
    return (
        sa.select(sa.func.coalesce(sa.func.max(_E.seq), 0)).where(_E.session_code == code).scalar_subquery()
    )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class EventStore:
    """Append / read / snapshot the per-session event log on SQLite (embedded) or PostgreSQL.

    The schema must already exist (``cardsort_app.store.migrate.upgrade(url)``); the store never creates
    tables. One instance per process is enough: it is thread-safe and pools its connections.
    """

    def __init__(
        self,
        url: str,
        snapshot_every: int = 100,
        *,
        busy_timeout_ms: int = 30_000,
        sqlite_synchronous: str = "NORMAL",
        engine_kwargs: dict[str, Any] | None = None,
        write_lanes: int = 8,
    ) -> None:
        """``sqlite_synchronous=NORMAL`` in WAL mode survives a killed process (SIGKILL) but not a power
        cut; pass ``"FULL"`` to fsync every commit. ``engine_kwargs`` go to ``sqlalchemy.create_engine``."""
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be >= 1")
        self.url = url
        self.snapshot_every = snapshot_every
        self._travel_cache = _TravelCache(TRAVEL_CACHE_SIZE)
        u = sa.make_url(url)
        self.dialect = u.get_backend_name()
        self._write_lock: threading.Lock | None = None
        kwargs = dict(engine_kwargs or {})
        if self.dialect == "sqlite":
            if not u.database or u.database == ":memory:" or "mode=memory" in str(u):
                raise StoreError("in-memory SQLite is not supported: every pooled connection would be empty")
            kwargs.setdefault("pool_size", 8)
            kwargs.setdefault("max_overflow", 16)
            connect_args = kwargs.setdefault("connect_args", {})
            connect_args.setdefault("timeout", busy_timeout_ms / 1000)
            connect_args.setdefault("check_same_thread", False)
            self._engine = sa.create_engine(u, **kwargs)
            self._install_sqlite_hooks(busy_timeout_ms, sqlite_synchronous)
            self._write_lock = _sqlite_lock(u.database)
        else:
            # The write lanes keep a connection each (lane.py); reads and lone writes share the rest.
            kwargs.setdefault("pool_size", 10 + max(1, write_lanes))
            kwargs.setdefault("max_overflow", 20)
            # A ping on every checkout is one more round trip per append; pinging only connections
            # that sat idle (a restarted server drops them while they wait) keeps the protection
            # where it matters (_install_idle_ping). A busy connection that fails is invalidated by
            # SQLAlchemy, and the caller gets StoreUnavailable as before.
            ping_every_checkout = kwargs.pop("pool_pre_ping", False)
            self._engine = sa.create_engine(u, pool_pre_ping=ping_every_checkout, **kwargs)
            if not ping_every_checkout:
                self._install_idle_ping()
        # PostgreSQL commits several groups at once (each on its own connection; the server flushes
        # their WAL together), so appends are spread over `write_lanes` committers (_submit). SQLite
        # has one writer: one lane.
        lanes = 1 if self.dialect == "sqlite" else max(1, write_lanes)
        # Each lane writes its groups on a connection of its own (lane.py), held across groups.
        self._lane_conns = [LaneConnection(self._engine) for _ in range(lanes)]
        self._lanes = [
            GroupCommitter(lambda items, held=held: self._store_many(held, items), self._write)
            for held in self._lane_conns
        ]
        # session code -> [its lane, its appends in flight]: a session stays on one lane while it has
        # appends in flight, so they stay in order and two lanes never lock the same session row.
        self._pinned: dict[str, list[Any]] = {}
        self._pinned_lock = threading.Lock()

    @property
    def _group(self) -> GroupCommitter:
        """The first lane (tests hold it to build a group)."""
        return self._lanes[0]

    def _pick_lane(self) -> GroupCommitter:
        idle = next((lane for lane in self._lanes if lane.load == 0), None)
        if idle is not None:
            return idle
        return max(self._lanes, key=lambda lane: lane.load if lane.load <= MAX_GROUP else -1)

    def _submit(self, code: str, job: Job) -> Any:
        """Run ``job`` on the lane its session is pinned to, else on an idle lane (concurrent writers of
        different sessions write in parallel, none sharing a lane by chance as hashing would), else on
        the lane with the most appends queued: they all go in its next group, one write for all."""
        if len(self._lanes) == 1:
            return self._lanes[0].submit(job)
        with self._pinned_lock:
            pin = self._pinned.get(code)
            if pin is None:
                pin = self._pinned[code] = [self._pick_lane(), 0]
            pin[1] += 1
        try:
            return pin[0].submit(job)
        finally:
            with self._pinned_lock:
                pin[1] -= 1
                if pin[1] == 0:
                    del self._pinned[code]

    # --- engine plumbing -----------------------------------------------------------------------------
    def _install_sqlite_hooks(self, busy_timeout_ms: int, synchronous: str) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"bad sqlite_synchronous {synchronous!r}")

        @sa_event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # pysqlite must not emit its own BEGIN: we do, below
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                cur.execute("PRAGMA foreign_keys = ON")
            finally:
                cur.close()

        @sa_event.listens_for(self._engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the write lock up front: a DEFERRED transaction that reads and then writes can
            # fail with SQLITE_BUSY without waiting (lock upgrade), IMMEDIATE waits for its turn instead.
            immediate = conn.get_execution_options().get(_WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _install_idle_ping(self) -> None:
        dialect = self._engine.dialect

        @sa_event.listens_for(self._engine, "checkin")
        def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
            record.info["idle_since"] = time.monotonic()

        @sa_event.listens_for(self._engine, "checkout")
        def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            since = record.info.get("idle_since")
            if since is None or time.monotonic() - since < IDLE_PING_AFTER_S:
                return
            try:
                alive = dialect.do_ping(dbapi_conn)
            except Exception as exc:  # the pool replaces the connection and tries again
                raise sa.exc.DisconnectionError(str(exc)) from exc
            if not alive:
                raise sa.exc.DisconnectionError("the connection did not answer a ping")

    @contextmanager
    def _tx(self, write: bool) -> Iterator[sa.Connection]:
        lock: AbstractContextManager[Any] = self._write_lock if write and self._write_lock else nullcontext()
        try:
            with lock, self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{_WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc

    def _write(self) -> AbstractContextManager[sa.Connection]:
        return self._tx(write=True)

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return self._tx(write=False)

    def dispose(self) -> None:
        """Close every pooled connection (call on shutdown, and in a child process after fork)."""
        for held in self._lane_conns:
            held.close()
        self._engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers (for health checks)."""
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    # --- sessions and participants -------------------------------------------------------------------
    def create_session(self, code: str, title: str, deck: str, facilitator_key_hash: str) -> SessionRecord:
        """Insert the session row (``last_seq`` 0); the service then appends SESSION_CREATED."""
        now = utcnow()
        try:
            with self._write() as conn:
                conn.execute(
                    sa.insert(sessions_table).values(
                        code=code,
                        title=title,
                        deck=deck,
                        facilitator_key_hash=facilitator_key_hash,
                        last_seq=0,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise SessionExists(code) from exc
        return SessionRecord(code, title, deck, facilitator_key_hash, 0, now)

    def get_session(self, code: str) -> SessionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(
                    _S.code,
                    _S.title,
                    _S.deck,
                    _S.facilitator_key_hash,
                    _head_of(_S.code),
                    _S.created_at,
                    _S.read_only,
                ).where(_S.code == code)
            ).first()
        if row is None:
            return None
        return SessionRecord(row[0], row[1], row[2], row[3], row[4], _aware(row[5]), bool(row[6]))

    def import_session(
        self,
        code: str,
        title: str,
        deck: str,
        facilitator_key_hash: str,
        events: Sequence[Event],
        snapshots: Sequence[SessionState] = (),
    ) -> SessionRecord:
        """Create a read-only session holding ``events`` (already sequenced 1..n, verified by the caller)
        and its ``snapshots``, in ONE transaction: an import lands whole or not at all. The events count
        as published (they are history, not news)."""
        now = utcnow()
        rows = []
        for e in events:
            row = self._row(parse_event(e.to_json()), now)  # never store what does not round-trip
            row["published"] = True
            rows.append(row)
        snaps = [
            {
                "session_code": code,
                "seq": st.version,
                "state": json.dumps(st.to_dict(), separators=(",", ":"), ensure_ascii=False),
                "created_at": now,
            }
            for st in snapshots
        ]
        last = rows[-1]["seq"] if rows else 0
        try:
            with self._write() as conn:
                conn.execute(
                    sa.insert(sessions_table).values(
                        code=code,
                        title=title,
                        deck=deck,
                        facilitator_key_hash=facilitator_key_hash,
                        last_seq=last,
                        created_at=now,
                        read_only=True,
                    )
                )
                for i in range(0, len(rows), 5000):
                    conn.execute(sa.insert(events_table), rows[i : i + 5000])
                if snaps:
                    conn.execute(sa.insert(snapshots_table), snaps)
        except IntegrityError as exc:
            raise SessionExists(code) from exc
        return SessionRecord(code, title, deck, facilitator_key_hash, last, now, True)

    def load_at(self, code: str, seq: int) -> SessionState:
        """The session as it was right after ``seq``: time travel for the dashboard's replay and the replay
        tool. Raises UnknownSession.

        Starts from the nearest earlier state it knows: a recently rebuilt one (``_TravelCache``: scrubbing
        and playback jump close to the last position) or else the newest snapshot at or before ``seq``,
        then reduces the events up to ``seq``."""
        with self._read() as conn:
            if seq <= 0:
                self._require_session(conn, code)
                return SessionState.empty(code)
            return self._travel(conn, code, seq)

    def add_participant(self, code: str, participant_id: str, token_hash: str) -> None:
        """Register a participant's token hash; repeating it with the same hash is a no-op, also when two
        writers register it at once (a join sent again while its first copy is still being decided).

        Raises UnknownSession, or ParticipantExists when the id is taken under another hash (the
        existing registration is never overwritten: that would hand the identity to someone else).
        """
        try:
            with self._write() as conn:
                if conn.execute(sa.select(_S.code).where(_S.code == code)).first() is None:
                    raise UnknownSession(code)
                stored = conn.execute(
                    sa.select(_P.token_hash).where(
                        _P.session_code == code, _P.participant_id == participant_id
                    )
                ).scalar_one_or_none()
                if stored is None:
                    conn.execute(
                        sa.insert(participants_table).values(
                            session_code=code,
                            participant_id=participant_id,
                            token_hash=token_hash,
                            created_at=utcnow(),
                        )
                    )
        except IntegrityError:  # another writer inserted the same id first (PostgreSQL: no table lock)
            stored = self.participant_token_hash(code, participant_id)
            if stored is None:
                raise
        if stored is not None and stored != token_hash:
            raise ParticipantExists(code, participant_id)

    def participant_token_hash(self, code: str, participant_id: str) -> str | None:
        with self._read() as conn:
            return conn.execute(
                sa.select(_P.token_hash).where(_P.session_code == code, _P.participant_id == participant_id)
            ).scalar_one_or_none()

    # --- appending -----------------------------------------------------------------------------------
    def append(self, event: Event) -> Event:
        """Sequence and store ``event``; returns it with its ``seq``.

        Idempotent on ``event.id``: an id already stored for this session returns the stored event (its
        original seq and content) and appends nothing. Raises UnknownSession,
        DuplicateEventId (id used by another session), InvalidEvent (the domain's ValueError: the event
        does not survive its own wire round trip) or StoreUnavailable. Concurrent appends share a
        commit (group_commit.py); each returns only once its own event is committed.
        """
        # Validated and serialised once, before the write lock: the lock holder does only SQL.
        p = Prepared(event)
        code = p.event.session_code

        def work(conn: sa.Connection) -> Event:
            seq = append_one(conn, self.dialect, code, p, utcnow())
            if seq is None:
                raise UnknownSession(code)
            return p.sequenced(seq)

        def recover(exc: Exception) -> Event:  # UNIQUE(event_id): a retry of a stored event, or a clash
            return self._already_stored(code, p.event.id, exc)

        done: Event = self._submit(code, Job(code, lambda: Planned(code, p), p.sequenced, work, recover))
        self._maybe_snapshot(code, done.seq, done.seq)  # a no-op unless done.seq is a multiple
        return done

    def append_many(self, events: Sequence[Event]) -> list[Event]:
        """Append several events of one session in one transaction (consecutive seqs, all or nothing).

        Already stored ids come back as stored (idempotent, like `append`).
        """
        return self._append(list(events)) if events else []

    def append_decided(
        self, code: str, base: SessionState, decide: Callable[[SessionState], Event | None]
    ) -> tuple[list[Event], Event | None]:
        """Decide and append in one transaction, under the session's lock.

        ``decide`` (pure, quick: it runs while the lock is held) sees ``base`` brought level with the log,
        so a command is never decided on a stale projection and no writer can starve another by winning
        the race for the next seq. Returns the events that were missing from ``base`` (the caller applies
        them) and the stored event (None when ``decide`` returned None). Exceptions from ``decide`` (e.g.
        a rule's DomainError) roll back and propagate. Idempotent on the decided event's id.

        Fast path: ``decide(base)`` is stored only where the session's counter is still
        ``base.version``, in the same statement that moves it (group_commit.py). Otherwise - stale
        ``base``, or ``decide`` raised or decided nothing - the session row is locked, the missing
        events read, and ``decide`` runs on the head. A decision taken on a stale state is never
        stored nor reported.
        """
        first: list[Any] = []  # the fast path's decision on `base`: [event or None, error or None]
        decided_ids: list[str] = []

        def plan() -> Planned | None:
            try:
                event = decide(base)
                p = Prepared(event) if event is not None and event.session_code == code else None
            except Exception as exc:  # judged again on the head, unless base is the head
                first[:] = [None, exc]
                return None
            first[:] = [p, None]
            if p is None:
                return None
            decided_ids.append(p.event.id)
            return Planned(code, p, base.version)

        def done(seq: int) -> tuple[list[Event], Event | None]:
            return [], first[0].sequenced(seq)

        def work(conn: sa.Connection) -> tuple[list[Event], Event | None]:
            last_seq = self._lock_head(conn, code)
            if last_seq is None:
                raise UnknownSession(code)
            tail: list[Event] = []
            if last_seq == base.version and first and first[0] is not None:
                p = first[0]  # base is the head: the first decision stands
            else:
                if last_seq != base.version:
                    tail = self._events_after(conn, code, base.version, upto=last_seq)
                decided = decide(replay(tail, base))
                if decided is None:
                    return tail, None
                if decided.session_code != code:
                    raise ValueError(f"append_decided: event for {decided.session_code} in session {code}")
                p = Prepared(decided)
                decided_ids.append(p.event.id)
            seq = append_one(conn, self.dialect, code, p, utcnow(), expected=last_seq)
            if seq is None:  # pragma: no cover - the row is locked: its counter cannot have moved
                raise StoreError(f"append to {code}: the session counter moved under its lock")
            return tail, p.sequenced(seq)

        def recover(exc: Exception) -> tuple[list[Event], Event | None]:
            # UNIQUE(event_id): the decided event is stored already (a retried command), or its id is
            # another session's. Either way nothing was appended: report what is stored.
            stored = self._already_stored(code, decided_ids[-1], exc)
            return self.events_after(code, base.version), stored

        tail, stored = self._submit(code, Job(code, plan, done, work, recover))
        if stored is not None:
            self._maybe_snapshot(code, stored.seq, stored.seq)
        return tail, stored

    def _store_many(self, held: LaneConnection, items: list[Planned]) -> dict[str, int]:
        """Store a group's planned events atomically (group_commit.py) on its lane's own connection:
        ``{event id: seq}``."""
        # An event within a few bytes of the size limit goes its own way, where the size is checked
        # with its real seq before anything commits.
        items = [i for i in items if i.event.size + 20 <= MAX_EVENT_BYTES]
        if not items:
            return {}
        if self._write_lock is None:
            return held.run(store_group_pg, items, utcnow())
        with self._write_lock:
            return held.run(store_group_sqlite, items, utcnow())

    def _lock_head(self, conn: sa.Connection, code: str) -> int | None:
        """The session's newest seq, with its appends locked out until ``conn``'s transaction ends
        (PostgreSQL: the counter row's lock; SQLite: ``BEGIN IMMEDIATE`` holds the write lock already);
        None when there is no such session."""
        if self.dialect == "postgresql":
            q = sa.select(_S.last_seq).where(_S.code == code).with_for_update()
        else:
            q = sa.select(_head_of(_S.code)).where(_S.code == code)
        return conn.execute(q).scalar_one_or_none()

    def _already_stored(self, code: str, event_id: str, exc: Exception) -> Event:
        """After UNIQUE(event_id) refused ``event_id``: the stored event if it is this session's."""
        with self._read() as conn:
            stored = self._stored(conn, [event_id]).get(event_id)
        if stored is None:
            raise StoreError(f"append to {code} failed: {getattr(exc, 'orig', exc)}") from exc
        if stored.session_code != code:
            raise DuplicateEventId(stored.id, stored.session_code) from exc
        return stored

    def _append(self, events: list[Event]) -> list[Event]:
        if len(events) == 1:
            return [self.append(events[0])]
        code = events[0].session_code
        if any(e.session_code != code for e in events):
            raise ValueError("append_many: all events must belong to one session")
        # Round-trip through the wire format before storing: an event built with model_copy (or any
        # other way around validation) must never land in the log, where it would break every load.
        prepared = [Prepared(e) for e in events]
        first = last = 0
        try:
            with self._write() as conn:
                last_seq = self._lock_head(conn, code)
                if last_seq is None:
                    raise UnknownSession(code)
                stored = self._stored(conn, [p.event.id for p in prepared])
                out: list[Event] = []
                rows: list[dict[str, Any]] = []
                seq = last_seq
                now = utcnow()
                for p in prepared:
                    done = stored.get(p.event.id)
                    if done is None:
                        seq += 1
                        p.check_size(seq)
                        done = p.sequenced(seq)
                        stored[done.id] = done
                        rows.append(self._fields(done, p.body(seq), now))
                    out.append(done)
                for e in out:
                    if e.session_code != code:
                        raise DuplicateEventId(e.id, e.session_code)
                if rows:
                    conn.execute(sa.insert(events_table), rows)
                    if self.dialect == "postgresql":  # the counter (SQLite reads its head off the log)
                        conn.execute(sa.update(sessions_table).where(_S.code == code).values(last_seq=seq))
                    first, last = last_seq + 1, seq
        except IntegrityError as exc:
            # Only UNIQUE(event_id) can fire (seq is taken under the session lock, stored ids were
            # looked up): an id another writer stored meanwhile, in this session or another one.
            with self._read() as conn:
                stored = self._stored(conn, [p.event.id for p in prepared])
            for e in stored.values():
                if e.session_code != code:
                    raise DuplicateEventId(e.id, e.session_code) from exc
            raise StoreError(f"append to {code} failed: {exc.orig}") from exc
        if last:
            self._maybe_snapshot(code, first, last)
        return out

    @classmethod
    def _row(cls, e: Event, now: datetime) -> dict[str, Any]:
        body = e.to_json()
        if len(body.encode()) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"Invalid event: over the {MAX_EVENT_BYTES}-byte limit once sequenced")
        return cls._fields(e, body, now)

    @staticmethod
    def _fields(e: Event, body: str, now: datetime) -> dict[str, Any]:
        return {
            "session_code": e.session_code,
            "seq": e.seq,
            "event_id": e.id,
            "type": str(e.type),
            "participant_id": e.participant_id,
            "body": body,
            "schema_version": CURRENT_SCHEMA_VERSION,
            "created_at": now,
            "published": False,
        }

    @staticmethod
    def _stored(conn: sa.Connection, event_ids: Iterable[str]) -> dict[str, Event]:
        ids = list(dict.fromkeys(event_ids))
        rows = conn.execute(sa.select(_E.body, _E.schema_version).where(_E.event_id.in_(ids)))
        return {(ev := parse_versioned(body, version)).id: ev for body, version in rows}

    def get_event(self, event_id: str) -> Event | None:
        """The stored (sequenced) event with this id, if any."""
        with self._read() as conn:
            return self._stored(conn, [event_id]).get(event_id)

    # --- reading -------------------------------------------------------------------------------------
    def last_seq(self, code: str) -> int:
        """The session's newest seq (0 before the first event); raises UnknownSession."""
        with self._read() as conn:
            value = conn.execute(sa.select(_head_of(_S.code)).where(_S.code == code)).scalar_one_or_none()
        if value is None:
            raise UnknownSession(code)
        return value

    def events_after(self, code: str, seq: int, limit: int | None = None) -> list[Event]:
        """Events with ``seq`` greater than ``seq``, in seq order (``[]`` for an unknown session).

        Commits are seq-ordered per session, so a reader always sees a gapless prefix of the log.
        """
        with self._read() as conn:
            return self._events_after(conn, code, seq, limit=limit)

    @staticmethod
    def _events_after(
        conn: sa.Connection, code: str, after: int, *, upto: int | None = None, limit: int | None = None
    ) -> list[Event]:
        q = sa.select(_E.body, _E.schema_version).where(_E.session_code == code, _E.seq > after)
        if upto is not None:
            q = q.where(_E.seq <= upto)
        q = q.order_by(_E.seq)
        if limit is not None:
            q = q.limit(limit)
        # Old events are upcast to today's schema before anything reads them (domain/upcasting.py).
        return [parse_versioned(body, version) for body, version in conn.execute(q)]

    # --- snapshots and loading -----------------------------------------------------------------------
    def load(self, code: str) -> SessionState:
        """Current state: newest snapshot + replay of the events after it (cheap: <= snapshot_every).

        ``SessionState.empty(code)`` for a session without events; raises UnknownSession.
        """
        with self._read() as conn:
            return self._state_at(conn, code, upto=None)

    def load_full(self, code: str) -> SessionState:
        """State replayed from seq 1, ignoring snapshots (verification and tests)."""
        with self._read() as conn:
            events = self._events_after(conn, code, 0)
            if not events:
                self._require_session(conn, code)
        return replay(events, SessionState.empty(code))

    def save_snapshot(self, code: str, state: SessionState) -> None:
        """Store ``state`` as the snapshot at ``state.version`` (a no-op if that snapshot exists)."""
        if state.code != code:
            raise ValueError(f"snapshot of {state.code!r} saved under {code!r}")
        if state.version < 1:
            raise ValueError("only a state with version >= 1 can be snapshotted")
        body = json.dumps(state.to_dict(), separators=(",", ":"), ensure_ascii=False)
        row = {"session_code": code, "seq": state.version, "state": body, "created_at": utcnow()}
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(snapshots_table).values(**row).on_conflict_do_nothing()
        try:
            with self._write() as conn:
                conn.execute(stmt)
        except IntegrityError as exc:  # the FK: no such session
            raise UnknownSession(code) from exc

    def snapshot_seqs(self, code: str) -> list[int]:
        """Seqs of the stored snapshots, ascending (introspection for tests and tooling)."""
        with self._read() as conn:
            return list(
                conn.execute(sa.select(_N.seq).where(_N.session_code == code).order_by(_N.seq)).scalars()
            )

    def _maybe_snapshot(self, code: str, first: int, last: int) -> None:
        """After appending seqs first..last, snapshot at the newest multiple of snapshot_every among them.

        Runs after the append committed and outside its lock; a failure is logged, never raised: the
        events are safe and ``load`` simply replays a little more until the next snapshot.
        """
        at = last - last % self.snapshot_every
        if at < first or at < 1:
            return
        try:
            with self._read() as conn:
                state = self._state_at(conn, code, upto=at)
            self.save_snapshot(code, state)
        except Exception:
            log.exception("snapshot of %s at seq %d failed", code, at)

    def _state_at(self, conn: sa.Connection, code: str, upto: int | None) -> SessionState:
        q = sa.select(_N.seq, _N.state).where(_N.session_code == code)
        if upto is not None:
            q = q.where(_N.seq <= upto)
        snap = conn.execute(q.order_by(_N.seq.desc()).limit(1)).first()
        state: SessionState | None = None
        after = 0
        if snap is not None:
            try:
                state = SessionState.from_dict(json.loads(snap[1]))
                after = snap[0]
            except (ValueError, KeyError, TypeError) as exc:  # an older snapshot format: rebuild from the log
                log.warning("ignoring unreadable snapshot %s@%d: %s", code, snap[0], exc)
        events = self._events_after(conn, code, after, upto=upto)
        if state is None:
            if not events:
                self._require_session(conn, code)
            state = SessionState.empty(code)
        return replay(events, state)

    def _travel(self, conn: sa.Connection, code: str, seq: int) -> SessionState:
        # A cached state is worth more than the snapshot when it is no further back than the snapshot of
        # seq's window would be (snapshots sit at multiples of snapshot_every).
        hit = self._travel_cache.nearest(code, seq, floor=seq - seq % self.snapshot_every)
        if hit is not None:
            state, event_id = hit
            tail = self._tail_from(conn, code, state.version, seq)
            if tail is not None and tail[0] == event_id:  # the same log (ids are unique): the cache holds
                return self._reduce_and_keep(code, state, tail[1:])
            self._travel_cache.drop(code)  # deleted and recreated under the same code: forget it
        snap = conn.execute(
            sa.select(_N.seq, _N.state)
            .where(_N.session_code == code, _N.seq <= seq)
            .order_by(_N.seq.desc())
            .limit(1)
        ).first()
        if snap is not None:
            try:
                state = SessionState.from_dict(json.loads(snap[1]))
            except (ValueError, KeyError, TypeError) as exc:  # an older snapshot format: rebuild from the log
                log.warning("ignoring unreadable snapshot %s@%d: %s", code, snap[0], exc)
            else:
                tail = self._tail_from(conn, code, snap[0], seq)
                if tail is not None:
                    self._travel_cache.put(code, state, tail[0])
                    return self._reduce_and_keep(code, state, tail[1:])
        events = self._events_after(conn, code, 0, upto=seq)
        if not events:
            self._require_session(conn, code)
            return SessionState.empty(code)
        return self._reduce_and_keep(code, SessionState.empty(code), events)

    def _reduce_and_keep(self, code: str, state: SessionState, events: Sequence[Event]) -> SessionState:
        state = replay(events, state)
        if events:
            self._travel_cache.put(code, state, events[-1].id)
        return state

    @staticmethod
    def _tail_from(conn: sa.Connection, code: str, start: int, upto: int) -> list[Any] | None:
        """[id of the event at ``start``, then the parsed events start+1..upto]; None if ``start`` is not
        in the log. One query; the event at ``start`` is only identified, never parsed."""
        rows = conn.execute(
            sa.select(_E.seq, _E.event_id, _E.body, _E.schema_version)
            .where(_E.session_code == code, _E.seq >= start, _E.seq <= upto)
            .order_by(_E.seq)
        ).all()
        if not rows or rows[0][0] != start:
            return None
        return [rows[0][1], *(parse_versioned(body, version) for _, _, body, version in rows[1:])]

    @staticmethod
    def _require_session(conn: sa.Connection, code: str) -> None:
        if conn.execute(sa.select(_S.code).where(_S.code == code)).first() is None:
            raise UnknownSession(code)

    # --- outbox: what the relay (service/relay.py) has still to publish --------------------------------
    def unpublished(self, code: str | None = None, limit: int = 500) -> list[Event]:
        """Stored events not yet marked published, oldest first (per session that is seq order)."""
        q = sa.select(_E.body, _E.schema_version).where(_E.published == sa.false())
        if code is not None:
            q = q.where(_E.session_code == code)
        with self._read() as conn:
            rows = conn.execute(q.order_by(_E.id).limit(limit))
            return [parse_versioned(body, version) for body, version in rows]

    def count_unpublished(self) -> int:
        """How many stored events wait for the relay (the outbox), for the metrics."""
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).where(_E.published == sa.false())).scalar_one()

    def mark_published(self, code: str, seqs: Iterable[int]) -> int:
        """Mark exactly these events of the session published; returns how many changed. Never a range up
        to a seq: another worker's event inside it may not be published yet, and its own relay (or its
        `recover()` after a crash) must still find it unpublished."""
        wanted = sorted(set(seqs))
        changed = 0
        with self._write() as conn:
            for i in range(0, len(wanted), 500):
                result = conn.execute(
                    sa.update(events_table)
                    .where(
                        _E.session_code == code,
                        _E.seq.in_(wanted[i : i + 500]),
                        _E.published == sa.false(),
                    )
                    .values(published=True)
                )
                changed += result.rowcount
        return changed

    # --- lifecycle: idle sessions and retention ------------------------------------------------------
    def _last_activity(self) -> Any:
        """Per session: when its newest event was appended."""
        return (
            sa.select(_E.session_code.label("code"), sa.func.max(_E.created_at).label("last"))
            .group_by(_E.session_code)
            .subquery()
        )

    def idle_sessions(self, before: datetime, limit: int = 100) -> list[str]:
        """Sessions not ended whose newest event is older than ``before`` (to be ended as idle). Read-only
        (imported) sessions are records, not workshops: they are never ended."""
        last = self._last_activity()
        ended = sa.select(_E.session_code).where(_E.type == "SESSION_ENDED")
        imported = sa.select(_S.code).where(_S.read_only == sa.true())
        with self._read() as conn:
            rows = conn.execute(
                sa.select(last.c.code)
                .where(last.c.last < before, last.c.code.not_in(ended), last.c.code.not_in(imported))
                .order_by(last.c.last)
                .limit(limit)
            )
            return [r[0] for r in rows]

    def expired_sessions(self, before: datetime) -> list[str]:
        """Sessions whose newest event is older than ``before`` (the retention period has passed)."""
        last = self._last_activity()
        with self._read() as conn:
            return [r[0] for r in conn.execute(sa.select(last.c.code).where(last.c.last < before))]

    def delete_session(self, code: str) -> int:
        """Delete a session with its events, snapshots and participants; returns how many events went."""
        self._travel_cache.drop(code)
        with self._write() as conn:
            deleted = conn.execute(sa.delete(events_table).where(_E.session_code == code)).rowcount
            conn.execute(sa.delete(snapshots_table).where(_N.session_code == code))
            conn.execute(sa.delete(participants_table).where(_P.session_code == code))
            conn.execute(sa.delete(sessions_table).where(_S.code == code))
        return deleted
