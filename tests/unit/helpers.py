"""Small builders for example-based domain tests: a created session and participants driven to a step."""

from __future__ import annotations

from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.rules import create_session, join, move_card, selection_sizes, transition
from cardsort_app.domain.state import SessionState
from tests.unit.strategies import commit

CODE = "ABCD"
MINI = load_deck("values-mini").card_ids


def apply(state: SessionState, *events: Event) -> SessionState:
    """check + sequence + reduce each event, like the service would."""
    for event in events:
        state, _ = commit(state, event)
    return state


def created(card_ids: tuple[str, ...] = MINI, code: str = CODE) -> SessionState:
    return apply(SessionState.empty(code), create_session(code, "Workshop", "values-mini", card_ids))


def joined(state: SessionState, *people: tuple[str, str]) -> SessionState:
    for pid, name in people:
        state = apply(state, join(state, pid, name))
    return state


def drive(state: SessionState, pid: str, step: int) -> SessionState:
    """Move participant ``pid`` forward to ``step`` the way a person would (all moves valid)."""
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    while state.participants[pid].step < step:
        person = state.participants[pid]
        if person.step == 1:
            for card in person.pile(Pile.UNSORTED):
                state = apply(state, move_card(state, pid, card, Pile.VERY_IMPORTANT))
        elif person.step == 2:
            for card in person.pile(Pile.VERY_IMPORTANT)[: top8_size - len(person.pile(Pile.TOP8))]:
                state = apply(state, move_card(state, pid, card, Pile.TOP8))
        elif person.step == 3:
            for card in person.pile(Pile.TOP8)[: top3_size - len(person.pile(Pile.TOP3))]:
                state = apply(state, move_card(state, pid, card, Pile.TOP3))
        state = apply(state, transition(state, pid, +1))
    return state


def session_with(step: int = 1, card_ids: tuple[str, ...] = MINI) -> SessionState:
    """A session with Ann (``p1``) at ``step`` and Bo (``p2``) at step 1."""
    state = joined(created(card_ids), ("p1", "Ann"), ("p2", "Bo"))
    return drive(state, "p1", step)


def finish_with_top3(state: SessionState, pid: str, offset: int) -> SessionState:
    """Drive ``pid`` to step 4 with the top-8 cards ``offset .. offset+2`` as their top 3 (so several
    participants can reveal different top 3s)."""
    state = drive(state, pid, 3)
    for card in state.participants[pid].pile(Pile.TOP8)[offset : offset + 3]:
        state = apply(state, move_card(state, pid, card, Pile.TOP3))
    return apply(state, transition(state, pid, +1))
