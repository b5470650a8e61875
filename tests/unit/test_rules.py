"""Every rule of ``check`` with its participant-facing message, ``is_noop``, and the event builders."""

from __future__ import annotations

import re

import pytest

from cardsort_app.domain.events import (
    FACILITATOR_ID,
    EventType,
    InvalidEvent,
    Pile,
    RevealType,
    new_event,
)
from cardsort_app.domain.rules import (
    DomainError,
    check,
    create_session,
    is_noop,
    join,
    leave,
    move_card,
    normalize_name,
    reveal,
    reveal_shows,
    selection_sizes,
    step_blocker,
    transition,
)
from cardsort_app.domain.state import SessionState
from tests.unit.helpers import CODE, MINI, apply, created, drive, joined, session_with


def refused(state: SessionState, event, message: str) -> None:
    with pytest.raises(DomainError) as info:
        check(state, event)
    assert str(info.value) == message
    assert info.value.message == message


# --- session -----------------------------------------------------------------------------------------


def test_event_for_another_session_is_refused() -> None:
    state = session_with()
    other = SessionState.empty("WXYZ")
    refused(
        other,
        move_card(state, "p1", MINI[0], Pile.IMPORTANT),
        "This change belongs to session ABCD, not WXYZ",
    )


def test_session_created_only_once() -> None:
    state = created()
    refused(state, create_session(CODE, "Again", "values-mini", MINI), "Session ABCD already exists")


def test_session_created_needs_cards() -> None:
    refused(
        SessionState.empty(CODE), create_session(CODE, "T", "values", ()), "A session needs at least one card"
    )


def test_session_created_cards_must_be_unique() -> None:
    event = create_session(CODE, "T", "values", ("a", "b", "a", "c", "b"))
    refused(SessionState.empty(CODE), event, "The deck lists these cards more than once: a, b")


def test_session_created_on_empty_state_passes() -> None:
    check(SessionState.empty(CODE), create_session(CODE, "T", "values-mini", MINI))


def test_participant_events_need_a_created_session() -> None:
    empty = SessionState.empty(CODE)
    refused(empty, join(empty, "p1", "Ann"), "Session ABCD does not exist")


# --- join / leave --------------------------------------------------------------------------------------


def test_join_name_taken_case_insensitive_and_stripped() -> None:
    state = session_with()
    refused(state, join(state, "p3", "  aNN "), "The name 'aNN' is already taken in this session")


def test_join_name_of_a_participant_who_left_is_free() -> None:
    state = session_with()
    state = apply(state, leave(state, "p1"))
    check(state, join(state, "p3", "Ann"))


def test_rejoin_checks_name_against_other_active_participants() -> None:
    state = session_with()
    state = apply(state, leave(state, "p1"))
    state = apply(state, join(state, "p3", "Ann"))
    refused(state, join(state, "p1", "ann"), "The name 'ann' is already taken in this session")
    check(state, join(state, "p1", "Annie"))
    assert not is_noop(state, join(state, "p1", "Annie"))


def test_join_again_while_active_is_a_noop_that_passes() -> None:
    state = session_with()
    event = join(state, "p1", "Ann")
    check(state, event)
    assert is_noop(state, event)
    assert is_noop(state, join(state, "p1", "Different name"))


def test_is_noop_is_false_for_real_changes() -> None:
    state = session_with()
    assert not is_noop(state, join(state, "p3", "Cleo"))
    assert not is_noop(state, move_card(state, "p1", MINI[0], Pile.IMPORTANT))
    assert not is_noop(state, leave(state, "p1"))


def test_revealing_the_revealed_selection_again_is_a_noop() -> None:
    """A second click, a second tab: the reveal that shows stays where it is (no event, no reordering)."""
    state = session_with(step=3)
    top8 = state.participants["p1"].top8
    assert not reveal_shows(state, "p1", "top8", top8)
    state = apply(state, reveal(state, "p1", "top8"))
    assert reveal_shows(state, "p1", RevealType.TOP8, top8)
    assert is_noop(state, reveal(state, "p1", "top8"))
    assert not is_noop(state, reveal(state, "p2", "top8"))  # nobody else's is shown
    # Choosing the top 3 moves cards on from the top 8: the top 8 is still the one shown.
    for card in top8[:3]:
        state = apply(state, move_card(state, "p1", card, Pile.TOP3))
    assert state.participants["p1"].top8 != top8 and is_noop(state, reveal(state, "p1", "top8"))
    state = apply(state, transition(state, "p1", +1))
    assert not is_noop(state, reveal(state, "p1", "top3"))  # the top 3 is not shown yet
    state = apply(state, reveal(state, "p1", "top3"))
    assert is_noop(state, reveal(state, "p1", "top3"))
    # A changed selection is a new reveal: back to step 3, swap a card into the top 3, finish again.
    state = apply(state, transition(state, "p1", -1))
    assert not reveal_shows(state, "p1", "top3", state.participants["p1"].top3)  # going back withdrew it
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP3)[0], Pile.TOP8))
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.TOP3))
    state = apply(state, transition(state, "p1", +1))
    assert not is_noop(state, reveal(state, "p1", "top3"))


