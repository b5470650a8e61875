"""Which events may be appended to a session, and builders for the events commands produce.

``check(state, event)`` runs against the state at the moment the event is *sequenced*, not the state the
sender saw: a stale event that is still valid is accepted (rebased), an invalid one is refused with a
:class:`DomainError` whose message is shown to the participant as is. The rule is deterministic, so every
replica agrees on the winner of a race.

The builders (``create_session``, ``join``, ``leave``, ``transition``, ``move_card``, ``reveal``) read what
they need from the current state (the pile a card is in, the current step, the selection to reveal) and
return a new, unsequenced event. They do not validate: pass the result to ``check``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from . import names
from .events import (
    FACILITATOR_ID,
    BaseEvent,
    CardMovedEvent,
    Event,
    InvalidEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    Pile,
    RevealType,
    SelectionRevealedEvent,
    SessionCreatedEvent,
    SessionEndedEvent,
    StepOpenedEvent,
    StepTransitionedEvent,
    TeamBoardLockedEvent,
    TeamBoardOpenedEvent,
    new_event,
)
from .facilitation import (
    FACILITATION_EVENTS,
    allowed_after_end,
    created_options_problem,
    facilitation_problem,
    pacing_blocker,
)
from .state import ParticipantState, SessionState
from .team import TEAM_EVENTS, check_team

__all__ = [
    "ALLOWED_PILES",
    "FINAL_STEP",
    "PILE_LABELS",
    "DomainError",
    "check",
    "create_session",
    "is_noop",
    "join",
    "leave",
    "move_card",
    "normalize_name",
    "reveal",
    "reveal_shows",
    "selection_sizes",
    "step_blocker",
    "transition",
]

#: Step 4 means "finished" (the UI says "Done"); no cards move there.
FINAL_STEP = 4

#: Piles a card may leave from or go to, per step.
ALLOWED_PILES: dict[int, frozenset[Pile]] = {
    1: frozenset({Pile.UNSORTED, Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT}),
    2: frozenset({Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT, Pile.TOP8}),
    3: frozenset({Pile.TOP8, Pile.TOP3}),
    4: frozenset(),
}

#: Human names of the piles, for messages (and the UI, if it likes).
PILE_LABELS: dict[Pile, str] = {
    Pile.UNSORTED: "Unsorted",
    Pile.VERY_IMPORTANT: "Very important",
    Pile.IMPORTANT: "Important",
    Pile.NOT_IMPORTANT: "Not important",
    Pile.TOP8: "Top 8",
    Pile.TOP3: "Top 3",
}


class DomainError(Exception):
    """An event that may not be appended; ``str(err)`` is written for the participant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def selection_sizes(deck_size: int) -> tuple[int, int]:
    """How many cards the top 8 and the top 3 must hold: 8 and 3, or fewer when the deck is that small."""
    top8 = min(8, deck_size)
    return top8, min(3, top8)


def normalize_name(name: str) -> str:
    """Names are compared as `names.key`: NFKC, without invisible characters, case-folded
    ("Ann " == "ann" == "Ａnn" == "Ann\u200b")."""
    return names.key(name)


def step_blocker(state: SessionState, person: ParticipantState) -> str | None:
    """Why ``person`` may not finish their current step yet, or None when they may.

    Shared by ``check`` and the UI (to grey out "complete step" with the same words).
    """
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    if person.step == 1:
        left = len(person.pile(Pile.UNSORTED))
        if left:
            return f"Sort all {len(state.card_ids)} cards before finishing step 1 ({left} left)"
    elif person.step == 2:
        have = len(person.pile(Pile.TOP8))
        if have != top8_size:
            return f"Pick exactly {top8_size} cards for your top 8 (you have {have})"
    elif person.step == 3:
        have = len(person.pile(Pile.TOP3))
        if have != top3_size:
            return f"Pick exactly {top3_size} cards for your top 3 (you have {have})"
    else:
        return "You have already finished"
    return None


