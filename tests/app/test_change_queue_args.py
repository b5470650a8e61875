"""`BoardState.send_changes` reads what a browser sends field by field: well-formed changes become events
with the browser's own id; anything else is refused (None) before any rule or store is touched."""

from __future__ import annotations

import uuid

import pytest

from cardsort_app.domain import rules
from cardsort_app.domain.events import (
    CardMovedEvent,
    ParticipantErasedEvent,
    ParticipantLeftEvent,
    SelectionRevealedEvent,
    StepTransitionedEvent,
)
from cardsort_app.domain.reducer import replay
from cardsort_app.ui.board_state import MAX_CHANGES, _event_for, _read_change
from cardsort_app.ui.resend import read_batch

CHANGE_ID = str(uuid.uuid4())
MOVE = {"id": CHANGE_ID, "kind": "move", "cardId": "honesty", "fromPile": "unsorted", "toPile": "important"}
STEP = {"id": CHANGE_ID, "kind": "step", "fromStep": 1, "toStep": 2}
REVEAL = {"id": CHANGE_ID, "kind": "reveal"}


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
    assert _read_change({**REVEAL, "cards": ["forged"]}) == {"id": CHANGE_ID, "kind": "reveal"}
    assert _read_change({"id": CHANGE_ID, "kind": "leave", "toPile": "x"}) == {
        "id": CHANGE_ID,
        "kind": "leave",
    }
    assert _read_change({"id": CHANGE_ID, "kind": "erase"}) == {"id": CHANGE_ID, "kind": "erase"}
    assert read_batch({"batch": "b", "changes": [MOVE]}, "changes", MAX_CHANGES) == ("b", [MOVE])


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
        {**MOVE, "kind": "delete"},
        {"id": CHANGE_ID, "kind": "Leave"},
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
    assert read_batch(batch, "changes", MAX_CHANGES) is None


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


def _apply(state, change: dict):
    event = _event_for(state, "p_1", _read_change({"id": str(uuid.uuid4()), **change}))
    rules.check(state, event)
    return replay([event.sequenced(state.version + 1)], state)


def test_a_reveal_reveals_the_selection_when_it_is_stored_and_only_once_earned() -> None:
    """The browser sends no cards: the reveal carries the participant's selection as the log has it when
    the reveal is sequenced (after the moves queued before it), top 8 until they finish, then top 3."""
    state = _session()
    early = _event_for(state, "p_1", _read_change(REVEAL))
    assert isinstance(early, SelectionRevealedEvent) and early.id == CHANGE_ID
    assert early.payload.reveal_type == "top8"
    with pytest.raises(rules.DomainError, match="Finish your top 8"):
        rules.check(state, early)
    for card in ("honesty", "family"):
        state = _apply(
            state, {"kind": "move", "cardId": card, "fromPile": "unsorted", "toPile": "very-important"}
        )
    state = _apply(state, {"kind": "step", "fromStep": 1, "toStep": 2})
    state = _apply(
        state, {"kind": "move", "cardId": "family", "fromPile": "very-important", "toPile": "top8"}
    )
    state = _apply(
        state, {"kind": "move", "cardId": "honesty", "fromPile": "very-important", "toPile": "top8"}
    )
    state = _apply(state, {"kind": "step", "fromStep": 2, "toStep": 3})
    top8 = _event_for(state, "p_1", _read_change(REVEAL))
    rules.check(state, top8)
    assert (top8.payload.reveal_type, sorted(top8.payload.cards)) == ("top8", ["family", "honesty"])
    for card in ("family", "honesty"):
        state = _apply(state, {"kind": "move", "cardId": card, "fromPile": "top8", "toPile": "top3"})
    state = _apply(state, {"kind": "step", "fromStep": 3, "toStep": 4})
    top3 = _event_for(state, "p_1", _read_change(REVEAL))
    rules.check(state, top3)
    assert (top3.payload.reveal_type, sorted(top3.payload.cards)) == ("top3", ["family", "honesty"])


def test_a_leave_and_an_erasure_become_events_with_the_browsers_id() -> None:
    """Sent again until acknowledged: the log stores the id once, so a repeat leaves nobody twice."""
    state = _session()
    left = _event_for(state, "p_1", _read_change({"id": CHANGE_ID, "kind": "leave"}))
    assert isinstance(left, ParticipantLeftEvent) and left.id == CHANGE_ID and left.participant_id == "p_1"
    rules.check(state, left)
    erased = _event_for(state, "p_1", _read_change({"id": CHANGE_ID, "kind": "erase"}))
    assert isinstance(erased, ParticipantErasedEvent) and erased.id == CHANGE_ID
    rules.check(state, erased)