def test_join_payload_must_name_the_sender() -> None:
    state = created()
    event = new_event(
        EventType.PARTICIPANT_JOINED,
        session_code=CODE,
        participant_id="p1",
        payload={"participant": {"id": "p2", "name": "Ann"}},
    )
    refused(state, event, "The participant joining must be the one sending the request")


def test_facilitator_cannot_join() -> None:
    state = created()
    refused(state, join(state, FACILITATOR_ID, "Boss"), "'facilitator' cannot join as a participant")


def test_unknown_participant_is_refused_for_every_participant_event() -> None:
    state = session_with(step=3)
    for event in (
        leave(state, "ghost"),
        transition(state, "ghost", +1),
        move_card(state, "ghost", MINI[0], Pile.IMPORTANT),
        reveal(state, "ghost", "top8"),
    ):
        refused(state, event, "You are not part of this session")


def test_participant_who_left_is_refused_until_rejoining() -> None:
    state = session_with(step=3)
    events = [
        leave(state, "p1"),
        transition(state, "p1", -1),
        move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.TOP3),
        reveal(state, "p1", "top8"),
    ]
    gone = apply(state, events[0])
    for event in events:
        refused(gone, event, "You have left this session; join again to continue")
    back = apply(gone, join(gone, "p1", "Ann"))
    for event in events[1:]:
        check(back, event)


# --- steps ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deck_size", "sizes"), [(48, (8, 3)), (12, (8, 3)), (8, (8, 3)), (5, (5, 3)), (2, (2, 2))]
)
def test_selection_sizes(deck_size: int, sizes: tuple[int, int]) -> None:
    assert selection_sizes(deck_size) == sizes


def test_step_from_must_match_current_step() -> None:
    state = session_with(step=2)
    stale = transition(state, "p1", -1)
    state = apply(state, stale)
    refused(state, stale, "Your step changed in another tab (you are on step 1 now); try again")


def test_only_one_step_at_a_time() -> None:
    state = session_with(step=2)
    jump = new_event(
        EventType.STEP_TRANSITIONED,
        session_code=CODE,
        participant_id="p1",
        from_step=2,
        to_step=4,
        participant_name="Ann",
    )
    refused(state, jump, "You can only move one step forward or back")
    first = session_with(step=1)
    refused(first, transition(first, "p1", -1), "You can only move one step forward or back")  # 1 -> 1
    done = session_with(step=4)
    refused(done, transition(done, "p1", +1), "You can only move one step forward or back")  # 4 -> 4


def test_step_1_needs_every_card_sorted() -> None:
    state = session_with()
    refused(state, transition(state, "p1", +1), "Sort all 12 cards before finishing step 1 (12 left)")
    for card in MINI[:9]:
        state = apply(state, move_card(state, "p1", card, Pile.NOT_IMPORTANT))
    refused(state, transition(state, "p1", +1), "Sort all 12 cards before finishing step 1 (3 left)")


def test_step_2_needs_exactly_8_in_top8() -> None:
    state = session_with(step=2)
    for card in state.participants["p1"].pile(Pile.VERY_IMPORTANT)[:5]:
        state = apply(state, move_card(state, "p1", card, Pile.TOP8))
    refused(state, transition(state, "p1", +1), "Pick exactly 8 cards for your top 8 (you have 5)")


def test_step_3_needs_exactly_3_in_top3() -> None:
    state = session_with(step=3)
    for card in state.participants["p1"].pile(Pile.TOP8)[:2]:
        state = apply(state, move_card(state, "p1", card, Pile.TOP3))
    refused(state, transition(state, "p1", +1), "Pick exactly 3 cards for your top 3 (you have 2)")


def test_small_deck_uses_smaller_selection_sizes() -> None:
    state = session_with(step=2, card_ids=MINI[:5])
    refused(state, transition(state, "p1", +1), "Pick exactly 5 cards for your top 8 (you have 0)")
    tiny = session_with(step=3, card_ids=MINI[:2])
    refused(tiny, transition(tiny, "p1", +1), "Pick exactly 2 cards for your top 3 (you have 0)")
    assert drive(tiny, "p1", 4).participants["p1"].step == 4


