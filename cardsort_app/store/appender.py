"""The append's hot path: an event validated and serialised once, then sequenced and stored in as few
statements as the database allows.

``Prepared`` serialises the event once and validates that very text with a placeholder ``seq`` (the
round trip: an event built around validation, e.g. with ``model_copy``, never reaches the log). The
stored body is that text with the real ``seq`` spliced in, so nothing is serialised twice.

PostgreSQL: ONE statement bumps ``sessions.last_seq`` (which takes the session row's lock, as ``SELECT
... FOR UPDATE`` did) and inserts the event with the new value, body included; concurrent writers of a
session queue on that row lock and each sees the committed counter (READ COMMITTED re-reads the row).
``store_group_pg`` does that for a whole group of sessions (one event each) in one autocommit statement:
one round trip, one commit. SQLite: ONE ``INSERT ... SELECT`` per event that reads the session's head off
UNIQUE(session_code, seq)'s index (one writer at a time: no counter row to bump and write); a lone event
is that statement alone, in autocommit, a group one ``BEGIN IMMEDIATE`` transaction. The group's write
(``store_group_*``) speaks the driver directly on a write lane's own connection (lane.py); ``append_one``,
the path of a job that runs alone, goes through SQLAlchemy. The optional ``expected`` makes the write
conditional (the head is ``expected``): the fast path of ``append_decided``, which decided on a state it
believes is the log's head.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cardsort_app.domain.events import MAX_EVENT_BYTES, Event, InvalidEvent, parse_event
from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION

#: The placeholder seq the body is validated with; the database's seq replaces it.
_PROBE_SEQ = 1
#: Where the seq goes: right before the top-level ``type`` key. Inside a JSON string a quote is always
#: escaped, so the first ``,"type":`` is a key, and ``type`` is the first key after the scalar header
#: fields (the payload, the only nested object, comes after it).
_TYPE_KEY = ',"type":'
_SEQ_KEY = ',"seq":'


class Prepared:
    """An event validated through its own JSON text, ready to be stored under any seq."""

    __slots__ = ("event", "prefix", "suffix", "size")

    def __init__(self, event: Event) -> None:
        if event.seq is not None:  # rare: stored from scratch under the log's seq
            event = event.model_copy(update={"seq": None})
        # pydantic's own serializer (a fraction of ``to_json``'s cost): the wire's fields and values, in
        # the model's field order; key order has no meaning (the wire's ``to_json`` puts ``type`` first).
        text = event.__pydantic_serializer__.to_json(event, by_alias=True, exclude_none=True, warnings=False)
        body = text.decode()
        at = body.find(_TYPE_KEY)
        if at < 0:  # pragma: no cover - an event without a type: a bug, never store it
            raise InvalidEvent("Invalid event: no type key in its JSON form")
        self.prefix = body[:at] + _SEQ_KEY
        self.suffix = body[at:]
        # The round trip (an event built around validation never reaches the log); it also refuses an
        # oversized body.
        self.event: Event = parse_event(self.body(_PROBE_SEQ))
        self.size = len(text) + len(_SEQ_KEY)  # UTF-8 bytes, the seq's digits aside

    def body(self, seq: int) -> str:
        return f"{self.prefix}{seq}{self.suffix}"

    def check_size(self, seq: int) -> None:
        if self.size + len(str(seq)) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"Invalid event: over the {MAX_EVENT_BYTES}-byte limit once sequenced")

    def sequenced(self, seq: int) -> Event:
        return self.event.sequenced(seq)


_COLUMNS = "session_code, seq, event_id, type, participant_id, body, schema_version, created_at, published"

_PG_APPEND = f"""
WITH s AS (
    UPDATE sessions SET last_seq = last_seq + 1 WHERE code = %(code)s{{cond}} RETURNING last_seq
)
INSERT INTO events ({_COLUMNS})
SELECT %(code)s, s.last_seq, %(eid)s, %(type)s, %(pid)s, %(prefix)s || CAST(s.last_seq AS TEXT) || %(suffix)s,
       %(v)s, %(now)s, false
