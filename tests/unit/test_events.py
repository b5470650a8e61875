"""Wire format of events: camelCase round trip, discriminated union, and clear InvalidEvent messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cardsort_app.domain.events import (
    MAX_EVENT_BYTES,
    CardMovedEvent,
    EventType,
    InvalidEvent,
    ParticipantErasedEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    Pile,
    RevealType,
    SelectionRevealedEvent,
    SessionCreatedEvent,
    SessionEndedEvent,
    StepOpenedEvent,
    StepTransitionedEvent,
    TeamBoardLockedEvent,
    TeamBoardOpenedEvent,
    TeamCardMovedEvent,
    TimerExtendedEvent,
    TimerStartedEvent,
    TimerStoppedEvent,
    new_event,
    parse_event,
)

COMMON = {"session_code": "ABCD12", "participant_id": "p1", "version": 3}

SAMPLES = {
    EventType.SESSION_CREATED: {"title": "Team day", "deck": "values-mini", "card_ids": ("honesty", "fun")},
    EventType.PARTICIPANT_JOINED: {"participant": {"id": "p1", "name": "Ann"}},
    EventType.PARTICIPANT_LEFT: {"participant_name": "Ann"},
    EventType.STEP_TRANSITIONED: {"from_step": 1, "to_step": 2, "participant_name": "Ann"},
    EventType.CARD_MOVED: {
        "card_id": "fun",
        "from_pile": "unsorted",
        "to_pile": "very-important",
        "position": 0,
    },
    EventType.SELECTION_REVEALED: {"reveal_type": "top3", "cards": ("fun", "honesty", "wisdom")},
    EventType.TEAM_BOARD_OPENED: {},
    EventType.TEAM_BOARD_LOCKED: {},
    EventType.TEAM_CARD_MOVED: {
        "card_id": "fun",
        "from_pile": "candidates",
        "to_pile": "team-values",
        "position": 0,
        "from_position": 0,
        "participant_name": "Ann",
    },
    EventType.STEP_OPENED: {"step": 2},
    EventType.TIMER_STARTED: {"seconds": 300, "ends_at": 1_700_000_300_000},
    EventType.TIMER_EXTENDED: {"seconds": 360, "ends_at": 1_700_000_360_000},
    EventType.TIMER_STOPPED: {},
    EventType.SESSION_ENDED: {"reason": "facilitator"},
    EventType.PARTICIPANT_ERASED: {},
}

WIRE_PAYLOADS = {
    EventType.SESSION_CREATED: {"title": "Team day", "deck": "values-mini", "cardIds": ["honesty", "fun"]},
    EventType.PARTICIPANT_JOINED: {"participant": {"id": "p1", "name": "Ann"}},
    EventType.PARTICIPANT_LEFT: {"participantName": "Ann"},
    EventType.STEP_TRANSITIONED: {"fromStep": 1, "toStep": 2, "participantName": "Ann"},
    EventType.CARD_MOVED: {
        "cardId": "fun",
        "fromPile": "unsorted",
        "toPile": "very-important",
        "position": 0,
    },
    EventType.SELECTION_REVEALED: {"revealType": "top3", "cards": ["fun", "honesty", "wisdom"]},
    EventType.TEAM_BOARD_OPENED: {},
    EventType.TEAM_BOARD_LOCKED: {},
    EventType.TEAM_CARD_MOVED: {
        "cardId": "fun",
        "fromPile": "candidates",
        "toPile": "team-values",
        "position": 0,
        "fromPosition": 0,
        "participantName": "Ann",
    },
    EventType.STEP_OPENED: {"step": 2},
    EventType.TIMER_STARTED: {"seconds": 300, "endsAt": 1_700_000_300_000},
    EventType.TIMER_EXTENDED: {"seconds": 360, "endsAt": 1_700_000_360_000},
    EventType.TIMER_STOPPED: {},
    EventType.SESSION_ENDED: {"reason": "facilitator"},
    EventType.PARTICIPANT_ERASED: {},
}

CLASSES = {
    EventType.SESSION_CREATED: SessionCreatedEvent,
    EventType.PARTICIPANT_JOINED: ParticipantJoinedEvent,
    EventType.PARTICIPANT_LEFT: ParticipantLeftEvent,
    EventType.STEP_TRANSITIONED: StepTransitionedEvent,
    EventType.CARD_MOVED: CardMovedEvent,
    EventType.SELECTION_REVEALED: SelectionRevealedEvent,
    EventType.TEAM_BOARD_OPENED: TeamBoardOpenedEvent,
    EventType.TEAM_BOARD_LOCKED: TeamBoardLockedEvent,
    EventType.TEAM_CARD_MOVED: TeamCardMovedEvent,
    EventType.STEP_OPENED: StepOpenedEvent,
    EventType.TIMER_STARTED: TimerStartedEvent,
    EventType.TIMER_EXTENDED: TimerExtendedEvent,
    EventType.TIMER_STOPPED: TimerStoppedEvent,
    EventType.SESSION_ENDED: SessionEndedEvent,
    EventType.PARTICIPANT_ERASED: ParticipantErasedEvent,
}


def make(event_type: EventType, **overrides: Any):
    return new_event(event_type, **{**COMMON, **overrides}, payload=dict(SAMPLES[event_type]))


def wire(event_type: EventType, **overrides: Any) -> dict[str, Any]:
    data = {
        "id": "0b6f5a4e-8d5c-4c59-9a57-3e3f1b1f6a10",
        "type": str(event_type),
        "sessionCode": "ABCD12",
        "participantId": "p1",
        "timestamp": 1_700_000_000_000,
        "version": 3,
        "payload": json.loads(json.dumps(WIRE_PAYLOADS[event_type])),
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("event_type", list(EventType))
def test_wire_round_trip_unsequenced(event_type: EventType) -> None:
    event = make(event_type)
    assert isinstance(event, CLASSES[event_type])
    data = event.to_wire()
    assert "seq" not in data
    assert data["type"] == str(event_type)
    assert data["payload"] == WIRE_PAYLOADS[event_type]
    assert parse_event(data) == event
    assert parse_event(event.to_json()) == event
    assert parse_event(event.to_json().encode()) == event


@pytest.mark.parametrize("event_type", list(EventType))
def test_wire_round_trip_sequenced(event_type: EventType) -> None:
    event = make(event_type).sequenced(7)
    data = event.to_wire()
    assert data["seq"] == 7
    assert parse_event(data) == event
    assert parse_event(event.to_json()) == event
    assert json.loads(event.to_json()) == data


@pytest.mark.parametrize("event_type", list(EventType))
def test_parse_wire_dict_gives_typed_snake_case_model(event_type: EventType) -> None:
    event = parse_event(wire(event_type))
    assert type(event) is CLASSES[event_type]
    assert event.session_code == "ABCD12"
    assert event.participant_id == "p1"
    assert event.seq is None
    assert event.to_wire() == wire(event_type)


def test_wire_keys_are_camel_case() -> None:
    data = make(EventType.CARD_MOVED).sequenced(1).to_wire()
    assert list(data) == [
        "id",
        "type",
        "sessionCode",
        "participantId",
        "timestamp",
        "version",
        "seq",
        "payload",
    ]
    assert set(data["payload"]) == {"cardId", "fromPile", "toPile", "position"}


def test_typed_fields() -> None:
    event = parse_event(wire(EventType.CARD_MOVED))
    assert isinstance(event, CardMovedEvent)
    assert event.payload.from_pile is Pile.UNSORTED
    assert event.payload.to_pile is Pile.VERY_IMPORTANT
    revealed = parse_event(wire(EventType.SELECTION_REVEALED))
    assert revealed.payload.reveal_type is RevealType.TOP3
    assert revealed.payload.cards == ("fun", "honesty", "wisdom")


def test_events_are_frozen_and_hashable() -> None:
    event = make(EventType.SESSION_CREATED)
    with pytest.raises(ValueError):
        event.version = 9  # type: ignore[misc]
    assert hash(event) == hash(parse_event(event.to_wire()))


def test_sequenced_returns_copy() -> None:
    event = make(EventType.PARTICIPANT_LEFT)
    done = event.sequenced(4)
    assert event.seq is None and done.seq == 4 and done.id == event.id
    for bad in (0, -1, True, "3"):
        with pytest.raises(InvalidEvent):
            event.sequenced(bad)  # type: ignore[arg-type]


def test_new_event_fills_id_and_timestamp() -> None:
    a, b = make(EventType.PARTICIPANT_LEFT), make(EventType.PARTICIPANT_LEFT)
    assert a.id != b.id and len(a.id) == 36
    assert a.timestamp > 1_600_000_000_000
    assert a.version == 3


def test_new_event_accepts_keyword_payload_and_class() -> None:
    event = new_event(
        CardMovedEvent,
        session_code="ABCD",
        participant_id="p1",
        card_id="x",
        from_pile=Pile.UNSORTED,
        to_pile="important",
        position=2,
        id="fixed",
        timestamp=5,
        seq=2,
    )
    assert (event.id, event.timestamp, event.seq, event.version) == ("fixed", 5, 2, 0)
    assert event.payload.to_pile is Pile.IMPORTANT


def test_new_event_rejects_bad_payload_with_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match=r"payload\.participant\.name"):
        new_event(
            EventType.PARTICIPANT_JOINED, **COMMON, payload={"participant": {"id": "p1", "name": "   "}}
        )
    with pytest.raises(TypeError):
        new_event(
            EventType.PARTICIPANT_LEFT, **COMMON, payload={"participant_name": "A"}, participant_name="B"
        )


def test_join_name_is_stripped() -> None:
    event = new_event(
        EventType.PARTICIPANT_JOINED, **COMMON, payload={"participant": {"id": "p1", "name": " Ann "}}
    )
    assert event.payload.participant.name == "Ann"
    assert parse_event(event.to_wire()) == event


def test_parse_passes_through_event_objects() -> None:
    event = make(EventType.PARTICIPANT_LEFT)
    assert parse_event(event) is event


# --- malformed input ----------------------------------------------------------------------------------


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_without(wire(EventType.CARD_MOVED), "sessionCode"), r"sessionCode: Field required"),
        (_without(wire(EventType.CARD_MOVED), "id"), r"id: Field required"),
        (_without(wire(EventType.CARD_MOVED), "payload"), r"payload: Field required"),
        (_without(wire(EventType.CARD_MOVED), "type"), r"type: missing event type"),
        (wire(EventType.CARD_MOVED, type="CARD_FLIPPED"), r"type: unknown event type 'CARD_FLIPPED'"),
        (wire(EventType.CARD_MOVED, version="3"), r"version: Input should be a valid integer"),
        (wire(EventType.CARD_MOVED, version=-1), r"version: Input should be greater than or equal to 0"),
        (wire(EventType.CARD_MOVED, timestamp=1.5), r"timestamp: Input should be a valid integer"),
        (wire(EventType.CARD_MOVED, seq=0), r"seq: Input should be greater than or equal to 1"),
        (wire(EventType.CARD_MOVED, sessionCode="ab"), r"sessionCode: String should match pattern"),
        (wire(EventType.CARD_MOVED, sessionCode="ABCDEFGHIJKLM"), r"sessionCode"),
        (wire(EventType.CARD_MOVED, participantId=7), r"participantId: Input should be a valid string"),
        (wire(EventType.CARD_MOVED, extra=1), r"extra: Extra inputs are not permitted"),
        (
            wire(
                EventType.CARD_MOVED,
                payload={"cardId": "x", "fromPile": "attic", "toPile": "top8", "position": 0},
            ),
            r"payload\.fromPile: Input should be 'unsorted'",
        ),
        (
            wire(
                EventType.CARD_MOVED,
                payload={"cardId": "x", "fromPile": "top8", "toPile": "top3", "position": -1},
            ),
            r"payload\.position",
        ),
        (
            wire(EventType.CARD_MOVED, payload={"cardId": "x", "fromPile": "top8", "toPile": "top3"}),
            r"payload\.position: Field required",
        ),
        (
            wire(
                EventType.CARD_MOVED,
                payload={"card_id": "x", "fromPile": "top8", "toPile": "top3", "position": 0},
            ),
            r"payload\.cardId: Field required",
        ),
        (
            wire(EventType.STEP_TRANSITIONED, payload={"fromStep": 4, "toStep": 5, "participantName": "A"}),
            r"payload\.toStep: Input should be less than or equal to 4",
        ),
        (
            wire(
                EventType.STEP_TRANSITIONED, payload={"fromStep": True, "toStep": 2, "participantName": "A"}
            ),
            r"payload\.fromStep: Input should be a valid integer",
        ),
        (
            wire(EventType.SELECTION_REVEALED, payload={"revealType": "top5", "cards": []}),
            r"payload\.revealType",
        ),
        (
            wire(EventType.PARTICIPANT_JOINED, payload={"participant": {"id": "p1", "name": "x" * 41}}),
            r"payload\.participant\.name: String should have at most 40 characters",
        ),
        (
            wire(EventType.PARTICIPANT_JOINED, payload={"participant": {"id": "p1"}}),
            r"payload\.participant\.name: Field required",
        ),
        (wire(EventType.SESSION_CREATED, payload={"title": "t", "deck": "d", "cardIds": "abc"}), r"cardIds"),
    ],
)
def test_malformed_events_raise_invalid_event(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message) as info:
        parse_event(data)
    assert str(info.value).startswith("Invalid event: ")
    assert isinstance(info.value, ValueError)
    assert info.value.errors
    with pytest.raises(InvalidEvent, match=message):
        parse_event(json.dumps(data))


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "null", '{"type": "CARD_MOVED"', ""])
def test_non_object_json_raises_invalid_event(text: str) -> None:
    with pytest.raises(InvalidEvent, match="Invalid event"):
        parse_event(text)


@pytest.mark.parametrize("data", [[1, 2], None, 42])
def test_non_dict_python_input_raises_invalid_event(data: Any) -> None:
    with pytest.raises(InvalidEvent, match="expected a JSON object"):
        parse_event(data)


def test_oversize_event_rejected_in_every_form() -> None:
    data = wire(EventType.PARTICIPANT_LEFT, payload={"participantName": "A"})
    data["id"] = "x"
    data["padding"] = "y" * MAX_EVENT_BYTES
    for form in (data, json.dumps(data), json.dumps(data).encode()):
        with pytest.raises(InvalidEvent, match=f"over the {MAX_EVENT_BYTES}-byte limit"):
            parse_event(form)


def test_event_just_under_limit_is_accepted() -> None:
    data = wire(EventType.PARTICIPANT_LEFT)
    assert len(json.dumps(data)) < MAX_EVENT_BYTES
    assert parse_event(json.dumps(data)).to_wire() == data


def test_unserialisable_dict_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="not JSON-serialisable"):
        parse_event({"id": object()})
