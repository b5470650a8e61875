"""The facilitator's workshop in the domain: pacing, timer, ending, anonymity, erasure, custom decks."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from cardsort_app.domain import facilitation as f
from cardsort_app.domain.events import FACILITATOR_ID, Event, InvalidEvent, Pile, new_event, parse_event
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.rules import (
    DomainError,
    check,
    create_session,
    is_noop,
    join,
    leave,
    move_card,
    reveal,
    transition,
)
from cardsort_app.domain.state import SessionState
from tests.unit.helpers import CODE, MINI, apply, drive, joined
from tests.unit.strategies import logs

NOW = 1_700_000_000_000


def paced(**options) -> SessionState:
    state = apply(
        SessionState.empty(CODE),
        create_session(CODE, "W", "values-mini", MINI, pacing="facilitator", **options),
    )
    return joined(state, ("p1", "Ann"), ("p2", "Bo"))


def self_paced(**options) -> SessionState:
    state = apply(SessionState.empty(CODE), create_session(CODE, "W", "values-mini", MINI, **options))
    return joined(state, ("p1", "Ann"), ("p2", "Bo"))


def sort_all(state: SessionState, pid: str) -> SessionState:
    for card in state.participants[pid].pile(Pile.UNSORTED):
        state = apply(state, move_card(state, pid, card, Pile.VERY_IMPORTANT))
    return state


def refused(state: SessionState, event: Event, match: str) -> None:
    with pytest.raises(DomainError, match=match):
        check(state, event)


# --- options at creation ---------------------------------------------------------------------------------
def test_options_default_to_self_paced_and_named() -> None:
    state = self_paced()
    assert (state.pacing, state.anonymous, f.steps_open(state)) == ("self", False, 3)


def test_options_are_carried_by_session_created() -> None:
    state = paced(anonymous=True)
    assert (state.pacing, state.anonymous, state.open_step, f.steps_open(state)) == (
        "facilitator",
        True,
        1,
        1,
    )


def test_older_session_created_keeps_its_exact_wire_form() -> None:
    event = create_session(CODE, "W", "values-mini", MINI)
    assert set(event.to_wire()["payload"]) == {"title", "deck", "cardIds"}
    assert parse_event(event.to_json()) == event


def test_custom_deck_cards_live_in_the_log() -> None:
    cards = [{"id": f"c{i}", "label": f"Card {i}", "description": "why"} for i in range(8)]
    event = create_session(CODE, "W", "custom", [c["id"] for c in cards], cards=cards)
    state = replay([parse_event(event.sequenced(1).to_json())])
    assert [(c.id, c.label, c.description) for c in state.custom_cards] == [
        (c["id"], c["label"], c["description"]) for c in cards
    ]


def test_custom_deck_must_match_the_card_ids() -> None:
    cards = [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]
    refused(
        SessionState.empty(CODE), create_session(CODE, "W", "custom", ["a", "c"], cards=cards), "do not match"
    )


@pytest.mark.parametrize("bad_id", ["", "has space", "<script>", "x" * 41, "-lead"])
def test_custom_card_ids_must_be_safe(bad_id: str) -> None:
    with pytest.raises(InvalidEvent, match="cards"):
        create_session(CODE, "W", "custom", [bad_id], cards=[{"id": bad_id, "label": "A"}])


# --- pacing ----------------------------------------------------------------------------------------------
def test_facilitator_paced_participant_waits_for_step_2() -> None:
    state = sort_all(paced(), "p1")
    assert f.pacing_blocker(state, 1) == "Waiting for the facilitator to open step 2"
    refused(state, transition(state, "p1", +1), "Waiting for the facilitator to open step 2")
    state = apply(state, f.open_step(state, 2))
    state = apply(state, transition(state, "p1", +1))
    assert state.participants["p1"].step == 2


def test_step_3_needs_opening_too_but_finishing_does_not() -> None:
    state = paced()
    state = apply(state, f.open_step(state, 2))
    state = drive(state, "p1", 2)
    for card in state.participants["p1"].pile(Pile.VERY_IMPORTANT)[:8]:
        state = apply(state, move_card(state, "p1", card, Pile.TOP8))
    refused(state, transition(state, "p1", +1), "open step 3")
    state = apply(state, f.open_step(state, 3))
    state = drive(state, "p1", 4)  # 3 -> 4 needs no opening
    assert state.participants["p1"].step == 4


def test_going_back_is_always_allowed_when_paced() -> None:
    state = paced()
    state = apply(state, f.open_step(state, 3))  # opening 3 opens 2 as well
    state = drive(state, "p1", 3)
    state = apply(state, transition(state, "p1", -1))
    assert state.participants["p1"].step == 2


def test_open_step_rules() -> None:
    state = paced()
    refused(state, f.open_step(state, 2).model_copy(update={"participant_id": "p1"}), "Only the facilitator")
    state = apply(state, f.open_step(state, 2))
    refused(state, f.open_step(state, 2), "Step 2 is already open")
    refused(self_paced(), f.open_step(self_paced(), 2), "self-paced")
    with pytest.raises(InvalidEvent):
        f.open_step(state, 4)


def test_asking_again_for_what_already_holds_is_a_noop_not_a_refusal() -> None:
    """A double click or a second dashboard tab: the service acknowledges it and appends nothing."""
    state = apply(paced(), f.open_step(paced(), 3))
    assert is_noop(state, f.open_step(state, 3)) and is_noop(state, f.open_step(state, 2))
    assert not is_noop(state, f.open_step(state, 3).model_copy(update={"participant_id": "p1"}))
    assert not is_noop(paced(), f.open_step(paced(), 2))
    assert not is_noop(self_paced(), f.open_step(self_paced(), 2))  # refused: it says why
    assert not is_noop(state, f.end_session(state))
    state = apply(state, f.end_session(state))
    assert is_noop(state, f.end_session(state))
    assert not is_noop(state, f.end_session(state).model_copy(update={"participant_id": "p1"}))


def test_self_paced_never_waits() -> None:
    state = sort_all(self_paced(), "p1")
    assert f.pacing_blocker(state, 1) is None
    assert apply(state, transition(state, "p1", +1)).participants["p1"].step == 2


# --- timer -----------------------------------------------------------------------------------------------
def test_timer_end_is_the_server_instant_in_the_log() -> None:
    state = self_paced()
    state = apply(state, f.start_timer(state, 300, NOW))
    assert (state.timer_ends_at, state.timer_seconds) == (NOW + 300_000, 300)
    state = apply(state, f.extend_timer(state, 60, NOW + 1000))
    assert (state.timer_ends_at, state.timer_seconds) == (NOW + 360_000, 360)
    state = apply(state, f.stop_timer(state))
    assert (state.timer_ends_at, state.timer_seconds) == (None, 0)


def test_adding_a_minute_to_a_finished_timer_counts_from_now() -> None:
    state = self_paced()
    state = apply(state, f.start_timer(state, 60, NOW))
    state = apply(state, f.extend_timer(state, 60, NOW + 600_000))
    assert state.timer_ends_at == NOW + 660_000


def test_timer_rules() -> None:
    state = self_paced()
    refused(state, f.stop_timer(state), "No timer is running")
    refused(state, f.extend_timer(state, 60, NOW), "No timer is running")
    started = apply(state, f.start_timer(state, 300, NOW))
    earlier = f.extend_timer(started, 60, NOW).model_copy(
        update={"payload": f.extend_timer(started, 60, NOW).payload.model_copy(update={"ends_at": NOW})}
    )
    refused(started, earlier, "later")
    forged = f.start_timer(state, 60, NOW).model_copy(update={"participant_id": "p1"})
    refused(state, forged, "Only the facilitator")
    with pytest.raises(InvalidEvent):
        f.start_timer(state, 0, NOW)
    with pytest.raises(InvalidEvent):
        f.start_timer(state, 5 * 3600, NOW)


# --- ending ----------------------------------------------------------------------------------------------
def test_an_ended_session_is_read_only_except_leaving_and_erasing() -> None:
    state = self_paced()
    state = apply(state, f.start_timer(state, 60, NOW))
    state = apply(state, f.end_session(state))
    assert (state.ended, state.ended_reason, state.timer_ends_at) == (True, "facilitator", None)
    card = state.participants["p1"].pile(Pile.UNSORTED)[0]
    refused(state, move_card(state, "p1", card, Pile.IMPORTANT), "has ended")
    refused(state, join(state, "p3", "Cleo"), "has ended")
    refused(state, f.start_timer(state, 60, NOW), "has ended")
    refused(state, f.end_session(state), "has ended")
    state = apply(state, leave(state, "p1"))
    state = apply(state, f.erase(state, "p2"))
    assert state.participants["p2"].name == ""


def test_idle_end_is_recorded_with_its_reason() -> None:
    state = apply(self_paced(), f.end_session(self_paced(), "idle"))
    assert state.ended_reason == "idle"


# --- erasure and anonymity -------------------------------------------------------------------------------
def test_erasing_removes_the_name_and_the_reveals_from_the_projection() -> None:
    state = drive(self_paced(), "p1", 3)
    state = apply(state, reveal(state, "p1", "top8"))
    state = apply(state, f.erase(state, "p1"))
    person = state.participants["p1"]
    assert (person.name, person.active) == ("", False)
    assert state.reveals == ()
    assert all(r.participant_name != "Ann" for r in state.reveals)
    refused(state, f.erase(state, "p1"), "already erased")
    refused(state, f.erase(state, "nobody"), "not part of this session")
    # The name is free again, and the erased participant may come back under another.
    state = apply(state, join(state, "p3", "Ann"))
    state = apply(state, join(state, "p1", "Anya"))
    assert state.participants["p1"].name == "Anya"


def test_anonymous_names_are_stable_join_order_numbers() -> None:
    state = paced(anonymous=True)
    assert f.display_names(state) == {"p1": "Participant 1", "p2": "Participant 2"}
    state = apply(state, leave(state, "p1"))
    state = joined(state, ("p3", "Cleo"))
    assert f.display_names(state) == {"p1": "Participant 1", "p2": "Participant 2", "p3": "Participant 3"}
    assert f.display_names(self_paced())["p1"] == "Ann"


# --- snapshots -------------------------------------------------------------------------------------------
def test_snapshot_round_trip_keeps_the_workshop_fields() -> None:
    cards = [{"id": f"c{i}", "label": f"Card {i}"} for i in range(8)]
    state = apply(
        SessionState.empty(CODE),
        create_session(
            CODE, "W", "custom", [c["id"] for c in cards], cards=cards, anonymous=True, pacing="facilitator"
        ),
    )
    state = apply(state, f.open_step(state, 2), f.start_timer(state, 60, NOW))
    state = apply(state, f.end_session(state))
    assert SessionState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_a_format_1_snapshot_still_loads_with_default_options() -> None:
    state = self_paced()
    old = state.to_dict()
    for key in (
        "anonymous",
        "pacing",
        "open_step",
        "timer_ends_at",
        "timer_seconds",
        "ended",
        "ended_reason",
        "custom_cards",
    ):
        del old[key]
    old["format"] = 1
    assert SessionState.from_dict(old) == state


def test_unknown_snapshot_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported snapshot format"):
        SessionState.from_dict({**self_paced().to_dict(), "format": 99})


# --- properties ------------------------------------------------------------------------------------------
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(logs())
def test_pacing_and_ending_hold_in_any_valid_log(log: list[Event]) -> None:
    state = SessionState.empty(CODE)
    ended_at = None
    for event in log:
        state = reduce(state, event)
        if state.ended and ended_at is None:
            ended_at = event.seq
        if state.pacing == "facilitator":
            for person in state.participants.values():
                assert person.step <= state.open_step or (person.step == 4 and state.open_step == 3)
        if ended_at is not None and event.seq != ended_at:
            assert event.type in ("PARTICIPANT_LEFT", "PARTICIPANT_ERASED")
    assert replay(parse_event(e.to_json()) for e in log) == state


def test_facilitator_events_name_the_facilitator() -> None:
    state = self_paced()
    for event in (
        f.open_step(state, 2),
        f.start_timer(state, 60, NOW),
        f.stop_timer(state),
        f.end_session(state),
    ):
        assert event.participant_id == FACILITATOR_ID


def test_participants_cannot_send_facilitator_events_in_any_form() -> None:
    state = paced()
    for kind, payload in (
        ("STEP_OPENED", {"step": 2}),
        ("TIMER_STARTED", {"seconds": 60, "ends_at": NOW}),
        ("SESSION_ENDED", {"reason": "facilitator"}),
    ):
        event = new_event(kind, session_code=CODE, participant_id="p1", payload=payload)
        refused(state, event, "Only the facilitator")
