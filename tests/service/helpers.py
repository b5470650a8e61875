"""Builders for service tests: sessions, participants, moves, and checks on the stored log."""

from __future__ import annotations

from cardsort_app.domain import rules
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import CreatedSession, Identity

MINI = "values-mini"
STEP1_PILES = (Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT)


async def new_session(rt: Runtime, *names: str, deck: str = MINI) -> tuple[CreatedSession, list[Identity]]:
    created = await rt.service.create_session("Workshop", deck)
    people = [await rt.service.join(created.code, name) for name in names]
    return created, people


async def stored_log(rt: Runtime, code: str) -> list[Event]:
    return await rt.store.events_after(code, 0)


def check_log(code: str, log: list[Event]) -> SessionState:
    """The log is gapless (seq 1..n), duplicate-free, and valid event by event; returns its final state."""
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert len({e.id for e in log}) == len(log)
    state = SessionState.empty(code)
    for event in log:
        rules.check(state, event)
        assert not rules.is_noop(state, event)
        state = reduce(state, event)
    return state


async def move(rt: Runtime, code: str, who: Identity, card: str, to: Pile | str) -> Event | None:
    """Decide a move from the current projection (always valid when the card may go there)."""
    return await rt.service.command(code, who, lambda s, pid: rules.move_card(s, pid, card, to))


async def step(rt: Runtime, code: str, who: Identity, direction: int = +1) -> Event | None:
    return await rt.service.command(code, who, lambda s, pid: rules.transition(s, pid, direction))


async def drive(rt: Runtime, code: str, who: Identity, to_step: int) -> SessionState:
    """Move a participant forward to ``to_step`` the way a person would, one command at a time."""
    state = await rt.hub.state(code)
    top8_size, top3_size = rules.selection_sizes(len(state.card_ids))
    while (person := state.participants[who.participant_id]).step < to_step:
        if person.step == 1:
            for card in person.pile(Pile.UNSORTED):
                await move(rt, code, who, card, Pile.VERY_IMPORTANT)
        elif person.step == 2:
            for card in person.pile(Pile.VERY_IMPORTANT)[: top8_size - len(person.pile(Pile.TOP8))]:
                await move(rt, code, who, card, Pile.TOP8)
        elif person.step == 3:
            for card in person.pile(Pile.TOP8)[: top3_size - len(person.pile(Pile.TOP3))]:
                await move(rt, code, who, card, Pile.TOP3)
        await step(rt, code, who, +1)
        state = await rt.hub.state(code)
    return state
