"""What the board and the dashboard show of the facilitator's workshop, computed from a projection.

Pure functions from the session state to the plain values the Reflex states hold, so the same facts (the
timer's end instant, pacing, the end) read the same on every tab.
"""

from __future__ import annotations

from typing import Any

from cardsort_app.domain.custom_decks import session_deck
from cardsort_app.domain.decks import Deck
from cardsort_app.domain.facilitation import pacing_blocker, steps_open
from cardsort_app.domain.results import Selection, card_results, selections
from cardsort_app.domain.rules import step_blocker
from cardsort_app.domain.state import ParticipantState, SessionState


def session_fields(state: SessionState) -> dict[str, Any]:
    """The workshop facts every tab of the session shows (``timer_ends_at`` 0 = no timer)."""
    return {
        "pacing": state.pacing,
        "steps_open": steps_open(state),
        "timer_ends_at": state.timer_ends_at or 0,
        "ended": state.ended,
        "anonymous": state.anonymous,
    }


def is_waiting(state: SessionState, person: ParticipantState) -> bool:
    """A facilitator-paced participant who finished their step's work but may not go on yet."""
    return (
        not state.ended
        and pacing_blocker(state, person.step) is not None
        and step_blocker(state, person) is None
    )


def is_released(state: SessionState, person: ParticipantState) -> bool:
    """A facilitator-paced participant whose step's work is done and whose next step the facilitator has
    opened: they may have pressed Complete while it was closed, and are told to go on."""
    return (
        not state.ended
        and state.pacing == "facilitator"
        and person.step < steps_open(state)
        and step_blocker(state, person) is None
    )


def result_rows(state: SessionState) -> list[dict[str, Any]]:
    """One row per card, ranked by top-3 then top-8 count (see domain/results.py)."""
    return [
        {
            "id": r.card_id,
            "name": r.label,
            "top3": r.top3,
            "top8": r.top8,
            "very_important": r.very_important,
            "rank": i,
        }
        for i, r in enumerate(card_results(state, session_deck(state)), start=1)
    ]


def selection_rows(state: SessionState) -> list[dict[str, Any]]:
    """Each participant's current top 3 and top 8 (real names: facilitator views only)."""
    deck = session_deck(state)
    return [selection_row(deck, s) for s in selections(state)]


def selection_row(deck: Deck | None, s: Selection) -> dict[str, Any]:
    """One participant's row of `selection_rows`."""

    def label(card_id: str) -> str:
        try:
            return deck.card(card_id).name if deck is not None else card_id
        except KeyError:
            return card_id

    return {
        "id": s.participant_id,
        "name": s.name,
        "step": s.step,
        "top3": [label(c) for c in s.top3],
        "top8": [label(c) for c in s.top8 if c not in s.top3],
    }
