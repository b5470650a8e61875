"""The team board: after the individual sort the group agrees on at most five shared values.

Two piles: ``candidates`` (every card somebody revealed in their top 3, each once, not already chosen)
and ``team-values`` (at most :data:`TEAM_CAP` cards, in order). The facilitator opens and locks the board;
every active participant and the facilitator move cards on it while it is open.

Conflicts: a move says where its sender *saw* the card (``fromPile``/``fromPosition``) in the view of
``version``. The first move of a card the log sequences wins; a later move of the same card by somebody
else whose sender had not seen that move (``version`` below the winning seq) is refused, and the refusal
names the winner ("Sam moved Honesty first"). The rule only reads the state and the event, so every
replica picks the same winner. Moves of *other* cards meanwhile do not conflict: a stale position is
clamped, like a rebase.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from .custom_decks import session_deck
from .events import (
    FACILITATOR_ID,
    BaseEvent,
    RevealType,
    TeamBoardLockedEvent,
    TeamBoardOpenedEvent,
    TeamCardMovedEvent,
    TeamPile,
    new_event,
)
from .facilitation import display_names
from .state import SessionState, TeamMove

__all__ = [
    "FACILITATOR_NAME",
    "TEAM_CAP",
    "TEAM_EVENTS",
    "apply_team",
    "candidates",
    "card_label",
    "check_team",
    "lock_board",
    "move",
    "open_board",
]

#: The most cards ``team-values`` holds.
TEAM_CAP = 5

#: The name a facilitator's moves show under.
FACILITATOR_NAME = "Facilitator"

TEAM_EVENTS = (TeamBoardOpenedEvent, TeamBoardLockedEvent, TeamCardMovedEvent)


def _error(message: str) -> Exception:
    from .rules import DomainError  # rules imports this module to dispatch team events

    return DomainError(message)


def card_label(state: SessionState, card_id: str) -> str:
    """The card's name in the session's deck, for messages (its id when the deck does not know it)."""
    deck = session_deck(state)  # a shipped deck, or the session's own (custom) cards
    try:
        return deck.card(card_id).name if deck is not None else card_id
    except KeyError:
        return card_id


def candidate_counts(state: SessionState) -> Counter[str]:
    """How many people revealed each card in their top 3."""
    return Counter(c for r in state.reveals if r.reveal_type == RevealType.TOP3.value for c in r.cards)


def candidates(state: SessionState) -> tuple[tuple[str, int], ...]:
    """``(card, how many chose it)`` for every revealed top-3 card not in the team values: most chosen
    first, then in deck order (a stable order every view shares)."""
    counts = candidate_counts(state)
    order = {c: i for i, c in enumerate(state.card_ids)}
    chosen = set(state.team.values)
    cards = sorted((c for c in counts if c not in chosen), key=lambda c: (-counts[c], order.get(c, 0), c))
    return tuple((c, counts[c]) for c in cards)


def mover_name(state: SessionState, participant_id: str) -> str:
    if participant_id == FACILITATOR_ID:
        return FACILITATOR_NAME
    # What the other participants may see: "Participant N" in an anonymous session, never the real name.
    return display_names(state).get(participant_id, "")


# --- rules -------------------------------------------------------------------------------------------
def check_team(state: SessionState, event: BaseEvent) -> None:
    """Raise DomainError unless the team event may be appended to ``state``."""
    team = state.team
    if isinstance(event, TeamBoardOpenedEvent | TeamBoardLockedEvent):
        if event.participant_id != FACILITATOR_ID:
            raise _error("Only the facilitator can open or lock the team board")
        if team.locked:
            raise _error("The team board is locked")
        if isinstance(event, TeamBoardOpenedEvent) and team.open:
            raise _error("The team board is already open")
        if isinstance(event, TeamBoardLockedEvent) and not team.open:
            raise _error("Open the team board before locking it")
        return
    if not isinstance(event, TeamCardMovedEvent):
        raise _error(f"Unknown kind of change: {type(event).__name__}")
    _check_mover(state, event)
    if team.locked:
        raise _error("The team board is locked: the team values are final")
    if not team.open:
        raise _error("The team board is not open yet")
    _check_move(state, event)


def _check_mover(state: SessionState, event: TeamCardMovedEvent) -> None:
    if event.participant_id == FACILITATOR_ID:
        return
    person = state.participant(event.participant_id)
    if person is None:
        raise _error("You are not part of this session")
    if not person.active:
        raise _error("You have left this session; join again to continue")


def _check_move(state: SessionState, event: TeamCardMovedEvent) -> None:
    p = event.payload
    team = state.team
    label = card_label(state, p.card_id)
    last = team.moves.get(p.card_id)
    if last is not None and last.seq > event.version and last.participant_id != event.participant_id:
        raise _error(f"{last.participant_name or 'Someone'} moved {label} first")
    values = team.values
    if p.from_pile == TeamPile.TEAM_VALUES:
        if p.card_id not in values:
            raise _error(f"{label} is no longer in the team values")
        if values.index(p.card_id) != p.from_position:
            raise _error(f"{label} has moved meanwhile")
        if p.to_pile == TeamPile.TEAM_VALUES and p.position == p.from_position:
            raise _error(f"{label} is already there")
        if p.to_pile == TeamPile.TEAM_VALUES and p.position >= len(values):
            raise _error(f"{label} cannot move past the end of the team values")
        return
    if p.card_id in values:
        raise _error(f"{label} is already in the team values")
    if p.card_id not in candidate_counts(state):
        raise _error(f"{label} is not a candidate: only revealed top-3 cards can be team values")
    if p.to_pile == TeamPile.CANDIDATES:
        raise _error(f"{label} is already a candidate")
    if len(values) >= TEAM_CAP:
        raise _error(f"The team values are full ({TEAM_CAP}): move one back to the candidates first")


# --- reducer -----------------------------------------------------------------------------------------
def apply_team(state: SessionState, event: BaseEvent) -> SessionState:
    """Apply a team event (total: a move that no longer fits changes nothing)."""
    team = state.team
    if isinstance(event, TeamBoardOpenedEvent):
        return replace(state, team=replace(team, open=True))
    if isinstance(event, TeamBoardLockedEvent):
        return replace(state, team=replace(team, locked=True))
    if not isinstance(event, TeamCardMovedEvent):
        return state
    p = event.payload
    values = [c for c in team.values if c != p.card_id]
    if p.from_pile == TeamPile.TEAM_VALUES and p.card_id not in team.values:
        return state
    if p.from_pile == TeamPile.CANDIDATES and p.card_id in team.values:
        return state
    if p.to_pile == TeamPile.TEAM_VALUES:
        if len(values) >= TEAM_CAP:  # the cap holds even for an unchecked (optimistic, replayed) event
            return state
        values.insert(min(p.position, len(values)), p.card_id)
    moves = dict(team.moves)
    moves[p.card_id] = TeamMove(
        event.seq or 0, event.participant_id, mover_name(state, event.participant_id) or p.participant_name
    )
    return replace(state, team=replace(team, values=tuple(values), moves=moves))


# --- builders ----------------------------------------------------------------------------------------
def open_board(state: SessionState) -> TeamBoardOpenedEvent:
    return new_event(  # type: ignore[return-value]
        TeamBoardOpenedEvent, session_code=state.code, participant_id=FACILITATOR_ID, version=state.version
    )


def lock_board(state: SessionState) -> TeamBoardLockedEvent:
    return new_event(  # type: ignore[return-value]
        TeamBoardLockedEvent, session_code=state.code, participant_id=FACILITATOR_ID, version=state.version
    )


def move(
    state: SessionState,
    participant_id: str,
    card_id: str,
    to_pile: TeamPile | str,
    position: int | None = None,
    *,
    version: int | None = None,
) -> TeamCardMovedEvent:
    """Move ``card_id`` as shown in ``state`` (the sender's view): from where it is there, to
    ``position`` in ``to_pile`` (the end of the team values when None). ``version`` defaults to the
    view's own version, which is what makes a move on an outdated view lose to the move it missed."""
    to_pile = TeamPile(to_pile)
    values = state.team.values
    in_values = card_id in values
    from_pile = TeamPile.TEAM_VALUES if in_values else TeamPile.CANDIDATES
    from_position = values.index(card_id) if in_values else 0
    if position is None:
        position = len(values) - (1 if in_values else 0) if to_pile == TeamPile.TEAM_VALUES else 0
    return new_event(  # type: ignore[return-value]
        TeamCardMovedEvent,
        session_code=state.code,
        participant_id=participant_id,
        version=state.version if version is None else version,
        card_id=card_id,
        from_pile=from_pile,
        to_pile=to_pile,
        position=max(0, position),
        from_position=from_position,
        participant_name=mover_name(state, participant_id)[:80],
    )