FROM s RETURNING seq
"""
_PG = {
    False: _PG_APPEND.format(cond=""),
    True: _PG_APPEND.format(cond=" AND last_seq = %(expected)s"),
}
# One event per session (the group guarantees it): each session's counter moves by one, and only where
# it is at the planned `expected` (NULL: anywhere). `locked` takes the sessions' row locks in code order
# first (the lock an UPDATE takes, so foreign-key checks elsewhere never wait on it): the UPDATE alone
# would take them in whatever order its plan meets the rows, and two workers' groups over the same
# sessions could then each hold a row the other waits for, a deadlock PostgreSQL breaks only after its
# deadlock_timeout.
_PG_MANY = f"""
WITH req AS (
    SELECT * FROM unnest(
        %(code)s::text[], %(expected)s::int[], %(eid)s::text[], %(type)s::text[], %(pid)s::text[],
        %(prefix)s::text[], %(suffix)s::text[]
    ) AS r(code, expected, eid, type, pid, prefix, suffix)
), locked AS (
    SELECT code FROM sessions WHERE code IN (SELECT code FROM req) ORDER BY code FOR NO KEY UPDATE
), s AS (
    UPDATE sessions SET last_seq = sessions.last_seq + 1 FROM req JOIN locked ON locked.code = req.code
    WHERE sessions.code = req.code AND (req.expected IS NULL OR sessions.last_seq = req.expected)
    RETURNING sessions.code, sessions.last_seq
)
INSERT INTO events ({_COLUMNS})
SELECT req.code, s.last_seq, req.eid, req.type, req.pid, req.prefix || CAST(s.last_seq AS TEXT) || req.suffix,
       %(v)s, %(now)s, false
