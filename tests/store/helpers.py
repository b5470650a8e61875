"""Event builders for store tests (valid events made with the domain's own builders)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cardsort_app.domain import rules
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState
from cardsort_app.store.migrate import SCRIPT_LOCATION

CARDS: tuple[str, ...] = tuple(f"card-{i:02d}" for i in range(12))
DECK = "values-mini"
STEP1_TARGETS = (Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT)
_NS = uuid.UUID("6c1f0e52-3b0a-4b7e-9d8e-0c0ffee0cafe")


def current_revision(url: str) -> str | None:
    """The revision the database is at, ``None`` if it was never migrated."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped in alembic/versions."""
    return ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()


def new_code() -> str:
    return uuid.uuid4().hex[:10].upper()


def event_id(*parts: object) -> str:
    """Deterministic uuid string, so a parent process can rebuild what a child appended."""
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def created(code: str, *, eid: str | None = None) -> Event:
    e = rules.create_session(code, "Store test", DECK, CARDS)
    return e.model_copy(update={"id": eid}) if eid else e


def joined(state: SessionState, pid: str, name: str, *, eid: str | None = None) -> Event:
    e = rules.join(state, pid, name)
    return e.model_copy(update={"id": eid}) if eid else e


def moves(
    state: SessionState, pid: str, n: int, *, id_of: Callable[[int], str] | None = None
) -> tuple[list[Event], SessionState]:
    """``n`` valid step-1 CARD_MOVED events of ``pid``, and the state after them (validated locally)."""
    out: list[Event] = []
    for i in range(n):
        card = CARDS[i % len(CARDS)]
        person = state.participant(pid)
        assert person is not None
        current = person.pile_of(card)
        targets = [p for p in STEP1_TARGETS if p != current]
        e = rules.move_card(state, pid, card, targets[i % len(targets)])
        if id_of is not None:
            e = e.model_copy(update={"id": id_of(i)})
        rules.check(state, e)
        out.append(e)
        state = reduce(state, e)
    return out, state


def writer_events(code: str, writer: int, n: int) -> tuple[list[Event], SessionState]:
    """Writer ``writer``'s ``n`` events: writer 0 starts with SESSION_CREATED; each writer joins as its own
    participant and then moves its own cards, so any interleaving of writers is a valid history."""
    pid = f"p{writer}"
    state = reduce(SessionState.empty(code), created(code, eid=event_id(code, "created")))
    out: list[Event] = [created(code, eid=event_id(code, "created"))] if writer == 0 else []
    join = joined(state, pid, f"Writer {writer}", eid=event_id(code, writer, "join"))
    out.append(join)
    state = reduce(state, join)
    more, state = moves(state, pid, n - len(out), id_of=lambda i: event_id(code, writer, i))
    return out + more, state


def trace_group_writes(store: Any) -> list[str]:
    """Every statement the store's write lanes send on their own connections (lane.py) from now on, as
    the driver sends it, upper-cased with whitespace collapsed: SQLite's trace callback, a recording
    cursor on psycopg. The group write bypasses SQLAlchemy, so its engine events never see it."""
    seen: list[str] = []

    def record(statement: object) -> None:
        seen.append(" ".join(str(statement).split()).upper())

    for held in store._lane_conns:
        driver = held._checkout()
        held._cursor = None  # made again at the next write, by the recording factory below
        if store.dialect == "sqlite":
            driver.set_trace_callback(record)
        else:

            class Recording(psycopg.RawCursor):  # type: ignore[type-arg]
                def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                    record(query)
                    return super().execute(query, *args, **kwargs)

            driver.cursor_factory = Recording
    return seen
