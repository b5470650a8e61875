"""`BoardState.send_changes` reads what a browser sends field by field: well-formed changes become events
with the browser's own id; anything else is refused (None) before any rule or store is touched."""

from __future__ import annotations

import uuid

import pytest

from cardsort_app.domain import rules
from cardsort_app.domain.events import CardMovedEvent, StepTransitionedEvent
from cardsort_app.domain.reducer import replay
from cardsort_app.ui.board_state import MAX_CHANGES, _event_for, _read_batch, _read_change

CHANGE_ID = str(uuid.uuid4())
MOVE = {"id": CHANGE_ID, "kind": "move", "cardId": "honesty", "fromPile": "unsorted", "toPile": "important"}
STEP = {"id": CHANGE_ID, "kind": "step", "fromStep": 1, "toStep": 2}


def _session():
    created = rules.create_session("ABCD12", "t", "values-mini", ["honesty", "family"])
    state = replay([created.sequenced(1)])
    joined = rules.join(state, "p_1", "Ann")
    return replay([joined.sequenced(2)], state)


def test_well_formed_changes_are_read() -> None:
    assert _read_change(MOVE) == {
        "id": CHANGE_ID,
        "kind": "move",
        "card": "honesty",
        "src": "unsorted",
        "dst": "important",
        "at": None,
    }
    assert _read_change({**MOVE, "toIndex": 0})["at"] == 0
    assert _read_change(STEP) == {"id": CHANGE_ID, "kind": "step", "from": 1, "to": 2}
    assert _read_batch({"batch": "b", "changes": [MOVE]}) == ("b", [MOVE])


@pytest.mark.parametrize(
    "change",
    [
        None,
        "move",
        [],
        {**MOVE, "id": 7},
        {**MOVE, "id": "short"},
        {**MOVE, "id": "x" * 65},
        {**MOVE, "id": "<script>alert(1)</script>"},
        {**MOVE, "kind": "reveal"},
        {**MOVE, "cardId": ""},
        {**MOVE, "cardId": "c" * 65},
        {**MOVE, "cardId": ["honesty"]},
        {**MOVE, "fromPile": "trash"},
        {**MOVE, "toPile": None},
        {**MOVE, "toIndex": -1},
        {**MOVE, "toIndex": True},
        {**MOVE, "toIndex": "0"},
        {**MOVE, "toIndex": 1.5},
        {**MOVE, "toIndex": 10**9},
        {**STEP, "fromStep": True},
        {**STEP, "toStep": 5},
        {**STEP, "fromStep": "1"},
        {**STEP, "toStep": 0},
    ],
)
def test_malformed_changes_are_refused(change) -> None:
    assert _read_change(change) is None


@pytest.mark.parametrize(
    "batch",
    [
        None,
        [],
        {"changes": [MOVE]},
        {"batch": 1, "changes": [MOVE]},
        {"batch": "b" * 65, "changes": [MOVE]},
        {"batch": "b", "changes": []},
        {"batch": "b", "changes": {"0": MOVE}},
        {"batch": "b", "changes": [MOVE] * (MAX_CHANGES + 1)},
    ],
)
def test_malformed_batches_are_refused(batch) -> None:
    assert _read_batch(batch) is None


def test_a_change_becomes_an_event_with_the_browsers_id_and_what_it_showed() -> None:
    state = _session()
    move = _event_for(state, "p_1", _read_change(MOVE))
    assert isinstance(move, CardMovedEvent) and move.id == CHANGE_ID
    assert (move.payload.from_pile, move.payload.to_pile, move.participant_id) == (
        "unsorted",
        "important",
        "p_1",
    )
    rules.check(state, move)
    step = _event_for(state, "p_1", _read_change(STEP))
    assert isinstance(step, StepTransitionedEvent) and step.id == CHANGE_ID
    assert (step.payload.from_step, step.payload.to_step) == (1, 2)
    with pytest.raises(rules.DomainError, match="Sort all 2 cards"):
        rules.check(state, step)  # built as shown, refused by the rules at sequencing time


def test_a_move_with_a_position_lands_there_clamped_to_the_piles_end() -> None:
    """Focus mode's undo puts the card back first in `unsorted`, so it is the card in focus again."""
    state = _session()
    first = _event_for(state, "p_1", _read_change(MOVE))
    state = replay([first.sequenced(3)], state)
    back = {**MOVE, "id": str(uuid.uuid4()), "fromPile": "important", "toPile": "unsorted", "toIndex": 0}
    undo = _event_for(state, "p_1", _read_change(back))
    rules.check(state, undo)
    state = replay([undo.sequenced(4)], state)
    assert [c for c in state.participant("p_1").pile("unsorted")] == ["honesty", "family"]
    far = {**MOVE, "id": str(uuid.uuid4()), "cardId": "family", "toIndex": 999}
    assert _event_for(state, "p_1", _read_change(far)).payload.position == 0  # the end of an empty pile
