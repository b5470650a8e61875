"""Typed session events and their JSON wire format.

Events are the only thing the log stores and the bus carries, so the wire shape is a contract shared with
every replica and outside subscriber: camelCase field names (``sessionCode``, ``fromPile`` ...), snake_case
attributes in Python, unknown fields rejected, and ``parse_event(e.to_wire()) == e`` exactly.

A malformed event must never reach the reducer: :func:`parse_event` is the single gate and turns every
validation problem into :class:`InvalidEvent` with a message a developer can act on.
"""

from __future__ import annotations

import json
import time
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

__all__ = [
    "EVENT_CLASSES",
    "FACILITATOR_ID",
    "MAX_DECK_BYTES",
    "MAX_EVENT_BYTES",
    "BaseEvent",
    "CardMovedEvent",
    "CardMovedPayload",
    "DeckCard",
    "Event",
    "EventType",
    "InvalidEvent",
    "Participant",
    "ParticipantJoinedEvent",
    "ParticipantJoinedPayload",
    "ParticipantLeftEvent",
    "ParticipantErasedEvent",
    "ParticipantLeftPayload",
    "Pile",
    "RevealType",
    "SelectionRevealedEvent",
    "SelectionRevealedPayload",
    "SessionCreatedEvent",
    "SessionCreatedPayload",
    "SessionEndedEvent",
    "SessionEndedPayload",
    "StepOpenedEvent",
    "StepOpenedPayload",
    "StepTransitionedEvent",
    "StepTransitionedPayload",
    "TeamBoardLockedEvent",
    "TeamBoardOpenedEvent",
    "TeamCardMovedEvent",
    "TeamCardMovedPayload",
    "TeamPile",
    "TimerExtendedEvent",
    "TimerStartedEvent",
    "TimerStartedPayload",
    "TimerStoppedEvent",
    "new_event",
    "parse_event",
]

#: Events whose JSON text is larger than this are refused, so a hostile client cannot bloat the log. The
#: largest legitimate event is a SESSION_CREATED carrying a custom deck (capped at MAX_DECK_BYTES of card
#: text); it still fits one Ably message (64 KiB).
MAX_EVENT_BYTES = 48 * 1024

#: The card text of a custom deck (its JSON) may be at most this big.
MAX_DECK_BYTES = 40 * 1024

#: ``participantId`` of events made by the facilitator (e.g. SESSION_CREATED).
FACILITATOR_ID = "facilitator"


class EventType(StrEnum):
    SESSION_CREATED = "SESSION_CREATED"
    PARTICIPANT_JOINED = "PARTICIPANT_JOINED"
    PARTICIPANT_LEFT = "PARTICIPANT_LEFT"
    STEP_TRANSITIONED = "STEP_TRANSITIONED"
    CARD_MOVED = "CARD_MOVED"
    SELECTION_REVEALED = "SELECTION_REVEALED"
    TEAM_BOARD_OPENED = "TEAM_BOARD_OPENED"
    TEAM_BOARD_LOCKED = "TEAM_BOARD_LOCKED"
    TEAM_CARD_MOVED = "TEAM_CARD_MOVED"
    # The facilitator's workshop (domain/facilitation.py) and a participant's erasure.
    STEP_OPENED = "STEP_OPENED"
    TIMER_STARTED = "TIMER_STARTED"
    TIMER_EXTENDED = "TIMER_EXTENDED"
    TIMER_STOPPED = "TIMER_STOPPED"
    SESSION_ENDED = "SESSION_ENDED"
    PARTICIPANT_ERASED = "PARTICIPANT_ERASED"


class Pile(StrEnum):
    UNSORTED = "unsorted"
    VERY_IMPORTANT = "very-important"
    IMPORTANT = "important"
    NOT_IMPORTANT = "not-important"
    TOP8 = "top8"
    TOP3 = "top3"


class TeamPile(StrEnum):
    """The two piles of the shared team board (``/s/{code}/team``)."""

    CANDIDATES = "candidates"
    TEAM_VALUES = "team-values"


class RevealType(StrEnum):
    TOP8 = "top8"
    TOP3 = "top3"


