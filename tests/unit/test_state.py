"""State helpers and the JSON snapshot round trip."""

from __future__ import annotations

import json

import pytest

from cardsort_app.domain.events import Pile
from cardsort_app.domain.rules import leave, reveal
from cardsort_app.domain.state import PILES, SNAPSHOT_FORMAT, ParticipantState, SessionState
from tests.unit.helpers import apply, drive, session_with


def rich_state() -> SessionState:
    state = drive(session_with(step=4), "p2", 3)
    state = apply(
        state, reveal(state, "p1", "top8"), reveal(state, "p1", "top3"), reveal(state, "p2", "top8")
    )
    return apply(state, leave(state, "p2"))


def test_snapshot_round_trip_through_json_is_equal() -> None:
    state = rich_state()
    data = json.loads(json.dumps(state.to_dict()))
    assert data["format"] == SNAPSHOT_FORMAT
    again = SessionState.from_dict(data)
    assert again == state
    assert list(again.participants) == list(state.participants)
    assert again.to_dict() == state.to_dict()


def test_snapshot_of_empty_state() -> None:
    state = SessionState.empty("ABCD")
    assert SessionState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_snapshot_with_unknown_format_is_refused() -> None:
    data = rich_state().to_dict()
    data["format"] = 99
    with pytest.raises(ValueError, match="unsupported snapshot format 99"):
        SessionState.from_dict(data)


def test_participant_from_dict_fills_missing_piles() -> None:
    p = ParticipantState.from_dict(
        {"id": "x", "name": "X", "step": 1, "active": True, "piles": {"unsorted": ["a"]}}
    )
    assert list(p.piles) == list(PILES) and p.pile(Pile.UNSORTED) == ("a",) and p.pile(Pile.TOP3) == ()


def test_participant_helpers() -> None:
    ann = session_with(step=4).participants["p1"]
    assert ann.top8 == ann.pile(Pile.TOP8) + ann.pile(Pile.TOP3)
    assert ann.top3 == ann.pile(Pile.TOP3) == ann.selection("top3")
    assert ann.selection("top8") == ann.top8
    card = ann.pile(Pile.TOP3)[0]
    assert ann.pile_of(card) is Pile.TOP3
    assert ann.pile_of("nope") is None


def test_session_helpers() -> None:
    state = rich_state()
    assert state.participant("p1") is state.participants["p1"]
    assert state.participant("ghost") is None
    assert [p.id for p in state.active_participants] == ["p1"]
    assert state.reveal_of("p2", "top8") is not None and state.reveal_of("p2", "top3") is None
    assert state.evolve(title="New").title == "New"


def test_states_are_frozen() -> None:
    state = rich_state()
    with pytest.raises(AttributeError):
        state.version = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        state.participants["p1"].step = 1  # type: ignore[misc]
