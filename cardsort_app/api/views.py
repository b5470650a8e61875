"""JSON views of a session projection, shared by REST and the dashboard."""

from __future__ import annotations

from typing import Any

from cardsort_app.domain.facilitation import steps_open
from cardsort_app.domain.state import PILES, SessionState
from cardsort_app.domain.team import candidates


def session_view(state: SessionState, online: set[str]) -> dict[str, Any]:
    people = state.active_participants
    return {
        "code": state.code,
        "title": state.title,
        "deck": state.deck,
        "version": state.version,
        "participants": [
            {"id": p.id, "name": p.name, "step": p.step, "online": p.id in online} for p in people
        ],
        "piles": {p.id: {pile: list(p.pile(pile)) for pile in PILES} for p in people},
        "reveals": [
            {
                "participantId": r.participant_id,
                "participantName": r.participant_name,
                "revealType": str(r.reveal_type),
                "cards": list(r.cards),
                "seq": r.seq,
            }
            for r in state.reveals
        ],
        **workshop_view(state),
        "team": team_view(state),
    }


def workshop_view(state: SessionState) -> dict[str, Any]:
    """The facilitator's options and controls (DESIGN §5b)."""
    return {
        "anonymous": state.anonymous,
        "pacing": state.pacing,
        "openStep": steps_open(state),
        "timer": {"endsAt": state.timer_ends_at} if state.timer_ends_at is not None else None,
        "ended": state.ended,
    }


def team_view(state: SessionState) -> dict[str, Any]:
    """The team board (DESIGN §5b): candidates = revealed top-3 cards not in `values`; `values` in order."""
    return {
        "open": state.team.open,
        "locked": state.team.locked,
        "candidates": [card for card, _count in candidates(state)],
        "values": list(state.team.values),
    }