class InvalidEvent(ValueError):
    """A payload that is not a well-formed event. ``errors`` holds pydantic's details when available."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


# --- field types -------------------------------------------------------------------------------------
# Strict ints/strs: the wire is JSON, so "3" for a number or 3 for a string is a client bug to report,
# not to coerce silently.
StrictCount = Annotated[int, Field(strict=True, ge=0)]
Step = Annotated[int, Field(strict=True, ge=1, le=4)]
EventId = Annotated[str, Field(strict=True, min_length=1, max_length=64)]
SessionCode = Annotated[str, Field(strict=True, pattern=r"^[A-Z0-9]{4,12}$")]
ParticipantId = Annotated[str, Field(strict=True, min_length=1, max_length=64)]
CardId = Annotated[str, Field(strict=True, min_length=1, max_length=64)]
DisplayName = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=40)
]
# Names echoed in LEFT / STEP_TRANSITIONED are informational (the reducer ignores them).
EchoName = Annotated[str, Field(strict=True, max_length=80)]


class _WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )


# --- payloads ----------------------------------------------------------------------------------------
class DeckCard(_WireModel):
    """One card of a custom deck, carried in SESSION_CREATED so a replay never depends on a deck file."""

    id: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]
    label: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=60)]
    description: Annotated[str, Field(strict=True, max_length=240)] = ""


class SessionCreatedPayload(_WireModel):
    title: Annotated[str, Field(strict=True, max_length=120)]
    deck: Annotated[str, Field(strict=True, min_length=1, max_length=40)]
    card_ids: Annotated[tuple[CardId, ...], Field(max_length=200)]
    # Options; None (left out on the wire) is the default, so older events keep their exact wire form.
    anonymous: Annotated[bool, Field(strict=True)] | None = None
    pacing: Literal["self", "facilitator"] | None = None
    cards: Annotated[tuple[DeckCard, ...], Field(max_length=200)] | None = None


class Participant(_WireModel):
    id: ParticipantId
    name: DisplayName


class ParticipantJoinedPayload(_WireModel):
    participant: Participant


class ParticipantLeftPayload(_WireModel):
    participant_name: EchoName


class StepTransitionedPayload(_WireModel):
    from_step: Step
    to_step: Step
    participant_name: EchoName


class CardMovedPayload(_WireModel):
    card_id: CardId
    from_pile: Pile
    to_pile: Pile
    position: StrictCount


class SelectionRevealedPayload(_WireModel):
    reveal_type: RevealType
    cards: Annotated[tuple[CardId, ...], Field(max_length=8)]


class TeamBoardOpenedPayload(_WireModel):
    """The facilitator opens the team board (nothing else to say)."""


class TeamBoardLockedPayload(_WireModel):
    """The facilitator locks the team board: from now on it is read-only."""


class TeamCardMovedPayload(_WireModel):
    """A team-board move as the sender saw it: the card was in ``fromPile`` (at ``fromPosition`` when
    that is ``team-values``) in the view of ``version``; ``position`` is where it goes in ``toPile``."""

    card_id: CardId
    from_pile: TeamPile
    to_pile: TeamPile
    position: StrictCount
    from_position: StrictCount
    participant_name: EchoName


class StepOpenedPayload(_WireModel):
    step: Annotated[int, Field(strict=True, ge=2, le=3)]


class TimerStartedPayload(_WireModel):
    """``endsAt`` (epoch ms) is decided by the server when it takes the command: a fact in the log, so
    every tab, a reload and a late joiner count down to the same instant."""

    seconds: Annotated[int, Field(strict=True, ge=1, le=4 * 3600)]
    ends_at: Annotated[int, Field(strict=True, ge=1)]


class EmptyPayload(_WireModel):
    pass


class SessionEndedPayload(_WireModel):
    reason: Literal["facilitator", "idle"]


#: The wire's JSON encoder, made once (``json.dumps`` with options builds a new encoder per call).
_WIRE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def wire_json(data: dict[str, Any]) -> str:
    """``data`` (a ``to_wire`` dict) as the wire's compact JSON text."""
    return _WIRE_ENCODER.encode(data)