FROM req JOIN s ON s.code = req.code
RETURNING event_id, seq
"""


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``%(name)s`` placeholders numbered ``$1, $2, ...`` and the names in that order,
    for psycopg's raw cursor: it sends the text as it is, where a named query is converted on every
    call (a sixth of the client's time per append)."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), tuple(names)


#: The lane's statements (store_group_pg), numbered for the raw cursor.
_PG_RAW = {cond: _numbered(sql) for cond, sql in _PG.items()}
_PG_MANY_RAW = _numbered(_PG_MANY)

# SQLite has one writer (``BEGIN IMMEDIATE`` / the statement's own write lock), so the next seq is read
# from UNIQUE(session_code, seq)'s index by the INSERT itself: no counter row to write, one page and one
# statement less per event. No row comes back when the session does not exist (or its head is not
# ``expected``): nothing is written then.
_SQLITE_APPEND = f"""
INSERT INTO events ({_COLUMNS})
SELECT :code, h.seq, :eid, :type, :pid, :prefix || h.seq || :suffix, :v, :now, 0
FROM (SELECT coalesce(max(seq), 0) + 1 AS seq FROM events WHERE session_code = :code) AS h
WHERE EXISTS (SELECT 1 FROM sessions WHERE code = :code){{cond}}
RETURNING seq
"""
_SQLITE = {
    False: _SQLITE_APPEND.format(cond=""),
    True: _SQLITE_APPEND.format(cond=" AND h.seq = :expected + 1"),
}


def sqlite_time(now: datetime) -> str:
    """SQLAlchemy's own storage format for a UTC DateTime on SQLite (naive text: readers parse it back),
    made without ``strftime`` (several times slower)."""
    return now.replace(tzinfo=None).isoformat(" ", "microseconds")


def append_one(
    conn: sa.Connection, dialect: str, code: str, p: Prepared, now: datetime, expected: int | None = None
) -> int | None:
    """Store ``p`` under the session's next seq; returns that seq, or None when the session does not
    exist (or its head is not ``expected``): nothing is written then. A stored event id raises
    IntegrityError (UNIQUE(event_id)): the caller rolls back.

    ``exec_driver_sql``: the driver's own SQL with little overhead, yet SQLAlchemy still wraps errors
    (IntegrityError, ...) and invalidates a connection the database dropped."""
    if dialect == "postgresql":
        row = conn.exec_driver_sql(_PG[expected is not None], _params(code, p, now, expected)).first()
    else:
        row = conn.exec_driver_sql(
            _SQLITE[expected is not None], _params(code, p, sqlite_time(now), expected)
        ).first()
    if row is None:
        return None
    p.check_size(row[0])  # the statement's transaction is the caller's: refused, it rolls back
    return row[0]


def _params(code: str, p: Prepared, now: datetime | str, expected: int | None) -> dict[str, Any]:
    """The parameters of the single-event statement (``_PG`` / ``_SQLITE``)."""
    e = p.event
    return {
        "code": code,
        "expected": expected,
        "eid": e.id,
        "type": str(e.type),
        "pid": e.participant_id,
        "prefix": p.prefix,
        "suffix": p.suffix,
        "v": CURRENT_SCHEMA_VERSION,
        "now": now,
    }


def store_group_pg(cur: Any, items: list[Any], now: datetime) -> dict[str, int]:
    """PostgreSQL, with a lane's raw cursor on its own connection in autocommit (lane.py): store one
    planned event per session in ONE statement, its own transaction. ``{event id: seq}`` of those stored.
    Server-side prepared (``prepare=True``: parsed and planned once per connection), with numbered
    placeholders (``_numbered``). A group of one takes the single-event statement: no arrays to build, a
    cheaper plan than ``unnest``."""
    if len(items) == 1:
        i = items[0]
        sql, names = _PG_RAW[i.expected is not None]
        params = _params(i.code, i.event, now, i.expected)
        row = cur.execute(sql, [params[n] for n in names], prepare=True).fetchone()
        return {} if row is None else {i.event.event.id: row[0]}
    arrays = {
        "code": [i.code for i in items],
        "expected": [i.expected for i in items],
        "eid": [i.event.event.id for i in items],
        "type": [str(i.event.event.type) for i in items],
        "pid": [i.event.event.participant_id for i in items],
        "prefix": [i.event.prefix for i in items],
        "suffix": [i.event.suffix for i in items],
        "v": CURRENT_SCHEMA_VERSION,
        "now": now,
    }
    sql, names = _PG_MANY_RAW
    rows = cur.execute(sql, [arrays[n] for n in names], prepare=True).fetchall()
    return {eid: seq for eid, seq in rows}


def store_group_sqlite(cur: Any, items: list[Any], now: datetime) -> dict[str, int]:
    """SQLite, with a lane's cursor on its own connection (lane.py; the caller holds the process's write
    lock): ``{event id: seq}`` of the group's events stored; any error stores nothing of the group and
    propagates.

    A group of one is its statement alone, in autocommit: SQLite takes the write lock before the
    statement reads the head, and commits when it is done (stepped to the end by ``fetchall``), so
    nothing is acknowledged before its commit. A larger group: one ``BEGIN IMMEDIATE`` transaction."""
    created = sqlite_time(now)
    driver = cur.connection
    try:
        if len(items) == 1:
            i = items[0]
            rows = cur.execute(
                _SQLITE[i.expected is not None], _params(i.code, i.event, created, i.expected)
            ).fetchall()
            if driver.in_transaction:  # pragma: no cover - the driver left it open: commit before acking
                driver.commit()
            return {i.event.event.id: rows[0][0]} if rows else {}
        seqs: dict[str, int] = {}
        cur.execute("BEGIN IMMEDIATE")
        for i in items:
            row = cur.execute(
                _SQLITE[i.expected is not None], _params(i.code, i.event, created, i.expected)
            ).fetchone()
            if row is not None:
                seqs[i.event.event.id] = row[0]
        cur.execute("COMMIT")  # acknowledged only past this line (synchronous=FULL: fsynced)
    except BaseException:
        if driver.in_transaction:
            driver.rollback()
        raise
    return seqs