def test_forward_passes_when_step_is_complete_and_back_always_passes() -> None:
    for step in (1, 2, 3):
        state = drive(session_with(step=step), "p1", step + 1)
        assert state.participants["p1"].step == step + 1
        check(state, transition(state, "p1", -1))


def test_step_blocker() -> None:
    state = session_with(step=4)
    assert step_blocker(state, state.participants["p1"]) == "You have already finished"
    ready = drive(session_with(), "p1", 1)
    for card in MINI:
        ready = apply(ready, move_card(ready, "p1", card, Pile.IMPORTANT))
    assert step_blocker(ready, ready.participants["p1"]) is None


# --- card moves ------------------------------------------------------------------------------------------


def test_no_moves_once_finished() -> None:
    state = session_with(step=4)
    card = state.participants["p1"].pile(Pile.TOP3)[0]
    refused(
        state,
        move_card(state, "p1", card, Pile.TOP8),
        "You have finished; go back a step to change your cards",
    )


def test_unknown_card() -> None:
    state = session_with()
    refused(state, move_card(state, "p1", "telepathy", Pile.IMPORTANT), "Unknown card")


def test_move_to_the_same_pile() -> None:
    state = session_with()
    state = apply(state, move_card(state, "p1", MINI[0], Pile.IMPORTANT))
    refused(state, move_card(state, "p1", MINI[0], Pile.IMPORTANT), "That card is already in Important")


@pytest.mark.parametrize(
    ("step", "from_pile", "to_pile", "message"),
    [
        (
            1,
            Pile.UNSORTED,
            Pile.TOP8,
            "In step 1 cards can only move between Unsorted, Very important, Important and Not important",
        ),
        (
            2,
            Pile.VERY_IMPORTANT,
            Pile.UNSORTED,
            "In step 2 cards can only move between Very important, Important, Not important and Top 8",
        ),
        (
            2,
            Pile.TOP8,
            Pile.TOP3,
            "In step 2 cards can only move between Very important, Important, Not important and Top 8",
        ),
        (3, Pile.TOP8, Pile.IMPORTANT, "In step 3 cards can only move between Top 8 and Top 3"),
        (3, Pile.VERY_IMPORTANT, Pile.TOP3, "In step 3 cards can only move between Top 8 and Top 3"),
    ],
)
def test_piles_allowed_per_step(step: int, from_pile: Pile, to_pile: Pile, message: str) -> None:
    state = session_with(step=step)
    card = (state.participants["p1"].pile(from_pile) or MINI)[0]
    event = new_event(
        EventType.CARD_MOVED,
        session_code=CODE,
        participant_id="p1",
        card_id=card,
        from_pile=from_pile,
        to_pile=to_pile,
        position=0,
    )
    refused(state, event, message)


def test_card_already_moved() -> None:
    state = session_with()
    stale = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    state = apply(state, move_card(state, "p1", MINI[0], Pile.NOT_IMPORTANT))
    refused(state, stale, "That card has already moved")


def test_stale_but_valid_move_is_accepted() -> None:
    state = session_with()
    stale = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    state = apply(state, move_card(state, "p1", MINI[1], Pile.NOT_IMPORTANT), join(state, "p3", "Cleo"))
    assert stale.version < state.version
    check(state, stale)


def test_top8_is_capped() -> None:
    state = session_with(step=3)
    state = apply(state, transition(state, "p1", -1))
    refused(
        state,
        move_card(state, "p1", state.participants["p1"].pile(Pile.VERY_IMPORTANT)[0], Pile.TOP8),
        "Your top 8 is full: move a card out first",
    )


def test_top3_is_capped() -> None:
    state = session_with(step=4)
    state = apply(state, transition(state, "p1", -1))
    refused(
        state,
        move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.TOP3),
        "Your top 3 is full: move a card out first",
    )


# --- reveals -------------------------------------------------------------------------------------------


def test_top8_reveal_needs_step_3() -> None:
    state = session_with(step=2)
    refused(state, reveal(state, "p1", "top8"), "Finish your top 8 before revealing it")
    check(session_with(step=3), reveal(session_with(step=3), "p1", "top8"))
    check(session_with(step=4), reveal(session_with(step=4), "p1", "top8"))


def test_top3_reveal_needs_step_4() -> None:
    state = session_with(step=3)
    refused(state, reveal(state, "p1", RevealType.TOP3), "Finish your top 3 before revealing it")
    done = session_with(step=4)
    check(done, reveal(done, "p1", RevealType.TOP3))