# --- events ------------------------------------------------------------------------------------------
class BaseEvent(_WireModel):
    """Fields common to every event. ``version`` is the seq the sender had seen; ``seq`` is set by the log."""

    id: EventId
    session_code: SessionCode
    participant_id: ParticipantId
    timestamp: StrictCount
    version: StrictCount
    seq: Annotated[int, Field(strict=True, ge=1)] | None = None

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe dict with camelCase keys; ``seq`` is left out until the event is sequenced."""
        # exclude_none: ``seq`` before sequencing, and optional payload fields nobody set (older events
        # keep their exact wire form).
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        # ``type`` first after ``id`` reads better in logs and debug channels; key order has no meaning.
        return {"id": data.pop("id"), "type": data.pop("type"), **data}

    def to_json(self) -> str:
        return wire_json(self.to_wire())

    def sequenced(self, seq: int) -> Event:
        """A copy carrying the log's ``seq`` (validated: an int >= 1)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise InvalidEvent(f"seq must be an integer >= 1, got {seq!r}")
        return self.model_copy(update={"seq": seq})  # type: ignore[return-value]


class SessionCreatedEvent(BaseEvent):
    type: Literal[EventType.SESSION_CREATED] = EventType.SESSION_CREATED
    payload: SessionCreatedPayload


class ParticipantJoinedEvent(BaseEvent):
    type: Literal[EventType.PARTICIPANT_JOINED] = EventType.PARTICIPANT_JOINED
    payload: ParticipantJoinedPayload


class ParticipantLeftEvent(BaseEvent):
    type: Literal[EventType.PARTICIPANT_LEFT] = EventType.PARTICIPANT_LEFT
    payload: ParticipantLeftPayload


class StepTransitionedEvent(BaseEvent):
    type: Literal[EventType.STEP_TRANSITIONED] = EventType.STEP_TRANSITIONED
    payload: StepTransitionedPayload


class CardMovedEvent(BaseEvent):
    type: Literal[EventType.CARD_MOVED] = EventType.CARD_MOVED
    payload: CardMovedPayload


class SelectionRevealedEvent(BaseEvent):
    type: Literal[EventType.SELECTION_REVEALED] = EventType.SELECTION_REVEALED
    payload: SelectionRevealedPayload


class TeamBoardOpenedEvent(BaseEvent):
    type: Literal[EventType.TEAM_BOARD_OPENED] = EventType.TEAM_BOARD_OPENED
    payload: TeamBoardOpenedPayload


class TeamBoardLockedEvent(BaseEvent):
    type: Literal[EventType.TEAM_BOARD_LOCKED] = EventType.TEAM_BOARD_LOCKED
    payload: TeamBoardLockedPayload


class TeamCardMovedEvent(BaseEvent):
    type: Literal[EventType.TEAM_CARD_MOVED] = EventType.TEAM_CARD_MOVED
    payload: TeamCardMovedPayload


class StepOpenedEvent(BaseEvent):
    type: Literal[EventType.STEP_OPENED] = EventType.STEP_OPENED
    payload: StepOpenedPayload


class TimerStartedEvent(BaseEvent):
    type: Literal[EventType.TIMER_STARTED] = EventType.TIMER_STARTED
    payload: TimerStartedPayload


class TimerExtendedEvent(BaseEvent):
    type: Literal[EventType.TIMER_EXTENDED] = EventType.TIMER_EXTENDED
    payload: TimerStartedPayload


class TimerStoppedEvent(BaseEvent):
    type: Literal[EventType.TIMER_STOPPED] = EventType.TIMER_STOPPED
    payload: EmptyPayload = EmptyPayload()


class SessionEndedEvent(BaseEvent):
    type: Literal[EventType.SESSION_ENDED] = EventType.SESSION_ENDED
    payload: SessionEndedPayload


class ParticipantErasedEvent(BaseEvent):
    """The participant leaves and their name is erased from the projection (the sender is the person)."""

    type: Literal[EventType.PARTICIPANT_ERASED] = EventType.PARTICIPANT_ERASED
    payload: EmptyPayload = EmptyPayload()


