"""Every branch of the reducer, one behaviour per test."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from cardsort_app.domain.events import EventType, Pile, new_event
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.rules import create_session, join, leave, move_card, reveal, transition
from cardsort_app.domain.state import PILES, SessionState
from tests.unit.helpers import CODE, MINI, apply, created, drive, joined, session_with


def seq(state: SessionState, event):
    return event.sequenced(state.version + 1)


# --- SESSION_CREATED ----------------------------------------------------------------------------------


def test_session_created_sets_title_deck_cards_and_version() -> None:
    state = reduce(SessionState.empty(CODE), create_session(CODE, "Retro", "values-mini", MINI).sequenced(1))
    assert (state.code, state.title, state.deck, state.card_ids, state.version) == (
        CODE,
        "Retro",
        "values-mini",
        MINI,
        1,
    )
    assert state.is_created
    assert state.participants == {} and state.reveals == ()


def test_empty_state() -> None:
    state = SessionState.empty(CODE)
    assert not state.is_created and state.version == 0 and state.card_ids == ()


# --- PARTICIPANT_JOINED / LEFT -----------------------------------------------------------------------


def test_join_adds_participant_at_step_1_with_every_card_unsorted_in_deck_order() -> None:
    state = created()
    state = reduce(state, seq(state, join(state, "p1", "Ann")))
    ann = state.participants["p1"]
    assert (ann.id, ann.name, ann.step, ann.active) == ("p1", "Ann", 1, True)
    assert ann.pile(Pile.UNSORTED) == MINI
    assert list(ann.piles) == list(PILES)
    assert all(ann.pile(p) == () for p in PILES if p != Pile.UNSORTED)
    assert state.version == 2


def test_join_again_while_active_changes_nothing_but_version() -> None:
    state = session_with(step=2)
    again = reduce(state, seq(state, join(state, "p1", "Annie")))
    assert again == replace(state, version=state.version + 1)


def test_leave_marks_inactive_and_keeps_piles_and_step() -> None:
    state = session_with(step=2)
    before = state.participants["p1"]
    state = reduce(state, seq(state, leave(state, "p1")))
    after = state.participants["p1"]
    assert not after.active
    assert (after.step, after.piles, after.name) == (before.step, before.piles, before.name)
    assert state.participants["p2"].active


def test_rejoin_after_leaving_resumes_with_new_name() -> None:
    state = session_with(step=3)
    before = state.participants["p1"]
    state = apply(state, leave(state, "p1"))
    state = reduce(state, seq(state, join(state, "p1", "Annie")))
    after = state.participants["p1"]
    assert after.active and after.name == "Annie"
    assert (after.step, after.piles) == (before.step, before.piles)


def test_join_keeps_join_order() -> None:
    state = joined(created(), ("b", "Bo"), ("a", "Ann"), ("c", "Cleo"))
    assert list(state.participants) == ["b", "a", "c"]
    assert [p.name for p in state.active_participants] == ["Bo", "Ann", "Cleo"]


def test_leave_of_unknown_or_inactive_participant_changes_nothing() -> None:
    state = session_with()
    for event in (leave(state, "ghost"),):
        assert reduce(state, event) == state
    gone = apply(state, leave(state, "p1"))
    assert reduce(gone, leave(gone, "p1")) == gone


# --- CARD_MOVED ----------------------------------------------------------------------------------------


def test_card_moved_to_end_by_default() -> None:
    state = session_with()
    for card in MINI[:3]:
        state = apply(state, move_card(state, "p1", card, Pile.IMPORTANT))
    ann = state.participants["p1"]
    assert ann.pile(Pile.IMPORTANT) == MINI[:3]
    assert ann.pile(Pile.UNSORTED) == MINI[3:]


@pytest.mark.parametrize(("position", "expected"), [(0, 0), (1, 1), (2, 2), (3, 3), (99, 3)])
def test_card_moved_inserts_at_clamped_position(position: int, expected: int) -> None:
    state = session_with()
    for card in MINI[:3]:
        state = apply(state, move_card(state, "p1", card, Pile.IMPORTANT))
    card = MINI[5]
    state = reduce(state, move_card(state, "p1", card, Pile.IMPORTANT, position))
    important = state.participants["p1"].pile(Pile.IMPORTANT)
    assert important.index(card) == expected and len(important) == 4
    assert card not in state.participants["p1"].pile(Pile.UNSORTED)


def test_card_moved_only_touches_its_participant() -> None:
    state = session_with()
    bo = state.participants["p2"]
    state = reduce(state, move_card(state, "p1", MINI[0], Pile.NOT_IMPORTANT))
    assert state.participants["p2"] == bo


def test_card_not_in_from_pile_is_left_where_it_is() -> None:
    state = session_with()
    stale = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    state = apply(state, move_card(state, "p1", MINI[0], Pile.NOT_IMPORTANT))
    after = reduce(state, stale.sequenced(state.version + 1))
    assert after == replace(state, version=state.version + 1)


def test_card_moved_to_same_pile_or_by_unknown_participant_changes_nothing() -> None:
    state = session_with()
    same = new_event(
        EventType.CARD_MOVED,
        session_code=CODE,
        participant_id="p1",
        card_id=MINI[0],
        from_pile="unsorted",
        to_pile="unsorted",
        position=5,
    )
    assert reduce(state, same) == state
    assert reduce(state, move_card(state, "ghost", MINI[0], Pile.IMPORTANT)) == state


def test_reduce_does_not_change_its_input() -> None:
    state = session_with(step=2)
    snapshot = copy.deepcopy(state.to_dict())
    reduce(state, move_card(state, "p1", state.participants["p1"].pile(Pile.VERY_IMPORTANT)[0], Pile.TOP8))
    reduce(state, transition(state, "p1", -1))
    assert state.to_dict() == snapshot


# --- STEP_TRANSITIONED -------------------------------------------------------------------------------


def test_forward_sets_step() -> None:
    state = session_with(step=2)
    assert state.participants["p1"].step == 2
    assert state.participants["p2"].step == 1


def test_back_from_3_to_2_moves_top3_to_end_of_top8() -> None:
    state = session_with(step=3)
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[2], Pile.TOP3))
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.TOP3))
    before = state.participants["p1"]
    state = apply(state, transition(state, "p1", -1))
    after = state.participants["p1"]
    assert after.step == 2
    assert after.pile(Pile.TOP3) == ()
    assert after.pile(Pile.TOP8) == before.pile(Pile.TOP8) + before.pile(Pile.TOP3)
    assert after.top8 == before.top8


def test_back_from_2_to_1_moves_top8_to_end_of_very_important() -> None:
    state = session_with(step=2)
    state = apply(
        state, move_card(state, "p1", state.participants["p1"].pile(Pile.VERY_IMPORTANT)[3], Pile.TOP8)
    )
    state = apply(
        state, move_card(state, "p1", state.participants["p1"].pile(Pile.VERY_IMPORTANT)[0], Pile.TOP8)
    )
    before = state.participants["p1"]
    state = apply(state, transition(state, "p1", -1))
    after = state.participants["p1"]
    assert after.step == 1
    assert after.pile(Pile.TOP8) == ()
    assert after.pile(Pile.VERY_IMPORTANT) == before.pile(Pile.VERY_IMPORTANT) + before.pile(Pile.TOP8)


def test_back_to_1_also_returns_any_top3_cards() -> None:
    state = session_with(step=2)
    person = state.participants["p1"]
    piles = dict(person.piles, top8=("a",), top3=("b",))
    state = replace(state, participants={**state.participants, "p1": replace(person, piles=piles)})
    after = reduce(state, transition(state, "p1", -1)).participants["p1"]
    assert after.pile(Pile.VERY_IMPORTANT)[-2:] == ("a", "b")
    assert after.pile(Pile.TOP8) == after.pile(Pile.TOP3) == ()


def test_back_from_4_to_3_moves_nothing() -> None:
    state = session_with(step=4)
    before = state.participants["p1"]
    state = apply(state, transition(state, "p1", -1))
    after = state.participants["p1"]
    assert after.step == 3 and after.piles == before.piles


def test_back_from_4_to_3_withdraws_only_the_top3_reveal() -> None:
    state = session_with(step=4)
    state = apply(state, reveal(state, "p1", "top8"), reveal(state, "p1", "top3"))
    state = apply(state, transition(state, "p1", -1))
    assert [(r.participant_id, r.reveal_type) for r in state.reveals] == [("p1", "top8")]


@pytest.mark.parametrize("from_step", [3, 4])
def test_back_below_step_3_withdraws_top8_and_top3_reveals_of_that_participant(from_step: int) -> None:
    state = session_with(step=from_step)
    state = drive(state, "p2", 4)
    state = apply(state, reveal(state, "p2", "top8"), reveal(state, "p2", "top3"))
    state = apply(state, reveal(state, "p1", "top8"))
    if from_step == 4:
        state = apply(state, reveal(state, "p1", "top3"))
    while state.participants["p1"].step > 2:
        state = apply(state, transition(state, "p1", -1))
    assert [(r.participant_id, r.reveal_type) for r in state.reveals] == [("p2", "top8"), ("p2", "top3")]


def test_transition_of_unknown_participant_changes_nothing() -> None:
    state = session_with()
    assert reduce(state, transition(state, "ghost", +1)) == state


# --- SELECTION_REVEALED ------------------------------------------------------------------------------


def test_reveal_appends_with_seq_and_name() -> None:
    state = session_with(step=3)
    event = reveal(state, "p1", "top8").sequenced(state.version + 1)
    state = reduce(state, event)
    (r,) = state.reveals
    assert (r.participant_id, r.participant_name, r.reveal_type, r.seq) == ("p1", "Ann", "top8", event.seq)
    assert r.cards == state.participants["p1"].top8 and len(r.cards) == 8


def test_reveal_replaces_earlier_reveal_of_same_type_and_moves_to_end() -> None:
    state = drive(session_with(step=4), "p2", 3)
    state = apply(
        state, reveal(state, "p1", "top8"), reveal(state, "p2", "top8"), reveal(state, "p1", "top3")
    )
    state = apply(state, reveal(state, "p1", "top8"))
    assert [(r.participant_id, r.reveal_type) for r in state.reveals] == [
        ("p2", "top8"),
        ("p1", "top3"),
        ("p1", "top8"),
    ]
    assert state.reveals[-1].seq == state.version
    assert state.reveal_of("p1", "top8") is state.reveals[-1]
    assert state.reveal_of("p2", "top3") is None


def test_unsequenced_reveal_has_no_seq_and_keeps_version() -> None:
    state = session_with(step=3)
    after = reduce(state, reveal(state, "p1", "top8"))
    assert after.reveals[0].seq is None and after.version == state.version


# --- version and replay --------------------------------------------------------------------------------


def test_version_follows_seq_only_when_sequenced() -> None:
    state = session_with()
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    assert reduce(state, event).version == state.version
    assert reduce(state, event.sequenced(40)).version == 40


def test_replay_starts_from_empty_state_of_first_event_session() -> None:
    events = [create_session("WXYZ", "T", "values-mini", MINI).sequenced(1)]
    state = replay(events)
    assert state.code == "WXYZ" and state.version == 1


def test_replay_from_snapshot_and_empty() -> None:
    state = session_with()
    assert replay([], state) is state
    with pytest.raises(ValueError):
        replay([])


def test_reduce_rejects_non_events() -> None:
    with pytest.raises(TypeError):
        reduce(SessionState.empty(CODE), object())  # type: ignore[arg-type]