def test_reveal_must_match_current_selection_as_a_set() -> None:
    state = session_with(step=4)
    top8 = state.participants["p1"].top8
    shuffled = new_event(
        EventType.SELECTION_REVEALED,
        session_code=CODE,
        participant_id="p1",
        reveal_type="top8",
        cards=tuple(reversed(top8)),
    )
    check(state, shuffled)
    wrong = new_event(
        EventType.SELECTION_REVEALED,
        session_code=CODE,
        participant_id="p1",
        reveal_type="top8",
        cards=top8[:7],
    )
    refused(state, wrong, "The cards to reveal no longer match your selection; try again")


def test_stale_reveal_is_refused_after_selection_changed() -> None:
    state = session_with(step=3)
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.TOP3))
    stale = reveal(state, "p1", "top8")
    state = apply(state, transition(state, "p1", -1))
    state = apply(state, move_card(state, "p1", state.participants["p1"].pile(Pile.TOP8)[0], Pile.IMPORTANT))
    refused(state, stale, "Finish your top 8 before revealing it")
    state = apply(
        state, move_card(state, "p1", state.participants["p1"].pile(Pile.VERY_IMPORTANT)[0], Pile.TOP8)
    )
    state = apply(state, transition(state, "p1", +1))
    assert set(stale.payload.cards) != set(state.participants["p1"].top8)
    refused(state, stale, "The cards to reveal no longer match your selection; try again")


# --- builders ------------------------------------------------------------------------------------------


def test_create_session_builder() -> None:
    event = create_session(CODE, "Retro", "values-mini", list(MINI))
    assert event.type is EventType.SESSION_CREATED
    assert (event.participant_id, event.version, event.seq) == (FACILITATOR_ID, 0, None)
    assert event.payload.card_ids == MINI


def test_move_card_builder_reads_from_pile_and_defaults_to_end() -> None:
    state = session_with(step=1)
    state = apply(state, move_card(state, "p1", MINI[0], Pile.IMPORTANT))
    event = move_card(state, "p1", MINI[0], "not-important")
    assert (event.payload.from_pile, event.payload.to_pile, event.payload.position) == (
        Pile.IMPORTANT,
        Pile.NOT_IMPORTANT,
        0,
    )
    event = move_card(state, "p1", MINI[1], Pile.IMPORTANT, version=1)
    assert (event.payload.from_pile, event.payload.position, event.version) == (Pile.UNSORTED, 1, 1)
    assert move_card(state, "p1", MINI[1], Pile.IMPORTANT).version == state.version
    assert move_card(state, "p1", MINI[1], Pile.IMPORTANT, 0).payload.position == 0


def test_transition_builder() -> None:
    state = session_with(step=2)
    forward, back = transition(state, "p1", +1), transition(state, "p1", -1)
    assert (forward.payload.from_step, forward.payload.to_step, forward.payload.participant_name) == (
        2,
        3,
        "Ann",
    )
    assert (back.payload.from_step, back.payload.to_step) == (2, 1)
    with pytest.raises(ValueError, match=re.escape("+1 or -1")):
        transition(state, "p1", 2)


def test_reveal_builder_reads_selection() -> None:
    state = session_with(step=4)
    ann = state.participants["p1"]
    assert reveal(state, "p1", "top8").payload.cards == ann.pile(Pile.TOP8) + ann.pile(Pile.TOP3)
    assert reveal(state, "p1", "top3").payload.cards == ann.pile(Pile.TOP3)
    assert len(reveal(state, "p1", "top8").payload.cards) == 8


def test_join_and_leave_builders() -> None:
    state = session_with()
    event = join(state, "p9", " Zed ")
    assert event.payload.participant.name == "Zed" and event.payload.participant.id == "p9"
    assert leave(state, "p1").payload.participant_name == "Ann"
    assert leave(state, "ghost").payload.participant_name == ""
    with pytest.raises(InvalidEvent, match="participant.name"):
        join(state, "p9", "   ")
    with pytest.raises(InvalidEvent, match="longer than 40 characters"):
        join(state, "p9", "x" * 41)


def test_normalize_name() -> None:
    assert normalize_name("  Ann ") == normalize_name("aNN") == "ann"


def test_everyone_can_reach_the_end_together() -> None:
    state = joined(created(), ("p1", "Ann"), ("p2", "Bo"), ("p3", "Cleo"))
    for pid in ("p1", "p2", "p3"):
        state = drive(state, pid, 4)
        state = apply(state, reveal(state, pid, "top8"), reveal(state, pid, "top3"))
    assert {p.step for p in state.participants.values()} == {4}
    assert len(state.reveals) == 6