Event: TypeAlias = Annotated[
    SessionCreatedEvent
    | ParticipantJoinedEvent
    | ParticipantLeftEvent
    | StepTransitionedEvent
    | CardMovedEvent
    | SelectionRevealedEvent
    | TeamBoardOpenedEvent
    | TeamBoardLockedEvent
    | TeamCardMovedEvent
    | StepOpenedEvent
    | TimerStartedEvent
    | TimerExtendedEvent
    | TimerStoppedEvent
    | SessionEndedEvent
    | ParticipantErasedEvent,
    Field(discriminator="type"),
]

EVENT_CLASSES: dict[EventType, type[BaseEvent]] = {
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

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _describe(exc: ValidationError) -> str:
    """One line per problem, located with wire names: ``payload.fromPile: Input should be ...``."""
    event_types = {str(t) for t in EventType}
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        if loc and loc[0] in event_types:  # the discriminated-union branch, not a field
            loc = loc[1:]
        where = ".".join(loc) or "event"
        if err["type"] == "union_tag_invalid":
            known = ", ".join(EventType)
            where, msg = "type", f"unknown event type {err['ctx']['tag']!r} (expected one of {known})"
        elif err["type"] == "union_tag_not_found":
            where, msg = "type", "missing event type"
        elif err["type"] == "json_invalid":
            where, msg = "JSON", err["msg"].removeprefix("Invalid JSON: ")
        else:
            msg = err["msg"]
        lines.append(f"{where}: {msg}")
    return "Invalid event: " + "; ".join(lines)


def _wrap(exc: ValidationError) -> InvalidEvent:
    errors = [
        {k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors(include_url=False)
    ]
    return InvalidEvent(_describe(exc), errors)


def parse_event(data: dict[str, Any] | str | bytes | BaseEvent) -> Event:
    """Validate a wire event (dict, JSON text or bytes) into its typed model, or raise InvalidEvent."""
    if isinstance(data, BaseEvent):
        return data  # type: ignore[return-value]
    try:
        if isinstance(data, str | bytes | bytearray):
            size = len(data.encode()) if isinstance(data, str) else len(data)
            if size > MAX_EVENT_BYTES:
                raise InvalidEvent(f"Invalid event: {size} bytes is over the {MAX_EVENT_BYTES}-byte limit")
            return _EVENT_ADAPTER.validate_json(data, by_alias=True, by_name=False)
        if not isinstance(data, dict):
            raise InvalidEvent(f"Invalid event: expected a JSON object, got {type(data).__name__}")
        try:
            size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"Invalid event: not JSON-serialisable ({exc})") from exc
        if size > MAX_EVENT_BYTES:
            raise InvalidEvent(f"Invalid event: {size} bytes is over the {MAX_EVENT_BYTES}-byte limit")
        return _EVENT_ADAPTER.validate_python(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _wrap(exc) from exc


def new_event(
    cls_or_type: type[BaseEvent] | EventType | str,
    *,
    session_code: str,
    participant_id: str,
    version: int = 0,
    payload: BaseModel | dict[str, Any] | None = None,
    id: str | None = None,  # noqa: A002 - mirrors the wire field
    timestamp: int | None = None,
    seq: int | None = None,
    **payload_fields: Any,
) -> Event:
    """Build a validated event, filling ``id`` (uuid4) and ``timestamp`` (ms now).

    The payload is given either as ``payload=`` (model or dict, snake or camel keys) or as keyword
    fields, e.g. ``new_event(EventType.CARD_MOVED, ..., card_id="x", from_pile=..., to_pile=...,
    position=0)``.
    """
    cls = cls_or_type if isinstance(cls_or_type, type) else EVENT_CLASSES[EventType(cls_or_type)]
    if payload is None:
        payload = payload_fields  # validated below, so errors are located as ``payload.<field>``
    elif payload_fields:
        raise TypeError("give the payload either as payload= or as keyword fields, not both")
    try:
        return cls(  # type: ignore[return-value]
            id=id if id is not None else str(uuid.uuid4()),
            session_code=session_code,
            participant_id=participant_id,
            timestamp=timestamp if timestamp is not None else time.time_ns() // 1_000_000,
            version=version,
            seq=seq,
            payload=payload,
        )
    except ValidationError as exc:
        raise _wrap(exc) from exc
