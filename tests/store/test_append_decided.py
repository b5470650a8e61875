"""Decide-and-append in one transaction: the decision always sees the log's head."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cardsort_app.domain import rules
from cardsort_app.domain.events import Pile
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.rules import DomainError
from cardsort_app.domain.state import SessionState
from cardsort_app.store.errors import UnknownSession
from cardsort_app.store.eventstore import EventStore

from .helpers import created, joined, new_code


def _session(store: EventStore) -> tuple[str, SessionState]:
    code = new_code()
    store.create_session(code, "t", "values-mini", "h")
    state = replay([store.append(created(code))])
    state = replay([store.append(joined(state, "ann", "Ann"))], state)
    return code, state


def test_the_decision_sees_events_the_caller_had_not(store: EventStore) -> None:
    code, stale = _session(store)
    card = stale.card_ids[0]
    other = store.append(rules.move_card(stale, "ann", card, Pile.IMPORTANT))  # another worker's append
    seen: list[int] = []

    def decide(state: SessionState):
        seen.append(state.version)
        return rules.move_card(state, "ann", card, Pile.NOT_IMPORTANT)  # from where it is *now*

    statements: list[str] = []

    @sa.event.listens_for(store._engine, "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).upper())

    tail, stored = store.append_decided(code, stale, decide)
    sa.event.remove(store._engine, "before_cursor_execute", _record)
    if store.dialect == "postgresql":  # the stale fast path failed: the row lock, then the decision
        assert any(s.startswith("SELECT SESSIONS.LAST_SEQ") and s.endswith("FOR UPDATE") for s in statements)
    # The fast path may try the caller's state first; only the decision made on the head is stored.
    assert seen[-1] == other.seq and set(seen) <= {stale.version, other.seq}
    assert [e.seq for e in tail] == [other.seq]
    assert stored.seq == other.seq + 1 and stored.payload.from_pile == Pile.IMPORTANT
    assert store.load_full(code).participant("ann").pile_of(card) == Pile.NOT_IMPORTANT


def test_a_refused_decision_appends_nothing(store: EventStore) -> None:
    code, state = _session(store)

    def decide(current: SessionState):
        event = rules.transition(current, "ann", +1)
        rules.check(current, event)  # step 1 is not sorted yet: refused
        return event

    with pytest.raises(DomainError, match="Sort all 12 cards"):
        store.append_decided(code, state, decide)
    assert store.last_seq(code) == state.version


def test_nothing_to_do_and_idempotent_ids(store: EventStore) -> None:
    code, state = _session(store)
    assert store.append_decided(code, state, lambda s: None) == ([], None)
    event = rules.move_card(state, "ann", state.card_ids[1], Pile.IMPORTANT)
    _, first = store.append_decided(code, state, lambda s: event)
    _, again = store.append_decided(code, state, lambda s: event)
    assert again == first and store.last_seq(code) == first.seq
    with pytest.raises(UnknownSession):
        store.append_decided("NOPE99", SessionState.empty("NOPE99"), lambda s: None)