def _pile_list(piles: frozenset[Pile]) -> str:
    names = [PILE_LABELS[p] for p in Pile if p in piles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _active_participant(state: SessionState, event: BaseEvent) -> ParticipantState:
    person = state.participant(event.participant_id)
    if person is None:
        raise DomainError("You are not part of this session")
    if not person.active:
        raise DomainError("You have left this session; join again to continue")
    return person


def check(state: SessionState, event: Event | BaseEvent) -> None:
    """Raise DomainError when ``event`` may not be appended to ``state``; return None when it may."""
    if event.session_code != state.code:
        raise DomainError(f"This change belongs to session {event.session_code}, not {state.code}")
    if isinstance(event, SessionCreatedEvent):
        _check_created(state, event)
        return
    if not state.is_created:
        raise DomainError(f"Session {state.code} does not exist")
    if state.ended and not allowed_after_end(event):
        raise DomainError("This session has ended: nothing can change any more")
    if isinstance(event, FACILITATION_EVENTS):
        if (problem := facilitation_problem(state, event)) is not None:
            raise DomainError(problem)
    elif isinstance(event, ParticipantJoinedEvent):
        _check_joined(state, event)
    elif isinstance(event, ParticipantLeftEvent):
        _active_participant(state, event)
    elif isinstance(event, StepTransitionedEvent):
        _check_transition(state, event)
    elif isinstance(event, CardMovedEvent):
        _check_move(state, event)
    elif isinstance(event, SelectionRevealedEvent):
        _check_reveal(state, event)
    elif isinstance(event, TEAM_EVENTS):
        check_team(state, event)
    else:
        raise DomainError(f"Unknown kind of change: {type(event).__name__}")


def is_noop(state: SessionState, event: Event | BaseEvent) -> bool:
    """True for an event that asks for what already holds: joining again while active, revealing the very
    selection already revealed, or the facilitator opening an open step, opening the open team board,
    locking the locked one or ending the ended session.

    The service acknowledges such a command without appending it (it runs before ``check``), so reloads,
    second tabs and double clicks neither fill the log nor answer with an error. Anyone else asking is
    still refused by ``check``, with its reason.
    """
    if isinstance(event, ParticipantJoinedEvent):
        person = state.participant(event.participant_id)
        return person is not None and person.active
    if isinstance(event, SelectionRevealedEvent):
        return reveal_shows(state, event.participant_id, event.payload.reveal_type, event.payload.cards)
    if event.participant_id != FACILITATOR_ID:
        return False
    if isinstance(event, StepOpenedEvent):
        return state.pacing == "facilitator" and event.payload.step <= state.open_step
    if isinstance(event, TeamBoardOpenedEvent):
        return state.team.open and not state.team.locked
    if isinstance(event, TeamBoardLockedEvent):
        return state.team.locked
    return isinstance(event, SessionEndedEvent) and state.ended


def reveal_shows(
    state: SessionState, participant_id: str, reveal_type: RevealType | str, cards: Sequence[str]
) -> bool:
    """The participant's standing reveal of ``reveal_type`` shows ``cards`` (as a set, as ``check`` reads a
    reveal: moving cards from the top 8 on into the top 3 leaves the top 8 what it was)."""
    shown = state.reveal_of(participant_id, reveal_type)
    return shown is not None and set(shown.cards) == set(cards)


def _check_created(state: SessionState, event: SessionCreatedEvent) -> None:
    if state.is_created or state.version != 0:
        raise DomainError(f"Session {state.code} already exists")
    card_ids = event.payload.card_ids
    if not card_ids:
        raise DomainError("A session needs at least one card")
    dupes = sorted(c for c, n in Counter(card_ids).items() if n > 1)
    if dupes:
        raise DomainError(f"The deck lists these cards more than once: {', '.join(dupes)}")
    if (problem := created_options_problem(event)) is not None:
        raise DomainError(problem)


def _check_joined(state: SessionState, event: ParticipantJoinedEvent) -> None:
    who = event.payload.participant
    if who.id != event.participant_id:
        raise DomainError("The participant joining must be the one sending the request")
    if event.participant_id == FACILITATOR_ID:
        raise DomainError(f"'{FACILITATOR_ID}' cannot join as a participant")
    try:
        clean = names.clean_name(who.name)
    except names.InvalidText as exc:
        raise DomainError(str(exc)) from exc
    if clean != who.name:
        raise DomainError("A name may not hold invisible, control or direction-changing characters")
    wanted = normalize_name(who.name)
    for other in state.participants.values():
        if other.id != who.id and other.active and normalize_name(other.name) == wanted:
            raise DomainError(f"The name '{who.name.strip()}' is already taken in this session")


def _check_transition(state: SessionState, event: StepTransitionedEvent) -> None:
    person = _active_participant(state, event)
    from_step, to_step = event.payload.from_step, event.payload.to_step
    if from_step != person.step:
        raise DomainError(f"Your step changed in another tab (you are on step {person.step} now); try again")
    if to_step == from_step - 1 and to_step >= 1:
        return
    if to_step != from_step + 1:
        raise DomainError("You can only move one step forward or back")
    blocker = step_blocker(state, person) or pacing_blocker(state, from_step)
    if blocker:
        raise DomainError(blocker)


def _check_move(state: SessionState, event: CardMovedEvent) -> None:
    person = _active_participant(state, event)
    p = event.payload
    if person.step >= FINAL_STEP:
        raise DomainError("You have finished; go back a step to change your cards")
    if p.card_id not in state.card_ids:
        raise DomainError("Unknown card")
    if p.from_pile == p.to_pile:
        raise DomainError(f"That card is already in {PILE_LABELS[p.to_pile]}")
    allowed = ALLOWED_PILES[person.step]
    if p.from_pile not in allowed or p.to_pile not in allowed:
        raise DomainError(f"In step {person.step} cards can only move between {_pile_list(allowed)}")
    if p.card_id not in person.pile(p.from_pile):
        raise DomainError("That card has already moved")
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    if p.to_pile == Pile.TOP8 and len(person.pile(Pile.TOP8)) >= top8_size:
        raise DomainError("Your top 8 is full: move a card out first")
    if p.to_pile == Pile.TOP3 and len(person.pile(Pile.TOP3)) >= top3_size:
        raise DomainError("Your top 3 is full: move a card out first")


def _check_reveal(state: SessionState, event: SelectionRevealedEvent) -> None:
    person = _active_participant(state, event)
    reveal_type = event.payload.reveal_type
    if reveal_type == RevealType.TOP8 and person.step < 3:
        raise DomainError("Finish your top 8 before revealing it")
    if reveal_type == RevealType.TOP3 and person.step < FINAL_STEP:
        raise DomainError("Finish your top 3 before revealing it")
    if sorted(event.payload.cards) != sorted(person.selection(reveal_type)):  # order is not checked
        raise DomainError("The cards to reveal no longer match your selection; try again")


# --- builders ----------------------------------------------------------------------------------------
def create_session(
    code: str,
    title: str,
    deck_name: str,
    card_ids: Sequence[str],
    *,
    participant_id: str = FACILITATOR_ID,
    anonymous: bool | None = None,
    pacing: str | None = None,
    cards: Sequence[dict[str, str]] | None = None,
) -> SessionCreatedEvent:
    """``cards`` ({id, label, description}) only for a custom deck: its text then lives in the log."""
    options = {"anonymous": anonymous, "pacing": pacing, "cards": None if cards is None else tuple(cards)}
    return new_event(  # type: ignore[return-value]
        SessionCreatedEvent,
        session_code=code,
        participant_id=participant_id,
        version=0,
        title=title,
        deck=deck_name,
        card_ids=tuple(card_ids),
        **{k: v for k, v in options.items() if v is not None},
    )


def join(
    state: SessionState, participant_id: str, name: str, *, version: int | None = None
) -> ParticipantJoinedEvent:
    """Cleans ``name`` (names.clean_name); raises InvalidEvent (not DomainError) when nothing visible is
    left or it is longer than 40 characters."""
    try:
        name = names.clean_name(name)
    except names.InvalidText as exc:
        raise InvalidEvent(f"payload.participant.name: {exc}") from exc
    return new_event(  # type: ignore[return-value]
        ParticipantJoinedEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        payload={"participant": {"id": participant_id, "name": name}},
    )


def leave(state: SessionState, participant_id: str, *, version: int | None = None) -> ParticipantLeftEvent:
    person = state.participant(participant_id)
    return new_event(  # type: ignore[return-value]
        ParticipantLeftEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        participant_name=person.name if person else "",
    )


def transition(
    state: SessionState, participant_id: str, direction: int, *, version: int | None = None
) -> StepTransitionedEvent:
    """Step ``direction`` (+1 forward, -1 back) from the participant's current step.

    The target is kept within 1..4 so the event is always well formed; ``check`` refuses 4 -> 4 or 1 -> 1.
    """
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    person = state.participant(participant_id)
    from_step = person.step if person else 1
    return new_event(  # type: ignore[return-value]
        StepTransitionedEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        from_step=from_step,
        to_step=min(FINAL_STEP, max(1, from_step + direction)),
        participant_name=person.name if person else "",
    )


def _member(kind, value, field: str):
    """`kind(value)`, or InvalidEvent naming the field (a builder never raises a bare ValueError)."""
    try:
        return kind(value)
    except (ValueError, TypeError) as exc:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidEvent(f"{field}: must be one of {allowed}") from exc


def move_card(
    state: SessionState,
    participant_id: str,
    card_id: str,
    to_pile: Pile | str,
    position: int | None = None,
    *,
    from_pile: Pile | str | None = None,
    version: int | None = None,
) -> CardMovedEvent:
    """Move ``card_id`` to ``to_pile`` (at its end when ``position`` is None).

    ``from_pile`` defaults to where the card is now; a UI passes the pile it *showed* the card in, so a
    move made on a stale view is refused (and rolled back) instead of silently moving the card twice.
    """
    person = state.participant(participant_id)
    to_pile = _member(Pile, to_pile, "payload.toPile")
    if from_pile is None:
        from_pile = (person.pile_of(card_id) if person else None) or Pile.UNSORTED
    from_pile = _member(Pile, from_pile, "payload.fromPile")
    if position is None:
        position = len(person.pile(to_pile)) if person else 0
    return new_event(  # type: ignore[return-value]
        CardMovedEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        card_id=card_id,
        from_pile=from_pile,
        to_pile=to_pile,
        position=max(0, position),
    )


def reveal(
    state: SessionState,
    participant_id: str,
    reveal_type: RevealType | str,
    *,
    version: int | None = None,
) -> SelectionRevealedEvent:
    """Reveal the participant's current top 8 (``top8`` + ``top3`` piles) or top 3."""
    reveal_type = _member(RevealType, reveal_type, "payload.revealType")
    person = state.participant(participant_id)
    cards = person.selection(reveal_type) if person else ()
    return new_event(  # type: ignore[return-value]
        SelectionRevealedEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        reveal_type=reveal_type,
        cards=cards,
    )
