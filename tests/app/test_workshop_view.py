"""What a facilitator-paced board says about going on: `is_waiting` (done, the next step closed) and
`is_released` (done, the next step open: press Complete step), from the projection alone."""

from __future__ import annotations

from cardsort_app.domain import facilitation as f
from cardsort_app.domain.state import SessionState
from cardsort_app.ui.workshop_view import is_released, is_waiting
from tests.unit.helpers import drive
from tests.unit.test_facilitation import apply, paced, self_paced, sort_all


def says(state: SessionState, pid: str = "p1") -> tuple[bool, bool]:
    person = state.participants[pid]
    return is_waiting(state, person), is_released(state, person)


def test_a_paced_participant_is_told_to_go_on_once_the_next_step_opens() -> None:
    state = paced()
    assert says(state) == (False, False)  # still sorting
    state = sort_all(state, "p1")
    assert says(state) == (True, False)  # done, step 2 closed
    state = apply(state, f.open_step(state, 2))
    assert says(state) == (False, True)  # done, step 2 open
    assert says(state, "p2") == (False, False)  # still sorting: nothing to go on to yet
    state = drive(state, "p1", 2)
    assert says(state) == (False, False)  # in step 2, with no top 8 yet


def test_the_last_step_and_an_ended_session_tell_no_one_to_go_on() -> None:
    state = paced()
    state = apply(state, f.open_step(state, 2))
    state = apply(state, f.open_step(state, 3))
    state = drive(state, "p1", 3)
    state = drive(state, "p2", 1)
    state = sort_all(state, "p2")
    assert says(state, "p2") == (False, True)
    state = apply(state, f.end_session(state))
    assert says(state, "p2") == (False, False)
    assert says(state, "p1") == (False, False)


def test_a_self_paced_board_never_says_either() -> None:
    state = sort_all(self_paced(), "p1")
    assert says(state) == (False, False)
