"""The reducer: ``state' = reduce(state, event)``, the one way any state in Cardsort comes to be.

Every replica (server projection, each tab's optimistic view, snapshot + tail) runs this same pure function
over the same seq-ordered events, so they cannot disagree. It never raises for an event that passed
``rules.check``; for anything else it stays total and conservative (an impossible move changes nothing).

Rules the reducer embodies:

* SESSION_CREATED sets code, title, deck and card ids.
* PARTICIPANT_JOINED adds a participant at step 1 with every card in ``unsorted`` (deck order) and the
  other piles empty. A participant who left earlier is re-activated with piles and step kept (so a rejoin
  resumes), taking the new name. Joining while active changes nothing.
* PARTICIPANT_LEFT marks the participant inactive; piles, step and reveals are kept.
* CARD_MOVED removes the card from ``fromPile`` and inserts it at ``position`` (clamped to the pile's
  length) in ``toPile``. A card that is not in ``fromPile`` is left where it is.
* SELECTION_REVEALED replaces the participant's earlier reveal of the same type (one per participant per
  type); the new reveal goes to the end, carrying the event's seq.
* STEP_TRANSITIONED sets the step. Going *back* undoes what the left step produced, so the piles always
  satisfy the step's invariant:

  - 3 -> 2: the ``top3`` cards go back to the end of ``top8`` (the top 8 as a whole is unchanged);
  - 2 -> 1: the ``top8`` cards (then any ``top3``) go back to the end of ``very-important``;
  - 4 -> 3: nothing moves (step 4 is "done"; going back just reopens the top 3 for editing).

  Reveals that are no longer true are withdrawn: a top 8 is only revealable from step 3 on and a top 3 only
  at step 4, so going back to step 2 or lower removes the participant's ``top8`` and ``top3`` reveals, and
  going back from 4 to 3 removes the ``top3`` reveal.
* TEAM_BOARD_OPENED / TEAM_BOARD_LOCKED / TEAM_CARD_MOVED: see ``team.py``.
* The facilitator's events (STEP_OPENED, TIMER_*, SESSION_ENDED) and PARTICIPANT_ERASED are reduced in
  ``facilitation.py``; SESSION_CREATED's options (anonymous, pacing, a custom deck's cards) likewise.
* Every event with a ``seq`` sets ``state.version = seq`` (also when it changes nothing else).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .events import (
    BaseEvent,
    CardMovedEvent,
    Event,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    Pile,
    RevealType,
    SelectionRevealedEvent,
    SessionCreatedEvent,
    StepTransitionedEvent,
)
from .facilitation import FACILITATION_EVENTS, apply_created_options, apply_facilitation
from .state import PILES, ParticipantState, Reveal, SessionState
from .team import TEAM_EVENTS, apply_team

__all__ = ["reduce", "replay"]

_REVEALABLE_FROM_STEP = {RevealType.TOP8.value: 3, RevealType.TOP3.value: 4}


def reduce(state: SessionState, event: Event | BaseEvent) -> SessionState:
    """Apply one event; returns a new state (``state`` itself is never changed)."""
    new = _apply(state, event)
    if event.seq is not None:
        new = replace(new, version=event.seq)
    return new


def replay(events: Iterable[Event | BaseEvent], state: SessionState | None = None) -> SessionState:
    """Fold ``events`` over ``state`` (a snapshot) or, when None, over the empty state of their session."""
    for event in events:
        if state is None:
            state = SessionState.empty(event.session_code)
        state = reduce(state, event)
    if state is None:
        raise ValueError("replay() needs a starting state or at least one event")
    return state


def _apply(state: SessionState, event: BaseEvent) -> SessionState:
    if isinstance(event, SessionCreatedEvent):
        p = event.payload
        state = replace(state, code=event.session_code, title=p.title, deck=p.deck, card_ids=p.card_ids)
        return apply_created_options(state, event)
    if isinstance(event, ParticipantJoinedEvent):
        return _joined(state, event)
    if isinstance(event, ParticipantLeftEvent):
        person = state.participant(event.participant_id)
        if person is None or not person.active:
            return state
        return _put(state, replace(person, active=False))
    if isinstance(event, StepTransitionedEvent):
        return _transitioned(state, event)
    if isinstance(event, CardMovedEvent):
        return _moved(state, event)
    if isinstance(event, SelectionRevealedEvent):
        return _revealed(state, event)
    if isinstance(event, TEAM_EVENTS):
        return apply_team(state, event)
    if isinstance(event, FACILITATION_EVENTS):
        return apply_facilitation(state, event)
    raise TypeError(f"not an event: {event!r}")


def _put(state: SessionState, person: ParticipantState) -> SessionState:
    participants = dict(state.participants)
    participants[person.id] = person
    return replace(state, participants=participants)


def _joined(state: SessionState, event: ParticipantJoinedEvent) -> SessionState:
    pid = event.participant_id
    name = event.payload.participant.name
    person = state.participant(pid)
    if person is None:
        piles = {p: () for p in PILES}
        piles[Pile.UNSORTED.value] = state.card_ids
        return _put(state, ParticipantState(id=pid, name=name, step=1, piles=piles, active=True))
    if person.active:
        return state
    return _put(state, replace(person, name=name, active=True))


def _transitioned(state: SessionState, event: StepTransitionedEvent) -> SessionState:
    person = state.participant(event.participant_id)
    if person is None:
        return state
    to_step = event.payload.to_step
    if to_step >= person.step:
        return _put(state, replace(person, step=to_step))

    piles = dict(person.piles)
    if to_step <= 2:  # leaving step 3: the top 3 dissolves back into the top 8
        piles[Pile.TOP8.value] = piles[Pile.TOP8.value] + piles[Pile.TOP3.value]
        piles[Pile.TOP3.value] = ()
    if to_step <= 1:  # leaving step 2: the top 8 dissolves back into "very important"
        piles[Pile.VERY_IMPORTANT.value] = piles[Pile.VERY_IMPORTANT.value] + piles[Pile.TOP8.value]
        piles[Pile.TOP8.value] = ()
    state = _put(state, replace(person, step=to_step, piles=piles))

    kept = tuple(
        r
        for r in state.reveals
        if r.participant_id != person.id or to_step >= _REVEALABLE_FROM_STEP[r.reveal_type]
    )
    return replace(state, reveals=kept) if len(kept) != len(state.reveals) else state


def _moved(state: SessionState, event: CardMovedEvent) -> SessionState:
    person = state.participant(event.participant_id)
    p = event.payload
    if person is None or p.from_pile == p.to_pile or p.card_id not in person.pile(p.from_pile):
        return state
    source = tuple(c for c in person.pile(p.from_pile) if c != p.card_id)
    target = list(person.pile(p.to_pile))
    target.insert(min(p.position, len(target)), p.card_id)
    piles = dict(person.piles)
    piles[p.from_pile.value] = source
    piles[p.to_pile.value] = tuple(target)
    return _put(state, replace(person, piles=piles))


def _revealed(state: SessionState, event: SelectionRevealedEvent) -> SessionState:
    person = state.participant(event.participant_id)
    reveal_type = event.payload.reveal_type.value
    reveal = Reveal(
        participant_id=event.participant_id,
        participant_name=person.name if person is not None else "",
        reveal_type=reveal_type,
        cards=event.payload.cards,
        seq=event.seq,
    )
    others = tuple(
        r
        for r in state.reveals
        if not (r.participant_id == event.participant_id and r.reveal_type == reveal_type)
    )
    return replace(state, reveals=(*others, reveal))
